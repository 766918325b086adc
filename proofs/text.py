"""Plain-text and LaTeX renderings of step statements.

The LaTeX is meant for matplotlib mathtext (used by the report builder), so matrices are
written as parenthesised tuples instead of matrix environments.
"""

from __future__ import annotations

from typing import Any

import sympy as sp


def _text(x: Any) -> str:
    if isinstance(x, sp.MatrixBase):
        return "(" + ", ".join(sp.sstr(e) for e in x) + ")"
    return sp.sstr(x)


def _mathtext(latex: str) -> str:
    """Adapt SymPy's LaTeX to mathtext (which has no \\limits)."""
    return latex.replace(r"\limits", "")


def _latex(x: Any) -> str:
    if isinstance(x, sp.MatrixBase):
        return r"\left(" + ", ".join(_mathtext(sp.latex(e)) for e in x) + r"\right)"
    return _mathtext(sp.latex(x))


def equation_text(lhs: Any, rhs: Any | None) -> str:
    """One-line plain text ``lhs = rhs`` (or just lhs when rhs is None)."""
    return _text(lhs) if rhs is None else f"{_text(lhs)} = {_text(rhs)}"


def equation_latex(lhs: Any, rhs: Any, relation: str = "=") -> str:
    """LaTeX ``lhs = rhs`` using only constructs that mathtext understands."""
    return f"{_latex(lhs)} {relation} {_latex(rhs)}"
