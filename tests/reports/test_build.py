"""Build reports from fixture results and check their structure, verdicts and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reports.build import main
from tests.reports.conftest import CLAIMS, write_run

FIGURES = ("fig1_training.png", "fig_gap_identity.png", "fig_control.png")


def pdf_pages(path: Path) -> int:
    """Number of page objects in a PDF written by fpdf2 (no object streams)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", path.read_bytes()))


def build(tmp_path: Path, runs: Path, proofs: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    return main(["--out", str(out), "--runs", str(runs), "--proofs", str(proofs), *extra]), out


def summary_row(markdown: str, claim: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {claim} |")]
    assert rows, f"no summary row for {claim}"
    return rows[0]


def test_report_has_every_claim_figures_and_pages(tmp_path, runs_root, proofs_file):
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 0
    markdown = (out / "report.md").read_text()
    for claim in CLAIMS:
        row = summary_row(markdown, claim)
        assert "PROVED" in row and "FAILED" not in row
    assert "**PASS**" in summary_row(markdown, "prop3") or "PASS" in summary_row(markdown, "prop3")
    assert "n/a" in summary_row(markdown, "cor2")  # no numeric test for Corollary 2
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
        assert f"]({name})" in markdown  # relative image link
    assert "```math" in markdown and "Printed:" in markdown and "Corrected:" in markdown
    section = markdown.split("`prop3`:", 1)[1].split("###", 1)[0]
    assert "**Statement.**" in section and r"\log\tau_h^2" in section
    pdf = out / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf_pages(pdf) >= 5
    results = json.loads((out / "results.json").read_text())
    assert [c["name"] for c in results["proofs"]["claims"]] == list(CLAIMS)
    assert results["provenance"]["versions"]["python"]


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
    assert summary_row(markdown, "prop2").count("FAILED") == 1  # proved, but its numeric check failed
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
