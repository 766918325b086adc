"""``python -m reports.build``: one command that builds the Markdown + PDF verification report.

It runs ``proofs`` and ``numerics`` through their public APIs (or reads finished run directories
given with ``--runs`` and a saved proofs JSON given with ``--proofs``), then writes ``report.md``,
``report.pdf``, the figures and ``results.json`` into ``--out``. Exit code 0 (VERIFIED) only when
every claim is PROVED, every claim with a numeric test has a passing run (status PASS: certificate,
control, convergence at least paper-level) and no run of any protocol failed or diverged; 1
otherwise, with every reason listed on stderr and in the report; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from reports.collect import ReportData, collect
from reports.content import ReportContent
from reports.figures import (Figure, fig1_training, fig2_variants, fig3_latents, fig_control, fig_gap_identity,
                             verification_panels)
from reports.markdown import render_markdown
from reports.pdf import render_pdf
from reports.profiles import MODELS, PROFILES
from reports.provenance import provenance
from reports.rundirs import RunDirError
from reports.verdicts import claim_rows

DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else ""
EPILOG = """profiles:
  quick  (default) all proofs + one fast-protocol verification run per model (linear and VAE-2 on
         p-PCA, VAE-1 on the MNIST subset, VAE-3 on PCA-ring), each with its control run.
  full   quick + the paper's experiments with the paper's protocol: 10 runs for Fig. 1(a) and 1(b),
         100 runs for Fig. 1(c) and for each Fig. 2 variant (batch size 100, learning rate 5e-3).
         Resumable: rerun the same command and finished runs (summary.json present) are reused.
         Meant for a GPU: on a 2-core CPU the paper's counts would take about two days (paper
         protocol, one run, one epoch: VAE-3 1.7 s, VAE-1 0.5 s, linear 0.08 s; 300 VAE-3 runs of
         300 epochs). --paper-runs N --paper-epochs N scale it down (titles say so).

examples:
  python -m reports.build --out report
  python -m reports.build --out report-full --profile full --device cuda
  python -m reports.build --out report-small --profile full --paper-runs 3 --paper-epochs 40
  python -m reports.build --out r2 --runs report/runs --proofs proofs.json
"""


class _OneLineParser(argparse.ArgumentParser):
    """Errors are one line on stderr (no usage block) and exit 2, like the other CLIs of the kit."""

    def error(self, message: str) -> None:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(prog="python -m reports.build", description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("report"),
                        help="output folder for report.md, report.pdf, figures, results.json (default: report)")
    parser.add_argument("--profile", default="quick", help=f"one of: {', '.join(PROFILES)} (default: quick)")
    parser.add_argument("--runs", type=Path, nargs="+", metavar="DIR",
                        help="read finished run directories (or folders holding them) instead of training")
    parser.add_argument("--proofs", type=Path, metavar="JSON",
                        help="read a saved `python -m proofs.check all --json` output instead of running proofs")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="device for the numeric runs (default: auto)")
    parser.add_argument("--rerun", action="store_true",
                        help="repeat numeric runs even where a finished run directory exists")
    parser.add_argument("--paper-runs", type=int, metavar="N",
                        help="full profile: at most N runs per reproduction group (the paper: 10 or 100)")
    parser.add_argument("--paper-epochs", type=int, metavar="N",
                        help="full profile: N epochs per reproduction run (default: numerics.protocols' paper epochs)")
    parser.add_argument("--json", action="store_true", help="print the per-claim verdicts as JSON on stdout")
    return parser.parse_args(argv)


def make_figures(data: ReportData, out: Path) -> tuple[list[Figure], list[str]]:
    """Draw every figure the data supports; return them and notes on the ones that were not drawn."""
    from reports.latents import latent_states

    figures: list[Figure] = []
    notes: list[str] = []
    for name, draw in (("fig1_training.png", fig1_training), ("fig2_variants.png", fig2_variants),
                       ("fig_gap_identity.png", fig_gap_identity), ("fig_control.png", fig_control)):
        figure = draw(data.groups, out / name)
        if figure is not None:
            figures.append(figure)
        elif name == "fig2_variants.png":
            notes.append("Fig. 2 (batch-size and learning-rate variants) not drawn: it needs the paper-protocol "
                         "VAE-3 runs of the full profile.")
        else:
            notes.append(f"{name} not drawn: no run with the metrics it needs.")
    panels = [(MODELS.get(g.model, ((), "", g.model))[2], run.path) for g, run in verification_panels(data.groups)]
    states, state_notes = latent_states(panels)
    figure = fig3_latents(states, out / "fig3_latents.png")
    if figure is not None:
        figures.insert(2 if len(figures) > 2 else len(figures), figure)
    notes += state_notes
    return figures, notes


def build(args: argparse.Namespace, command: str) -> ReportContent:
    """Collect, draw and render; return the content (whose ``passed`` decides the exit code)."""
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = collect(args.profile, args.out, device=args.device, runs_dirs=args.runs, proofs_file=args.proofs,
                   rerun=args.rerun, paper_runs=args.paper_runs, paper_epochs=args.paper_epochs)
    data.provenance = provenance(command)
    t0 = time.perf_counter()
    figures, notes = make_figures(data, args.out)
    data.timings["figures"] = time.perf_counter() - t0
    content = ReportContent(data=data, rows=claim_rows(data), figures=figures, notes=notes)
    data.timings["total up to rendering"] = time.perf_counter() - started
    (args.out / "report.md").write_text(render_markdown(content))
    render_pdf(content, args.out, args.out / "report.pdf")
    data.save(args.out / "results.json")
    return content


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 VERIFIED, 1 not verified (a claim unproved, a claim without a passing run, a
    run failed), 2 usage error."""
    args = parse_args(argv)
    if args.profile not in PROFILES:
        print(f"error: unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}", file=sys.stderr)
        return 2
    for name in ("paper_runs", "paper_epochs"):
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if value is not None and args.profile != "full":
            print(f"error: {flag} applies only to --profile full", file=sys.stderr)
            return 2
        if value is not None and value < 1:
            print(f"error: {flag} must be >= 1", file=sys.stderr)
            return 2
    for path in ([args.proofs] if args.proofs else []) + list(args.runs or []):
        if not path.exists():
            print(f"error: {path}: no such file or directory", file=sys.stderr)
            return 2
    command = "python -m reports.build " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                              else sys.argv[1:]))
    try:
        content = build(args, command)
    except RunDirError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write the report to {args.out}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"passed": content.passed, "failures": content.failures(),
                          "claims": [{"name": r.name, "symbolic": r.symbolic, "numeric": r.numeric,
                                      "gap": r.gap_text} for r in content.rows]}, indent=1))
    print(f"{'VERIFIED' if content.passed else 'FAILED'}: wrote {args.out / 'report.md'} and "
          f"{args.out / 'report.pdf'}", file=sys.stderr)
    for line in content.failures():
        print(f"  FAILED: {line}", file=sys.stderr)
    return 0 if content.passed else 1


if __name__ == "__main__":
    sys.exit(main())
