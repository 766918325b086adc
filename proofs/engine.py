"""The engine: checks a claim as a chain (proofs.chain) and reports why it holds or fails.

A claim is PROVED only when

1. every link holds: ``before`` of step k is structurally the ``after`` of step k - 1
   (else "chain broken at step k"), and no step has ``before == after``;
2. every step is proved: an identity step by a symbolic strategy and the independent numeric
   spot-check; a definition, hypothesis, lemma or axiom step by substituting its equation into
   ``before`` (the replaced expression must occur there) and closing the rest by a strategy;
3. every hypothesis is derived where it is used: a stationarity condition is the derivative of
   the chain's expression, computed by SymPy, set to 0 and solved for what it determines (the
   expression differentiated is the last one of the chain that still equals F at every
   parameter value, with definitions unfolded);
4. every lemma or claim used is PROVED and each of its hypotheses is discharged by one of the
   user's (for stationarity: the derivatives agree up to a nonzero factor, checked here);
5. the hypotheses used are exactly those declared;
6. the last expression is structurally the right side of ``conclusion``, and its left side is
   the chain's start (or a defined symbol whose definition is the start).

Errata (proofs.chain.ErrataClaim) are checked item by item: the printed form must be refuted by a
numeric counterexample and the corrected form proved.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import sympy as sp
from sympy import Indexed, IndexedBase

from proofs.chain import (Axiom, ByAxiom, ByDefinition, ByHypothesis, ByLemma, ByStrategy, Claim,
                          Erratum, ErrataClaim, Stationarity, Step, Structural, unfold)
from proofs.operators import OPERATORS, collapse_kronecker, index_range, linear_normal
from proofs.spotcheck import SpotCheck, interval_sign, spot_check
from proofs.strategies import normal_form, strategy_chain
from proofs.text import equation_latex, equation_text, expression_latex, expression_text

Status = Literal["PROVED", "NUMERIC-ONLY", "FAILED", "PRINTED-WRONG"]
ELBO = sp.Symbol("F", real=True)  # the name every model gives its ELBO (proofs.claims.model.F)


# --- proving an identity ----------------------------------------------------------------------

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
    if _is_zero(r):
        return "structural", r
    probe = r if not isinstance(r, sp.MatrixBase) else sp.Add(*r)
    last = r
    for name, fn in strategy_chain(probe):
        if name == "simplify" and not expensive:
            break
        out = _apply(fn, r)
        if out is None or (isinstance(out, sp.MatrixBase) and any(e is None for e in out)):
            continue
        if _is_zero(out):
            return name, out
        if name != "simplify":
            last = out
    return None, last


_IDENTITY_CACHE: dict[tuple, tuple] = {}


def _hashable(x: Any) -> Any:
    return sp.ImmutableMatrix(x) if isinstance(x, sp.MatrixBase) else sp.sympify(x)


Evidence = tuple[Status, "str | None", "str | None", "dict | None", SpotCheck]


def _check_identity(before: Any, after: Any, domain: dict, seed: int) -> Evidence:
    """PROVED (strategy and spot-check agree), NUMERIC-ONLY or FAILED, with evidence; cached per
    (before, after, domain, seed) for the process, so a claim re-checked with one step changed
    (as the twin tests do) re-checks only what changed."""
    key = (_hashable(before), _hashable(after), id(domain), seed)
    hit = _IDENTITY_CACHE.get(key)
    if hit is None or hit[0] is not domain:
        hit = (domain, _check_identity_uncached(before, after, domain, seed))
        _IDENTITY_CACHE[key] = hit
    return hit[1]


def _check_identity_uncached(before: Any, after: Any, domain: dict, seed: int) -> Evidence:
    strategy, residual = prove(before, after, expensive=False)
    numeric = spot_check(before, after, domain, seed=seed)
    if strategy is None and numeric.agree is not False:
        strategy, residual = prove(residual, 0, expensive=True)
    if strategy is not None and numeric.agree is not False:
        return "PROVED", strategy, None, None, numeric
    if numeric.agree:
        return "NUMERIC-ONLY", "spot-check", None, None, numeric
    return "FAILED", strategy, sp.sstr(residual), numeric.worst_point, numeric


# --- results ----------------------------------------------------------------------------------

@dataclass
class Derivation:
    """A stationarity hypothesis derived in one claim: 0 = derivative, solved for a target."""

    hypothesis: Stationarity
    derivative: Any = None
    target: Any = None
    value: Any = None
    coefficient: Any = None
    error: str | None = None

    def text(self) -> str:
        head = f"0 = {self.hypothesis.direction_text()} F = {expression_text(self.derivative)}"
        if self.target is None:
            return head
        return f"{head}  =>  {expression_text(self.target)} = {expression_text(self.value)}"

    def to_dict(self) -> dict:
        h = self.hypothesis
        return {"key": h.key, "kind": "stationarity", "text": h.text, "eq": h.eq,
                "direction": h.direction_text(), "derivative": expression_text(self.derivative),
                "derivative_latex": expression_latex(self.derivative),
                "target": None if self.target is None else expression_text(self.target),
                "value": None if self.value is None else expression_text(self.value),
                "index": None if h.index is None else str(h.index),
                "via": None if h.via is None else h.via.name,
                "given": list(h.given), "requires": list(h.requires), "error": self.error}


@dataclass
class StepResult:
    """The outcome of checking one step (or one erratum)."""

    step: Any
    index: int
    status: Status
    strategy: str | None
    seconds: float
    justification: str = ""
    residual: str | None = None
    counterexample: dict[str, Any] | None = None
    detail: str = ""
    numeric: SpotCheck | None = None
    printed: dict | None = None
    corrected: dict | None = None

    @property
    def kind(self) -> str:
        return "erratum" if isinstance(self.step, Erratum) else self.step.by.kind

    def to_dict(self) -> dict[str, Any]:
        """JSON object of docs/interfaces.md."""
        s = self.step
        numeric = None
        if self.numeric is not None:
            numeric = {"agree": self.numeric.agree, "points": self.numeric.points,
                       "max_rel_error": self.numeric.max_rel_error}
        if isinstance(s, Erratum):
            statement = equation_text(s.corrected.lhs, s.corrected.rhs)
            latex = equation_latex(s.corrected.lhs, s.corrected.rhs)
            expression, expression_tex = statement, latex
        else:
            statement, latex = equation_text(s.before, s.after), equation_latex(s.before, s.after)
            expression, expression_tex = expression_text(s.after), expression_latex(s.after)
        return {
            "index": self.index, "eq": s.eq, "statement": statement, "latex": latex,
            "expression": expression, "expression_latex": expression_tex,
            "by": self.by_dict(), "justification": self.justification,
            "hypotheses": self.hypotheses(), "status": self.status, "strategy": self.strategy,
            "seconds": round(self.seconds, 4), "residual": self.residual,
            "counterexample": self.counterexample, "printed": self.printed,
            "corrected": self.corrected, "kind": self.kind, "detail": self.detail, "numeric": numeric,
        }

    def by_dict(self) -> dict:
        s = self.step
        if isinstance(s, Erratum):
            return {"kind": "erratum", "name": s.proof.name if s.proof else None, "strategy": self.strategy}
        by = s.by
        name = {"hypothesis": getattr(by, "key", None), "axiom": getattr(getattr(by, "axiom", None), "key", None),
                "lemma": getattr(getattr(by, "lemma", None), "name", None)}.get(by.kind)
        if by.kind == "definition":
            name = ", ".join(sp.sstr(x) for x in by.symbols)
        out = {"kind": by.kind, "name": name, "strategy": self.strategy}
        if by.kind in ("lemma", "axiom"):
            out["instance"] = by.instance.text()
            out["reverse"] = by.reverse
        return out

    def hypotheses(self) -> list[str]:
        s = self.step
        if isinstance(s, Erratum):
            return []
        by = s.by
        if isinstance(by, ByHypothesis):
            return [by.key]
        if isinstance(by, ByLemma):
            return sorted({d.by for d in by.discharges})
        if isinstance(by, ByAxiom):
            return list(by.axiom.hypotheses)
        return []


@dataclass
class ClaimResult:
    """The outcome of checking a claim (see the module docstring for when it is PROVED)."""

    claim: Any
    steps: list[StepResult]
    seconds: float
    failures: list[str] = field(default_factory=list)
    lemmas: list["ClaimResult"] = field(default_factory=list)
    hypotheses_used: list[str] = field(default_factory=list)
    derivations: dict[str, Derivation] = field(default_factory=dict)
    axioms: list[tuple[Axiom, str]] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    discharges: list[dict] = field(default_factory=list)

    @staticmethod
    def kind_of(step_result: StepResult) -> str:
        return step_result.kind

    @property
    def status(self) -> Status:
        targets = {"erratum": "PRINTED-WRONG"}
        if self.failures or any(r.status == "FAILED" for r in self.steps) \
                or any(lem.status == "FAILED" for lem in self.lemmas):
            return "FAILED"
        if all(r.status == targets.get(r.kind, "PROVED") for r in self.steps) \
                and all(lem.status == "PROVED" for lem in self.lemmas):
            return "PROVED"
        return "NUMERIC-ONLY"

    def to_dict(self) -> dict[str, Any]:
        """JSON object of docs/interfaces.md."""
        c = self.claim
        conclusion = c.conclusion
        relation = "!=" if isinstance(conclusion, sp.Ne) else "="
        start = c.start if isinstance(c, Claim) else None
        return {
            "name": c.name, "title": c.title, "role": c.role, "status": self.status,
            "seconds": round(self.seconds, 3),
            "hypotheses": {h.key: h.text for h in c.hypotheses},
            "hypotheses_used": list(self.hypotheses_used),
            "hypothesis_details": [_hypothesis_dict(h, self.derivations.get(h.key)) for h in c.hypotheses],
            "axioms": [{"key": a.key, "text": a.text, "citation": a.citation,
                        "statement": equation_text(a.lhs, a.rhs), "via": via} for a, via in self.axioms],
            "depends_on": list(self.depends_on),
            "discharges": list(self.discharges),
            "definitions": [{"symbol": sp.sstr(d.symbol), "body": expression_text(d.body), "text": d.text,
                             "eq": d.eq, "shaped_by": list(d.shaped_by)} for d in getattr(c, "definitions", ())],
            "start": None if start is None else expression_text(start),
            "start_latex": None if start is None else expression_latex(start),
            "conclusion": {"eq": c.eq, "relation": relation,
                           "text": equation_text(conclusion.lhs, conclusion.rhs, relation),
                           "latex": equation_latex(conclusion.lhs, conclusion.rhs,
                                                   r"\neq" if relation == "!=" else "=")},
            "statement": equation_text(conclusion.lhs, conclusion.rhs, relation),
            "latex": equation_latex(conclusion.lhs, conclusion.rhs, r"\neq" if relation == "!=" else "="),
            "failures": list(self.failures),
            "steps": [r.to_dict() for r in self.steps],
            "lemmas": [lem.to_dict() for lem in self.lemmas],
        }


def _hypothesis_dict(h: Any, derivation: Derivation | None) -> dict:
    if isinstance(h, Stationarity):
        return derivation.to_dict() if derivation else {
            "key": h.key, "kind": "stationarity", "text": h.text, "eq": h.eq,
            "direction": h.direction_text(), "requires": list(h.requires)}
    return {"key": h.key, "kind": "structural", "text": h.text, "eq": h.eq}


# --- checking a claim -------------------------------------------------------------------------

_CACHE: dict[int, tuple[Any, ClaimResult]] = {}


def clear_caches() -> None:
    """Forget every cached result (claims, identities, derivations), e.g. after changing strategies."""
    _CACHE.clear()
    _IDENTITY_CACHE.clear()
    _DERIVATION_CACHE.clear()


def check_claim(claim: Claim | ErrataClaim) -> ClaimResult:
    """Check a claim (with its lemmas); results are cached per claim object for the process."""
    hit = _CACHE.get(id(claim))
    if hit is not None and hit[0] is claim:
        return hit[1]
    result = _check_errata(claim) if isinstance(claim, ErrataClaim) else _Checker(claim).run()
    _CACHE[id(claim)] = (claim, result)
    return result


def _seed(*parts: Any) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


class _Checker:
    """State of one claim's check: the anchor, the derived hypotheses, what was used."""

    def __init__(self, claim: Claim):
        self.claim = claim
        self.declared = {h.key: h for h in claim.hypotheses}
        self.failures: list[str] = []
        self.used: set[str] = set()
        self.derivations: dict[str, Derivation] = {}
        self.axioms: list[tuple[Axiom, str]] = []
        self.depends: set[str] = set()
        self.discharges: list[dict] = []

    # -- entry point
    def run(self) -> ClaimResult:
        t0 = time.perf_counter()
        claim = self.claim
        lemma_results = [check_claim(lem) for lem in claim.lemmas]
        results: list[StepResult] = []
        if not claim.steps:
            self.failures.append("the claim has no steps")
        prev = claim.start
        self.anchor = unfold(prev, claim.definitions)
        self.unconditional = [prev]
        conditional = False
        for k, step in enumerate(claim.steps, 1):
            if k > 1 and step.before != prev:
                self.failures.append(f"chain broken at step {k}: its `before` is not the `after` of step {k - 1}")
                results.append(StepResult(step, k, "FAILED", None, 0.0, self._by_text(step),
                                          detail=f"chain broken at step {k}"))
                prev = step.after
                continue
            results.append(self._check_step(step, k))
            conditional = conditional or self._conditional(step)
            if not conditional:
                self.anchor = unfold(step.after, claim.definitions)
                self.unconditional.append(step.after)
            prev = step.after
        self._check_conclusion(prev)
        self._use_definitions()
        self._check_hypotheses()
        for res in lemma_results:
            if res.status == "FAILED":
                self.failures.append(f"lemma {res.claim.name} is not proved")
        return ClaimResult(claim, results, time.perf_counter() - t0, self.failures, lemma_results,
                           sorted(self.used), self.derivations, self.axioms, sorted(self.depends),
                           self.discharges)

    def _conditional(self, step: Step) -> bool:
        by = step.by
        if isinstance(by, (ByHypothesis, ByAxiom)):
            return True
        return isinstance(by, ByLemma) and any(isinstance(h, Stationarity) for h in by.lemma.hypotheses)

    # -- conclusion
    def _check_conclusion(self, last: Any) -> None:
        c = self.claim
        lhs_ok = c.conclusion.lhs == c.start or (
            unfold(c.conclusion.lhs, c.definitions) == unfold(c.start, c.definitions))
        if not lhs_ok:
            self.failures.append("the conclusion's left side is not the chain's start (nor defined as it)")
        if isinstance(c.conclusion, sp.Ne):
            sign = interval_sign(last) if not sp.sympify(last).free_symbols else None
            if not sign:
                self.failures.append("does not reach the conclusion: the last expression is not shown nonzero")
            return
        if last != c.conclusion.rhs:
            self.failures.append(f"does not reach the conclusion: the chain ends at {expression_text(last)}, "
                                 f"the conclusion (Eq. {c.eq}) says {expression_text(c.conclusion.rhs)}")

    # -- hypotheses accounting
    def _use_definitions(self) -> None:
        """A definition is used when its symbol or its body occurs in the chain; the structural
        hypotheses that shaped it are then used."""
        c = self.claim
        exprs = [sp.sympify(c.start)] + [sp.sympify(s.after) for s in c.steps
                                         if not isinstance(s.after, sp.MatrixBase)]
        for dfn in c.definitions:
            if any(e.has(dfn.symbol) or e.has(dfn.body) or any(e.has(m) for m in dfn.markers) for e in exprs):
                for key in dfn.shaped_by:
                    self._use(key)

    def _check_hypotheses(self) -> None:
        for key in sorted(self.used - set(self.declared)):
            self.failures.append(f"hypothesis {key} is used but not declared")
        for key in sorted(set(self.declared) - self.used):
            self.failures.append(f"hypothesis {key} is declared but not used")

    def _use(self, key: str) -> Any:
        """Mark a hypothesis used (with what it requires); the declared object or None."""
        self.used.add(key)
        hyp = self.declared.get(key)
        if isinstance(hyp, Stationarity):
            for other in hyp.given + hyp.requires:
                self._use(other)
        return hyp

    # -- one step
    def _by_text(self, step: Step, strategy: str | None = None, extra: str = "") -> str:
        by = step.by
        if isinstance(by, ByStrategy):
            return f"by {strategy or 'algebra'}"
        if isinstance(by, ByDefinition):
            return "by definition of " + ", ".join(sp.sstr(s) for s in by.symbols)
        if isinstance(by, ByHypothesis):
            return f"by hypothesis {by.key}" + (f": {extra}" if extra else "")
        if isinstance(by, ByLemma):
            what = "claim" if by.lemma.role == "claim" else "lemma"
            inst = f" at {by.instance.text()}" if by.instance.values else ""
            return f"by {what} {by.lemma.name}{' (right to left)' if by.reverse else ''}{inst}"
        inst = f" at {by.instance.text()}" if by.instance.values else ""
        return f"by axiom {by.axiom.key} ({by.axiom.citation}){inst}"

    def _check_step(self, step: Step, k: int) -> StepResult:
        t0 = time.perf_counter()
        seed = _seed(self.claim.name, k, step.eq)
        if _same(step.before, step.after):
            return StepResult(step, k, "FAILED", None, time.perf_counter() - t0, self._by_text(step),
                              detail="refused: before and after are the same expression")
        by = step.by
        if isinstance(by, ByStrategy):
            status, strategy, residual, cex, numeric = _check_identity(step.before, step.after, step.domain, seed)
            return StepResult(step, k, status, strategy, time.perf_counter() - t0, self._by_text(step, strategy),
                              residual, cex, _numeric_detail(numeric), numeric)
        substituted, problem, extra = self._substitute(step)
        if problem:
            return StepResult(step, k, "FAILED", None, time.perf_counter() - t0, self._by_text(step, extra=extra),
                              detail=problem)
        if _same(substituted, step.after):
            return StepResult(step, k, "PROVED", "substitution", time.perf_counter() - t0,
                              self._by_text(step, extra=extra), detail="the substituted expression is `after`")
        status, strategy, residual, cex, numeric = _check_identity(substituted, step.after, step.domain, seed)
        detail = f"after the substitution, closed by {strategy}; " + _numeric_detail(numeric) \
            if status == "PROVED" else "the substituted expression does not equal `after`"
        return StepResult(step, k, status, f"substitution + {strategy}" if strategy else None,
                          time.perf_counter() - t0, self._by_text(step, extra=extra), residual, cex, detail, numeric)

    def _substitute(self, step: Step) -> tuple[Any, str | None, str]:
        """(before with the justification's equation substituted, problem or None, derived text)."""
        by = step.by
        before = step.before
        if isinstance(by, ByDefinition):
            table = {d.symbol: d.body for d in self.claim.definitions if d.symbol in by.symbols}
            missing = [s for s in by.symbols if s not in table]
            if missing:
                return before, f"no definition of {', '.join(map(str, missing))} in this claim", ""
            out = _fold(before, table) if by.fold else before.xreplace(table)
            return out, None if out != before else "the defined symbols (or their definitions) do not occur", ""
        if isinstance(by, ByHypothesis):
            return self._substitute_hypothesis(by.key, before)
        if isinstance(by, ByLemma):
            return self._substitute_lemma(by, before)
        return self._substitute_axiom(by, before)

    def _substitute_hypothesis(self, key: str, before: Any) -> tuple[Any, str | None, str]:
        hyp = self._use(key)
        if hyp is None:
            return before, f"hypothesis {key} is not declared", ""
        if not isinstance(hyp, Stationarity) or hyp.solve_for is None:
            return before, f"hypothesis {key} determines no equation to substitute", ""
        d = self.derive(hyp)
        if d.error:
            return before, d.error, ""
        out = _substitute_indexed(before, d.target, d.value, hyp.index)
        text = f"{expression_text(d.target)} = {expression_text(d.value)}"
        if out == before:
            return before, f"{expression_text(d.target)} (what {key} determines) does not occur in `before`", text
        return out, None, text

    def derive(self, hyp: Stationarity) -> Derivation:
        """The equation a stationarity hypothesis determines here (module docstring, item 3)."""
        if hyp.key in self.derivations:
            return self.derivations[hyp.key]
        given = {k: self.derive(self.declared[k]) for k in hyp.given if isinstance(self.declared.get(k), Stationarity)}
        if hyp.of is not None:
            problem = self._is_elbo(hyp.of)
            if problem:
                d = Derivation(hyp, error=f"{hyp.key}: {problem}")
                self.derivations[hyp.key] = d
                return d
            F = hyp.of
        elif hyp.at is not None:
            if hyp.at >= len(self.unconditional):
                d = Derivation(hyp, error=f"{hyp.key} is derived from step {hyp.at}, which is not unconditional")
                self.derivations[hyp.key] = d
                return d
            F = unfold(self.unconditional[hyp.at], self.claim.definitions)
        else:
            F = self.anchor
        d = derive(hyp, F, given)
        self.derivations[hyp.key] = d
        if hyp.via is not None:
            self._note_dependency(hyp.via)
        return d

    def _is_elbo(self, expr: Any) -> str | None:
        """None if expr is this claim's ELBO F (as defined here, up to the strategies), else why not:
        a hypothesis may differentiate another form of F than the chain's, never another function."""
        table = {dfn.symbol: dfn for dfn in self.claim.definitions}
        if ELBO not in table:
            return "it differentiates a given expression, but this claim does not define the ELBO F"
        elbo = unfold(ELBO, self.claim.definitions)
        if expr == elbo or prove(expr, elbo)[0] is not None:
            return None
        return "the expression it differentiates is not this claim's F"

    def _substitute_lemma(self, by: ByLemma, before: Any) -> tuple[Any, str | None, str]:
        lemma = by.lemma
        self._note_dependency(lemma)
        result = check_claim(lemma)
        for axiom, via in result.axioms:
            self.axioms.append((axiom, f"{lemma.name}" + (f" <- {via}" if via else "")))
        if result.status != "PROVED":
            return before, f"{lemma.name} is not proved ({result.status})", ""
        problem = self._discharge(by) or _instance_problem(by.instance, lemma)
        if problem:
            return before, problem, ""
        rhs = by.instance.apply(lemma.conclusion.rhs)
        for lhs in self._lemma_lhs(lemma):
            lhs = by.instance.apply(lhs)
            out = _replace(before, rhs, lhs) if by.reverse else _replace(before, lhs, rhs)
            if out[1] is None:
                return out
        return out

    def _lemma_lhs(self, lemma: Claim) -> list:
        """The forms of the lemma's left side to look for: as stated, when it is a symbol that this
        claim defines exactly as the lemma does (the same quantity, e.g. F of the same model), and
        unfolded."""
        lhs = lemma.conclusion.lhs
        unfolded = unfold(lhs, lemma.definitions)
        mine = {dfn.symbol for dfn in self.claim.definitions}
        if isinstance(lhs, sp.Symbol) and lhs in mine and unfold(lhs, self.claim.definitions) == unfolded:
            return [lhs, unfolded]
        return [unfolded]

    def _substitute_axiom(self, by: ByAxiom, before: Any) -> tuple[Any, str | None, str]:
        self.axioms.append((by.axiom, ""))
        for key in by.axiom.hypotheses:
            self._use(key)
        lhs, rhs = by.instance.apply(by.axiom.lhs), by.instance.apply(by.axiom.rhs)
        return _replace(before, rhs, lhs) if by.reverse else _replace(before, lhs, rhs)

    def _note_dependency(self, lemma: Claim) -> None:
        owner = lemma.name.split("/")[0]
        if owner != self.claim.name.split("/")[0]:
            self.depends.add(owner)

    def _discharge(self, by: ByLemma) -> str | None:
        """Each hypothesis of the lemma must be discharged (Discharge) or, if structural, declared."""
        lemma = by.lemma
        given = {d.hypothesis: d for d in by.discharges}
        for unknown in sorted(set(given) - {h.key for h in lemma.hypotheses}):
            return f"{lemma.name} has no hypothesis {unknown} to discharge"
        for hyp in lemma.hypotheses:
            d = given.get(hyp.key)
            if d is None:
                if isinstance(hyp, Structural):
                    self._use(hyp.key)
                    continue
                return f"hypothesis {hyp.key} of {lemma.name} is not discharged"
            mine = self._use(d.by)
            if mine is None:
                return f"{d.by} (discharging {hyp.key} of {lemma.name}) is not declared"
            if isinstance(hyp, Stationarity):
                problem = self._check_implication(lemma, hyp, mine, d, by)
                if problem:
                    return problem
            else:
                self.discharges.append({"lemma": lemma.name, "hypothesis": hyp.key, "by": d.by})
        return None

    def _check_implication(self, lemma: Claim, hyp: Stationarity, mine: Any, d: Any, by: ByLemma) -> str | None:
        if not isinstance(mine, Stationarity):
            return f"{d.by} is not a stationarity condition, so it cannot imply {hyp.key}"
        if not _nonzero(d.factor):
            return f"the factor {d.factor} relating {hyp.key} to {d.by} is not provably nonzero"
        if mine.of is not None and self._is_elbo(mine.of):
            return f"{d.by}: {self._is_elbo(mine.of)}"
        theirs = derive(hyp, hyp.of if hyp.of is not None else unfold(lemma.start, lemma.definitions), {},
                        solve=False, use_via=False)
        ours = derive(mine, mine.of if mine.of is not None else unfold(self.claim.start, self.claim.definitions), {},
                      solve=False, use_via=False)
        if theirs.error or ours.error:
            return theirs.error or ours.error
        strategy, residual = prove(by.instance.apply(theirs.derivative), d.factor * ours.derivative)
        if strategy is None:
            return (f"{d.by} does not imply {hyp.key} of {lemma.name}: the derivatives differ by "
                    f"{expression_text(residual)}")
        self.discharges.append({"lemma": lemma.name, "hypothesis": hyp.key, "by": d.by, "factor": sp.sstr(d.factor),
                                "check": f"{hyp.direction_text()} F_{lemma.name} at the instance = "
                                         f"{sp.sstr(d.factor)} * {mine.direction_text()} F (by {strategy})"})
        return None


def _numeric_detail(numeric: SpotCheck) -> str:
    return f"spot-check max rel. error {numeric.max_rel_error:.1e} over {numeric.points} points"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        return isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase) and a.shape == b.shape and a == b
    return sp.sympify(a) == sp.sympify(b)


def _nonzero(x: Any) -> bool:
    x = sp.sympify(x)
    return bool(x.is_nonzero or x.is_positive or x.is_negative)


def _fold(expr: Any, table: dict) -> Any:
    """expr with each definition body replaced by its symbol; an indexed symbol r[h] folds its body
    inside sums over h (and over any other variable, with the index renamed)."""
    out = expr.xreplace({body: symbol for symbol, body in table.items()})

    def visit(e: sp.Basic) -> sp.Basic:
        if isinstance(e, sp.Sum):
            body = visit(e.function)
            for v, _, _ in e.limits:
                for symbol, definition in table.items():
                    if isinstance(symbol, Indexed) and len(symbol.indices) == 1:
                        i = symbol.indices[0]
                        body = body.xreplace({definition.xreplace({i: v}): symbol.xreplace({i: v})})
            return sp.Sum(body, *e.limits)
        if not isinstance(e, sp.Basic) or e.is_Atom or isinstance(e, Indexed):
            return e
        return e.func(*[visit(a) for a in e.args])

    out = visit(out)
    if out == expr:  # a body that SymPy distributed over a numeric factor: algebraic substitution
        for symbol, body in table.items():
            out = out.subs(body, symbol)
    return out


def _replace(before: Any, old: Any, new: Any) -> tuple[Any, str | None, str]:
    """before with old replaced by new: structurally, or as a sub-sum/sub-product (``subs``)."""
    text = f"{expression_text(old)} = {expression_text(new)}"
    out = before.xreplace({old: new}) if not isinstance(before, sp.MatrixBase) else before.applyfunc(
        lambda e: e.xreplace({old: new}))
    if out == before and not isinstance(before, sp.MatrixBase):
        out = before.subs(old, new)
    if out == before:
        return before, f"the equation's left side {expression_text(old)} does not occur in `before`", text
    return out, None, text


def _instance_problem(inst: Any, lemma: Claim) -> str | None:
    """A value must keep the positivity a lemma variable is declared with."""
    for key, value in inst.values:
        if isinstance(key, sp.Symbol) and key.is_positive and not sp.sympify(value).is_positive:
            return f"instance {key} -> {value} of {lemma.name}: {key} is positive, {value} is not known to be"
        if isinstance(key, IndexedBase) and key.assumptions0.get("positive") and isinstance(value, sp.Lambda) \
                and not value.expr.is_positive:
            return f"instance {key} -> {value} of {lemma.name}: {key} is positive, the value is not known to be"
    return None


def _substitute_indexed(expr: Any, target: Any, value: Any, index: sp.Symbol | None) -> Any:
    """target -> value, and for a generic index also target(index -> v) inside sums over v that
    run over the index's declared range."""
    out = expr.xreplace({target: value})
    if index is None:
        return out
    bounds = index_range(index)

    def visit(e: sp.Basic) -> sp.Basic:
        if isinstance(e, sp.Sum):
            body = e.function
            for v, lo, hi in e.limits:
                if (lo, hi) == bounds:
                    body = body.xreplace({target.xreplace({index: v}): value.xreplace({index: v})})
            return sp.Sum(visit(body), *e.limits)
        if not isinstance(e, sp.Basic) or e.is_Atom or isinstance(e, Indexed):
            return e
        return e.func(*[visit(a) for a in e.args])

    return visit(out)


_DERIVATION_CACHE: dict[tuple, tuple] = {}


def derive(hyp: Stationarity, F: Any, given: dict[str, Derivation], solve: bool = True,
           use_via: bool = True) -> Derivation:
    """Differentiate F as the hypothesis says, then (with ``solve``) solve 0 = derivative.

    With ``use_via=False`` the derivative is returned as computed (unevaluated along a path that
    has a ``via`` lemma), for comparing two hypotheses' derivatives. Cached per hypothesis object,
    F and the given equations."""
    key = (id(hyp), sp.sympify(F), tuple((k, id(g.hypothesis), g.target, g.value) for k, g in sorted(given.items())),
           solve, use_via)
    hit = _DERIVATION_CACHE.get(key)
    if hit is None or hit[0] is not hyp:
        hit = (hyp, _derive(hyp, F, given, solve, use_via))
        _DERIVATION_CACHE[key] = hit
    return hit[1]


def _derive(hyp: Stationarity, F: Any, given: dict[str, Derivation], solve: bool, use_via: bool) -> Derivation:
    d = Derivation(hyp)
    t = hyp.path.parameter if hyp.path is not None and hyp.path.parameter is not None else sp.Dummy("t", real=True)
    if hyp.wrt is not None:
        derivative = sp.diff(F, hyp.wrt)
    elif hyp.path is not None and hyp.via is not None and use_via:
        # unevaluated: d/dt F(path(t)) at t = 0, compared with the lemma that evaluates it
        derivative = sp.Subs(sp.Derivative(hyp.path.apply(F, t), t), t, 0)
    elif hyp.path is not None:
        derivative = sp.diff(hyp.path.apply(F, t), t).subs(t, 0)
    else:
        d.error = f"hypothesis {hyp.key} has neither a parameter nor a path"
        return d
    derivative = collapse_kronecker(derivative)
    if hyp.via is not None and use_via:
        via = check_claim(hyp.via)
        if via.status != "PROVED":
            d.error = f"{hyp.via.name} (the derivative of {hyp.key}) is not proved"
            return d
        strategy, residual = prove(unfold(hyp.via.conclusion.lhs, hyp.via.definitions), derivative)
        if strategy is None:
            d.error = (f"{hyp.via.name}'s left side is not the derivative {hyp.direction_text()} F "
                       f"(residual {expression_text(residual)})")
            return d
        derivative = hyp.via.conclusion.rhs
    for key, g in given.items():
        if g.error or g.target is None:
            d.error = f"{hyp.key} needs {key}, which determines nothing ({g.error})"
            return d
        derivative = _substitute_indexed(derivative, g.target, g.value, g.hypothesis.index)
    if hyp.gaussian:
        derivative = sp.expand(normal_form(derivative, moments=True))
    d.derivative = derivative
    if not solve or hyp.solve_for is None:
        return d
    unknown = sp.Dummy("u", positive=bool(getattr(hyp.solve_for, "is_positive", False)))
    e = _in_terms_of(derivative, hyp.solve_for, unknown)
    if e is None:
        d.error = (f"{hyp.key}: the derivative {expression_text(derivative)} is not a function of "
                   f"{expression_text(hyp.solve_for)}")
        return d
    a, b = sp.diff(e, unknown), e.subs(unknown, 0)
    if not a.has(unknown):
        a = sp.cancel(a)
        if not _nonzero(a):
            d.error = (f"{hyp.key}: the coefficient {expression_text(a)} of {expression_text(hyp.solve_for)} "
                       f"is not provably nonzero")
            return d
        d.target, d.value, d.coefficient = hyp.solve_for, sp.factor(sp.cancel(-b / a)), a
        return d
    roots = sp.solve(sp.together(e), unknown)
    if len(roots) != 1:
        d.error = f"{hyp.key}: 0 = derivative has {len(roots)} roots in {expression_text(hyp.solve_for)}, not one"
        return d
    d.target, d.value = hyp.solve_for, sp.factor(sp.cancel(roots[0]))
    return d


def _in_terms_of(expr: Any, target: Any, unknown: sp.Symbol) -> Any:
    """expr rewritten with ``target`` replaced by ``unknown``: literally if it occurs, else modulo
    linearity (both in linear normal form; the first atom of the target's normal form is solved
    for and eliminated). None if the result still depends on the target's atoms."""
    literal = expr.xreplace({target: unknown})
    if literal != expr:
        return sp.expand(literal)
    t_norm, e_norm = sp.expand(linear_normal(target)), sp.expand(linear_normal(expr))
    terms = [a for a in sp.Add.make_args(t_norm) if a.has(sp.Sum, *OPERATORS)]
    if not terms:
        return None

    def split(term: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        coeff = sp.Mul(*[f for f in sp.Mul.make_args(term) if not f.has(sp.Sum, *OPERATORS)])
        return coeff, term / coeff

    # a term whose non-constant part is one atom (a subtree everywhere) is the best pivot
    pivot_term = min(terms, key=lambda a: len(sp.Mul.make_args(split(a)[1])))
    coeff, pivot = split(pivot_term)
    value = (unknown - (t_norm - pivot_term)) / coeff
    replaced = e_norm.xreplace({pivot: value})
    if replaced == e_norm:
        replaced = e_norm.subs(pivot, value)
    out = sp.expand(linear_normal(replaced))
    if not out.has(unknown) or out.subs(unknown, 0).has(sp.Sum, *OPERATORS):
        return None
    return out


# --- errata -----------------------------------------------------------------------------------

def _check_errata(claim: ErrataClaim) -> ClaimResult:
    t0 = time.perf_counter()
    results = [_check_erratum(e, k) for k, e in enumerate(claim.steps, 1)]
    lemma_results = [check_claim(e.proof) for e in claim.steps if e.proof is not None]
    failures = []
    listed = tuple(sp.Symbol(e.eq) for e in claim.steps)
    if tuple(claim.conclusion.rhs) != listed:
        failures.append(f"does not reach the conclusion: the errata checked are {', '.join(map(str, listed))}, "
                        f"the conclusion lists {', '.join(map(str, claim.conclusion.rhs))}")
    depends = sorted({e.proof.name.split("/")[0] for e in claim.steps if e.proof is not None} - {claim.name})
    return ClaimResult(claim, results, time.perf_counter() - t0, failures, [], [], {}, [], depends)


def _check_erratum(e: Erratum, k: int) -> StepResult:
    t0 = time.perf_counter()
    seed = _seed("errata", k, e.eq)
    refute = e.refute if e.refute is not None else e.printed
    p_status, p_strategy, p_residual, p_cex, p_num = _check_identity(refute.lhs, refute.rhs, e.domain, seed)
    printed = {"text": equation_text(e.printed.lhs, e.printed.rhs),
               "latex": equation_latex(e.printed.lhs, e.printed.rhs)}
    corrected = {"text": equation_text(e.corrected.lhs, e.corrected.rhs),
                 "latex": equation_latex(e.corrected.lhs, e.corrected.rhs)}
    justification = f"{e.verdict}: {e.explanation}"
    proof = check_claim(e.proof) if e.proof is not None else None
    c_ok = proof is not None and proof.status == "PROVED" and e.proof.conclusion == e.corrected
    c_strategy = f"chain {e.proof.name}" if c_ok else None
    c_detail = f"corrected form proved by the chain {e.proof.name}" if c_ok else \
        "corrected form not proved: no chain, or its chain is not PROVED or concludes something else"
    seconds = time.perf_counter() - t0
    if p_status != "FAILED":
        return StepResult(e, k, "FAILED", p_strategy, seconds, justification, printed=printed, corrected=corrected,
                          detail=f"printed form holds ({p_status} by {p_strategy}): not an erratum", numeric=p_num)
    if not c_ok:
        return StepResult(e, k, "FAILED", None, seconds, justification, p_residual, p_cex, c_detail, p_num,
                          printed, corrected)
    return StepResult(e, k, "PRINTED-WRONG", c_strategy, seconds, justification, p_residual, p_cex,
                      f"printed form refuted (max rel. error {p_num.max_rel_error:.2e}); {c_detail}", p_num,
                      printed, corrected)


__all__ = ["Status", "Derivation", "StepResult", "ClaimResult", "check_claim", "clear_caches", "prove", "derive"]
