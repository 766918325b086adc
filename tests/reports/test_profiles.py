"""The quick profile drives numerics.verify.run_verification (replaced here by a fake that writes
fixture run directories), reuses finished runs on a rebuild, and reports a run that raised."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from reports.build import main
from reports.collect import ReportData, run_profile
from reports.verdicts import run_failures
from reports.profiles import MODELS, profile_groups
from tests.reports.conftest import write_run


def fake_numerics(monkeypatch, calls: list[dict], fail_model: str | None = None) -> None:
    def run_verification(model=None, protocol=None, data=None, device=None, seed=None, steps=None, out=None,
                         resume=False, progress=True):
        calls.append({"model": model, "protocol": protocol, "seed": seed, "resume": resume, "device": device})
        if model == fail_model:
            raise RuntimeError("training diverged")
        write_run(Path(out), model, seed=seed)
        return {}

    module = types.ModuleType("numerics.verify")
    module.run_verification = run_verification
    monkeypatch.setitem(sys.modules, "numerics.verify", module)


def test_quick_profile_runs_each_model_once_then_reuses(tmp_path, monkeypatch, proofs_file):
    calls: list[dict] = []
    fake_numerics(monkeypatch, calls)
    argv = ["--out", str(tmp_path / "out"), "--proofs", str(proofs_file), "--device", "cpu"]
    assert main(argv) == 0
    assert sorted(c["model"] for c in calls) == sorted(MODELS)
    assert all(c["protocol"] == "fast" and c["device"] == "cpu" and not c["resume"] for c in calls)
    assert (tmp_path / "out" / "runs" / "verify-vae3" / "seed000" / "summary.json").exists()
    groups, error = run_profile(profile_groups("quick"), tmp_path / "out", device="cpu")
    assert error is None and len(calls) == len(MODELS)  # resumable: finished runs are read, not redone
    assert all(len(g.runs) == 1 and g.runs[0].status == "PASS" for g in groups)


def test_run_that_raises_is_reported_as_a_failure(tmp_path, monkeypatch):
    calls: list[dict] = []
    fake_numerics(monkeypatch, calls, fail_model="vae1")
    groups, error = run_profile(profile_groups("quick"), tmp_path / "out", device="cpu")
    data = ReportData(profile="quick", proofs=None, proofs_error=None, groups=groups)
    assert error is None
    assert "verify-vae1: seed 0: RuntimeError: training diverged" in run_failures(data)


def test_full_profile_has_the_papers_run_counts():
    counts = {g.key: len(g.seeds) for g in profile_groups("full")}
    assert counts["fig1a"] == counts["fig1b"] == 10
    assert counts["fig1c"] == counts["fig2b"] == counts["fig2c"] == 100
    assert {g.options.get("batch_size") for g in profile_groups("full")} >= {100}


def test_scaled_full_profile_caps_runs_sets_epochs_and_says_so():
    groups = {g.key: g for g in profile_groups("full", paper_runs=3, paper_epochs=40)}
    assert {key: len(g.seeds) for key, g in groups.items() if g.role == "reproduce"} == dict.fromkeys(
        ("fig1a", "fig1b", "fig1c", "fig2b", "fig2c"), 3)
    assert groups["fig2b"].options == {"batch_size": 100, "epochs": 40} and groups["fig2b"].variant == "batch 100"
    assert groups["fig1c"].title.endswith("3 runs of 40 epochs")
    assert groups["fig1c"].title != {g.key: g for g in profile_groups("full")}["fig1c"].title  # twin: unscaled


def fake_sweep(monkeypatch) -> list[list[str]]:
    argvs: list[list[str]] = []

    def sweep_main(argv):
        argvs.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        for seed in range(int(argv[argv.index("--runs") + 1])):
            write_run(out / f"run-seed{seed:04d}", argv[argv.index("--model") + 1], seed=seed, protocol="paper",
                      with_control=False)
        return 0

    module = types.ModuleType("numerics.sweep")
    module.main = sweep_main
    monkeypatch.setitem(sys.modules, "numerics.sweep", module)
    return argvs


def test_scaled_full_profile_passes_runs_and_epochs_to_the_sweep(tmp_path, monkeypatch):
    argvs = fake_sweep(monkeypatch)
    specs = [g for g in profile_groups("full", paper_runs=2, paper_epochs=5) if g.key == "fig2c"]
    groups, error = run_profile(specs, tmp_path / "out", device="cpu")
    assert error is None and len(groups[0].runs) == 2
    assert argvs[0][argvs[0].index("--runs") + 1] == "2" and argvs[0][argvs[0].index("--epochs") + 1] == "5"


def test_full_profile_sweeps_pass_the_variant_options(tmp_path, monkeypatch):
    argvs = fake_sweep(monkeypatch)
    specs = [g for g in profile_groups("full") if g.key in ("fig1c", "fig2b", "fig2c")]
    groups, error = run_profile(specs, tmp_path / "out", device="cpu")
    assert error is None and [len(g.runs) for g in groups] == [100, 100, 100]
    assert "--batch-size" not in argvs[0] and argvs[1][argvs[1].index("--batch-size") + 1] == "100"
    assert argvs[2][argvs[2].index("--lr") + 1] == "0.005" and "--no-progress" in argvs[2]
    assert all("--epochs" not in argv for argv in argvs)  # unscaled: the sweep's own paper epochs
