"""The paper's models as SymPy expressions, with symbolic sizes N, D, H.

* data x[n, d] = x_d^(n), n = 1..N, d = 1..D; latents h = 1..H;
* encoder (Eqs. 4-7, 14): q^(n)(z) = N(z; nu[n, :], diag tau^2[n, :]); its expectations are
  written with the reparametrization z_nh = nu[n, h] + sqrt(tau^2[n, h]) xi_h, xi ~ N(0, I)
  (proofs.operators.Expect), so that they are linear operators whose measure has no parameter;
* the ELBO terms F1 = (1/N) sum_n E_q log p(z), F2 = (1/N) sum_n E_q log p(x^(n)|z),
  F3 = -(1/N) sum_n E_q log q^(n)(z) (Eq. 8 split as in the proof of Prop. 1 and Eq. 46);
* a decoder network whose first layer is linear in z (Eq. 11) is g(d, u) with u the vector of
  first-layer pre-activations, written as ``Lambda(i, sum_h W[i, h] z_h + b0[i])`` (a function
  of the unit index i); g itself is an arbitrary function of d and of that vector.

Generic indices with a declared range (for Kronecker sums and stationarity conditions):
k in 1..H (a latent), d' in 1..D (an observed coordinate).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import IndexedBase

from proofs.operators import DATA_INDEX, XI, Expect, declare_index
from proofs.text import abbreviate

# sizes
N = sp.Symbol("N", integer=True, positive=True)
D = sp.Symbol("D", integer=True, positive=True)
H = sp.Symbol("H", integer=True, positive=True)

# indices: n, d, h are bound by sums; k and d' are generic (declared ranges)
n = DATA_INDEX
d = sp.Symbol("d", integer=True, positive=True)
h = sp.Symbol("h", integer=True, positive=True)
i = sp.Symbol("i", integer=True, positive=True)
k = declare_index(sp.Symbol("k", integer=True, positive=True), 1, H)
dp = declare_index(sp.Symbol("d'", integer=True, positive=True), 1, D)

x = IndexedBase("x", real=True)
s2 = sp.Symbol("sigma^2", positive=True)
xi = XI
Expect.dimension = H

# the ELBO's three terms and the ELBO (their meaning is given per model by the claims)
F, F1, F2, F3 = sp.symbols("F F1 F2 F3", real=True)


def log_normal(value: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
    """log N(value; mean, var) = -(value - mean)^2 / (2 var) - 1/2 log(2 pi var)."""
    return -(value - mean) ** 2 / (2 * var) - sp.log(2 * sp.pi * var) / 2


def entropy(var: sp.Expr) -> sp.Expr:
    """Entropy of a univariate Gaussian with variance var: 1/2 log(2 pi e var)."""
    return sp.log(2 * sp.pi * sp.E * var) / 2


def average(body: sp.Expr) -> sp.Expr:
    """(1/N) sum_n E_xi[body]: the average over data points of an expectation under q^(n)."""
    return sp.Sum(Expect(body), (n, 1, N)) / N


@dataclass(frozen=True)
class Encoder:
    """Gaussian encoder outputs at the data points: means nu[n, h], variances tau2[n, h]."""

    nu: IndexedBase
    tau2: IndexedBase

    def mean(self, row: sp.Expr, col: sp.Expr) -> sp.Expr:
        """nu_col(x^(row))."""
        return self.nu[row, col]

    def var(self, row: sp.Expr, col: sp.Expr) -> sp.Expr:
        """tau_col^2(x^(row))."""
        return self.tau2[row, col]

    def z(self, row: sp.Expr, col: sp.Expr) -> sp.Expr:
        """Latent coordinate col of q^(row), reparametrized: nu + sqrt(tau^2) xi_col."""
        return self.mean(row, col) + sp.sqrt(self.var(row, col)) * xi[col]

    def prior_term(self, var) -> sp.Expr:
        """F1 with prior variance var(h) per latent: (1/N) sum_n E_q sum_h log N(z_h; 0, var(h))."""
        return average(sp.Sum(log_normal(self.z(n, h), 0, var(h)), (h, 1, H)))

    def entropy_term(self) -> sp.Expr:
        """F3 = -(1/N) sum_n E_q log q^(n)(z) (a diagonal Gaussian: a sum over h)."""
        return -average(sp.Sum(log_normal(self.z(n, h), self.mean(n, h), self.var(n, h)), (h, 1, H)))

    def second_moment(self, col: sp.Expr) -> sp.Expr:
        """sum_n E_q[z_col^2] (N times the m_h of Eq. 23)."""
        return sp.Sum(Expect(self.z(n, col) ** 2), (n, 1, N))


ENC = Encoder(IndexedBase("nu", real=True), IndexedBase("tau^2", positive=True))
ENC_TILDE = Encoder(IndexedBase("nu~", real=True), IndexedBase("tau~^2", positive=True))

g = sp.Function("g", real=True)   # the decoder network above its linear first layer (Eq. 11)
b0 = IndexedBase("b0", real=True)


def first_layer(W: IndexedBase, enc: Encoder, bias: IndexedBase | None = None) -> sp.Lambda:
    """The first layer's pre-activations at q^(n): the vector i -> sum_h W[i, h] z_h + bias[i]."""
    return sp.Lambda(i, sp.Sum(W[i, h] * enc.z(n, h), (h, 1, H)) + (b0 if bias is None else bias)[i])


def decoder_term(mean, var) -> sp.Expr:
    """F2 = (1/N) sum_n E_q sum_d log N(x_d^(n); mean(d), var(d))."""
    return average(sp.Sum(log_normal(x[n, d], mean(d), var(d)), (d, 1, D)))


def squared_error(mean) -> sp.Expr:
    """sum_n E_q sum_d (x_d^(n) - mean(d))^2 (N D sigma^2 times 1 - r_sigma; Eq. 21)."""
    return sp.Sum(Expect(sp.Sum((x[n, d] - mean(d)) ** 2, (d, 1, D))), (n, 1, N))


def log_det_diagonal(entries, index: sp.Symbol, size: sp.Expr, scale: sp.Expr = 1) -> sp.Expr:
    """log det(scale * diag(entries(1..size))) = log prod_index scale * entries(index)."""
    return sp.log(sp.Product(scale * entries(index), (index, 1, size)))


TWO_PI_E = 2 * sp.pi * sp.E


def _abbreviations() -> None:
    """Display names: z[n, h] for a reparametrized latent coordinate of q^(n)."""
    for enc, name in ((ENC, "z"), (ENC_TILDE, "z~")):
        for col in (h, k):
            abbreviate(enc.z(n, col), IndexedBase(name, real=True)[n, col])


_abbreviations()
