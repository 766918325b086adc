"""Per-claim verdicts from fixture results: every corruption of a result turns its claim FAILED."""

from __future__ import annotations

import json

import pytest

from reports.collect import ReportData, group_runs, load_proofs_file
from reports.content import run_rows
from reports.rundirs import find_runs
from reports.verdicts import claim_rows, overall_passed, run_failures
from tests.reports.conftest import CLAIMS, write_run


def verdicts(runs_root, proofs_file) -> tuple[dict, bool, ReportData]:
    data = ReportData(profile="test", proofs=load_proofs_file(proofs_file), proofs_error=None,
                      groups=group_runs(find_runs(runs_root)))
    rows = claim_rows(data)
    return {row.name: (row.symbolic, row.numeric) for row in rows}, overall_passed(rows, data), data


def test_clean_fixture_passes(runs_root, proofs_file):
    table, passed, _ = verdicts(runs_root, proofs_file)
    assert passed and list(table) == list(CLAIMS)
    assert table["prop3"] == ("PROVED", "PASS") and table["cor2"] == ("PROVED", "n/a")
    assert table["corA1"] == ("PROVED", "PASS")  # linear's claim "cor1/corA1" covers both


@pytest.mark.parametrize("corruption, claim", [("run", "prop3"), ("control", "prop3"), ("check", "gap")])
def test_corrupted_numeric_result_fails_its_claim(runs_root, proofs_file, corruption, claim):
    path = runs_root / "verify-vae3" / "summary.json"
    summary = json.loads(path.read_text())
    if corruption == "run":
        summary["status"] = "FAIL"
    elif corruption == "control":
        summary["control"]["status"] = "FAIL"
    else:
        summary["checks"][0]["status"] = "FAIL"
    path.write_text(json.dumps(summary))
    table, passed, _ = verdicts(runs_root, proofs_file)
    assert not passed
    assert table[claim][1] == "FAILED"
    assert table["prop1"] == ("PROVED", "PASS")


def test_missing_or_unproved_claim_fails(runs_root, proofs_file):
    proofs = json.loads(proofs_file.read_text())
    proofs["claims"] = [c for c in proofs["claims"] if c["name"] != "gap"]
    proofs["claims"][0]["status"] = "NUMERIC-ONLY"
    proofs_file.write_text(json.dumps(proofs))
    table, passed, _ = verdicts(runs_root, proofs_file)
    assert not passed and table["gap"][0] == "MISSING" and table["prop1"][0] == "NUMERIC-ONLY"


def test_a_failed_paper_protocol_run_is_a_failure_of_the_report(runs_root, proofs_file):
    """Issue 16: a run given with --runs that failed counts, whatever its protocol."""
    write_run(runs_root / "fig1c" / "seed009", "vae3", seed=9, protocol="paper", status="FAIL", with_control=False)
    table, passed, data = verdicts(runs_root, proofs_file)
    assert not passed and table["prop3"] == ("PROVED", "FAILED")
    assert any("seed009 status FAIL" in line for line in run_failures(data))
    paper = [row for row in run_rows(data.groups) if "(paper, seed 9)" in row[0]]
    assert paper and paper[0][1] == "FAILED"  # ... and it is shown


def test_a_criterion_study_counts_for_its_claim(runs_root, proofs_file):
    """The criterion claim has a numeric test (numerics.criterion): a failed study fails it, none is MISSING."""
    table, passed, _ = verdicts(runs_root, proofs_file)
    assert passed and table["criterion"] == ("PROVED", "PASS")
    summary_path = runs_root / "criterion" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["status"] = "FAIL"
    summary_path.write_text(json.dumps(summary))
    table, passed, _ = verdicts(runs_root, proofs_file)
    assert not passed and table["criterion"][1] == "FAILED"
    summary_path.unlink()
    table, passed, _ = verdicts(runs_root, proofs_file)
    assert not passed and table["criterion"][1] == "MISSING"


def test_a_pass_without_a_control_run_does_not_make_a_claim_pass(runs_root, proofs_file):
    """PASS needs the control detected: a --no-control run (or a sweep member) is shown, not counted."""
    path = runs_root / "verify-vae3" / "summary.json"
    summary = json.loads(path.read_text())
    summary.pop("control")
    path.write_text(json.dumps(summary))
    table, passed, data = verdicts(runs_root, proofs_file)
    assert not passed and table["prop3"] == ("PROVED", "MISSING")
    row = next(r for r in claim_rows(data) if r.name == "prop3")
    assert any("without a control run" in e.detail and not e.counts for e in row.evidence)
