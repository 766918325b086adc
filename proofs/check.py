"""CLI: ``python -m proofs.check NAME|all [--json] [--list] [--verbose]``.

Checks the named claims step by step and prints one line per claim (verdict and seconds), every
step with ``--verbose``, or the JSON of docs/interfaces.md with ``--json``. Exit status: 0 when
every requested claim is PROVED, 1 otherwise, 2 for usage errors (e.g. an unknown claim name).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from proofs import CLAIM_NAMES, check_claims
from proofs.claims import load_claim
from proofs.engine import ClaimResult


class _OneLineParser(argparse.ArgumentParser):
    """Errors are one line on stderr (no usage block) and exit 2, like the other CLIs of the kit."""

    def error(self, message: str) -> None:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="python -m proofs.check",
        description="Re-derive the claims of 'The ELBO of VAEs converges to a sum of three "
                    "entropies' in SymPy, step by step. Each step is closed by a symbolic strategy "
                    "(structural, expand, cancel, expand_log, Gaussian integrals, bounded simplify) "
                    "and spot-checked numerically at random points. Claims: " + ", ".join(CLAIM_NAMES),
        epilog="Exit status: 0 if every requested claim is PROVED, 1 if not, 2 on usage errors.")
    p.add_argument("names", nargs="*", metavar="NAME|all", help="claims to check ('all' for every claim)")
    p.add_argument("--json", action="store_true", help="print the machine-readable result (docs/interfaces.md)")
    p.add_argument("--list", action="store_true", help="list the claims with their titles and exit")
    p.add_argument("--verbose", "-v", action="store_true", help="show every step with its equation")
    return p


def _resolve(names: list[str]) -> tuple[list[str] | None, str]:
    """The claims to check, or None and the reason the request is invalid."""
    if not names:
        return None, "no claim given"
    if "all" in names:
        return list(CLAIM_NAMES), ""
    bad = [n for n in names if n not in CLAIM_NAMES]
    return (None, f"unknown claim name(s) {', '.join(bad)}") if bad else (names, "")


def _print_human(results: list[ClaimResult], verbose: bool) -> None:
    for r in results:
        print(f"{r.status:<13} {r.claim.name:<10} {r.seconds:6.2f}s  {r.claim.title}")
        if not verbose:
            continue
        for s in r.steps:
            print(f"    Eq. {s.step.eq:<8} {s.status:<13} {s.strategy or '-':<17} {s.seconds:5.2f}s  {s.step.text()}")
            if s.status == "FAILED" or s.step.kind == "erratum":
                print(f"        {s.detail}")
                if s.residual:
                    print(f"        residual: {s.residual}")
                if s.counterexample:
                    print(f"        counterexample: {s.counterexample}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.list:
        for name in CLAIM_NAMES:
            print(f"{name:<10} {load_claim(name).title}")
        return 0
    names, reason = _resolve(args.names)
    if names is None:
        print(f"error: {reason}; valid names: all, {', '.join(CLAIM_NAMES)}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    results = check_claims(names)
    seconds = time.perf_counter() - t0
    ok = all(r.status == "PROVED" for r in results)
    if args.json:
        print(json.dumps({"claims": [r.to_dict() for r in results], "seconds": round(seconds, 3),
                          "status": "PROVED" if ok else "FAILED"}, indent=1, default=str))
    else:
        _print_human(results, args.verbose)
        print(f"{'ALL PROVED' if ok else 'NOT ALL PROVED'} ({len(results)} claims, {seconds:.1f}s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
