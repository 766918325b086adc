"""Corollary 1 (linear VAE, Eqs. 29-33): F = -D/2 log(2 pi e sigma^2) + 1/2 sum_h log tau_h^2."""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import D, H_EX, N, TWO_PI_E, s2, tau2s
from proofs.engine import Claim, Step

HYP = {
    "linear-vae": "the linear VAE (Eqs. 29-32): decoder mean W z + mu0 (Eq. 11 with one linear "
                  "layer), encoder mean V(x - mu0), per-latent variances tau_h^2 shared by all n",
    "prop2": "Proposition 2 (Eq. 25) holds at stationary points of VAE-1",
    "encoder-scaling": "the encoder can follow nu_h -> c^(1/2) nu_h, tau_h^2 -> c tau_h^2 "
                       "(hypothesis of Prop. 2)",
}

n = sp.Symbol("n", integer=True, positive=True)
c = sp.symbols("c_1:3", positive=True)
V = sp.Matrix(2, 3, lambda i, j: sp.Symbol(f"V_{i + 1}{j + 1}", real=True))
xm = sp.Matrix(sp.symbols("xc_1:4", real=True))

STEPS = (
    Step("31", (sp.diag(*c) * V) * xm, sp.diag(*c) * (V * xm),
         "scaling row h of V by c_h scales nu_h = (V(x - mu0))_h by c_h; tau_h^2 are free positive "
         "parameters: the linear VAE satisfies the encoder-scaling hypothesis of Prop. 2",
         ("linear-vae", "encoder-scaling"),
         statement="(diag(c) V)(x - mu0) = diag(c) (V (x - mu0))"),
    Step("33", sp.Sum(sum(sp.log(t2) for t2 in tau2s), (n, 1, N)) / (2 * N),
         sum(sp.log(t2) for t2 in tau2s) / 2,
         f"T does not depend on n, so the average over n in Eq. 25 is the summand (H = {H_EX})",
         ("linear-vae",)),
    Step("33", -D / 2 * sp.log(TWO_PI_E * s2) + sp.Sum(sum(sp.log(t2) for t2 in tau2s), (n, 1, N)) / (2 * N),
         -D / 2 * sp.log(TWO_PI_E * s2) + sum(sp.log(t2) for t2 in tau2s) / 2,
         "Eq. 25 with tau_h^2 independent of n gives Eq. 33", ("prop2", "linear-vae")),
)

CLAIM = Claim(
    name="cor1",
    title="Corollary 1 (linear VAE): at stationary points F = -D/2 log(2 pi e sigma^2) + 1/2 sum_h log tau_h^2 (Eq. 33)",
    hypotheses=HYP,
    steps=STEPS,
)
