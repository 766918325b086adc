"""SymPy Gaussian pieces shared by the claims.

* the univariate normal density and log-density (Eqs. 1-2, 12-13, 30, 35),
* its entropy 1/2 log(2 pi e s2) (the three entropies of Eqs. 20, 25, 39),
* its exponential-family form: natural parameters and the log-partition A with its gradient
  (Eqs. 47-49),
* Gaussian expectations written as real integrals (``expectation``) and their evaluation
  through the moments E[x^k], each moment obtained once by ``sympy.integrate`` (``moment``).

The claims build their Gaussian integrals with :func:`expectation`; the engine's
``gaussian`` strategy evaluates them with :func:`evaluate_gaussian_integrals`, and the
numeric spot-check evaluates the very same ``Integral`` objects by quadrature, independently.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

_M = sp.Symbol("m_", real=True)
_V = sp.Symbol("v_", positive=True)
_X = sp.Symbol("x_", real=True)


def normal_pdf(x: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
    """Density N(x; mean, var) of a univariate Gaussian."""
    return sp.exp(-(x - mean) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def normal_logpdf(x: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
    """log N(x; mean, var) = -(x - mean)^2 / (2 var) - 1/2 log(2 pi var)."""
    return -(x - mean) ** 2 / (2 * var) - sp.log(2 * sp.pi * var) / 2


def entropy(var: sp.Expr) -> sp.Expr:
    """Entropy of N(mean, var): 1/2 log(2 pi e var) (closed form; proved in prop1/prop3)."""
    return sp.log(2 * sp.pi * sp.E * var) / 2


def expectation(g: sp.Expr, x: sp.Symbol, mean: sp.Expr, var: sp.Expr) -> sp.Integral:
    """The integral E_{N(x; mean, var)}[g(x)] = int N(x; mean, var) g(x) dx, unevaluated."""
    return sp.Integral(normal_pdf(x, mean, var) * g, (x, -sp.oo, sp.oo))


# --- exponential family (Eqs. 47-49) -------------------------------------------------------

def natural_parameters(mean: sp.Expr, var: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """eta = (mu / sigma^2, -1 / (2 sigma^2)), Eq. 48."""
    return mean / var, -1 / (2 * var)


def log_partition(eta1: sp.Expr, eta2: sp.Expr) -> sp.Expr:
    """A(eta) = -eta1^2 / (4 eta2) - 1/2 log(-2 eta2), Eq. 49."""
    return -(eta1**2) / (4 * eta2) - sp.log(-2 * eta2) / 2


def log_partition_gradient(eta1: sp.Expr, eta2: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """A'(eta) = (dA/deta1, dA/deta2), computed by differentiating Eq. 49."""
    e1, e2 = sp.symbols("e1_ e2_", real=True)
    a = log_partition(e1, e2)
    grad = (sp.diff(a, e1), sp.diff(a, e2))
    return tuple(g.subs({e1: eta1, e2: eta2}, simultaneous=True) for g in grad)


# --- evaluation of Gaussian integrals --------------------------------------------------------

@lru_cache(maxsize=None)
def moment(k: int) -> sp.Expr:
    """E[x^k] under N(m_, v_), obtained by ``sympy.integrate`` (symbols m_, v_)."""
    return sp.expand(sp.integrate(_X**k * normal_pdf(_X, _M, _V), (_X, -sp.oo, sp.oo)))


def _merge_exponentials(expr: sp.Expr) -> sp.Expr:
    """Combine the exponential factors of each term into one exp with an expanded argument."""
    merged = sp.powsimp(expr, combine="exp")
    return merged.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.exp(sp.expand(e.args[0])))


def _split_gaussian_factor(integrand: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, sp.Expr, sp.Expr] | None:
    """Write integrand = N(x; m, v) * g(x) with g polynomial in x; return (m, v, g) or None."""
    factors = sp.Mul.make_args(sp.factor_terms(_merge_exponentials(integrand)))
    gauss = [f for f in factors if isinstance(f, sp.exp) and f.has(x)]
    if len(gauss) != 1:
        return None
    q = sp.Poly(sp.expand(gauss[0].args[0]), x)
    if q.degree() != 2:
        return None
    a2, a1, _ = q.all_coeffs()
    var = sp.cancel(-1 / (2 * a2))
    mean = sp.cancel(a1 * var)
    g = _merge_exponentials(sp.expand(integrand / normal_pdf(x, mean, var)))
    g = sp.expand(sp.expand_log(g, force=False))
    if not g.is_polynomial(x):
        return None
    return mean, var, g


def _gaussian_integral(integral: sp.Integral) -> sp.Expr:
    """Evaluate one (possibly iterated) Gaussian integral through the cached moments.

    An integrand that is a sum (e.g. a mixture of Gaussians) is split term by term (linearity).
    """
    terms = sp.Add.make_args(sp.expand(integral.function, power_exp=False))
    if len(terms) > 1:
        return sp.Add(*[_gaussian_integral(sp.Integral(term, *integral.limits)) for term in terms])
    expr = integral.function
    for limits in integral.limits:
        x, lo, hi = limits
        if (lo, hi) != (-sp.oo, sp.oo):
            return integral
        split = _split_gaussian_factor(expr, x)
        if split is None:
            return integral
        mean, var, g = split
        poly = sp.Poly(g, x)
        expr = sp.Add(*[
            c * moment(k).subs({_M: mean, _V: var}, simultaneous=True)
            for (k,), c in poly.terms()
        ])
        expr = sp.expand(expr)
    return expr


def evaluate_gaussian_integrals(expr: sp.Expr) -> sp.Expr:
    """Replace every Gaussian ``Integral`` in expr by its value (E[poly] via moments)."""
    return expr.replace(lambda e: isinstance(e, sp.Integral), _gaussian_integral)
