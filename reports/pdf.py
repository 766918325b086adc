"""``report.pdf``: the report as a short, self-contained paper, built with fpdf2 (no LaTeX needed).

Page 1 is the answer: a row per claim (`reports.answer`) and the findings beyond the paper. Then the
derivations (each claim's chain as a calc block), the errata, the hypotheses the paper leaves unstated,
the numeric evidence and, as appendices, every step and the provenance (the same order as report.md).
Fonts are the DejaVu fonts that matplotlib ships (Unicode text); equations are typeset by matplotlib's
mathtext (``reports.equations``), long rows broken at top-level + - = into lines of the text width;
an equation that cannot be typeset readably is shown in its generated plain-text form, never as LaTeX
source. Figures are the PNGs beside the report.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from reports import chains
from reports import content as c
from reports.answer import HEADERS
from reports.content import ReportContent
from reports.equations import render_equation

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
GREEN, RED, GREY = (0, 110, 50), (190, 20, 20), (90, 90, 90)
HEADER_FILL = (228, 232, 240)
EQUATION_DPI = 200
EQUATION_SHRINK = 0.95
"""Typeset equations are placed at this fraction of their rendered size."""
MIN_EQUATION_SCALE = 0.6
"""Smallest scale at which a typeset equation row stays readable; below it the plain-text form is printed."""
FIGURE_MAX_HEIGHT = 115
"""Height in mm of a numeric figure at most (the latents figure, two columns of panels, may take 200)."""
MAX_TEXT_CHARS = 900
"""A plain-text equation printed in place of a typeset one is cut after this many characters (all of it is
in results.json)."""


def _mm(pixels: int, dpi: int) -> float:
    """Placed size in millimetres of ``pixels`` of an equation image rendered at ``dpi``."""
    return pixels / dpi * 25.4 * EQUATION_SHRINK


def colour(status: str) -> tuple[int, int, int]:
    """Green for a good status, grey for n/a, red for anything else."""
    return GREEN if c.is_good(status) else GREY if c.verdict_word(status) == "n/a" else RED


def plain(text: str) -> str:
    """Neutralise fpdf2's markdown markers (**, __, --, ~~) in text placed inside a markdown paragraph."""
    for marker, safe in (("**", "*\u200b*"), ("__", "_\u200b_"), ("--", "-\u200b-"), ("~~", "~\u200b~")):
        text = text.replace(marker, safe)
    return text


class ReportPDF(FPDF):
    """A4 document with serif body text, sans-serif headings and page numbers in the footer."""

    def __init__(self, running_title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.running_title = running_title
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=18)
        for family, stem in (("serif", "DejaVuSerif"), ("sans", "DejaVuSans")):
            self.add_font(family, "", str(FONT_DIR / f"{stem}.ttf"))
            self.add_font(family, "B", str(FONT_DIR / f"{stem}-Bold.ttf"))
            self.add_font(family, "I", str(FONT_DIR / f"{stem}-{'Italic' if family == 'serif' else 'Oblique'}.ttf"))
        self.add_font("mono", "", str(FONT_DIR / "DejaVuSansMono.ttf"))
        self.set_title(running_title)
        self.set_creator("three-entropies reports.build")

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font("sans", "", 7)
            self.set_text_color(*GREY)
            self.cell(0, 5, self.running_title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_text_color(0)
            self.ln(2)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("sans", "", 7)
        self.set_text_color(*GREY)
        self.cell(0, 5, f"{self.page_no()}", align="C")
        self.set_text_color(0)

    # ----------------------------------------------------------------- text blocks

    def heading(self, text: str, level: int = 1, keep: float = 20) -> None:
        """A numbered heading, on a new page unless `keep` mm of what follows fit below it."""
        size = {0: 15, 1: 12.5, 2: 10.5}[level]
        space = {0: 0, 1: 4, 2: 2.5}[level]
        if self.will_page_break(space + keep):
            self.add_page()
        self.ln(space)
        if level > 0:
            self.start_section(text, level=level - 1)
        self.set_font("sans", "B", size)
        self.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT,
                        align="C" if level == 0 else "L")
        self.ln(1.5)

    def paragraph(self, text: str, size: float = 9.5, style: str = "", color=(0, 0, 0), indent: float = 0,
                  family: str = "serif", markdown: bool = False, align: str = "J") -> None:
        self.set_font(family, style, size)
        self.set_text_color(*color)
        self.set_x(self.l_margin + indent)
        self.multi_cell(0, size * 0.47, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, markdown=markdown, align=align)
        self.set_text_color(0)
        self.ln(1.2)

    def verdict_text(self, label: str, status: str, size: float = 8.5) -> None:
        """'label STATUS' with the status in green (good), grey (n/a) or red."""
        word = c.verdict_word(status)
        self.set_font("sans", "B", size)
        self.set_text_color(*colour(status))
        self.write(size * 0.53, f"{label} {word}   ")
        self.set_text_color(0)

    def equation(self, latex: str | None, indent: float = 8, fallback: str = "", align: str = "C") -> None:
        """Typeset ``latex`` (centred, or left with align="L"), long rows broken at top-level + - = into
        lines of the text width and a line still too wide scaled down; ``fallback`` (the generated plain-text
        form, shortened) if it cannot be typeset or a line would shrink below MIN_EQUATION_SCALE."""
        width_avail = self.w - self.l_margin - self.r_margin - indent
        max_width_px = int(width_avail / (25.4 * EQUATION_SHRINK) * EQUATION_DPI)
        images = render_equation(latex, dpi=EQUATION_DPI, max_width_px=max_width_px) if latex else None
        if images is not None and min(width_avail / _mm(image.width_px, image.dpi) for image in images) < MIN_EQUATION_SCALE:
            images = None
        if images is None:
            text = c.shorten(fallback or "(this equation is too long to typeset; its text is in results.json)",
                             MAX_TEXT_CHARS)
            self.paragraph(text, size=7, family="mono", indent=indent, color=(40, 40, 40), align="L")
            return
        for image in images:
            width, height = _mm(image.width_px, image.dpi), _mm(image.height_px, image.dpi)
            if width > width_avail:
                height *= width_avail / width
                width = width_avail
            if self.will_page_break(height + 2):
                self.add_page()
            x = self.l_margin + indent + ((width_avail - width) / 2 if align == "C" else 0.0)
            self.image(io.BytesIO(image.png), x=x, y=self.get_y() + 0.8, w=width, h=height)
            self.set_y(self.get_y() + height + 1.6)
        self.ln(0.8)

    def table_block(self, headers: tuple[str, ...], rows: list[tuple[str, ...]], widths: tuple[float, ...],
                    size: float = 7.5, status_columns: tuple[int, ...] = ()) -> None:
        """A table with a shaded header row; cells in ``status_columns`` coloured by verdict."""
        self.cell_table(headers, [[(text, text if k in status_columns else None) for k, text in enumerate(values)]
                                  for values in rows], widths, size)

    def cell_table(self, headers: tuple[str, ...], rows: list[list[tuple[str, str | None]]],
                   widths: tuple[float, ...], size: float = 7.5) -> None:
        """A table of (text, status) cells; a cell with a status is coloured by it (bold for a bare status word)."""
        self.set_font("sans", "", size)
        with self.table(col_widths=widths, line_height=size * 0.5, text_align="LEFT", padding=0.8,
                        headings_style=FontFace(emphasis="BOLD", fill_color=HEADER_FILL),
                        borders_layout="HORIZONTAL_LINES") as table:
            head = table.row()
            for text in headers:
                head.cell(text)
            for values in rows:
                row = table.row()
                for text, status in values:
                    style = None
                    if status is not None:
                        style = FontFace(emphasis="BOLD" if str(text) == str(status) else None, color=colour(status))
                    row.cell(str(text), style=style)
        self.ln(2)

    def figure(self, path: Path, title: str, caption: str, number: int, max_height: float = 115) -> None:
        """A figure scaled to the text width (or to fit the page), with a numbered caption below."""
        from PIL import Image

        with Image.open(path) as image:
            width_px, height_px = image.size
        width = self.w - self.l_margin - self.r_margin
        height = width * height_px / width_px
        max_height = min(max_height, self.h - self.t_margin - self.b_margin - 45)
        if height > max_height:
            width, height = width * max_height / height, max_height
        if self.will_page_break(height + 25):
            self.add_page()
        self.image(str(path), x=(self.w - width) / 2, y=self.get_y(), w=width, h=height)
        self.set_y(self.get_y() + height + 2)
        self.paragraph(f"**Figure {number}: {plain(title)}.** {plain(caption)}", size=8, family="serif", markdown=True)
        self.ln(2)



# ------------------------------------------------------------------- sections


def _answer(pdf: ReportPDF, content: ReportContent) -> None:
    """Page 1: verdict, opening, the table, the findings, the failures."""
    data, prov = content.data, content.data.provenance
    pdf.add_page()
    pdf.heading(c.TITLE, level=0)
    pdf.paragraph(f"Re-checking {c.PAPER}", size=8.5, style="I", color=GREY, align="C")
    pdf.paragraph(f"{prov.get('date', '')}  ·  profile '{data.profile}'  ·  commit {prov.get('git commit', '?')}",
                  size=7.5, family="sans", color=GREY, align="C")
    pdf.set_font("sans", "B", 11)
    pdf.set_text_color(*(GREEN if content.passed else RED))
    pdf.cell(0, 6, c.verdict_line(content), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.paragraph(plain(c.opening(content)), size=8.3)
    pdf.heading("1  The answer", level=1)
    rows = [[(cell.text, cell.status if k else None) for k, cell in enumerate(row.cells())] for row in content.answer]
    pdf.cell_table(HEADERS, rows, widths=(25, 33, 38, 33, 25, 16), size=6.4)
    pdf.paragraph("**Findings beyond the paper.** " + plain(" ".join(c.findings(content))), size=7.8, markdown=True)
    for line in content.failures():
        pdf.paragraph(f"FAILED: {line}", size=7.5, family="sans", color=RED, indent=3, align="L")


def _chain(pdf: ReportPDF, claim: dict) -> None:
    for k, line in enumerate(chains.chain_lines(claim)):
        if k:
            if pdf.will_page_break(14):
                pdf.add_page()
            pdf.set_x(pdf.l_margin + 4)
            pdf.set_font("sans", "", 7)
            pdf.set_text_color(*(GREY if c.is_good(line.status) else RED))
            status = "" if c.is_good(line.status) else f" [{c.verdict_word(line.status)}]"
            pdf.multi_cell(0, 3.4, f"({k}) {line.reason}{f'  [Eq. {line.eq}]' if line.eq else ''}{status}",
                           new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_text_color(0)
        latex = f"{line.relation} {line.latex}".strip() if line.latex else None
        pdf.equation(latex, indent=8, fallback=f"{line.relation} {line.text}".strip(), align="L")


def _claim(pdf: ReportPDF, number: str, claim: dict) -> None:
    pdf.heading(f"{number}  {claim.get('title', claim.get('name'))}", level=2)
    pdf.verdict_text(f"[{claim.get('name')}]", str(claim.get("status")))
    main, inner, lemmas = chains.step_count(claim)
    pdf.set_font("sans", "", 7.5)
    uses = c.uses_text(claim)
    pdf.write(4.2, f"chain of {main} steps" + (f", {inner} more in {lemmas} lemmas and remarks" if lemmas else "")
              + (f"; {uses}" if uses else ""))
    pdf.ln(5)
    text, latex, eq = chains.conclusion(claim)
    if eq:  # the paper's Eq. N, or an equation beyond the paper (the gap identity: eq "gap")
        if pdf.will_page_break(25):  # the line and its equation on one page
            pdf.add_page()
        pdf.paragraph(f"It must reach{f' Eq. {eq}' if eq[:1].isdigit() else ''}:", size=8, style="I")
        pdf.equation(latex or None, fallback=text)
    elif text:  # not an equation (the errata's list of refuted printed forms): a sentence, not a formula
        pdf.paragraph(f"It must reach: {text}", size=8, style="I")
    hypotheses = chains.hypothesis_lines(claim)
    if hypotheses:
        pdf.paragraph("Hypotheses used:", size=8, style="B", family="sans")
        for key, sentence, derived in hypotheses:
            found = chains.derived_text(claim, key)
            pdf.paragraph(f"[{key}] {sentence}" + (" Derived from the chain's F:" if derived else ""),
                          size=7.5, indent=3, align="L")
            if derived:
                pdf.equation(derived, indent=8, fallback=derived, align="L")
            if found:
                pdf.paragraph(f"hence {found}", size=7.5, indent=8, align="L")
    axioms = chains.axiom_lines(claim)
    if axioms:
        pdf.paragraph("Axioms (taken from outside the paper):", size=8, style="B", family="sans")
        for key, statement, citation in axioms:
            pdf.paragraph(f"[{key}] {statement} ({citation})", size=7.5, indent=3, align="L")
    for line in claim.get("failures", []) or []:
        pdf.paragraph(f"FAILED: {line}", size=7.5, family="sans", color=RED, indent=3)
    if claim.get("name") == "errata":
        pdf.paragraph("The errata are listed in Section 3.", size=8)
        return
    pdf.paragraph("The chain:", size=8, style="B", family="sans")
    _chain(pdf, claim)


def _errata(pdf: ReportPDF, content: ReportContent) -> None:
    pdf.heading("3  Where the paper's text errs", level=1)
    errata = c.errata(content.data)
    pdf.paragraph("Each printed form below is refuted by a counterexample and its corrected form is proved by a "
                  "chain." if errata else "No errata were reported.", size=8.5)
    for item in errata:
        if pdf.will_page_break(30):
            pdf.add_page()
        pdf.set_font("serif", "B", 9)
        pdf.write(4.6, f"Eq. {item.eq}  ")
        pdf.set_font("sans", "", 7.5)
        pdf.set_text_color(*GREY)
        pdf.write(4.6, f"{item.kind}; checked in {item.claim}")
        pdf.set_text_color(0)
        pdf.ln(5)
        pdf.paragraph(plain(item.reason), size=8.3)
        pdf.paragraph(f"Evidence: {item.evidence}.", size=7.5, color=GREY)
        pdf.paragraph("Printed:", size=8, style="I", indent=3)
        pdf.equation(item.printed.get("latex"), fallback=str(item.printed.get("text", "")))
        pdf.paragraph("Corrected:", size=8, style="I", indent=3)
        pdf.equation(item.corrected.get("latex"), fallback=str(item.corrected.get("text", "")))


def _hidden(pdf: ReportPDF, content: ReportContent) -> None:
    pdf.heading("4  What the derivations need that the paper does not state", level=1)
    pdf.paragraph("Structural hypotheses the chains start from (each shapes the definitions of the claims "
                  "listed); the paper states some only implicitly, and the parametrisation criterion (claim "
                  "criterion) says which variance heads satisfy the closure ones.", size=8.5)
    for key, text, users in c.hidden_hypotheses(content.data):
        pdf.paragraph(f"[{key}] (needed by {', '.join(users)}) {text}", size=7.8, indent=3, align="L")


def _numeric(pdf: ReportPDF, content: ReportContent, out_dir: Path, first_figure: int) -> None:
    data = content.data
    pdf.heading("5  Numeric evidence", level=1, keep=FIGURE_MAX_HEIGHT + 25)  # with its first figure
    for k, figure in enumerate(content.figures, first_figure):
        path = Path(figure.file) if Path(figure.file).is_absolute() else out_dir / figure.file
        pdf.figure(path, figure.title, figure.caption, k,
                   max_height=200 if figure.file.startswith("fig3") else FIGURE_MAX_HEIGHT)
    for note in content.notes:
        pdf.paragraph(note, size=7.5, color=GREY)
    pdf.paragraph("Runs:", size=8.5, style="B", family="sans")
    pdf.table_block(c.RUN_HEADERS, c.run_rows(data.groups), widths=(52, 20, 32, 28, 24, 14), size=6.6,
                    status_columns=(1,))
    criterion = c.criterion_rows(data)
    if criterion:
        pdf.paragraph("Criterion study (numerics.criterion):", size=8.5, style="B", family="sans")
        pdf.table_block(c.CRITERION_HEADERS, criterion, widths=(24, 15, 18, 25, 27, 35, 16), size=6.8,
                        status_columns=(6,))
    for error in c.other_errors(data):
        pdf.paragraph(f"FAILED: {error}", size=7.5, family="sans", color=RED)


def _appendix_steps(pdf: ReportPDF, content: ReportContent) -> None:
    pdf.heading("Appendix A  Every step", level=1)
    pdf.paragraph("Every step of every chain, lemma and remark, with the strategy that closed it (a step is PROVED "
                  "only when a symbolic strategy closes it and the independent numeric spot-check agrees), as "
                  "'before = after' in SymPy's plain-text form; the typeset chains are in Section 2.", size=8.5)
    for claim in content.data.claims():
        for item in (claim, *chains.lemmas_of(claim)):
            if pdf.will_page_break(20):
                pdf.add_page()
            pdf.verdict_text(f"{item.get('name')}:", str(item.get("status")), size=8)
            pdf.set_font("serif", "I", 7.8)
            pdf.multi_cell(0, 3.8, plain(str(item.get("title", ""))), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            for k, step in enumerate(item.get("steps", []) or [], 1):
                if pdf.will_page_break(14):
                    pdf.add_page()
                pdf.set_x(pdf.l_margin + 3)
                pdf.set_font("sans", "", 7)
                pdf.set_text_color(*colour(str(step.get("status"))))
                pdf.multi_cell(0, 3.4, f"{k}. Eq. {step.get('eq') or '-'}: {step.get('justification') or ''} -- "
                               f"{c.verdict_word(str(step.get('status')))} {c.step_status_line(step)}",
                               new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.set_text_color(0)
                for line in c.failure_details(step):
                    pdf.paragraph(line, size=6.8, family="mono", indent=5, color=GREY, align="L")
                pdf.paragraph(c.shorten(str(step.get("statement") or ""), MAX_TEXT_CHARS), size=6.5, family="mono",
                              indent=6, color=(40, 40, 40), align="L")


def _provenance(pdf: ReportPDF, content: ReportContent) -> None:
    data, prov = content.data, content.data.provenance
    pdf.heading("Appendix B  Provenance", level=1)
    for label, value in (("Command", prov.get("command", "")), ("Git commit", prov.get("git commit", "?")),
                         ("Date", prov.get("date", "")), ("Seeds", c.seeds_text(data))):
        pdf.set_font("serif", "B", 8.5)
        pdf.write(4.2, f"{label}: ")
        pdf.set_font("serif", "", 8.5)
        pdf.write(4.2, str(value))
        pdf.ln(5)
    pdf.table_block(("Device", ""), list(prov.get("device", {}).items()), widths=(30, 140), size=7.5)
    pdf.table_block(("Package", "Version"), list(prov.get("versions", {}).items()), widths=(40, 130), size=7.5)
    pdf.table_block(("Part of the build", "Wall time"), c.timing_rows(data), widths=(100, 70), size=7.5)


def render_pdf(content: ReportContent, out_dir: Path, path: Path) -> None:
    """Write the report as a PDF to ``path``; figure files are read from ``out_dir``."""
    data = content.data
    pdf = ReportPDF(c.TITLE)
    _answer(pdf, content)
    pdf.add_page()
    pdf.heading("2  How we know: the derivations", level=1)
    pdf.paragraph("A claim is PROVED only when its chain starts from the model's definitions, every step's "
                  "expression follows from the previous one by a checked rule (a strategy, a hypothesis derived from "
                  "the chain's own F, a proved lemma or claim at a checked instance), every declared hypothesis is "
                  "used, and the last expression is the paper's equation.", size=8.5)
    figure_number = 1
    if content.graph is not None:
        pdf.figure(out_dir / content.graph.file, content.graph.title, content.graph.caption, figure_number,
                   max_height=70)
        figure_number += 1
    if data.proofs_error:
        pdf.paragraph(f"FAILED: {data.proofs_error}", color=RED, family="sans", size=8.5)
    for k, claim in enumerate(data.claims(), 1):
        _claim(pdf, f"2.{k}", claim)
    _errata(pdf, content)
    _hidden(pdf, content)
    _numeric(pdf, content, out_dir, figure_number)
    _appendix_steps(pdf, content)
    _provenance(pdf, content)
    pdf.output(str(path))
