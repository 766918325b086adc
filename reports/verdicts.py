"""Per-claim verdicts: the summary table's rows and the build's overall pass/fail.

Symbolic verdict: the claim's ``status`` from ``proofs`` (``PROVED`` or anything else = failed;
a claim absent from the results is ``MISSING``). Numeric verdict: every verification run whose
``summary.claim`` names the claim, every ``checks`` entry naming it and every control run of such a
run; ``FAILED`` if any of them is ``FAIL``, ``PASS`` if at least one exists and none failed.
Runs of the paper's protocol ("reproduce" groups) are statistics for the figures, not verdicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reports.collect import ReportData
from reports.rundirs import RunRecord

#: The claim catalogue, in the order of docs/interfaces.md (``proofs.CLAIM_NAMES``).
CLAIM_NAMES: tuple[str, ...] = ("prop1", "prop2", "cor1", "corA1", "prop3", "cor2", "gap", "criterion",
                                "errata")


def claim_names() -> tuple[str, ...]:
    """``proofs.CLAIM_NAMES`` when the package is importable, else the documented catalogue."""
    try:
        from proofs import CLAIM_NAMES as names
        return tuple(names)
    except Exception:
        return CLAIM_NAMES


def claims_of(value: object) -> list[str]:
    """Claim names in a summary's ``claim`` field: ``"prop1"``, ``"cor1/corA1"`` or a list."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", "/").split("/") if part.strip()]
    return []


@dataclass
class NumericEvidence:
    """One numeric fact bearing on a claim: a run verdict, a check or a control run."""

    label: str
    status: str  # PASS / FAIL
    value: float | None = None
    tolerance: float | None = None
    detail: str = ""


@dataclass
class ClaimRow:
    """One row of the summary table."""

    name: str
    title: str
    symbolic: str
    numeric: str  # PASS / FAILED / "n/a"
    gap_text: str
    evidence: list[NumericEvidence] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.symbolic == "PROVED" and self.numeric in ("PASS", "n/a")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(float(value)) else None


def _format_number(value: object) -> str:
    return f"{value:.3e}" if isinstance(value, (int, float)) else str(value)


def evidence_for(claim: str, data: ReportData) -> tuple[list[NumericEvidence], list[RunRecord]]:
    """All numeric evidence on ``claim`` from the verification runs, and the runs checking it."""
    evidence: list[NumericEvidence] = []
    runs: list[RunRecord] = []
    for group in data.groups:
        if group.role != "verify":
            continue
        for run in group.runs:
            summary = run.summary
            if claim in claims_of(summary.get("claim")):
                runs.append(run)
                evidence.append(NumericEvidence(
                    label=f"{run.model}: |F - S| within tolerance", status=str(summary.get("status")),
                    value=_number(summary.get("gap")), tolerance=_number(summary.get("tolerance")),
                    detail=str(summary.get("tolerance_reason", ""))))
                control = summary.get("control")
                if isinstance(control, dict) and "status" in control:
                    evidence.append(NumericEvidence(
                        label=f"{run.model}: control run shows the predicted nonzero gap",
                        status=str(control.get("status")), value=_number(control.get("gap")),
                        detail=f"predicted gap {_format_number(control.get('predicted_gap'))}"))
            for check in summary.get("checks", []) or []:
                if claim in claims_of(check.get("claim")):
                    evidence.append(NumericEvidence(
                        label=f"{run.model}: {check.get('name')}", status=str(check.get("status")),
                        value=_number(check.get("value")), tolerance=_number(check.get("tolerance")),
                        detail=str(check.get("detail", ""))))
    return evidence, runs


def numeric_verdict(evidence: list[NumericEvidence]) -> str:
    """``FAILED`` if any evidence failed, ``PASS`` if some exists and all passed, else ``n/a``."""
    if not evidence:
        return "n/a"
    return "PASS" if all(e.status == "PASS" for e in evidence) else "FAILED"


def _gap_text(runs: list[RunRecord], evidence: list[NumericEvidence]) -> str:
    gaps = [(abs(g), run.summary.get("rel_gap")) for run in runs
            if (g := _number(run.summary.get("gap"))) is not None]
    if gaps:
        gap, rel = max(gaps, key=lambda item: item[0])
        rel_value = _number(rel)
        rel_text = f" ({abs(rel_value):.1e} rel.)" if rel_value is not None else ""
        many = f"max of {len(gaps)}: " if len(gaps) > 1 else ""
        return f"{many}{gap:.1e} nats{rel_text}"
    values = [e for e in evidence if e.value is not None and e.tolerance]
    if values:  # the check closest to (or furthest beyond) its tolerance
        worst = max(values, key=lambda e: abs(e.value or 0.0) / (e.tolerance or 1.0))
        name = worst.label.split(": ", 1)[-1]
        return f"{name}: {abs(worst.value or 0.0):.1e} (tol. {worst.tolerance:.1e})"
    return "-"


def claim_rows(data: ReportData) -> list[ClaimRow]:
    """The summary table: every claim of the catalogue, plus any extra claim the proofs report."""
    by_name = {c.get("name"): c for c in data.claims()}
    names = list(claim_names()) + [n for n in by_name if n not in claim_names()]
    rows = []
    for name in names:
        claim = by_name.get(name)
        symbolic = str(claim.get("status", "MISSING")) if claim else "MISSING"
        if symbolic not in ("PROVED",) and claim is None and data.proofs_error:
            symbolic = "NOT RUN"
        evidence, runs = evidence_for(name, data)
        rows.append(ClaimRow(name=name, title=str((claim or {}).get("title", name)), symbolic=symbolic,
                             numeric=numeric_verdict(evidence), gap_text=_gap_text(runs, evidence),
                             evidence=evidence, runs=runs))
    return rows


def run_failures(data: ReportData) -> list[str]:
    """Verification runs that failed or could not be run (each one line)."""
    failures = []
    if data.numerics_error:
        failures.append(data.numerics_error)
    for group in data.groups:
        if group.role != "verify":
            continue
        failures += [f"{group.key}: {error}" for error in group.errors]
        if not group.runs and not group.errors:
            failures.append(f"{group.key}: no run")
        failures += [f"{group.key}: {run.path} status {run.status}" for run in group.runs
                     if run.status != "PASS"]
    return failures


def overall_passed(rows: list[ClaimRow], data: ReportData) -> bool:
    """True only when every claim is PROVED, no numeric check FAILED and every verification run passed."""
    return bool(rows) and all(row.passed for row in rows) and not run_failures(data) and not data.proofs_error
