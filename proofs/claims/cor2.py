"""Corollary 2 (Eqs. 40-43): F = E log z-Vol - E_qbar log x-Vol + const, const = (D-H) log 2 - D/2 log(2 pi e)."""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import D, H, H_EX, TWO_PI_E, g
from proofs.engine import Claim, Step

HYP = {
    "prop3": "Proposition 3 (Eq. 39) holds at stationary points of VAE-3",
    "large-n": "N -> infinity: (1/N) sum_n f(x_n) -> E_p(x)[f] (law of large numbers; taken as the "
               "definition of the limit, not proved here)",
    "linearity": "expectations are linear in the distribution (mixtures average)",
}

taus = sp.symbols(f"tau_1:{H_EX + 1}", positive=True)
sigs = sp.symbols("sigma_1:3", positive=True)
z = sp.Symbol("z", real=True)
n1, n2 = sp.symbols("nu_1 nu_2", real=True)
t1, t2 = sp.symbols("tau_1^2 tau_2^2", positive=True)
f = z**2 + 3 * z  # a test integrand; any polynomial works the same way (linearity)
Stau, Ssig = sp.symbols("S_tau S_sigma", real=True)  # avg sum_h log tau_h^2 and E_qbar sum_d log sigma_d^2

STEPS = (
    Step("41", sp.log(sp.Mul(*[2 * tau for tau in taus])), H_EX * sp.log(2) + sum(sp.log(tau**2) for tau in taus) / 2,
         f"log z-Vol = H log 2 + 1/2 sum_h log tau_h^2 (H = {H_EX})", ()),
    Step("42", sp.log(sp.Mul(*[2 * s for s in sigs])), 2 * sp.log(2) + sum(sp.log(s**2) for s in sigs) / 2,
         "log x-Vol = D log 2 + 1/2 sum_d log sigma_d^2 (D = 2)", ()),
    Step("40", sp.Integral((g.normal_pdf(z, n1, t1) + g.normal_pdf(z, n2, t2)) / 2 * f, (z, -sp.oo, sp.oo)),
         (g.expectation(f, z, n1, t1) + g.expectation(f, z, n2, t2)) / 2,
         "the average of expectations under q^(n) is the expectation under qbar = (1/N) sum_n q^(n) (N = 2)",
         ("linearity",), statement="E_qbar[f] = (1/N) sum_n E_q(n)[f]  (N = 2, f = z^2 + 3 z)"),
    Step("43", Stau / 2 - Ssig / 2 - D / 2 * sp.log(TWO_PI_E),
         (H * sp.log(2) + Stau / 2) - (D * sp.log(2) + Ssig / 2) + (D - H) * sp.log(2) - D / 2 * sp.log(TWO_PI_E),
         "Eq. 39 = E log z-Vol - E_qbar log x-Vol + const with const = (D - H) log 2 - D/2 log(2 pi e), "
         "general D and H", ("prop3", "large-n")),
)

CLAIM = Claim(
    name="cor2",
    title="Corollary 2: F = E_p log z-Vol - E_qbar log x-Vol + (D-H) log 2 - D/2 log(2 pi e) (Eqs. 41-43)",
    hypotheses=HYP,
    steps=STEPS,
)
