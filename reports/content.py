"""Text shared by the Markdown and the PDF report, in the report's order: the answer, how we know, where
the paper errs, what it needs without saying so, then the figures and the details.

Both renderers call these functions, so the two documents say the same thing; every sentence that
states a result is built from the results (counts, measured values), never written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.answer import AnswerRow, answer_rows, short_title
from reports.collect import ReportData, RunGroup
from reports.figures import Figure
from reports.profiles import MODELS
from reports.rundirs import RunRecord
from reports.verdicts import (NOT_COUNTED, RUN_STATUSES, ClaimRow, numeric_claims, overall_passed, run_failures,
                              run_status, unpassed_claims)

TITLE = "Verification report: the ELBO of Gaussian VAEs converges to a sum of three entropies"
PAPER = ("J. Lücke, D. Forster, Z. Dai, \"The Evidence Lower Bound of Variational Autoencoders "
         "Converges to a Sum of Three Entropies\"")
RUN_HEADERS = ("Run", "Status", "Certificate (worst error / tol.)", "rel. gap (grade)", "Control gap / predicted",
               "Seconds")


@dataclass
class ReportContent:
    """Everything the renderers need beyond the raw data: verdict rows, the answer table, figures, notes."""

    data: ReportData
    rows: list[ClaimRow]
    figures: list[Figure] = field(default_factory=list)
    graph: Figure | None = None  # the claims' dependency graph (shown with the derivations)
    notes: list[str] = field(default_factory=list)
    figure_errors: list[str] = field(default_factory=list)

    @property
    def answer(self) -> list[AnswerRow]:
        return answer_rows(self.data, self.rows)

    @property
    def passed(self) -> bool:
        return overall_passed(self.rows, self.data) and not self.figure_errors

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
        return lines + unpassed_claims(self.rows) + run_failures(self.data) + self.figure_errors


def verdict_word(status: str) -> str:
    """How a status reads in the report: a known status word as is, anything else (FAIL, ...) as FAILED."""
    known = ("PROVED", "PASS", "HOLDS", "n/a", "MISSING", "NOT RUN", "NUMERIC-ONLY", "PRINTED-WRONG", "NOT-COVERED",
             "NOT-CONVERGED", NOT_COUNTED)
    return status if status in known else "FAILED"


def is_good(status: str) -> bool:
    """Statuses drawn in green."""
    return verdict_word(status) in ("PROVED", "PASS", "HOLDS", "PRINTED-WRONG")


def run_counts(data: ReportData) -> dict[str, int]:
    """How many runs (every group, sweep members included) came to each status (`verdicts.run_status`)."""
    counts = dict.fromkeys((*RUN_STATUSES, NOT_COUNTED), 0)
    for group in data.groups:
        for run in group.runs:
            counts[run_status(run)] += 1
    return counts


def verdict_line(content: ReportContent) -> str:
    """'VERIFIED' or 'NOT VERIFIED: n problem(s)'."""
    return "VERIFIED" if content.passed else f"NOT VERIFIED: {len(content.failures())} problem(s), listed below"


def opening(content: ReportContent) -> str:
    """The opening paragraph: what was checked and how it came out, from the counts."""
    rows = content.rows
    proved = sum(row.symbolic == "PROVED" for row in rows)
    tested = [row for row in rows if row.name in numeric_claims()]
    numeric_pass = sum(row.numeric == "PASS" for row in tested)
    holds = sum(row.passed for row in rows)
    counts = run_counts(content.data)
    runs = sum(counts.values())
    came = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    return (f"This report re-checks {PAPER}. {holds} of {len(rows)} claims hold: {proved} are derived by machine "
            f"from the models' definitions to the paper's equations (SymPy, every step checked, the chain required "
            f"to reach the equation), and {numeric_pass} of the {len(tested)} claims that have a numeric test pass "
            f"it on networks trained here ({runs} run{'' if runs == 1 else 's'}{f': {came}' if came else ''}; profile "
            f"'{content.data.profile}'). A numeric PASS needs three things: a round-off certificate that F = S at "
            f"every stationary point of the trained model, training that came at least as close to stationarity "
            f"as the paper reports, and a control run, violating the hypotheses, that shows the predicted "
            f"nonzero gap.")


def _cases(data: ReportData) -> list[dict]:
    return [case for g in data.groups if g.role == "criterion" for run in g.runs
            for case in run.summary.get("cases", []) or []]


def findings(content: ReportContent) -> list[str]:
    """Findings beyond the paper, each one sentence or two, with the measured numbers of this build."""
    data = content.data
    certified = [run.summary["certificate"] for g in data.groups for run in g.runs
                 if isinstance(run.summary.get("certificate"), dict)]
    worst = max((c.get("identity_error") or 0.0) / max(1.0, abs(c.get("elbo") or 1.0)) for c in certified) \
        if certified else None
    gap = ("The gap identity F - S = residual_decoder + 1/2 sum_h r_h holds at every parameter value, not only at "
           "convergence (claim gap, proved), and each residual is minus the slope of F along a variance-scaling "
           "orbit: the theorem is exactly 'the ELBO is stationary along these orbits', and the residuals say "
           "which variance has not converged"
           + (f" (certified on {len(certified)} trained networks to {worst:.0e} |F|)." if worst is not None else "."))
    criterion = ("The propositions need the model family to be closed under those scalings (claim criterion, "
                 "proved): a network variance sigma^2 = f(affine) is covered iff f lies in span{f', a f'}, so exp "
                 "and square heads are, softplus and sigmoid heads are not; a free variance is covered with any "
                 "link.")
    cases = {c.get("dec_link"): c for c in _cases(data)}
    authors = cases.get("softplus-std")
    if authors is not None:
        covered = cases.get("exp")
        twin = (f", where the exp link gives {abs(covered['gap']):.0e} at |grad F| = {covered['grad_norm']:.0e}"
                if covered else "")
        link = ("The authors' own verification code parametrises VAE-3's sigma(z) (and tau) as sigma = softplus(a), "
                "outside these hypotheses: trained to a stationary point (|grad F| = "
                f"{authors['grad_norm']:.0e}; affine VAE-3 on PCA-ring x 10), that link leaves F - S = "
                f"{authors['gap']:+.2e} nats, its decoder residual{twin} (numerics.criterion).")
    else:
        link = ("The authors' own verification code parametrises VAE-3's sigma(z) (and tau) as sigma = softplus(a), "
                "outside these hypotheses; its stationary gap was not measured in this build (no criterion run).")
    return [gap, criterion, link]


def hidden_hypotheses(data: ReportData) -> list[tuple[str, str, list[str]]]:
    """(key, sentence, claims using it) for every structural hypothesis the derivations needed, in order of
    first use; the paper states some of them only implicitly (the report says which claims need them)."""
    seen: dict[str, tuple[str, list[str]]] = {}
    for claim in data.claims():
        for detail in claim.get("hypothesis_details", []) or []:
            if detail.get("kind") != "structural":
                continue
            key = str(detail.get("key"))
            text, users = seen.setdefault(key, (str(detail.get("text", "")), []))
            users.append(str(claim.get("name")))
    return [(key, text, users) for key, (text, users) in seen.items()]


@dataclass
class Erratum:
    """One equation of the paper whose printed form does not hold, with its evidence."""

    eq: str
    claim: str
    status: str
    reason: str
    kind: str
    evidence: str
    printed: dict
    corrected: dict
    counterexample: dict | None


def errata(data: ReportData) -> list[Erratum]:
    """The errata claim's items (and any printed-wrong step elsewhere), each with its evidence."""
    out = []
    for claim in data.claims():
        for step in claim.get("steps", []) or []:
            if not (claim.get("name") == "errata" or step.get("status") == "PRINTED-WRONG" or step.get("printed")):
                continue
            justification = str(step.get("justification") or "")
            damaged = justification.startswith("erratum or transcription damage")
            reason = justification.split(": ", 1)[1] if ": " in justification else justification
            numeric = step.get("numeric") or {}
            error = numeric.get("max_rel_error")
            evidence = (f"printed form refuted by a counterexample (max. rel. error {error:.1e} over "
                        f"{numeric.get('points', '?')} points); " if isinstance(error, (int, float)) else
                        "printed form refuted by a counterexample; ") + \
                f"corrected form proved ({step.get('strategy') or step.get('detail') or 'by its chain'})"
            out.append(Erratum(eq=str(step.get("eq", "?")), claim=str(claim.get("name")),
                               status=str(step.get("status")), reason=reason,
                               kind="erratum or transcription damage (the source text is visibly damaged here)"
                               if damaged else "erratum of the paper", evidence=evidence,
                               printed=step.get("printed") or {}, corrected=step.get("corrected") or {},
                               counterexample=step.get("counterexample")))
    return out


def fmt(value: object, spec: str = ".2e") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def _run_row(group: RunGroup, run: RunRecord) -> tuple[str, ...]:
    summary = run.summary
    certificate = summary.get("certificate") or {}
    convergence = summary.get("convergence") or {}
    control = summary.get("control") or {}
    label = MODELS.get(run.model, ((), "", run.model))[2]
    name = f"{label} ({summary.get('protocol', group.protocol)}, seed {summary.get('seed', '?')})"
    return (name, verdict_word(run_status(run)),
            f"{fmt(certificate.get('worst_error'), '.1e')} / {fmt(certificate.get('tolerance'), '.1e')}",
            f"{fmt(convergence.get('rel_gap'), '.1e')} ({convergence.get('grade', '-')})",
            f"{fmt(control.get('gap'), '.3g')} / {fmt(control.get('predicted_gap'), '.3g')}" if control else "-",
            fmt(run.seconds if run.seconds is not None else summary.get("seconds"), ".0f"))


def run_rows(groups: list[RunGroup], limit: int = 12) -> list[tuple[str, ...]]:
    """One row per verification run (all of them) and per reproduction group (its first `limit` runs)."""
    rows = []
    for group in groups:
        if group.role == "verify":
            rows += [_run_row(group, run) for run in group.runs]
        elif group.role == "reproduce":
            rows += [_run_row(group, run) for run in group.runs[:limit]]
            if len(group.runs) > limit:
                statuses = [run_status(r) for r in group.runs]
                rows.append((f"{group.title}: {len(group.runs) - limit} more runs",
                             ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses))), "", "", "", ""))
    return rows


def criterion_rows(data: ReportData) -> list[tuple[str, ...]]:
    """One row per link of the criterion study: covered, |grad F|, the design's F - S, its bound, verdict."""
    return [(str(c.get("dec_link")), "yes" if c.get("covered") else "no", fmt(c.get("grad_norm"), ".1e"),
             fmt(c.get("gap"), "+.3e"), fmt(c.get("residual_decoder"), "+.3e"), fmt(c.get("bound"), ".1e"),
             verdict_word(str(c.get("status")))) for c in _cases(data)]


CRITERION_HEADERS = ("Decoder link", "Covered", "|grad F|", "F - S", "Decoder residual", "Bound |grad F| sum|v|",
                     "Check")


def other_errors(data: ReportData) -> list[str]:
    """Group errors (a run that could not be run or read), one line each."""
    return [f"{g.key}: {e}" for g in data.groups for e in g.errors]


def timing_rows(data: ReportData) -> list[tuple[str, str]]:
    """Wall time of each part of the build, and of each numeric group."""
    rows = [(part, f"{seconds:.1f} s") for part, seconds in data.timings.items()]
    if data.proofs and isinstance(data.proofs.get("seconds"), (int, float)):
        rows.append(("proofs: checking time as recorded by proofs", f"{data.proofs['seconds']:.1f} s"))
    for group in data.groups:
        times = [r.seconds for r in group.runs if isinstance(r.seconds, (int, float))]
        if times:
            rows.append((f"numerics: {group.key} ({len(times)} run{'' if len(times) == 1 else 's'}, summed)",
                         f"{sum(times):.1f} s"))
    return rows


def seeds_text(data: ReportData) -> str:
    """The seeds of every group, compactly."""
    parts = []
    for group in data.groups:
        seeds = sorted({r.summary.get("seed") for r in group.runs if isinstance(r.summary.get("seed"), int)})
        if seeds:
            shown = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 3 and seeds == list(range(seeds[0], seeds[-1] + 1)) \
                else ", ".join(map(str, seeds))
            parts.append(f"{group.key}: {shown}")
    return "; ".join(parts) or "-"


def shorten(text: str, limit: int) -> str:
    """``text`` with runs of white space collapsed, cut after ``limit`` characters with a note saying
    how long it is (the full text is in results.json)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text)} characters in results.json)"


def step_status_line(step: dict) -> str:
    """'by expand_log in 0.02 s' for one proof step (the verdict word is shown apart)."""
    parts = [f"by {step['strategy']}"] if step.get("strategy") else []
    if isinstance(step.get("seconds"), (int, float)):
        parts.append(f"in {step['seconds']:.2f} s")
    return " ".join(parts)


def failure_details(step: dict, limit: int = 400) -> list[str]:
    """Residual and counterexample of a failed (or printed-wrong) step, long residuals shortened."""
    lines = []
    label = "residual of the printed form" if step.get("status") == "PRINTED-WRONG" else "residual"
    if step.get("residual"):
        lines.append(f"{label}: {shorten(step['residual'], limit)}")
    if step.get("counterexample"):
        point = ", ".join(f"{k} = {v}" for k, v in dict(step["counterexample"]).items())
        lines.append(f"counterexample: {shorten(point, limit)}")
    return lines


def uses_text(claim: dict) -> str:
    """'uses prop1; lemmas: prop2/reparametrization, prop2/cancellation' ('' when neither)."""
    parts = []
    if claim.get("depends_on"):
        parts.append("uses " + ", ".join(map(str, claim["depends_on"])))
    lemmas = [str(lemma.get("name")) for lemma in claim.get("lemmas", []) or []]
    if lemmas:
        parts.append("lemmas: " + ", ".join(lemmas))
    return "; ".join(parts)
