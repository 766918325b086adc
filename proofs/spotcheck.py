"""Independent numeric checks: random-point spot-checks (mpmath) and interval sign checks.

The spot-check never uses the symbolic strategies. It evaluates both sides of a step at random
points of its declared domain and compares them (relative error REL_TOL at 30 digits):

* integer symbols (sizes D, H, N, ...) get random values in SIZE_RANGE, and generic indices with a
  declared range (proofs.operators.declare_index) random values inside it; each such draw is an
  instance, evaluated at POINTS_PER_INSTANCE points;
* everything else is evaluated by the interpreter of proofs.numeric (sums summed, expectations as
  averages over a probability measure, derivatives by finite differences, undefined functions as
  random test functions);
* steps with ``Integral``s (Gaussian integrals written out) are lambdified and evaluated in
  float64 with ``scipy.integrate.quad``, independently of the moment-based evaluation of the
  ``gaussian`` strategy, with the float64 tolerance FLOAT_REL_TOL.

A domain maps a Symbol or IndexedBase to ``(lo, hi)`` (integers for integer symbols) and an
undefined function class to ``sampler(args) -> (Expr, {coefficient: (lo, hi)})``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from proofs import numeric
from proofs.numeric import Unsupported, real_range
from proofs.operators import Expect, MixtureExpect, index_range

Domain = Mapping[Any, Any]

DIGITS = 30
REL_TOL = 1e-12
FLOAT_REL_TOL = 1e-8
POINTS = 16
POINTS_WITH_INTEGRALS = 8  # scipy quadrature is the slow part
POINTS_PER_INSTANCE = 3
INSTANCES = 2              # size draws for expressions with integer symbols
SIZE_RANGE = (1, 3)        # sizes D, H, N, I, J: every sum is summed term by term
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


def _as_list(x: Any) -> list[sp.Expr]:
    if isinstance(x, sp.MatrixBase):
        return list(x)
    return [sp.sympify(x)]


def integers(exprs: list[sp.Basic], rng: random.Random, domain: Domain) -> dict[sp.Symbol, int]:
    """Random values of the integer symbols: sizes first (SIZE_RANGE unless the domain says
    otherwise), then generic indices inside their declared ranges."""
    exprs = [e.replace(lambda x: isinstance(x, MixtureExpect), lambda x: x.unfold()) if e.has(MixtureExpect)
             else e for e in exprs]
    symbols = sorted({s for e in exprs for s in e.free_symbols if getattr(s, "is_integer", False)
                      and isinstance(s, sp.Symbol)}, key=str)
    dimension = Expect.dimension
    if dimension is not None and any(e.has(Expect) for e in exprs) and dimension not in symbols:
        symbols.append(dimension)
    indices = [s for s in symbols if index_range(s) is not None and s not in domain]
    values: dict[sp.Symbol, int] = {}
    for s in symbols:
        if s not in indices:
            values[s] = rng.randint(*domain.get(s, SIZE_RANGE if str(s)[0].isupper() else DEFAULT_INT_RANGE))
    for s in indices:
        lo, hi = index_range(s)
        for size in sorted((lo.free_symbols | hi.free_symbols) - set(values), key=str):
            values[size] = rng.randint(*SIZE_RANGE)
        values[s] = rng.randint(int(lo.xreplace(values)), int(hi.xreplace(values)))
    return values


def _compare(b: list, a: list) -> tuple[float, float]:
    """(max relative error, max |residual|) between two lists of values."""
    worst_rel, worst_abs = 0.0, 0.0
    with mpmath.workdps(DIGITS):
        for x, y in zip(b, a):
            x, y = mpmath.mpmathify(x), mpmath.mpmathify(y)
            if not (mpmath.isfinite(x) and mpmath.isfinite(y)):
                raise ArithmeticError("non-finite value")
            diff = abs(x - y)
            worst_rel = max(worst_rel, float(diff / max(1, abs(x), abs(y))))
            worst_abs = max(worst_abs, float(diff))
    return worst_rel, worst_abs


def _interpreted(before: list, after: list, domain: Domain, rng: random.Random, points: int):
    """Yield (rel, abs, point) for points evaluated by the interpreter (proofs.numeric)."""
    exprs = before + after
    has_integers = any(s.is_integer for e in exprs for s in e.free_symbols if isinstance(s, sp.Symbol))
    instances = INSTANCES if has_integers or any(e.has(sp.Sum, Expect) for e in exprs) else 1
    per_instance = max(1, -(-points // instances))
    for _ in range(instances):
        ints = integers(exprs, rng, domain)
        dimension = int(ints.get(Expect.dimension, 2)) if Expect.dimension is not None else 2
        for _ in range(per_instance):
            values, point = numeric.evaluate(exprs, rng, dict(domain), ints, dimension)
            rel, res = _compare(values[:len(before)], values[len(before):])
            yield rel, res, point


def _quadrature(before: list, after: list, domain: Domain, rng: random.Random, points: int):
    """Yield (rel, abs, point) for steps with Integrals: lambdified, float64, scipy quad."""
    flat = sp.Tuple(*(before + after))
    symbols = sorted(flat.free_symbols, key=str)
    plain = [sp.Symbol(f"v{j}") for j in range(len(symbols))]
    fn = sp.lambdify(plain, list(flat.xreplace(dict(zip(symbols, plain)))), modules=["scipy", "numpy"], dummify=False)
    for _ in range(points):
        values = [rng.uniform(*real_range(s, domain)) for s in symbols]
        out = [mpmath.mpmathify(complex(v)) for v in fn(*values)]
        rel, res = _compare(out[:len(before)], out[len(before):])
        yield rel, res, dict(zip(map(str, symbols), values))


def spot_check(before: Any, after: Any, domain: Domain, seed: int = 0, points: int | None = None) -> SpotCheck:
    """Compare before and after at random points of the domain (module docstring)."""
    rng = random.Random(seed)
    b, a = _as_list(before), _as_list(after)
    has_integral = any(x.has(sp.Integral) for x in b + a)
    tol = FLOAT_REL_TOL if has_integral else REL_TOL
    points = points or (POINTS_WITH_INTEGRALS if has_integral else POINTS)
    if not has_integral and any(x.has(sp.Sum, Expect, sp.Indexed) for x in b + a):
        points = min(points, INSTANCES * POINTS_PER_INSTANCE)
    worst = SpotCheck(None, 0, 0.0, None, None, tol)
    evaluated, failures = 0, 0
    runner = _quadrature if has_integral else _interpreted
    attempts = 0
    while evaluated < points and attempts < 3:
        attempts += 1
        try:
            for rel, res, point in runner(b, a, domain, rng, points - evaluated):
                evaluated += 1
                if worst.worst_point is None or rel > worst.max_rel_error:
                    worst = SpotCheck(None, 0, rel, point, res, tol)
                if evaluated >= points:
                    break
        except (ArithmeticError, ValueError, ZeroDivisionError, TypeError, NameError, NotImplementedError):
            failures += 1
        except Unsupported as exc:
            return SpotCheck(None, evaluated, worst.max_rel_error, {"error": str(exc)}, None, tol)
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
