"""Which equations of the paper's proofs the chains cover, and why the others are not needed.

Every equation of the proofs (Eqs. 19-28, 29-33, 40-45, 46-76) must be a step of some chain (or of
a lemma's chain), a hypothesis derived by the engine, a definition a chain starts from, or a
conclusion; or be listed in NOT_NEEDED with the reason. :func:`coverage` builds that list from the
checked results, so it reflects what was actually checked.
"""

from __future__ import annotations

import re
from typing import Any

REQUIRED: tuple[int, ...] = (*range(19, 29), *range(29, 34), *range(40, 46), *range(46, 77))

NOT_NEEDED: dict[int, str] = {
    73: "not in the paper's text: the numbering jumps from Eq. 72 to Eq. 74 (the display before Eq. 74 "
        "carries one number); its content, Eqs. 69 and 72 inserted into Eq. 60, is prop3/dF-M's step for Eq. 74",
}


def equation_numbers(label: str) -> list[int]:
    """The equation numbers in a label such as "21", "62-64" or "46, 12-14" (others are ignored)."""
    out: list[int] = []
    for part in str(label).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            out += list(range(int(m.group(1)), int(m.group(2)) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def _places(result: Any, out: dict[int, list[str]]) -> None:
    claim = result.claim
    for r in result.steps:
        for eq in equation_numbers(r.step.eq):
            out.setdefault(eq, []).append(f"{claim.name} step {r.index}")
    for eq in equation_numbers(getattr(claim, "eq", "")):
        out.setdefault(eq, []).append(f"{claim.name} conclusion")
    for dfn in getattr(claim, "definitions", ()):
        for eq in equation_numbers(dfn.eq):
            out.setdefault(eq, []).append(f"{claim.name} definition of {dfn.symbol}")
    for hyp in getattr(claim, "hypotheses", ()):
        if hyp.kind == "structural" and hyp.key in result.hypotheses_used:
            for eq in equation_numbers(hyp.eq):
                out.setdefault(eq, []).append(f"{claim.name} hypothesis {hyp.key} (structural)")
    for key, d in result.derivations.items():
        if d.error is None:
            for eq in equation_numbers(d.hypothesis.eq):
                out.setdefault(eq, []).append(f"{claim.name} hypothesis {key} (derived)")
    for lemma in result.lemmas:
        _places(lemma, out)


def coverage(results: list[Any]) -> list[dict[str, Any]]:
    """One entry per required equation: where it is checked, or why it is not needed."""
    places: dict[int, list[str]] = {}
    for result in results:
        _places(result, places)
    rows = []
    for eq in REQUIRED:
        where = sorted(set(places.get(eq, [])))
        if where:
            rows.append({"eq": eq, "status": "covered", "where": where, "reason": None})
        elif eq in NOT_NEEDED:
            rows.append({"eq": eq, "status": "not needed", "where": [], "reason": NOT_NEEDED[eq]})
        else:
            rows.append({"eq": eq, "status": "missing", "where": [], "reason": None})
    return rows


__all__ = ["REQUIRED", "NOT_NEEDED", "equation_numbers", "coverage"]
