"""LaTeX -> PNG for the PDF: mathtext rewrites, multi-row environments, and the plain-text fallback."""

from __future__ import annotations

import pytest

from reports.equations import normalize_latex, render_equation


def test_normalize_rewrites_macros_mathtext_lacks():
    assert normalize_latex(r"\tfrac{D}{2}\bigl(x\bigr) \tag{21}") == [r"\frac{D}{2}(x)"]
    assert normalize_latex(r"\lVert x \rVert^2 \nonumber") == [r"\| x \|^2"]


def test_aligned_environment_becomes_one_row_per_line():
    rows = normalize_latex(r"\begin{aligned} F &= a \\ &= b \end{aligned}")
    assert rows == ["F  = a", "= b"]
    images = render_equation(r"\begin{aligned} F &= a \\ &= b \end{aligned}")
    assert images is not None and len(images) == 2


def test_render_gives_png_with_its_size():
    [image] = render_equation(r"\mathcal{F}_2 = \frac{D}{2} r_\sigma - \frac{D}{2}\log(2\pi e \sigma^2)")
    assert image.png.startswith(b"\x89PNG") and image.width_px > image.height_px > 10


@pytest.mark.parametrize("latex", [r"\unknownmacro{x}", r"\frac{1}{", "", None, "   ", "$$", r"\begin{pmatrix}"])
def test_unparseable_equations_fall_back_without_raising(latex):
    assert render_equation(latex) is None
