"""Symbolic strategies that try to reduce a residual (before - after) to exactly zero.

Each strategy is a function ``residual -> transformed residual``; a strategy closes a step when
the transformed residual is structurally zero (``== 0``; for matrices every entry). They are
tried cheapest first. None of them uses ``force=True`` anywhere: ``expand_log`` only splits
logarithms whose arguments SymPy knows to be positive from the symbols' assumptions, so a step
that needs positivity must declare its symbols positive. ``simplify`` runs in a forked child
process that is killed after its time budget, because ``sympy.simplify`` can run unboundedly.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

import sympy as sp

from proofs.gaussian import evaluate_gaussian_integrals

Strategy = Callable[[sp.Expr], sp.Expr]

SIMPLIFY_SECONDS = 4.0


def _split_sum(s: sp.Sum) -> sp.Expr:
    """Linearity of a sum: split its summand into terms and sum each (constants come out)."""
    terms = sp.Add.make_args(sp.expand(sp.expand_log(s.function, force=False)))
    return sp.Add(*[sp.Sum(term, *s.limits).doit() for term in terms])


def _algebra(expr: sp.Expr) -> sp.Expr:
    """expand, split logs of positive factors, merge powers, cancel: the common algebra chain."""
    expr = expr.replace(lambda e: isinstance(e, sp.Sum), _split_sum)
    expr = sp.expand(sp.expand_log(sp.expand(expr), force=False))
    if expr == 0:
        return expr
    expr = sp.expand(sp.powsimp(sp.powdenest(expr)))
    if expr == 0:
        return expr
    return sp.cancel(sp.together(expr))


def structural(r: sp.Expr) -> sp.Expr:
    """No transformation: the two sides are already the same expression."""
    return r


def expand(r: sp.Expr) -> sp.Expr:
    """Polynomial expansion."""
    return sp.expand(r)


def together_cancel(r: sp.Expr) -> sp.Expr:
    """Common denominator and cancellation of rational functions."""
    return sp.cancel(sp.together(r))


def expand_log(r: sp.Expr) -> sp.Expr:
    """log(ab) = log a + log b for positive a, b (assumption-based, no force), then cancel."""
    return _algebra(r)


def evaluate(r: sp.Expr) -> sp.Expr:
    """Carry out derivatives, finite sums and substitutions (``doit``), then the algebra chain.

    Integrals are left alone here (``integrals=False``): they are the job of gaussian_integral.
    """
    return _algebra(r.doit(integrals=False))


def gaussian_integral(r: sp.Expr) -> sp.Expr:
    """Evaluate Gaussian integrals through the moments E[x^k] (sympy.integrate), then algebra."""
    return _algebra(evaluate_gaussian_integrals(r).doit(integrals=False))


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
    """The strategies worth trying on residual r, cheapest first."""
    chain: list[tuple[str, Strategy]] = [
        ("structural", structural),
        ("expand", expand),
        ("together_cancel", together_cancel),
        ("expand_log", expand_log),
    ]
    if r.has(sp.Integral):
        chain.append(("gaussian_integral", gaussian_integral))
    if r.has(sp.Derivative, sp.Sum, sp.Subs, sp.Product):
        chain.append(("evaluate", evaluate))
    chain.append(("simplify", bounded_simplify))
    return chain
