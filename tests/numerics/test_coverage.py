"""numerics.coverage: do a model's variance-scaling orbits exist? Exact for the kit's models, probed for a
user's (with twins: softplus heads, a fixed variance, a shared head, a layer the probe cannot see)."""
import pytest
import torch
from torch import nn

from numerics import coverage as cov
from numerics.coverage import PROBE_TOL, coverage
from numerics.models import build_model
from tests.numerics.user_vaes import UserVAE, UserVAE3, UserVAEWithPrior

x = torch.randn(400, 6, generator=torch.Generator().manual_seed(0))


def exists(c):
    return {o.name: o.exists for o in c.orbits}


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("enc, dec", [("exp", "exp"), ("square", "exp"), ("exp", "square"), ("square", "square")])
def test_heads_closed_under_scaling_are_covered(enc, dec, chunked):
    c = coverage(UserVAE(enc=enc, dec=dec, chunked=chunked), x)
    assert c.method == "probe" and c.covered is True, c.reason
    assert all(o.residual is not None and o.residual <= PROBE_TOL for o in c.orbits)


def test_a_softplus_decoder_head_is_not_covered():
    c = coverage(UserVAE(dec="softplus"), x)
    assert c.covered is False and exists(c) == {"decoder": False, "prior 0": True, "prior 1": True}
    decoder = c.orbits[0]
    assert decoder.residual > 1e3 * PROBE_TOL and "not closed under scaling" in decoder.detail
    assert c.reason.startswith("no decoder orbit")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_softplus_encoder_head_has_no_prior_orbits(chunked):
    c = coverage(UserVAE(enc="softplus", chunked=chunked), x)
    assert c.covered is False and exists(c) == {"decoder": True, "prior 0": False, "prior 1": False}


def test_free_variances_are_covered_with_any_link_and_a_fixed_one_is_not():
    """A free [D] variance and a learned prior are rescaled by their own parameters; a fixed variance
    (a buffer, as in Fig. 1a's control) has no decoder orbit; a frozen parameter neither."""
    assert coverage(UserVAE(decoder_variance="free"), x).covered is True
    assert coverage(UserVAEWithPrior(decoder_variance="free", enc="softplus"), x).covered is True  # prior: alpha
    fixed = coverage(UserVAE(decoder_variance="fixed"), x)
    assert exists(fixed)["decoder"] is False and "is fixed" in fixed.orbits[0].detail
    frozen = UserVAE(decoder_variance="free")
    frozen.log_var.requires_grad_(False)
    assert exists(coverage(frozen, x))["decoder"] is False


def test_what_the_probe_cannot_see_is_undecided_not_guessed():
    """The kit's MLP applies its output layer with F.linear: no nn.Linear head to probe."""
    class Wrapped(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def encode(self, x):
            return self.inner.encode(x)

        def decode(self, z):
            return self.inner.decode(z)

    c = coverage(Wrapped(build_model("vae3", 6, 2, hidden=(5,))), x.double())
    assert c.covered is None and exists(c)["decoder"] is None and c.reason.startswith("undecided")


def test_a_head_shared_with_the_mean_is_undecided():
    class Shared(UserVAE):
        def decode(self, z):
            a = self.dec_var(z)
            return self.dec_mean(z) + a, a.exp()  # the variance head's output also feeds the mean

    assert exists(coverage(Shared(), x))["decoder"] is None


@pytest.mark.parametrize("enc, dec", [("exp", "exp"), ("exp", "softplus"), ("softplus", "exp"), ("square", "square")])
def test_the_probe_agrees_with_the_kit_on_the_same_network(enc, dec):
    kit = build_model("vae3", 6, 2, hidden=(8, 8), enc_link=enc, dec_link=dec, generator=torch.Generator().manual_seed(3))
    x64 = x.double()
    assert exists(coverage(UserVAE3.from_kit(kit), x64)) == exists(coverage(kit, x64))
    assert coverage(kit, x64).method == "kit model"


def test_too_few_probe_rows_for_a_wide_head_is_undecided(monkeypatch):
    monkeypatch.setattr(cov, "PROBE_POINTS", 20)
    c = coverage(UserVAE(width=16), x)
    assert exists(c)["prior 0"] is None and "probe rows" in c.orbits[1].detail


def test_prior_orbits_need_a_scalable_mean_and_an_affine_way_into_the_decoder():
    """Eqs. 26-27: nu_h must scale within the family (a tanh output cannot) and the decoder must take z
    through affine layers only (a skip connection of z breaks the compensation: undecided)."""
    class TanhMean(UserVAE):
        def encode(self, x):
            mean, var = super().encode(x)
            return torch.tanh(mean), var

    class Skip(UserVAE):
        def decode(self, z):
            mean, var = super().decode(z)
            return mean + z.sum(-1, keepdim=True), var

    tanh_mean = coverage(TanhMean(), x)
    assert exists(tanh_mean) == {"decoder": True, "prior 0": False, "prior 1": False}
    assert "encoder mean" in tanh_mean.orbits[1].detail
    skip = coverage(Skip(), x)
    assert exists(skip) == {"decoder": True, "prior 0": None, "prior 1": None}
    assert "compensation" in skip.orbits[1].detail
