"""LaTeX -> PNG for the PDF: mathtext rewrites, multi-row environments, and the plain-text fallback."""

from __future__ import annotations

import pytest

from reports.equations import normalize_latex, render_equation, top_level_terms


def test_normalize_rewrites_macros_mathtext_lacks():
    assert normalize_latex(r"\tfrac{D}{2}\bigl(x\bigr) \tag{21}") == [r"\frac{D}{2}(x)"]
    assert normalize_latex(r"\lVert x \rVert^2 \nonumber") == [r"\| x \|^2"]


def test_sympys_multiple_sums_become_nested_sums_that_render():
    """SymPy writes a double sum with \\substack, which mathtext lacks, and whose \\\\ split the row in two:
    Prop. 2's Eq. 25 fell back to plain text in the report."""
    latex = r"F = \frac{\sum_{\substack{1 \leq h \leq H\\1 \leq n \leq N}} \log{\left({\tau^{2}}_{n,h} \right)}}{2 N}"
    assert normalize_latex(latex) == [r"F = \frac{\sum_{h=1}^{H} \sum_{n=1}^{N} \log{\left({\tau^{2}}_{n,h} \right)}}{2 N}"]
    assert render_equation(latex) is not None
    assert normalize_latex(r"\sum_{\substack{h \neq k\\n}} x") == [r"\sum_{h \neq k, n} x"]


def test_names_with_a_trailing_tilde_get_a_tilde_accent():
    """VAE-2's coordinates (Eq. 14) are SymPy symbols named tau~, u~, z~; mathtext shows "~" as a space."""
    assert normalize_latex(r"{tau~^{2}}_{n,h} + u~(z~_{n}) + \alpha~") == [
        r"{\tilde{\tau}^{2}}_{n,h} + \tilde{u}(\tilde{z}_{n}) + \tilde{\alpha}"]
    assert render_equation(r"{tau~^{2}}_{n,h}") is not None


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


def _typeset(latex: str, fallback: str = "") -> tuple[int, list[str]]:
    """Images placed and mono paragraphs printed by ReportPDF.equation for ``latex``."""
    from reports.pdf import ReportPDF

    pdf = ReportPDF("test")
    pdf.add_page()
    images, texts = [], []
    pdf.image = lambda *args, **kwargs: images.append(kwargs.get("w"))
    pdf.paragraph = lambda text, **kwargs: texts.append(text)
    pdf.equation(latex, fallback=fallback)
    return len(images), texts


def test_pdf_breaks_a_long_sum_and_prints_one_huge_term_as_its_plain_text_never_its_source():
    terms = " + ".join(rf"\frac{{a_{{{i}}}}}{{b_{{{i}}} + c_{{{i}}}}}" for i in range(60))
    placed, texts = _typeset(terms)  # a long sum: several lines, each at a readable size
    assert placed > 5 and texts == []
    huge = rf"\left({terms}\right)^{{2}}"  # one term: no top-level + to break at
    assert render_equation(huge) is not None  # it can be typeset, but only at an unreadable scale
    plain = "(" + " + ".join(f"a{i}/(b{i} + c{i})" for i in range(60)) + ")**2"
    placed, texts = _typeset(huge, fallback=plain)
    assert placed == 0 and texts == [plain[:900] + f" ... ({len(plain)} characters in results.json)"]
    assert "\\" not in texts[0]  # no LaTeX source
    placed, texts = _typeset(huge)  # without a plain form: a note, still no LaTeX
    assert placed == 0 and "\\" not in texts[0] and "results.json" in texts[0]
    placed, texts = _typeset(r"F = \frac{D}{2} r_\sigma")  # a short equation: one image
    assert placed == 1 and texts == []


def test_top_level_terms_cut_only_outside_groups():
    row = r"a + \frac{b - c}{d} - \left(e + f\right) = g \leftarrow h"
    assert top_level_terms(row) == ["a ", r"+ \frac{b - c}{d} ", r"- \left(e + f\right) ", r"= g \leftarrow h"]
    assert "".join(top_level_terms(row)) == row


def test_a_long_sum_is_broken_into_lines_of_the_given_width():
    wide = " + ".join(rf"\frac{{a_{{{i}}}}}{{b_{{{i}}} + c_{{{i}}}}}" for i in range(60))
    [one_line] = render_equation(wide)
    lines = render_equation(wide, max_width_px=1000)
    assert one_line.width_px > 5000 and len(lines) > 5 and max(im.width_px for im in lines) <= 1000


def test_a_stationarity_hypothesis_is_typeset_as_the_derivative_the_proof_set_to_zero():
    from reports.chains import hypothesis_lines

    claim = {"hypotheses_used": ["stationary-alpha2", "first-layer-linear"],
             "hypotheses": {"first-layer-linear": "the decoder's first layer is linear"},
             "hypothesis_details": [{"key": "stationary-alpha2", "kind": "stationarity", "text": "dF/dalpha_k^2 = 0",
                                     "direction": "d/dalpha^2[k]",
                                     "derivative_latex": r"- \frac{1}{2 {\alpha^{2}}_{k}} + \frac{{z~}_{n,k}^{2}}{2}"}]}
    (key, _, latex), (_, sentence, none) = hypothesis_lines(claim)
    assert key == "stationary-alpha2" and sentence == "the decoder's first layer is linear" and none == ""
    assert latex.startswith(r"0 = \frac{\partial F}{\partial \alpha^{2}_{k}} = ")
    assert render_equation(latex) is not None
