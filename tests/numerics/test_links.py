"""Variance links: positivity, inverses, error messages."""
import pytest
import torch

from numerics.links import LINKS, get_link, inverse_link


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
    with pytest.raises(ValueError, match="unknown link 'relu'; valid: exp, softplus, square"):
        get_link("relu")
    with pytest.raises(ValueError, match="valid: exp, softplus, square"):
        inverse_link("linear", 1.0)


def test_inverse_rejects_non_positive_variance():
    with pytest.raises(ValueError, match="positive"):
        inverse_link("exp", torch.tensor([0.0]))
