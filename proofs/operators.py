"""Expectations as unevaluated linear operators, and the linear normal form the engine compares.

The ELBO (Eqs. 8-9) is an average over data points of expectations under the encoder q^(n). Those
expectations cannot be evaluated for a deep decoder, so the claims keep them as operators:

* :class:`Expect` ``E_xi[f]``: the expectation over xi ~ N(0, I_H). The encoder distribution
  q^(n)(z) = N(z; nu_n, T_n) (Eqs. 4-5) is written as the push-forward z_nh = nu_nh + tau_nh xi_h
  (the reparametrization of Kingma and Welling), so E_{q^(n)}[f(z)] = E_xi[f(nu_n + tau_n xi)].
  Its measure depends on no parameter, so a derivative w.r.t. any parameter passes inside
  (``_eval_derivative``), which is how SymPy's ``diff`` computes the stationarity conditions.
* :class:`DataExpect` ``E_p[f]``: the expectation over the data distribution p(x), the limit of
  (1/N) sum_n as N -> infinity (Cor. 2); the data index ``n`` is its bound variable.
* :class:`MixtureExpect` ``E_qbar[f]``: the expectation under the mixture
  qbar = (1/N) sum_n q^(n) (Eq. 40); its bound variable is the generic latent vector ``Z``.

:func:`linear_normal` rewrites an expression so that identities that hold by linearity alone
become structurally equal: finite sums and expectations are split over sums, factors that do not
depend on the bound variable are pulled out, E[c] = c, and an expectation is pushed inside a
finite sum whose limits do not depend on its variable (together with the factors that do not
involve the sum's index). With ``moments=True`` the Gaussian moments
of xi are evaluated as well (E[xi_a] = 0, E[xi_a xi_b] = delta_ab, E[xi_a^(2m)] = (2m - 1)!!).

:func:`collapse_kronecker` evaluates sum_{v=lo}^{hi} delta_{v,w} f(v) = f(w) when w is known to lie
in [lo, hi]: w is a bound variable of an enclosing sum with the same limits, or a generic index
declared with :func:`declare_index` (e.g. the latent index k in 1..H of a stationarity condition).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import sympy as sp
from sympy import Indexed, IndexedBase

XI = IndexedBase("xi", real=True)          # reparametrization noise xi ~ N(0, I_H)
DATA_INDEX = sp.Symbol("n", integer=True, positive=True)
LATENT = IndexedBase("Z", real=True)       # generic latent vector under qbar (Eq. 40)

_INDEX_RANGES: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]] = {}


def declare_index(symbol: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> sp.Symbol:
    """Declare that the generic index ``symbol`` ranges over lo..hi (used by Kronecker sums)."""
    _INDEX_RANGES[symbol] = (sp.sympify(lo), sp.sympify(hi))
    return symbol


def index_range(symbol: sp.Basic) -> tuple[sp.Expr, sp.Expr] | None:
    """The declared range of a generic index, or None."""
    return _INDEX_RANGES.get(symbol)


class LinearOperator(sp.Expr):
    """An unevaluated expectation ``E[f]`` of a probability measure: linear, and E[c] = c (applied
    by the normal form, not on construction, so that a displayed form keeps its operators).

    Subclasses name their bound variable through :meth:`depends`; everything else is generic.
    """

    is_commutative = True
    symbol_text = "E"
    symbol_latex = r"\mathrm{E}"

    def __new__(cls, integrand: sp.Expr):
        integrand = sp.sympify(integrand)
        if integrand == 0:
            return sp.S.Zero
        return sp.Expr.__new__(cls, integrand)

    @classmethod
    def depends(cls, expr: sp.Basic) -> bool:
        """Whether expr depends on the operator's bound variable."""
        raise NotImplementedError

    @classmethod
    def bound(cls, expr: sp.Basic) -> bool:
        """Whether a free symbol belongs to the bound variable (excluded from free_symbols)."""
        raise NotImplementedError

    @property
    def integrand(self) -> sp.Expr:
        return self.args[0]

    @property
    def free_symbols(self) -> set[sp.Basic]:
        return {s for s in self.integrand.free_symbols if not type(self).bound(s)}

    def _eval_is_real(self):
        return self.integrand.is_real

    def _eval_is_positive(self):
        return True if self.integrand.is_positive else None

    def _eval_is_nonnegative(self):
        return True if self.integrand.is_nonnegative else None

    def doit(self, **hints):
        if hints.get("deep", True):
            return type(self)(self.integrand.doit(**hints))
        return self

    def _sympystr(self, printer) -> str:
        return f"{self.symbol_text}[{printer.doprint(self.integrand)}]"

    def _latex(self, printer) -> str:
        return rf"{self.symbol_latex}\left[{printer.doprint(self.integrand)}\right]"


def _has_base(expr: sp.Basic, base: IndexedBase) -> bool:
    return any(ix.base == base for ix in expr.atoms(Indexed))


class Expect(LinearOperator):
    """E_xi[f]: expectation over xi ~ N(0, I_H); see the module docstring. ``dimension`` is the
    symbol of H (set by the model), used by numeric checks that need the number of coordinates."""

    symbol_text = "E_xi"
    symbol_latex = r"\mathrm{E}_{\xi}"
    dimension: sp.Symbol | None = None

    @classmethod
    def depends(cls, expr: sp.Basic) -> bool:
        return _has_base(expr, XI)

    @classmethod
    def bound(cls, s: sp.Basic) -> bool:
        return s == XI.label or (isinstance(s, Indexed) and s.base == XI)

    def _eval_derivative(self, s):
        # the measure N(0, I) depends on no parameter: differentiation under the integral sign
        return Expect(sp.diff(self.integrand, s))


class DataExpect(LinearOperator):
    """E_p[f]: expectation over the data distribution p(x); the data index n is bound (Cor. 2)."""

    symbol_text = "E_p"
    symbol_latex = r"\mathrm{E}_{p(x)}"

    @classmethod
    def depends(cls, expr: sp.Basic) -> bool:
        return expr.has(DATA_INDEX)

    @classmethod
    def bound(cls, s: sp.Basic) -> bool:
        return s == DATA_INDEX

    def _eval_derivative(self, s):
        return DataExpect(sp.diff(self.integrand, s))


class MixtureExpect(LinearOperator):
    """E_qbar[f]: expectation under qbar = (1/N) sum_n q^(n) (Eq. 40); Z is the bound latent vector.

    ``unfold()`` writes it back as (1/N) sum_n E_xi[f(Z -> z_n)], the definition of qbar given
    once by :meth:`define`.
    """

    symbol_text = "E_qbar"
    symbol_latex = r"\mathrm{E}_{\bar{q}}"
    _definition: tuple[sp.Expr, Callable[[sp.Expr, sp.Expr], sp.Expr]] | None = None

    @classmethod
    def define(cls, size: sp.Expr, z_of: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> None:
        """Eq. 40: qbar averages q^(n), n = 1..size, with latent coordinates z_of(n, h)."""
        cls._definition = (sp.sympify(size), z_of)

    @classmethod
    def depends(cls, expr: sp.Basic) -> bool:
        return _has_base(expr, LATENT)

    @classmethod
    def bound(cls, s: sp.Basic) -> bool:
        return s == LATENT.label or (isinstance(s, Indexed) and s.base == LATENT)

    def unfold(self) -> sp.Expr:
        """(1/N) sum_n E_xi[f] with every Z_h replaced by z_n,h: the definition of qbar (Eq. 40)."""
        if self._definition is None:
            raise ValueError("MixtureExpect.define(size, z_of) has not been called")
        size, z_of = self._definition
        body = self.integrand.replace(lambda e: isinstance(e, Indexed) and e.base == LATENT,
                                      lambda e: z_of(DATA_INDEX, e.indices[0]))
        return sp.Sum(Expect(body), (DATA_INDEX, 1, size)) / size


OPERATORS = (Expect, DataExpect, MixtureExpect)


# --- linear normal form ----------------------------------------------------------------------

def _expand(expr: sp.Expr) -> sp.Expr:
    """expand, with logarithms of positive products split (assumption-based, never forced)."""
    return sp.expand(sp.expand_log(sp.expand(expr), force=False))


def _split(term: sp.Expr, depends: Callable[[sp.Basic], bool]) -> tuple[sp.Expr, sp.Expr]:
    """(product of the factors that do not depend, product of those that do)."""
    outside, inside = [], []
    for factor in sp.Mul.make_args(term):
        (inside if depends(factor) else outside).append(factor)
    return sp.Mul(*outside), sp.Mul(*inside)


def _make_sum(dep: sp.Expr, limit: tuple) -> sp.Expr:
    """sum over ``limit`` of dep, with inner sums that are factors of dep merged into one ``Sum``.

    Merging (and sorting the limits by name when no bound depends on another sum's variable)
    makes sum_n sum_h and sum_h sum_n the same object, so linear identities compare structurally.
    """
    limits, body = [limit], []
    factors = list(sp.Mul.make_args(dep))
    for k, factor in enumerate(factors):
        rest = factors[:k] + factors[k + 1:]
        if isinstance(factor, sp.Sum) and _can_merge(factor, limits, rest):
            body.append(factor.function)
            limits.extend(factor.limits)
        else:
            body.append(factor)
    variables = {lim[0] for lim in limits}
    if not any(b.has(v) for lim in limits for b in lim[1:] for v in variables):
        limits.sort(key=lambda lim: (str(lim[2]), str(lim[1])))
    return sp.Sum(sp.Mul(*body), *limits)


def _can_merge(inner: sp.Sum, limits: list, others: list) -> bool:
    inner_vars = {lim[0] for lim in inner.limits}
    outer_vars = {lim[0] for lim in limits}
    return (not inner_vars & outer_vars
            and not any(b.has(v) for lim in inner.limits for b in lim[1:] for v in outer_vars)
            and not any(v in o.free_symbols for o in others for v in inner_vars))


def _sum_once(body: sp.Expr, limit: tuple, moments: bool) -> sp.Expr:
    v, lo, hi = limit
    out = []
    for term in sp.Add.make_args(_expand(body)):
        const, dep = _split(term, lambda f: v in f.free_symbols)
        out.append(const * (hi - lo + 1) if dep == 1 else const * _make_sum(dep, limit))
    return sp.Add(*out)


def _normal_sum(body: sp.Expr, limits: tuple, moments: bool) -> sp.Expr:
    for limit in limits:  # SymPy's first limit is the innermost sum
        body = _sum_once(body, limit, moments)
    return body


def _single_sum(dep: sp.Expr) -> sp.Sum | None:
    sums = [f for f in sp.Mul.make_args(dep) if isinstance(f, sp.Sum)]
    return sums[0] if len(sums) == 1 else None


def _pushable(cls: type, dep: sp.Expr) -> bool:
    """E[a * sum_v b_v] = sum_v E[a b_v] when a does not involve v and the limits not the variable."""
    inner = _single_sum(dep)
    if inner is None or any(cls.depends(b) for lim in inner.limits for b in lim[1:]):
        return False
    variables = {lim[0] for lim in inner.limits}
    rest = dep / inner
    return not (rest.free_symbols & variables)


def gaussian_moment(dep: sp.Expr) -> sp.Expr | None:
    """E_xi of a monomial in the coordinates of xi ~ N(0, I), or None if it is not one."""
    powers: dict[sp.Expr, int] = {}
    for factor in sp.Mul.make_args(dep):
        base, exp = factor.as_base_exp()
        if not (isinstance(base, Indexed) and base.base == XI and exp.is_Integer and exp > 0):
            return None
        powers[base] = powers.get(base, 0) + int(exp)
    if len(powers) == 1:
        (p,) = powers.values()
        return sp.S.Zero if p % 2 else sp.factorial2(p - 1)
    if len(powers) == 2 and set(powers.values()) == {1}:
        a, b = powers
        return sp.KroneckerDelta(a.indices[0], b.indices[0])
    return None


def _normal_operator(cls: type[LinearOperator], integrand: sp.Expr, moments: bool) -> sp.Expr:
    out = []
    for term in sp.Add.make_args(_expand(integrand)):
        const, dep = _split(term, cls.depends)
        if dep == 1:
            out.append(const)
        elif _pushable(cls, dep):
            inner = _single_sum(dep)
            rest = dep / inner
            out.append(const * _normal_sum(_normal_operator(cls, rest * inner.function, moments), inner.limits,
                                           moments))
        else:
            moment = gaussian_moment(dep) if moments and cls is Expect else None
            out.append(const * (moment if moment is not None else cls(dep)))
    return sp.Add(*out)


def canonical_bound(expr: sp.Basic, depth: int = 0) -> sp.Basic:
    """Summation variables renamed _j1, _j2, ... by nesting depth (alpha-renaming), so that sums
    that differ only in the names of their bound variables are the same object. Limits with the
    same bounds are interchangeable: their order is the one giving the smallest printed body."""
    if not isinstance(expr, sp.Basic) or expr.is_Atom or not expr.has(sp.Sum):
        return expr
    if not isinstance(expr, sp.Sum):
        return expr.func(*[canonical_bound(a, depth) for a in expr.args])
    limits = list(expr.limits)
    variables = {v for v, _, _ in limits}
    if any(b.has(v) for _, lo, hi in limits for b in (lo, hi) for v in variables):
        orders = [limits]  # dependent bounds: keep SymPy's order
    else:
        limits.sort(key=lambda lim: (str(lim[2]), str(lim[1])))
        orders = [list(p) for p in _tie_permutations(limits)]
    best = None
    for order in orders:
        names = {v: sp.Symbol(f"_j{depth + k}", integer=True) for k, (v, _, _) in enumerate(order, 1)}
        body = canonical_bound(expr.function.xreplace(names), depth + len(order))
        renamed = [(names[v], lo.xreplace(names), hi.xreplace(names)) for v, lo, hi in order]
        candidate = sp.Sum(body, *sorted(renamed, key=lambda lim: str(lim[0])))
        key = sp.sstr(candidate)
        if best is None or key < best[0]:
            best = (key, candidate)
    return best[1]


def _tie_permutations(limits: list) -> list[tuple]:
    """All orders of ``limits`` that permute only limits with equal bounds (at most 24)."""
    groups: list[list] = []
    for lim in limits:
        if groups and groups[-1][0][1:] == lim[1:]:
            groups[-1].append(lim)
        else:
            groups.append([lim])
    orders: list[tuple] = [()]
    for group in groups:
        perms = list(itertools.permutations(group)) if len(group) <= 4 else [tuple(group)]
        orders = [o + p for o in orders for p in perms]
    return orders[:24]


def _freshen(expr: sp.Basic) -> sp.Basic:
    """Every summation variable replaced by a unique Dummy, so that renaming cannot capture."""
    if not isinstance(expr, sp.Basic) or expr.is_Atom or not expr.has(sp.Sum):
        return expr
    if isinstance(expr, sp.Sum):
        names = {v: sp.Dummy(str(v), integer=True) for v, _, _ in expr.limits}
        limits = [(names[v], lo.xreplace(names), hi.xreplace(names)) for v, lo, hi in expr.limits]
        return sp.Sum(_freshen(expr.function.xreplace(names)), *limits)
    return expr.func(*[_freshen(a) for a in expr.args])


def linear_normal(expr: sp.Basic, moments: bool = False) -> sp.Basic:
    """The linear normal form of expr (see the module docstring), with canonical summation
    variables; matrices entry-wise."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: linear_normal(e, moments))
    return canonical_bound(_freshen(_linear_normal(expr, moments)))


def _linear_normal(expr: sp.Basic, moments: bool = False) -> sp.Basic:
    if not isinstance(expr, sp.Basic) or not expr.has(sp.Sum, *OPERATORS):
        return expr
    if isinstance(expr, LinearOperator):
        return _normal_operator(type(expr), _linear_normal(expr.integrand, moments), moments)
    if isinstance(expr, sp.Sum):
        return _normal_sum(_linear_normal(expr.function, moments), expr.limits, moments)
    if isinstance(expr, (sp.Derivative, sp.Subs)):
        return expr  # evaluated first by the ``evaluate`` strategy
    return expr.func(*[_linear_normal(a, moments) for a in expr.args])


# --- Kronecker sums ----------------------------------------------------------------------------

def _collapse(expr: sp.Basic, ranges: dict) -> sp.Basic:
    if not isinstance(expr, sp.Basic) or expr.is_Atom or not expr.has(sp.KroneckerDelta):
        return expr
    if not isinstance(expr, sp.Sum):
        return expr.func(*[_collapse(a, ranges) for a in expr.args])
    limits = list(expr.limits)
    inner = {**ranges, **{v: (lo, hi) for v, lo, hi in limits}}
    body = _collapse(expr.function, inner)
    out = []
    for term in sp.Add.make_args(sp.expand(body, deep=False)):
        remaining = list(limits)
        while True:
            hit = _delta_for(term, remaining, inner)
            if hit is None:
                break
            limit, delta = hit
            term = (term / delta).xreplace({limit[0]: _other(delta, limit[0])})
            remaining.remove(limit)
        out.append(sp.Sum(term, *remaining) if remaining else term)
    return sp.Add(*out)


def _delta_for(term: sp.Expr, limits: list, ranges: dict) -> tuple | None:
    """A summation limit (v, lo, hi) and a factor delta_{v, w} of term with w known in [lo, hi]."""
    for limit in limits:
        v, lo, hi = limit
        for f in sp.Mul.make_args(term):
            if isinstance(f, sp.KroneckerDelta) and v in f.args and _other(f, v) != v \
                    and _within(_other(f, v), lo, hi, ranges):
                return limit, f
    return None


def _other(delta: sp.KroneckerDelta, v: sp.Symbol) -> sp.Expr:
    a, b = delta.args
    return b if a == v else a


def _within(w: sp.Expr, lo: sp.Expr, hi: sp.Expr, ranges: dict) -> bool:
    """Whether index w is known to lie in [lo, hi] (same declared or enclosing limits)."""
    if w.is_Integer and lo.is_Integer and hi.is_Integer:
        return bool(lo <= w <= hi)
    known = ranges.get(w) or index_range(w)
    return known is not None and known == (lo, hi)


def collapse_kronecker(expr: sp.Basic) -> sp.Basic:
    """Evaluate sums of Kronecker deltas over indices whose range is known (module docstring)."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(collapse_kronecker)
    return _collapse(sp.sympify(expr), {})


__all__ = ["XI", "DATA_INDEX", "LATENT", "LinearOperator", "Expect", "DataExpect", "MixtureExpect",
           "OPERATORS", "declare_index", "index_range", "linear_normal", "canonical_bound", "gaussian_moment",
           "collapse_kronecker"]
