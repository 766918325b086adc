"""The step-checking engine: steps, claims, and how a step is checked.

A claim is an ordered list of steps. A step states ``before = after`` (SymPy expressions or
matrices), the paper's equation number(s), a one-line justification and the hypotheses it uses.
Three kinds of step:

* ``identity``: PROVED when a symbolic strategy reduces before - after to zero (and the
  independent spot-check agrees), NUMERIC-ONLY when only the spot-check agrees, FAILED
  otherwise (with the residual and a numeric counterexample);
* ``erratum``: the printed equation (``printed``) must be refuted by a numeric counterexample
  and the corrected one (``before = after``) proved: PRINTED-WRONG; anything else is FAILED;
* ``nonzero``: ``before`` is a closed-form constant that must be shown nonzero by mpmath
  interval arithmetic (a witness, e.g. a nonzero determinant); ``after`` is unused.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import sympy as sp

from proofs.spotcheck import Domain, SpotCheck, interval_sign, spot_check
from proofs.strategies import strategy_chain
from proofs.text import equation_latex, equation_text

StepKind = Literal["identity", "erratum", "nonzero"]
Status = Literal["PROVED", "NUMERIC-ONLY", "FAILED", "PRINTED-WRONG"]


@dataclass(frozen=True)
class Printed:
    """An equation as printed in the paper (for errata): lhs = rhs."""

    lhs: Any
    rhs: Any


@dataclass(frozen=True)
class Step:
    """One step of a derivation: ``before = after``, tied to the paper's equation number(s)."""

    eq: str
    before: Any
    after: Any
    justification: str
    hypotheses: tuple[str, ...] = ()
    domain: Domain = field(default_factory=dict)
    kind: StepKind = "identity"
    printed: Printed | None = None
    statement: str = ""

    def text(self) -> str:
        """Plain-text statement (the explicit one if given, else ``before = after``)."""
        if self.kind == "nonzero":
            return self.statement or f"{equation_text(self.before, None)} != 0"
        return self.statement or equation_text(self.before, self.after)

    def latex(self) -> str:
        """LaTeX of the (corrected) equation, for mathtext rendering in reports."""
        if self.kind == "nonzero":
            return equation_latex(self.before, 0, relation=r"\neq")
        return equation_latex(self.before, self.after)


@dataclass(frozen=True)
class Claim:
    """A named claim: title, the hypotheses it rests on (key -> sentence), ordered steps."""

    name: str
    title: str
    hypotheses: dict[str, str]
    steps: tuple[Step, ...]


@dataclass
class StepResult:
    """The outcome of checking one step."""

    step: Step
    status: Status
    strategy: str | None
    seconds: float
    residual: str | None = None
    counterexample: dict[str, Any] | None = None
    detail: str = ""
    numeric: SpotCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON object of docs/interfaces.md (plus ``detail`` and ``numeric``)."""
        s = self.step
        printed = corrected = None
        if s.kind == "erratum" and s.printed is not None:
            printed = {"text": equation_text(s.printed.lhs, s.printed.rhs),
                       "latex": equation_latex(s.printed.lhs, s.printed.rhs)}
            corrected = {"text": equation_text(s.before, s.after), "latex": s.latex()}
        numeric = None
        if self.numeric is not None:
            numeric = {"agree": self.numeric.agree, "points": self.numeric.points,
                       "max_rel_error": self.numeric.max_rel_error}
        return {
            "eq": s.eq, "statement": s.text(), "latex": s.latex(),
            "justification": s.justification, "hypotheses": list(s.hypotheses),
            "status": self.status, "strategy": self.strategy, "seconds": round(self.seconds, 4),
            "residual": self.residual, "counterexample": self.counterexample,
            "printed": printed, "corrected": corrected, "kind": s.kind,
            "detail": self.detail, "numeric": numeric,
        }


@dataclass
class ClaimResult:
    """The outcome of checking a claim: PROVED only when every step has its target status."""

    claim: Claim
    steps: list[StepResult]
    seconds: float

    @property
    def status(self) -> Status:
        target = {"identity": "PROVED", "nonzero": "PROVED", "erratum": "PRINTED-WRONG"}
        if all(r.status == target[r.step.kind] for r in self.steps):
            return "PROVED"
        if any(r.status == "FAILED" for r in self.steps):
            return "FAILED"
        return "NUMERIC-ONLY"

    def to_dict(self) -> dict[str, Any]:
        """JSON object of docs/interfaces.md."""
        return {"name": self.claim.name, "title": self.claim.title, "status": self.status,
                "seconds": round(self.seconds, 3), "hypotheses": dict(self.claim.hypotheses),
                "steps": [r.to_dict() for r in self.steps]}


# --- checking ---------------------------------------------------------------------------------

def _residual(before: Any, after: Any) -> Any:
    if isinstance(before, sp.MatrixBase) or isinstance(after, sp.MatrixBase):
        return sp.Matrix(before) - sp.Matrix(after)
    return sp.sympify(before) - sp.sympify(after)


def _is_zero(e: Any) -> bool:
    if isinstance(e, sp.MatrixBase):
        return all(x == 0 for x in e)
    return e == 0


def _apply(fn, r: Any) -> Any:
    return r.applyfunc(fn) if isinstance(r, sp.MatrixBase) else fn(r)


def prove(before: Any, after: Any, expensive: bool = True) -> tuple[str | None, Any]:
    """Try the symbolic strategies in order; (strategy that closed it, last residual).

    With ``expensive=False`` the bounded ``simplify`` is skipped.
    """
    r = _residual(before, after)
    probe = r if not isinstance(r, sp.MatrixBase) else sp.Add(*r)
    last = r
    for name, fn in strategy_chain(probe):
        if name == "simplify" and not expensive:
            break
        out = _apply(fn, r)
        if _is_zero(out):
            return name, out
        if name != "simplify":
            last = out
    return None, last


def _seed(step: Step) -> int:
    return zlib.crc32(f"{step.eq}|{step.text()}".encode())


def _plain(x: Any) -> str:
    return sp.sstr(x)


def _check_identity(step: Step, before: Any, after: Any) -> tuple[Status, str | None, str | None, dict | None, SpotCheck]:
    strategy, residual = prove(before, after, expensive=False)
    numeric = spot_check(before, after, step.domain, seed=_seed(step))
    if strategy is None and numeric.agree is not False:
        # only worth the (bounded) simplify when no counterexample is known
        strategy, residual = prove(residual, 0, expensive=True)
    if strategy is not None and numeric.agree is not False:
        return "PROVED", strategy, None, None, numeric
    if numeric.agree:
        return "NUMERIC-ONLY", "spot-check", None, None, numeric
    return "FAILED", strategy, _plain(residual), numeric.worst_point, numeric


def check_step(step: Step) -> StepResult:
    """Check one step; see the module docstring for the outcomes."""
    t0 = time.perf_counter()
    if step.kind == "nonzero":
        sign = interval_sign(step.before)
        status: Status = "PROVED" if sign else "FAILED"
        detail = f"interval sign {sign:+d}" if sign else "interval contains 0"
        return StepResult(step, status, "interval" if sign else None, time.perf_counter() - t0,
                          residual=None if sign else _plain(step.before), detail=detail)
    if step.kind == "identity":
        status, strategy, residual, cex, numeric = _check_identity(step, step.before, step.after)
        return StepResult(step, status, strategy, time.perf_counter() - t0, residual, cex,
                          detail=f"spot-check max rel. error {numeric.max_rel_error:.1e} "
                                 f"over {numeric.points} points", numeric=numeric)
    return _check_erratum(step, t0)


def _check_erratum(step: Step, t0: float) -> StepResult:
    assert step.printed is not None, f"erratum step {step.eq} needs a printed form"
    p_status, p_strategy, p_residual, p_cex, p_num = _check_identity(step, step.printed.lhs, step.printed.rhs)
    c_status, c_strategy, c_residual, c_cex, c_num = _check_identity(step, step.before, step.after)
    seconds = time.perf_counter() - t0
    if p_status == "FAILED" and c_status == "PROVED":
        return StepResult(step, "PRINTED-WRONG", c_strategy, seconds, p_residual, p_cex,
                          detail=f"printed form refuted (max rel. error {p_num.max_rel_error:.2e}); "
                                 f"corrected form proved by {c_strategy}", numeric=c_num)
    if p_status != "FAILED":
        return StepResult(step, "FAILED", p_strategy, seconds,
                          detail=f"printed form holds ({p_status} by {p_strategy}): not an erratum",
                          numeric=p_num)
    return StepResult(step, "FAILED", c_strategy, seconds, c_residual, c_cex,
                      detail=f"corrected form not proved ({c_status})", numeric=c_num)


def check_claim(claim: Claim) -> ClaimResult:
    """Check every step of a claim, in order."""
    t0 = time.perf_counter()
    results = [check_step(s) for s in claim.steps]
    return ClaimResult(claim, results, time.perf_counter() - t0)
