"""What a proof is made of: chains of steps, definitions, hypotheses, axioms and lemma uses.

A :class:`Claim` is a derivation read like a Lean ``calc`` block::

    start              (the claim's definitions, e.g. F1 + F2 + F3)
      = after_1        by <justification>     [Eq. ...]
      = after_2        by <justification>     [Eq. ...]
      ...
      = conclusion.rhs

Every :class:`Step` stores both ``before`` and ``after``; the engine requires ``before`` of step k
to be *structurally* the ``after`` of step k - 1, so a dropped step is a broken link and is never
bridged silently. A justification is one of

* :class:`ByStrategy`: ``before = after`` is an identity, closed by a symbolic strategy;
* :class:`ByDefinition`: defined symbols are replaced by their bodies;
* :class:`ByHypothesis`: the equation a :class:`Stationarity` hypothesis determines (derived by
  the engine from the chain's expression with SymPy's ``diff``) is substituted;
* :class:`ByLemma`: a proved claim or lemma ``lhs = rhs`` is substituted, at an :class:`Instance`;
  the lemma's hypotheses must each be discharged (:class:`Discharge`);
* :class:`ByAxiom`: the same with an :class:`Axiom`, a cited result from outside the paper.

:class:`Structural` hypotheses (a first decoder layer linear in z, an encoder closed under
scaling, ...) shape the definitions: a :class:`Definition` names the ones it embodies, and a
:class:`Stationarity` hypothesis names the ones that make its direction a path in the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import sympy as sp
from sympy import Indexed, IndexedBase
from sympy.core.function import UndefinedFunction

Domain = dict


@dataclass(frozen=True)
class Definition:
    """``symbol := body``, a definition of the paper (equation numbers in ``eq``)."""

    symbol: sp.Symbol
    body: sp.Expr
    text: str
    eq: str = ""
    shaped_by: tuple[str, ...] = ()
    markers: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Structural:
    """A hypothesis on the model family that shapes the definitions (see the module docstring)."""

    key: str
    text: str
    eq: str = ""

    kind = "structural"


@dataclass(frozen=True)
class Path:
    """A path t -> parameters through the current point: each entry ``(p, rate)`` multiplies the
    parameter p (a Symbol, or every entry p[i, ...] of an IndexedBase) by exp(t * rate) (``kind``
    "exp", log-scale directions) or by 1 + t * rate (``kind`` "linear": R* + t R~ with R~ = rate R*,
    Eq. 55), where rate is a ``Lambda`` of p's indices or a constant. ``parameter`` names t."""

    entries: tuple[tuple[Any, Any], ...]
    kind: str = "exp"
    parameter: Any = None

    def apply(self, expr: sp.Basic, t: sp.Symbol) -> sp.Basic:
        """expr with every parameter of the path moved to its value at t.

        The bodies of vector arguments (``Lambda``s, e.g. a layer's pre-activations) are expanded
        so that factors exp(+-t ...) that cancel do cancel: SymPy cannot differentiate through a
        ``Lambda``, so a vector argument must be constant along the path to be differentiated.
        """
        def factor(rate: Any, indices: tuple) -> sp.Expr:
            r = _rate(rate, indices)
            return 1 + t * r if self.kind == "linear" else sp.exp(t * r)

        for param, rate in self.entries:
            if isinstance(param, IndexedBase):
                expr = expr.replace(lambda e, p=param: isinstance(e, Indexed) and e.base == p,
                                    lambda e, r=rate: factor(r, e.indices) * e)
            else:
                expr = expr.xreplace({param: factor(rate, ()) * param})
        return expr.replace(lambda e: isinstance(e, sp.Lambda) and e.has(t),
                            lambda e: sp.Lambda(e.variables, sp.expand(e.expr)))

    def text(self) -> str:
        t = sp.sstr(self.parameter) if self.parameter is not None else "t"
        parts = []
        for param, rate in self.entries:
            idx = sp.symbols(f"a_1:{_arity(rate) + 1}") if isinstance(rate, sp.Lambda) else ()
            target = sp.sstr(param[idx] if idx and isinstance(param, IndexedBase) else param)
            r = sp.sstr(_rate(rate, idx))
            parts.append(f"{target} -> (1 + {t}*{r})*{target}" if self.kind == "linear"
                         else f"{target} -> exp({t}*{r})*{target}")
        return ", ".join(parts)


def _arity(rate: sp.Lambda) -> int:
    return len(rate.variables)


def _rate(rate: Any, indices: tuple) -> sp.Expr:
    return rate(*indices) if isinstance(rate, sp.Lambda) else sp.sympify(rate)


@dataclass(frozen=True)
class Stationarity:
    """F is stationary w.r.t. ``wrt`` or along ``path`` (at t = 0), at the point considered.

    The engine differentiates the chain's expression (the ``after`` of step ``at`` if given, which
    must still equal F at every parameter value; or ``of``), collapses Kronecker sums,
    replaces the derivative by the right side of the lemma ``via`` (whose left side must equal
    it), substitutes the equations of the hypotheses in ``given``, and solves 0 = derivative for
    ``solve_for`` (linearly, with a provably nonzero coefficient, or as the unique root).
    ``index`` is a generic index (declared range) for which the condition holds for every value.
    With ``gaussian`` the derivative's expectations are evaluated with the Gaussian moments of q
    first (the condition is then an equation between the encoder's parameters).
    """

    key: str
    text: str
    eq: str
    wrt: Any = None
    path: Path | None = None
    solve_for: sp.Expr | None = None
    index: sp.Symbol | None = None
    given: tuple[str, ...] = ()
    via: "Claim | None" = None
    requires: tuple[str, ...] = ()
    of: sp.Expr | None = None
    at: int | None = None
    gaussian: bool = False

    kind = "stationarity"

    def direction_text(self) -> str:
        if self.wrt is not None:
            return f"d/d{sp.sstr(self.wrt)}"
        if self.path is None:
            return "?"
        t = sp.sstr(self.path.parameter) if self.path.parameter is not None else "t"
        return f"d/d{t} at {t} = 0 along {self.path.text()}"


Hypothesis = Union[Structural, Stationarity]


@dataclass(frozen=True)
class Axiom:
    """A result from outside the paper, taken as given: ``lhs = rhs`` with a citation."""

    key: str
    text: str
    citation: str
    lhs: sp.Expr
    rhs: sp.Expr
    hypotheses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A function given by a rule that a SymPy ``Lambda`` cannot state (it reads a vector argument,
    e.g. g_d(u) = u_d for a decoder that returns its d-th pre-activation)."""

    text: str
    fn: Any

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


@dataclass(frozen=True)
class Instance:
    """Values for a lemma's variables: Symbols, IndexedBases (-> Lambda of the indices) and
    undefined functions (-> Lambda or Rule). Applied functions first, then bases, then symbols."""

    values: tuple[tuple[Any, Any], ...] = ()

    def apply(self, expr: Any) -> Any:
        if isinstance(expr, sp.MatrixBase):
            return expr.applyfunc(self.apply)
        expr = sp.sympify(expr)
        for key, value in self.values:
            if isinstance(key, UndefinedFunction):
                expr = expr.replace(lambda e, k=key: isinstance(e, sp.core.function.AppliedUndef) and e.func == k,
                                    lambda e, v=value: v(*e.args))
        for key, value in self.values:
            if isinstance(key, IndexedBase):
                expr = expr.replace(lambda e, k=key: isinstance(e, Indexed) and e.base == k,
                                    lambda e, v=value: v(*e.indices))
        symbols = {k: v for k, v in self.values if not isinstance(k, (UndefinedFunction, IndexedBase))}
        return expr.xreplace(symbols) if symbols else expr

    def text(self) -> str:
        return ", ".join(f"{_name(k)} -> {v.text if isinstance(v, Rule) else sp.sstr(v)}" for k, v in self.values)


def _name(key: Any) -> str:
    return key.__name__ if isinstance(key, UndefinedFunction) else sp.sstr(key)


def instance(*pairs: tuple[Any, Any]) -> Instance:
    """Instance from (variable, value) pairs."""
    return Instance(tuple(pairs))


@dataclass(frozen=True)
class Discharge:
    """A hypothesis of a used lemma, established in the user's setting by the user's hypothesis
    ``by``. For stationarity: the engine checks derivative(lemma, at the instance) = factor *
    derivative(user) with factor provably nonzero, so the user's condition implies the lemma's."""

    hypothesis: str
    by: str
    factor: sp.Expr = sp.S.One


@dataclass(frozen=True)
class ByStrategy:
    """``before = after`` is an identity closed by one of the symbolic strategies."""

    kind = "strategy"


@dataclass(frozen=True)
class ByDefinition:
    """Replace the given defined symbols by their definitions (or, with ``fold``, the definitions
    by their symbols, so that a chain can end at a conclusion stated with named quantities)."""

    symbols: tuple[sp.Symbol, ...]
    fold: bool = False
    kind = "definition"


@dataclass(frozen=True)
class ByHypothesis:
    """Substitute the equation that the hypothesis ``key`` determines."""

    key: str
    kind = "hypothesis"


@dataclass(frozen=True)
class ByLemma:
    """Substitute the proved equation of ``lemma`` (a Claim), at ``instance``."""

    lemma: "Claim"
    instance: Instance = field(default_factory=Instance)
    reverse: bool = False
    discharges: tuple[Discharge, ...] = ()
    kind = "lemma"


@dataclass(frozen=True)
class ByAxiom:
    """Substitute the equation of ``axiom``, at ``instance``."""

    axiom: Axiom
    instance: Instance = field(default_factory=Instance)
    reverse: bool = False
    kind = "axiom"


Justification = Union[ByStrategy, ByDefinition, ByHypothesis, ByLemma, ByAxiom]


@dataclass(frozen=True)
class Step:
    """One link: ``before = after``, by a justification, tied to the paper's equation number(s)."""

    eq: str
    before: Any
    after: Any
    by: Justification = field(default_factory=ByStrategy)
    domain: Domain = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """A derivation from ``steps[0].before`` to ``conclusion.rhs``.

    ``conclusion.lhs`` is the chain's start or a defined symbol whose (recursively unfolded)
    definition is the start. ``lemmas`` are side chains checked with the claim (used by its steps
    or stated as remarks). ``conclusion`` may be ``sympy.Ne(x, 0)`` for a witness: the chain then
    evaluates x to a closed form whose sign is fixed by interval arithmetic.
    """

    name: str
    title: str
    steps: tuple[Step, ...]
    conclusion: sp.Basic
    eq: str = ""
    definitions: tuple[Definition, ...] = ()
    hypotheses: tuple[Hypothesis, ...] = ()
    lemmas: tuple["Claim", ...] = ()
    role: str = "claim"

    @property
    def start(self) -> Any:
        return self.steps[0].before if self.steps else self.conclusion.lhs


@dataclass(frozen=True)
class Erratum:
    """A printed equation that does not hold, with its corrected form and the evidence.

    ``printed`` must be refuted (a numeric counterexample, no strategy closes it; when the
    printed equation states a value of a defined quantity, ``refute`` is the equation between the
    proved value and the printed one) and ``corrected`` proved by the chain ``proof`` (whose
    conclusion it must be). ``evidence`` quotes the transcription of the paper.
    """

    eq: str
    printed: sp.Basic
    corrected: sp.Basic
    evidence: str
    explanation: str
    verdict: str = "erratum"
    proof: Claim | None = None
    refute: sp.Basic | None = None
    domain: Domain = field(default_factory=dict)


@dataclass(frozen=True)
class ErrataClaim:
    """The list of printed equations that do not hold; ``conclusion`` names them (eq labels)."""

    name: str
    title: str
    steps: tuple[Erratum, ...]
    conclusion: sp.Basic
    eq: str = ""
    hypotheses: tuple[Hypothesis, ...] = ()
    lemmas: tuple[Claim, ...] = ()
    role: str = "claim"


def chain(start: Any, *links: tuple) -> tuple[Step, ...]:
    """Steps of a calc block: ``links`` are (after, justification, eq[, domain]) tuples; the
    ``before`` of each step is the previous ``after`` (the first one's is ``start``)."""
    steps, before = [], start
    for link in links:
        after, by, eq, *rest = link
        steps.append(Step(eq=eq, before=before, after=after, by=by, domain=rest[0] if rest else {}))
        before = after
    return tuple(steps)


def unfold(expr: Any, definitions: tuple[Definition, ...]) -> Any:
    """expr with every defined symbol replaced by its body, recursively."""
    table = {d.symbol: d.body for d in definitions}
    for _ in range(len(table) + 1):
        new = expr.xreplace(table) if table else expr
        if new == expr:
            return new
        expr = new
    return expr

