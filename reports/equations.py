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
_LEFT_RIGHT = re.compile(r"\\(left|right)(?![a-zA-Z])")
_SUBSTACK_SUM = re.compile(r"\\sum_\{\\substack\{((?:[^{}]|\{[^{}]*\})*)\}\}")
_RANGE = re.compile(r"^\s*(.+?)\s*\\leq\s*([A-Za-z]\w*)\s*\\leq\s*(.+?)\s*$")
_TILDE_NAME = re.compile(r"(\\?)(?<![A-Za-z])([A-Za-z]+)~")
GREEK = frozenset("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
                   "upsilon phi chi psi omega".split())


def _nested_sums(match: re.Match) -> str:
    """SymPy's multiple sum, ``\\sum_{\\substack{1 \\leq h \\leq H\\\\1 \\leq n \\leq N}}`` (mathtext has no
    \\substack), as nested sums ``\\sum_{h=1}^{H} \\sum_{n=1}^{N}``; other conditions are listed after commas."""
    parts = [part for part in _ROW_BREAK.split(match.group(1)) if part.strip()]
    ranges = [_RANGE.match(part) for part in parts]
    if all(ranges):
        return " ".join(rf"\sum_{{{r.group(2)}={r.group(1)}}}^{{{r.group(3)}}}" for r in ranges)
    return rf"\sum_{{{', '.join(part.strip() for part in parts)}}}"


def _tilde(match: re.Match) -> str:
    """A symbol named with a trailing ``~`` (VAE-2's coordinates, Eq. 14: ``tau~``) as ``\\tilde{\\tau}``."""
    name = match.group(2)
    macro = "\\" if match.group(1) or name in GREEK else ""
    return rf"\tilde{{{macro}{name}}}"


def normalize_latex(latex: str) -> list[str]:
    """Rewrite a TeX math string into one or more rows that mathtext can parse.

    Environments such as ``aligned`` are dissolved: each ``\\\\``-separated row becomes its own
    row and the alignment markers ``&`` are dropped. Surrounding ``$`` signs are removed. SymPy's
    multiple sums (``\\substack``) become nested sums, and names with a trailing ``~`` tilde accents.
    """
    text = latex.strip().strip("$").strip()
    for old, new in _SUBSTITUTIONS:
        text = text.replace(old, new)
    text = _SIZED_DELIMITER.sub("", text)
    text = _TAG_OR_LABEL.sub("", text)
    text = _MATHOP.sub(r"\1", text)
    text = _ENVIRONMENT.sub("", text)
    text = _SUBSTACK_SUM.sub(_nested_sums, text)
    text = _TILDE_NAME.sub(_tilde, text)
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


def top_level_terms(row: str) -> list[str]:
    """``row`` cut before each ``+``, ``-`` or ``=`` that stands outside every brace group and
    ``\\left ... \\right`` pair (and after a space, i.e. as a binary operator): pieces that mathtext can
    typeset one by one and whose concatenation is ``row``."""
    depth, cuts, i = 0, [0], 0
    while i < len(row):
        delimiter = _LEFT_RIGHT.match(row, i)
        if delimiter:
            depth += 1 if delimiter.group(1) == "left" else -1
            i = delimiter.end()
            continue
        if row[i] == "{":
            depth += 1
        elif row[i] == "}":
            depth -= 1
        elif depth == 0 and row[i] in "+-=" and i > 0 and row[i - 1] == " ":
            cuts.append(i)
        i += 1
    return [row[a:b] for a, b in zip(cuts, cuts[1:] + [len(row)]) if row[a:b].strip()]


def _wrap_row(row: str, fontsize: float, dpi: int, max_width_px: int) -> list[EquationImage] | None:
    """One row as images no wider than ``max_width_px``: broken at top-level terms, greedily filled.
    A single term wider than that stays one (too wide) image; None if some piece cannot be typeset."""
    image = _render_row(row, fontsize, dpi)
    if image is None or image.width_px <= max_width_px:
        return None if image is None else [image]
    lines: list[str] = []
    current = ""
    for term in top_level_terms(row):
        candidate = _render_row((current + term).strip(), fontsize, dpi) if current else None
        if current and (candidate is None or candidate.width_px > max_width_px):
            lines.append(current.strip())
            current = term
        else:
            current += term
    lines.append(current.strip())
    images = [_render_row(line, fontsize, dpi) for line in lines]
    return None if any(im is None for im in images) else images  # type: ignore[return-value]


def render_equation(latex: str | None, fontsize: float = 11.0, dpi: int = 200,
                    max_width_px: int | None = None) -> list[EquationImage] | None:
    """Render ``latex`` as one PNG image per row, or ``None`` if any row cannot be typeset.

    With ``max_width_px``, rows wider than that are broken into lines at top-level ``+``, ``-``, ``=``
    (`top_level_terms`). ``None`` tells the caller to print the LaTeX source verbatim instead
    (plain-text fallback).
    """
    if not latex or not latex.strip():
        return None
    rows = normalize_latex(latex)
    if not rows:
        return None
    images: list[EquationImage] = []
    for row in rows:
        wrapped = (_wrap_row(row, fontsize, dpi, max_width_px) if max_width_px
                   else [image] if (image := _render_row(row, fontsize, dpi)) is not None else None)
        if wrapped is None:
            return None
        images.extend(wrapped)
    return images
