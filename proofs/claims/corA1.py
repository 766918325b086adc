"""Corollary A1 (Appendix A, Eqs. 44-45): at the p-PCA maximum-likelihood solution Eq. 44 = Eq. 45.

The ML solution (Tipping and Bishop): eigenvalues lambda_1 >= ... >= lambda_D of S, sigma^2 the
mean of the D - H discarded ones, W = U_H (Lambda_H - sigma^2 I)^(1/2) (R = I). The optimal
encoder variances tau_h^2 = sigma^2 / lambda_h are derived here from the linear VAE's analytic
ELBO rather than assumed. Everything is rotation invariant, so the proof works in S's eigenbasis.
"""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import H, g, s2
from proofs.engine import Claim, Step

HYP = {
    "ppca-ml": "(sigma^2, W) is the p-PCA maximum-likelihood solution: sigma^2 = mean of the "
               "D - H smallest eigenvalues of S, W = U_H (Lambda_H - sigma^2 I)^(1/2) R with R = I",
    "gap": "lambda_H > sigma^2 (strict eigen-gap), so Lambda_H - sigma^2 I is positive definite",
    "linear-vae": "the linear VAE (Eqs. 29-32) with its analytic ELBO",
    "lucas": "at the global maximum the linear VAE's bound is tight (Lucas et al., 2019), which "
             "turns Eq. 33 into the log-likelihood Eq. 44",
}

K = sp.Symbol("K", integer=True, positive=True)  # number of discarded directions, D = H + K
hh, dd = sp.symbols("h d", integer=True, positive=True)
lam = sp.IndexedBase("lambda", positive=True)
w2, tau2_, nu_ = sp.Symbol("||W_h||^2", positive=True), sp.Symbol("tau_h^2", positive=True), sp.Symbol("nu_h", real=True)
lh = sp.Symbol("lambda_h", positive=True)

# analytic ELBO pieces of the linear VAE (D = 2, H = 2 explicit)
zs = sp.symbols("z_1:3", real=True)
nus = sp.symbols("nu_1:3", real=True)
taus = sp.symbols("tau_1:3^2", positive=True)
Wm = sp.Matrix(1, 2, lambda d, h: sp.Symbol(f"W_{d + 1}{h + 1}", real=True))
xv = sp.Matrix([sp.Symbol("x_1 - mu0_1", real=True)])
resid = xv - Wm * sp.Matrix(zs)
sq_err = sp.Integral(sp.Mul(*[g.normal_pdf(z, n_, t_) for z, n_, t_ in zip(zs, nus, taus)]) * (resid.T * resid)[0],
                     *[(z, -sp.oo, sp.oo) for z in zs])
mean_resid = xv - Wm * sp.Matrix(nus)
sq_err_closed = (mean_resid.T * mean_resid)[0] + sum(taus[h] * (Wm[:, h].T * Wm[:, h])[0] for h in range(2))

elbo_tau = -tau2_ * w2 / (2 * s2) - tau2_ / 2 + sp.log(tau2_) / 2  # the terms of F that depend on tau_h^2
tau_opt = s2 / (s2 + w2)

# rotation invariance: a generic 3x3 rotation by the Cayley transform of a skew matrix
a, b, c = sp.symbols("a b c", real=True)
Ksk = sp.Matrix([[0, a, b], [-a, 0, c], [-b, -c, 0]])
U = (sp.eye(3) - Ksk) * (sp.eye(3) + Ksk).inv()
Cg = sp.Matrix(3, 3, sp.symbols("C_1:10", real=True))


def eq44(lams: list[sp.Expr], hdim: int, sigma2: sp.Expr) -> sp.Expr:
    """Eq. 44 with tau_h^2 = sigma^2 / lambda_h."""
    return -sp.Rational(len(lams), 2) * sp.log(2 * sp.pi * sp.E * sigma2) + sum(sp.log(sigma2 / l) for l in lams[:hdim]) / 2


def eq45(lams: list[sp.Expr], hdim: int) -> sp.Expr:
    """Eq. 45 at the ML solution, in the eigenbasis: S = diag(lambda), explicit matrices."""
    dim = len(lams)
    sigma2 = sum(lams[hdim:]) / (dim - hdim)
    W = sp.zeros(dim, hdim)
    for h in range(hdim):
        W[h, h] = sp.sqrt(lams[h] - sigma2)
    C = W * W.T + sigma2 * sp.eye(dim)
    assert C.is_diagonal(), "in the eigenbasis C = W W^T + sigma^2 I is diagonal"
    det_C = sp.Mul(*C.diagonal())  # det and inverse of a diagonal matrix (sympy's generic
    C_inv = sp.diag(*[1 / c for c in C.diagonal()])  # routines are needlessly slow at D = 8)
    S = sp.diag(*lams)
    return -sp.Rational(dim, 2) * sp.log(2 * sp.pi) - sp.log(det_C) / 2 - (C_inv * S).trace() / 2


def concrete_step(dim: int, hdim: int) -> Step:
    """Eq. 44 = Eq. 45 with explicit D x D matrices."""
    lams = list(sp.symbols(f"lambda_1:{dim + 1}", positive=True))
    domain = {l: ((5.0, 8.0) if i < hdim else (0.3, 3.0)) for i, l in enumerate(lams)}
    sigma2 = sum(lams[hdim:]) / (dim - hdim)
    return Step("44-45", eq44(lams, hdim, sigma2), eq45(lams, hdim),
                f"D = {dim}, H = {hdim}: explicit S = diag(lambda), W = (Lambda_H - sigma^2 I)^(1/2) "
                "padded with zeros, C = W W^T + sigma^2 I (diagonal) built by SymPy", ("ppca-ml", "gap"), domain=domain,
                statement=f"Eq. 44 = Eq. 45 for D = {dim}, H = {hdim}")


sigma2_ml = sp.Sum(lam[dd], (dd, H + 1, H + K)) / K
GENERAL_DOMAIN = {H: (1, 4), K: (1, 4)}

STEPS = (
    Step("44", sq_err, sq_err_closed,
         "E_q ||x - W z - mu0||^2 = ||x - W nu - mu0||^2 + sum_h tau_h^2 ||W_h||^2 (Gaussian integrals; "
         "shown for one coordinate d and H = 2, the sum over d adds identical terms)",
         ("linear-vae",),
         statement="E_q||x - W z - mu0||^2 = ||x - W nu - mu0||^2 + sum_h tau_h^2 ||W_h||^2"),
    Step("44", g.expectation(g.normal_logpdf(zs[0], 0, 1) - g.normal_logpdf(zs[0], nu_, tau2_), zs[0], nu_, tau2_),
         (1 + sp.log(tau2_) - nu_**2 - tau2_) / 2,
         "-KL(N(nu, tau^2) || N(0, 1)) = 1/2 (1 + log tau^2 - nu^2 - tau^2) (Gaussian integral)",
         ("linear-vae",), statement="E_q[log N(z; 0, 1) - log q(z)] = (1 + log tau^2 - nu^2 - tau^2)/2"),
    Step("44", sp.Subs(sp.Derivative(elbo_tau, tau2_), tau2_, tau_opt), 0,
         "the tau_h^2-dependent part of the ELBO, -tau^2 ||W_h||^2/(2 sigma^2) - tau^2/2 + 1/2 log tau^2, "
         "is stationary at tau_h^2 = sigma^2/(sigma^2 + ||W_h||^2)", ("linear-vae",)),
    Step("44", sp.Derivative(elbo_tau, (tau2_, 2)), -1 / (2 * tau2_**2),
         "second derivative -1/(2 tau^4) < 0: that stationary point is the unique maximum", ("linear-vae",)),
    Step("44", (sp.Matrix([[sp.sqrt(lh - s2)], [0]]).T * sp.Matrix([[sp.sqrt(lh - s2)], [0]]))[0], lh - s2,
         "at the ML solution ||W_h||^2 = lambda_h - sigma^2 (column h of U_H (Lambda_H - sigma^2 I)^(1/2))",
         ("ppca-ml", "gap"), domain={lh: (5.0, 8.0)}),
    Step("44", tau_opt.subs(w2, lh - s2), s2 / lh,
         "so the optimal encoder variance is tau_h^2 = sigma^2 / lambda_h", ("ppca-ml", "linear-vae")),
    Step("45", (U.T * U), sp.eye(3),
         "U = (I - K)(I + K)^(-1) (Cayley, K skew) is a generic rotation: U^T U = I", ()),
    Step("45", U.det() ** 2, 1,
         "det(U C U^T) = det(U)^2 det(C) = det(C): log det C is rotation invariant, so S may be "
         "taken diagonal (eigenbasis)", ("ppca-ml",), statement="det(U)^2 = 1"),
    Step("45", (U * Cg * U.T).trace(), Cg.trace(),
         "trace is rotation invariant (applied to C^-1 S, which rotates as U C^-1 S U^T)", ("ppca-ml",),
         statement="Tr(U M U^T) = Tr(M)"),
    Step("45", sp.Sum(sp.log(lam[hh]), (hh, 1, H)) + K * sp.log(sigma2_ml),
         sp.Sum(sp.log(lam[hh]), (hh, 1, H)) + sp.Sum(sp.log(sigma2_ml), (dd, H + 1, H + K)),
         "log det C = sum_h log lambda_h + (D - H) log sigma^2 (C has eigenvalues lambda_1..lambda_H "
         "and sigma^2 with multiplicity D - H), general H and K = D - H", ("ppca-ml",), domain=GENERAL_DOMAIN),
    Step("45", sp.Sum(lam[hh] / lam[hh], (hh, 1, H)) + sp.Sum(lam[dd], (dd, H + 1, H + K)) / sigma2_ml, H + K,
         "Tr(C^-1 S) = sum_h lambda_h/lambda_h + sum_{d>H} lambda_d/sigma^2 = H + (D - H) = D "
         "(general H and K = D - H)", ("ppca-ml",), domain=GENERAL_DOMAIN),
    Step("44-45", -(H + K) / 2 * sp.log(2 * sp.pi * sp.E * sigma2_ml) + sp.Sum(sp.log(sigma2_ml / lam[hh]), (hh, 1, H)) / 2,
         -(H + K) / 2 * sp.log(2 * sp.pi) - (sp.Sum(sp.log(lam[hh]), (hh, 1, H)) + K * sp.log(sigma2_ml)) / 2 - (H + K) / 2,
         "Eq. 44 (with tau_h^2 = sigma^2/lambda_h) equals Eq. 45 for general D = H + K and H",
         ("ppca-ml", "gap", "lucas"), domain=GENERAL_DOMAIN,
         statement="-D/2 log(2 pi e sigma^2) + 1/2 sum_h log(sigma^2/lambda_h) "
                   "= -D/2 log(2 pi) - 1/2 log det C - 1/2 Tr(C^-1 S)"),
    *(concrete_step(dim, hdim) for dim in range(2, 9) for hdim in range(1, dim)),
)

CLAIM = Claim(
    name="corA1",
    title="Corollary A1: at the p-PCA ML solution, Eq. 44 (entropies) equals the p-PCA log-likelihood Eq. 45",
    hypotheses=HYP,
    steps=STEPS,
)
