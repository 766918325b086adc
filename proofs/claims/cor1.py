"""Corollary 1 (linear VAE, Eqs. 29-33): at stationary points F = -D/2 log(2 pi e sigma^2) + 1/2 sum_h log tau_h^2.

The linear VAE (decoder W z + mu0, encoder N(V(x - mu0), T) with T = diag(tau_h^2) shared by all
data points) is VAE-1 at the instance g_d(u) = u_d, W0 = W, b0 = mu0, nu_n = V(x^(n) - mu0),
tau_nh^2 = T_h: the chain applies Proposition 2 there, and its hypotheses are discharged by the
linear VAE's own: its sigma^2-stationarity, and its stationarity along the orbit of latent k,
W[:, k] -> e^(t/2) W[:, k], V[k, :] -> e^(-t/2) V[k, :], T_k -> e^(-t) T_k, which the engine checks
gives the same derivative as Proposition 2's orbit at the instance. Then T does not depend on n.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import IndexedBase

from proofs.chain import (ByDefinition, ByLemma, ByStrategy, Claim, Definition, Discharge, Path, Rule,
                          Stationarity, Structural, chain, instance, unfold)
from proofs.claims import prop2
from proofs.claims.model import D, ENC, F, F1, F2, F3, TWO_PI_E, H, Encoder, b0, decoder_term, g, h, k, n, s2, x

W = IndexedBase("W", real=True)
mu0 = IndexedBase("mu0", real=True)
V = IndexedBase("V", real=True)
T = IndexedBase("T", positive=True)     # T = diag(tau_1^2, ..., tau_H^2), Eq. 32
e = sp.Symbol("e", integer=True, positive=True)
_a, _b = sp.symbols("a b", integer=True, positive=True)


@dataclass(frozen=True)
class LinearEncoder(Encoder):
    """q^(n)(z) = N(z; V(x^(n) - mu0), T) (Eqs. 31-32)."""

    def mean(self, row: sp.Expr, col: sp.Expr) -> sp.Expr:
        return sp.Sum(V[col, e] * (x[row, e] - mu0[e]), (e, 1, D))

    def var(self, row: sp.Expr, col: sp.Expr) -> sp.Expr:
        return T[col]


LIN = LinearEncoder(V, T)


def mean(dd: sp.Expr) -> sp.Expr:
    """The linear decoder mean (W z + mu0)_d (Eq. 30)."""
    return sp.Sum(W[dd, h] * LIN.z(n, h), (h, 1, H)) + mu0[dd]


LINEAR_VAE = Structural(
    "linear-vae", "the linear VAE (Eqs. 29-32): decoder mean W z + mu0 (a linear first layer and nothing "
    "above it), encoder mean V(x - mu0) whose rows, and variances T = diag(tau_h^2) that, can be rescaled "
    "per latent", "29-32")

DEFINITIONS = (
    Definition(F, F1 + F2 + F3, "the ELBO as prior, decoder and entropy terms", "9"),
    Definition(F1, LIN.prior_term(lambda hh: 1), "F1 = (1/N) sum_n E_q log N(z; 0, I)", "29",
               shaped_by=("linear-vae",)),
    Definition(F2, decoder_term(mean, lambda dd: s2), "F2 = (1/N) sum_n E_q log N(x^(n); W z + mu0, sigma^2 I)",
               "30", shaped_by=("linear-vae",)),
    Definition(F3, LIN.entropy_term(), "F3 = -(1/N) sum_n E_q log q^(n)(z), q^(n) = N(V(x^(n) - mu0), T)",
               "31-32", shaped_by=("linear-vae",)),
)

AS_VAE1 = instance(
    (g, Rule("(d, u) -> u_d", lambda dd, u: u(dd))),
    (prop2.W0, sp.Lambda((_a, _b), W[_a, _b])),
    (b0, sp.Lambda(_a, mu0[_a])),
    (ENC.nu, sp.Lambda((_a, _b), LIN.mean(_a, _b))),
    (ENC.tau2, sp.Lambda((_a, _b), T[_b])),
)

STATIONARY_SIGMA2 = Stationarity(
    "stationary-sigma2", "dF/dsigma^2 = 0 at the linear VAE's point considered", "19", wrt=s2)
STATIONARY_ORBIT = Stationarity(
    "stationary-orbit", "for every latent k, F is stationary along W[:, k] -> e^(t/2) W[:, k], "
    "V[k, :] -> e^(-t/2) V[k, :], T_k -> e^(-t) T_k at t = 0 (a path of linear VAEs)", "19",
    path=Path(((W, sp.Lambda((_a, _b), sp.KroneckerDelta(_b, k) / 2)),
               (V, sp.Lambda((_a, _b), -sp.KroneckerDelta(_a, k) / 2)),
               (T, sp.Lambda(_a, -sp.KroneckerDelta(_a, k))))),
    index=k, requires=("linear-vae",))

CONCLUSION = sp.Eq(F, -D / 2 * sp.log(TWO_PI_E * s2) + sp.Sum(sp.log(T[h]), (h, 1, H)) / 2, evaluate=False)

STEPS = chain(
    F,
    (F1 + F2 + F3, ByDefinition((F,)), "9"),
    (unfold(F1 + F2 + F3, DEFINITIONS), ByDefinition((F1, F2, F3)), "29-32"),
    (AS_VAE1.apply(prop2.CONCLUSION.rhs), ByLemma(prop2.CLAIM, AS_VAE1, discharges=(
        Discharge("first-layer-linear", "linear-vae"),
        Discharge("encoder-scaling", "linear-vae"),
        Discharge("stationary-sigma2", "stationary-sigma2"),
        Discharge("stationary-orbit", "stationary-orbit"))), "25"),
    (CONCLUSION.rhs, ByStrategy(), "33"),
)

CLAIM = Claim(
    name="cor1",
    title="Corollary 1 (linear VAE): at every stationary point the ELBO depends on the variances only (Eq. 33)",
    steps=STEPS,
    conclusion=CONCLUSION,
    eq="33",
    definitions=DEFINITIONS,
    hypotheses=(LINEAR_VAE, STATIONARY_SIGMA2, STATIONARY_ORBIT),
)
