"""numerics.diagnose on a user's own model (plain nn.Module, tests/numerics/user_vaes.py): agreement with
the kit's evaluation of the same network, prior-aware collapse, coverage, the residuals' advice, the CLI."""
import json
import math

import pytest
import torch

import numerics
from numerics import estimators
from numerics.models import build_model
from tests.numerics.user_vaes import UserVAE, UserVAE3, UserVAEWithPrior

from numerics import diagnosis as diagnose_module
x = torch.randn(300, 6, generator=torch.Generator().manual_seed(0))


def kit_vae3(dec="exp"):
    return build_model("vae3", 6, 2, hidden=(8, 8), dec_link=dec, generator=torch.Generator().manual_seed(3))


def test_a_user_model_is_diagnosed_like_the_kit_evaluates_the_same_network():
    kit = kit_vae3()
    user = UserVAE3.from_kit(kit)
    x64 = x.double()
    design = estimators.rqmc_design(32, 300, 2, replicates=4, generator=torch.Generator().manual_seed(1))
    report = numerics.diagnose(user, x64, design=design)
    with torch.no_grad():
        ev = estimators.evaluate(kit, x64, design).to_dict()
    d = report.to_dict()
    for key in ("elbo", "elbo_se", "entropy_sum", "gap", "gap_se", "identity_error"):
        assert d[key] == pytest.approx(ev[key], rel=1e-12, abs=1e-15), key
    assert d["residuals"]["decoder"]["value"] == pytest.approx(ev["residual_decoder"], rel=1e-12)
    assert [d["residuals"][f"prior {h}"]["value"] for h in range(2)] == pytest.approx(ev["residual_prior"], rel=1e-12)
    assert d["entropy_formula"] == "Eq. 39" and d["covered"] is True
    assert d["elbo"] == pytest.approx(d["entropy_sum"] + d["gap"], abs=1e-12)


def test_twin_the_formula_must_follow_the_decoder_not_a_guess(monkeypatch):
    """Twin of the agreement: if the estimators read a z-dependent variance as one constant per dimension
    (Eq. 39 with log sigma_d^2 of the first z instead of E_q), the user's S no longer matches the kit's."""
    kit = kit_vae3()
    user = UserVAE3.from_kit(kit)
    x64 = x.double()
    design = estimators.mc_design(8, 300, 2, generator=torch.Generator().manual_seed(1))
    right = numerics.diagnose(user, x64, design=design, probe=False).entropy_sum

    def first_z_only(sigma2, mu):
        return estimators.PER_DIMENSION if sigma2.numel() > 1 else estimators.SCALAR

    monkeypatch.setattr(estimators, "decoder_variance_form", first_z_only)
    with torch.no_grad():
        wrong = estimators.three_entropies(user, x64, design)
    assert abs(float(wrong) - right) > 1e-3


def _force_latent(model, h, *, mean_zero=True, log_var=0.0):
    """Latent h's encoder: mean head row h zero, variance exp(log_var) for every x (exp link)."""
    with torch.no_grad():
        if mean_zero:
            model.mean_head.weight[h].zero_()
            model.mean_head.bias[h] = 0.0
        model.var_head.weight[h].zero_()
        model.var_head.bias[h] = log_var


def test_a_latent_equal_to_the_prior_is_collapsed_and_an_active_one_is_not():
    model = UserVAE()
    _force_latent(model, 1)
    latents = numerics.diagnose(model, x, probe=False).to_dict()["latents"]
    assert latents[1]["collapsed"] is True and latents[1]["kl"] < 1e-12 and latents[1]["active_variance"] == 0.0
    assert latents[0]["collapsed"] is False and latents[0]["kl"] > 0.01 and latents[0]["active_variance"] > 0.01
    assert latents[0]["active"] is True and latents[1]["active"] is False


def test_twin_a_latent_with_the_prior_mean_but_a_narrow_variance_is_not_collapsed():
    """Guards the variance half of the check: mean 0 everywhere but tau^2 = 0.25 is inactive, not q = p."""
    model = UserVAE()
    _force_latent(model, 1, log_var=math.log(0.25))
    lat = numerics.diagnose(model, x, probe=False).latents[1]
    assert lat.collapsed is False and lat.active is False and lat.kl > 0.1


def test_collapse_is_measured_against_a_learned_prior():
    """With alpha_1^2 = 4: an encoder at N(0, 4) is collapsed, one at N(0, 1) is not (a check hard-coded to
    the standard prior, like the authors' entropy threshold, would say the opposite for both)."""
    at_prior, at_unit = UserVAEWithPrior(), UserVAEWithPrior()
    for model, log_var in ((at_prior, math.log(4.0)), (at_unit, 0.0)):
        with torch.no_grad():
            model.log_prior_var[1] = math.log(4.0)
        _force_latent(model, 1, log_var=log_var)
    assert numerics.diagnose(at_prior, x, probe=False).latents[1].collapsed is True
    assert numerics.diagnose(at_unit, x, probe=False).latents[1].collapsed is False


def test_a_softplus_head_model_is_reported_not_covered():
    report = numerics.diagnose(UserVAE(dec="softplus"), x)
    assert report.covered is False and report.residuals["decoder"].orbit_exists is False
    assert "covered by the theorem: NO" in report.text() and "not reachable in this parametrisation" in report.text()
    assert numerics.diagnose(UserVAE(dec="exp"), x).covered is True


def test_the_advice_zeroes_each_residual_and_gains_what_it_says():
    """Apply the advised factors by hand (exp heads: log-variance biases += log factor; learned prior:
    log alpha^2 += log s_h) on the SAME design: every residual vanishes and F rises by the predicted sum."""
    model = UserVAEWithPrior().double()
    x64 = x.double()
    design = estimators.mc_design(16, 300, 2, generator=torch.Generator().manual_seed(4))
    before = numerics.diagnose(model, x64, design=design)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.dec_var[-1].bias += math.log(before.residuals["decoder"].factor)
        model.log_prior_var += torch.log(torch.tensor([before.residuals[f"prior {h}"].factor for h in range(2)],
                                                      dtype=torch.float64))
    after = numerics.diagnose(model, x64, design=design, probe=False)
    assert abs(before.residuals["decoder"].value) > 0.1
    assert all(abs(r.value) < 1e-12 for r in after.residuals.values())
    gain = sum(r.elbo_gain for r in before.residuals.values())
    assert after.elbo - before.elbo == pytest.approx(gain, rel=1e-9) and gain > 0
    assert abs(after.gap) < 1e-12
    assert all(torch.equal(v, state[k]) for k, v in before_untouched(model, state).items())


def before_untouched(model, state):
    """The state `diagnose` left (here: what the test itself changed): only the two moved tensors differ."""
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, state[k])}
    assert changed == {"dec_var.2.bias", "log_prior_var"}
    return {k: v for k, v in model.state_dict().items() if k not in changed}


def test_diagnose_leaves_the_model_as_it_was():
    model = UserVAE()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    numerics.diagnose(model, x)
    assert model.training and next(model.parameters()).dtype == torch.float32
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_to_dict_is_json_and_has_what_the_issue_asks():
    d = json.loads(json.dumps(numerics.diagnose(UserVAE(), x).to_dict()))
    assert {"elbo", "elbo_se", "entropy_sum", "gap", "residuals", "latents", "covered"} <= set(d)
    assert set(d["residuals"]) == {"decoder", "prior 0", "prior 1"}
    assert {"value", "factor", "elbo_gain"} <= set(d["residuals"]["decoder"])
    assert {"kl", "active_variance", "collapsed"} <= set(d["latents"][0])


def test_cli_on_a_run_directory_and_its_errors(tmp_path, capsys):
    from numerics.verify import run_verification

    run_verification(model="vae2", data="ppca", device="cpu", n_train=100, n_test=0, steps=1, warmup_steps=5,
                     hidden=(4, 4), eval_samples=4, control=False, out=tmp_path / "r", progress=False)
    assert diagnose_module.main([str(tmp_path / "r"), "--samples", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["covered"] is True and out["entropy_formula"] == "Eq. 20" and out["n_points"] == 100
    assert diagnose_module.main([str(tmp_path / "r"), "--samples", "8"]) == 0
    assert "Diagnosis of VAE2 on 100 points" in capsys.readouterr().out
    run = str(tmp_path / "r")
    for argv in ([str(tmp_path / "missing")], [run, "--samples", "0"], [run, "--test"], [run, "--seed", "-1"],
                 [run, "--samples", "1000000000"]):
        try:
            code = diagnose_module.main(argv)
        except SystemExit as exc:  # the parser's own errors
            code = exc.code
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "error" in err[0], err
    assert main_error(diagnose_module, [run, "--samples", "1000000000"], capsys).startswith(
        "python -m numerics.diagnose: error: --samples 1000000000 needs about ")


def main_error(module, argv: list[str], capsys) -> str:
    """The one stderr line of `module.main(argv)`, which must return 2."""
    assert module.main(argv) == 2
    return capsys.readouterr().err.strip()
