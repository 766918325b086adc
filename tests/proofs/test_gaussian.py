"""Cross-checks of the SymPy Gaussian pieces against torch.distributions and sympy.stats."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from sympy import stats
from torch.distributions import Normal, kl_divergence

from proofs import gaussian as g

x = sp.Symbol("x", real=True)
mu = sp.Symbol("mu", real=True)
v = sp.Symbol("v", positive=True)
VALUES = [(0.3, 0.5), (-1.2, 2.0), (2.0, 0.1)]


@pytest.mark.parametrize("m,var", VALUES)
def test_entropy_matches_torch(m, var):
    ours = float(g.entropy(sp.Float(var)))
    theirs = Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(math.sqrt(var), dtype=torch.float64)).entropy().item()
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("m,var", VALUES)
def test_kl_matches_torch(m, var):
    kl = -g.evaluate_gaussian_integrals(g.expectation(g.normal_logpdf(x, 0, 1) - g.normal_logpdf(x, mu, v), x, mu, v))
    ours = float(kl.subs({mu: m, v: var}))
    q = Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(math.sqrt(var), dtype=torch.float64))
    p = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    assert ours == pytest.approx(kl_divergence(q, p).item(), rel=1e-12)


def test_logpdf_matches_torch():
    ours = float(g.normal_logpdf(sp.Float(0.7), sp.Float(-0.2), sp.Float(1.5)))
    theirs = Normal(torch.tensor(-0.2, dtype=torch.float64), torch.tensor(math.sqrt(1.5), dtype=torch.float64)).log_prob(torch.tensor(0.7, dtype=torch.float64)).item()
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_moments_and_entropy_match_sympy_stats():
    X = stats.Normal("X", mu, sp.sqrt(v))
    for poly in (x, x**2, x**2 + 3 * x, x**3):
        ours = g.evaluate_gaussian_integrals(g.expectation(poly, x, mu, v))
        assert sp.expand(ours - stats.E(poly.subs(x, X))) == 0
    assert sp.expand(sp.expand_log(stats.entropy(X) - g.entropy(v))) == 0


def test_log_partition_gradient_is_expected_statistic():
    X = stats.Normal("X", mu, sp.sqrt(v))
    grad = g.log_partition_gradient(*g.natural_parameters(mu, v))
    assert sp.simplify(grad[0] - stats.E(X)) == 0
    assert sp.simplify(grad[1] - stats.E(X**2)) == 0
