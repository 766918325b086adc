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


def _latex(x: Any) -> str:
    if isinstance(x, sp.MatrixBase):
        return r"\left(" + ", ".join(sp.latex(e) for e in x) + r"\right)"
    return sp.latex(x)


def equation_text(lhs: Any, rhs: Any | None) -> str:
    """One-line plain text ``lhs = rhs`` (or just lhs when rhs is None)."""
    return _text(lhs) if rhs is None else f"{_text(lhs)} = {_text(rhs)}"


def equation_latex(lhs: Any, rhs: Any, relation: str = "=") -> str:
    """LaTeX ``lhs = rhs`` using only constructs that mathtext understands."""
    return f"{_latex(lhs)} {relation} {_latex(rhs)}"
