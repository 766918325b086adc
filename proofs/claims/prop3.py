"""Proposition 3 (VAE-3, Appendix B, Eqs. 46-76): F converges to the entropy sum of Eq. 39."""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import H_EX, TWO_PI_E, Ls, g
from proofs.engine import Claim, Step

HYP = {
    "vae3": "model VAE-3 (Eqs. 34-38): decoder N(mu(z), diag sigma_d^2(z)) with two DNNs",
    "last-linear": "the last layers of both decoder DNNs are linear: mu_d = sum_i W_di phi_i, "
                   "sigma_d^2 = sum_j M_dj phi_j^sigma (Eqs. 52-53)",
    "separate-params": "DNN_mu and DNN_sigma have separate parameters W and M",
    "hidden-layer": "both DNNs have at least one hidden layer, so W^(L), M^(L) are unconstrained",
    "stationary": "dF/dW^(L) = 0 and dF/dM^(L) = 0 at the point considered (Eq. 54), plus the "
                  "prior-variance and encoder conditions used in Props. 1-2",
    "first-linear-both": "for the prior part: the first layers of BOTH decoder DNNs take z linearly, "
                         "so the reparametrization of Prop. 2 acts on both (the paper does not say so)",
    "encoder-scaling": "the encoder family is closed under per-coordinate variance scaling (Prop. 2)",
    "linearity": "averages over n, sums over d and expectations under q are linear: integrand "
                 "identities carry over",
}

x, xn, mu = sp.symbols("x x_d^(n) mu", real=True)
s2 = sp.Symbol("sigma^2", positive=True)
e1 = sp.Symbol("eta1", real=True)
e2 = sp.Symbol("eta2", negative=True)
eps, tt = sp.symbols("epsilon t", real=True)
eta = g.natural_parameters(mu, s2)
T = g.sufficient_statistics(x)
Tn = g.sufficient_statistics(xn)
A = g.log_partition
dA = g.log_partition_gradient


def dot(u, v) -> sp.Expr:
    """Inner product of two 2-vectors (tuples)."""
    return u[0] * v[0] + u[1] * v[1]


def entropy_eta(a, b) -> sp.Expr:
    """Eq. 50: H = -eta . A'(eta) + A(eta) + 1/2 log(2 pi) as a function of eta."""
    return -dot((a, b), dA(a, b)) + A(a, b) + sp.log(2 * sp.pi) / 2


# eta as functions of the scalar epsilon (Eqs. 55-58); eta2 < 0 is required by A
E1, E2 = sp.Function("eta1"), sp.Function("eta2")
ee = (E1(eps), E2(eps))
de = (sp.Derivative(E1(eps), eps), sp.Derivative(E2(eps), eps))
_c0, _c1 = sp.Dummy("c0"), sp.Dummy("c1")
FUNCTION_DOMAIN = {E2: lambda args: (-(_c0 + _c1 * args[0] ** 2), {_c0: (0.3, 1.5), _c1: (0.2, 1.0)})}
integrand_51 = dot(ee, Tn) - dot(ee, dA(*ee)) - entropy_eta(*ee)

# explicit networks for the derivative table (D = 2 outputs, 2 hidden units each)
ND, NI = 2, 2
W = sp.Matrix(ND, NI, lambda d, i: sp.Symbol(f"W_{d + 1}{i + 1}", real=True))
M = sp.Matrix(ND, NI, lambda d, j: sp.Symbol(f"M_{d + 1}{j + 1}", positive=True))
phi = sp.symbols(f"phi_1:{NI + 1}", real=True)
psi = sp.symbols(f"phi^sigma_1:{NI + 1}", positive=True)
mus = [sum(W[d, i] * phi[i] for i in range(NI)) for d in range(ND)]
sig2 = [sum(M[d, j] * psi[j] for j in range(NI)) for d in range(ND)]
eta1 = [mus[d] / sig2[d] for d in range(ND)]
eta2 = [-1 / (2 * sig2[d]) for d in range(ND)]
idx = [(dp, d, i) for dp in range(ND) for d in range(ND) for i in range(NI)]
delta = lambda a, b: sp.KroneckerDelta(a, b)  # noqa: E731


def table(fn, wrt, formula) -> tuple[sp.Matrix, sp.Matrix]:
    """(derivatives d fn[d'] / d wrt[d, i] for all d', d, i; the table's formula for them)."""
    return (sp.Matrix([sp.Derivative(fn[dp], wrt[d, i]) for dp, d, i in idx]),
            sp.Matrix([formula(dp, d, i) for dp, d, i in idx]))


def directional(fn, wrt) -> sp.Matrix:
    """sum_{d,i} (d fn[d'] / d wrt[d, i]) wrt[d, i] for every d' (R~ = that weight matrix at R*)."""
    return sp.Matrix([sum(sp.Derivative(fn[dp], wrt[d, i]) * wrt[d, i] for d in range(ND) for i in range(NI))
                      for dp in range(ND)])


def integrand_60(d_eta1, d_eta2, dp: int = 0) -> sp.Expr:
    """Integrand of Eq. 60 for output d': sum_k (d eta_k)(T_k(x) - A'_k(eta))."""
    grad = dA(eta1[dp], eta2[dp])
    return d_eta1 * (x - grad[0]) + d_eta2 * (x**2 - grad[1])


eq59_integrand = integrand_60(eta1[0], eta2[0])
LDs = sp.symbols(f"Lsigma_1:{H_EX + 1}", real=True)  # E_qbar log sigma_d^2, d = 1..3
c = sp.Symbol("c", positive=True)
wm, ws, zz = sp.symbols("w_mu w_sigma z", real=True)

STEPS = (
    Step("47-49", g.normal_logpdf(x, mu, s2), dot(eta, T) - A(*eta) - sp.log(2 * sp.pi) / 2,
         "exponential-family form: eta = (mu/sigma^2, -1/(2 sigma^2)), T = (x, x^2), A of Eq. 49",
         ("vae3",), statement="log N(x; mu, sigma^2) = eta.T(x) - A(eta) - 1/2 log(2 pi)"),
    Step("50", sp.Matrix(dA(*eta)), sp.Matrix([mu, mu**2 + s2]),
         "A'(eta) = (dA/deta1, dA/deta2) at eta(mu, sigma^2)", ("vae3",),
         statement="A'(eta(mu, sigma^2)) = (mu, mu^2 + sigma^2)"),
    Step("50", sp.Matrix([g.expectation(T[0], x, mu, s2), g.expectation(T[1], x, mu, s2)]), sp.Matrix(dA(*eta)),
         "E[T(x)] = dA/deta, by the Gaussian integrals of x and x^2", ("vae3",),
         statement="E_{N(x; mu, sigma^2)}[T(x)] = A'(eta)"),
    Step("50", g.expectation(-(-sp.log(2 * sp.pi) / 2 + dot(eta, T) - A(*eta)), x, mu, s2),
         -dot(eta, dA(*eta)) + A(*eta) + sp.log(2 * sp.pi) / 2,
         "H = -int p (-1/2 log 2 pi + eta.T(x) - A) dx = -eta.E[T] + A + 1/2 log 2 pi = -eta.A' + A + "
         "1/2 log 2 pi (with T(x), not T(x_d^(n)); see errata)", ("vae3",),
         statement="-int N(x) (eta.T(x) - A - 1/2 log 2 pi) dx = -eta.A'(eta) + A(eta) + 1/2 log(2 pi)"),
    Step("50", entropy_eta(*eta), g.entropy(s2),
         "the right-hand side of Eq. 50 is the Gaussian entropy 1/2 log(2 pi e sigma^2)", ("vae3",),
         statement="-eta.A'(eta) + A(eta) + 1/2 log(2 pi) = 1/2 log(2 pi e sigma^2)"),
    Step("50-51", -A(e1, e2) - sp.log(2 * sp.pi) / 2, -dot((e1, e2), dA(e1, e2)) - g.entropy(-1 / (2 * e2)),
         "rearranged Eq. 50 in free natural parameters (eta2 < 0): -A - 1/2 log 2 pi = -eta.A' - H",
         ("vae3",)),
    Step("51", g.normal_logpdf(xn, mu, s2), dot(eta, Tn) - dot(eta, dA(*eta)) - g.entropy(s2),
         "Eq. 51 integrand: log N(x_d^(n); mu_d, sigma_d^2) = eta.T(x) - eta.A'(eta) - H[p(x_d|z)]",
         ("vae3", "linearity")),
    Step("57", sp.Derivative(entropy_eta(*ee), eps),
         -dot(de, dA(*ee)) - dot(ee, [sp.Derivative(v, eps) for v in dA(*ee)]) + sp.Derivative(A(*ee), eps),
         "Eq. 57: product rule on H(eta(eps)) = -eta.A'(eta) + A(eta) + const", ("vae3",),
         domain=FUNCTION_DOMAIN,
         statement="dH/deps = -eta'.A'(eta) - eta.(A'(eta))' + dA/deps"),
    Step("56-58", sp.Derivative(integrand_51, eps), dot(de, [Tn[0] - dA(*ee)[0], Tn[1] - dA(*ee)[1]]),
         "Eqs. 56-58: the derivative of the Eq. 51 integrand along any path eta(eps) is eta'.(T - A'(eta)): "
         "the entropy's derivative cancels the other terms", ("vae3",), domain=FUNCTION_DOMAIN,
         statement="d/deps [eta.T - eta.A'(eta) - H(eta)] = eta'.(T - A'(eta))"),
    Step("58", sp.Derivative(A(*ee), eps), dot(de, dA(*ee)),
         "chain rule: dA/deps = eta'.A'(eta)", ("vae3",), domain=FUNCTION_DOMAIN),
    Step("60", *table(eta1, W, lambda dp, d, i: delta(d, dp) * phi[i] / sig2[d]),
         "table after Eq. 60: d eta1_d'/dW_di = delta_dd' phi_i / sigma_d^2 (D = 2, two hidden units)",
         ("last-linear", "separate-params"), statement="d eta1_d'/dW_di = delta_dd' phi_i / sigma_d^2"),
    Step("60", *table(eta1, M, lambda dp, d, j: -delta(d, dp) * mus[d] * psi[j] / sig2[d] ** 2),
         "table after Eq. 60: d eta1_d'/dM_dj = -delta_dd' mu_d phi^sigma_j / sigma_d^4",
         ("last-linear", "separate-params"), statement="d eta1_d'/dM_dj = -delta_dd' mu_d phi^sigma_j / sigma_d^4"),
    Step("60", *table(eta2, W, lambda dp, d, i: 0),
         "table after Eq. 60: d eta2_d'/dW_di = 0 (sigma^2 does not depend on W; printed wrong, see errata)",
         ("separate-params",), statement="d eta2_d'/dW_di = 0"),
    Step("60", *table(eta2, M, lambda dp, d, j: delta(d, dp) * psi[j] / (2 * sig2[d] ** 2)),
         "table after Eq. 60: d eta2_d'/dM_dj = 1/2 delta_dd' phi^sigma_j / sigma_d^4",
         ("last-linear", "separate-params"), statement="d eta2_d'/dM_dj = delta_dd' phi^sigma_j / (2 sigma_d^4)"),
    Step("62-64", directional(eta1, W), sp.Matrix(eta1),
         "R~ = W^(L)*: sum_{d,i} (d eta1_d'/dW_di) W_di = eta1_d'", ("last-linear", "separate-params"),
         statement="sum_{d,i} (d eta1_d'/dW_di) W_di = eta1_d'"),
    Step("65", directional(eta2, W), sp.zeros(ND, 1),
         "R~ = W^(L)*: sum_{d,i} (d eta2_d'/dW_di) W_di = 0", ("separate-params",),
         statement="sum_{d,i} (d eta2_d'/dW_di) W_di = 0"),
    Step("67-69", directional(eta1, M), -sp.Matrix(eta1),
         "R~ = M^(L)*: sum_{d,j} (d eta1_d'/dM_dj) M_dj = -eta1_d'", ("last-linear", "separate-params"),
         statement="sum_{d,j} (d eta1_d'/dM_dj) M_dj = -eta1_d'"),
    Step("70-72", directional(eta2, M), -sp.Matrix(eta2),
         "R~ = M^(L)*: sum_{d,j} (d eta2_d'/dM_dj) M_dj = -eta2_d'", ("last-linear", "separate-params"),
         statement="sum_{d,j} (d eta2_d'/dM_dj) M_dj = -eta2_d'"),
    Step("62-72", sp.Matrix([sp.Subs(sp.Derivative(f, tt), tt, 1) for f in
                             (tt * mu / s2, mu / (tt * s2), -1 / (2 * tt * s2))]),
         sp.Matrix([mu / s2, -mu / s2, 1 / (2 * s2)]),
         "any network size: a linear last layer makes mu_d(tW) = t mu_d and sigma_d^2(tM) = t sigma_d^2, and "
         "sum W_di d/dW_di = d/dt at t = 1 (Euler), giving (eta1, 0) and (-eta1, -eta2)", ("last-linear",),
         statement="d/dt at t=1 of (t mu/sigma^2, mu/(t sigma^2), -1/(2 t sigma^2)) = (eta1, -eta1, -eta2)"),
    Step("66", integrand_60(directional(eta1, W)[0], directional(eta2, W)[0]), eta1[0] * (x - dA(eta1[0], eta2[0])[0]),
         "insert Eqs. 64-65 into Eq. 60: only the eta1 summand of Eq. 59 remains (integrand, d' = 1)",
         ("last-linear", "separate-params", "stationary", "linearity"),
         statement="Eq. 60 integrand along W^(L)* = eta1 (T1 - A'_1)"),
    Step("74", integrand_60(directional(eta1, M)[0], directional(eta2, M)[0]), -eq59_integrand,
         "insert Eqs. 69 and 72 into Eq. 60: the integrand is minus that of Eq. 59",
         ("last-linear", "separate-params", "stationary", "linearity"),
         statement="Eq. 60 integrand along M^(L)* = -eta.(T - A'(eta))"),
    Step("75", -(-sp.Symbol("I_1") - sp.Symbol("I_2")) - sp.Symbol("I_1"), sp.Symbol("I_2"),
         "with I_k the q- and n-averaged eta_k summands of Eq. 59: Eq. 74 says -I_1 - I_2 = 0 and Eq. 66 "
         "says I_1 = 0, hence I_2 = -(Eq. 74) - (Eq. 66) = 0 and Eq. 59 = I_1 + I_2 = 0", ("stationary",),
         statement="I_2 = -(-I_1 - I_2) - I_1"),
    Step("76", sum(g.entropy(v) for v in sp.symbols("sigma_1:4^2", positive=True)),
         log_det := sp.log((TWO_PI_E * sp.diag(*sp.symbols("sigma_1:4^2", positive=True))).det()) / 2,
         "with Eq. 59 = 0 only -E_q H[p(x|z)] remains of F2; for a diagonal covariance the entropies "
         "of the D coordinates add up (D = 3)", ("vae3", "linearity"),
         statement="sum_d H[N(mu_d, sigma_d^2)] = 1/2 log det(2 pi e Sigma)"),
    Step("39", wm * sp.sqrt(c) * (zz / sp.sqrt(c)) + ws * sp.sqrt(c) * (zz / sp.sqrt(c)), wm * zz + ws * zz,
         "prior part: the reparametrization of Prop. 2 must leave BOTH decoder DNNs' inputs unchanged, "
         "which needs both first layers linear in z", ("first-linear-both", "encoder-scaling"),
         statement="c^(1/2) w_mu (c^(-1/2) z) + c^(1/2) w_sigma (c^(-1/2) z) = w_mu z + w_sigma z"),
    Step("39", -H_EX * g.entropy(1) + sum(g.entropy(1) + L / 2 for L in Ls)
         - sum(sp.log(TWO_PI_E) / 2 + Ld / 2 for Ld in LDs),
         sum(Ls) / 2 - sum(LDs) / 2 - sp.Rational(H_EX, 2) * sp.log(TWO_PI_E),
         f"Eq. 39: avg H[q] - H[p(z)] - avg E_q H[p(x|z)] with L_h = avg log tau_h^2 and "
         f"Lsigma_d = avg E_q log sigma_d^2; the inner sum runs over d (H = D = {H_EX})",
         ("stationary", "linearity")),
)

CLAIM = Claim(
    name="prop3",
    title="Proposition 3 (VAE-3, Appendix B): at stationary points F = avg H[q] - H[p(z)] - avg E_q H[p(x|z)] (Eq. 39)",
    hypotheses=HYP,
    steps=STEPS,
)
