"""Symbolic strategies that try to reduce a residual (before - after) to exactly zero.

Each strategy is a function ``residual -> transformed residual``; a strategy closes a step when
the transformed residual is structurally zero (``== 0``; for matrices every entry). They are
tried cheapest first:

* ``expand``, ``together_cancel``, ``expand_log``: algebra. None of them uses ``force=True``:
  ``expand_log`` only splits logarithms whose arguments SymPy knows to be positive from the
  symbols' assumptions, so a step that needs positivity must declare its symbols positive;
* ``linearity``: the linear normal form of sums and expectations (proofs.operators), then algebra;
* ``gaussian``: the same with the Gaussian moments of xi evaluated, and Gaussian ``Integral``s
  evaluated through the moments E[x^k] (proofs.gaussian);
* ``mixture``: expectations under qbar unfolded by their definition (Eq. 40), then ``gaussian``;
* ``calculus``: d/dv and evaluation at v = p moved inside sums, expectations (whose measures have
  no parameter), sums of terms and constant factors (evaluation also inside products and
  functions), derivatives of expressions free of v dropped; nothing is differentiated;
* ``evaluate``: derivatives and substitutions carried out (``doit`` on ``Derivative`` and
  ``Subs`` only: finite sums are never expanded), Kronecker sums collapsed, then ``gaussian``;
* ``simplify``: ``sympy.simplify`` in a forked child process killed after its time budget,
  because ``sympy.simplify`` can run unboundedly.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

import sympy as sp

from proofs.gaussian import evaluate_gaussian_integrals
from proofs.operators import (OPERATORS, DataExpect, Expect, LinearOperator, MixtureExpect, collapse_kronecker,
                              linear_normal)

Strategy = Callable[[sp.Expr], "sp.Expr | None"]  # None: the strategy does not apply

SIMPLIFY_SECONDS = 4.0


def _algebra(expr: sp.Expr) -> sp.Expr:
    """expand, split logs of positive factors, merge powers, cancel: the common algebra chain."""
    expr = sp.expand(sp.expand_log(sp.expand(expr), force=False))
    if expr == 0:
        return expr
    expr = sp.expand(sp.powsimp(sp.powdenest(expr)))
    if expr == 0:
        return expr
    return sp.cancel(sp.together(expr))


def expand(r: sp.Expr) -> sp.Expr:
    """Polynomial expansion."""
    return sp.expand(r)


def together_cancel(r: sp.Expr) -> sp.Expr:
    """Common denominator and cancellation of rational functions."""
    return sp.cancel(sp.together(r))


def expand_log(r: sp.Expr) -> sp.Expr:
    """log(ab) = log a + log b for positive a, b (assumption-based, no force), then cancel."""
    return _algebra(r)


def linearity(r: sp.Expr) -> sp.Expr:
    """Linearity of sums and expectations (the linear normal form; Kronecker sums collapsed), then algebra."""
    return _algebra(normal_form(r, moments=False))


def normal_form(r: sp.Expr, moments: bool) -> sp.Expr:
    """The linear normal form with Kronecker sums collapsed (and normalized again after that)."""
    out = linear_normal(r, moments=moments)
    return linear_normal(collapse_kronecker(out), moments=moments) if out.has(sp.KroneckerDelta) else out


def gaussian(r: sp.Expr) -> sp.Expr:
    """Linearity with the Gaussian moments of xi and Gaussian integrals evaluated, then algebra."""
    r = evaluate_gaussian_integrals(r) if r.has(sp.Integral) else r
    return _algebra(normal_form(r, moments=True))


def mixture(r: sp.Expr) -> sp.Expr:
    """Expectations under qbar unfolded by their definition (Eq. 40), then ``gaussian``."""
    return gaussian(r.replace(lambda e: isinstance(e, MixtureExpect), lambda e: e.unfold()))


def _d(e: sp.Expr, v: sp.Symbol) -> sp.Expr:
    """An expression equal to Derivative(e, v), with the derivative moved inside linear structure."""
    if v not in e.free_symbols:
        return sp.S.Zero
    if isinstance(e, sp.Add):
        return sp.Add(*[_d(a, v) for a in e.args])
    if isinstance(e, sp.Mul):
        const, dep = [], []
        for f in e.args:
            (dep if v in f.free_symbols else const).append(f)
        if len(dep) == 1:
            return sp.Mul(*const) * _d(dep[0], v)
    if isinstance(e, sp.Sum) and not any(v in b.free_symbols for lim in e.limits for b in lim[1:]):
        return sp.Sum(_d(e.function, v), *e.limits)
    if isinstance(e, (Expect, DataExpect)):
        return type(e)(_d(e.integrand, v))
    return sp.Derivative(e, v)


def _at(e: sp.Expr, v: sp.Symbol, p: sp.Expr) -> sp.Expr:
    """An expression equal to Subs(e, v, p), with the evaluation moved inside (module docstring)."""
    if v not in e.free_symbols:
        return e
    if isinstance(e, (sp.Derivative, sp.Subs)):
        return sp.Subs(e, v, p)
    if isinstance(e, sp.Symbol):
        return p if e == v else e
    if isinstance(e, sp.Sum):
        if any(v in b.free_symbols for lim in e.limits for b in lim[1:]):
            return sp.Subs(e, v, p)
        return sp.Sum(_at(e.function, v, p), *e.limits)
    if isinstance(e, LinearOperator):
        return type(e)(_at(e.integrand, v, p))
    if isinstance(e, (sp.Add, sp.Mul, sp.Pow, sp.Function)) or e.is_Function:
        return e.func(*[_at(a, v, p) for a in e.args])
    return sp.Subs(e, v, p)


def move_calculus(expr: sp.Basic) -> sp.Basic:
    """Every first derivative and every evaluation at a point moved inside (``calculus``)."""
    def derivative(e: sp.Derivative) -> sp.Expr:
        if len(e.variable_count) != 1 or e.variable_count[0][1] != 1:
            return e
        return _d(e.expr, e.variable_count[0][0])

    def subs(e: sp.Subs) -> sp.Expr:
        out = e.expr
        for v, p in zip(e.variables, e.point):
            out = _at(out, v, p)
        return out

    expr = expr.replace(lambda e: isinstance(e, sp.Derivative), derivative)
    return expr.replace(lambda e: isinstance(e, sp.Subs), subs)


def calculus(r: sp.Expr) -> sp.Expr | None:
    """Derivatives and evaluations moved inside linear structure (nothing differentiated), then
    linearity; None (not applicable) when there is nothing to move."""
    moved = move_calculus(r)
    return None if moved == r else _algebra(normal_form(moved, moments=False))


def evaluate_derivatives(expr: sp.Basic) -> sp.Basic:
    """Carry out Derivative, Subs and Determinant objects (not sums), then collapse Kronecker sums."""
    expr = expr.replace(lambda e: isinstance(e, (sp.Derivative, sp.Subs, sp.Determinant)), lambda e: e.doit(deep=False))
    return collapse_kronecker(expr)


def evaluate(r: sp.Expr) -> sp.Expr:
    """Derivatives and substitutions carried out, Kronecker sums collapsed, then ``gaussian``."""
    return gaussian(evaluate_derivatives(r))


def _simplify_child(expr: sp.Expr, conn) -> None:  # runs in the forked child
    try:
        conn.send(bool(sp.simplify(expr) == 0))
    except Exception:  # noqa: BLE001 - any failure just means "not closed"
        conn.send(False)
    finally:
        conn.close()


def bounded_simplify(r: sp.Expr) -> sp.Expr:
    """``sympy.simplify`` in a child process killed after SIMPLIFY_SECONDS; 0 if it closed."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_simplify_child, args=(r, child), daemon=True)
    proc.start()
    child.close()
    closed = parent.poll(SIMPLIFY_SECONDS) and parent.recv()
    if proc.is_alive():
        proc.kill()
    proc.join()
    return sp.S.Zero if closed else r


def strategy_chain(r: sp.Expr) -> list[tuple[str, Strategy]]:
    """The strategies worth trying on residual r, cheapest first.

    With sums or expectations the linear normal form comes first (it ends with the algebra
    chain, so the plain algebra strategies would only repeat part of it on a larger expression).
    """
    chain: list[tuple[str, Strategy]] = []
    if r.has(sp.Derivative, sp.Subs):
        chain.append(("calculus", calculus))
    if r.has(sp.Sum, *OPERATORS):
        chain.append(("linearity", linearity))
    else:
        chain += [("expand", expand), ("together_cancel", together_cancel), ("expand_log", expand_log)]
    if r.has(Expect, sp.Integral):
        chain.append(("gaussian", gaussian))
    if r.has(MixtureExpect):
        chain.append(("mixture", mixture))
    if r.has(sp.Derivative, sp.Subs, sp.KroneckerDelta, sp.Determinant):
        chain.append(("evaluate", evaluate))
    chain.append(("simplify", bounded_simplify))
    return chain
