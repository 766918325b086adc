"""Which parametrizations satisfy the theorem's hypothesis (beyond the paper; DESIGN.md).

The argument needs the model family closed under the variance scalings sigma^2 -> c sigma^2.
For sigma^2 = f(a) with a = M h + b an affine last layer, moving along (dM, db) = (lambda M,
lambda b + beta) changes a by lambda a + beta, so the scaling direction is realised iff
f(a) = f'(a) (lambda a + beta) for all a, i.e. f in span{f', a f'}: exp, square, ReLU and linear
links are; softplus and sigmoid outputs are not (witness: a nonzero 3x3 determinant). A free
scalar variance with any bijective monotone link (e.g. softplus) is closed. Finally, the M^(L)
direction alone already makes Eq. 59 vanish.
"""

from __future__ import annotations

import sympy as sp

from proofs.claims.prop3 import M, directional, eq59_integrand, eta1, eta2, integrand_60
from proofs.engine import Claim, Step

HYP = {
    "affine-last": "sigma^2 = f(a) with a = M h + b, M and b free (affine last layer)",
    "free-scalar": "sigma^2 = softplus(s) with s a free scalar parameter",
    "last-linear": "Prop. 3's last decoder layers are linear (Eqs. 52-53), weights separate",
}

a, t, lam, beta = sp.symbols("a t lambda beta", real=True)
ap, an = sp.Symbol("a", positive=True), sp.Symbol("a", negative=True)
al, C, bp = sp.symbols("alpha C beta", positive=True)
v, c = sp.symbols("v c", positive=True)
s = sp.Symbol("s", real=True)
u = sp.Symbol("u", real=True)
f, G = sp.Function("f"), sp.Function("G")
softplus = lambda y: sp.log(1 + sp.exp(y))  # noqa: E731
sigmoid = lambda y: 1 / (1 + sp.exp(-y))  # noqa: E731


def closure_condition(fn, var, lam_, beta_) -> tuple[sp.Expr, sp.Expr]:
    """(f'(a) (lambda a + beta), f(a)) for a concrete link f."""
    return sp.Derivative(fn(var), var) * (lam_ * var + beta_), fn(var)


def witness(fn) -> sp.Expr:
    """det [f(a_i), a_i f'(a_i), f'(a_i)] at a = -1, 0, 1: nonzero => no (lambda, beta) fits."""
    y = sp.Symbol("y")
    df = sp.diff(fn(y), y)
    rows = [[fn(y), y * df, df] for _ in range(3)]
    return sp.Matrix([[e.subs(y, p) for e in row] for row, p in zip(rows, (-1, 0, 1))]).det()


STEPS = (
    Step("crit", sp.Subs(sp.Derivative(f(a + t * (lam * a + beta)), t), t, 0),
         sp.Derivative(f(a), a) * (lam * a + beta),
         "moving (M, b) along (lambda M, lambda b + beta) changes sigma^2 = f(a) at rate f'(a)(lambda a + beta); "
         "the scaling direction needs this to equal f(a) for all a", ("affine-last",)),
    Step("crit exp", *closure_condition(sp.exp, a, 0, 1), "exp link: lambda = 0, beta = 1", ("affine-last",)),
    Step("crit square", *closure_condition(lambda y: y**2, a, sp.Rational(1, 2), 0), "square link: lambda = 1/2, beta = 0",
         ("affine-last",)),
    Step("crit relu", *closure_condition(lambda y: sp.Max(0, y), ap, 1, 0), "ReLU link, piece a > 0: lambda = 1, beta = 0",
         ("affine-last",)),
    Step("crit relu", *closure_condition(lambda y: sp.Max(0, y), an, 1, 0), "ReLU link, piece a < 0 (both sides 0)",
         ("affine-last",)),
    Step("crit linear", *closure_condition(lambda y: y, a, 1, 0), "linear link: lambda = 1, beta = 0", ("affine-last",)),
    Step("crit power", *closure_condition(lambda y: C * (al * y + bp) ** (1 / al), ap, al, bp),
         "general solution C (alpha a + beta)^(1/alpha): lambda = alpha", ("affine-last",)),
    Step("crit exp-family", *closure_condition(lambda y: C * sp.exp(y / bp), a, 0, bp),
         "general solution C exp(a/beta): lambda = 0", ("affine-last",)),
    Step("crit softplus-free", softplus(sp.log(sp.exp(c * v) - 1)), c * v,
         "free scalar: softplus is a bijection R -> (0, inf), so c sigma^2 has the preimage log(e^(c sigma^2) - 1)",
         ("free-scalar",)),
    Step("crit softplus-free", sp.Derivative(G(softplus(s)), s),
         sp.exp(s) / (1 + sp.exp(s)) * sp.Subs(sp.Derivative(G(u), u), u, softplus(s)),
         "dF/ds = softplus'(s) dF/dsigma^2 with softplus' = e^s/(1 + e^s) > 0: stationary in s iff in sigma^2",
         ("free-scalar",)),
    Step("crit softplus", witness(softplus), None,
         "softplus output: det[f(a_i), a_i f'(a_i), f'(a_i)] at a = -1, 0, 1 is nonzero (interval arithmetic), "
         "so no (lambda, beta) satisfies the condition: not closed", ("affine-last",), kind="nonzero",
         statement="det[f, a f', f'](a = -1, 0, 1) != 0 for f = softplus"),
    Step("crit sigmoid", witness(sigmoid), None,
         "sigmoid output: the same determinant is nonzero: not closed", ("affine-last",), kind="nonzero",
         statement="det[f, a f', f'](a = -1, 0, 1) != 0 for f = sigmoid"),
    Step("crit 59", integrand_60(directional(eta1, M)[0], directional(eta2, M)[0]), -eq59_integrand,
         "the M^(L) (sigma-scaling) direction alone gives d eta = -eta, so Eq. 58 along it is exactly -(Eq. 59): "
         "Eq. 59 vanishes without the W^(L) direction", ("last-linear",),
         statement="Eq. 58 integrand along M^(L)* = -(Eq. 59 integrand)"),
)

CLAIM = Claim(
    name="criterion",
    title="Criterion: sigma^2 = f(affine) is closed under variance scaling iff f in span{f', a f'} (exp, square, ReLU, linear: yes; softplus, sigmoid: no)",
    hypotheses=HYP,
    steps=STEPS,
)
