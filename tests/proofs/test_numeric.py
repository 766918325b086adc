"""The spot-check's interpreter against SymPy's own evaluation, and its probability measure."""

from __future__ import annotations

import random

import mpmath
import pytest
import sympy as sp

from proofs import numeric
from proofs.operators import XI, Expect, gaussian_moment, linear_normal

x, y = sp.symbols("x y", real=True)
n, h = sp.symbols("n h", integer=True, positive=True)
W = sp.IndexedBase("W", real=True)


def _value(expr, integers=None, dimension=2, seed=3):
    values, point = numeric.evaluate([expr], random.Random(seed), {}, integers or {}, dimension)
    return values[0], point


def test_interpreter_matches_sympy_on_an_elementary_expression():
    expr = sp.log(1 + x**2) * sp.exp(y) / (2 + sp.sin(x))
    value, point = _value(expr)
    assert value == pytest.approx(float(expr.subs({x: point["x"], y: point["y"]})), rel=1e-12)


def test_sums_indexed_entries_and_derivatives():
    expr = sp.Sum(W[n, 1] ** 2, (n, 1, 3))
    value, point = _value(sp.Derivative(expr, W[2, 1]))
    assert value == pytest.approx(2 * point["W[2, 1]"], rel=1e-12)


def test_sigma_points_reproduce_gaussian_moments_up_to_degree_three():
    for degree, dim in ((1, 1), (2, 1), (2, 3), (3, 2)):
        expr = Expect(XI[1] ** degree)
        value, _ = _value(expr, dimension=dim)
        assert value == pytest.approx(float(gaussian_moment(XI[1] ** degree)), abs=1e-25)
    mixed, _ = _value(Expect(XI[1] * XI[2]), dimension=2)
    assert mixed == 0


def test_linearity_holds_on_the_measure():
    f = sp.Function("f", real=True)
    lhs = Expect(3 * f(XI[1]) + XI[2] ** 2)
    rhs = 3 * Expect(f(XI[1])) + 1
    assert linear_normal(lhs - rhs, moments=True) == 0
    with mpmath.workdps(30):
        values, _ = numeric.evaluate([lhs, rhs], random.Random(1), {}, {}, 2)
    assert values[0] == pytest.approx(values[1], rel=1e-25)
