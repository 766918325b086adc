"""Stand-ins for the kit's commands (`reports.jobs.MODULES`), run as child processes by the build's tests.

Each records its argv in the JSON-lines file named by $FAKE_CALLS, writes the fixture output the real
command would (`tests.reports.conftest`), and exits with the code $FAKE_FAIL gives for its model
("vae1:3" makes the VAE-1 run exit 3 after one error line, as a diverged run does). Model checkpoints
(which need torch, slow to import) only with $FAKE_CHECKPOINT set.
"""
from __future__ import annotations

import json
import os
import sys


def record(kind: str, argv: list[str]) -> None:
    path = os.environ.get("FAKE_CALLS")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({"kind": kind, "argv": argv}) + "\n")


def option(argv: list[str], name: str, default: str | None = None) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else default


def exit_code_for(model: str | None) -> int:
    failing, _, code = os.environ.get("FAKE_FAIL", "").partition(":")
    if model is not None and failing == model:
        sys.stderr.write(f"error: {model}/fast: training diverged at step 12\n")
        return int(code or 1)
    return 0
