"""``report.md``: the report as GitHub-flavoured Markdown (```` ```math ```` blocks, relative image links)."""

from __future__ import annotations

from reports import content as c
from reports.content import ReportContent
from reports.statements import statement_of


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table (pipes in cells escaped)."""
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def math_block(latex: str | None, fallback: str = "") -> str:
    """A display equation; GitHub renders ```` ```math ```` fences with MathJax."""
    if latex and latex.strip():
        return f"```math\n{latex.strip().strip('$').strip()}\n```"
    return f"`{fallback}`" if fallback else ""


def _badge(status: str) -> str:
    word = c.verdict_word(status)
    return f"**{word}**" if word in ("PROVED", "PASS", "PRINTED-WRONG") else f"**{word}** ⚠"


def claim_section(number: str, claim: dict, row) -> list[str]:
    """One claim: statement, hypotheses, verdicts, every step with its equation, numeric evidence."""
    out = [f"### {number} `{claim.get('name')}`: {claim.get('title', '')}", ""]
    text, latex = statement_of(claim)
    if text:
        out += [f"**Statement.** {text}", ""]
    if latex:
        out += [math_block(latex), ""]
    out.append(f"Symbolic verdict: {_badge(str(claim.get('status')))} "
               f"({len(claim.get('steps', []))} steps, {claim.get('seconds', 0):.2f} s). "
               f"Numeric verdict: {_badge(row.numeric) if row.numeric != 'n/a' else 'n/a (no numeric test)'}.")
    out.append("")
    hypotheses = claim.get("hypotheses") or {}
    if hypotheses:
        out.append("Hypotheses:")
        out += [f"- `{key}`: {text}" for key, text in hypotheses.items()]
        out.append("")
    for k, step in enumerate(claim.get("steps", []), 1):
        eq = f"Eq. ({step['eq']})" if step.get("eq") else "Step"
        out.append(f"{k}. **{eq}** {step.get('justification') or ''} "
                   f"({_badge(str(step.get('status')))} {c.step_status_line(step)})")
        out += [f"   - {line}" for line in c.failure_details(step)]
        block = math_block(step.get("latex"), fallback=str(step.get("statement") or ""))
        if block:
            out += [""] + ["   " + line for line in block.splitlines()]
        out.append("")
    if row.evidence:
        out.append("Numeric evidence:")
        out.append("")
        out.append(table(("Check", "Verdict", "Value", "Tolerance", "Why this tolerance / detail"),
                         [(e.label, c.verdict_word(e.status), c.fmt(e.value), c.fmt(e.tolerance), e.detail)
                          for e in row.evidence]))
        out.append("")
    return out


def render_markdown(content: ReportContent) -> str:
    """The whole report as Markdown text."""
    data = content.data
    prov = data.provenance
    out = [f"# {c.TITLE}", "",
           f"*{prov.get('date', '')} · profile `{data.profile}` · commit `{prov.get('git commit', '?')}`*", "",
           f"**Summary.** {c.summary_paragraph(content)}", ""]
    failures = content.failures()
    if failures:
        out += ["**Failures**", ""] + [f"- FAILED: {line}" for line in failures] + [""]
    out += ["## 1 Summary", "", c.summary_headers_note(), "",
            table(c.SUMMARY_HEADERS, c.summary_rows(content.rows)), ""]

    out += ["## 2 Symbolic verification", "",
            "Each step below is an equation of the paper (numbers follow the paper) checked by the `proofs` "
            "package: PROVED means a symbolic strategy (named) closed it; NUMERIC-ONLY means only random "
            "spot-checks agree; FAILED comes with the residual and a counterexample.", ""]
    if data.proofs_error:
        out += [f"FAILED: {data.proofs_error}", ""]
    by_name = {claim.get("name"): claim for claim in data.claims()}
    for k, row in enumerate(content.rows, 1):
        claim = by_name.get(row.name)
        if claim is None:
            out += [f"### 2.{k} `{row.name}`", "", f"**{row.symbolic}**: no result for this claim.", ""]
            continue
        out += claim_section(f"2.{k}", claim, row)

    out += ["## 3 Errata", "", "Equations whose printed form does not hold: the printed form is refuted by a "
            "counterexample and the corrected form is proved.", ""]
    errata = c.errata_steps(data)
    if not errata:
        out += ["No errata were reported.", ""]
    for step in errata:
        printed, corrected = step.get("printed") or {}, step.get("corrected") or {}
        out += [f"- **Eq. ({step.get('eq', '?')})** ({step.get('claim')}): {_badge(str(step.get('status')))} "
                f"{step.get('justification', '')}", "",
                "  Printed:", "", *["  " + line for line in math_block(printed.get("latex"),
                                                                          printed.get("text", "")).splitlines()],
                "", "  Corrected:", "",
                *["  " + line for line in math_block(corrected.get("latex"), corrected.get("text", "")).splitlines()],
                ""]
        out += [f"  {line}" for line in c.failure_details(step)] + [""]

    out += ["## 4 Numerical verification", "",
            "Verification runs (fast protocol) decide the numeric verdicts; runs with the paper's protocol "
            "(Appendix C.3) reproduce its figures and are reported as statistics.", "",
            table(c.RUN_HEADERS, c.run_group_rows(data.groups)), ""]
    errors = [f"{g.key}: {e}" for g in data.groups for e in g.errors]
    if data.numerics_error:
        errors.insert(0, data.numerics_error)
    out += [f"- FAILED: {e}" for e in errors] + ([""] if errors else [])
    out += ["Tolerances used, and why:", ""] + [f"- {note}" for note in c.tolerance_notes(data.groups)] + [""]
    checks = c.check_rows(data.groups)
    if checks:
        out += ["All numeric checks:", "",
                table(("Model", "Check", "Claim", "Verdict", "Value", "Tolerance", "Detail"), checks), ""]
    for k, figure in enumerate(content.figures, 1):
        out += [f"### 4.{k} {figure.title}", "", f"![{figure.title}]({figure.file})", "",
                f"*{figure.caption}*", ""]
    out += [f"- {note}" for note in content.notes] + ([""] if content.notes else [])

    out += ["## 5 Provenance", "", f"- Command: `{prov.get('command', '')}`",
            f"- Git commit: `{prov.get('git commit', '?')}`", f"- Date: {prov.get('date', '')}",
            f"- Seeds: {c.seeds_text(data)}", ""]
    out += [table(("Device", ""), list(prov.get("device", {}).items())), "",
            table(("Package", "Version"), list(prov.get("versions", {}).items())), "",
            table(("Part", "Wall time"), c.timing_rows(data)), ""]
    return "\n".join(out)
