"""Build reports from fixture results and check their structure, verdicts and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reports.build import main
from tests.reports.conftest import CLAIMS, write_run

FIGURES = ("fig_training.png", "fig_decomposition.png", "fig_control.png", "fig3_latents.png",
           "fig_dependency_graph.png")


def pdf_pages(path: Path) -> int:
    """Number of page objects in a PDF written by fpdf2 (no object streams)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", path.read_bytes()))


def build(tmp_path: Path, runs: Path, proofs: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    return main(["--out", str(out), "--runs", str(runs), "--proofs", str(proofs), *extra]), out


def summary_row(markdown: str, claim: str) -> str:
    """The claim's row of the answer table (section 1)."""
    rows = [line for line in markdown.split("## 2 ")[0].splitlines() if line.startswith(f"| {claim}: ")]
    assert rows, f"no answer row for {claim}"
    return rows[0]


def opening_of(markdown: str) -> str:
    """The verdict line and opening paragraph above the answer table."""
    return markdown.split("## 1 The answer", 1)[0]


def test_report_has_every_claim_figures_and_pages(tmp_path, runs_root, proofs_file):
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 0
    markdown = (out / "report.md").read_text()
    assert opening_of(markdown).count("**VERIFIED.**") == 1
    for claim in CLAIMS:
        row = summary_row(markdown, claim)
        assert "PROVED" in row and row.rstrip(" |").endswith("HOLDS") and "FAILED" not in row
    assert "identity and 3 orbit slopes exact" in summary_row(markdown, "prop3")
    assert "rel. gap" in summary_row(markdown, "prop3") and "predicted" in summary_row(markdown, "prop3")
    assert summary_row(markdown, "cor2").split(" | ")[2:5] == ["-", "-", "-"]  # no numeric test for Corollary 2
    assert "softplus-std link" in summary_row(markdown, "criterion")
    assert "axioms: lucas" in summary_row(markdown, "corA1")
    findings = markdown.split("**Findings beyond the paper.**", 1)[1].split("\n", 1)[0]
    assert "F - S = +5.40e-04 nats" in findings  # the criterion study's measured number, not a hard-coded one
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
        assert f"]({name})" in markdown  # relative image link
    section = markdown.split("`prop3`:", 1)[1].split("\n### ", 1)[0]
    assert "The chain:" in section and "It must reach" in section and "*by expand_log*, Eq. 21" in section
    assert "`stationary-sigma2`" in section and "Derived from the chain's F: `Q = D*sigma^2`" in section
    assert "   ```math\n   = \\frac{D}{2} r_\\sigma" in section
    assert "Printed:" in markdown and "Corrected:" in markdown and "erratum of the paper" in markdown
    assert "`first-layer-linear` (needed by" in markdown  # what the paper needs but does not state
    assert "## Appendix A: every step" in markdown and "prop3/lemma" in markdown
    assert "over 1 run" not in markdown and "the run's own curve" in markdown
    pdf = out / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf_pages(pdf) >= 5
    results = json.loads((out / "results.json").read_text())
    assert [c["name"] for c in results["proofs"]["claims"]] == list(CLAIMS)
    assert results["provenance"]["versions"]["python"]


def test_the_answer_table_is_generated_from_results_json(tmp_path, runs_root, proofs_file):
    """Page 1's table is a function of results.json alone: rebuilt from it, it is the table the report shows."""
    from reports.answer import answer_rows
    from reports.collect import ReportData
    from reports.markdown import _cell
    from reports.verdicts import claim_rows

    code, out = build(tmp_path, runs_root, proofs_file)
    results = json.loads((out / "results.json").read_text())
    data = ReportData.from_dict(results)
    rebuilt = answer_rows(data, claim_rows(data))
    markdown = (out / "report.md").read_text()
    assert code == 0 and len(rebuilt) == len(CLAIMS)
    for row in rebuilt:
        shown = summary_row(markdown, row.claim)
        assert all(_cell(text) in shown for text in row.texts())
    results["groups"] = [g for g in results["groups"] if g["role"] != "criterion"]  # twin: other results, other table
    other = answer_rows(ReportData.from_dict(results), claim_rows(ReportData.from_dict(results)))
    assert next(r for r in other if r.claim == "criterion").certificate.text == "-"


def test_a_figure_whose_data_are_missing_fails_the_build_with_one_line(tmp_path, runs_root, proofs_file, capsys):
    (runs_root / "verify-vae3" / "metrics.jsonl").unlink()
    code, out = build(tmp_path, runs_root, proofs_file)
    err = capsys.readouterr().err
    assert code == 1
    line = next(line for line in err.splitlines() if "fig_training.png" in line)
    assert "verify-vae3" in line and "metrics" in line
    assert "NOT VERIFIED" in opening_of((out / "report.md").read_text())


def test_five_seeds_are_drawn_as_a_median_and_band_and_fewer_as_curves(tmp_path, runs_root, proofs_file):
    for seed in range(1, 5):
        write_run(runs_root / f"verify-vae3-{seed}", "vae3", seed=seed)
    code, out = build(tmp_path, runs_root, proofs_file)
    markdown = (out / "report.md").read_text()
    assert code == 0
    assert "VAE-3 on PCA-ring data: median and interquartile range of 5 runs" in markdown
    assert "VAE-2 on p-PCA data: the run's own curve" in markdown


def test_failed_claim_and_failed_run_show_failed_and_exit_1(tmp_path, runs_root, proofs_file):
    proofs = json.loads(proofs_file.read_text())
    claim = next(c for c in proofs["claims"] if c["name"] == "prop3")
    claim["status"] = "FAILED"
    claim["steps"][1].update(status="FAILED", strategy=None, residual="D*r_sigma/2",
                             counterexample={"D": 2, "r_sigma": 0.3})
    proofs_file.write_text(json.dumps(proofs))
    path = runs_root / "verify-vae1" / "summary.json"
    summary = json.loads(path.read_text())
    summary["status"] = "FAIL"  # and a failed numeric run of VAE-1 (Prop. 2)
    path.write_text(json.dumps(summary))
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 1
    markdown = (out / "report.md").read_text()
    assert "FAILED" in summary_row(markdown, "prop3")
    assert "PROVED" in summary_row(markdown, "prop2") and summary_row(markdown, "prop2").rstrip(" |").endswith(
        "FAILED ⚠")  # proved, but its numeric check failed
    assert "FAILED" not in summary_row(markdown, "prop1")
    assert "counterexample: D = 2, r_sigma = 0.3" in markdown
    assert "FAILED: prop3: symbolic verdict FAILED" in markdown
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("argv, message", [
    (["--profile", "fast"], "valid profiles: quick, full"),
    (["--runs", "/nonexistent/runs"], "no such file or directory"),
    (["--proofs", "/nonexistent.json"], "no such file or directory"),
    (["--paper-runs", "3"], "--paper-runs applies only to --profile full"),
    (["--profile", "full", "--paper-epochs", "0"], "--paper-epochs must be >= 1"),
    (["--profile", "full", "--paper-runs", "abc"], "invalid int value: 'abc'"),  # argparse's own errors
    (["--device", "foo"], "invalid choice: 'foo'"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, argv, message):
    try:
        code = main(["--out", str(tmp_path / "out"), *argv])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_runs_folder_without_runs_exits_2(tmp_path, capsys, proofs_file):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--out", str(tmp_path / "out"), "--runs", str(empty), "--proofs", str(proofs_file)]) == 2
    assert "no run directory" in capsys.readouterr().err


def test_bad_proofs_file_exits_2(tmp_path, capsys, runs_root):
    bad = tmp_path / "proofs.json"
    bad.write_text("{not json")
    assert main(["--out", str(tmp_path / "out"), "--runs", str(runs_root), "--proofs", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_paper_variants_are_grouped_by_batch_size_and_learning_rate(tmp_path, runs_root):
    from reports.collect import group_runs
    from reports.rundirs import find_runs

    for seed, batch, lr in ((0, 100, 1e-3), (1, 100, 1e-3), (0, 2000, 5e-3)):
        path = write_run(tmp_path / "v" / f"b{batch}-lr{lr}-{seed}", "vae3", seed=seed, protocol="paper",
                         with_control=False)
        config = json.loads((path / "config.json").read_text())
        config["protocol_spec"] = {"phases": [{"kind": "adam", "batch_size": batch, "lr": lr}]}
        (path / "config.json").write_text(json.dumps(config))
    groups = {g.variant: len(g.runs) for g in group_runs(find_runs(tmp_path / "v"))}
    assert groups == {"batch 100": 2, "lr 0.005": 1}


# ---------------------------------------------------------------- issue 16, item 1: only what was checked

@pytest.fixture
def text_only(monkeypatch):
    """Builds without figures and PDF (tested above): these tests read the verdict, report.md and stderr."""
    import reports.build as build_module
    monkeypatch.setattr(build_module, "make_figures", lambda data, out: ([], None, [], []))
    monkeypatch.setattr(build_module, "render_pdf", lambda content, out, path: None)


def _edit_summary(path: Path, **changes) -> None:
    summary = json.loads((path / "summary.json").read_text())
    for key, value in changes.items():
        if value is None:
            summary.pop(key, None)
        else:
            summary[key] = value
    (path / "summary.json").write_text(json.dumps(summary))


def _only(runs_root: Path, keep: str) -> None:
    """Delete every fixture run directory except `keep` (a model) and the paper runs."""
    import shutil
    for model in ("linear", "vae1", "vae2", "vae3"):
        if model != keep:
            shutil.rmtree(runs_root / f"verify-{model}")


def _all_failed(root: Path) -> None:
    for path in root.rglob("summary.json"):
        if path.parent.name != "control":
            _edit_summary(path.parent, status="FAIL", reason="check certificate-orbits failed: 1e-3 vs 2e-9")


def _diverged(root: Path) -> None:
    _edit_summary(root / "verify-vae3", status="FAIL", certificate=None, convergence=None, checks=[],
                  reason="training diverged: vae3/fast: training diverged at step 12", error="diverged at step 12")


def _paper_run_failed(root: Path) -> None:
    write_run(root / "fig1c" / "seed009", "vae3", seed=9, protocol="paper", status="FAIL", with_control=False)


def _sweep_member_diverged(root: Path) -> None:
    path = write_run(root / "sweep" / "run-seed0004", "vae3", seed=4, protocol="paper", with_control=False)
    message = "run-seed0004: training diverged at step 3"
    _edit_summary(path, status="FAIL", message=message, reason=message, certificate=None)


def _not_converged(root: Path) -> None:
    _edit_summary(root / "verify-vae3", status="NOT-CONVERGED", reason="certificate holds, rel_gap 2e-2")
    for path in (root / "fig1c").glob("seed*"):
        _edit_summary(path, status="NOT-CONVERGED")


def _not_covered(root: Path) -> None:
    _edit_summary(root / "verify-vae1", status="NOT-COVERED", reason="the proposition's hypotheses do not hold")


def _no_certificate(root: Path) -> None:
    for path in root.rglob("summary.json"):
        if path.parent.name != "control":
            _edit_summary(path.parent, certificate=None)


def _one_model_only(root: Path) -> None:
    _only(root, "vae3")


@pytest.mark.parametrize("corrupt, claim, says", [
    (_all_failed, None, "status FAIL: check certificate-orbits failed"),
    (_diverged, "prop3", "training diverged"),
    (_paper_run_failed, "prop3", "fig1c/seed009 status FAIL"),
    (_sweep_member_diverged, "prop3", "run-seed0004 status FAIL: run-seed0004: training diverged"),
    (_not_converged, "prop3", "prop3: no passing numeric check (its runs: NOT-CONVERGED)"),
    (_not_covered, "prop2", "prop2: no passing numeric check (its runs: NOT-COVERED)"),
    (_no_certificate, None, "no passing numeric check (its runs: NOT COUNTED)"),
    (_one_model_only, "prop1", "prop1: no passing numeric check (no run checks it)"),
])
def test_every_kind_of_failed_input_exits_1_with_a_report_that_says_why(tmp_path, runs_root, proofs_file, capsys,
                                                                         text_only, corrupt, claim, says):
    corrupt(runs_root)
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 1
    markdown = (out / "report.md").read_text()
    assert "- FAILED: " in markdown and says in markdown, markdown.split("## 2 ")[0]
    assert says in capsys.readouterr().err
    assert "NOT VERIFIED" in opening_of(markdown) and "**VERIFIED.**" not in opening_of(markdown)
    if claim is not None:
        assert not summary_row(markdown, claim).rstrip(" |").endswith("HOLDS")


def test_the_opening_sentence_counts_claims_and_runs(tmp_path, runs_root, proofs_file, text_only):
    code, out = build(tmp_path, runs_root, proofs_file)
    opening = opening_of((out / "report.md").read_text())
    assert code == 0 and "(8 runs: 8 PASS;" in opening
    assert "9 of 9 claims hold: 9 are derived" in opening and "7 of the 7 claims that have a numeric test" in opening
    _only(runs_root, "vae3")   # twin: fewer runs, fewer claims with a passing run, and the sentence says so
    code, out = build(tmp_path, runs_root, proofs_file)
    opening = opening_of((out / "report.md").read_text())
    assert code == 1 and "(5 runs: 5 PASS;" in opening and "3 of the 7 claims that have a numeric test" in opening
