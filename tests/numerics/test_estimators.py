"""ELBO estimators, standard errors and the gap identity F - S = residuals (with failing twins)."""
import json
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import numerics.estimators as est
from numerics.entropies import gaussian_entropy
from numerics.estimators import (Design, elbo_objective, evaluate, gauss_hermite_design, mc_design,
                                 rqmc_design, sobol_design)
from numerics.models import MODEL_KINDS, GaussianVAE, build_model

D, H, N = 6, 2, 40


def gen(seed):
    return torch.Generator().manual_seed(seed)


def model(kind, seed=0, **kw):
    m = build_model(kind, D, H, hidden=(7, 5), generator=gen(seed), **kw)
    with torch.no_grad():  # random (non-stationary) variances, so every residual is far from 0
        for p in m.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen(seed + 100), dtype=p.dtype))
    return m


def data(seed=1, n=N):
    return torch.randn(n, D, generator=gen(seed), dtype=torch.float64) * 1.5 + 0.3


def designs(n=N):
    return [mc_design(8, n, H, generator=gen(5)), mc_design(8, 1, H, generator=gen(6)),
            gauss_hermite_design(5, H), sobol_design(32, H, seed=3), rqmc_design(16, n, H, replicates=4, generator=gen(7))]


# ---------------------------------------------------------------- gap identity
@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("design_index", range(5))
def test_identity_holds_to_round_off_at_random_parameters(kind, design_index):
    ev = evaluate(model(kind), data(), designs()[design_index]).to_dict()
    assert abs(ev["gap"]) > 1e-2  # far from stationary: the identity is not trivially 0 = 0
    assert ev["identity_error"] <= 1e-14 * max(1.0, abs(ev["elbo"]))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_identity_breaks_with_a_wrong_entropy_sum(kind, monkeypatch):
    """Twin: drop the encoder-entropy (and prior-entropy) terms from S; the identity error then equals
    exactly the dropped amount."""
    m, x, d = model(kind), data(), designs()[0]
    right = evaluate(m, x, d)

    def decoder_entropy_only(sigma2, tau2, D):
        return -D * gaussian_entropy(sigma2).reshape(())

    monkeypatch.setattr(est, "entropy_sum_vae1", decoder_entropy_only)  # the linear VAE's Eq. 33 is Eq. 25
    monkeypatch.setattr(est, "entropy_sum_vae2", lambda s2, t2, a2, D: decoder_entropy_only(s2, t2, D))
    monkeypatch.setattr(est, "entropy_sum_vae3", lambda logs, t2: -0.5 * logs.sum(-1).mean())
    wrong = evaluate(m, x, d)
    dropped = (right.entropy_sum - wrong.entropy_sum).abs().detach()
    assert float(dropped) > 1e-3
    torch.testing.assert_close(wrong.identity_error, dropped, rtol=1e-10, atol=0.0)


def test_identity_breaks_with_a_design_not_shared_between_F_and_residual():
    """Twin: estimating the decoder residual from other samples than F leaves an O(SE) error."""
    ev = evaluate(model("vae3"), data(), mc_design(8, N, H, generator=gen(5)))
    other = evaluate(model("vae3"), data(), mc_design(8, N, H, generator=gen(50)))
    mixed = abs(float((ev.gap - (other.residual_decoder + 0.5 * ev.residual_prior.sum())).detach()))
    assert mixed > 1e3 * max(float(ev.identity_error), 1e-16)


# ------------------------------------------------ residuals are -dF/dt along the variance scalings
def test_decoder_residual_is_minus_the_sigma2_log_derivative():
    """(D/2) r_sigma = -dF/d log sigma^2 (exp link: log sigma^2 is the raw parameter), same design."""
    m, x, d = model("vae1"), data(), designs()[0]
    elbo_objective(m, x, d).backward()
    ev = evaluate(m, x, d)
    torch.testing.assert_close(-m.sigma2_raw.grad.reshape(()), ev.residual_decoder.detach(), rtol=1e-12, atol=1e-12)


def test_prior_residual_is_minus_twice_the_alpha2_log_derivative():
    m, x, d = model("vae2"), data(), designs()[2]
    elbo_objective(m, x, d).backward()
    ev = evaluate(m, x, d)
    torch.testing.assert_close(-2.0 * m.prior_var_raw.grad, ev.residual_prior.detach(), rtol=1e-12, atol=1e-12)


def test_vae3_decoder_residual_is_minus_the_derivative_along_the_last_bias_of_the_sigma_net():
    """sigma^2(z) -> e^t sigma^2(z) for all d is a shift of the affine output of DNN_sigma (exp link)."""
    m, x, d = model("vae3"), data(), designs()[0]
    elbo_objective(m, x, d).backward()
    ev = evaluate(m, x, d)
    torch.testing.assert_close(-m.dec_var.layers[-1].bias.grad.sum(), ev.residual_decoder.detach(),
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------- cross-checks with torch.distributions
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_kl_and_expected_loglik_match_torch_distributions(kind):
    m, x, d = model(kind), data(), designs()[0]
    ev = evaluate(m, x, d)
    with torch.no_grad():
        nu, tau2 = m.encode(x)
        q, p = Normal(nu, tau2.sqrt()), Normal(torch.zeros_like(nu), m.prior_var().sqrt())
        torch.testing.assert_close(ev.kl, kl_divergence(q, p).sum(-1).mean(), rtol=1e-13, atol=1e-13)
        if kind != "linear":
            mu, sigma2 = m.decode(nu + tau2.sqrt() * d.eps)
            ll = Normal(mu, sigma2.sqrt().expand_as(mu)).log_prob(x).sum(-1).mean(0).mean()
            torch.testing.assert_close(ev.expected_loglik, ll, rtol=1e-13, atol=1e-13)


# -------------------------------------------------------------- designs
def test_gauss_hermite_integrates_polynomials_exactly():
    d = gauss_hermite_design(4, 2)  # exact up to degree 7 per coordinate
    z1, z2, w = d.eps[:, 0, 0], d.eps[:, 0, 1], d.weights
    for f, exact in [(z1 ** 2, 1.0), (z1 ** 4, 3.0), (z1 ** 6, 15.0), (z1 ** 2 * z2 ** 2, 1.0), (z1 ** 3 * z2, 0.0)]:
        assert abs(float((w * f).sum()) - exact) < 1e-13
    assert d.K == 16 and d.shared and abs(float(w.sum()) - 1.0) < 1e-15
    coarse = gauss_hermite_design(2, 1)  # twin: 2 nodes cannot integrate z^4
    assert abs(float((coarse.weights * coarse.eps[:, 0, 0] ** 4).sum()) - 3.0) > 1.0


def test_sobol_design_is_finite_standard_normal_and_deterministic():
    d = sobol_design(4096, 3, seed=7)
    assert bool(torch.isfinite(d.eps).all()) and d.eps.shape == (4096, 1, 3) and d.kind == "qmc"
    assert float(d.eps.mean(0).abs().max()) < 5e-3 and float((d.eps.var(0) - 1).abs().max()) < 1e-2
    assert torch.equal(d.eps, sobol_design(4096, 3, seed=7).eps)


def test_mc_design_reproducible_and_validated():
    assert torch.equal(mc_design(3, 4, 2, generator=gen(1)).eps, mc_design(3, 4, 2, generator=gen(1)).eps)
    with pytest.raises(ValueError, match="valid: mc, rqmc, gauss-hermite, qmc"):
        Design(eps=torch.zeros(2, 1, 2), weights=torch.ones(2) / 2, kind="halton")
    with pytest.raises(ValueError, match="does not fit"):
        evaluate(model("vae1"), data(), mc_design(3, N + 1, H, generator=gen(1)))
    with pytest.raises(ValueError, match="needs a design"):
        evaluate(model("vae3"), data(), None)
    with pytest.raises(ValueError, match=r"x must be \[N, D=6\]"):
        evaluate(model("linear"), torch.zeros(3, 5, dtype=torch.float64), None)


# ------------------------------------------------- MC vs analytic ELBO; standard errors
class Wrapped(GaussianVAE):
    """A user model wrapping `inner` (not a LinearVAE, so its ELBO is estimated by sampling; the `kind`
    it declares is ignored: what decode returns decides the entropy formula)."""

    def __init__(self, inner, kind):
        super().__init__(inner.D, inner.H, enc_link="exp", dec_link="exp")
        self.inner, self.kind = inner, kind

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, z):
        return self.inner.decode(z)


def test_mc_elbo_agrees_with_analytic_linear_elbo_and_a_biased_estimator_is_caught():
    lin = model("linear", seed=4)
    x = data(n=400)
    with torch.no_grad():
        exact = evaluate(lin, x, None)
        sampled = evaluate(Wrapped(lin, "vae1"), x, mc_design(50, 400, H, generator=gen(9)))
    assert float(exact.elbo_se) == 0.0 and exact.design_kind == "analytic"
    z_score = float((sampled.elbo - exact.elbo) / sampled.elbo_se)
    assert abs(z_score) < 4.0 and float(sampled.elbo_se) > 0
    assert abs(float(sampled.gap - exact.gap)) < 4.0 * float(sampled.gap_se)
    biased = mc_design(50, 400, H, generator=gen(9))
    biased.eps = 0.8 * biased.eps  # twin: samples from a too-narrow q
    with torch.no_grad():
        wrong = evaluate(Wrapped(lin, "vae1"), x, biased)
    assert abs(float((wrong.elbo - exact.elbo) / wrong.elbo_se)) > 10.0


def _assert_se_matches_spread(make_design, repetitions: int, seed: int) -> None:
    """The reported SE of F and of the gap equals (within 20-25%) their spread over independent designs."""
    m, x = model("vae3", seed=2), data(n=20)
    estimates, ses, gap_estimates, gap_ses = [], [], [], []
    with torch.no_grad():
        for r in range(repetitions):
            ev = evaluate(m, x, make_design(gen(seed + r)))
            estimates.append(float(ev.elbo)); ses.append(float(ev.elbo_se))
            gap_estimates.append(float(ev.gap)); gap_ses.append(float(ev.gap_se))
    for values, reported in [(estimates, ses), (gap_estimates, gap_ses)]:
        spread = torch.tensor(values).std().item()
        rms_se = math.sqrt(sum(s * s for s in reported) / len(reported))
        assert 0.8 < rms_se / spread < 1.25, (rms_se, spread)


@pytest.mark.parametrize("shared", [False, True])
def test_reported_standard_error_matches_the_spread_over_repetitions(shared):
    _assert_se_matches_spread(lambda g: mc_design(6, 1 if shared else 20, H, generator=g), 120, 1000)


def test_rqmc_design_shape_range_and_validation():
    d = rqmc_design(32, 5, 3, replicates=4, generator=gen(1))
    assert d.eps.shape == (32, 5, 3) and d.kind == "rqmc" and d.replicates == 4 and not d.shared
    assert bool(torch.isfinite(d.eps).all()) and float(d.eps.abs().max()) <= 8.3
    assert torch.equal(d.eps, rqmc_design(32, 5, 3, replicates=4, generator=gen(1)).eps)
    # each replicate block of each point is a digital shift of ONE base set: XOR differences agree
    bits = torch.floor(torch.special.ndtr(d.eps) * 2.0 ** 30).to(torch.int64).reshape(4, 8, 5, 3)
    xor = torch.bitwise_xor(bits, bits[:, :1])
    assert torch.equal(xor, xor[:1, :, :1].expand_as(xor))
    # every block is stratified: in each coordinate its 8 points fall in the 8 cells of width 1/8
    cells = torch.floor(torch.special.ndtr(d.eps) * 8).reshape(4, 8, 5, 3).sort(dim=1).values
    assert torch.equal(cells, torch.arange(8.0, dtype=cells.dtype)[None, :, None, None].expand_as(cells))
    with pytest.raises(ValueError, match="divide K"):
        rqmc_design(30, 5, 3, replicates=4, generator=gen(1))


def test_rqmc_elbo_is_unbiased_for_the_linear_vae_and_a_biased_design_is_caught():
    """Analytic reference: the linear VAE's ELBO is closed-form; sampled through the generic path with
    rqmc, the estimate must agree within a few reported SEs, and the SE must be far below plain MC's."""
    lin = model("linear", seed=4)
    x = data(n=400)
    with torch.no_grad():
        exact = evaluate(lin, x, None)
        z_scores = []
        for r in range(20):
            sampled = evaluate(Wrapped(lin, "vae1"), x, rqmc_design(64, 400, H, replicates=4, generator=gen(40 + r)))
            z_scores.append(float((sampled.elbo - exact.elbo) / sampled.elbo_se))
        plain = evaluate(Wrapped(lin, "vae1"), x, mc_design(64, 400, H, generator=gen(9)))
        biased = rqmc_design(64, 400, H, replicates=4, generator=gen(9))
        biased.eps = 0.8 * biased.eps  # twin: samples from a too-narrow q
        wrong = evaluate(Wrapped(lin, "vae1"), x, biased)
    assert max(abs(z) for z in z_scores) < 4.5
    assert abs(sum(z_scores) / math.sqrt(len(z_scores))) < 4.0  # the mean of 20 z-scores: no bias
    assert float(sampled.elbo_se) < 0.5 * float(plain.elbo_se)  # measured ~3x below plain MC at K=64
    assert abs(float((wrong.elbo - exact.elbo) / wrong.elbo_se)) > 10.0


@pytest.mark.parametrize("shared", [False, True])
def test_rqmc_standard_error_matches_the_spread_over_repetitions(shared):
    _assert_se_matches_spread(lambda g: rqmc_design(16, 1 if shared else 20, H, replicates=4, generator=g), 150, 2000)


def test_rqmc_se_of_a_single_replicate_is_none():
    assert evaluate(model("vae1"), data(), rqmc_design(8, N, H, replicates=1, generator=gen(1))).to_dict()["elbo_se"] is None


def test_deterministic_designs_report_zero_se_and_k1_reports_none():
    m, x = model("vae1"), data()
    assert float(evaluate(m, x, designs()[2]).elbo_se) == 0.0
    assert evaluate(m, x, mc_design(1, N, H, generator=gen(1))).to_dict()["elbo_se"] is None


# -------------------------------------------------------------- mechanics
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_chunking_does_not_change_values_and_objective_equals_evaluate(kind):
    m, x = model(kind), data()
    for d in designs():
        full = evaluate(m, x, d)
        chunked = evaluate(m, x, d, chunk_size=7)
        with torch.no_grad():  # per-point rows copied into one buffer instead of kept per chunk (estimators._Rows)
            buffered = evaluate(m, x, d, chunk_size=7)
        for key in ("elbo", "entropy_sum", "residual_decoder", "residual_prior", "gap", "elbo_se", "gap_se"):
            torch.testing.assert_close(getattr(chunked, key), getattr(full, key), rtol=1e-12, atol=1e-13)
            torch.testing.assert_close(getattr(buffered, key), getattr(full, key).detach(), rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(elbo_objective(m, x, d), full.elbo, rtol=1e-14, atol=1e-13)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_elbo_is_differentiable_in_every_parameter(kind):
    m, x = model(kind), data()
    evaluate(m, x, designs()[0]).elbo.backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in m.parameters())


def test_to_dict_is_json_and_float32_works():
    ev = evaluate(model("vae2"), data(), designs()[3])
    d = json.loads(json.dumps(ev.to_dict()))
    assert set(d) >= {"elbo", "elbo_se", "entropy_sum", "residual_decoder", "residual_prior", "gap", "gap_se",
                      "identity_error"}
    assert len(d["residual_prior"]) == H
    m32 = build_model("vae3", D, H, dtype=torch.float32, generator=gen(0))
    ev32 = evaluate(m32, data().float(), mc_design(4, N, H, generator=gen(1), dtype=torch.float32))
    assert ev32.elbo.dtype == torch.float32 and float(ev32.identity_error) < 1e-5 * abs(ev32.to_dict()["elbo"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_cuda_gives_the_cpu_values(kind):
    """Same generator -> same initial model and samples on CUDA; values agree to float64 round-off."""
    x = data()
    results = []
    for device in ("cpu", "cuda"):
        m = build_model(kind, D, H, hidden=(7, 5), generator=gen(0), device=device)
        d = mc_design(8, N, H, generator=gen(5), device=device)
        ev = evaluate(m, x.to(device), d)
        ev.elbo.backward()
        assert ev.elbo.device.type == device
        results.append((ev.to_dict(), [p.grad.cpu() for p in m.parameters()]))
    (cpu, g_cpu), (cuda, g_cuda) = results
    for key in ("elbo", "entropy_sum", "gap", "residual_decoder"):
        assert abs(cpu[key] - cuda[key]) < 1e-10 * max(1.0, abs(cpu[key]))
    for a, b in zip(g_cpu, g_cuda):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


class ZShapedVariance(Wrapped):
    """`inner` with its scalar decoder variance returned as a z-dependent [..., D] tensor (same values)."""

    def decode(self, z):
        mu, sigma2 = self.inner.decode(z)
        return mu, sigma2.expand_as(mu)


class PerDimensionVariance(Wrapped):
    """`inner`'s decoder mean with a free variance per output dimension, sigma_d^2 = exp(log_var_d)."""

    def __init__(self, inner):
        super().__init__(inner, "vae1")
        self.log_var = torch.nn.Parameter(torch.linspace(-1.0, 0.5, inner.D, dtype=torch.float64))

    def decode(self, z):
        return self.inner.decode(z)[0], self.log_var.exp()


class LearnedPrior(Wrapped):
    """`inner` (VAE-3: z-dependent variances) with a learned prior N(0, diag(exp(log_alpha2)))."""

    def __init__(self, inner):
        super().__init__(inner, "vae3")
        self.log_alpha2 = torch.nn.Parameter(torch.tensor([0.4, -0.7], dtype=torch.float64))

    def prior_var(self):
        return self.log_alpha2.exp()


def test_the_formula_follows_what_decode_returns_not_the_kind():
    x, d = data(), designs()[0]
    inner = model("vae1")
    cases = [(inner, "Eq. 25"), (model("linear"), "Eq. 25"), (model("vae2"), "Eq. 20"), (model("vae3"), "Eq. 39"),
             (Wrapped(inner, "vae3"), "Eq. 25"), (ZShapedVariance(inner, "vae1"), "Eq. 39"),
             (PerDimensionVariance(inner), "Eq. 39 (constant sigma_d^2)"), (LearnedPrior(model("vae3")), "Eqs. 20 + 39")]
    with torch.no_grad():
        for m, formula in cases:
            ev = evaluate(m, x, d)
            assert ev.entropy_formula == formula, (type(m).__name__, ev.entropy_formula)
            assert float(ev.identity_error) <= 1e-13 * max(1.0, abs(float(ev.elbo)))
            torch.testing.assert_close(est.three_entropies(m, x, d), ev.entropy_sum, rtol=1e-13, atol=1e-13)


def test_decoder_variance_form_by_shape():
    mu = torch.zeros(3, 4, 5)
    assert est.decoder_variance_form(torch.tensor(2.0), mu) == "scalar"
    assert est.decoder_variance_form(torch.ones(1), mu) == "scalar"
    assert est.decoder_variance_form(torch.ones(5), mu) == "per-dimension"
    assert est.decoder_variance_form(torch.ones(1, 5), mu) == "per-dimension"
    assert est.decoder_variance_form(torch.ones(3, 4, 5), mu) == "z-dependent"
    assert est.decoder_variance_form(torch.ones(3, 4, 1), mu) == "z-dependent"
    with pytest.raises(ValueError, match="must be a scalar, \\[D\\] or"):
        est.decoder_variance_form(torch.ones(7), mu)


def test_eq39_on_a_scalar_sigma_model_equals_eq25():
    inner = model("vae1")
    x, d = data(), designs()[0]
    with torch.no_grad():
        # the same model with its z-independent scalar variance returned z-shaped: Eq. 39 drops back to Eq. 25
        as_vae1, as_vae3 = evaluate(inner, x, d), evaluate(ZShapedVariance(inner, "vae1"), x, d)
    assert (as_vae1.entropy_formula, as_vae3.entropy_formula) == ("Eq. 25", "Eq. 39")
    for key in ("elbo", "entropy_sum", "gap", "residual_decoder", "elbo_se"):
        torch.testing.assert_close(getattr(as_vae3, key), getattr(as_vae1, key), rtol=1e-13, atol=1e-13)


def test_per_dimension_variance_is_eq39_in_closed_form_and_zero_gap_at_its_stationary_value():
    """sigma_d^2 := (1/N) sum_n E_q (x_nd - mu_d)^2 zeroes the decoder residual; with the prior residuals
    zeroed as well (rescaled data), F = S to round-off on that design."""
    m, x, d = PerDimensionVariance(model("vae1")), data(), designs()[2]
    with torch.no_grad():
        nu, tau2 = m.encode(x)
        mu = m.decode(nu + tau2.sqrt() * d.eps)[0]
        m.log_var.copy_(torch.log((d.weights[:, None, None] * (x - mu) ** 2).sum(0).mean(0)))
        ev = evaluate(m, x, d)
    assert abs(float(ev.residual_decoder)) < 1e-13
    expect = (0.5 * torch.log(tau2).sum(-1).mean() - 0.5 * m.log_var.sum()
              - 0.5 * x.shape[1] * (math.log(2 * math.pi) + 1))
    torch.testing.assert_close(ev.entropy_sum, expect, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ev.gap, 0.5 * ev.residual_prior.sum(), rtol=1e-12, atol=1e-13)


def test_learned_prior_with_z_dependent_variances_keeps_the_prior_entropy(monkeypatch):
    """Twin: S without the prior entropy (Eq. 39 as printed, for N(0, 1)) breaks the identity of a model
    with a learned prior by exactly 1/2 sum_h log(alpha_h^2)."""
    m, x, d = LearnedPrior(model("vae3")), data(), designs()[0]
    with torch.no_grad():
        right = evaluate(m, x, d)
        monkeypatch.setattr(est, "entropy_sum_learned_prior", lambda logs, t2, a2: est.entropy_sum_vae3(logs, t2))
        wrong = evaluate(m, x, d)
    assert float(right.identity_error) < 1e-13 * abs(float(right.elbo))
    torch.testing.assert_close(wrong.identity_error, 0.5 * m.log_alpha2.detach().sum().abs(), rtol=1e-10, atol=0.0)


# ------------------------------------------- the affine-output (Gram) path for scalar-sigma decoders
class PlainModule(torch.nn.Module):
    """A user model that is not a GaussianVAE (kind, D, H, encode, decode, prior_var only): without
    `decode_affine` the estimators form mu and sum (x - mu)^2 directly."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.kind, self.D, self.H = inner, inner.kind, inner.D, inner.H

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, z):
        return self.inner.decode(z)

    def prior_var(self):
        return self.inner.prior_var()


def _gram_vs_direct(kind, dtype):
    """Largest relative difference between the Gram path and the direct sum: evaluate's fields and
    the gradient of the training objective, on MNIST-like data (pixels in [0, 1], D = 784)."""
    m = build_model(kind, 784, H, hidden=(7, 5), generator=gen(3), dtype=dtype)
    x = torch.rand(30, 784, generator=gen(4), dtype=torch.float64).to(dtype)
    d = rqmc_design(8, 30, H, replicates=4, generator=gen(5), dtype=dtype)
    worst = 0.0
    with torch.no_grad():
        ev_gram, ev_direct = evaluate(m, x, d), evaluate(PlainModule(m), x, d)
    for key in ("elbo", "entropy_sum", "gap", "residual_decoder", "elbo_se", "gap_se"):
        a, b = getattr(ev_gram, key), getattr(ev_direct, key)
        worst = max(worst, float(abs(a - b) / abs(b)))
    g_gram = torch.autograd.grad(elbo_objective(m, x, d), list(m.parameters()))
    g_direct = torch.autograd.grad(elbo_objective(PlainModule(m), x, d), list(m.parameters()))
    for a, b in zip(g_gram, g_direct):
        worst = max(worst, float((a - b).norm() / b.norm()))
    return worst


@pytest.mark.parametrize("kind", ["vae1", "vae2"])
def test_gram_path_equals_the_direct_squared_error(kind):
    assert _gram_vs_direct(kind, torch.float64) < 1e-12
    assert _gram_vs_direct(kind, torch.float32) < 1e-5


def test_gram_path_comparison_catches_a_wrong_expansion(monkeypatch):
    def without_factor_two(x, features, weight, bias):
        centred = x - bias
        return ((centred ** 2).sum(-1) - (features * (centred @ weight)).sum(-1)
                + ((features @ (weight.T @ weight)) * features).sum(-1))
    monkeypatch.setattr(est, "squared_error_affine", without_factor_two)
    assert _gram_vs_direct("vae1", torch.float64) > 1e-3


def test_gram_path_only_where_it_is_cheaper(monkeypatch):
    """With more features than outputs (VAE-2 on D = 10 with 50 hidden units) the direct sum is used."""
    def refuse(*args):
        raise AssertionError("Gram path taken")
    monkeypatch.setattr(est, "squared_error_affine", refuse)
    wide = build_model("vae1", 4, H, hidden=(7, 5), generator=gen(3))
    evaluate(wide, torch.rand(10, 4, generator=gen(4), dtype=torch.float64), mc_design(4, 10, H, generator=gen(5)))
    with pytest.raises(AssertionError, match="Gram path taken"):
        evaluate(model("vae1"), data(), designs()[0])


def test_models_without_an_affine_decoder_take_the_direct_path():
    assert model("vae3").decode_affine(torch.zeros(1, H, dtype=torch.float64)) is None


def test_a_plain_module_without_decode_affine_is_evaluated_like_the_model_it_wraps():
    m, x, d = model("vae1"), data(), designs()[0]
    with torch.no_grad():
        plain, built = evaluate(PlainModule(m), x, d), evaluate(m, x, d)
    torch.testing.assert_close(plain.elbo, built.elbo, rtol=1e-12, atol=1e-12)
    assert est.row_width(PlainModule(m)) == D


def test_row_width_is_the_feature_width_only_on_the_gram_path():
    assert est.row_width(build_model("vae1", 784, H, hidden=(50, 50))) == 50
    assert est.row_width(build_model("vae3", 784, H, hidden=(50, 50))) == 784  # per-d variances: no Gram path
    assert est.row_width(build_model("vae2", 10, H, hidden=(50, 50))) == 10    # more features than outputs


def test_a_design_samples_the_linear_vae_like_listing_1():
    """Appendix C.3 / Listing 1: the mean over reparametrised samples of log p(x|z) minus the analytic
    KL. With a design the linear VAE's ELBO is that estimator (not the closed form), unbiased for it."""
    lin, x = model("linear", seed=4), data(n=300)
    with torch.no_grad():
        exact = evaluate(lin, x, None)
        designs = [mc_design(100, 300, H, generator=gen(60 + r)) for r in range(3)]
        sampled = [evaluate(lin, x, d) for d in designs]
        objective = elbo_objective(lin, x, designs[0])
    q = Normal(lin.encode(x)[0], lin.encode(x)[1].sqrt())
    z = q.mean + q.stddev * designs[0].eps
    mu, sigma2 = lin.decode(z)
    listing = (Normal(mu, sigma2.sqrt()).log_prob(x).sum(-1).mean(0)
               - kl_divergence(q, Normal(torch.zeros_like(q.mean), torch.ones_like(q.mean))).sum(-1)).mean()
    assert float(objective) == pytest.approx(float(listing.detach()), rel=1e-12)
    for ev in sampled:
        assert ev.design_kind == "mc" and float(ev.elbo) != float(exact.elbo) and float(ev.elbo_se) > 0
        assert abs(float((ev.elbo - exact.elbo) / ev.elbo_se)) < 4.0
        assert float(ev.identity_error) <= 1e-13 * abs(float(ev.elbo))
