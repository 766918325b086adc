"""The gap identity (beyond the paper; DESIGN.md): F - S at EVERY parameter value.

VAE-1: F - S = (D/2) r_sigma + (1/2) sum_h r_h with r_sigma = 1 - Qbar/(D sigma^2) and
r_h = 1 - m_h, m_h = (1/N) sum_n (nu_h^2 + tau_h^2); each residual is minus the derivative of F
along a log-variance scaling direction. VAE-3: the decoder part is E_q[1/2 - (x - mu)^2/(2 sigma^2)],
minus the derivative along sigma_d^2(z) -> e^t sigma_d^2(z), and exactly the integrand of Eq. 59.
"""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import D, F2_vae, H_EX, Ls, Qbar, g, ms, nu, s2, t, tau2
from proofs.engine import Claim, Step

HYP = {
    "vae1": "model VAE-1 (Eqs. 1-5), any parameter value (no stationarity assumed)",
    "vae3": "model VAE-3 (Eqs. 34-38), any parameter value",
    "linear-vae": "the linear VAE with its analytic E_q||x - W z - mu0||^2",
    "decoder-invariant": "the prior direction W^(0)_h -> e^(t/2) W^(0)_h, nu_h -> e^(-t/2) nu_h, "
                         "tau_h^2 -> e^(-t) tau_h^2 leaves the decoder term unchanged (prop2, Eq. 27)",
    "linearity": "averages over n and expectations under q are linear",
}

F1 = sum(-mh / 2 - sp.log(2 * sp.pi) / 2 for mh in ms)           # prior N(0, 1), m_h averaged
F3 = sum(sp.log(2 * sp.pi * sp.E) / 2 + L / 2 for L in Ls)        # avg entropy, L_h = avg log tau_h^2
S = -D / 2 * sp.log(2 * sp.pi * sp.E * s2) + sum(Ls) / 2         # Eq. 25
r_sigma = 1 - Qbar / (D * s2)
x, mu = sp.symbols("x mu", real=True)
zz = sp.Symbol("z", real=True)
sd2 = sp.Symbol("sigma_d^2", positive=True)
eta = g.natural_parameters(mu, sd2)
grad = g.log_partition_gradient(*eta)
per_n_prior = -(sp.exp(-t) * nu**2 + sp.exp(-t) * tau2) / 2 + g.entropy(sp.exp(-t) * tau2)

STEPS = (
    Step("gap", F1 + F2_vae() + F3 - S, D / 2 * r_sigma + sum(1 - mh for mh in ms) / 2,
         f"VAE-1: F - S = (D/2) r_sigma + (1/2) sum_h r_h exactly, at every parameter value (H = {H_EX})",
         ("vae1", "linearity"), statement="F - S = (D/2) r_sigma + (1/2) sum_h r_h"),
    Step("gap", g.expectation(zz**2, zz, nu, tau2), nu**2 + tau2,
         "m_h = (1/N) sum_n E_q[z_h^2] with E_q[z_h^2] = nu_h^2 + tau_h^2 (Gaussian integral)",
         ("vae1", "linearity"), statement="E_q[z_h^2] = nu_h^2 + tau_h^2"),
    Step("gap", sp.Subs(sp.Derivative(F2_vae(sigma2=s2 * sp.exp(t)), t), t, 0), -D / 2 * r_sigma,
         "decoder direction: d/dt F(sigma^2 e^t) at t = 0 is -(D/2) r_sigma", ("vae1",)),
    Step("gap", sp.Subs(sp.Derivative(per_n_prior, t), t, 0), -(1 - (nu**2 + tau2)) / 2,
         "prior direction (per n, per h): F1 + F3 terms along nu -> e^(-t/2) nu, tau^2 -> e^(-t) tau^2 "
         "have derivative -(1/2)(1 - nu^2 - tau^2); averaged over n: -(1/2) r_h",
         ("vae1", "decoder-invariant", "linearity")),
    Step("gap", g.normal_logpdf(x, mu, sd2) + g.entropy(sd2), sp.Rational(1, 2) - (x - mu) ** 2 / (2 * sd2),
         "VAE-3 decoder part (per n, d and z): log N(x; mu, sigma_d^2(z)) + H[p(x_d|z)] = 1/2 - (x - mu)^2/(2 sigma_d^2)",
         ("vae3", "linearity")),
    Step("gap", -sp.Subs(sp.Derivative(g.normal_logpdf(x, mu, sd2 * sp.exp(t)), t), t, 0),
         sp.Rational(1, 2) - (x - mu) ** 2 / (2 * sd2),
         "it is minus the derivative along sigma_d^2(z) -> e^t sigma_d^2(z)", ("vae3",)),
    Step("gap / 59", eta[0] * (x - grad[0]) + eta[1] * (x**2 - grad[1]), sp.Rational(1, 2) - (x - mu) ** 2 / (2 * sd2),
         "and it is exactly the integrand of Eq. 59, eta.(T(x) - A'(eta)): the theorem says Eq. 59 = 0",
         ("vae3",), statement="eta.(T(x) - A'(eta)) = 1/2 - (x - mu)^2/(2 sigma_d^2)"),
)

CLAIM = Claim(
    name="gap",
    title="Gap identity: F - S = (D/2) r_sigma + (1/2) sum_h r_h at every parameter value (VAE-1, VAE-3, linear VAE)",
    hypotheses=HYP,
    steps=STEPS,
)
