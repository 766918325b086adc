"""Independent numeric checks: random-point spot-checks (mpmath) and interval sign checks.

The spot-check never uses the symbolic strategies. It instantiates a step at random points of
its declared domain and compares both sides with mpmath at 30 significant digits:

* integer symbols (sizes such as D, H, N, or an index d) get random integers, after which
  finite ``Sum``s are expanded and ``Indexed`` entries get random values;
* undefined functions (e.g. eta1(eps), f(a)) are replaced by test functions whose coefficients
  are drawn at random at every point (default: quadratic polynomials);
* steps with ``Integral``s are evaluated in float64 with ``scipy.integrate.quad`` (mpmath
  quadrature at 30 digits costs ~0.1 s per point), independently of the moment-based
  ``gaussian_integral`` strategy, with the float64 tolerance FLOAT_REL_TOL; all other steps
  in mpmath at 30 digits with REL_TOL.

A domain maps a Symbol or IndexedBase to ``(lo, hi)`` (integers for integer symbols) and an
undefined function class to ``sampler(args) -> (Expr, {coefficient: (lo, hi)})``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef, UndefinedFunction

Domain = Mapping[Any, Any]
FunctionSampler = Callable[[tuple[sp.Expr, ...]], tuple[sp.Expr, dict[sp.Symbol, tuple[float, float]]]]

DIGITS = 30
REL_TOL = 1e-12
FLOAT_REL_TOL = 1e-8
POINTS = 16
POINTS_WITH_INTEGRALS = 8  # scipy quadrature is the slow part of the whole run
POINTS_WITH_MULTIPLE_INTEGRALS = 4  # nested quadrature: ~0.3 s per point
DEFAULT_INT_RANGE = (1, 6)


@dataclass
class SpotCheck:
    """Outcome of a spot-check: agree is None when too few points could be evaluated."""

    agree: bool | None
    points: int
    max_rel_error: float
    worst_point: dict[str, Any] | None
    worst_residual: float | None
    tolerance: float = REL_TOL


def _real_range(obj: Any, domain: Domain) -> tuple[float, float]:
    if obj in domain:
        return domain[obj]
    if getattr(obj, "is_positive", None):
        return (0.3, 3.0)
    if getattr(obj, "is_negative", None):
        return (-3.0, -0.3)
    if getattr(obj, "is_nonnegative", None):
        return (0.0, 3.0)
    return (-2.0, 2.0)


def _range(s: sp.Symbol, domain: Domain) -> tuple[float, float] | tuple[int, int]:
    """Sampling range of a symbol; integer symbols get integer ranges."""
    if s.is_integer:
        return tuple(int(v) for v in domain.get(s, DEFAULT_INT_RANGE))
    return _real_range(s, domain)


def random_polynomial(args: tuple[sp.Expr, ...]) -> tuple[sp.Expr, dict[sp.Symbol, tuple[float, float]]]:
    """Default test function c0 + sum c_i a_i + sum c_ii a_i^2; the c's are sampled in (0.2, 1.5)."""
    cs = [sp.Dummy("c") for _ in range(1 + 2 * len(args))]
    body = cs[0] + sum(cs[1 + 2 * k] * a + cs[2 + 2 * k] * a**2 for k, a in enumerate(args))
    return body, {ci: (0.2, 1.5) for ci in cs}


def _instantiate(expr: sp.Basic, rng: random.Random, domain: Domain, point: dict[str, Any],
                 fresh: bool, ranges: dict) -> sp.Basic:
    """Replace sums, undefined functions, derivatives and Subs by concrete evaluable forms.

    With ``fresh`` the integer symbols are fixed to random integers first (needed when they are
    summation limits or indices); otherwise they stay symbols and are sampled like the others.
    """
    if fresh:
        ints = {s: rng.randint(*domain.get(s, DEFAULT_INT_RANGE))
                for s in sorted(expr.free_symbols, key=str) if s.is_integer}
        point.update({str(s): v for s, v in ints.items()})
        expr = expr.xreplace({s: sp.Integer(v) for s, v in ints.items()})
    expr = expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.doit())
    funcs = sorted({a.func for a in expr.atoms(AppliedUndef)}, key=str)
    for f in funcs:
        args = sp.symbols(f"_a0:{_arity(expr, f)}", real=True)
        sampler: FunctionSampler = domain.get(f, random_polynomial)
        body, coefficient_ranges = sampler(args)
        ranges.update(coefficient_ranges)
        point[f"{f}({', '.join(map(str, args))})"] = str(body)
        expr = expr.subs(f, sp.Lambda(args, body))
    expr = expr.replace(lambda e: isinstance(e, sp.Derivative), finite_difference)
    return expr.replace(lambda e: isinstance(e, sp.Subs),
                        lambda e: e.expr.subs(dict(zip(e.variables, e.point)), simultaneous=True))


FD_STEP = sp.Float("1e-6", DIGITS)


def finite_difference(d: sp.Derivative) -> sp.Expr:
    """A Derivative as a central 5-point finite difference (step 1e-6, evaluated at 30 digits).

    Truncation error O(h^4) ~ 1e-24 and rounding ~ 1e-30 / h^k stay far below REL_TOL, and the
    derivative is thus evaluated numerically, independently of symbolic differentiation.
    """
    expr = d.expr
    for var, count in d.variable_count:
        for _ in range(count):
            stencil = [var + k * FD_STEP for k in range(-2, 3)]
            expr = sp.Derivative(expr, var).as_finite_difference(stencil)
    return expr


def _arity(expr: sp.Basic, f: UndefinedFunction) -> int:
    return next(len(a.args) for a in expr.atoms(AppliedUndef) if a.func == f)


def _as_list(x: Any) -> list[sp.Expr]:
    if isinstance(x, sp.MatrixBase):
        return list(x)
    return [sp.sympify(x)]


@dataclass
class _Prepared:
    """A step instantiated for evaluation: a lambdified function and what to sample."""

    fn: Callable[..., list]
    symbols: list[sp.Symbol]
    ranges: list[tuple[float, float]]
    names: list[str]
    use_float: bool
    point: dict[str, Any]


def _prepare(before: Any, after: Any, rng: random.Random, domain: Domain, fresh: bool) -> _Prepared:
    point: dict[str, Any] = {}
    coefficient_ranges: dict = {}
    flat = sp.Tuple(*(_as_list(before) + _as_list(after)))
    flat = _instantiate(flat, rng, domain, point, fresh, coefficient_ranges)
    domain = {**domain, **coefficient_ranges}
    indexed = sorted(flat.atoms(sp.Indexed), key=str)
    stand_ins = {ix: sp.Dummy(str(ix), real=True) for ix in indexed}
    flat = flat.xreplace(stand_ins)
    symbols = list(stand_ins.values()) + sorted(flat.free_symbols - set(stand_ins.values()), key=str)
    ranges = [_real_range(ix.base, domain) for ix in stand_ins] + \
             [_range(s, domain) for s in symbols[len(stand_ins):]]
    names = [str(ix) for ix in stand_ins] + [str(s) for s in symbols[len(stand_ins):]]
    use_float = flat.has(sp.Integral)
    modules = ["scipy", "numpy"] if use_float else "mpmath"
    return _Prepared(sp.lambdify(symbols, list(flat), modules=modules), symbols, ranges, names,
                     use_float, point)


def _evaluate(prep: _Prepared, rng: random.Random) -> tuple[float, float, dict]:
    """Evaluate both sides at one random point: (max relative error, max |residual|, point)."""
    values = [rng.randint(*r) if isinstance(r[0], int) else rng.uniform(*r) for r in prep.ranges]
    point = dict(prep.point, **dict(zip(prep.names, values)))
    if prep.use_float:
        out = [mpmath.mpmathify(complex(v)) for v in prep.fn(*values)]
    else:
        with mpmath.workdps(DIGITS):
            out = prep.fn(*[mpmath.mpf(v) for v in values])
    with mpmath.workdps(DIGITS):
        half = len(out) // 2
        worst_rel, worst_abs = 0.0, 0.0
        for b, a in zip(out[:half], out[half:]):
            b, a = mpmath.mpmathify(b), mpmath.mpmathify(a)
            if not (mpmath.isfinite(b) and mpmath.isfinite(a)):
                raise ArithmeticError("non-finite value")
            diff = abs(b - a)
            worst_rel = max(worst_rel, float(diff / max(1, abs(b), abs(a))))
            worst_abs = max(worst_abs, float(diff))
    return worst_rel, worst_abs, point


def _needs_fresh_instance(before: Any, after: Any) -> bool:
    """Sums and indexed entries (with random integer sizes) are re-instantiated at every point."""
    exprs = _as_list(before) + _as_list(after)
    return any(e.has(sp.Sum, sp.Indexed) for e in exprs)


def spot_check(before: Any, after: Any, domain: Domain, seed: int = 0, points: int | None = None) -> SpotCheck:
    """Compare before and after at random points of the domain (mpmath, 30 digits)."""
    rng = random.Random(seed)
    evaluated, failures = 0, 0
    has_integral = any(x.has(sp.Integral) for x in _as_list(before) + _as_list(after))
    tol = FLOAT_REL_TOL if has_integral else REL_TOL
    nested = any(len(i.limits) > 1 for x in _as_list(before) + _as_list(after) for i in x.atoms(sp.Integral))
    default = POINTS_WITH_MULTIPLE_INTEGRALS if nested else POINTS_WITH_INTEGRALS if has_integral else POINTS
    points = points or default
    worst = SpotCheck(None, 0, 0.0, None, None, tol)
    fresh = _needs_fresh_instance(before, after)
    try:
        prep = None if fresh else _prepare(before, after, rng, domain, fresh)
    except (ValueError, TypeError, NameError) as exc:  # e.g. a construct lambdify cannot print
        return SpotCheck(None, 0, 0.0, {"error": str(exc)}, None)
    while evaluated < points and failures < 2 * points:
        try:
            rel, res, point = _evaluate(_prepare(before, after, rng, domain, fresh) if fresh else prep, rng)
        except (ArithmeticError, ValueError, TypeError, NameError):
            failures += 1
            continue
        evaluated += 1
        if worst.worst_point is None or rel > worst.max_rel_error:
            worst = SpotCheck(None, 0, rel, point, res, tol)
    worst.points = evaluated
    worst.agree = None if evaluated < points // 2 else worst.max_rel_error <= tol
    return worst


def interval_sign(expr: sp.Expr) -> int | None:
    """Sign of a closed-form constant by mpmath interval arithmetic: +1, -1, or None if unsure."""
    namespace = {name: getattr(mpmath.iv, name) for name in ("exp", "log", "sqrt", "mpf", "e", "pi")}
    fn = sp.lambdify([], sp.sympify(expr), modules=[namespace])
    saved, mpmath.iv.dps = mpmath.iv.dps, DIGITS
    try:
        value = mpmath.iv.mpf(fn())
    finally:
        mpmath.iv.dps = saved
    if value.a > 0:
        return 1
    if value.b < 0:
        return -1
    return None
