"""Soft modes: the orbit tangents reproduce the gap identity's slopes on raw parameters, the curvature
figures agree with the full Hessian, and the benchmark script reads run directories."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from numerics import estimators
from numerics.data import load_data
from numerics.models import build_model
from numerics.soft_modes import orbit_tangent, soft_modes

ROOT = Path(__file__).resolve().parents[2]


def _small(kind: str, enc_link: str = "exp"):
    x = load_data("ring", n_train=120, n_test=0, seed=3).x_train
    model = build_model(kind, x.shape[1], 2, hidden=(5,), enc_link=enc_link, generator=torch.Generator().manual_seed(2))
    design = None if kind == "linear" else estimators.rqmc_design(4, x.shape[0], 2, replicates=2,
                                                                  generator=torch.Generator().manual_seed(4))
    return model, x, design


def _loss_grad(model, x, design) -> torch.Tensor:
    params = list(model.parameters())
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(-estimators.elbo_objective(model, x, design), params)])


def _full_hessian(model, x, design) -> torch.Tensor:
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    g = torch.autograd.grad(-estimators.elbo_objective(model, x, design), params, create_graph=True)
    g = torch.cat([t.reshape(-1) for t in g])
    rows = [torch.cat([t.reshape(-1) for t in torch.autograd.grad(g[i], params, retain_graph=True)]) for i in range(n)]
    return torch.stack(rows)


@pytest.mark.parametrize("kind", ["linear", "vae1", "vae2", "vae3"])
def test_slope_along_each_orbit_is_the_residual_the_identity_names(kind):
    model, x, design = _small(kind)
    modes = soft_modes(model, x, design, power_iters=3)
    assert [m.name for m in modes] == ["prior 0", "prior 1", "decoder"]
    for m in modes:
        assert abs(m.residual) > 1e-3                      # a random model: the slopes are not trivially zero
        assert m.slope == pytest.approx(m.predicted_slope, rel=1e-7, abs=1e-10)


def test_a_tangent_without_its_decoder_part_gives_another_slope():
    """Twin: drop the first decoder layer's share of the prior orbit and the slope no longer matches r_h / 2,
    because the reconstruction term is then no longer invariant along the direction."""
    model, x, design = _small("vae1")
    v = orbit_tangent(model, "prior", 0)
    offset = 0
    for name, p in model.named_parameters():
        if name == "dec_mean.layers.0.weight":
            v[offset:offset + p.numel()] = 0.0
        offset += p.numel()
    with torch.no_grad():
        r0 = float(estimators.evaluate(model, x, design).residual_prior[0])
    assert abs(float(_loss_grad(model, x, design) @ v) - r0 / 2) > 1e-3


def test_softplus_encoder_variance_has_no_prior_orbit():
    model, _, _ = _small("vae3", enc_link="softplus")
    with pytest.raises(ValueError, match="not closed"):
        orbit_tangent(model, "prior", 0)


def test_curvature_and_lambda_max_agree_with_the_full_hessian():
    model, x, design = _small("vae3")
    modes = soft_modes(model, x, design, power_iters=300)
    hessian = _full_hessian(model, x, design)
    assert modes[0].lambda_max == pytest.approx(float(torch.linalg.eigvalsh(hessian).abs().max()), rel=1e-4)
    v = orbit_tangent(model, "decoder")
    unit = v / v.norm()
    assert modes[2].curvature == pytest.approx(float(unit @ hessian @ unit), rel=1e-8)


def test_benchmark_script_reads_a_run_directory(tmp_path, capsys):
    from numerics.verify import run_verification

    run_verification(model="vae3", data="ring", device="cpu", n_train=80, n_test=0, steps=1, warmup_steps=3,
                     hidden=(4,), eval_samples=4, control=False, out=tmp_path / "r", progress=False)
    spec = importlib.util.spec_from_file_location("soft_modes_bench", ROOT / "benchmarks" / "soft_modes.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main([str(tmp_path / "r"), "--design-size", "4", "--power-iters", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in out[0]["modes"]] == ["prior 0", "prior 1", "decoder"]
    assert bench.main([str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err
