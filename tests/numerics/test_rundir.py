"""Run directories: strict JSON, fsync'ed metrics, atomic checkpoints loaded with weights_only=True."""
import json
import math

import numpy as np
import pytest
import torch

from numerics.rundir import RunDir, json_safe, load_run


def test_json_safe_turns_non_finite_and_tensors_into_json():
    out = json_safe({"a": float("nan"), "b": torch.tensor([1.0, float("inf")]), "c": np.float64(2.5)})
    assert out == {"a": None, "b": [1.0, None], "c": 2.5}
    json.dumps(out, allow_nan=False)


def test_create_refuses_an_existing_run(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create({"x": 1})
    assert run.read_config() == {"x": 1}
    with pytest.raises(FileExistsError, match="resume"):
        run.create({"x": 2})


def test_metrics_append_truncate_and_cut_line(tmp_path):
    run = RunDir(tmp_path)
    for step in range(5):
        run.append_metrics({"step": step, "elbo": float(step)})
    run.truncate_metrics(2)
    assert [r["step"] for r in run.read_metrics()] == [0, 1, 2]
    with open(tmp_path / "metrics.jsonl", "a") as handle:  # a kill in the middle of a write
        handle.write('{"step": 3, "el')
    assert [r["step"] for r in run.read_metrics()] == [0, 1, 2]


def test_checkpoint_roundtrip_with_optimisers_and_generators_weights_only(tmp_path):
    p = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
    adam, lbfgs = torch.optim.Adam([p]), torch.optim.LBFGS([p], line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = (p ** 4).sum()
        loss.backward()
        return loss

    closure()
    adam.step()
    lbfgs.step(closure)
    gen = torch.Generator().manual_seed(3)
    state = {"p": p.detach(), "adam": adam.state_dict(), "lbfgs": lbfgs.state_dict(), "rng": gen.get_state(),
             "step": 7, "phase_ends": [{"kind": "adam", "loss": 1.5}]}
    run = RunDir(tmp_path)
    run.save_checkpoint(state)
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
    back = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert torch.equal(back["p"], p.detach()) and back["step"] == 7
    assert back["lbfgs"]["state"][0]["prev_loss"] == lbfgs.state_dict()["state"][0]["prev_loss"]
    assert torch.equal(back["rng"], gen.get_state())


def test_data_npz_roundtrip(tmp_path):
    run = RunDir(tmp_path)
    a, b = torch.randn(5, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    run.save_data(a, b)
    x_train, x_test = run.load_data()
    assert np.array_equal(x_train, a.numpy()) and np.array_equal(x_test, b.numpy())


def test_load_run_rebuilds_model_and_data(tmp_path):
    from numerics.verify import run_verification

    summary = run_verification(model="linear", data="ppca", device="cpu", n_train=200, n_test=50,
                               out=tmp_path / "run", progress=False, control=False)
    run = load_run(tmp_path / "run")
    assert run.summary["status"] == summary["status"] and run.config["model"] == "linear"
    assert run.data[0].shape == (200, 10) and run.data[1].shape == (50, 10)
    assert run.metrics and all("elbo" in r for r in run.metrics)
    from numerics import estimators
    assert math.isclose(float(estimators.evaluate(run.model, run.data[0], None).elbo.detach()), summary["elbo"],
                        rel_tol=0, abs_tol=1e-12)


def test_load_run_refuses_a_non_run(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path)
