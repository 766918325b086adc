"""Which variance parametrizations satisfy the theorem's hypothesis (beyond the paper; DESIGN.md).

The argument needs the model family closed under sigma^2 -> c sigma^2. For a network output
sigma^2 = f(a), a = sum_j M_j h_j + b an affine last layer with free M and b, moving (M, b) along
(lambda M, lambda b + beta) changes sigma^2 at the rate f'(a) (lambda a + beta) (the chain below), so
the scaling direction is realised iff f(a) = f'(a) (lambda a + beta) for all a, i.e. f lies in
span{f', a f'}. The remarks check the members (exp, square, ReLU, linear, and the general solutions
C (alpha a + beta)^(1/alpha) and C exp(a/beta)), a free scalar variance behind any bijective link
(softplus), and give witnesses that softplus and sigmoid outputs are not closed: the determinant
det[f(a_i), a_i f'(a_i), f'(a_i)] at a = -1, 0, 1 is nonzero (interval arithmetic), so no
(lambda, beta) fits. (That the M^(L) direction alone makes Eq. 59 vanish is prop3's remark.)
"""

from __future__ import annotations

import sympy as sp
from sympy import IndexedBase

from proofs.chain import ByStrategy, Claim, Definition, Structural, chain

t = sp.Symbol("t", real=True)
y = sp.Symbol("y", real=True)
lam, beta = sp.symbols("lambda beta", real=True)
Jn = sp.Symbol("J", integer=True, positive=True)
j = sp.Symbol("j", integer=True, positive=True)
M = IndexedBase("M", real=True)
hid = IndexedBase("h", real=True)
b = sp.Symbol("b", real=True)
f = sp.Function("f", real=True)
sigma2 = sp.Symbol("sigma_head^2", positive=True)

AFFINE = sp.Sum(M[j] * hid[j], (j, 1, Jn)) + b
AFFINE_LAST = Structural(
    "affine-last", "the variance head is sigma^2 = f(a) with a = sum_j M_j h_j + b an affine last layer whose "
                   "weights M and bias b are free parameters", "53")

DEFINITIONS = (Definition(sigma2, f(AFFINE), "a variance head with an affine last layer", "53",
                          shaped_by=("affine-last",), markers=(M,)),)
PATH = f(sp.Sum((1 + t * lam) * M[j] * hid[j], (j, 1, Jn)) + (1 + t * lam) * b + t * beta)
START = sp.Subs(sp.Derivative(PATH, t), t, 0)
RATE = sp.Subs(sp.Derivative(f(y), y), y, AFFINE) * (lam * AFFINE + beta)
CONCLUSION = sp.Eq(START, RATE, evaluate=False)

a = sp.Symbol("a", real=True)
ap, an = sp.Symbol("a", positive=True), sp.Symbol("a", negative=True)
al, C, bp = sp.symbols("alpha C beta", positive=True)


def closure(name: str, fn, var: sp.Symbol, lam_: sp.Expr, beta_: sp.Expr, why: str) -> Claim:
    """f'(a) (lambda a + beta) = f(a) for one link: the scaling direction is realised."""
    start = sp.Subs(sp.Derivative(fn(y), y), y, var) * (lam_ * var + beta_)
    return Claim(name=f"criterion/{name}", title=f"{why}: f'(a) ({sp.sstr(lam_)} a + {sp.sstr(beta_)}) = f(a)",
                 steps=chain(start, (fn(var), ByStrategy(), "53")),
                 conclusion=sp.Eq(start, fn(var), evaluate=False), eq="53", role="remark")


softplus = lambda v: sp.log(1 + sp.exp(v))  # noqa: E731
sigmoid = lambda v: 1 / (1 + sp.exp(-v))   # noqa: E731


def witness(name: str, fn) -> Claim:
    """det[f(a_i), a_i f'(a_i), f'(a_i)] at a = -1, 0, 1 is nonzero: no (lambda, beta) fits."""
    df = sp.diff(fn(y), y)
    rows = [[e.subs(y, p) for e in (fn(y), y * df, df)] for p in (-1, 0, 1)]
    start = sp.Determinant(sp.ImmutableMatrix(rows))
    return Claim(name=f"criterion/{name}-not-closed",
                 title=f"{name} output: det[f(a_i), a_i f'(a_i), f'(a_i)] at a = -1, 0, 1 is nonzero, so "
                       f"f is not in span{{f', a f'}}: not closed under variance scaling",
                 steps=chain(start, (sp.ImmutableMatrix(rows).det(), ByStrategy(), "53")),
                 conclusion=sp.Ne(start, 0), eq="53", role="remark")


s = sp.Symbol("s", real=True)
c, v = sp.symbols("c v", positive=True)
G = sp.Function("G", real=True)
u = sp.Symbol("u", real=True)
PREIMAGE = sp.log(1 + sp.exp(sp.log(sp.exp(c * v) - 1), evaluate=False))   # softplus at the preimage
SOFTPLUS_PREIMAGE = Claim(
    name="criterion/free-scalar-softplus",
    title="a free scalar behind softplus is closed: c sigma^2 has the preimage log(e^(c sigma^2) - 1)",
    steps=chain(PREIMAGE, (c * v, ByStrategy(), "")),
    conclusion=sp.Eq(PREIMAGE, c * v, evaluate=False), role="remark")
SOFTPLUS_CHAIN = Claim(
    name="criterion/free-scalar-stationarity",
    title="dF/ds = softplus'(s) dF/dsigma^2 with softplus' = e^s/(1 + e^s) > 0: stationary in s iff in sigma^2",
    steps=chain(sp.Derivative(G(softplus(s)), s),
                (sp.exp(s) / (1 + sp.exp(s)) * sp.Subs(sp.Derivative(G(u), u), u, softplus(s)), ByStrategy(), "")),
    conclusion=sp.Eq(sp.Derivative(G(softplus(s)), s),
                     sp.exp(s) / (1 + sp.exp(s)) * sp.Subs(sp.Derivative(G(u), u), u, softplus(s)), evaluate=False),
    role="remark")

REMARKS = (
    closure("exp", sp.exp, a, 0, 1, "exp link"),
    closure("square", lambda z: z**2, a, sp.Rational(1, 2), 0, "square link"),
    closure("relu-positive", lambda z: sp.Max(0, z), ap, 1, 0, "ReLU link, a > 0"),
    closure("relu-negative", lambda z: sp.Max(0, z), an, 1, 0, "ReLU link, a < 0 (both sides 0)"),
    closure("linear", lambda z: z, a, 1, 0, "linear link"),
    closure("power", lambda z: C * (al * z + bp) ** (1 / al), ap, al, bp,
            "general solution C (alpha a + beta)^(1/alpha)"),
    closure("exp-family", lambda z: C * sp.exp(z / bp), a, 0, bp, "general solution C exp(a/beta)"),
    witness("softplus", softplus),
    witness("sigmoid", sigmoid),
    SOFTPLUS_PREIMAGE,
    SOFTPLUS_CHAIN,
)

CLAIM = Claim(
    name="criterion",
    title="Criterion (beyond the paper): moving an affine last layer along (lambda M, lambda b + beta) changes "
          "sigma^2 = f(a) at the rate f'(a)(lambda a + beta), so the head is closed under variance scaling iff "
          "f is in span{f', a f'} (exp, square, ReLU, linear: yes; softplus, sigmoid: no)",
    steps=chain(START, (RATE, ByStrategy(), "53")),
    conclusion=CONCLUSION,
    eq="53",
    definitions=DEFINITIONS,
    hypotheses=(AFFINE_LAST,),
    lemmas=REMARKS,
)

__all__ = ["CLAIM", "witness"]
