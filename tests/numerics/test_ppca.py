"""p-PCA: Eq. 45 vs MultivariateNormal, the ML solution, and Corollary A1 on the linear VAE."""
import pytest
import torch
from torch.distributions import MultivariateNormal

from numerics.data import ppca_data
from numerics.estimators import evaluate
from numerics.models import build_model
from numerics.ppca import linear_vae_at_ml, ppca_loglik, ppca_ml

DS = ppca_data(n_train=3000, n_test=1000, seed=3)
X = DS.x_train


def ev_of(model):
    with torch.no_grad():
        return evaluate(model, X, None)


def test_eq45_matches_multivariate_normal_about_the_model_mean():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(10, 2, generator=g, dtype=torch.float64)
    mu = torch.randn(10, generator=g, dtype=torch.float64)  # not the data mean
    C = W @ W.T + 0.3 * torch.eye(10, dtype=torch.float64)
    expected = MultivariateNormal(mu, C).log_prob(X).mean()
    torch.testing.assert_close(ppca_loglik(X, W, mu, 0.3), expected, rtol=1e-13, atol=1e-12)


def test_ml_solution_is_stationary_and_recovers_the_noise_level():
    ml = ppca_ml(X, 2)
    W = ml["W"].clone().requires_grad_(True)
    mu = ml["mu"].clone().requires_grad_(True)
    s2 = ml["sigma2"].clone().requires_grad_(True)
    ppca_loglik(X, W, mu, s2).backward()
    for grad in (W.grad, mu.grad, s2.grad):
        assert float(grad.abs().max()) < 1e-9
    assert abs(float(ml["sigma2"]) / DS.meta["sigma_gen"] ** 2 - 1) < 0.05
    torch.testing.assert_close(ml["sigma2"], ml["eigenvalues"][2:].mean())
    twin = ppca_loglik(X, 1.05 * ml["W"], ml["mu"], ml["sigma2"])  # a non-ML W has lower likelihood
    assert float(twin) < float(ml["loglik"]) - 1e-4


def test_corollary_a1_elbo_and_entropy_sum_equal_the_ml_loglik():
    ml = ppca_ml(X, 2)
    ev = ev_of(linear_vae_at_ml(X, 2))
    assert abs(float(ev.elbo) - float(ml["loglik"])) < 1e-10           # ELBO tight at the optimum
    assert abs(float(ev.entropy_sum) - float(ml["loglik"])) < 1e-10    # Eq. 33 = Eq. 44 = Eq. 45
    assert abs(float(ev.residual_decoder)) < 1e-10 and float(ev.residual_prior.abs().max()) < 1e-10


@pytest.mark.parametrize("link", ["softplus", "square"])
def test_corollary_a1_is_independent_of_the_link(link):
    ev = ev_of(linear_vae_at_ml(X, 2, enc_link=link, dec_link=link))
    assert abs(float(ev.entropy_sum - ev.elbo)) < 1e-10


def test_twin_wrong_sigma2_breaks_corollary_a1():
    ml = ppca_ml(X, 2)
    model = linear_vae_at_ml(X, 2)
    model.set_sigma2(1.5 * float(ml["sigma2"]))
    ev = ev_of(model)
    assert float(ev.elbo) < float(ml["loglik"]) - 0.1
    assert abs(float(ev.gap)) > 0.1 and abs(float(ev.residual_decoder)) > 0.1


def test_elbo_is_a_lower_bound_on_eq45_at_random_parameters():
    for seed in range(5):
        m = build_model("linear", 10, 2, generator=torch.Generator().manual_seed(seed))
        ev = ev_of(m)
        with torch.no_grad():
            ll = ppca_loglik(X, m.W, m.mu0, m.sigma2())
        assert float(ev.elbo) <= float(ll)


def test_bad_latent_dimension():
    with pytest.raises(ValueError, match="0 < H < D"):
        ppca_ml(X, 10)
