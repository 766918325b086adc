"""VAE-3 (Eqs. 34-38, 47-53) as SymPy expressions, shared by prop3, cor2 and the errata.

The decoder has two networks, with separate parameters (Eqs. 37-38):

* mu_d(z) = sum_i W[d, i] phi_i(z), sigma_d^2(z) = sum_j M[d, j] psi_j(z) (Eqs. 52-53: the last
  layers are linear; phi and psi are the rest of each network, arbitrary functions);
* both networks take z through a linear first layer, u = W0mu z + b_mu and v = W0sig z + b_sig,
  written as vectors ``Lambda(l, ...)`` over a first-layer unit l (needed for the prior part);
* M and psi are positive, so that SymPy knows sigma_d^2 > 0 (the paper needs sigma_d^2 > 0).

The Gaussian in natural parameters (Eqs. 47-49): eta = (mu/sigma^2, -1/(2 sigma^2)),
T(x) = (x, x^2), A(eta) = -eta1^2/(4 eta2) - 1/2 log(-2 eta2), A'(eta) = dA/deta, and the entropy
as a function of eta, H(eta) = 1/2 log(2 pi e (-1/(2 eta2))) (Eq. 50, proved in prop3).
"""

from __future__ import annotations

import sympy as sp
from sympy import IndexedBase

from proofs import gaussian as gauss
from proofs.claims.model import ENC, D, H, N, d, entropy, h, n, x
from proofs.operators import Expect
from proofs.text import abbreviate

I = sp.Symbol("I", integer=True, positive=True)   # units of DNN_mu's last hidden layer
J = sp.Symbol("J", integer=True, positive=True)   # units of DNN_sigma's last hidden layer
i = sp.Symbol("i", integer=True, positive=True)
j = sp.Symbol("j", integer=True, positive=True)
l = sp.Symbol("l", integer=True, positive=True)   # a first-layer unit
eps = sp.Symbol("epsilon", real=True)             # the step along a direction R~ (Eq. 55)

W = IndexedBase("W", real=True)                   # W^(L): last layer of DNN_mu
M = IndexedBase("M", positive=True)               # M^(L): last layer of DNN_sigma
W0mu = IndexedBase("W0mu", real=True)             # first layer of DNN_mu
W0sig = IndexedBase("W0sig", real=True)           # first layer of DNN_sigma
b_mu = IndexedBase("b_mu", real=True)
b_sig = IndexedBase("b_sig", real=True)
phi = sp.Function("phi", real=True)               # phi^mu_i(z): DNN_mu below its last layer
psi = sp.Function("psi", positive=True)           # phi^sigma_j(z): DNN_sigma below its last layer

U_MU = sp.Lambda(l, sp.Sum(W0mu[l, h] * ENC.z(n, h), (h, 1, H)) + b_mu[l])      # DNN_mu's first layer
U_SIG = sp.Lambda(l, sp.Sum(W0sig[l, h] * ENC.z(n, h), (h, 1, H)) + b_sig[l])    # DNN_sigma's first layer


def mean(dd: sp.Expr, scale_w: sp.Expr = 1) -> sp.Expr:
    """mu_d(z) = sum_i W[d, i] phi_i(z) (Eq. 52), with W scaled by scale_w (a direction R~ = W)."""
    return sp.Sum(scale_w * W[dd, i] * phi(i, U_MU), (i, 1, I))


def var(dd: sp.Expr, scale_m: sp.Expr = 1) -> sp.Expr:
    """sigma_d^2(z) = sum_j M[d, j] psi_j(z) (Eq. 53), with M scaled by scale_m (a direction R~ = M)."""
    return sp.Sum(scale_m * M[dd, j] * psi(j, U_SIG), (j, 1, J))


def eta(dd: sp.Expr, scale_w: sp.Expr = 1, scale_m: sp.Expr = 1) -> tuple[sp.Expr, sp.Expr]:
    """eta_d(z) = (mu_d / sigma_d^2, -1/(2 sigma_d^2)) (Eq. 48)."""
    return gauss.natural_parameters(mean(dd, scale_w), var(dd, scale_m))


def ell(e1: sp.Expr, e2: sp.Expr, value: sp.Expr) -> sp.Expr:
    """The integrand of Eq. 51: eta.T(x) - eta.A'(eta) - H(eta), with H(eta) = 1/2 log(-pi e / eta2)."""
    a1, a2 = gauss.log_partition_gradient(e1, e2)
    return e1 * value + e2 * value**2 - (e1 * a1 + e2 * a2) - entropy(-1 / (2 * e2))


def summand_47(dd: sp.Expr) -> sp.Expr:
    """eta_d.T(x_d) - A(eta_d) - 1/2 log(2 pi) (Eq. 47)."""
    e1, e2 = eta(dd)
    return e1 * x[n, dd] + e2 * x[n, dd] ** 2 - gauss.log_partition(e1, e2) - sp.log(2 * sp.pi) / 2


def term1(dd: sp.Expr) -> sp.Expr:
    """eta1_d (T1(x_d) - dA/deta1): the first summand of Eq. 59's integrand."""
    e1, e2 = eta(dd)
    return e1 * (x[n, dd] - gauss.log_partition_gradient(e1, e2)[0])


def term2(dd: sp.Expr) -> sp.Expr:
    """eta2_d (T2(x_d) - dA/deta2): the second summand of Eq. 59's integrand."""
    e1, e2 = eta(dd)
    return e2 * (x[n, dd] ** 2 - gauss.log_partition_gradient(e1, e2)[1])


def over_data(body) -> sp.Expr:
    """sum_n E_q sum_d body(d): N times the average of Eqs. 51 and 59."""
    return sp.Sum(Expect(sp.Sum(body(d), (d, 1, D))), (n, 1, N))


I1 = over_data(term1)   # N times the eta1 summand of Eq. 59 (Eq. 66's integral)
I2 = over_data(term2)   # N times the eta2 summand of Eq. 59 (Eq. 75's integral)
G59 = over_data(lambda dd: term1(dd) + term2(dd))   # N times Eq. 59
NEG_ENTROPY = over_data(lambda dd: entropy(var(dd)))  # N times (1/N) sum_n E_q H[p(x|z)]


def _abbreviations() -> None:
    """Display names: the first layers as u_mu(z_n), u_sigma(z_n); mu[d], sigma^2[d] for the outputs."""
    from proofs.claims.model import dp
    abbreviate(U_MU, sp.Symbol("u_mu(z_n)"))
    abbreviate(U_SIG, sp.Symbol("u_sigma(z_n)"))
    for dd in (d, dp):
        abbreviate(mean(dd), IndexedBase("mu", real=True)[dd])
        abbreviate(var(dd), IndexedBase("sigma^2", positive=True)[dd])


_abbreviations()
