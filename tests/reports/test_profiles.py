"""The quick profile drives numerics.verify.run_verification (replaced here by a fake that writes
fixture run directories), reuses finished runs on a rebuild, and reports a run that raised."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from reports.build import main
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
    assert main(argv) == 0 and len(calls) == len(MODELS)  # resumable: finished runs are read, not redone


def test_run_that_raises_fails_the_build(tmp_path, monkeypatch, proofs_file):
    calls: list[dict] = []
    fake_numerics(monkeypatch, calls, fail_model="vae1")
    assert main(["--out", str(tmp_path / "out"), "--proofs", str(proofs_file)]) == 1
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "FAILED: verify-vae1: seed 0: RuntimeError: training diverged" in markdown


def test_full_profile_has_the_papers_run_counts():
    counts = {g.key: len(g.seeds) for g in profile_groups("full")}
    assert counts["fig1a"] == counts["fig1b"] == 10
    assert counts["fig1c"] == counts["fig2b"] == counts["fig2c"] == 100
    assert {g.options.get("batch_size") for g in profile_groups("full")} >= {100}
