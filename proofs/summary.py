"""The whole result of a run as one JSON object (docs/interfaces.md): the claims, the dependency
graph between them, every axiom used, and the equations covered."""

from __future__ import annotations

from typing import Any

from proofs.coverage import coverage


def _axioms(result: Any, out: dict[str, dict]) -> None:
    for axiom, via in result.axioms:
        entry = out.setdefault(axiom.key, {"key": axiom.key, "text": axiom.text, "citation": axiom.citation,
                                           "used_by": []})
        where = result.claim.name + (f" (via {via})" if via else "")
        if where not in entry["used_by"]:
            entry["used_by"].append(where)
    for lemma in result.lemmas:
        _axioms(lemma, out)


def report(results: list[Any], seconds: float | None = None) -> dict[str, Any]:
    """{"claims", "status", "seconds", "dependency_graph", "axioms", "coverage"}."""
    ok = all(r.status == "PROVED" for r in results)
    axioms: dict[str, dict] = {}
    for r in results:
        _axioms(r, axioms)
    rows = coverage(results)
    return {
        "claims": [r.to_dict() for r in results],
        "status": "PROVED" if ok else "FAILED",
        "seconds": None if seconds is None else round(seconds, 3),
        "dependency_graph": {r.claim.name: list(r.depends_on) for r in results},
        "axioms": sorted(axioms.values(), key=lambda a: a["key"]),
        "coverage": rows,
        "coverage_missing": [row["eq"] for row in rows if row["status"] == "missing"],
    }
