"""``report.md``: the report as GitHub-flavoured Markdown (```` ```math ```` blocks, relative image links).

Order (the same as the PDF): the answer (a row per claim), findings beyond the paper, how we know (each
claim's derivation as a calc block), where the paper's text errs, what it needs without saying so, the
numeric evidence (figures, runs), then the full step list and the provenance as appendices.
"""

from __future__ import annotations

from reports import chains
from reports import content as c
from reports.answer import HEADERS
from reports.content import ReportContent


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table (pipes in cells escaped)."""
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def math_block(latex: str | None, fallback: str = "") -> str:
    """A display equation; GitHub renders ```` ```math ```` fences with MathJax. Without LaTeX, the
    generated plain-text form in a code block."""
    if latex and latex.strip():
        return f"```math\n{latex.strip().strip('$').strip()}\n```"
    return f"```\n{fallback}\n```" if fallback else ""


def _badge(status: str) -> str:
    word = c.verdict_word(status)
    return f"**{word}**" if c.is_good(status) or word == "n/a" else f"**{word}** ⚠"


def answer_section(content: ReportContent) -> list[str]:
    """Section 1: the table (one row per claim), findings beyond the paper, failures."""
    rows = [tuple(cell.text if i == 0 or c.is_good(cell.status) or cell.status == "n/a" else f"{cell.text} ⚠"
                  for i, cell in enumerate(row.cells())) for row in content.answer]
    out = ["## 1 The answer", "", table(HEADERS, rows), "",
           "Symbolic: the claim derived by a checked chain from the model's definitions to the paper's equation "
           "(steps of its main chain and of its lemmas; the axioms it rests on). Certificate: on every trained "
           "network, the gap identity and the exact slope of F along each variance-scaling orbit agree with the "
           "residuals to float64 round-off, so F = S at every stationary point of that model. Convergence: how "
           "close training came (relative gap on an independent evaluation; the paper reports below 5e-3). "
           "Control: a run with the decoder variance held at a wrong value must show the gap the identity "
           "predicts.", "", "**Findings beyond the paper.** " + " ".join(c.findings(content)), ""]
    failures = content.failures()
    if failures:
        out += ["**Failures**", ""] + [f"- FAILED: {line}" for line in failures] + [""]
    return out


def chain_block(claim: dict) -> list[str]:
    """A claim's chain as display equations, one per line: start, then '= expression' with its reason."""
    out = []
    for k, line in enumerate(chains.chain_lines(claim)):
        latex = f"{line.relation} {line.latex}".strip() if line.latex else ""
        text = f"{line.relation} {line.text}".strip()
        if k:
            eq = f", Eq. {line.eq}" if line.eq else ""
            out.append(f"{k}. *{line.reason}*{eq}" + ("" if c.is_good(line.status) else f" {_badge(line.status)}"))
            out += ["", *["   " + part for part in math_block(latex, text).splitlines()], ""]
        else:
            out += [math_block(latex, text), ""]
    return out


def claim_section(number: str, claim: dict) -> list[str]:
    """One claim: its conclusion, the hypotheses and axioms it used, and its chain."""
    text, latex, eq = chains.conclusion(claim)
    main, inner, lemmas = chains.step_count(claim)
    out = [f"### {number} `{claim.get('name')}`: {claim.get('title', '')}", "",
           f"Symbolic verdict: {_badge(str(claim.get('status')))} (chain of {main} steps"
           + (f", {inner} more in {lemmas} lemmas and remarks" if lemmas else "") + f", {claim.get('seconds', 0):.1f} s)."
           + (f" {c.uses_text(claim).capitalize()}." if c.uses_text(claim) else ""), ""]
    if text or latex:
        out += [f"It must reach{f' Eq. {eq}' if eq else ''}:", "", math_block(latex, text), ""]
    hypotheses = chains.hypothesis_lines(claim)
    if hypotheses:
        out.append("Hypotheses used:")
        for key, sentence, derived in hypotheses:
            found = chains.derived_text(claim, key)
            out.append(f"- `{key}`: {sentence}" + (f" Derived from the chain's F: `{found}`." if found else ""))
        out.append("")
    axioms = chains.axiom_lines(claim)
    if axioms:
        out.append("Axioms (results taken from outside the paper):")
        out += [f"- `{key}`: {statement} ({citation})" for key, statement, citation in axioms]
        out.append("")
    for line in claim.get("failures", []) or []:
        out += [f"- FAILED: {line}"]
    if claim.get("name") == "errata":
        out += ["The errata are listed in Section 3.", ""]
    else:
        out += ["The chain:", "", *chain_block(claim)]
    return out


def errata_section(content: ReportContent) -> list[str]:
    out = ["## 3 Where the paper's text errs", "",
           "Each printed form below is refuted by a counterexample and its corrected form is proved by a chain.", ""]
    errata = c.errata(content.data)
    if not errata:
        out += ["No errata were reported.", ""]
    for item in errata:
        out += [f"- **Eq. {item.eq}** ({item.kind}; checked in `{item.claim}`): {item.reason}", "",
                f"  Evidence: {item.evidence}.", "", "  Printed:", "",
                *["  " + line for line in math_block(item.printed.get("latex"), item.printed.get("text", "")).splitlines()],
                "", "  Corrected:", "",
                *["  " + line for line in math_block(item.corrected.get("latex"),
                                                     item.corrected.get("text", "")).splitlines()], ""]
    return out


def hidden_section(content: ReportContent) -> list[str]:
    hidden = c.hidden_hypotheses(content.data)
    out = ["## 4 What the derivations need that the paper does not state", "",
           "Structural hypotheses the chains start from (each shapes the definitions of the claims listed); the "
           "paper states some only implicitly, and the parametrisation criterion (claim `criterion`) says which "
           "variance heads satisfy the closure ones.", ""]
    out += [f"- `{key}` (needed by {', '.join(users)}): {text}" for key, text, users in hidden]
    return out + [""]


def numeric_section(content: ReportContent) -> list[str]:
    data = content.data
    out = ["## 5 Numeric evidence", ""]
    for k, figure in enumerate(content.figures, 1):
        out += [f"### 5.{k} {figure.title}", "", f"![{figure.title}]({figure.file})", "", f"*{figure.caption}*", ""]
    out += [f"- {note}" for note in content.notes] + ([""] if content.notes else [])
    out += ["### Runs", "", table(c.RUN_HEADERS, c.run_rows(data.groups)), ""]
    criterion = c.criterion_rows(data)
    if criterion:
        out += ["### Criterion study", "", table(c.CRITERION_HEADERS, criterion), ""]
    errors = c.other_errors(data)
    out += [f"- FAILED: {e}" for e in errors] + ([""] if errors else [])
    return out


def appendix_steps(content: ReportContent) -> list[str]:
    out = ["## Appendix A: every step", "",
           "Every step of every chain, lemma and remark, with the strategy that closed it (`proofs`; a step is "
           "PROVED only when a symbolic strategy closes it and the independent numeric spot-check agrees).", ""]
    for claim in content.data.claims():
        for item in (claim, *chains.lemmas_of(claim)):
            out += [f"### `{item.get('name')}` {_badge(str(item.get('status')))}", "", str(item.get("title", "")), ""]
            for k, step in enumerate(item.get("steps", []) or [], 1):
                out.append(f"{k}. Eq. {step.get('eq') or '-'}: {step.get('justification') or ''} "
                           f"({_badge(str(step.get('status')))} {c.step_status_line(step)})")
                out += [f"   - {line}" for line in c.failure_details(step)]
                out += ["", *["   " + line for line in math_block(step.get("latex"),
                                                                   str(step.get("statement") or "")).splitlines()], ""]
    return out


def render_markdown(content: ReportContent) -> str:
    """The whole report as Markdown text."""
    data = content.data
    prov = data.provenance
    out = [f"# {c.TITLE}", "",
           f"*{prov.get('date', '')} · profile `{data.profile}` · commit `{prov.get('git commit', '?')}`*", "",
           f"**{c.verdict_line(content)}.** {c.opening(content)}", ""]
    out += answer_section(content)
    out += ["## 2 How we know: the derivations", "",
            "A claim is PROVED only when its chain starts from the model's definitions, every step's expression "
            "follows from the previous one by a checked rule (a strategy, a hypothesis derived from the chain's "
            "own F, a proved lemma or claim at a checked instance), every declared hypothesis is used, and the "
            "last expression is the paper's equation.", ""]
    graph = content.graph
    if graph is not None:
        out += [f"![{graph.title}]({graph.file})", "", f"*{graph.caption}*", ""]
    if data.proofs_error:
        out += [f"FAILED: {data.proofs_error}", ""]
    for k, claim in enumerate(data.claims(), 1):
        out += claim_section(f"2.{k}", claim)
    out += errata_section(content) + hidden_section(content) + numeric_section(content) + appendix_steps(content)
    out += ["## Appendix B: provenance", "", f"- Command: `{prov.get('command', '')}`",
            f"- Git commit: `{prov.get('git commit', '?')}`", f"- Date: {prov.get('date', '')}",
            f"- Seeds: {c.seeds_text(data)}", "",
            table(("Device", ""), list(prov.get("device", {}).items())), "",
            table(("Package", "Version"), list(prov.get("versions", {}).items())), "",
            table(("Part", "Wall time"), c.timing_rows(data)), ""]
    return "\n".join(out)
