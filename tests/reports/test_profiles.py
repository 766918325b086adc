"""The build's profiles run the kit's commands as child processes (here: the fakes of tests.reports.fake_cli),
several at a time, reuse finished runs on a rebuild, and report a run that failed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reports import jobs
from reports.build import main
from reports.collect import ReportData, run_profile
from reports.profiles import MODELS, profile_groups
from reports.verdicts import run_failures


@pytest.fixture
def fakes(monkeypatch, tmp_path) -> Path:
    """Route every job to its fake; returns the file the fakes record their calls in."""
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    for kind in ("verify", "sweep", "criterion", "proofs"):
        monkeypatch.setitem(jobs.MODULES, kind, f"tests.reports.fake_cli.{kind}")
    monkeypatch.setitem(jobs.MODULES, "sleep", "tests.reports.fake_cli.sleep")
    return calls


def calls_of(path: Path, kind: str | None = None) -> list[list[str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [row["argv"] for row in rows if kind is None or row["kind"] == kind]


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_quick_profile_runs_each_model_once_then_reuses(tmp_path, fakes, monkeypatch):
    monkeypatch.setenv("FAKE_CHECKPOINT", "1")  # the build draws Fig. 3 from the runs' models
    out = tmp_path / "out"
    assert main(["--out", str(out), "--device", "cpu", "--jobs", "2"]) == 0
    verify = calls_of(fakes, "verify")
    assert sorted(flag(a, "--model") for a in verify) == sorted(MODELS)
    assert all(flag(a, "--protocol") == "fast" and flag(a, "--device") == "cpu" and "--resume" not in a for a in verify)
    assert len(calls_of(fakes, "criterion")) == 1 and calls_of(fakes, "proofs") == [["all", "--json"]]
    assert (out / "runs" / "verify-vae3" / "seed000" / "summary.json").exists()
    assert (out / "logs" / "verify-vae3-seed000.log").exists() and (out / "proofs.json").exists()
    groups, _, _ = run_profile(profile_groups("quick"), out, device="cpu", workers=2)
    assert len(calls_of(fakes, "verify")) == len(MODELS)  # resumable: finished runs are read, not redone
    assert all(len(g.runs) == 1 and g.runs[0].status == "PASS" for g in groups)


def test_seeds_give_that_many_runs_per_model(tmp_path, fakes):
    specs = [g for g in profile_groups("quick", seeds=3) if g.key == "verify-vae3"]
    groups, _, _ = run_profile(specs, tmp_path / "out", device="cpu", workers=2)
    assert sorted(flag(a, "--seed") for a in calls_of(fakes, "verify")) == ["0", "1", "2"]
    assert len(groups[0].runs) == 3 and len({r.path for r in groups[0].runs}) == 3


def test_an_interrupted_run_is_resumed(tmp_path, fakes):
    path = tmp_path / "out" / "runs" / "verify-linear" / "seed000"
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    run_profile([g for g in profile_groups("quick") if g.key == "verify-linear"], tmp_path / "out", device="cpu")
    assert calls_of(fakes, "verify") == [["--resume", str(path), "--no-progress"]]


def test_a_run_that_fails_is_reported_with_its_last_line(tmp_path, fakes, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "vae1:3")
    specs = [g for g in profile_groups("quick") if g.key in ("verify-vae1", "verify-vae3")]
    groups, _, _ = run_profile(specs, tmp_path / "out", device="cpu", workers=2)
    data = ReportData(profile="quick", proofs=None, proofs_error=None, groups=groups)
    failures = run_failures(data)
    assert any(line.startswith("verify-vae1: seed 0: no result (exit 3: error: vae1/fast: training diverged")
               for line in failures), failures


def test_jobs_run_side_by_side_longest_first(tmp_path, fakes):
    def job(name: str, seconds: float) -> jobs.Job:
        return jobs.Job(name, "sleep", [str(seconds)], tmp_path / f"{name}.log", expected_seconds=seconds)

    finished_order: list[str] = []
    started = time.perf_counter()
    done = jobs.run_jobs([job("short", 0.2), job("long", 1.5), job("mid", 1.2)], workers=2,
                         report=lambda f: finished_order.append(f.job.name))
    wall = time.perf_counter() - started
    assert [f.job.name for f in done] == ["short", "long", "mid"] and all(f.returncode == 0 for f in done)
    assert wall < 2.6  # long || (mid, then short): ~1.5-1.7 s; one at a time would be ~2.9 s
    assert finished_order[-1] == "short" or finished_order[0] == "mid"  # longest started first
    started = time.perf_counter()
    jobs.run_jobs([job("a", 0.8), job("b", 0.8)], workers=1)
    assert time.perf_counter() - started >= 1.6  # twin: one worker runs them one after the other


def test_full_profile_has_the_papers_run_counts():
    counts = {g.key: len(g.seeds) for g in profile_groups("full")}
    assert counts["fig1a"] == counts["fig1b"] == 10
    assert counts["fig1c"] == counts["fig2b"] == counts["fig2c"] == 100
    assert {g.options.get("batch_size") for g in profile_groups("full")} >= {100}
    assert {g.runner for g in profile_groups("full")} == {"verify", "criterion", "sweep", "stream"}
    assert "stream" not in {g.runner for g in profile_groups("quick")}


def test_scaled_full_profile_caps_runs_sets_epochs_and_says_so():
    groups = {g.key: g for g in profile_groups("full", paper_runs=3, paper_epochs=40)}
    assert {key: len(g.seeds) for key, g in groups.items() if g.role == "reproduce"} == dict.fromkeys(
        ("fig1a", "fig1b", "fig1c", "fig2b", "fig2c"), 3)
    assert groups["fig2b"].options == {"batch_size": 100, "epochs": 40} and groups["fig2b"].variant == "batch 100"
    assert groups["fig1c"].title.endswith("3 runs of 40 epochs")
    assert groups["fig1c"].title != {g.key: g for g in profile_groups("full")}["fig1c"].title  # twin: unscaled


def test_scaled_full_profile_passes_runs_and_epochs_to_the_sweep(tmp_path, fakes):
    specs = [g for g in profile_groups("full", paper_runs=2, paper_epochs=5) if g.key == "fig2c"]
    groups, _, _ = run_profile(specs, tmp_path / "out", device="cpu")
    (argv,) = calls_of(fakes, "sweep")
    assert len(groups[0].runs) == 2 and flag(argv, "--runs") == "2" and flag(argv, "--epochs") == "5"


def test_full_profile_sweeps_pass_the_variant_options(tmp_path, fakes):
    specs = [g for g in profile_groups("full") if g.key in ("fig1c", "fig2b", "fig2c")]
    groups, _, _ = run_profile(specs, tmp_path / "out", device="cpu", workers=2)
    argvs = {flag(a, "--out").rsplit("/", 1)[-1]: a for a in calls_of(fakes, "sweep")}
    assert [len(g.runs) for g in groups] == [100, 100, 100]
    assert "--batch-size" not in argvs["fig1c"] and flag(argvs["fig2b"], "--batch-size") == "100"
    assert flag(argvs["fig2c"], "--lr") == "0.005" and "--no-progress" in argvs["fig2c"]
    assert all("--epochs" not in argv for argv in argvs.values())  # unscaled: the sweep's own paper epochs
