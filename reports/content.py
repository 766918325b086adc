"""Text shared by the Markdown and the PDF report: title, summary paragraph, table rows, captions.

Both renderers call these functions, so the two documents say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.collect import ReportData, RunGroup
from reports.figures import Figure
from reports.profiles import MODELS
from reports.verdicts import NOT_COUNTED, RUN_STATUSES, ClaimRow, numeric_claims, overall_passed, run_failures, \
    run_status, unpassed_claims

TITLE = "Verification report: the ELBO of Gaussian VAEs converges to a sum of three entropies"
PAPER = ("J. Lücke, D. Forster, Z. Dai, \"The Evidence Lower Bound of Variational Autoencoders "
         "Converges to a Sum of Three Entropies\"")
SUMMARY_HEADERS = ("Claim", "Title", "Symbolic", "Numeric", "Measured gap |F - S|")
RUN_HEADERS = ("Run group", "Protocol", "Runs", "Passed", "|F - S| (nats)", "Tolerance", "Control gap")


@dataclass
class ReportContent:
    """Everything the renderers need beyond the raw data: verdict rows, figures, notes, timings."""

    data: ReportData
    rows: list[ClaimRow]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return overall_passed(self.rows, self.data)

    def failures(self) -> list[str]:
        """Every reason the build does not pass, one line each."""
        lines = []
        if self.data.proofs_error:
            lines.append(self.data.proofs_error)
        for row in self.rows:
            if row.symbolic != "PROVED":
                lines.append(f"{row.name}: symbolic verdict {row.symbolic}")
            if row.numeric == "FAILED":
                failed = [e.label for e in row.evidence if e.counts and verdict_word(e.status) == "FAILED"]
                lines.append(f"{row.name}: numeric check FAILED (not met: {'; '.join(failed)})")
        return lines + unpassed_claims(self.rows) + run_failures(self.data)


def verdict_word(status: str) -> str:
    """How a status reads in the report: a known status word as is, anything else (FAIL, ...) as FAILED."""
    known = ("PROVED", "PASS", "n/a", "MISSING", "NOT RUN", "NUMERIC-ONLY", "PRINTED-WRONG", "NOT-COVERED",
             "NOT-CONVERGED", NOT_COUNTED)
    return status if status in known else "FAILED"


def run_counts(data: ReportData) -> dict[str, int]:
    """How many runs (every group, sweep members included) came to each status (`verdicts.run_status`)."""
    counts = dict.fromkeys((*RUN_STATUSES, NOT_COUNTED), 0)
    for group in data.groups:
        for run in group.runs:
            counts[run_status(run)] += 1
    return counts


def summary_paragraph(content: ReportContent) -> str:
    """The abstract: what was checked, how, and the overall verdict."""
    rows = content.rows
    proved = sum(row.symbolic == "PROVED" for row in rows)
    tested = [row for row in rows if row.name in numeric_claims()]
    numeric_pass = sum(row.numeric == "PASS" for row in tested)
    counts = run_counts(content.data)
    runs = sum(counts.values())
    came = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    steps = sum(len(c.get("steps", [])) for c in content.data.claims())
    verdict = ("Every claim is proved symbolically, every claim with a numeric test has a passing run, and no "
               "run failed." if content.passed else
               f"NOT VERIFIED: {len(content.failures())} problem(s), listed under 'Failures' below.")
    return (f"This report re-checks the paper {PAPER}. Each claim's derivation is re-done step by step in "
            f"SymPy ({steps} steps in all; a step counts as proved only when a symbolic strategy closes it), "
            f"and each proposition is tested on VAEs trained here ({runs} run(s){f': {came}' if came else ''}; "
            f"profile '{content.data.profile}'): a round-off certificate that the ELBO equals the closed-form "
            f"three-entropy value at every stationary point of the trained model, a grade of how close training "
            f"came, and a control run violating the hypotheses that must show the predicted nonzero gap. "
            f"{proved} of {len(rows)} claims are proved symbolically; {numeric_pass} of {len(tested)} claims with "
            f"a numeric test have a passing run. {verdict}")


def summary_rows(rows: list[ClaimRow]) -> list[tuple[str, ...]]:
    """The summary table's cells, one tuple per claim."""
    return [(row.name, short_title(row.title), verdict_word(row.symbolic), verdict_word(row.numeric), row.gap_text)
            for row in rows]


def short_title(title: str) -> str:
    """'Proposition 1 (VAE-2)' from 'Proposition 1 (VAE-2): at stationary points ...'."""
    return title.split(": ", 1)[0]


def fmt(value: object, spec: str = ".2e") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def run_group_rows(groups: list[RunGroup]) -> list[tuple[str, ...]]:
    """One row per run group: how many runs passed, the worst |F - S|, its tolerance, the control gap."""
    table = []
    for group in groups:
        gaps = [abs(r.summary["gap"]) for r in group.runs if isinstance(r.summary.get("gap"), (int, float))]
        tolerances = {r.summary.get("tolerance") for r in group.runs}
        controls = [r.summary.get("control", {}) or {} for r in group.runs]
        control_gaps = [abs(c["gap"]) for c in controls if isinstance(c.get("gap"), (int, float))]
        statuses = [run_status(r) for r in group.runs]
        others = ", ".join(f"{statuses.count(s)} {s}" for s in (*RUN_STATUSES[1:], NOT_COUNTED) if s in statuses)
        gap_text = (f"{max(gaps):.2e}" if len(gaps) == 1 else
                    f"median {sorted(gaps)[len(gaps) // 2]:.1e}, max {max(gaps):.1e}") if gaps else "-"
        tolerance = fmt(next(iter(tolerances))) if len(tolerances) == 1 else "varies"
        table.append((group.title, group.protocol, str(len(group.runs)),
                      f"{statuses.count('PASS')}/{len(group.runs)}" + (f" ({others})" if others else "")
                      + (" (errors)" if group.errors else ""), gap_text,
                      tolerance, f"{min(control_gaps):.2e}" if control_gaps else "-"))
    return table


def tolerance_notes(groups: list[RunGroup]) -> list[str]:
    """Per verification run: the tolerance used and why (summary.tolerance_reason)."""
    notes = []
    for group in groups:
        for run in group.runs[:1] if group.role == "reproduce" else group.runs:
            summary = run.summary
            data = summary.get("data") or MODELS.get(run.model, ((), "?", ""))[1]
            notes.append(f"{group.title}: model {run.model} on {data}, seed {summary.get('seed')}, device "
                         f"{summary.get('device')}: |F - S| = {fmt(summary.get('gap'))} nats per data point "
                         f"(ELBO {fmt(summary.get('elbo'), '.4f')} +/- {fmt(summary.get('elbo_se'), '.1e')}) "
                         f"against tolerance {fmt(summary.get('tolerance'))}, because "
                         f"{summary.get('tolerance_reason', 'no reason given')}. Status {summary.get('status')}"
                         + (f": {summary['reason']}." if summary.get("reason") else "."))
    return notes


def check_rows(groups: list[RunGroup]) -> list[tuple[str, ...]]:
    """Every individual numeric check of the verification runs (summary.checks)."""
    table = []
    for group in groups:
        if group.role != "verify":
            continue
        for run in group.runs:
            for check in run.summary.get("checks", []) or []:
                table.append((run.model, str(check.get("name")), str(check.get("claim")),
                              verdict_word(str(check.get("status"))), fmt(check.get("value")),
                              fmt(check.get("tolerance")), str(check.get("detail", ""))))
    return table


def step_status_line(step: dict) -> str:
    """'by expand_log in 0.02 s; uses sigma2-free' for one proof step (the verdict word is shown apart)."""
    parts = []
    if step.get("strategy"):
        parts.append(f"by {step['strategy']}")
    if isinstance(step.get("seconds"), (int, float)):
        parts.append(f"in {step['seconds']:.2f} s")
    line = " ".join(parts)
    if step.get("hypotheses"):
        line += "; uses " + ", ".join(map(str, step["hypotheses"]))
    return line


def shorten(text: str, limit: int) -> str:
    """``text`` with runs of white space collapsed, cut after ``limit`` characters with a note saying
    how long it is (the full text is in results.json)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text)} characters in results.json)"


def failure_details(step: dict, limit: int = 400) -> list[str]:
    """Residual and counterexample of a failed (or printed-wrong) step, long residuals shortened."""
    lines = []
    label = "residual of the printed form" if step.get("status") == "PRINTED-WRONG" else "residual"
    if step.get("residual"):
        lines.append(f"{label}: {shorten(step['residual'], limit)}")
    if step.get("counterexample"):
        point = ", ".join(f"{k} = {v}" for k, v in dict(step["counterexample"]).items())
        lines.append(f"counterexample: {point}")
    return lines


def errata_steps(data: ReportData) -> list[dict]:
    """Steps of the ``errata`` claim (printed vs corrected forms), plus any PRINTED-WRONG step elsewhere."""
    steps = []
    for claim in data.claims():
        for step in claim.get("steps", []):
            if claim.get("name") == "errata" or step.get("status") == "PRINTED-WRONG" or step.get("printed"):
                steps.append({**step, "claim": claim.get("name")})
    return steps


def timing_rows(data: ReportData) -> list[tuple[str, str]]:
    """Wall time of each part of the build, and of each numeric run."""
    rows = [(part, f"{seconds:.1f} s") for part, seconds in data.timings.items()]
    if data.proofs and isinstance(data.proofs.get("seconds"), (int, float)):
        rows.append(("proofs: checking time as recorded by proofs", f"{data.proofs['seconds']:.1f} s"))
    for group in data.groups:
        if group.seconds is not None:
            rows.append((f"numerics: {group.key} ({len(group.runs)} run(s), this build)", f"{group.seconds:.1f} s"))
        else:
            times = [r.seconds for r in group.runs if isinstance(r.seconds, (int, float))]
            if times:
                rows.append((f"numerics: {group.key} ({len(times)} run(s), as recorded)", f"{sum(times):.1f} s"))
    return rows


def seeds_text(data: ReportData) -> str:
    """The seeds of every group, compactly."""
    parts = []
    for group in data.groups:
        seeds = sorted({r.summary.get("seed") for r in group.runs if r.summary.get("seed") is not None})
        if seeds:
            shown = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 3 and seeds == list(range(seeds[0], seeds[-1] + 1)) \
                else ", ".join(map(str, seeds))
            parts.append(f"{group.key}: {shown}")
    return "; ".join(parts) or "-"


def summary_headers_note() -> str:
    """What the summary table's columns mean."""
    return ("Symbolic: the verdict of the step-by-step SymPy check. Numeric: the verdict of the trained-model "
            "runs bearing on the claim, of any protocol: PASS when a run passed (certificate, control, "
            "convergence at least paper-level), FAILED when a run or check failed, NOT-CONVERGED or NOT-COVERED "
            "when that is all the runs came to, MISSING when no run checks a claim that has a numeric test, "
            "n/a where the claim has none. Measured gap: |F - S| between the ELBO F and the three-entropy "
            "value S at the end of training, in nats per data point (relative to |F| in brackets), or the "
            "claim's own check value.")
