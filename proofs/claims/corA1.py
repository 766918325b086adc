"""Corollary A1 (Appendix A, Eqs. 44-45): after convergence of the linear VAE, its log-likelihood is Eq. 44.

The paper's proof, as a chain: the p-PCA log-likelihood L (Eq. 45) equals the linear VAE's ELBO at
its global maximum (the axiom ``lucas``: Lucas et al. 2019 show the bound is tight there), and the
global maximum is a stationary point, so Corollary 1 gives Eq. 44.

Eq. 45's closed form is derived as well (the lemma ``corA1/eq45-at-ml``): at the maximum-likelihood
solution of Tipping and Bishop (the axiom ``tipping-bishop``: in the eigenbasis of S,
C = W W^T + sigma^2 I = diag(lambda_1, ..., lambda_H, sigma^2, ..., sigma^2) with sigma^2 the mean of
the K = D - H discarded eigenvalues), L = -D/2 log(2 pi e sigma^2) + 1/2 sum_h log(sigma^2/lambda_h),
with symbolic H and K. The remarks ``corA1/eq45-explicit-HxD`` build C = W W^T + sigma^2 I from the
solution W = (Lambda_H - sigma^2 I)^(1/2) (padded with zeros) as explicit matrices, at (H, D) = (2, 3)
and (3, 5), and let SymPy compute its determinant and inverse: the computation is entry-wise (C is
diagonal in the eigenbasis), so two sizes with H != D check its form. The remark
``corA1/optimal-encoder`` derives, from the linear VAE's ELBO, that the encoder variances that
make it stationary are tau_h^2 = sigma^2/(sigma^2 + ||W_h||^2), which at the solution is
sigma^2/lambda_h: Eq. 44 then equals Eq. 45's closed form, as Lucas et al.'s tightness says.
"""

from __future__ import annotations

import sympy as sp
from sympy import IndexedBase

from proofs.chain import (Axiom, ByAxiom, ByDefinition, ByHypothesis, ByLemma, ByStrategy, Claim, Definition,
                          Discharge, Stationarity, Structural, chain, instance, unfold)
from proofs.claims import cor1
from proofs.claims.model import D, F, TWO_PI_E, H, d, h, k, s2

L = sp.Symbol("L", real=True)
K = sp.Symbol("K", integer=True, positive=True)      # discarded directions, D = H + K
W_m = sp.MatrixSymbol("W", D, H)
S_m = sp.MatrixSymbol("S", D, D)
C_m = W_m * W_m.T + s2 * sp.Identity(D)
EQ45 = -D / 2 * sp.log(2 * sp.pi) - sp.log(sp.Determinant(C_m)) / 2 - sp.Trace(sp.Inverse(C_m) * S_m) / 2

GLOBAL_MAX = Structural(
    "global-maximum", "(Phi, Theta) is the global maximum of the linear VAE's ELBO, which training reaches "
                      "(Lucas et al. 2019: no other stable stationary points)", "44")
LUCAS = Axiom(
    "lucas", "at the global maximum of the linear VAE's ELBO the bound is tight: F = L(Theta), the p-PCA "
             "log-likelihood of its decoder", "Lucas et al. 2019, 'Don't blame the ELBO!', Sec. 4",
    EQ45, unfold(F, cor1.DEFINITIONS), hypotheses=("global-maximum",))

DEFINITIONS = cor1.DEFINITIONS + (
    Definition(L, EQ45, "L = -D/2 log(2 pi) - 1/2 log det C - 1/2 Tr(C^-1 S), C = W W^T + sigma^2 I: the p-PCA "
                        "log-likelihood (per data point)", "45"),
)

F_LIN = unfold(F, cor1.DEFINITIONS)
STATIONARY_SIGMA2 = Stationarity(
    "stationary-sigma2", "the global maximum is stationary: dF/dsigma^2 = 0", "19", wrt=s2, of=F_LIN)
STATIONARY_ORBIT = Stationarity(
    "stationary-orbit", "the global maximum is stationary along the orbit of every latent k (a path of linear "
                        "VAEs)", "19", path=cor1.STATIONARY_ORBIT.path, index=k, requires=("linear-vae",),
    of=F_LIN)

EQ44 = cor1.CONCLUSION.rhs
CONCLUSION = sp.Eq(L, EQ44, evaluate=False)

STEPS = chain(
    L,
    (EQ45, ByDefinition((L,)), "45"),
    (F_LIN, ByAxiom(LUCAS), "44"),
    (EQ44, ByLemma(cor1.CLAIM, discharges=(
        Discharge("stationary-sigma2", "stationary-sigma2"),
        Discharge("stationary-orbit", "stationary-orbit"))), "33, 44"),
)


# --- Eq. 45 at the maximum-likelihood solution ------------------------------------------------------

lam = IndexedBase("lambda", positive=True)           # eigenvalues of S, decreasing
SIGMA2_ML = sp.Sum(lam[d], (d, H + 1, H + K)) / K   # mean of the discarded eigenvalues
EIGEN = (-(H + K) / 2 * sp.log(2 * sp.pi)
         - (sp.Sum(sp.log(lam[h]), (h, 1, H)) + sp.Sum(sp.log(SIGMA2_ML), (d, H + 1, H + K))) / 2
         - (sp.Sum(lam[h] / lam[h], (h, 1, H)) + sp.Sum(lam[d] / SIGMA2_ML, (d, H + 1, H + K))) / 2)
TIPPING_BISHOP = Axiom(
    "tipping-bishop", "the p-PCA maximum-likelihood solution: with S = U Lambda U^T (eigenvalues lambda_1 >= ... "
                      ">= lambda_D), W = U_H (Lambda_H - sigma^2 I)^(1/2) R and sigma^2 the mean of the D - H "
                      "discarded eigenvalues; in S's eigenbasis C = diag(lambda_1..lambda_H, sigma^2, ..., "
                      "sigma^2), so log det C and Tr(C^-1 S) are sums over the eigenvalues (D = H + K)",
    "Tipping and Bishop 1999, Eqs. 7-8 and 15", EQ45.xreplace({D: H + K}), EIGEN)
ML_VALUE = -(H + K) / 2 * sp.log(TWO_PI_E * SIGMA2_ML) + sp.Sum(sp.log(SIGMA2_ML / lam[h]), (h, 1, H)) / 2
EQ45_AT_ML = Claim(
    name="corA1/eq45-at-ml",
    title="At the p-PCA ML solution, Eq. 45 = -D/2 log(2 pi e sigma^2) + 1/2 sum_h log(sigma^2/lambda_h) "
          "(symbolic H and K = D - H)",
    steps=chain(EQ45.xreplace({D: H + K}),
                (EIGEN, ByAxiom(TIPPING_BISHOP), "45"),
                (ML_VALUE, ByStrategy(), "44-45")),
    conclusion=sp.Eq(EQ45.xreplace({D: H + K}), ML_VALUE, evaluate=False), eq="45", role="lemma")


def explicit(hdim: int, dim: int) -> Claim:
    """Eq. 45 at the ML solution with explicit D x D matrices in S's eigenbasis (a remark)."""
    lams = sp.symbols(f"lambda_1:{dim + 1}", positive=True)
    sigma2 = sum(lams[hdim:]) / (dim - hdim)
    W = sp.zeros(dim, hdim)
    for c in range(hdim):
        W[c, c] = sp.sqrt(lams[c] - sigma2)
    C = W * W.T + sigma2 * sp.eye(dim)
    start = (-sp.Rational(dim, 2) * sp.log(2 * sp.pi) - sp.log(C.det()) / 2
             - (C.inv() * sp.diag(*lams)).trace() / 2)
    value = -sp.Rational(dim, 2) * sp.log(TWO_PI_E * sigma2) + sum(sp.log(sigma2 / lv) for lv in lams[:hdim]) / 2
    domain = {lv: ((6.0, 9.0) if c < hdim else (0.3, 3.0)) for c, lv in enumerate(lams)}
    return Claim(
        name=f"corA1/eq45-explicit-{hdim}x{dim}",
        title=f"Eq. 45 at the ML solution for H = {hdim}, D = {dim}: SymPy's det and inverse of the explicit C = "
              f"W W^T + sigma^2 I, W = (Lambda_H - sigma^2 I)^(1/2) padded with zeros, S = diag(lambda)",
        steps=chain(start, (value, ByStrategy(), "45", domain)),
        conclusion=sp.Eq(start, value, evaluate=False), eq="45", role="remark")


EXPLICIT = (explicit(2, 3), explicit(3, 5))


# --- the linear VAE's optimal encoder variance at the ML solution -----------------------------------

T, W = cor1.T, cor1.W
STATIONARY_T = Stationarity(
    "stationary-T", "dF/dtau_k^2 = 0 for every latent k: the encoder variances are optimal for the decoder", "44",
    wrt=T[k], solve_for=T[k], index=k, of=F_LIN, gaussian=True, requires=("linear-vae",))
ML_COLUMNS = Axiom(
    "tipping-bishop-columns", "at the ML solution with R = I (the rotation that a diagonal encoder covariance "
                              "selects), the columns of W are orthogonal with ||W_k||^2 = lambda_k - sigma^2",
    "Tipping and Bishop 1999, Eq. 7; Lucas et al. 2019, Sec. 4 (R = I)",
    sp.Sum(W[d, k] ** 2, (d, 1, D)), lam[k] - s2)
AT_OPTIMUM = (-D / 2 * sp.log(TWO_PI_E * s2)
              + sp.Sum(sp.log(s2 / (s2 + sp.Sum(W[d, h] ** 2, (d, 1, D)))), (h, 1, H)) / 2)
AT_ML = -D / 2 * sp.log(TWO_PI_E * s2) + sp.Sum(sp.log(s2 / lam[h]), (h, 1, H)) / 2
OPTIMAL_ENCODER = Claim(
    name="corA1/optimal-encoder",
    title="With the optimal encoder variances tau_h^2 = sigma^2/(sigma^2 + ||W_h||^2) and the ML decoder, Eq. 44 "
          "is -D/2 log(2 pi e sigma^2) + 1/2 sum_h log(sigma^2/lambda_h), Eq. 45's value at the ML solution",
    steps=chain(EQ44,
                (AT_OPTIMUM, ByHypothesis("stationary-T"), "44"),
                (AT_ML, ByAxiom(ML_COLUMNS, instance((k, h))), "44-45")),
    conclusion=sp.Eq(EQ44, AT_ML, evaluate=False), eq="44", role="remark",
    definitions=cor1.DEFINITIONS, hypotheses=(cor1.LINEAR_VAE, STATIONARY_T))

CLAIM = Claim(
    name="corA1",
    title="Corollary A1 (linear VAE): after convergence the p-PCA log-likelihood is Eq. 44, and Eq. 45 at the "
          "maximum-likelihood solution has that value",
    steps=STEPS,
    conclusion=CONCLUSION,
    eq="44",
    definitions=DEFINITIONS,
    hypotheses=(cor1.LINEAR_VAE, GLOBAL_MAX, STATIONARY_SIGMA2, STATIONARY_ORBIT),
    lemmas=(EQ45_AT_ML, *EXPLICIT, OPTIMAL_ENCODER),
)
