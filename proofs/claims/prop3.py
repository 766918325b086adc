"""Proposition 3 (VAE-3, Appendix B, Eqs. 46-76): at stationary points F is the entropy sum of Eq. 39.

The chain starts from F = F1 + F2 + F3 with VAE-3's definitions (vae3.py), writes F2 in natural
parameters (Eq. 47) and with the entropy (Eqs. 50-51), and splits off Eq. 59 = (I1 + I2)/N. The
two stationarity conditions of Eq. 54 are derived by the engine from the chain's expression, along
the directions R~ = W^(L) and R~ = M^(L) (Eq. 55, with the path W -> e^t W and M -> e^t M, whose
derivative at 0 is that along W + eps W). The lemmas ``prop3/dF-W`` (Eqs. 55-66) and ``prop3/dF-M``
(Eqs. 67-74) show that these derivatives are I1/N and -(I1 + I2)/N, using ``prop3/derivative-59``
(Eqs. 56-58, 60) and the table after Eq. 60 with Eqs. 61-72 (``prop3/eta-*``). So I1 = 0 (Eq. 66),
then I2 = 0 (Eq. 75), and F2 = -(1/N) sum_n E_q H[p(x|z)] (Eq. 76). The prior part F1 + F3 is done
as in Props. 1 and 2 (their lemmas Eq. 23, the entropy of q, and Eq. 28's cancellation), with the
stationarity along the orbit of latent k, which needs BOTH decoder networks to take z through a
linear first layer. The remark ``prop3/m-direction-alone`` shows that the M^(L) direction alone
already makes Eq. 59 vanish (DESIGN.md).
"""

from __future__ import annotations

import sympy as sp

from proofs import gaussian as gauss
from proofs.chain import (ByDefinition, ByHypothesis, ByLemma, ByStrategy, Claim, Definition, Path,
                          Stationarity, Structural, chain, instance, unfold)
from proofs.claims import prop1, prop2
from proofs.claims.model import (D, ENC, ENC_TILDE, F, F1, F2, F3, TWO_PI_E, H, N, average, d, dp, entropy,
                                 h, k, log_det_diagonal, log_normal, n, x)
from proofs.operators import Expect
from proofs.claims.vae3 import (G59, I1, I2, NEG_ENTROPY, U_MU, U_SIG, I, J, M, W, W0mu, W0sig, ell, eps, eta,
                                mean, phi, psi, summand_47, var)

_a, _b = sp.symbols("a b", integer=True, positive=True)
i2 = sp.Symbol("i'", integer=True, positive=True)
j2 = sp.Symbol("j'", integer=True, positive=True)

LAST_LAYER_LINEAR = Structural(
    "last-layer-linear", "the last layers of both decoder networks are linear: mu_d = sum_i W_di phi_i(z), "
    "sigma_d^2 = sum_j M_dj phi^sigma_j(z) (Eqs. 52-53)", "52-53")
SEPARATE_PARAMETERS = Structural(
    "separate-parameters", "DNN_mu and DNN_sigma have separate parameters, and each has a hidden layer, so "
    "W^(L) and M^(L) are free and not first layers (Eqs. 37-38, 54)", "37-38, 54")
FIRST_LAYERS_LINEAR = Structural(
    "first-layers-linear", "both decoder networks take z through a linear first layer (needed for F1 and F3, "
    "which the paper does 'as for Props. 1 and 2'; the paper does not say it for DNN_sigma)", "39")
ENCODER_SCALING = prop2.ENCODER_SCALING

DEFINITIONS = (
    Definition(F, F1 + F2 + F3, "the ELBO as prior, decoder and entropy terms", "46"),
    Definition(F1, ENC.prior_term(lambda hh: 1), "F1 = (1/N) sum_n E_q log N(z; 0, I)", "34"),
    Definition(F2, average(sp.Sum(log_normal(x[n, d], mean(d), var(d)), (d, 1, D))),
               "F2 = (1/N) sum_n E_q sum_d log N(x_d^(n); mu_d(z), sigma_d^2(z))", "35-38, 47",
               shaped_by=("last-layer-linear", "separate-parameters"), markers=(W, M)),
    Definition(F3, ENC.entropy_term(), "F3 = -(1/N) sum_n E_q log q^(n)(z) (the encoder of VAE-1)", "4-5"),
)
F2_DEF = DEFINITIONS[2].body
F2_47 = average(sp.Sum(summand_47(d), (d, 1, D)))
F2_51 = average(sp.Sum(ell(*eta(d), x[n, d]), (d, 1, D)))


# --- Eq. 50: the entropy in natural parameters (a remark on what Eq. 51's H is) -------------------

xv, mv = sp.symbols("x m", real=True)
vv = sp.Symbol("v", positive=True)
_eta = gauss.natural_parameters(mv, vv)
_grad = gauss.log_partition_gradient(*_eta)
_p = sp.exp(log_normal(xv, mv, vv))
ENTROPY_START = -sp.Integral(_p * (_eta[0] * xv + _eta[1] * xv**2 - gauss.log_partition(*_eta) - sp.log(2 * sp.pi) / 2),
                             (xv, -sp.oo, sp.oo))
ENTROPY_NATURAL = Claim(
    name="prop3/entropy-natural",
    title="H[N(m, v)] = -int p(x) (eta.T(x) - A(eta) - 1/2 log 2 pi) dx = -eta.A'(eta) + A(eta) + 1/2 log(2 pi) "
          "= 1/2 log(2 pi e v), using E[T(x)] = A'(eta) (Eq. 50)",
    steps=chain(
        ENTROPY_START,
        (-(_eta[0] * sp.Integral(_p * xv, (xv, -sp.oo, sp.oo)) + _eta[1] * sp.Integral(_p * xv**2, (xv, -sp.oo, sp.oo)))
         + gauss.log_partition(*_eta) + sp.log(2 * sp.pi) / 2, ByStrategy(), "50"),
        (-(_eta[0] * _grad[0] + _eta[1] * _grad[1]) + gauss.log_partition(*_eta) + sp.log(2 * sp.pi) / 2,
         ByStrategy(), "50"),
        (entropy(vv), ByStrategy(), "50"),
    ),
    conclusion=sp.Eq(ENTROPY_START, entropy(vv), evaluate=False), eq="50", role="remark")

F2_NATURAL = Claim(
    name="prop3/F2-natural",
    title="F2 in natural parameters (Eq. 47) and with the entropy of p(x_d|z) (Eqs. 50-51), at every parameter value",
    steps=chain(F2_DEF, (F2_47, ByStrategy(), "47-49"), (F2_51, ByStrategy(), "50-51")),
    conclusion=sp.Eq(F2_DEF, F2_51, evaluate=False), eq="51", role="lemma",
    definitions=DEFINITIONS[2:3], hypotheses=(LAST_LAYER_LINEAR, SEPARATE_PARAMETERS))


# --- Eqs. 56-58, 60: the derivative of Eq. 51's integrand along any path eta(eps) ------------------

E1, E2 = sp.Function("eta1", real=True), sp.Function("eta2", real=True)
_ee = (E1(eps), E2(eps))
_de = (sp.Derivative(E1(eps), eps), sp.Derivative(E2(eps), eps))
_A = gauss.log_partition(*_ee)
_Ap = gauss.log_partition_gradient(*_ee)
_dAp = tuple(sp.Derivative(v, eps) for v in _Ap)
_dot_de_T = _de[0] * xv + _de[1] * xv**2
_dot_de_Ap = _de[0] * _Ap[0] + _de[1] * _Ap[1]
_dot_e_dAp = _ee[0] * _dAp[0] + _ee[1] * _dAp[1]
_c0, _c1 = sp.Dummy("c0"), sp.Dummy("c1")
NEGATIVE_ETA2 = {E2: lambda args: (-(_c0 + _c1 * args[0] ** 2), {_c0: (0.3, 1.5), _c1: (0.2, 1.0)})}
ENTROPY_OF_ETA = entropy(-1 / (2 * _ee[1]))
ENTROPY_DERIVATIVE = Claim(
    name="prop3/entropy-derivative",
    title="d/deps H(eta(eps)) = -eta'.A'(eta) - eta.(A'(eta))' + dA(eta)/deps along any path (Eq. 57)",
    steps=chain(sp.Derivative(ENTROPY_OF_ETA, eps),
                (-_dot_de_Ap - _dot_e_dAp + sp.Derivative(_A, eps), ByStrategy(), "57", NEGATIVE_ETA2)),
    conclusion=sp.Eq(sp.Derivative(ENTROPY_OF_ETA, eps), -_dot_de_Ap - _dot_e_dAp + sp.Derivative(_A, eps),
                     evaluate=False), eq="57", role="lemma")

DERIVATIVE_START = sp.Derivative(ell(*_ee, xv), eps)
DERIVATIVE_59 = _de[0] * (xv - _Ap[0]) + _de[1] * (xv**2 - _Ap[1])
DERIVATIVE_LEMMA = Claim(
    name="prop3/derivative-59",
    title="along any path eta(eps), d/deps [eta.T - eta.A'(eta) - H(eta)] = eta'.(T - A'(eta)): the entropy's "
          "derivative cancels the other terms (Eqs. 56-58, 60)",
    steps=chain(
        DERIVATIVE_START,
        (_dot_de_T - _dot_de_Ap - _dot_e_dAp - sp.Derivative(ENTROPY_OF_ETA, eps), ByStrategy(), "56",
         NEGATIVE_ETA2),
        (_dot_de_T - sp.Derivative(_A, eps), ByLemma(ENTROPY_DERIVATIVE), "57-58"),
        (_dot_de_T - _dot_de_Ap, ByStrategy(), "58", NEGATIVE_ETA2),
        (DERIVATIVE_59, ByStrategy(), "58, 60", NEGATIVE_ETA2),
    ),
    conclusion=sp.Eq(DERIVATIVE_START, DERIVATIVE_59, evaluate=False), eq="58", role="lemma",
    lemmas=(ENTROPY_DERIVATIVE,))


# --- Eqs. 61-72: the directional derivatives of eta along R~ = W^(L) and R~ = M^(L) -------------

def directional(which: int, dd: sp.Expr, scale_w: sp.Expr = 1, scale_m: sp.Expr = 1) -> sp.Expr:
    """(d eta_which,d / dR) R~ at R*, as d/deps at eps = 0 of eta along R* + eps R~ (Eq. 61)."""
    return sp.Subs(sp.Derivative(eta(dd, scale_w, scale_m)[which], eps), eps, 0)


def _table_sum(entry: sp.Expr, weights, unit: sp.Symbol, size: sp.Expr) -> sp.Expr:
    """sum_{d, unit} entry(d, unit) * weights[d, unit]: the directional derivative with R~ = R* (Eq. 62)."""
    return sp.Sum(entry * weights[d, unit], (d, 1, D), (unit, 1, size))


_eta1, _eta2 = eta(dp)
_delta = sp.KroneckerDelta(d, dp)
_phi_i2 = phi(i2, U_MU)
_psi_j2 = psi(j2, U_SIG)
_mu_i2 = sp.Sum(W[dp, i2] * _phi_i2, (i2, 1, I))
_sig_j2 = sp.Sum(M[dp, j2] * _psi_j2, (j2, 1, J))
_LEMMA_HYPOTHESES = (LAST_LAYER_LINEAR, SEPARATE_PARAMETERS)


def _lemma(name: str, title: str, start: sp.Expr, links: tuple, eq: str) -> Claim:
    steps = chain(start, *links)
    return Claim(name=name, title=title, steps=steps, conclusion=sp.Eq(start, steps[-1].after, evaluate=False),
                 eq=eq, role="lemma", definitions=DEFINITIONS[2:3], hypotheses=_LEMMA_HYPOTHESES)


ETA_W1 = _lemma(
    "prop3/eta1-along-W", "along R~ = W^(L)*: (d eta1_d'/dR) R~ = eta1_d' (Eqs. 62-64, table after Eq. 60)",
    directional(0, dp, 1 + eps),
    ((_table_sum(sp.Derivative(_eta1, W[d, i2]), W, i2, I), ByStrategy(), "62"),
     (_table_sum(_delta * _phi_i2 / var(d), W, i2, I), ByStrategy(), "60, 63"),
     (_mu_i2 / var(dp), ByStrategy(), "63"),
     (_eta1, ByStrategy(), "64")), "64")
ETA_W2 = _lemma(
    "prop3/eta2-along-W", "along R~ = W^(L)*: (d eta2_d'/dR) R~ = 0, since sigma^2 does not depend on W (Eq. 65)",
    directional(1, dp, 1 + eps),
    ((_table_sum(sp.Derivative(_eta2, W[d, i2]), W, i2, I), ByStrategy(), "65"),
     (sp.S.Zero, ByStrategy(), "60, 65")), "65")
ETA_M1 = _lemma(
    "prop3/eta1-along-M", "along R~ = M^(L)*: (d eta1_d'/dR) R~ = -eta1_d' (Eqs. 67-69, table after Eq. 60)",
    directional(0, dp, 1, 1 + eps),
    ((_table_sum(sp.Derivative(_eta1, M[d, j2]), M, j2, J), ByStrategy(), "67"),
     (_table_sum(-_delta * mean(d) * _psi_j2 / var(d) ** 2, M, j2, J), ByStrategy(), "60, 68"),
     (-mean(dp) * _sig_j2 / var(dp) ** 2, ByStrategy(), "68"),
     (-_eta1, ByStrategy(), "69")), "69")
ETA_M2 = _lemma(
    "prop3/eta2-along-M", "along R~ = M^(L)*: (d eta2_d'/dR) R~ = -eta2_d' (Eqs. 70-72, table after Eq. 60)",
    directional(1, dp, 1, 1 + eps),
    ((_table_sum(sp.Derivative(_eta2, M[d, j2]), M, j2, J), ByStrategy(), "70"),
     (_table_sum(_delta * _psi_j2 / (2 * var(d) ** 2), M, j2, J), ByStrategy(), "60, 71"),
     (_sig_j2 / (2 * var(dp) ** 2), ByStrategy(), "71"),
     (-_eta2, ByStrategy(), "72")), "72")


# --- Eqs. 55-66 and 67-74: the derivative of F2 along R~ = W^(L) and R~ = M^(L) ------------------

def _f2_51(scale_w: sp.Expr, scale_m: sp.Expr) -> sp.Expr:
    return average(sp.Sum(ell(*eta(d, scale_w, scale_m), x[n, d]), (d, 1, D)))


def _path_instance(scale_w: sp.Expr, scale_m: sp.Expr):
    e1, e2 = eta(d, scale_w, scale_m)
    return instance((E1, sp.Lambda(eps, e1)), (E2, sp.Lambda(eps, e2)), (xv, x[n, d]))


def _along(scale_w: sp.Expr, scale_m: sp.Expr) -> tuple[sp.Expr, ...]:
    """(Eq. 55, Eq. 56, Eqs. 57-58 and 60 at the path, Eq. 58 at eps = 0) along the direction."""
    e1, e2 = eta(d, scale_w, scale_m)
    grad = gauss.log_partition_gradient(*eta(d))
    start = sp.Subs(sp.Derivative(_f2_51(scale_w, scale_m), eps), eps, 0)
    inside = average(sp.Sum(sp.Subs(sp.Derivative(ell(e1, e2, x[n, d]), eps), eps, 0), (d, 1, D)))
    at_path = average(sp.Sum(sp.Subs(_path_instance(scale_w, scale_m).apply(DERIVATIVE_59), eps, 0), (d, 1, D)))
    at_zero = average(sp.Sum(directional(0, d, scale_w, scale_m) * (x[n, d] - grad[0])
                             + directional(1, d, scale_w, scale_m) * (x[n, d] ** 2 - grad[1]), (d, 1, D)))
    return start, inside, at_path, at_zero


def _uses(lemma: Claim) -> ByLemma:
    return ByLemma(lemma, instance((dp, d)))


_W_START, _W_INSIDE, _W_PATH, _W_ZERO = _along(1 + eps, 1)
_W_AFTER_64 = _W_ZERO.xreplace({directional(0, d, 1 + eps): eta(d)[0]})
DF_W = Claim(
    name="prop3/dF-W", title="d/deps F2(R* + eps W^(L)*) at eps = 0 equals (1/N) sum_n,d E_q eta1 (T1 - A'_1): "
                             "the eta1 summand of Eq. 59 (Eqs. 55-66)",
    steps=chain(
        _W_START,
        (_W_INSIDE, ByStrategy(), "56"),
        (_W_PATH, ByLemma(DERIVATIVE_LEMMA, _path_instance(1 + eps, 1)), "57-58, 60"),
        (_W_ZERO, ByStrategy(), "58, 61"),
        (_W_AFTER_64, _uses(ETA_W1), "62-64"),
        (I1 / N, _uses(ETA_W2), "65-66"),
    ),
    conclusion=sp.Eq(_W_START, I1 / N, evaluate=False), eq="66", role="lemma",
    definitions=DEFINITIONS[2:3], hypotheses=_LEMMA_HYPOTHESES)

_M_START, _M_INSIDE, _M_PATH, _M_ZERO = _along(1, 1 + eps)
_M_AFTER_69 = _M_ZERO.xreplace({directional(0, d, 1, 1 + eps): -eta(d)[0]})
_M_AFTER_72 = _M_AFTER_69.xreplace({directional(1, d, 1, 1 + eps): -eta(d)[1]})
DF_M = Claim(
    name="prop3/dF-M", title="d/deps F2(R* + eps M^(L)*) at eps = 0 equals -(1/N) sum_n,d E_q eta.(T - A'): "
                             "minus both summands of Eq. 59 (Eqs. 67-74)",
    steps=chain(
        _M_START,
        (_M_INSIDE, ByStrategy(), "56"),
        (_M_PATH, ByLemma(DERIVATIVE_LEMMA, _path_instance(1, 1 + eps)), "57-58, 60"),
        (_M_ZERO, ByStrategy(), "58, 61"),
        (_M_AFTER_69, _uses(ETA_M1), "67-69"),
        (_M_AFTER_72, _uses(ETA_M2), "70-72"),
        ((-I1 - I2) / N, ByStrategy(), "74"),
    ),
    conclusion=sp.Eq(_M_START, (-I1 - I2) / N, evaluate=False), eq="74", role="lemma",
    definitions=DEFINITIONS[2:3], hypotheses=_LEMMA_HYPOTHESES)

DF_M_59 = Claim(
    name="prop3/dF-M-is-minus-59", title="d/deps F2(R* + eps M^(L)*) at eps = 0 is minus Eq. 59",
    steps=chain(_M_START, ((-I1 - I2) / N, ByLemma(DF_M), "74"), (-G59 / N, ByStrategy(), "59")),
    conclusion=sp.Eq(_M_START, -G59 / N, evaluate=False), eq="59", role="lemma",
    definitions=DEFINITIONS[2:3], hypotheses=_LEMMA_HYPOTHESES)


# --- the stationarity conditions (Eqs. 54-55) and the orbit of the prior part ---------------------

STATIONARY_W = Stationarity(
    "stationary-W", "dF/dW^(L) = 0 (Eq. 54), hence dF/deps = 0 along R~ = W^(L)* (Eq. 55)", "54-55",
    path=Path(((W, 1),), "linear", eps), at=3, solve_for=I1, via=DF_W,
    requires=("last-layer-linear", "separate-parameters"))
STATIONARY_M = Stationarity(
    "stationary-M", "dF/dM^(L) = 0 (Eq. 54), hence dF/deps = 0 along R~ = M^(L)* (Eq. 55)", "54-55",
    path=Path(((M, 1),), "linear", eps), at=3, solve_for=I2, via=DF_M, given=("stationary-W",),
    requires=("last-layer-linear", "separate-parameters"))
STATIONARY_ORBIT = Stationarity(
    "stationary-orbit", "for every latent k, F is stationary along the orbit W0mu[:, k], W0sig[:, k] -> "
    "e^(t/2) (...), nu_k -> e^(-t/2) nu_k, tau_k^2 -> e^(-t) tau_k^2 at t = 0 (a path inside VAE-3 when both "
    "first layers are linear and the encoder can scale, as in Prop. 2)", "19, 27",
    path=Path(((W0mu, sp.Lambda((_a, _b), sp.KroneckerDelta(_b, k) / 2)),
               (W0sig, sp.Lambda((_a, _b), sp.KroneckerDelta(_b, k) / 2)),
               (ENC.nu, sp.Lambda((_a, _b), -sp.KroneckerDelta(_b, k) / 2)),
               (ENC.tau2, sp.Lambda((_a, _b), -sp.KroneckerDelta(_b, k))))),
    solve_for=ENC.second_moment(k), index=k, requires=("first-layers-linear", "encoder-scaling"))


# --- the claim ---------------------------------------------------------------------------------------

AT_VAE3 = instance((prop1.alpha2, sp.Lambda(_a, 1)),
                   (ENC_TILDE.nu, sp.Lambda((_a, _b), ENC.nu[_a, _b])),
                   (ENC_TILDE.tau2, sp.Lambda((_a, _b), ENC.tau2[_a, _b])))
ENCODER = instance((ENC_TILDE.nu, sp.Lambda((_a, _b), ENC.nu[_a, _b])),
                   (ENC_TILDE.tau2, sp.Lambda((_a, _b), ENC.tau2[_a, _b])))
F1_EXPR, F3_EXPR = DEFINITIONS[1].body, DEFINITIONS[3].body
PRIOR_23 = AT_VAE3.apply(prop1.STEP_23)
PRIOR_24 = sp.Sum(-entropy(1), (h, 1, H))
ENTROPY_Q = ENCODER.apply(prop1.ENCODER_ENTROPY)
DECODER_76 = -NEG_ENTROPY / N
PRIOR_AND_ENTROPY = -H * sp.log(TWO_PI_E) / 2 + sp.Sum(
    log_det_diagonal(lambda hh: ENC.tau2[n, hh], h, H, TWO_PI_E) / 2, (n, 1, N)) / N
CONCLUSION = sp.Eq(F, prop2.CANCELLED - sp.Sum(sp.Sum(Expect(sp.log(var(d))), (d, 1, D)), (n, 1, N)) / (2 * N)
                   - D * sp.log(TWO_PI_E) / 2, evaluate=False)

STEPS = chain(
    F,
    (F1 + F2 + F3, ByDefinition((F,)), "46"),
    (F1 + F2_DEF + F3, ByDefinition((F2,)), "35-38"),
    (F1 + F2_51 + F3, ByLemma(F2_NATURAL), "47-51"),
    (F1 + (I1 + I2) / N + DECODER_76 + F3, ByStrategy(), "59-60"),
    (F1 + I2 / N + DECODER_76 + F3, ByHypothesis("stationary-W"), "66"),
    (F1 + DECODER_76 + F3, ByHypothesis("stationary-M"), "75-76"),
    (F1_EXPR + DECODER_76 + F3_EXPR, ByDefinition((F1, F3)), "34, 4-5"),
    (PRIOR_23 + DECODER_76 + F3_EXPR, ByLemma(prop1.PRIOR_TERM, AT_VAE3), "23"),
    (PRIOR_24 + DECODER_76 + F3_EXPR, ByHypothesis("stationary-orbit"), "24"),
    (PRIOR_24 + DECODER_76 + ENTROPY_Q, ByLemma(prop1.ENTROPY_TERM, ENCODER), "20"),
    (PRIOR_AND_ENTROPY + DECODER_76, ByStrategy(), "39"),
    (prop2.CANCELLED + DECODER_76, ByLemma(prop2.CANCELLATION), "28"),
    (CONCLUSION.rhs, ByStrategy(), "39"),
)

STATIONARY_M_ALONE = Stationarity(
    "stationary-M", "dF/dM^(L) = 0 (Eq. 54), hence dF/deps = 0 along R~ = M^(L)* (Eq. 55)", "54-55",
    path=Path(((M, 1),), "linear", eps), solve_for=G59, via=DF_M_59,
    of=unfold(F1 + F2_51 + F3, DEFINITIONS),
    requires=("last-layer-linear", "separate-parameters"))
M_ALONE = Claim(
    name="prop3/m-direction-alone",
    title="Stationarity along R~ = M^(L) alone already makes Eq. 59 vanish, so F2 = -(1/N) sum_n E_q H[p(x|z)] "
          "(Eq. 76) without the W^(L) direction",
    steps=chain(
        F2,
        (F2_DEF, ByDefinition((F2,)), "35-38"),
        (F2_51, ByLemma(F2_NATURAL), "47-51"),
        (G59 / N + DECODER_76, ByStrategy(), "59"),
        (DECODER_76, ByHypothesis("stationary-M"), "76"),
    ),
    conclusion=sp.Eq(F2, DECODER_76, evaluate=False), eq="76", role="remark", definitions=DEFINITIONS,
    hypotheses=(LAST_LAYER_LINEAR, SEPARATE_PARAMETERS, STATIONARY_M_ALONE))

CLAIM = Claim(
    name="prop3",
    title="Proposition 3 (VAE-3, Appendix B): at every stationary point the ELBO is the entropy sum of Eq. 39",
    steps=STEPS,
    conclusion=CONCLUSION,
    eq="39",
    definitions=DEFINITIONS,
    hypotheses=(LAST_LAYER_LINEAR, SEPARATE_PARAMETERS, FIRST_LAYERS_LINEAR, ENCODER_SCALING,
                STATIONARY_W, STATIONARY_M, STATIONARY_ORBIT),
    lemmas=(ENTROPY_NATURAL, F2_NATURAL, DERIVATIVE_LEMMA, ETA_W1, ETA_W2, ETA_M1, ETA_M2, DF_W, DF_M, DF_M_59,
            M_ALONE),
)
