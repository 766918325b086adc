"""Proposition 2 (VAE-1, Eqs. 25-28): at stationary points F = -D/2 log(2 pi e sigma^2) + 1/(2N) sum log tau^2.

The chain starts from VAE-1's ELBO (Eqs. 1-5, decoder with a linear first layer, Eq. 11) and
rewrites it, by the lemma ``prop2/reparametrization`` (Eqs. 26-27), as VAE-2's ELBO at
W~ = W0 A^(-1/2), nu~ = A^(1/2) nu, T~ = A T, for any positive alpha_h^2. Proposition 1 then gives
Eq. 28's first line, provided VAE-2 is stationary there in sigma^2 and in every alpha_k^2: the
engine checks that this follows from VAE-1's stationarity, because

* d/dsigma^2 of VAE-2's F at the instance equals d/dsigma^2 of VAE-1's F, and
* d/dalpha_k^2 of VAE-2's F at the instance equals (1/alpha_k^2) times the derivative of VAE-1's
  F along the orbit W0[:, k] -> e^(t/2) W0[:, k], nu_k -> e^(-t/2) nu_k, tau_k^2 -> e^(-t) tau_k^2.

That orbit is a path in VAE-1's parameter space only if the first decoder layer is linear in z
(so W0 z is unchanged along it) and the encoder can scale its outputs per latent: those are the
two structural hypotheses, and the paper's "VAE-1 stationary => VAE-2 stationary" rests on them.
The unit-norm constraint of Eqs. 17-18 (alpha_h = ||W0_h||) is not needed: any alpha_h^2 > 0 works.
"""

from __future__ import annotations

import sympy as sp
from sympy import IndexedBase

from proofs.chain import (ByDefinition, ByLemma, ByStrategy, Claim, Definition, Discharge, Path,
                          Stationarity, Structural, chain, instance, unfold)
from proofs.claims import prop1
from proofs.text import abbreviate
from proofs.claims.model import (D, ENC, ENC_TILDE, F, F1, F2, F3, TWO_PI_E, H, N, decoder_term, entropy,
                                 first_layer, g, h, k, log_det_diagonal, n, s2)

W0 = IndexedBase("W0", real=True)
alpha2 = prop1.alpha2
_a, _b = sp.symbols("a b", integer=True, positive=True)


def mean(dd: sp.Expr) -> sp.Expr:
    """VAE-1's decoder mean mu_d(z) = g_d(W0 z + b0) (Eq. 11)."""
    return g(dd, first_layer(W0, ENC))


FIRST_LAYER_LINEAR = Structural(
    "first-layer-linear", "the decoder network takes z through a linear first layer, mu(z) = g(W0 z + b0) "
    "(Eq. 11; any further layers are arbitrary)", "11")
ENCODER_SCALING = Structural(
    "encoder-scaling", "the encoder family can rescale its outputs per latent, nu_h -> c^(1/2) nu_h and "
    "tau_h^2 -> c tau_h^2 for any c > 0 (e.g. a free per-latent output scale, or a log-variance head with a "
    "free bias); used silently by the paper when it writes T~ = A T", "27")

DEFINITIONS = (
    Definition(F, F1 + F2 + F3, "the ELBO as prior, decoder and entropy terms", "8"),
    Definition(F1, ENC.prior_term(lambda hh: 1), "F1 = (1/N) sum_n E_q log N(z; 0, I)", "1"),
    Definition(F2, decoder_term(mean, lambda dd: s2), "F2 = (1/N) sum_n E_q log N(x^(n); mu(z), sigma^2 I)",
               "2-3, 11", shaped_by=("first-layer-linear",)),
    Definition(F3, ENC.entropy_term(), "F3 = -(1/N) sum_n E_q log q^(n)(z), q^(n) = N(nu_n, T_n)", "4-5"),
)
VAE1 = unfold(F1 + F2 + F3, DEFINITIONS)
abbreviate(first_layer(W0, ENC), sp.Symbol("u(z_n)"))   # display name of the first layer

REPARAMETRIZATION = instance(
    (prop1.W_tilde, sp.Lambda((_a, _b), W0[_a, _b] / sp.sqrt(alpha2[_b]))),
    (ENC_TILDE.nu, sp.Lambda((_a, _b), sp.sqrt(alpha2[_b]) * ENC.nu[_a, _b])),
    (ENC_TILDE.tau2, sp.Lambda((_a, _b), alpha2[_b] * ENC.tau2[_a, _b])),
)
VAE2_AT = REPARAMETRIZATION.apply(unfold(prop1.F, prop1.DEFINITIONS))
F1_AT, F3_AT = (REPARAMETRIZATION.apply(e) for e in (prop1.F1_EXPR, prop1.F3_EXPR))

REPARAM_LEMMA = Claim(
    name="prop2/reparametrization",
    title="VAE-2's ELBO at W~ = W0 A^(-1/2), nu~ = A^(1/2) nu, T~ = A T equals VAE-1's ELBO, for any "
          "alpha_h^2 > 0 (Eqs. 26-27)",
    steps=chain(
        VAE2_AT,
        (F1_AT + DEFINITIONS[2].body + F3_AT, ByStrategy(), "26-27"),
        (VAE1, ByStrategy(), "27"),
    ),
    conclusion=sp.Eq(VAE2_AT, VAE1, evaluate=False), eq="26-27", role="lemma",
    definitions=DEFINITIONS[2:3], hypotheses=(FIRST_LAYER_LINEAR,))

STATIONARY_SIGMA2 = Stationarity(
    "stationary-sigma2", "dF/dsigma^2 = 0 at the VAE-1 point considered (Eq. 19)", "19", wrt=s2)
STATIONARY_ORBIT = Stationarity(
    "stationary-orbit", "for every latent k, F is stationary along the orbit W0[:, k] -> e^(t/2) W0[:, k], "
    "nu_k -> e^(-t/2) nu_k, tau_k^2 -> e^(-t) tau_k^2 at t = 0: a path inside VAE-1 (first-layer-linear, "
    "encoder-scaling), so every stationary point of VAE-1 is stationary along it", "19, 27",
    path=Path(((W0, sp.Lambda((_a, _b), sp.KroneckerDelta(_b, k) / 2)),
               (ENC.nu, sp.Lambda((_a, _b), -sp.KroneckerDelta(_b, k) / 2)),
               (ENC.tau2, sp.Lambda((_a, _b), -sp.KroneckerDelta(_b, k))))),
    index=k, requires=("first-layer-linear", "encoder-scaling"))

PROP1_AT = REPARAMETRIZATION.apply(prop1.CONCLUSION.rhs)
MIDDLE = (-H * sp.log(TWO_PI_E) / 2 - D / 2 * sp.log(TWO_PI_E * s2)
          + sp.Sum(log_det_diagonal(lambda hh: ENC.tau2[n, hh], h, H, TWO_PI_E) / 2, (n, 1, N)) / N)
CONCLUSION = sp.Eq(F, -D / 2 * sp.log(TWO_PI_E * s2)
                   + sp.Sum(sp.Sum(sp.log(ENC.tau2[n, h]), (h, 1, H)), (n, 1, N)) / (2 * N), evaluate=False)

CANCELLED = sp.Sum(sp.Sum(sp.log(ENC.tau2[n, h]), (h, 1, H)), (n, 1, N)) / (2 * N)
ENCODER_PART = (-H * sp.log(TWO_PI_E) / 2
                + sp.Sum(log_det_diagonal(lambda hh: ENC.tau2[n, hh], h, H, TWO_PI_E) / 2, (n, 1, N)) / N)
CANCELLATION = Claim(
    name="prop2/cancellation",
    title="-H/2 log(2 pi e) + (1/N) sum_n 1/2 log det(2 pi e T_n) = 1/(2N) sum_n sum_h log tau_h^2(x^(n)) "
          "(the last line of Eq. 28)",
    steps=chain(ENCODER_PART, (CANCELLED, ByStrategy(), "28")),
    conclusion=sp.Eq(ENCODER_PART, CANCELLED, evaluate=False), eq="28", role="lemma")

STEPS = chain(
    F,
    (F1 + F2 + F3, ByDefinition((F,)), "8"),
    (VAE1, ByDefinition((F1, F2, F3)), "1-5, 11"),
    (VAE2_AT, ByLemma(REPARAM_LEMMA, reverse=True), "26-27"),
    (PROP1_AT, ByLemma(prop1.CLAIM, REPARAMETRIZATION, discharges=(
        Discharge("stationary-sigma2", "stationary-sigma2"),
        Discharge("stationary-alpha2", "stationary-orbit", 1 / alpha2[k]))), "20, 28"),
    (MIDDLE, ByStrategy(), "28"),
    (CONCLUSION.rhs, ByLemma(CANCELLATION), "25, 28"),
)

CLAIM = Claim(
    name="prop2",
    title="Proposition 2 (VAE-1): at every stationary point the ELBO is the sum of three entropies (Eq. 25)",
    steps=STEPS,
    conclusion=CONCLUSION,
    eq="25",
    definitions=DEFINITIONS,
    hypotheses=(FIRST_LAYER_LINEAR, ENCODER_SCALING, STATIONARY_SIGMA2, STATIONARY_ORBIT),
    lemmas=(REPARAM_LEMMA, CANCELLATION),
)

__all__ = ["CLAIM", "DEFINITIONS", "VAE1", "W0", "STATIONARY_SIGMA2", "STATIONARY_ORBIT", "FIRST_LAYER_LINEAR",
           "ENCODER_SCALING", "entropy"]
