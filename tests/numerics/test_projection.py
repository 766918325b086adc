"""Projection onto the variance-stationary set: residuals vanish, the ELBO does not decrease."""
import json

import pytest
import torch

from numerics import estimators
from numerics.data import load_data
from numerics.models import build_model
from numerics.projection import main, project_variances


@pytest.mark.parametrize("kind", ["linear", "vae1", "vae2", "vae3"])
def test_projection_zeroes_residuals_and_does_not_lower_the_elbo(kind):
    x = load_data("ring", n_train=150, n_test=0, seed=2).x_train
    model = build_model(kind, x.shape[1], 2, hidden=(6, 6), generator=torch.Generator().manual_seed(1))
    design = None if kind == "linear" else estimators.gauss_hermite_design(5, 2)
    result = project_variances(model, x, design)
    before, after = result.before, result.after
    assert abs(before["gap"]) > 1e-3                         # the random model is not stationary
    assert abs(after["gap"]) < 1e-10
    assert abs(after["residual_decoder"]) < 1e-10 and max(abs(r) for r in after["residual_prior"]) < 1e-10
    assert after["elbo"] >= before["elbo"] - 1e-12
    # the model passed in is untouched
    again = estimators.evaluate(model, x, design).to_dict()
    assert again["elbo"] == before["elbo"]


def test_softplus_variance_head_cannot_be_projected():
    x = load_data("ring", n_train=50, n_test=0).x_train
    model = build_model("vae3", 10, 2, hidden=(4,), dec_link="softplus", generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="not closed"):
        project_variances(model, x, estimators.gauss_hermite_design(3, 2))


def test_projection_cli_on_a_run_directory(tmp_path, capsys):
    from numerics.verify import run_verification

    run_verification(model="vae2", data="ppca", device="cpu", n_train=100, n_test=0, steps=1, warmup_steps=5,
                     hidden=(4, 4), eval_samples=4, control=False, out=tmp_path / "r", progress=False)
    assert main([str(tmp_path / "r"), "--nodes", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["after"]["gap"]) < 1e-10 and out["elbo_increase"] >= -1e-12
    assert main([str(tmp_path / "missing")]) == 2
