"""Variance links: positivity, inverses, exact scalings, closure as network heads, error messages."""
import pytest
import torch

from torch.nn.functional import softplus

from numerics.links import LINKS, closed_as_head, get_link, inverse_link


@pytest.mark.parametrize("name", sorted(LINKS))
def test_link_is_positive_and_inverse_round_trips(name):
    raw = torch.linspace(-5.0, 5.0, 101, dtype=torch.float64)
    raw = raw[raw != 0]  # square is 0 at 0 only
    var = get_link(name)(raw)
    assert bool((var > 0).all())
    targets = torch.tensor([1e-8, 1e-3, 0.5, 1.0, 7.0, 60.0], dtype=torch.float64)
    back = get_link(name)(inverse_link(name, targets))
    torch.testing.assert_close(back, targets, rtol=1e-12, atol=0.0)


def test_softplus_inverse_is_stable_where_naive_formula_fails():
    v = torch.tensor([40.0], dtype=torch.float64)
    naive = torch.log(torch.expm1(v))  # fine here, but overflows for large v
    assert torch.isfinite(inverse_link("softplus", torch.tensor([800.0], dtype=torch.float64))).all()
    torch.testing.assert_close(inverse_link("softplus", v), naive)


def test_unknown_link_lists_valid_names():
    with pytest.raises(ValueError, match="unknown link 'relu'; valid: exp, softplus, softplus-std, square"):
        get_link("relu")
    with pytest.raises(ValueError, match="valid: exp, softplus, softplus-std, square"):
        inverse_link("linear", 1.0)


def test_inverse_rejects_non_positive_variance():
    with pytest.raises(ValueError, match="positive"):
        inverse_link("exp", torch.tensor([0.0]))


def test_softplus_std_is_the_authors_parametrisation():
    """Listing 1 (Appendix C.3): sigma = softplus(a), so the variance is softplus(a)^2."""
    raw = torch.linspace(-4.0, 4.0, 17, dtype=torch.float64)
    torch.testing.assert_close(get_link("softplus-std")(raw), softplus(raw) ** 2, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_scale_free_multiplies_the_variance_exactly(name):
    raw = torch.tensor([-2.0, -0.3, 0.4, 3.0], dtype=torch.float64)
    link = get_link(name)
    for s in (-1.5, 0.0, 0.7):
        scaled = link.scale_free(raw, torch.tensor(s, dtype=torch.float64))
        torch.testing.assert_close(link(scaled), torch.exp(torch.tensor(s, dtype=torch.float64)) * link(raw), rtol=1e-13, atol=0)
    torch.testing.assert_close(link.scale_free(raw, torch.tensor(0.0, dtype=torch.float64)), raw, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_a_head_is_closed_under_scaling_exactly_for_exp_and_square(name):
    """DESIGN.md 'criterion': link(W h + b) can be multiplied by e^s at every h by changing (W, b) iff
    the link is exp-like. For the closed links the change is exact; for the others no affine change
    works (the twin: the best affine fit of log(e^s link(a)) leaves a residual)."""
    gen = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(3, 4, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64)
    h = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    s = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    link = get_link(name)
    assert closed_as_head(name) == (name in ("exp", "square"))
    if closed_as_head(name):
        w2, b2 = link.scale_head(weight, bias, s)
        torch.testing.assert_close(link(h @ w2.T + b2), torch.exp(s) * link(h @ weight.T + bias), rtol=1e-12, atol=0)
        return
    target = link.inverse(torch.exp(s) * link(h @ weight.T + bias))      # the raw output needed at each h
    design = torch.cat([h, torch.ones(50, 1, dtype=torch.float64)], 1)
    fit = torch.linalg.lstsq(design, target).solution
    assert float((design @ fit - target).abs().max()) > 1e-3
