"""Symbols and small building blocks shared by the claim modules.

Integrals over q and sums over n and d are linear, so most steps are identities of integrands
or of already-integrated quantities named by symbols:

* ``Qbar`` = (1/N) sum_n E_q ||x_n - mu(z)||^2 >= 0 (the decoder's mean squared error),
* ``m_h``  = (1/N) sum_n E_q [z_h^2] (the second moment of latent h, averaged over data),
* ``L_h``  = (1/N) sum_n log tau_h^2(x_n) (the average encoder log-variance).

Where a statement involves H latents or D observables explicitly, the claim uses a small
explicit size (``H_EX``, ``D_EX``) and says why the size does not matter (the expression is a
sum of identical per-coordinate terms), or a symbolic ``Sum`` when that is what is proved.
"""

from __future__ import annotations

import sympy as sp

from proofs import gaussian as g

# sizes
D = sp.Symbol("D", integer=True, positive=True)
H = sp.Symbol("H", integer=True, positive=True)
N = sp.Symbol("N", integer=True, positive=True)
H_EX = 3  # explicit number of latents where a concrete size is used
D_EX = 3  # explicit number of observables where a concrete size is used

# variances and averaged quantities
s2 = sp.Symbol("sigma^2", positive=True)
Qbar = sp.Symbol("Qbar", positive=True)
t = sp.Symbol("t", real=True)

# one generic latent coordinate h
alpha2 = sp.Symbol("alpha_h^2", positive=True)
m = sp.Symbol("m_h", positive=True)
tau2 = sp.Symbol("tau_h^2", positive=True)
nu = sp.Symbol("nu_h", real=True)
z = sp.Symbol("z_h", real=True)

# explicit latent coordinates h = 1..H_EX
alpha2s = sp.symbols(f"alpha_1:{H_EX + 1}^2", positive=True)
ms = sp.symbols(f"m_1:{H_EX + 1}", positive=True)
tau2s = sp.symbols(f"tau_1:{H_EX + 1}^2", positive=True)
Ls = sp.symbols(f"L_1:{H_EX + 1}", real=True)

TWO_PI_E = 2 * sp.pi * sp.E


def log_det_diag(entries: list[sp.Expr] | tuple[sp.Expr, ...], scale: sp.Expr = 1) -> sp.Expr:
    """log det(scale * diag(entries)), with the determinant computed by sympy.Matrix.det."""
    return sp.log((scale * sp.diag(*entries)).det())


def F2_vae(sigma2: sp.Expr = s2, qbar: sp.Expr = Qbar, dim: sp.Expr = D) -> sp.Expr:
    """F2 of VAE-1/VAE-2 after the Gaussian integral: -Qbar/(2 s2) - D/2 log(2 pi s2) (Eq. 21)."""
    return -qbar / (2 * sigma2) - dim / 2 * sp.log(2 * sp.pi * sigma2)


def F1_h(a2: sp.Expr = alpha2, mh: sp.Expr = m) -> sp.Expr:
    """Latent h's share of F1 with prior N(0, a2): -m_h/(2 a2) - 1/2 log(2 pi a2) (Eq. 23)."""
    return -mh / (2 * a2) - sp.log(2 * sp.pi * a2) / 2


__all__ = ["g", "D", "H", "N", "H_EX", "D_EX", "s2", "Qbar", "t", "alpha2", "m", "tau2", "nu",
           "z", "alpha2s", "ms", "tau2s", "Ls", "TWO_PI_E", "log_det_diag", "F2_vae", "F1_h"]
