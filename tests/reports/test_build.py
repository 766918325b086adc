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
    pdf = out / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf_pages(pdf) >= 5
    results = json.loads((out / "results.json").read_text())
    assert [c["name"] for c in results["proofs"]["claims"]] == list(CLAIMS)
    assert results["provenance"]["versions"]["python"]


def test_failed_claim_shows_failed_and_exits_1(tmp_path, runs_root, proofs_file):
    proofs = json.loads(proofs_file.read_text())
    claim = next(c for c in proofs["claims"] if c["name"] == "prop3")
    claim["status"] = "FAILED"
    claim["steps"][1].update(status="FAILED", strategy=None, residual="D*r_sigma/2",
                             counterexample={"D": 2, "r_sigma": 0.3})
    proofs_file.write_text(json.dumps(proofs))
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 1
    markdown = (out / "report.md").read_text()
    assert "FAILED" in summary_row(markdown, "prop3")
    assert "FAILED" not in summary_row(markdown, "prop1")
    assert "counterexample: D = 2, r_sigma = 0.3" in markdown
    assert "FAILED: prop3: symbolic verdict FAILED" in markdown
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_missing_claim_is_a_failure(tmp_path, runs_root, proofs_file):
    proofs = json.loads(proofs_file.read_text())
    proofs["claims"] = [c for c in proofs["claims"] if c["name"] != "gap"]
    proofs_file.write_text(json.dumps(proofs))
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 1
    assert "MISSING" in summary_row((out / "report.md").read_text(), "gap")


@pytest.mark.parametrize("corruption", ["run", "control", "check"])
def test_failed_numeric_check_shows_failed_and_exits_1(tmp_path, runs_root, proofs_file, corruption):
    path = runs_root / "verify-vae3" / "summary.json"
    summary = json.loads(path.read_text())
    if corruption == "run":
        summary["status"] = "FAIL"
    elif corruption == "control":
        summary["control"]["status"] = "FAIL"
    else:
        summary["checks"][0]["status"] = "FAIL"
    path.write_text(json.dumps(summary))
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 1
    markdown = (out / "report.md").read_text()
    claim = "gap" if corruption == "check" else "prop3"
    assert "FAILED" in summary_row(markdown, claim)
    assert "FAILED" not in summary_row(markdown, "prop1")


def test_paper_protocol_runs_are_statistics_not_verdicts(tmp_path, runs_root, proofs_file):
    write_run(runs_root / "fig1c" / "seed009", "vae3", seed=9, protocol="paper", status="FAIL", with_control=False)
    code, out = build(tmp_path, runs_root, proofs_file)
    assert code == 0
    assert "3/4" in (out / "report.md").read_text()  # the failed reproduction run is counted and shown


@pytest.mark.parametrize("argv, message", [
    (["--profile", "fast"], "valid profiles: quick, full"),
    (["--runs", "/nonexistent/runs"], "no such file or directory"),
    (["--proofs", "/nonexistent.json"], "no such file or directory"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["--out", str(tmp_path / "out"), *argv]) == 2
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
