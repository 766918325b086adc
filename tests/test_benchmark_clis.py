"""Benchmark scripts reject bad input with exit 2 and one error line (no usage block), before any training."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv, message", [
    (["--models", "vae9"], "unknown model(s) vae9; valid: linear, vae1, vae2, vae3"),
    (["--paper-epochs", "0"], "--paper-epochs must be >= 1"),
    (["--seeds", "a"], "--seeds needs comma-separated integers"),
    (["--device", "tpu"], "invalid choice: 'tpu'"),
    (["--device", "cuda"], "--device cuda requested but no CUDA device is available"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_verify_targets_rejects_bad_input_before_training(argv, message, tmp_path, capsys, monkeypatch):
    bench = _load("verify_targets")
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(bench, "one", lambda *a, **k: pytest.fail("trained despite bad input"))
    with pytest.raises(SystemExit) as exit_:
        bench.main([*argv, "--out", str(tmp_path)])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_verify_targets_passes_device_and_threads_to_verify(tmp_path, capsys, monkeypatch):
    bench = _load("verify_targets")
    seen = []

    def fake_verification(**kwargs):
        seen.append(kwargs)
        return {"device": kwargs["device"], "train_seconds": 1.0, "rel_gap": 1e-9, "gap": 1e-9, "gap_se": 0.0,
                "gap_over_se": None, "status": "PASS", "elbo": -1.0, "loglik_ml_train": -1.0}

    monkeypatch.setattr(bench, "run_verification", fake_verification)
    monkeypatch.setattr(bench, "RunDir", lambda path: type("Rows", (), {"read_metrics": lambda self: []})())
    assert bench.main(["--models", "linear", "--no-paper", "--device", "auto", "--threads", "2",
                       "--out", str(tmp_path)]) == 0
    assert [(k["device"], k["threads"]) for k in seen] == [("auto", 2)]
    assert "device=auto" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["link_study", "polish_study", "soft_modes", "sweep_bench", "verify_targets"])
def test_benchmark_parser_errors_are_one_line(name, capsys):
    bench = _load(name)
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and "error:" in err and "usage:" not in err


@pytest.mark.parametrize("argv, message", [
    (["--preconditioners", "none,foo"], "unknown preconditioner 'foo'"),
    (["--preconditioners", "scale:nope:2", "--n-train", "50"], "unknown parameter 'nope'; valid: "),
    (["--start", "/nonexistent/run"], "--start: /nonexistent/run is not a run directory"),
])
def test_polish_study_rejects_bad_input_before_training(argv, message, capsys, monkeypatch):
    bench = _load("polish_study")
    monkeypatch.setattr(bench, "Trainer", lambda *a, **k: pytest.fail("trained despite bad input"))
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
