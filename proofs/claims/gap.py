"""The gap identity (beyond the paper; DESIGN.md): F - S at EVERY parameter value.

For VAE-1, with S the three-entropy value of Eq. 25, the chain rewrites F - S (as in the proofs of
Props. 1-2, by their lemmas, but without any stationarity) into

    F - S = (D/2) r_sigma + (1/2) sum_h r_h,
    r_sigma = 1 - (1/(N D sigma^2)) sum_n E_q||x_n - mu(z)||^2,   r_h = 1 - (1/N) sum_n (nu_nh^2 + tau_nh^2).

The remarks show that each residual is minus the derivative of F along a log-variance scaling
direction (sigma^2 -> e^t sigma^2; the orbit of latent k), so that "F = S at stationary points" is
exactly "F is stationary along those directions"; and that VAE-3's decoder part,
E_q[log N(x; mu, sigma_d^2) + H] = E_q[1/2 - (x - mu)^2/(2 sigma_d^2)], is minus the derivative along
sigma_d^2(z) -> e^t sigma_d^2(z) and the integrand of Eq. 59.
"""

from __future__ import annotations

import sympy as sp
from sympy import IndexedBase

from proofs import gaussian as gauss
from proofs.chain import ByDefinition, ByLemma, ByStrategy, Claim, Definition, chain, instance, unfold
from proofs.claims import prop1, prop2
from proofs.claims.model import (D, ENC, ENC_TILDE, F, F1, F2, F3, H, N, entropy, h, k, log_normal, n, s2,
                                 squared_error)

S = sp.Symbol("S", real=True)
r_sigma = sp.Symbol("r_sigma", real=True)
r = IndexedBase("r", real=True)
_a, _b = sp.symbols("a b", integer=True, positive=True)

SQUARED_ERROR = squared_error(prop2.mean)
MOMENT = sp.Sum(ENC.nu[n, h] ** 2 + ENC.tau2[n, h], (n, 1, N)) / N
DEFINITIONS = prop2.DEFINITIONS + (
    Definition(S, prop2.CONCLUSION.rhs, "the three-entropy value of VAE-1 (Eq. 25)", "25"),
    Definition(r_sigma, 1 - SQUARED_ERROR / (N * D * s2), "decoder residual r_sigma (DESIGN.md)", "21"),
    Definition(r[h], 1 - MOMENT, "prior residual r_h of latent h (DESIGN.md)", "23"),
)

AT_VAE1 = instance((prop1.alpha2, sp.Lambda(_a, 1)),
                   (ENC_TILDE.nu, sp.Lambda((_a, _b), ENC.nu[_a, _b])),
                   (ENC_TILDE.tau2, sp.Lambda((_a, _b), ENC.tau2[_a, _b])))
ENCODER = instance((ENC_TILDE.nu, sp.Lambda((_a, _b), ENC.nu[_a, _b])),
                   (ENC_TILDE.tau2, sp.Lambda((_a, _b), ENC.tau2[_a, _b])))
F1_EXPR, F2_EXPR, F3_EXPR = (dfn.body for dfn in prop2.DEFINITIONS[1:])
PRIOR_23 = AT_VAE1.apply(prop1.STEP_23)
DECODER_21 = D / 2 * (1 - SQUARED_ERROR / (N * D * s2)) - D * entropy(s2)
ENTROPY_Q = ENCODER.apply(prop1.ENCODER_ENTROPY)
PRIOR_MOMENTS = sp.Sum((1 - MOMENT) / 2 - entropy(1), (h, 1, H))
S_EXPR = prop2.CONCLUSION.rhs

CONCLUSION = sp.Eq(F - S, D / 2 * r_sigma + sp.Sum(r[h], (h, 1, H)) / 2, evaluate=False)

STEPS = chain(
    F - S,
    (F1 + F2 + F3 - S, ByDefinition((F,)), "8"),
    (F1_EXPR + F2_EXPR + F3_EXPR - S_EXPR, ByDefinition((F1, F2, F3, S)), "1-5, 25"),
    (PRIOR_23 + F2_EXPR + F3_EXPR - S_EXPR, ByLemma(prop1.PRIOR_TERM, AT_VAE1), "23"),
    (PRIOR_23 + DECODER_21 + F3_EXPR - S_EXPR, ByStrategy(), "21"),
    (PRIOR_23 + DECODER_21 + ENTROPY_Q - S_EXPR, ByLemma(prop1.ENTROPY_TERM, ENCODER), "20"),
    (PRIOR_MOMENTS + DECODER_21 + ENTROPY_Q - S_EXPR, ByStrategy(), "23"),
    (D / 2 * (1 - SQUARED_ERROR / (N * D * s2)) + sp.Sum(1 - MOMENT, (h, 1, H)) / 2, ByStrategy(), "gap"),
    (CONCLUSION.rhs, ByDefinition((r_sigma, r[h]), fold=True), "gap"),
)


# --- remarks: each residual is minus a derivative of F ------------------------------------------

t = sp.Symbol("t", real=True)
VAE1 = unfold(F, prop2.DEFINITIONS)
DECODER_DIRECTION_START = sp.Subs(sp.Derivative(VAE1.xreplace({s2: sp.exp(t) * s2}), t), t, 0)
DECODER_DIRECTION = Claim(
    name="gap/decoder-direction",
    title="d/dt F(sigma^2 e^t) at t = 0 = -(D/2) r_sigma: the decoder residual is minus the derivative of F "
          "along the log-variance direction of sigma^2",
    steps=chain(DECODER_DIRECTION_START,
                (-D / 2 * (1 - SQUARED_ERROR / (N * D * s2)), ByStrategy(), "21-22"),
                (-D / 2 * r_sigma, ByDefinition((r_sigma,), fold=True), "21-22")),
    conclusion=sp.Eq(DECODER_DIRECTION_START, -D / 2 * r_sigma, evaluate=False), eq="22", role="remark",
    definitions=DEFINITIONS)

_ORBIT = prop2.STATIONARY_ORBIT.path
PRIOR_DIRECTION_START = sp.Subs(sp.Derivative(_ORBIT.apply(VAE1, t), t), t, 0)
PRIOR_DIRECTION = Claim(
    name="gap/prior-direction",
    title="d/dt F along the orbit of latent k at t = 0 = -(1/2) r_k: the prior residual is minus the "
          "derivative of F along W0[:, k] -> e^(t/2) W0[:, k], nu_k -> e^(-t/2) nu_k, tau_k^2 -> e^(-t) tau_k^2",
    steps=chain(PRIOR_DIRECTION_START,
                (sp.Mul(sp.Rational(-1, 2), 1 - MOMENT.xreplace({h: k}), evaluate=False), ByStrategy(), "23-24, 27"),
                (-r[k] / 2, ByDefinition((r[k],), fold=True), "23-24")),
    conclusion=sp.Eq(PRIOR_DIRECTION_START, -r[k] / 2, evaluate=False), eq="24", role="remark",
    definitions=DEFINITIONS + (Definition(r[k], 1 - MOMENT.xreplace({h: k}), "prior residual of latent k", "23"),))

xs, mu = sp.symbols("x mu", real=True)
sd2 = sp.Symbol("sigma_d^2", positive=True)
_eta = gauss.natural_parameters(mu, sd2)
_grad = gauss.log_partition_gradient(*_eta)
HALF_MINUS = sp.Rational(1, 2) - (xs - mu) ** 2 / (2 * sd2)
VAE3_DECODER = Claim(
    name="gap/vae3-decoder",
    title="VAE-3: log N(x; mu, sigma_d^2) + H[p(x_d|z)] = 1/2 - (x - mu)^2/(2 sigma_d^2) = -d/dt log N(x; mu, "
          "e^t sigma_d^2) at t = 0 = eta.(T(x) - A'(eta)), the integrand of Eq. 59 (per n, d and z)",
    steps=chain(log_normal(xs, mu, sd2) + entropy(sd2),
                (HALF_MINUS, ByStrategy(), "gap"),
                (-sp.Subs(sp.Derivative(log_normal(xs, mu, sd2 * sp.exp(t)), t), t, 0), ByStrategy(), "gap"),
                (_eta[0] * (xs - _grad[0]) + _eta[1] * (xs**2 - _grad[1]), ByStrategy(), "59")),
    conclusion=sp.Eq(log_normal(xs, mu, sd2) + entropy(sd2), _eta[0] * (xs - _grad[0]) + _eta[1] * (xs**2 - _grad[1]),
                     evaluate=False), eq="59", role="remark")

CLAIM = Claim(
    name="gap",
    title="Gap identity (VAE-1, beyond the paper): at every parameter value, F minus the three-entropy value is a "
          "sum of residuals, each minus the derivative of F along a log-variance direction",
    steps=STEPS,
    conclusion=CONCLUSION,
    eq="gap",
    definitions=DEFINITIONS,
    hypotheses=(prop2.FIRST_LAYER_LINEAR,),
    lemmas=(DECODER_DIRECTION, PRIOR_DIRECTION, VAE3_DECODER),
)
