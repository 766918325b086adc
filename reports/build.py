"""``python -m reports.build``: one command that builds the Markdown + PDF verification report.

It runs ``proofs`` and the numeric runs of a profile as child processes, several at a time
(`reports.jobs`; or reads finished run directories given with ``--runs`` and a saved proofs JSON
given with ``--proofs``), then writes ``report.md``, ``report.pdf``, the figures and ``results.json``
into ``--out``. Exit code 0 (VERIFIED) only when every claim is PROVED, every claim with a numeric
test has a passing run (status PASS: certificate, control, convergence at least paper-level), no run
of any protocol failed or diverged and every figure could be drawn from its runs; 1 otherwise, with
every reason listed on stderr and in the report; 2 for a usage error; 130 when interrupted (run the
same command again to resume: finished runs are reused).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from reports.collect import ReportData, collect
from reports.content import ReportContent
from reports.figures import (Figure, FigureDataError, fig2_variants, fig3_latents, fig_control, fig_decomposition,
                             fig_dependency_graph, fig_stream, fig_training, verification_panels)
from reports.markdown import render_markdown
from reports.pdf import render_pdf
from reports.profiles import MODELS, PROFILES
from reports.provenance import provenance
from reports.rundirs import RunDirError
from reports.verdicts import claim_rows

ANSWER_KEYS = ("symbolic", "certificate", "convergence", "control", "verdict")

DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else ""
EPILOG = """profiles:
  quick  (default) all proofs + one fast-protocol verification run per model (linear and VAE-2 on
         p-PCA, VAE-1 on the MNIST subset, VAE-3 on PCA-ring), each with its control run, and the
         criterion study (stationary gap of the exp and the authors' softplus-std links).
  full   quick + the paper's experiments with the paper's protocol: 10 runs for Fig. 1(a) and 1(b),
         100 runs for Fig. 1(c) and for each Fig. 2 variant (batch size 100, learning rate 5e-3),
         and the authors' streaming model-selection experiment.
         Resumable: rerun the same command and finished runs (summary.json present) are reused.
         Meant for a GPU: on a 2-core CPU the paper's counts would take about two days (paper
         protocol, one run, one epoch: VAE-3 1.7 s, VAE-1 0.5 s, linear 0.08 s; 300 VAE-3 runs of
         300 epochs). --paper-runs N --paper-epochs N scale it down (titles say so).

examples:
  python -m reports.build --out report
  python -m reports.build --out report-5 --seeds 5          # medians and IQRs over 5 seeds per model
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
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="verification runs per model, seeds 0..N-1 (default 1; with 5 or more the figures "
                             "draw medians and interquartile ranges)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                        help="runs (child processes, one thread each) at a time (default: min(2, CPU cores))")
    parser.add_argument("--json", action="store_true", help="print the per-claim verdicts as JSON on stdout")
    return parser.parse_args(argv)


def make_figures(data: ReportData, out: Path) -> tuple[list[Figure], Figure | None, list[str], list[str]]:
    """Draw every figure the data support: (figures, the dependency graph, notes on figures the profile
    does not include, errors for figures whose runs lack the data they draw)."""
    from reports.latents import latent_states

    figures: list[Figure] = []
    notes: list[str] = []
    errors: list[str] = []
    for name, draw in (("fig_training.png", fig_training), ("fig_decomposition.png", fig_decomposition),
                       ("fig_control.png", fig_control), ("fig2_variants.png", fig2_variants)):
        try:
            figure = draw(data.groups, out / name)
        except FigureDataError as error:
            errors.append(f"figure {name} cannot be drawn: {error}")
            continue
        if figure is not None:
            figures.append(figure)
        elif name == "fig2_variants.png":
            notes.append("Fig. 2 (batch-size and learning-rate variants) is drawn only by the full profile "
                         "(paper-protocol VAE-3 runs).")
    panels = [(MODELS.get(g.model, ((), "", g.model))[2], g.runs[0].path) for g in verification_panels(data.groups)]
    states, state_errors = latent_states(panels)
    errors += state_errors
    figure = fig3_latents(states, out / "fig3_latents.png")
    if figure is not None:
        figures.append(figure)
    stream = fig_stream(data.groups)
    if stream is not None:
        stream.file = str(Path(stream.file).resolve().relative_to(out.resolve())) \
            if Path(stream.file).resolve().is_relative_to(out.resolve()) else stream.file
        figures.append(stream)
    graph = fig_dependency_graph(data.proofs, out / "fig_dependency_graph.png")
    return figures, graph, notes, errors


def build(args: argparse.Namespace, command: str) -> ReportContent:
    """Collect, draw and render; return the content (whose ``passed`` decides the exit code)."""
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = collect(args.profile, args.out, device=args.device, runs_dirs=args.runs, proofs_file=args.proofs,
                   rerun=args.rerun, paper_runs=args.paper_runs, paper_epochs=args.paper_epochs, seeds=args.seeds,
                   workers=args.jobs)
    data.provenance = provenance(command)
    t0 = time.perf_counter()
    figures, graph, notes, errors = make_figures(data, args.out)
    data.timings["figures"] = time.perf_counter() - t0
    content = ReportContent(data=data, rows=claim_rows(data), figures=figures, graph=graph, notes=notes,
                            figure_errors=errors)
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
    for name, top in (("seeds", 100), ("jobs", 64)):
        if not 1 <= getattr(args, name) <= top:
            print(f"error: --{name} {getattr(args, name)} out of range 1 to {top}", file=sys.stderr)
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
    except KeyboardInterrupt:
        print(f"interrupted; run the same command again to resume (finished runs in {args.out / 'runs'} are "
              f"reused)", file=sys.stderr)
        return 130
    except RunDirError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write the report to {args.out}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"passed": content.passed, "failures": content.failures(),
                          "claims": [{"name": row.claim, **{key: {"text": cell.text, "status": cell.status}
                                                            for key, cell in zip(ANSWER_KEYS, row.cells()[1:])}}
                                     for row in content.answer]}, indent=1))
    print(f"{'VERIFIED' if content.passed else 'FAILED'}: wrote {args.out / 'report.md'} and "
          f"{args.out / 'report.pdf'}", file=sys.stderr)
    for line in content.failures():
        print(f"  FAILED: {line}", file=sys.stderr)
    return 0 if content.passed else 1


if __name__ == "__main__":
    sys.exit(main())
