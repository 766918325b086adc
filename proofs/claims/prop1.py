"""Proposition 1 (VAE-2, Eqs. 12-24): at stationary points F is the sum of three entropies (Eq. 20).

The chain starts from F = F1 + F2 + F3 with the VAE-2 definitions (prior N(0, A), decoder
N(mu~(z~), sigma^2 I), encoder N(nu~, T~)), rewrites F2 and F1 as in Eqs. 21 and 23, and then
substitutes the two stationarity conditions of Eq. 19, which the engine derives from the chain's
expression: dF/dsigma^2 = 0 determines sum_n E_q||x - mu~||^2 = N D sigma^2 (Eq. 22) and
dF/dalpha_k^2 = 0 determines sum_n E_q[z_k^2] = N alpha_k^2 (Eq. 24). Nothing else about the
stationary point is used, and the unit-norm constraint of Eq. 18 is not used at all.
"""

from __future__ import annotations

import sympy as sp
from sympy import IndexedBase

from proofs.chain import ByDefinition, ByHypothesis, ByLemma, ByStrategy, Claim, Definition, Stationarity, chain
from proofs.text import abbreviate
from proofs.claims.model import (D, ENC_TILDE, F, F1, F2, F3, TWO_PI_E, H, N, decoder_term, entropy,
                                 first_layer, g, h, k, log_det_diagonal, log_normal, n, s2, squared_error)

alpha2 = IndexedBase("alpha^2", positive=True)
W_tilde = IndexedBase("W~", real=True)
ENC2 = ENC_TILDE


def mean(dd: sp.Expr) -> sp.Expr:
    """VAE-2's decoder mean mu~_d(z~) (Eq. 16)."""
    return g(dd, first_layer(W_tilde, ENC2))


DEFINITIONS = (
    Definition(F, F1 + F2 + F3, "the ELBO as prior, decoder and entropy terms (proof of Prop. 1)", "8"),
    Definition(F1, ENC2.prior_term(lambda hh: alpha2[hh]),
               "F1 = (1/N) sum_n E_q log N(z~; 0, A), A = diag(alpha_h^2)", "12, 15"),
    Definition(F2, decoder_term(mean, lambda dd: s2),
               "F2 = (1/N) sum_n E_q log N(x^(n); mu~(z~), sigma^2 I)", "13, 16"),
    Definition(F3, ENC2.entropy_term(),
               "F3 = -(1/N) sum_n E_q log q^(n)(z~), q^(n) = N(nu~_n, T~_n)", "14"),
)

SQUARED_ERROR = squared_error(mean)          # sum_n E_q ||x^(n) - mu~(z~)||^2


def second_moment(hh: sp.Expr) -> sp.Expr:
    """sum_n E_q[z~_h^2]."""
    return ENC2.second_moment(hh)


STATIONARY_SIGMA2 = Stationarity(
    "stationary-sigma2", "dF/dsigma^2 = 0 at the point considered (Eq. 19)", "19, 21-22",
    wrt=s2, solve_for=SQUARED_ERROR)
STATIONARY_ALPHA2 = Stationarity(
    "stationary-alpha2", "dF/dalpha_k^2 = 0 for every latent k at the point considered (Eq. 19)", "19, 23-24",
    wrt=alpha2[k], solve_for=second_moment(k), index=k)

F1_EXPR, F2_EXPR, F3_EXPR = (dfn.body for dfn in DEFINITIONS[1:])
abbreviate(first_layer(W_tilde, ENC2), sp.Symbol("u~(z~_n)"))   # display name of the first layer

STEP_23_FIRST = sp.Sum(-second_moment(h) / (2 * N * alpha2[h]) - sp.log(2 * sp.pi * alpha2[h]) / 2, (h, 1, H))
STEP_21_FIRST = -SQUARED_ERROR / (2 * N * s2) - D * sp.log(2 * sp.pi * s2) / 2
STEP_23 = sp.Sum((1 - second_moment(h) / (N * alpha2[h])) / 2 - entropy(alpha2[h]), (h, 1, H))
STEP_21 = D / 2 * (1 - SQUARED_ERROR / (N * D * s2)) - D * entropy(s2)
PRIOR_ENTROPY = sp.Sum(-entropy(alpha2[h]), (h, 1, H))
ENCODER_ENTROPY = sp.Sum(sp.Sum(entropy(ENC2.tau2[n, h]), (h, 1, H)), (n, 1, N)) / N

CONCLUSION = sp.Eq(F, -log_det_diagonal(lambda hh: alpha2[hh], h, H, TWO_PI_E) / 2 - D / 2 * sp.log(TWO_PI_E * s2)
                   + sp.Sum(log_det_diagonal(lambda hh: ENC2.tau2[n, hh], h, H, TWO_PI_E) / 2, (n, 1, N)) / N,
                   evaluate=False)

PRIOR_TERM = Claim(
    name="prop1/prior-term",
    title="F1 = 1/2 sum_h (1 - m_h/alpha_h^2) - 1/2 sum_h log(2 pi e alpha_h^2) with m_h = (1/N) sum_n E_q[z_h^2] "
          "(Eq. 23), at every parameter value",
    steps=chain(F1_EXPR, (STEP_23_FIRST, ByStrategy(), "23"), (STEP_23, ByStrategy(), "23")),
    conclusion=sp.Eq(F1_EXPR, STEP_23, evaluate=False), eq="23", role="lemma")

ENTROPY_TERM = Claim(
    name="prop1/entropy-term",
    title="F3 = (1/N) sum_n H[q^(n)] = (1/N) sum_n sum_h 1/2 log(2 pi e tau_h^2(x^(n))), at every parameter value",
    steps=chain(F3_EXPR, (ENCODER_ENTROPY, ByStrategy(), "20")),
    conclusion=sp.Eq(F3_EXPR, ENCODER_ENTROPY, evaluate=False), eq="20", role="lemma")

STEPS = chain(
    F,
    (F1 + F2 + F3, ByDefinition((F,)), "8"),
    (F1_EXPR + F2_EXPR + F3_EXPR, ByDefinition((F1, F2, F3)), "12-16"),
    (STEP_23 + F2_EXPR + F3_EXPR, ByLemma(PRIOR_TERM), "23"),
    (STEP_23 + STEP_21_FIRST + F3_EXPR, ByStrategy(), "21"),
    (STEP_23 + STEP_21 + F3_EXPR, ByStrategy(), "21"),
    (STEP_23 - D * entropy(s2) + F3_EXPR, ByHypothesis("stationary-sigma2"), "22"),
    (PRIOR_ENTROPY - D * entropy(s2) + F3_EXPR, ByHypothesis("stationary-alpha2"), "24"),
    (PRIOR_ENTROPY - D * entropy(s2) + ENCODER_ENTROPY, ByLemma(ENTROPY_TERM), "20"),
    (CONCLUSION.rhs, ByStrategy(), "20, 24"),
)

x_, m_ = sp.symbols("x m", real=True)
v_ = sp.Symbol("v", positive=True)
ENTROPY_START = -sp.Integral(sp.exp(log_normal(x_, m_, v_)) * log_normal(x_, m_, v_), (x_, -sp.oo, sp.oo))

ENTROPY = Claim(
    name="prop1/gaussian-entropy",
    title="H[N(m, v)] = -int N(x; m, v) log N(x; m, v) dx = 1/2 log(2 pi e v): the entropies of Eqs. 20, 22, 24",
    steps=chain(ENTROPY_START, (entropy(v_), ByStrategy(), "20, 22, 24")),
    conclusion=sp.Eq(ENTROPY_START, entropy(v_), evaluate=False), eq="20", role="remark")

CLAIM = Claim(
    name="prop1",
    title="Proposition 1 (VAE-2): at every stationary point the ELBO is the sum of three entropies (Eq. 20)",
    steps=STEPS,
    conclusion=CONCLUSION,
    eq="20",
    definitions=DEFINITIONS,
    hypotheses=(STATIONARY_SIGMA2, STATIONARY_ALPHA2),
    lemmas=(PRIOR_TERM, ENTROPY_TERM, ENTROPY),
)
