"""The error path shared by the numerics CLIs: bad input is one line on stderr and a documented exit code.

`OneLineParser` reports option errors as one line (exit EXIT_USAGE). `run_main` runs a CLI's body and
turns the kit's known errors into one line and their exit code: `UsageError` (bad options, data,
run directory or checkpoint; every such class in the kit derives from it) -> EXIT_USAGE, the CLI's
own classes (e.g. training divergence) -> their codes, Ctrl-C -> EXIT_INTERRUPTED with one line
saying how to resume. Any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Callable, Mapping

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
"""128 + SIGINT, the shell's code for a command stopped by Ctrl-C."""
CLI_EXIT_CODES = {"usage error (options, data, run directory, checkpoint)": EXIT_USAGE,
                  "training diverged": EXIT_DIVERGED, "interrupted (Ctrl-C; resumable)": EXIT_INTERRUPTED}
"""The codes of the CLIs' own outcomes; a finished run's status has its code in numerics.verdict.EXIT_CODES
(0 PASS, 1 FAIL, 4 NOT-COVERED, 5 NOT-CONVERGED), and no code means two things."""

_UNSAFE_ADVICE = re.compile(r"[^.]*weights_only[^.]*(\.|$)", re.IGNORECASE)
"""A sentence that mentions torch.load's weights_only switch: torch's own error text advises turning it
off ("will likely succeed"), which would let a hostile checkpoint run code. No kit line repeats it."""


class UsageError(ValueError):
    """Bad input (an option, the data, a run directory or a checkpoint): one line on stderr, EXIT_USAGE."""


class OneLineParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors print one line (no usage block) and exit EXIT_USAGE."""

    def error(self, message: str) -> None:
        sys.stderr.write(f"{self.prog}: error: {one_line(message)}\n")
        raise SystemExit(EXIT_USAGE)


def one_line(message: str) -> str:
    """`message` on one line: whitespace runs (newlines included) collapsed, sentences that mention
    `weights_only` removed."""
    return " ".join(_UNSAFE_ADVICE.sub(" ", str(message)).split())


def run_main(prog: str, body: Callable[[], int], *, errors: Mapping[type[BaseException], int] | None = None,
             resume_hint: Callable[[], str | None] | None = None) -> int:
    """`body()`'s exit code; a `UsageError` or an instance of a class in `errors` becomes one line
    "PROG: error: MESSAGE" and its code, Ctrl-C one line with `resume_hint()` (the command that
    continues the run, None before anything resumable was written) and EXIT_INTERRUPTED."""
    codes = {**(errors or {}), UsageError: EXIT_USAGE}  # the CLI's own classes first: they may be UsageErrors
    try:
        return body()
    except KeyboardInterrupt:
        hint = resume_hint() if resume_hint is not None else None
        sys.stderr.write(f"{prog}: interrupted; resume with: {hint}\n" if hint
                         else f"{prog}: interrupted (nothing to resume yet)\n")
        return EXIT_INTERRUPTED
    except tuple(codes) as err:
        code = next(c for cls, c in codes.items() if isinstance(err, cls))
        sys.stderr.write(f"{prog}: error: {one_line(err)}\n")
        return code
