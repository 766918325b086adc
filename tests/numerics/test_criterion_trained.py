"""The parametrization criterion (DESIGN.md, "criterion") on TRAINED networks, at a stationary point
reached to round-off: affine-network VAE-3, Adam then L-BFGS then damped Newton on one fixed
Gauss-Hermite design (the small-size version of `benchmarks/link_study.py --part tight`).

exp links are closed under the variance scalings, so the gap of the design's objective vanishes at its
stationary point; a softplus decoder-variance link is not, and the gap stays clearly nonzero (the
twin: the same pipeline says "not zero" when the theorem's hypothesis is violated).
"""
import pytest
import torch

from numerics import estimators
from numerics.data import load_data
from numerics.models import build_model
from numerics.protocols import Phase, Protocol
from numerics.rundir import RunDir
from numerics.training import Trainer

GH = 4
PROTOCOL = Protocol("tight", "float64", (
    Phase("adam", steps=100, lr=3e-3, batch_size=100, log_every=100, checkpoint_every=100),
    Phase("lbfgs", steps=20, design="gauss-hermite", design_size=GH, history=100, inner_iters=50),
    Phase("newton", steps=40, design="gauss-hermite", design_size=GH)))


def _stationary(dec_link: str, tmp_path) -> tuple[estimators.Evaluation, float, bool]:
    x = load_data("ring", n_train=1000, n_test=0, seed=0).x_train * 10.0
    model = build_model("vae3", x.shape[1], 2, hidden=(), dec_link=dec_link, generator=torch.Generator().manual_seed(0))
    (tmp_path / dec_link).mkdir()
    result = Trainer(model, x, PROTOCOL, RunDir(tmp_path / dec_link), seed=0, progress=False).run()
    design = estimators.gauss_hermite_design(GH, 2)
    grad = torch.autograd.grad(-estimators.elbo_objective(model, x, design), list(model.parameters()))
    with torch.no_grad():
        ev = estimators.evaluate(model, x, design)
    return ev, float(torch.cat([g.reshape(-1) for g in grad]).norm()), result.phase_ends[-1]["stalled"]


@pytest.mark.parametrize("dec_link", ["exp", "softplus"])
def test_gap_at_a_round_off_stationary_point_vanishes_iff_the_link_is_closed_under_scaling(dec_link, tmp_path):
    ev, grad_norm, stalled = _stationary(dec_link, tmp_path)
    assert stalled and grad_norm < 1e-10                     # a stationary point, to round-off
    assert float(ev.identity_error) < 1e-12
    assert abs(float(ev.residual_prior.abs().max())) < 1e-8   # exp encoder link, affine decoder input: zero
    if dec_link == "exp":
        assert abs(float(ev.gap)) < 1e-9
    else:
        assert abs(float(ev.gap)) > 1e-3                     # softplus: the decoder residual stays
        assert float(ev.gap) == pytest.approx(float(ev.residual_decoder), abs=1e-9)
