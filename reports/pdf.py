"""``report.pdf``: the report as a short, self-contained paper, built with fpdf2 (no LaTeX needed).

Fonts are the DejaVu fonts that matplotlib ships (Unicode text); equations are typeset by
matplotlib's mathtext (``reports.equations``) and embedded as images, with the LaTeX source printed
verbatim when mathtext cannot parse it; figures are the PNGs beside the report.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from reports import content as c
from reports.content import ReportContent
from reports.equations import render_equation
from reports.statements import statement_of

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
GREEN, RED, GREY = (0, 110, 50), (190, 20, 20), (90, 90, 90)
HEADER_FILL = (228, 232, 240)
EQUATION_DPI = 200
EQUATION_SHRINK = 0.95
"""Typeset equations are placed at this fraction of their rendered size."""
MIN_EQUATION_SCALE = 0.6
"""Smallest scale at which a typeset equation row stays readable; below it the LaTeX source is printed."""
MAX_SOURCE_CHARS = 600
"""LaTeX source printed in place of an equation is cut after this many characters (all of it is in results.json)."""


def _mm(pixels: int, dpi: int) -> float:
    """Placed size in millimetres of ``pixels`` of an equation image rendered at ``dpi``."""
    return pixels / dpi * 25.4 * EQUATION_SHRINK


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

    def heading(self, text: str, level: int = 1) -> None:
        size = {0: 15, 1: 12.5, 2: 10.5}[level]
        space = {0: 0, 1: 4, 2: 2.5}[level]
        if self.will_page_break(space + 20):
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

    def verdict_text(self, label: str, status: str) -> None:
        """'label: STATUS' with the status in green or red."""
        word = c.verdict_word(status)
        self.set_font("sans", "B", 8.5)
        self.set_text_color(*(GREEN if word in ("PROVED", "PASS") else GREY if word == "n/a" else RED))
        self.write(4.5, f"{label} {word}   ")
        self.set_text_color(0)

    def equation(self, latex: str | None, indent: float = 8, fallback: str = "") -> None:
        """Typeset ``latex`` centred, long rows broken at top-level + - = into lines of the text width
        and a line still too wide scaled down; the LaTeX source in mono (shortened) if it cannot be
        typeset, or if a line would have to shrink below MIN_EQUATION_SCALE (one huge term)."""
        width_avail = self.w - self.l_margin - self.r_margin - indent
        max_width_px = int(width_avail / (25.4 * EQUATION_SHRINK) * EQUATION_DPI)
        images = render_equation(latex, dpi=EQUATION_DPI, max_width_px=max_width_px) if latex else None
        if images is not None and min(width_avail / _mm(image.width_px, image.dpi) for image in images) < MIN_EQUATION_SCALE:
            images = None
        if images is None:
            text = c.shorten(latex or fallback, MAX_SOURCE_CHARS)
            if text:
                self.paragraph(text, size=7.5, family="mono", indent=indent, color=GREY, align="L")
            return
        for image in images:
            width, height = _mm(image.width_px, image.dpi), _mm(image.height_px, image.dpi)
            if width > width_avail:
                height *= width_avail / width
                width = width_avail
            if self.will_page_break(height + 2):
                self.add_page()
            x = self.l_margin + indent + (width_avail - width) / 2
            self.image(io.BytesIO(image.png), x=x, y=self.get_y() + 0.8, w=width, h=height)
            self.set_y(self.get_y() + height + 1.6)
        self.ln(0.8)

    def table_block(self, headers: tuple[str, ...], rows: list[tuple[str, ...]], widths: tuple[float, ...],
                    size: float = 7.5, status_columns: tuple[int, ...] = ()) -> None:
        """A table with a shaded header row; cells in ``status_columns`` coloured by verdict."""
        self.set_font("sans", "", size)
        with self.table(col_widths=widths, line_height=size * 0.5, text_align="LEFT", padding=0.8,
                        headings_style=FontFace(emphasis="BOLD", fill_color=HEADER_FILL),
                        borders_layout="HORIZONTAL_LINES") as table:
            head = table.row()
            for text in headers:
                head.cell(text)
            for values in rows:
                row = table.row()
                for k, text in enumerate(values):
                    style = None
                    if k in status_columns:
                        word = c.verdict_word(text)
                        color = GREEN if word in ("PROVED", "PASS") else GREY if word == "n/a" else RED
                        style = FontFace(emphasis="BOLD", color=color)
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


def _claim(pdf: ReportPDF, number: str, claim: dict, row) -> None:
    pdf.heading(f"{number} {claim.get('title', claim.get('name'))}  [{claim.get('name')}]", level=2)
    text, latex = statement_of(claim)
    if text:
        pdf.paragraph(text, style="I")
    if latex:
        pdf.equation(latex)
    pdf.verdict_text("Symbolic:", str(claim.get("status")))
    pdf.verdict_text("Numeric:", row.numeric)
    pdf.set_font("sans", "", 8)
    pdf.write(4.5, f"({len(claim.get('steps', []))} steps, {claim.get('seconds', 0):.2f} s)")
    pdf.ln(6)
    hypotheses = claim.get("hypotheses") or {}
    if hypotheses:
        pdf.paragraph("Hypotheses:", size=8.5, style="B", family="sans")
        for key, text in hypotheses.items():
            pdf.paragraph(f"[{key}] {text}", size=8, indent=4, align="L")
    for k, step in enumerate(claim.get("steps", []), 1):
        eq = f"Eq. ({step['eq']})" if step.get("eq") else "Step"
        status = str(step.get("status"))
        if pdf.will_page_break(18):
            pdf.add_page()
        pdf.set_font("serif", "B", 9)
        pdf.write(4.6, f"{k}. {eq}  ")
        pdf.set_font("serif", "", 9)
        pdf.write(4.6, str(step.get("justification") or ""))
        pdf.ln(5)
        word = c.verdict_word(status) if status not in ("NUMERIC-ONLY", "PRINTED-WRONG") else status
        color = GREEN if word in ("PROVED", "PRINTED-WRONG") else (150, 100, 0) if word == "NUMERIC-ONLY" else RED
        pdf.set_x(pdf.l_margin + 5)
        pdf.set_font("sans", "B", 7.5)
        pdf.set_text_color(*color)
        pdf.write(4, word + " ")
        pdf.set_font("sans", "", 7.5)
        pdf.set_text_color(*GREY)
        pdf.write(4, c.step_status_line(step))
        pdf.set_text_color(0)
        pdf.ln(4.5)
        for line in c.failure_details(step):
            pdf.paragraph(line, size=7.5, family="mono", indent=5, color=RED if word == "FAILED" else GREY,
                          align="L")
        pdf.equation(step.get("latex"), fallback=str(step.get("statement") or ""))
    if row.evidence:
        pdf.paragraph("Numeric evidence (tolerance and why):", size=8.5, style="B", family="sans")
        pdf.table_block(("Check", "Verdict", "Value", "Tolerance", "Why / detail"),
                        [(e.label, c.verdict_word(e.status), c.fmt(e.value), c.fmt(e.tolerance), e.detail)
                         for e in row.evidence], widths=(45, 14, 16, 16, 79), size=7, status_columns=(1,))


def render_pdf(content: ReportContent, out_dir: Path, path: Path) -> None:
    """Write the report as a PDF to ``path``; figure files are read from ``out_dir``."""
    data = content.data
    prov = data.provenance
    pdf = ReportPDF(c.TITLE)
    pdf.add_page()
    pdf.heading(c.TITLE, level=0)
    pdf.paragraph(f"Re-checking {c.PAPER}", size=9, style="I", color=GREY, align="C")
    pdf.paragraph(f"{prov.get('date', '')}  ·  profile '{data.profile}'  ·  commit {prov.get('git commit', '?')}",
                  size=8, family="sans", color=GREY, align="C")
    pdf.ln(2)
    pdf.set_draw_color(180)
    pdf.set_x(pdf.l_margin + 8)
    pdf.paragraph("**Summary.** " + plain(c.summary_paragraph(content)), size=9.2, markdown=True, indent=8)
    failures = content.failures()
    pdf.verdict_text("Overall verdict:", "PASS" if content.passed else "FAILED")
    pdf.ln(6)
    for line in failures:
        pdf.paragraph(f"FAILED: {line}", size=8, family="sans", color=RED, indent=4)

    pdf.heading("1  Summary table", level=1)
    pdf.paragraph(c.summary_headers_note(), size=8)
    pdf.table_block(c.SUMMARY_HEADERS, c.summary_rows(content.rows), widths=(16, 50, 19, 17, 68), size=7.5,
                    status_columns=(2, 3))

    pdf.heading("2  Symbolic verification", level=1)
    pdf.paragraph("Each step is an equation of the paper (numbers follow the paper), checked by the proofs "
                  "package. PROVED: a symbolic strategy (named) closed it. NUMERIC-ONLY: only random "
                  "spot-checks agree. FAILED: shown with the residual and a counterexample.", size=9)
    if data.proofs_error:
        pdf.paragraph(f"FAILED: {data.proofs_error}", color=RED, family="sans", size=8.5)
    by_name = {claim.get("name"): claim for claim in data.claims()}
    for k, row in enumerate(content.rows, 1):
        claim = by_name.get(row.name)
        if claim is None:
            pdf.heading(f"2.{k} {row.name}", level=2)
            pdf.verdict_text("Symbolic:", row.symbolic)
            pdf.ln(6)
            continue
        _claim(pdf, f"2.{k}", claim, row)

    pdf.heading("3  Errata", level=1)
    errata = c.errata_steps(data)
    pdf.paragraph("Equations whose printed form does not hold: the printed form is refuted by a counterexample "
                  "and the corrected form is proved." if errata else "No errata were reported.", size=9)
    for step in errata:
        printed, corrected = step.get("printed") or {}, step.get("corrected") or {}
        pdf.set_font("serif", "B", 9)
        pdf.write(4.6, f"Eq. ({step.get('eq', '?')}) [{step.get('claim')}] ")
        if step.get("status") == "PRINTED-WRONG":
            pdf.set_font("sans", "B", 8.5)
            pdf.set_text_color(*GREEN)
            pdf.write(4.5, "PRINTED-WRONG: printed form refuted, corrected form proved")
            pdf.set_text_color(0)
        else:
            pdf.verdict_text("", str(step.get("status")))
        pdf.ln(5)
        if step.get("justification"):
            pdf.paragraph(str(step["justification"]), size=8.5)
        pdf.paragraph("Printed:", size=8.5, style="I", indent=4)
        pdf.equation(printed.get("latex"), fallback=str(printed.get("text", "")))
        pdf.paragraph("Corrected:", size=8.5, style="I", indent=4)
        pdf.equation(corrected.get("latex"), fallback=str(corrected.get("text", "")))
        for line in c.failure_details(step):
            pdf.paragraph(line, size=7.5, family="mono", indent=4, color=GREY, align="L")

    pdf.heading("4  Numerical verification", level=1)
    pdf.paragraph("Verification runs (fast protocol) decide the numeric verdicts; runs with the paper's "
                  "protocol (Appendix C.3) reproduce its figures and are reported as statistics.", size=9)
    pdf.table_block(c.RUN_HEADERS, c.run_group_rows(data.groups), widths=(52, 14, 10, 14, 30, 15, 18), size=7)
    errors = ([data.numerics_error] if data.numerics_error else []) + \
        [f"{g.key}: {e}" for g in data.groups for e in g.errors]
    for error in errors:
        pdf.paragraph(f"FAILED: {error}", size=8, family="sans", color=RED)
    notes = c.tolerance_notes(data.groups)
    if notes:
        pdf.paragraph("Tolerances used, and why:", size=9, style="B", family="sans")
        for note in notes:
            pdf.paragraph("• " + note, size=8.2, indent=3)
    checks = c.check_rows(data.groups)
    if checks:
        pdf.paragraph("All numeric checks:", size=9, style="B", family="sans")
        pdf.table_block(("Model", "Check", "Claim", "Verdict", "Value", "Tolerance", "Detail"), checks,
                        widths=(12, 40, 14, 14, 16, 16, 58), size=6.8, status_columns=(3,))
    for k, figure in enumerate(content.figures, 1):
        pdf.figure(out_dir / figure.file, figure.title, figure.caption, k,
                   max_height=200 if figure.file.startswith("fig3") else 115)
    for note in content.notes:
        pdf.paragraph(note, size=8, color=GREY)

    pdf.heading("5  Provenance", level=1)
    for label, value in (("Command", prov.get("command", "")), ("Git commit", prov.get("git commit", "?")),
                         ("Date", prov.get("date", "")), ("Seeds", c.seeds_text(data))):
        pdf.set_font("serif", "B", 8.5)
        pdf.write(4.2, f"{label}: ")
        pdf.set_font("serif", "", 8.5)
        pdf.write(4.2, str(value))
        pdf.ln(5)
    pdf.table_block(("Device", ""), list(prov.get("device", {}).items()), widths=(30, 140), size=7.5)
    versions = list(prov.get("versions", {}).items())
    pdf.table_block(("Package", "Version"), versions, widths=(40, 130), size=7.5)
    pdf.table_block(("Part of the build", "Wall time"), c.timing_rows(data), widths=(80, 90), size=7.5)
    pdf.output(str(path))
