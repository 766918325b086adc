"""Errata: printed equations that do not hold, each refuted by a counterexample and corrected.

Found by checking every printed equation of the proofs. Judged transcription noise and not
listed: the stray "sum_r" for "sum_n" and "1/(2 alpha_i^2)" for "1/(2 alpha_h^2)" after Eq. 23, and
unbalanced brackets in Eqs. 60 and 76. Correct although it looks odd, hence not listed: the table
entry d eta1_d'/dM_dj = mu_d d/dM_dj (1/sigma_d'^2) (mu_d instead of mu_d' is harmless because the
derivative vanishes for d != d').
"""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import F1_h, F2_vae, alpha2, g, m
from proofs.claims.prop3 import A, NI, ND, W, delta, dot, eta, eta2, idx, mu, psi, s2, sig2, table, x, xn
from proofs.engine import Claim, Printed, Step

HYP = {
    "as-printed": "the equation is read exactly as printed in the paper",
}

d, h = sp.symbols("d h", integer=True, positive=True)
dd = sp.Symbol("d'", integer=True, positive=True)
Lsig = sp.IndexedBase("Lsigma", real=True)  # E_q log sigma_d^2
F1s, F2s, F3s = sp.symbols("F1 F2 F3", real=True)
D2 = 2
neg_expected_entropy = -sum(sp.log(2 * sp.pi * sp.E) / 2 + Lsig[k] / 2 for k in range(1, D2 + 1))
dF_rhs = m / (2 * alpha2**2) - 1 / (2 * alpha2)
eta2_W_printed = table(eta2, W, lambda dp, d_, i: delta(d_, dp) * psi[i] / (2 * sig2[dp] ** 2))

STEPS = (
    Step("after 23", sp.Derivative(F1_h(), alpha2), dF_rhs,
         "the derivative after Eq. 23 is labelled d/dalpha_h^2 F2, but F2 does not depend on alpha_h^2 "
         "(its derivative is 0); the right-hand side is d/dalpha_h^2 F1", ("as-printed",), kind="erratum",
         printed=Printed(sp.Derivative(F2_vae(), alpha2), dF_rhs)),
    Step("39", neg_expected_entropy, -sp.Sum(Lsig[dd], (dd, 1, D2)) / 2 - sp.Rational(D2, 2) * sp.log(2 * sp.pi * sp.E),
         "Eq. 39's inner sum is printed sum_{h=1}^{D} E log sigma_d^2; read as printed its summand does not "
         "depend on h (it is D E log sigma_d^2 for some d); the sum must run over d (shown for D = 2)",
         ("as-printed",), kind="erratum", domain={d: (1, D2)},
         printed=Printed(neg_expected_entropy, -sp.Sum(Lsig[d], (h, 1, D2)) / 2 - sp.Rational(D2, 2) * sp.log(2 * sp.pi * sp.E))),
    Step("60", *table(eta2, W, lambda dp, d_, i: 0),
         "table after Eq. 60: d eta2_d'/dW_di is printed as -1/2 d/dM_di (1/sigma_d'^2) = 1/2 delta_dd' "
         "phi^sigma/sigma_d'^4 (copied from the M column) but sigma^2 does not depend on W, so it is 0 "
         "(as Eq. 65 then uses)", ("as-printed",), kind="erratum",
         printed=Printed(*eta2_W_printed),
         statement="d eta2_d'/dW_di = 0   (printed: delta_dd' phi^sigma_i / (2 sigma_d'^4))"),
    Step("50", g.entropy(s2), -sp.Integral(g.normal_pdf(x, mu, s2) * (-sp.log(2 * sp.pi) / 2 + dot(eta, (x, x**2)) - A(*eta)),
                                           (x, -sp.oo, sp.oo)),
         "Eq. 50 writes T(x_d^(n)) (the data point) inside the integral over x_d; with T evaluated at the data "
         "point the integral is not the entropy and E[T] = dA/deta does not follow; it must be T(x_d)",
         ("as-printed",), kind="erratum",
         printed=Printed(g.entropy(s2), -sp.Integral(g.normal_pdf(x, mu, s2) * (-sp.log(2 * sp.pi) / 2 + dot(eta, (xn, xn**2)) - A(*eta)),
                                                     (x, -sp.oo, sp.oo))),
         statement="H[p(x_d|z)] = -int p(x_d|z) (-1/2 log 2 pi + eta.T(x_d) - A) dx_d   (printed: T(x_d^(n)))"),
    Step("Prop. 3 sketch", (F1s + F2s + F3s) - F2s, F1s + F3s,
         "the proof sketch after Prop. 3 calls the other terms of F (besides F2) 'F1 and F2'; with Eq. 46 they "
         "are F1 and F3 (read as the equation F - F2 = F1 + F2, refuted whenever F2 != F3)",
         ("as-printed",), kind="erratum", printed=Printed((F1s + F2s + F3s) - F2s, F1s + F2s)),
)

CLAIM = Claim(
    name="errata",
    title="Errata: printed equations refuted by counterexamples, with corrected forms proved",
    hypotheses=HYP,
    steps=STEPS,
)

__all__ = ["CLAIM", "ND", "NI", "idx"]
