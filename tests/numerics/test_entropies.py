"""Closed-form entropy sums (Eqs. 20, 25, 33, 39) against torch.distributions and the paper's Listing 1."""
import math

import pytest
import torch
from torch.distributions import Normal

from numerics.entropies import (entropy_sum_learned_prior, entropy_sum_linear, entropy_sum_vae1, entropy_sum_vae2,
                                entropy_sum_vae3, gaussian_entropy)
from numerics.estimators import gauss_hermite_design, sobol_design, three_entropies
from numerics.models import MODEL_KINDS, build_model

g = torch.Generator().manual_seed(11)
N, D, H = 13, 6, 3
sigma2 = torch.tensor([0.37], dtype=torch.float64)
tau2 = torch.rand(N, H, generator=g, dtype=torch.float64) + 0.05
alpha2 = torch.rand(H, generator=g, dtype=torch.float64) + 0.3


def H_normal(var):
    return Normal(torch.zeros_like(var), var.sqrt()).entropy()


def test_gaussian_entropy_matches_torch_distributions():
    var = torch.logspace(-6, 3, 50, dtype=torch.float64)
    torch.testing.assert_close(gaussian_entropy(var), H_normal(var), rtol=1e-14, atol=1e-14)


def test_vae1_is_the_sum_of_three_entropies():
    # -H[p(z)] - H[p(x|z)] + mean_n H[q_n]  (first line of Eq. 25)
    three = (-H_normal(torch.ones(H, dtype=torch.float64)).sum() - D * H_normal(sigma2).sum()
             + H_normal(tau2).sum(-1).mean())
    torch.testing.assert_close(entropy_sum_vae1(sigma2, tau2, D), three, rtol=1e-14, atol=1e-14)
    wrong_D = entropy_sum_vae1(sigma2, tau2, D + 1)
    assert abs(float(wrong_D - three)) > 0.1


def test_linear_matches_paper_listing_1():
    tau2_free = tau2[0]
    sigma, tau = sigma2.sqrt(), tau2_free.sqrt()
    listing = (N * (-D / 2 * (math.log(2 * math.pi) + 1) - D * torch.log(sigma) + torch.log(tau).sum())) / N
    torch.testing.assert_close(entropy_sum_linear(sigma2, tau2_free, D), listing.reshape(()), rtol=1e-14, atol=0.0)
    torch.testing.assert_close(entropy_sum_linear(sigma2, tau2_free.expand(N, H), D), listing.reshape(()))


def test_vae3_matches_paper_listing_1_and_reduces_to_vae1():
    K = 5
    sigma = torch.rand(K, N, D, generator=g, dtype=torch.float64) + 0.1
    listing = (-N * D / 2 * (math.log(2 * math.pi) + 1) - torch.log(sigma).mean(0).sum() + torch.log(tau2.sqrt()).sum()) / N
    got = entropy_sum_vae3(torch.log(sigma ** 2).mean(0), tau2)
    torch.testing.assert_close(got, listing, rtol=1e-14, atol=1e-13)
    constant = torch.log(sigma2).expand(N, D)  # z-independent sigma^2: Eq. 39 drops back to Eq. 25
    torch.testing.assert_close(entropy_sum_vae3(constant, tau2), entropy_sum_vae1(sigma2, tau2, D))


def test_vae2_entropy_sum_and_reparametrisation_to_vae1():
    three = -H_normal(alpha2).sum() - D * H_normal(sigma2).sum() + H_normal(tau2).sum(-1).mean()
    torch.testing.assert_close(entropy_sum_vae2(sigma2, tau2, alpha2, D), three, rtol=1e-14, atol=1e-14)
    # Eq. 28: with T~ = A T the prior entropy cancels against part of the encoder entropy.
    torch.testing.assert_close(entropy_sum_vae2(sigma2, alpha2 * tau2, alpha2, D), entropy_sum_vae1(sigma2, tau2, D))
    assert abs(float(entropy_sum_vae2(sigma2, tau2, alpha2, D) - entropy_sum_vae1(sigma2, tau2, D))) > 1e-3


def test_learned_prior_form_is_three_entropies_and_reduces_to_eqs_20_and_39():
    K = 4
    sigma = torch.rand(K, N, D, generator=g, dtype=torch.float64) + 0.1
    log_expect = torch.log(sigma ** 2).mean(0)
    three = (-H_normal(alpha2).sum() - (0.5 * (log_expect + math.log(2 * math.pi) + 1)).sum(-1).mean()
             + H_normal(tau2).sum(-1).mean())
    torch.testing.assert_close(entropy_sum_learned_prior(log_expect, tau2, alpha2), three, rtol=1e-14, atol=1e-14)
    ones = torch.ones(H, dtype=torch.float64)
    torch.testing.assert_close(entropy_sum_learned_prior(log_expect, tau2, ones), entropy_sum_vae3(log_expect, tau2))
    constant = torch.log(sigma2).expand(N, D)
    torch.testing.assert_close(entropy_sum_learned_prior(constant, tau2, alpha2), entropy_sum_vae2(sigma2, tau2, alpha2, D))
    assert abs(float(entropy_sum_learned_prior(log_expect, tau2, alpha2) - entropy_sum_vae3(log_expect, tau2))) > 1e-2


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_three_entropies_takes_the_closed_form_of_each_kit_model(kind):
    m = build_model(kind, D, H, hidden=(5,), generator=torch.Generator().manual_seed(2))
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    with torch.no_grad():
        nu, t2 = m.encode(x)
        if kind == "vae3":
            design = gauss_hermite_design(3, H)
            z = nu + t2.sqrt() * design.eps
            expect = entropy_sum_vae3((design.weights[:, None, None] * torch.log(m.decode(z)[1])).sum(0), t2)
            got = three_entropies(m, x, design)
            fine = three_entropies(m, x, sobol_design(2 ** 14, H, seed=1))  # ReLU kinks: GH converges slowly
            default = three_entropies(m, x)  # 256-point Sobol default
            assert abs(float(default - fine)) < 2e-3
        else:
            s2 = m.decode(nu)[1]
            expect = {"linear": lambda: entropy_sum_linear(s2, m.tau2(), D),
                      "vae1": lambda: entropy_sum_vae1(s2, t2, D),
                      "vae2": lambda: entropy_sum_vae2(s2, t2, m.prior_var(), D)}[kind]()
            got = three_entropies(m, x)
    torch.testing.assert_close(got, expect, rtol=1e-14, atol=1e-14)
