"""The report's first page: one row per claim saying whether it holds and how we know.

Columns: the symbolic verdict (PROVED as a chain, its length, the axioms it rests on); the round-off
certificate on the trained networks (gap identity and worst orbit-slope error against float64
round-off, `numerics.verdict`); convergence (rel_gap against the paper's reported level, 5e-3, and the
4-standard-error grade); the Fig. 1a control (measured against predicted gap). Every cell is computed
from the build's results (the same structure results.json holds), never written by hand; a claim
without a numeric test shows "-" there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reports.chains import axiom_lines, step_count
from reports.collect import ReportData, RunGroup
from reports.rundirs import RunRecord
from reports.verdicts import ClaimRow, claims_of, verdict_failed

HEADERS = ("Claim", "Symbolic derivation", "Round-off certificate", "Convergence (paper: rel. gap < 5e-3)",
           "Control (Fig. 1a)", "Verdict")


@dataclass
class Cell:
    """A table cell: its text and the status word that colours it (PASS, FAIL, n/a, ...)."""

    text: str
    status: str = "n/a"


@dataclass
class AnswerRow:
    """One claim's row of the answer table."""

    claim: str
    title: str
    symbolic: Cell
    certificate: Cell
    convergence: Cell
    control: Cell
    verdict: Cell

    def cells(self) -> tuple[Cell, ...]:
        return (Cell(f"{self.claim}: {self.title}", "n/a"), self.symbolic, self.certificate, self.convergence,
                self.control, self.verdict)

    def texts(self) -> tuple[str, ...]:
        return tuple(cell.text for cell in self.cells())


NONE = Cell("-", "n/a")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(float(value)) else None


def symbolic_cell(claim: dict | None, row: ClaimRow) -> Cell:
    """'PROVED: chain of 9 steps (+4 in 3 lemmas); axioms: none' from the claim's proofs result."""
    if claim is None:
        return Cell(row.symbolic, row.symbolic)
    main, extra, lemmas = step_count(claim)
    steps = f"chain of {main} step{'s' if main != 1 else ''}" + (f" (+{extra} in {lemmas} lemma{'s' if lemmas != 1 else ''})" if lemmas else "")
    if claim.get("name") == "errata":
        steps = f"{len(claim.get('steps', []))} errata, each corrected form proved"
    axioms = sorted(key for key, _, _ in axiom_lines(claim))
    return Cell(f"{row.symbolic}: {steps}; axioms: {', '.join(axioms) if axioms else 'none'}", row.symbolic)


def _runs_for(claim: str, groups: list[RunGroup], role: str = "verify") -> list[RunRecord]:
    return [run for g in groups if g.role == role for run in g.runs if claim in claims_of(run.summary.get("claim"))]


def _checks(runs: list[RunRecord], name: str) -> list[dict]:
    return [c for run in runs for c in run.summary.get("checks", []) or [] if c.get("name") == name]


def _status_of(statuses: list[str]) -> str:
    if any(verdict_failed(s) for s in statuses):
        return "FAIL"
    for word in ("NOT-COVERED", "NOT-CONVERGED"):
        if word in statuses:
            return word
    return "PASS" if statuses else "n/a"


def _count(runs: list[RunRecord]) -> str:
    return f" ({len(runs)} runs)" if len(runs) > 1 else ""


def certificate_cell(claim: str, runs: list[RunRecord], groups: list[RunGroup]) -> Cell:
    """Worst identity and orbit-slope errors against the tolerance; Cor. A1's check; the criterion study."""
    if claim == "corA1":
        checks = _checks(runs, "corA1")
        if not checks:
            return NONE
        worst = max(checks, key=lambda c: _number(c.get("value")) or math.inf)
        return Cell(f"|F - L_ML|, |S - L_ML| = {worst.get('value', float('nan')):.1e} nats "
                    f"(tol. {worst.get('tolerance', float('nan')):.0e}; L_ML: Eq. 45)",
                    _status_of([str(c.get("status")) for c in checks]))
    if claim == "criterion":
        studies = _runs_for("criterion", groups, role="criterion")
        cases = [case for run in studies for case in run.summary.get("cases", []) or []]
        if not cases:
            return NONE
        parts = [f"{c['dec_link']} link: |F - S| = {abs(c['gap']):.1e}" for c in cases]
        return Cell("at stationary points (|grad F| <= 1e-9): " + "; ".join(parts),
                    _status_of([str(run.status) for run in studies]))
    certificates = [run.summary.get("certificate") for run in runs]
    certificates = [c for c in certificates if isinstance(c, dict)]
    if claim == "gap":
        runs_all = [run for g in groups for run in g.runs if isinstance(run.summary.get("certificate"), dict)]
        errors = [_number(run.summary["certificate"].get("identity_error")) for run in runs_all]
        relative = [e / max(1.0, abs(_number(run.summary["certificate"].get("elbo")) or 1.0))
                    for e, run in zip(errors, runs_all) if e is not None]
        if not runs_all:
            return NONE
        holds = all(run.summary["certificate"].get("holds") for run in runs_all)
        return Cell(f"identity error <= {max(relative, default=float('nan')):.0e} |F| on {len(runs_all)} "
                    f"trained networks (tol. 1e-10 |F|)", "PASS" if holds and len(relative) == len(runs_all) else "FAIL")
    if not certificates:
        return NONE
    worst = max((_number(c.get("worst_error")) or math.inf) / max(1.0, abs(_number(c.get("elbo")) or 1.0))
                for c in certificates)
    missing = sorted({o.get("name") for c in certificates for o in c.get("orbits", []) if o.get("missing")})
    orbits = max(len(c.get("orbits", [])) for c in certificates)
    status = "FAIL" if not all(c.get("holds") for c in certificates) else "NOT-COVERED" if missing else "PASS"
    text = (f"identity and {orbits} orbit slopes exact to {worst:.0e} |F| (tol. 1e-10 |F|)" if status != "NOT-COVERED"
            else f"no orbit {', '.join(missing)} (not covered); the rest exact to {worst:.0e} |F|")
    return Cell(text + _count(runs), status)


def convergence_cell(claim: str, runs: list[RunRecord], groups: list[RunGroup]) -> Cell:
    """rel_gap (worst over the claim's runs) against 5e-3, and the grade."""
    if claim == "criterion":
        cases = [case for run in _runs_for("criterion", groups, role="criterion")
                 for case in run.summary.get("cases", []) or []]
        if not cases:
            return NONE
        worst = max(c["grad_norm"] for c in cases)
        return Cell(f"stationary to round-off: |grad F| <= {worst:.0e}", "PASS" if all(c["stationary"] for c in cases)
                    else "NOT-CONVERGED")
    conv = [run.summary.get("convergence") for run in runs]
    conv = [c for c in conv if isinstance(c, dict) and _number(c.get("rel_gap")) is not None]
    if not conv or claim in ("gap", "corA1"):
        return NONE
    worst = max(conv, key=lambda c: c["rel_gap"])
    grades = sorted({str(c.get("grade")) for c in conv})
    within = sum(bool(c.get("stationary")) for c in conv)
    stationary = (f"; within 4 SE: {'yes' if within else 'no'}" if len(conv) == 1
                  else f"; within 4 SE: {within} of {len(conv)}")
    status = "NOT-CONVERGED" if "not-converged" in grades else "PASS"
    return Cell(f"rel. gap {worst['rel_gap']:.1e} ({'/'.join(grades)}){stationary}" + _count(runs), status)


def control_cell(claim: str, runs: list[RunRecord]) -> Cell:
    """Measured against predicted gap of the control runs (the gap identity's own control check for `gap`)."""
    controls = [run.summary.get("control") for run in runs]
    controls = [c for c in controls if isinstance(c, dict) and _number(c.get("gap")) is not None]
    if not controls or claim in ("corA1",):
        return NONE
    c = controls[0]
    more = f" (+{len(controls) - 1} more)" if len(controls) > 1 else ""
    return Cell(f"gap {c['gap']:+.4g} vs predicted {c['predicted_gap']:+.4g}{more}",
                _status_of([str(x.get("status")) for x in controls]))


def verdict_cell(row: ClaimRow) -> Cell:
    """HOLDS when proved and (where tested) numerically passed; else the failing verdict."""
    if row.passed:
        return Cell("HOLDS", "PASS")
    word = row.symbolic if row.symbolic != "PROVED" else row.numeric
    return Cell(word, word)


def answer_rows(data: ReportData, rows: list[ClaimRow]) -> list[AnswerRow]:
    """The first page's table, one row per claim of `rows` (the verdicts' order)."""
    by_name = {c.get("name"): c for c in data.claims()}
    out = []
    verify_runs = [run for g in data.groups if g.role == "verify" for run in g.runs]
    for row in rows:
        runs = verify_runs if row.name in ("gap", "corA1") else _runs_for(row.name, data.groups)
        title = short_title(str((by_name.get(row.name) or {}).get("title", row.title)))
        out.append(AnswerRow(claim=row.name, title=title, symbolic=symbolic_cell(by_name.get(row.name), row),
                             certificate=certificate_cell(row.name, runs, data.groups),
                             convergence=convergence_cell(row.name, runs, data.groups),
                             control=control_cell(row.name, runs) if row.name != "gap" else
                             _gap_control(data.groups),
                             verdict=verdict_cell(row)))
    return out


def _gap_control(groups: list[RunGroup]) -> Cell:
    checks = [c for g in groups for run in g.runs for c in run.summary.get("checks", []) or []
              if c.get("name") == "control-identity"]
    if not checks:
        return NONE
    worst = max(checks, key=lambda c: (_number(c.get("value")) or 0.0) / (_number(c.get("tolerance")) or 1.0))
    return Cell(f"control gaps = predicted residuals within {worst['value']:.1e} (tol. {worst['tolerance']:.1e})",
                _status_of([str(c.get("status")) for c in checks]))


def short_title(title: str) -> str:
    """'Proposition 1 (VAE-2)' from 'Proposition 1 (VAE-2): at every stationary point ...'."""
    return title.split(": ", 1)[0]
