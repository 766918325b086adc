"""Variance-scaling orbits as maps of the parameters: what each moves, exactly, and where none exists."""
import pytest
import torch

from numerics import orbits
from numerics.models import build_model

D, H = 6, 2


def _model(kind, **links):
    return build_model(kind, D, H, hidden=(5, 4), generator=torch.Generator().manual_seed(3), **links)


def _params(model):
    return {name: p.detach() for name, p in model.named_parameters()}


def _moved(model, moved):
    """A copy of `model` with the moved parameters loaded."""
    copy = build_model(model.kind, D, H, hidden=(5, 4), enc_link=model.enc_link_name, dec_link=model.dec_link_name)
    copy.load_state_dict({**_params(model), **moved})
    return copy


@pytest.mark.parametrize("kind", ["linear", "vae1", "vae2", "vae3"])
@pytest.mark.parametrize("link", ["exp", "square"])
def test_decoder_orbit_multiplies_the_decoder_variance_by_e_to_the_t(kind, link):
    model = _model(kind, dec_link=link)
    z = torch.randn(9, H, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.tensor(0.8, dtype=torch.float64)
    moved = _moved(model, orbits.move(model, _params(model), "decoder", t))
    with torch.no_grad():
        (mu0, s0), (mu1, s1) = model.decode(z), moved.decode(z)
    torch.testing.assert_close(s1, torch.exp(t) * s0, rtol=1e-12, atol=0)
    torch.testing.assert_close(mu1, mu0, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["linear", "vae1", "vae3"])
def test_prior_orbit_rescales_latent_h_and_leaves_every_decoded_z_unchanged(kind):
    """Eqs. 26-27: nu_h and tau_h scale by e^(-t/2), the first decoder layer's column h by e^(t/2)."""
    model = _model(kind)
    x = torch.randn(7, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    eps = torch.randn(7, H, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    t = torch.tensor(-0.6, dtype=torch.float64)
    moved = _moved(model, orbits.move(model, _params(model), "prior 1", t))
    with torch.no_grad():
        (nu0, tau0), (nu1, tau1) = model.encode(x), moved.encode(x)
        factor = torch.tensor([1.0, float(torch.exp(-0.5 * t))], dtype=torch.float64)
        torch.testing.assert_close(nu1, nu0 * factor, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(tau1, tau0 * factor ** 2, rtol=1e-12, atol=0)
        z0, z1 = nu0 + tau0.sqrt() * eps, nu1 + tau1.sqrt() * eps
        for a, b in zip(model.decode(z0), moved.decode(z1)):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-13)


def test_vae2_prior_orbit_scales_alpha_squared_only():
    model = _model("vae2", dec_link="softplus")
    t = torch.tensor(0.4, dtype=torch.float64)
    moved = orbits.move(model, _params(model), "prior 0", t)
    assert set(moved) == {"prior_var_raw"}
    after = _moved(model, moved).prior_var().detach()
    before = model.prior_var().detach()
    torch.testing.assert_close(after, before * torch.tensor([float(torch.exp(t)), 1.0], dtype=torch.float64),
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["linear", "vae1", "vae2", "vae3"])
def test_the_maps_are_the_identity_at_t_zero(kind):
    model = _model(kind)
    params = _params(model)
    zero = torch.zeros((), dtype=torch.float64)
    for name in orbits.orbit_names(model):
        for key, value in orbits.move(model, params, name, zero).items():
            torch.testing.assert_close(value, params[key], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("kind, links, missing", [
    ("vae3", {"dec_link": "softplus"}, {"decoder"}),
    ("vae3", {"dec_link": "softplus-std"}, {"decoder"}),
    ("vae3", {"enc_link": "softplus"}, {"prior 0", "prior 1"}),
    ("vae1", {"enc_link": "softplus-std"}, {"prior 0", "prior 1"}),
    ("vae1", {"dec_link": "softplus"}, set()),       # a free scalar sigma^2: any monotone link is closed
    ("vae2", {"enc_link": "softplus", "dec_link": "softplus"}, set()),  # VAE-2's prior orbit is alpha's
    ("linear", {"enc_link": "softplus", "dec_link": "softplus-std"}, set()),
    ("vae3", {"enc_link": "square", "dec_link": "square"}, set()),
])
def test_missing_orbits_follow_the_criterion(kind, links, missing):
    model = _model(kind, **links)
    assert set(orbits.missing_orbits(model)) == missing
    for name in missing:
        with pytest.raises(orbits.NotCovered, match="not closed"):
            orbits.move(model, _params(model), name, torch.zeros((), dtype=torch.float64))


def test_unknown_orbits_are_refused():
    model = _model("vae1")
    with pytest.raises(ValueError, match="valid: decoder, prior 0, prior 1"):
        orbits.move(model, _params(model), "encoder", torch.zeros((), dtype=torch.float64))
    with pytest.raises(ValueError, match="H = 2"):
        orbits.move(model, _params(model), "prior 2", torch.zeros((), dtype=torch.float64))
