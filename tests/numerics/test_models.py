"""Models: shapes, deterministic initialisation, constraints, variance parameters."""
import pytest
import torch

from numerics.models import MODEL_KINDS, VAE1, LinearVAE, build_model

D, H = 7, 3


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_shapes(kind):
    m = build_model(kind, D, H, hidden=(6, 5), generator=gen())
    x = torch.randn(11, D, dtype=torch.float64)
    nu, tau2 = m.encode(x)
    assert nu.shape == (11, H) and tau2.shape == (11, H) and bool((tau2 > 0).all())
    mu, sigma2 = m.decode(torch.randn(4, 11, H, dtype=torch.float64))
    assert mu.shape == (4, 11, D)
    assert torch.broadcast_shapes(sigma2.shape, mu.shape) == mu.shape and bool((sigma2 > 0).all())
    if kind == "vae3":
        assert sigma2.shape == (4, 11, D)
    else:
        assert sigma2.numel() == 1
    assert m.prior_var().shape == (H,)
    assert m.kind == kind and m.D == D and m.H == H


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_initialisation_is_deterministic_given_the_generator(kind):
    a = build_model(kind, D, H, generator=gen(3)).state_dict()
    b = build_model(kind, D, H, generator=gen(3)).state_dict()
    c = build_model(kind, D, H, generator=gen(4)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_default_networks_are_two_hidden_layers_of_50():
    m = build_model("vae3", D, H)
    for net in (m.enc_mean, m.enc_var, m.dec_mean, m.dec_var):
        assert [tuple(layer.bias.shape) for layer in net.layers] == [(50,), (50,), (net.layers[-1].bias.shape[0],)]
    assert isinstance(build_model("vae1", D, H), VAE1)


def test_dtype_and_device_are_respected():
    m = build_model("vae2", D, H, dtype=torch.float32, device="cpu", generator=gen())
    assert all(p.dtype == torch.float32 for p in m.parameters())
    nu, tau2 = m.encode(torch.randn(5, D))
    assert nu.dtype == torch.float32


def test_unknown_kind_lists_valid_kinds():
    with pytest.raises(ValueError, match="unknown model kind 'vae4'; valid: linear, vae1, vae2, vae3"):
        build_model("vae4", D, H)
    with pytest.raises(ValueError, match="unknown link"):
        build_model("vae1", D, H, enc_link="relu")


def test_vae2_first_decoder_layer_has_unit_columns_at_any_parameter_value():
    m = build_model("vae2", D, H, generator=gen())
    first = m.dec_mean.layers[0]
    with torch.no_grad():
        first.weight_raw.mul_(torch.rand(first.weight_raw.shape, dtype=torch.float64) * 10)
    norms = torch.linalg.vector_norm(first.weight(), dim=0)
    torch.testing.assert_close(norms, torch.ones(H, dtype=torch.float64), rtol=1e-14, atol=0.0)
    assert m.prior_var_raw.requires_grad and m.prior_var().shape == (H,)


def test_linear_vae_has_no_encoder_bias_and_free_variances():
    m = build_model("linear", D, H, generator=gen())
    assert isinstance(m, LinearVAE)
    nu, tau2 = m.encode(m.mu0.detach()[None])
    torch.testing.assert_close(nu, torch.zeros(1, H, dtype=torch.float64))
    torch.testing.assert_close(tau2, m.tau2()[None])
    m.set_sigma2(0.37)
    torch.testing.assert_close(m.decode(nu)[1], torch.tensor([0.37], dtype=torch.float64))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_variance_parameters_name_real_parameters_and_freeze_the_decoder_variance(kind):
    m = build_model(kind, D, H, hidden=(4,), generator=gen())
    params = dict(m.named_parameters())
    names = m.variance_parameters()
    assert names and all(n in params for n in names)
    for n in names:
        params[n].requires_grad_(False)
    before = {n: params[n].detach().clone() for n in names}
    z = torch.randn(20, H, dtype=torch.float64)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    mu, sigma2 = m.decode(z)
    (mu.sum() + m.encode(torch.randn(3, D, dtype=torch.float64))[1].sum()).backward()
    opt.step()
    assert all(torch.equal(before[n], params[n]) for n in names)
    if kind != "vae3":
        assert names == ["sigma2_raw"]
