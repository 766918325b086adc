"""Per-claim verdicts: the summary table's rows and the build's overall pass/fail.

Symbolic verdict: the claim's ``status`` from ``proofs`` (``PROVED`` or anything else = failed;
a claim absent from the results is ``MISSING``). Numeric verdict, from every run of every protocol
(sweep members included): the status (``numerics.verdict``: PASS / FAIL / NOT-COVERED /
NOT-CONVERGED) of each run whose ``summary.claim`` names the claim, and each ``checks`` entry of any
run that names the claim as another one (the gap identity, Cor. A1). ``FAILED`` if any of them
failed; ``PASS`` if one passed; otherwise what the runs came to (``NOT-CONVERGED``, ``NOT-COVERED``),
or ``MISSING`` when a claim that has a numeric test (`numeric_claims`) has none. The build is
VERIFIED only when every claim passes both ways and no run failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reports.collect import ReportData
from reports.profiles import MODELS
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
    """One numeric fact bearing on a claim: a run's status, one of its checks or its control run.

    counts: whether the fact decides the claim's numeric verdict. A run's status decides the claims
    the run is for; a check decides the other claims it names (the gap identity, Cor. A1); the rest is
    shown, not counted, except that a failure counts wherever it is. A run without a certificate
    (written before numerics had one), and a PASS without a control run (`--no-control`, sweep
    members), count only when they failed: a claim's PASS needs a run whose control was detected."""

    label: str
    status: str  # PASS / FAIL / NOT-COVERED / NOT-CONVERGED / NOT COUNTED
    value: float | None = None
    tolerance: float | None = None
    detail: str = ""
    counts: bool = True


@dataclass
class ClaimRow:
    """One row of the summary table."""

    name: str
    title: str
    symbolic: str
    numeric: str  # PASS / FAILED / NOT-CONVERGED / NOT-COVERED / MISSING / n/a
    gap_text: str
    evidence: list[NumericEvidence] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.symbolic == "PROVED" and self.numeric in ("PASS", "n/a")


RUN_STATUSES = ("PASS", "FAIL", "NOT-COVERED", "NOT-CONVERGED")
"""The statuses of a numeric run (numerics.verdict); anything else reads as FAIL."""
NOT_COUNTED = "NOT COUNTED"


def verdict_failed(status: str) -> bool:
    """A status that is a failure: anything but PASS, NOT-COVERED, NOT-CONVERGED and NOT COUNTED."""
    return status not in ("PASS", "NOT-COVERED", "NOT-CONVERGED", NOT_COUNTED)


def numeric_claims() -> set[str]:
    """The claims that have a numeric test: those of the verification models, the gap identity and the
    parametrisation criterion (`numerics.criterion`)."""
    return {claim for claims, _, _ in MODELS.values() for claim in claims} | {"gap", "criterion"}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(float(value)) else None


def _format_number(value: object) -> str:
    return f"{value:.3e}" if isinstance(value, (int, float)) else str(value)


def has_evidence(summary: dict) -> bool:
    """A summary that carries what its status rests on: a certificate (`numerics.verdict`), or the
    measured cases of a criterion study (`numerics.criterion`)."""
    return isinstance(summary.get("certificate"), dict) or (
        summary.get("claim") == "criterion" and isinstance(summary.get("cases"), list) and bool(summary["cases"]))


def controlled(summary: dict) -> bool:
    """A run whose PASS rests on a control run (the Fig. 1a control detected), or a criterion study, which
    is its own control (a covered and an uncovered link side by side)."""
    return isinstance(summary.get("control"), dict) or summary.get("claim") == "criterion"


def run_status(run: RunRecord) -> str:
    """The run's status as counted: one of RUN_STATUSES (an unknown word is FAIL), or NOT COUNTED for
    a passing run without the evidence its status rests on (`has_evidence`)."""
    status = run.status if run.status in RUN_STATUSES else "FAIL"
    if status != "FAIL" and not has_evidence(run.summary):
        return NOT_COUNTED
    return status


def _run_label(run: RunRecord) -> str:
    summary = run.summary
    return f"{run.model} ({summary.get('protocol', '?')} protocol, seed {summary.get('seed', '?')})"


def evidence_for(claim: str, data: ReportData) -> tuple[list[NumericEvidence], list[RunRecord]]:
    """All numeric evidence on ``claim`` from every run (any protocol, sweeps too), and the runs for it."""
    evidence: list[NumericEvidence] = []
    runs: list[RunRecord] = []
    for group in data.groups:
        for run in group.runs:
            summary = run.summary
            status = run_status(run)
            own = claim in claims_of(summary.get("claim"))
            if own:
                runs.append(run)
                uncontrolled = status == "PASS" and not controlled(summary)
                evidence.append(NumericEvidence(
                    label=f"{_run_label(run)}: run status", status=status,
                    value=_number(summary.get("rel_gap")), tolerance=_number((summary.get("convergence") or {})
                                                                             .get("paper_level")),
                    detail=str(summary.get("reason") or summary.get("error") or summary.get("message")
                               or ("written without a certificate: not counted" if status == NOT_COUNTED else ""))
                    + ("; passed without a control run: shown, not counted" if uncontrolled else ""),
                    counts=not uncontrolled))
                control = summary.get("control")
                if isinstance(control, dict) and "status" in control:
                    evidence.append(NumericEvidence(
                        label=f"{_run_label(run)}: control run shows the predicted nonzero gap",
                        status=str(control.get("status")), value=_number(control.get("gap")),
                        detail=f"predicted gap {_format_number(control.get('predicted_gap'))}",
                        counts=verdict_failed(str(control.get("status")))))
            for check in summary.get("checks", []) or []:
                if claim in claims_of(check.get("claim")):
                    check_status = str(check.get("status"))
                    counts = (not own and status != NOT_COUNTED) or verdict_failed(check_status)
                    evidence.append(NumericEvidence(
                        label=f"{_run_label(run)}: {check.get('name')}", status=check_status,
                        value=_number(check.get("value")), tolerance=_number(check.get("tolerance")),
                        detail=str(check.get("detail", "")), counts=counts))
    return evidence, runs


def numeric_verdict(evidence: list[NumericEvidence], has_test: bool) -> str:
    """From the counted evidence: FAILED if any failed, else PASS if any passed, else NOT-CONVERGED or
    NOT-COVERED (what the runs came to), else MISSING for a claim that has a numeric test, n/a otherwise."""
    counted = [e.status for e in evidence if e.counts]
    if any(verdict_failed(s) for s in counted):
        return "FAILED"
    for status in ("PASS", "NOT-CONVERGED", "NOT-COVERED"):
        if status in counted:
            return status
    return "MISSING" if has_test else "n/a"


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
    tested = numeric_claims()
    rows = []
    for name in names:
        claim = by_name.get(name)
        symbolic = str(claim.get("status", "MISSING")) if claim else "MISSING"
        if symbolic not in ("PROVED",) and claim is None and data.proofs_error:
            symbolic = "NOT RUN"
        evidence, runs = evidence_for(name, data)
        rows.append(ClaimRow(name=name, title=str((claim or {}).get("title", name)), symbolic=symbolic,
                             numeric=numeric_verdict(evidence, name in tested), gap_text=_gap_text(runs, evidence),
                             evidence=evidence, runs=runs))
    return rows


def run_failures(data: ReportData) -> list[str]:
    """Runs that failed (a check failed, training diverged) or could not be run, of every group and
    protocol (sweep members too), each one line."""
    failures = []
    for group in data.groups:
        failures += [f"{group.key}: {error}" for error in group.errors]
        if group.role in ("verify", "criterion") and not group.runs and not group.errors:
            failures.append(f"{group.key}: no run")
        for run in group.runs:
            if run_status(run) == "FAIL":
                why = run.summary.get("reason") or run.summary.get("error") or run.summary.get("message") or ""
                failures.append(f"{group.key}: {run.path} status {run.status}" + (f": {why}" if why else ""))
    return failures


def unpassed_claims(rows: list[ClaimRow]) -> list[str]:
    """Claims with a numeric test and no passing run, each one line saying what the runs came to."""
    lines = []
    for row in rows:
        if row.numeric in ("PASS", "n/a", "FAILED"):
            continue
        came = sorted({e.status for e in row.evidence if e.counts})
        lines.append(f"{row.name}: no passing numeric check ("
                     + (f"its runs: {', '.join(came)}" if came else "no run checks it") + ")")
    return lines


def overall_passed(rows: list[ClaimRow], data: ReportData) -> bool:
    """True only when every claim is PROVED, every claim with a numeric test has a passing numeric
    check, no numeric check FAILED and no run failed."""
    return bool(rows) and all(row.passed for row in rows) and not run_failures(data) and not data.proofs_error
