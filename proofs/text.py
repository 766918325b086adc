"""Plain-text and LaTeX renderings of the checked expressions (never hand-written text).

The LaTeX is meant for matplotlib mathtext (used by the report builder), so matrices are
written as parenthesised tuples instead of matrix environments and ``\\limits`` is dropped.

Long building blocks are shown by a short name registered with :func:`abbreviate` (e.g. the latent
coordinate nu_nh + sqrt(tau_nh^2) xi_h as z[n, h], a network's first-layer pre-activations as
u(z_n)): a fixed structural substitution applied to the checked expression for display only.
"""

from __future__ import annotations

from typing import Any

import sympy as sp


_ABBREVIATIONS: dict[sp.Basic, sp.Basic] = {}


def abbreviate(full: sp.Basic, short: sp.Basic) -> None:
    """Show ``full`` as ``short`` in every rendered expression."""
    _ABBREVIATIONS[full] = short


def shown(x: Any) -> Any:
    """x with the registered abbreviations applied (for display)."""
    if isinstance(x, sp.Basic) and _ABBREVIATIONS:
        return x.xreplace(_ABBREVIATIONS)
    return x


def expression_text(x: Any) -> str:
    """One-line plain text of an expression (matrices as tuples)."""
    if isinstance(x, sp.MatrixBase):
        return "(" + ", ".join(sp.sstr(shown(e)) for e in x) + ")"
    return sp.sstr(shown(x))


def _mathtext(latex: str) -> str:
    """Adapt SymPy's LaTeX to mathtext (which has no \\limits, \\operatorname or \\displaystyle)."""
    return (latex.replace(r"\limits", "").replace(r"\operatorname{", r"\mathrm{")
            .replace(r"\displaystyle ", ""))


_DET = sp.Function("det")


def _mathtext_ready(x: Any) -> Any:
    """Determinants of explicit matrices written as det((row), (row), ...): mathtext has no matrices."""
    if isinstance(x, sp.Basic) and x.has(sp.Determinant):
        return x.replace(lambda e: isinstance(e, sp.Determinant) and isinstance(e.arg, sp.MatrixBase),
                         lambda e: _DET(*[sp.Tuple(*e.arg.row(r)) for r in range(e.arg.rows)]))
    return x


def expression_latex(x: Any) -> str:
    """LaTeX of an expression, using only constructs that mathtext understands."""
    if isinstance(x, sp.MatrixBase):
        return r"\left(" + ", ".join(_mathtext(sp.latex(shown(e))) for e in x) + r"\right)"
    return _mathtext(sp.latex(_mathtext_ready(shown(x))))


def equation_text(lhs: Any, rhs: Any | None, relation: str = "=") -> str:
    """One-line plain text ``lhs = rhs`` (or just lhs when rhs is None)."""
    return expression_text(lhs) if rhs is None else f"{expression_text(lhs)} {relation} {expression_text(rhs)}"


def equation_latex(lhs: Any, rhs: Any, relation: str = "=") -> str:
    """LaTeX ``lhs = rhs`` using only constructs that mathtext understands."""
    return f"{expression_latex(lhs)} {relation} {expression_latex(rhs)}"
