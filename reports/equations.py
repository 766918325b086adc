"""Typeset LaTeX equations as PNG images for the PDF, using matplotlib's mathtext.

mathtext understands a large subset of TeX math but not environments (``aligned``, ``cases``),
``\\tfrac``, ``\\big``-sized delimiters and a few other macros. :func:`normalize_latex` rewrites
those into forms mathtext can parse; :func:`render_equation` splits multi-line environments into
one image per row and, when a row still cannot be parsed, returns ``None`` so that the caller
prints the LaTeX source as plain text instead. Rendering an equation never raises.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")
from matplotlib import mathtext  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

#: Simple textual substitutions, applied in order, that map TeX macros to mathtext equivalents.
_SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    (r"\tfrac", r"\frac"),
    (r"\dfrac", r"\frac"),
    (r"\lVert", r"\|"),
    (r"\rVert", r"\|"),
    (r"\lvert", "|"),
    (r"\rvert", "|"),
    (r"\operatorname*", r"\operatorname"),
    (r"\displaystyle", ""),
    (r"\textstyle", ""),
    (r"\nonumber", ""),
    (r"\notag", ""),
    (r"\limits", ""),
    (r"\nolimits", ""),
    (r"\middle", ""),
)

_SIZED_DELIMITER = re.compile(r"\\(?:big|Big|bigg|Bigg)[lrm]?(?![a-zA-Z])")
_TAG_OR_LABEL = re.compile(r"\\(?:tag|label)\*?\{[^{}]*\}")
_MATHOP = re.compile(r"\\mathop\{((?:[^{}]|\{[^{}]*\})*)\}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{(?:aligned|align\*?|split|gathered|cases|array|eqnarray\*?)\}(?:\{[^{}]*\})?")
_ROW_BREAK = re.compile(r"\\\\(?:\[[^\]]*\])?")


def normalize_latex(latex: str) -> list[str]:
    """Rewrite a TeX math string into one or more rows that mathtext can parse.

    Environments such as ``aligned`` are dissolved: each ``\\\\``-separated row becomes its own
    row and the alignment markers ``&`` are dropped. Surrounding ``$`` signs are removed.
    """
    text = latex.strip().strip("$").strip()
    for old, new in _SUBSTITUTIONS:
        text = text.replace(old, new)
    text = _SIZED_DELIMITER.sub("", text)
    text = _TAG_OR_LABEL.sub("", text)
    text = _MATHOP.sub(r"\1", text)
    text = _ENVIRONMENT.sub("", text)
    rows = [row.replace("&", " ").strip() for row in _ROW_BREAK.split(text)]
    return [row for row in rows if row]


@dataclass
class EquationImage:
    """A rendered row of an equation: PNG bytes and its size in pixels at ``dpi``."""

    png: bytes
    width_px: int
    height_px: int
    dpi: int


@lru_cache(maxsize=2048)
def _render_row(row: str, fontsize: float, dpi: int) -> EquationImage | None:
    buffer = io.BytesIO()
    try:
        with matplotlib.rc_context({"mathtext.fontset": "cm"}):
            mathtext.math_to_image(f"${row}$", buffer, prop=FontProperties(size=fontsize), dpi=dpi,
                                   format="png")
    except Exception:  # mathtext raises ValueError and, on odd input, other errors: fall back.
        return None
    png = buffer.getvalue()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return EquationImage(png=png, width_px=width, height_px=height, dpi=dpi)


def render_equation(latex: str | None, fontsize: float = 11.0, dpi: int = 200) -> list[EquationImage] | None:
    """Render ``latex`` as one PNG image per row, or ``None`` if any row cannot be typeset.

    ``None`` tells the caller to print the LaTeX source verbatim instead (plain-text fallback).
    """
    if not latex or not latex.strip():
        return None
    rows = normalize_latex(latex)
    if not rows:
        return None
    images = [_render_row(row, fontsize, dpi) for row in rows]
    if any(image is None for image in images):
        return None
    return images  # type: ignore[return-value]
