"""Corollary 2 (VAE-3, Eqs. 40-43): F = E_p log z-Vol - E_qbar log x-Vol + (D - H) log 2 - D/2 log(2 pi e).

The chain starts from VAE-3's ELBO, applies Proposition 3 (its hypotheses are VAE-3's, declared
here as the same objects), writes the average of expectations under q^(n) as one expectation under
qbar = (1/N) sum_n q^(n) (Eq. 40), takes N -> infinity for the average over data points (the axiom
``large-n``: the paper's "(1/N) sum_n f(x^(n)) -> int p(x) f(x) dx"), and rearranges with the
volumes z-Vol = prod_h 2 tau_h (Eq. 41) and x-Vol = prod_d 2 sigma_d (Eq. 42).
"""

from __future__ import annotations

import sympy as sp

from proofs.chain import Axiom, ByAxiom, ByLemma, ByStrategy, Claim, Discharge, chain, instance
from proofs.claims import prop3
from proofs.claims.model import D, ENC, F, TWO_PI_E, H, N, d, h, n
from proofs.claims.vae3 import J, M, W0sig, b_sig, j, l, psi
from proofs.operators import LATENT, DataExpect, MixtureExpect

MixtureExpect.define(N, ENC.z)

f = sp.Function("f", real=True)
LARGE_N = Axiom(
    "large-n", "in the limit of many data points, the average over the data set is the expectation under "
               "the data distribution p(x) (law of large numbers; how Cor. 2 is stated)",
    "the proof of Cor. 2: (1/N) sum_n f(x^(n)) -> int p(x) f(x) dx as N -> infinity",
    sp.Sum(f(n), (n, 1, N)) / N, DataExpect(f(n)))

Z_VOL = sp.Product(2 * sp.sqrt(ENC.tau2[n, h]), (h, 1, H))                    # z-Vol(x^(n)), Eq. 41
U_SIG_Z = sp.Lambda(l, sp.Sum(W0sig[l, h] * LATENT[h], (h, 1, H)) + b_sig[l])
VAR_Z = sp.Sum(M[d, j] * psi(j, U_SIG_Z), (j, 1, J))                          # sigma_d^2(Z)
X_VOL = sp.Product(2 * sp.sqrt(VAR_Z), (d, 1, D))                            # x-Vol(Z), Eq. 42

EQ39 = prop3.CONCLUSION.rhs
ENCODER_PART = sp.Sum(sp.Sum(sp.log(ENC.tau2[n, h]), (h, 1, H)), (n, 1, N)) / (2 * N)
DECODER_QBAR = -MixtureExpect(sp.Sum(sp.log(VAR_Z), (d, 1, D))) / 2
CONSTANT = -D * sp.log(TWO_PI_E) / 2
LIMIT = DataExpect(sp.Sum(sp.log(ENC.tau2[n, h]), (h, 1, H))) / 2
CONCLUSION = sp.Eq(F, DataExpect(sp.log(Z_VOL)) - MixtureExpect(sp.log(X_VOL)) + (D - H) * sp.log(2)
                   - D / 2 * sp.log(TWO_PI_E), evaluate=False)

SAME = tuple(Discharge(h_.key, h_.key) for h_ in prop3.CLAIM.hypotheses if h_.kind == "stationarity")

STEPS = chain(
    F,
    (EQ39, ByLemma(prop3.CLAIM, discharges=SAME), "39"),
    (ENCODER_PART + DECODER_QBAR + CONSTANT, ByStrategy(), "40"),
    (LIMIT + DECODER_QBAR + CONSTANT, ByAxiom(LARGE_N, instance((f, sp.Lambda(n, sp.Sum(sp.log(ENC.tau2[n, h]),
                                                                                        (h, 1, H)))))), "43"),
    (CONCLUSION.rhs, ByStrategy(), "41-43"),
)

CLAIM = Claim(
    name="cor2",
    title="Corollary 2 (VAE-3, N -> infinity): the ELBO as encoder minus decoder log-volumes plus a constant "
          "(Eqs. 40-43)",
    steps=STEPS,
    conclusion=CONCLUSION,
    eq="43",
    definitions=prop3.DEFINITIONS,
    hypotheses=prop3.CLAIM.hypotheses,
)

__all__ = ["CLAIM"]
