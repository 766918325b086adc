"""`numerics.determinism`: CUDA runs get a fixed cuBLAS workspace and deterministic algorithms; CPU runs
are left alone. Checked on the flags (no GPU needed); verify and sweep apply it to their device."""
import os

import pytest
import torch

from numerics import sweep, verify
from numerics.determinism import CUBLAS_WORKSPACE, repeatable


@pytest.fixture
def process_settings(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(False)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_cuda_gets_a_fixed_workspace_and_deterministic_algorithms_in_warn_only_mode(process_settings):
    repeatable(torch.device("cuda"))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()


def test_a_workspace_the_user_set_is_kept(process_settings, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    repeatable(torch.device("cuda", 0))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_cpu_runs_are_left_alone(process_settings):
    repeatable(torch.device("cpu"))
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ and not torch.are_deterministic_algorithms_enabled()


def test_verify_and_sweep_apply_it_to_their_device(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(verify, "repeatable", seen.append)
    monkeypatch.setattr(sweep, "repeatable", seen.append)
    verify.run_verification(model="linear", device="cpu", n_train=50, n_test=20, control=False, progress=False,
                            out=tmp_path / "v")
    args = sweep._parser().parse_args(["--model", "linear", "--n-train", "20", "--epochs", "1", "--runs", "1",
                                       "--device", "cpu", "--no-progress", "--out", str(tmp_path / "s")])
    sweep.run_sweep(sweep._options(args), progress=False)
    assert seen == [torch.device("cpu"), torch.device("cpu")]
