"""Proposition 1 (VAE-2, Eqs. 19-24): at stationary points F = sum of three entropies (Eq. 20)."""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import (D, D_EX, F1_h, F2_vae, H_EX, TWO_PI_E, Qbar, alpha2, alpha2s,
                                  g, log_det_diag, m, ms, nu, s2, tau2, tau2s, z)
from proofs.engine import Claim, Step

HYP = {
    "vae2": "model VAE-2 (Eqs. 12-18): prior N(0, A) with A = diag(alpha_h^2), decoder "
            "N(mu(z), sigma^2 I), encoder q^(n) Gaussian with diagonal covariance T~",
    "sigma2-free": "sigma^2 is a free positive parameter and only F2 depends on it",
    "alpha-free": "every alpha_h^2 is a free positive parameter and only F1 depends on it",
    "stationary": "at the point considered dF/dsigma^2 = 0 and dF/dalpha_h^2 = 0 (Eq. 19); "
                  "nothing else about stationarity is used",
    "linearity": "averages over n and expectations under q are linear, so identities of "
                 "integrands and of the averages Qbar, m_h carry over to F",
}

x = sp.symbols(f"x_1:{D_EX + 1}", real=True)
mu = sp.symbols(f"mu_1:{D_EX + 1}", real=True)
xi = sp.Symbol("xi", real=True)
nus = sp.symbols(f"nu_1:{H_EX + 1}", real=True)
dF2 = sp.Derivative(F2_vae(), s2)
dF1 = sp.Derivative(F1_h(), alpha2)
F1_explicit = sum(F1_h(a, mh) for a, mh in zip(alpha2s, ms))

STEPS = (
    Step("21", sum(g.normal_logpdf(xd, md, s2) for xd, md in zip(x, mu)),
         -sum((xd - md) ** 2 for xd, md in zip(x, mu)) / (2 * s2) - sp.Rational(D_EX, 2) * sp.log(2 * sp.pi * s2),
         f"log N(x; mu, sigma^2 I) factorises over the D coordinates (shown for D = {D_EX}); its "
         "q-average and n-average give F2 = -Qbar/(2 sigma^2) - D/2 log(2 pi sigma^2)",
         ("vae2", "linearity")),
    Step("21", F2_vae(), D / 2 * (1 - Qbar / (D * s2)) - D / 2 * sp.log(TWO_PI_E * s2),
         "add and subtract D/2: the log prefactor becomes the negative entropy -D/2 log(2 pi e sigma^2)",
         ("vae2", "linearity")),
    Step("21-22", dF2, D / 2 * (Qbar / (D * s2**2)) - D / (2 * s2),
         "derivative of Eq. 21 w.r.t. sigma^2 (Qbar does not depend on sigma^2)", ("sigma2-free",)),
    Step("21-22", D / 2 * (Qbar / (D * s2**2)) - D / (2 * s2), -D / (2 * s2) * (1 - Qbar / (D * s2)),
         "factor out -D/(2 sigma^2) > 0", ("sigma2-free",)),
    Step("22", sp.Derivative(dF2, Qbar), 1 / (2 * s2**2),
         "dF2/dsigma^2 is affine in Qbar with positive slope, so it has exactly one root in Qbar",
         ("sigma2-free",)),
    Step("22", sp.Subs(dF2, Qbar, D * s2), 0,
         "the root is Qbar = D sigma^2, i.e. 1 - Qbar/(D sigma^2) = 0 at stationary points",
         ("sigma2-free", "stationary")),
    Step("22", F2_vae(qbar=D * s2), -D / 2 * sp.log(TWO_PI_E * s2),
         "insert Qbar = D sigma^2 into Eq. 21: the first term vanishes", ("stationary",)),
    Step("22", -D * g.expectation(-g.normal_logpdf(xi, 0, s2), xi, 0, s2), -D / 2 * sp.log(TWO_PI_E * s2),
         "-H[p(x|z)]: the entropy of N(mu, sigma^2 I) is D times the 1-d entropy (Gaussian integral)",
         ("vae2",)),
    Step("23", g.expectation(z**2, z, nu, tau2), nu**2 + tau2,
         "E_q[z_h^2] = nu_h^2 + tau_h^2 (Gaussian integral); m_h is its average over n",
         ("vae2", "linearity")),
    Step("23", g.expectation(g.normal_logpdf(z, 0, alpha2), z, nu, tau2), F1_h(mh=nu**2 + tau2),
         "E_q log N(z_h; 0, alpha_h^2) = -E_q[z_h^2]/(2 alpha_h^2) - 1/2 log(2 pi alpha_h^2) "
         "(Gaussian integral); F1 is its sum over h and average over n",
         ("vae2", "linearity")),
    Step("23", F1_h(), sp.Rational(1, 2) * (1 - m / alpha2) - sp.log(2 * sp.pi * sp.E * alpha2) / 2,
         "add and subtract 1/2 per latent: the log prefactor becomes the prior's negative entropy",
         ("vae2", "linearity")),
    Step("23-24", sp.Derivative(F1_explicit, alpha2s[0]),
         sum(sp.KroneckerDelta(1, k + 1) * ms[k] / (2 * alpha2s[0] ** 2) for k in range(H_EX))
         - sum(sp.KroneckerDelta(1, k + 1) / (2 * alpha2s[0]) for k in range(H_EX)),
         f"derivative of F1 (printed: F2, see errata) w.r.t. alpha_1^2, with the paper's "
         f"Kronecker deltas (H = {H_EX}; every h is alike)", ("alpha-free",)),
    Step("23-24", dF1, -1 / (2 * alpha2) * (1 - m / alpha2),
         "factored form: -1/(2 alpha_h^2) (1 - m_h/alpha_h^2)", ("alpha-free",)),
    Step("24", sp.Derivative(dF1, m), 1 / (2 * alpha2**2),
         "dF1/dalpha_h^2 is affine in m_h with positive slope: exactly one root", ("alpha-free",)),
    Step("24", sp.Subs(dF1, m, alpha2), 0,
         "the root is m_h = alpha_h^2, i.e. 1 - m_h/alpha_h^2 = 0 at stationary points",
         ("alpha-free", "stationary")),
    Step("24", sum(F1_h(a, a) for a in alpha2s), -log_det_diag(alpha2s, TWO_PI_E) / 2,
         f"insert m_h = alpha_h^2 into Eq. 23 (H = {H_EX}): F1 = -1/2 log det(2 pi e A)",
         ("stationary",)),
    Step("24", -sum(g.expectation(-g.normal_logpdf(z, 0, a), z, 0, a) for a in alpha2s),
         -log_det_diag(alpha2s, TWO_PI_E) / 2,
         "-1/2 log det(2 pi e A) = -H[p(z)] (Gaussian integrals, one per latent)", ("vae2",)),
    Step("20", sum(g.expectation(-g.normal_logpdf(z, n_, t_), z, n_, t_) for n_, t_ in zip(nus, tau2s)),
         log_det_diag(tau2s, TWO_PI_E) / 2,
         "F3 = average over n of H[q^(n)] = 1/2 log det(2 pi e T~) (Gaussian integrals, per n)",
         ("vae2", "linearity")),
    Step("20", sum(F1_h(a, a) for a in alpha2s) + F2_vae(qbar=D * s2) + log_det_diag(tau2s, TWO_PI_E) / 2,
         -log_det_diag(alpha2s, TWO_PI_E) / 2 - D / 2 * sp.log(TWO_PI_E * s2) + log_det_diag(tau2s, TWO_PI_E) / 2,
         "F = F1 + F2 + F3 at a stationary point (per data point; F3 is averaged over n)",
         ("stationary", "linearity")),
)

CLAIM = Claim(
    name="prop1",
    title="Proposition 1 (VAE-2): at stationary points F = -H[p(z)] - H[p(x|z)] + avg H[q] (Eq. 20)",
    hypotheses=HYP,
    steps=STEPS,
)
