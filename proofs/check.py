"""CLI: ``python -m proofs.check NAME|all [--json] [--list] [--verbose]``.

Checks the named claims as chains and prints one line per claim (verdict and seconds); with
``--verbose`` every chain as ``= expression   (by strategy | by hypothesis H | by lemma L)`` lines,
the hypotheses used (with the equation each stationarity condition determines), the axioms and
the lemmas; with ``--json`` the object of docs/interfaces.md (claims, dependency graph, axioms,
coverage). Exit status: 0 when every requested claim is PROVED, 1 otherwise, 2 for usage errors
(e.g. an unknown claim name).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from proofs import CLAIM_NAMES, check_claims, report
from proofs.claims import load_claim
from proofs.engine import ClaimResult
from proofs.text import expression_text


class _OneLineParser(argparse.ArgumentParser):
    """Errors are one line on stderr (no usage block) and exit 2, like the other CLIs of the kit."""

    def error(self, message: str) -> None:
        sys.stderr.write(f"{self.prog}: error: {' '.join(message.split())}\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="python -m proofs.check",
        description="Re-derive the claims of 'The ELBO of VAEs converges to a sum of three entropies' in SymPy, "
                    "each as a chain from the model's definitions to the paper's equation: every link is closed by "
                    "a symbolic strategy (with a numeric spot-check), a definition, a hypothesis derived by "
                    "differentiating the chain's expression, a proved lemma or a cited axiom. Claims: "
                    + ", ".join(CLAIM_NAMES),
        epilog="Exit status: 0 if every requested claim is PROVED, 1 if not, 2 on usage errors.")
    p.add_argument("names", nargs="*", metavar="NAME|all", help="claims to check ('all' for every claim)")
    p.add_argument("--json", action="store_true", help="print the machine-readable result (docs/interfaces.md)")
    p.add_argument("--list", action="store_true", help="list the claims with their titles and exit")
    p.add_argument("--verbose", "-v", action="store_true", help="show every chain, its hypotheses and axioms")
    return p


def _resolve(names: list[str]) -> tuple[list[str] | None, str]:
    """The claims to check, or None and the reason the request is invalid."""
    if not names:
        return None, "no claim given"
    if "all" in names:
        return list(CLAIM_NAMES), ""
    bad = [n for n in names if n not in CLAIM_NAMES]
    return (None, f"unknown claim name(s) {', '.join(map(repr, bad))}") if bad else (names, "")


def _chain_lines(result: ClaimResult, indent: str) -> list[str]:
    claim = result.claim
    lines = []
    if hasattr(claim, "start"):
        lines.append(f"{indent}{expression_text(claim.start)}")
    for s in result.steps:
        if result.kind_of(s) == "erratum":
            e = s.step
            lines.append(f"{indent}Eq. {e.eq}: {s.status} ({e.verdict})")
            lines.append(f"{indent}  printed:   {s.printed['text']}")
            lines.append(f"{indent}  corrected: {s.corrected['text']}")
            lines.append(f"{indent}  {s.detail}")
            continue
        mark = "" if s.status == "PROVED" else f"   <-- {s.status}: {s.detail}"
        lines.append(f"{indent}  = {expression_text(s.step.after)}")
        lines.append(f"{indent}      ({s.justification}) [Eq. {s.step.eq}]{mark}")
        if s.status == "FAILED" and s.residual:
            lines.append(f"{indent}      residual: {s.residual}")
        if s.status == "FAILED" and s.counterexample:
            lines.append(f"{indent}      counterexample: {s.counterexample}")
    return lines


def _print_claim(result: ClaimResult, verbose: bool, indent: str = "") -> None:
    c = result.claim
    print(f"{indent}{result.status:<13} {c.name:<10} {result.seconds:6.2f}s  {c.title}")
    for failure in result.failures:
        print(f"{indent}    FAILED: {failure}")
    if not verbose:
        return
    for line in _chain_lines(result, indent + "    "):
        print(line)
    d = result.to_dict()
    print(f"{indent}    conclusion (Eq. {c.eq}): {d['conclusion']['text']}")
    for key in result.hypotheses_used:
        derivation = result.derivations.get(key)
        print(f"{indent}    hypothesis {key}" + (f": {derivation.text()}" if derivation else ""))
    for axiom, via in result.axioms:
        print(f"{indent}    axiom {axiom.key} ({axiom.citation})" + (f" via {via}" if via else ""))
    for item in result.discharges:
        print(f"{indent}    discharged {item['hypothesis']} of {item['lemma']} by {item['by']}"
              + (f": {item['check']}" if "check" in item else ""))
    if result.depends_on:
        print(f"{indent}    depends on: {', '.join(result.depends_on)}")
    for lemma in result.lemmas:
        _print_claim(lemma, verbose, indent + "    ")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        for name in CLAIM_NAMES:
            print(f"{name:<10} {load_claim(name).title}")
        return 0
    names, reason = _resolve(args.names)
    if names is None:
        sys.stderr.write(f"{parser.prog}: error: {reason}; valid names: all, {', '.join(CLAIM_NAMES)}\n")
        return 2
    t0 = time.perf_counter()
    results = check_claims(names)
    seconds = time.perf_counter() - t0
    ok = all(r.status == "PROVED" for r in results)
    if args.json:
        print(json.dumps(report(results, seconds), indent=1, default=str))
    else:
        for r in results:
            _print_claim(r, args.verbose)
        print(f"{'ALL PROVED' if ok else 'NOT ALL PROVED'} ({len(results)} claims, {seconds:.1f}s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
