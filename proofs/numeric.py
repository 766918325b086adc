"""A numeric interpreter for the claims' expressions, used by the independent spot-check.

It evaluates an expression at one random point with mpmath (30 digits), without any symbolic
rewriting: finite sums are summed, expectations averaged over a probability measure, derivatives
taken by finite differences, undefined functions replaced by random test functions. Repeated
subexpressions are evaluated once per binding of the bound variables (memoized), so large
derivations are cheap to evaluate.

* sizes (integer symbols) and free indices are fixed by the caller (``integers``);
* a free real symbol or an entry x[n, d] of an IndexedBase gets a random value in its range
  (positive, negative or real from its assumptions, or from the domain), drawn the first time it
  is needed and reused after that;
* E_xi over xi ~ N(0, I_H) is the average over the 2H symmetric sigma points +-sqrt(H) e_j, a
  probability measure that reproduces every moment of N(0, I) up to degree 3; E_p averages over
  DATA_POINTS data indices; E_qbar is unfolded by its definition (Eq. 40);
* an undefined function is a random test function of its arguments (a quadratic polynomial, or a
  positive sum of squares for a positive function), a vector argument (a ``Lambda`` over a unit
  index) being read at units LAMBDA_UNITS;
* d/dv is a central 5-point finite difference with step FD_STEP (truncation ~1e-24).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import mpmath
import sympy as sp
from sympy import Indexed
from sympy.core.function import AppliedUndef

from proofs.operators import DATA_INDEX, XI, DataExpect, Expect, MixtureExpect

DIGITS = 30
DATA_POINTS = 3
LAMBDA_UNITS = (1, 2)
FD_STEP = mpmath.mpf("1e-6")
FD_WEIGHTS = ((-2, mpmath.mpf(1) / 12), (-1, mpmath.mpf(-2) / 3), (1, mpmath.mpf(2) / 3), (2, mpmath.mpf(-1) / 12))

Sampler = Callable[[tuple[sp.Expr, ...]], tuple[sp.Expr, dict[sp.Symbol, tuple[float, float]]]]


class Unsupported(Exception):
    """The expression contains a construct the interpreter does not evaluate (e.g. an Integral)."""


def real_range(obj: Any, domain: dict) -> tuple[float, float]:
    """Sampling range of a real symbol or IndexedBase: the domain's, else from its assumptions."""
    if obj in domain:
        return domain[obj]
    if getattr(obj, "is_positive", None) or (isinstance(obj, sp.IndexedBase) and obj.assumptions0.get("positive")):
        return (0.3, 3.0)
    if getattr(obj, "is_negative", None):
        return (-3.0, -0.3)
    if getattr(obj, "is_nonnegative", None):
        return (0.0, 3.0)
    return (-2.0, 2.0)


def random_polynomial(args: tuple[sp.Expr, ...]) -> tuple[sp.Expr, dict[sp.Symbol, tuple[float, float]]]:
    """Default test function c0 + sum c_i a_i + sum c_ii a_i^2; the c's are sampled in (0.2, 1.5)."""
    cs = [sp.Dummy(f"c{k}") for k in range(1 + 2 * len(args))]
    body = cs[0] + sum(cs[1 + 2 * k] * a + cs[2 + 2 * k] * a**2 for k, a in enumerate(args))
    return body, {ci: (0.2, 1.5) for ci in cs}


def random_positive(args: tuple[sp.Expr, ...]) -> tuple[sp.Expr, dict[sp.Symbol, tuple[float, float]]]:
    """Test function for a positive function: c0 + sum c_i a_i^2 with positive c's."""
    cs = [sp.Dummy(f"c{k}") for k in range(1 + len(args))]
    body = cs[0] + sum(c * a**2 for c, a in zip(cs[1:], args))
    return body, {ci: (0.2, 1.5) for ci in cs}


class Evaluator:
    """Evaluates expressions at one random point; ``point`` records every value drawn."""

    def __init__(self, rng: random.Random, domain: dict, integers: dict[sp.Symbol, int], xi_dimension: int):
        self.rng = rng
        self.domain = domain
        self.values: dict[Any, Any] = {s: mpmath.mpf(v) for s, v in integers.items()}
        self.point: dict[str, Any] = {str(s): v for s, v in integers.items()}
        self.functions: dict[Any, tuple[sp.Expr, tuple[sp.Symbol, ...]]] = {}
        self.xi_dimension = xi_dimension
        self.memo: dict[tuple, Any] = {}
        self.relevance: dict[sp.Basic, tuple[set, set]] = _RELEVANCE

    # -- values of free objects
    def _sample(self, key: Any, base: Any, label: str) -> Any:
        lo, hi = real_range(base, self.domain)
        value = mpmath.mpf(self.rng.uniform(lo, hi))
        self.values[key] = value
        self.point[label] = float(value)
        return value

    def _symbol(self, s: sp.Symbol, env: dict) -> Any:
        if s in env:
            return env[s]
        if s in self.values:
            return self.values[s]
        if s.is_integer:
            raise Unsupported(f"integer symbol {s} has no value")
        return self._sample(s, s, str(s))

    def _indexed(self, e: Indexed, env: dict) -> Any:
        indices = tuple(int(self.ev(i, env)) for i in e.indices)
        key = (e.base, indices)
        if key in env:
            return env[key]
        if key in self.values:
            return self.values[key]
        label = f"{e.base}[{', '.join(map(str, indices))}]"
        return self._sample(key, e.base, label)

    def _function(self, e: AppliedUndef, env: dict) -> Any:
        features = []
        for a in e.args:
            if isinstance(a, sp.Lambda):
                (var,) = a.variables
                features += [self.ev(a.expr, {**env, var: mpmath.mpf(u)}) for u in LAMBDA_UNITS]
            else:
                features.append(self.ev(a, env))
        if e.func not in self.functions:
            args = sp.symbols(f"_a0:{len(features)}", real=True)
            default = random_positive if e.is_positive else random_polynomial
            sampler: Sampler = self.domain.get(e.func, default)
            body, ranges = sampler(args)
            for c, (lo, hi) in ranges.items():
                self.values[c] = mpmath.mpf(self.rng.uniform(lo, hi))
            self.functions[e.func] = (body, args)
            self.point[f"{e.func}({', '.join(map(str, args))})"] = str(body)
        body, args = self.functions[e.func]
        return self.ev(body, {**env, **dict(zip(args, features))})

    # -- evaluation
    def ev(self, e: sp.Basic, env: dict | None = None) -> Any:
        """The value of e under the bindings env, memoized on e and the bindings e depends on."""
        if not env:
            key = (e, None)
        else:
            symbols, bases = self._relevant(e)
            key = (e, frozenset((k, v) for k, v in env.items()
                                if ((k[0] in bases) if isinstance(k, tuple) else (k in symbols))))
        hit = self.memo.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        value = self._ev(e, env or {})
        self.memo[key] = value
        return value

    def _relevant(self, e: sp.Basic) -> tuple[set, set]:
        """(every symbol occurring in e, bound ones included, and every IndexedBase occurring in
        e), cached per expression: the bindings that can change e's value."""
        hit = self.relevance.get(e)
        if hit is None:
            hit = self.relevance[e] = (e.atoms(sp.Symbol), {ix.base for ix in e.atoms(Indexed)})
        return hit

    def _ev(self, e: sp.Basic, env: dict) -> Any:  # noqa: C901 - one case per kind of node
        if e.is_Number:
            return mpmath.mpf(e.p) / e.q if e.is_Rational else mpmath.mpf(str(e))
        if e is sp.pi:
            return +mpmath.pi
        if e is sp.E:
            return +mpmath.e
        if isinstance(e, sp.Symbol):
            return self._symbol(e, env)
        if isinstance(e, Indexed):
            return self._indexed(e, env)
        if isinstance(e, sp.Add):
            return mpmath.fsum(self.ev(a, env) for a in e.args)
        if isinstance(e, sp.Mul):
            out = mpmath.mpf(1)
            for a in e.args:
                out *= self.ev(a, env)
            return out
        if isinstance(e, sp.Pow):
            base, exp = self.ev(e.base, env), self.ev(e.exp, env)
            if base < 0 and not mpmath.isint(exp):
                raise ArithmeticError("negative base to a fractional power")
            return mpmath.power(base, exp)
        if isinstance(e, sp.KroneckerDelta):
            return mpmath.mpf(int(self.ev(e.args[0], env) == self.ev(e.args[1], env)))
        if isinstance(e, (sp.Sum, sp.Product)):
            return self._sum(e, env)
        if isinstance(e, Expect):
            return self._expect(e, env)
        if isinstance(e, DataExpect):
            total = mpmath.fsum(self.ev(e.integrand, {**env, DATA_INDEX: mpmath.mpf(k)})
                                for k in range(1, DATA_POINTS + 1))
            return total / DATA_POINTS
        if isinstance(e, MixtureExpect):
            return self.ev(e.unfold(), env)
        if isinstance(e, sp.Derivative):
            return self._derivative(e, env)
        if isinstance(e, sp.Subs):
            inner = dict(env)
            for v, p in zip(e.variables, e.point):
                inner[v] = self.ev(p, env)
            return self.ev(e.expr, inner)
        if isinstance(e, AppliedUndef):
            return self._function(e, env)
        if isinstance(e, sp.Max):
            return max(self.ev(a, env) for a in e.args)
        if isinstance(e, sp.Min):
            return min(self.ev(a, env) for a in e.args)
        if isinstance(e, sp.Determinant):
            m = e.arg.as_explicit()
            return mpmath.det(mpmath.matrix([[self.ev(m[r, c], env) for c in range(m.cols)] for r in range(m.rows)]))
        if isinstance(e, sp.Abs):
            return abs(self.ev(e.args[0], env))
        if isinstance(e, sp.Function) and hasattr(mpmath, type(e).__name__):
            value = getattr(mpmath, type(e).__name__)(*[self.ev(a, env) for a in e.args])
            if isinstance(value, mpmath.mpc):
                raise ArithmeticError("complex value")
            return value
        raise Unsupported(f"cannot evaluate {type(e).__name__}")

    def _sum(self, e: sp.Sum | sp.Product, env: dict) -> Any:
        def loop(limits: list, inner: dict) -> list:
            if not limits:
                return [self.ev(e.function, inner)]
            (v, lo, hi), rest = limits[0], limits[1:]
            out = []
            for k in range(int(self.ev(lo, inner)), int(self.ev(hi, inner)) + 1):
                out += loop(rest, {**inner, v: mpmath.mpf(k)})
            return out

        terms = loop(list(reversed(e.limits)), env)  # the last limit is the outermost sum
        if isinstance(e, sp.Sum):
            return mpmath.fsum(terms)
        out = mpmath.mpf(1)
        for t in terms:
            out *= t
        return out

    def _expect(self, e: Expect, env: dict) -> Any:
        m = self.xi_dimension
        total = mpmath.mpf(0)
        for j in range(1, m + 1):
            for sign in (1, -1):
                point = {(XI, (c,)): (sign * mpmath.sqrt(m) if c == j else mpmath.mpf(0)) for c in range(1, m + 1)}
                total += self.ev(e.integrand, {**env, **point})
        return total / (2 * m)

    def _derivative(self, e: sp.Derivative, env: dict) -> Any:
        expr = e.expr
        for var, count in e.variable_count:
            for _ in range(count):
                expr = _FiniteDifference(expr, var)
        return self._fd(expr, env) if isinstance(expr, _FiniteDifference) else self.ev(expr, env)

    def _fd(self, fd: "_FiniteDifference", env: dict) -> Any:
        key = self._key_of(fd.var, env)
        base = self._current(fd.var, key, env)
        total = mpmath.mpf(0)
        for k, w in FD_WEIGHTS:
            inner = {**env, key: base + k * FD_STEP}
            nested = isinstance(fd.expr, _FiniteDifference)
            total += w * (self._fd(fd.expr, inner) if nested else self.ev(fd.expr, inner))
        return total / FD_STEP

    def _key_of(self, var: sp.Basic, env: dict) -> Any:
        if isinstance(var, Indexed):
            return (var.base, tuple(int(self.ev(i, env)) for i in var.indices))
        return var

    def _current(self, var: sp.Basic, key: Any, env: dict) -> Any:
        if key in env:
            return env[key]
        return self.ev(var, env)


_RELEVANCE: dict[sp.Basic, tuple[set, set]] = {}  # shared: it depends on the expression only
_MISSING = object()


class _FiniteDifference:
    """d/dvar of expr, taken numerically (nested for higher orders)."""

    def __init__(self, expr: Any, var: sp.Basic):
        self.expr, self.var = expr, var


def evaluate(exprs: list[sp.Basic], rng: random.Random, domain: dict, integers: dict, xi_dimension: int
             ) -> tuple[list[Any], dict[str, Any]]:
    """The values of exprs at one random point, and the point."""
    ev = Evaluator(rng, domain, integers, xi_dimension)
    with mpmath.workdps(DIGITS):
        values = [ev.ev(e) for e in exprs]
    return values, ev.point
