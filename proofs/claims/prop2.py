"""Proposition 2 (VAE-1, Eqs. 25-28): the reparametrization to VAE-2 and the cancellation."""

from __future__ import annotations

import sympy as sp

from proofs.claims.common import D, H_EX, TWO_PI_E, alpha2s, g, log_det_diag, s2, tau2s
from proofs.engine import Claim, Step

HYP = {
    "vae1": "model VAE-1 (Eqs. 1-5) with decoder DNN of the form Eq. 11 (first layer linear)",
    "w0-nonzero": "every column of W^(0) is nonzero, so alpha_h = ||W^(0)_h|| > 0 and A is well "
                  "defined (a zero column cannot be written as W~ A^(1/2) with unit-norm W~)",
    "encoder-scaling": "the encoder family is closed under nu_h -> c^(1/2) nu_h, tau_h^2 -> c tau_h^2 "
                       "per coordinate (needed so that the VAE-1 stationary point maps to a VAE-2 "
                       "stationary point; the paper uses it silently when writing T~ = A T; see "
                       "the criterion claim)",
    "prop1": "Proposition 1 (Eq. 20) holds at stationary points of VAE-2",
    "linearity": "averages over n are linear; identities are shown per data point",
}

DIM, LAT = 3, 2  # explicit sizes for the matrix steps; the identities are entry-wise
W0 = sp.Matrix(DIM, LAT, lambda d, h: sp.Symbol(f"W_{d + 1}{h + 1}", real=True))
zv = sp.Matrix(sp.symbols(f"z_1:{LAT + 1}", real=True))
a = sp.symbols(f"alpha_1:{LAT + 1}", positive=True)
col_norm = [sp.sqrt(sum(W0[d, h] ** 2 for d in range(DIM))) for h in range(LAT)]
W_tilde = sp.Matrix(DIM, LAT, lambda d, h: W0[d, h] / col_norm[h])
A_half = sp.diag(*a)
A_mat = sp.diag(*[x**2 for x in a])
T_mat = sp.diag(*sp.symbols(f"tau_1:{LAT + 1}^2", positive=True))
zt, nz, w, eps = sp.symbols("z~ nu w epsilon", real=True)
al, tz = sp.Symbol("alpha", positive=True), sp.Symbol("tau", positive=True)
c = sp.Symbol("c", positive=True)

STEPS = (
    Step("26", (W_tilde.T * W_tilde).diagonal().T, sp.ones(LAT, 1),
         "W~_h = W^(0)_h / ||W^(0)_h|| has unit length (Eq. 18)", ("w0-nonzero",),
         statement="diag(W~^T W~) = (1, ..., 1)  with  W~_h = W^(0)_h / ||W^(0)_h||"),
    Step("26", W_tilde * sp.diag(*col_norm), W0,
         "W^(0) = W~ A^(1/2) with alpha_h = ||W^(0)_h||: A and W~ parametrize the same matrices",
         ("w0-nonzero",), statement="W~ A^(1/2) = W^(0)  (D = 3, H = 2, entry-wise)"),
    Step("27", W_tilde * A_half * zv, sum((W_tilde[:, h] * a[h] * zv[h] for h in range(LAT)), sp.zeros(DIM, 1)),
         "first layer: W^(0) z = sum_h W~_h alpha_h z_h", ("vae1",),
         statement="W~ A^(1/2) z = sum_h W~_h alpha_h z_h"),
    Step("27", g.normal_pdf(zt / al, 0, 1) / al, g.normal_pdf(zt, 0, al**2),
         "z_h ~ N(0, 1) and z~_h = alpha_h z_h: change of variables gives z~_h ~ N(0, alpha_h^2)",
         ("vae1",), statement="N(z~/alpha; 0, 1)/alpha = N(z~; 0, alpha^2)"),
    Step("27", g.normal_pdf(zt / al, nz, tz**2) / al, g.normal_pdf(zt, al * nz, al**2 * tz**2),
         "z = A^(-1/2) z~ maps q(z) = N(nu, tau^2) to q~(z~) = N(alpha nu, alpha^2 tau^2)",
         ("vae1",), statement="N(z~/alpha; nu, tau^2)/alpha = N(z~; alpha nu, alpha^2 tau^2)"),
    Step("27-28", A_half.inv() * (A_mat * T_mat) * A_half.inv().T, T_mat,
         "covariance of z = A^(-1/2) z~ is A^(-1/2) T~ A^(-1/2); all diagonal, so T~ = A T",
         ("vae1",), statement="A^(-1/2) (A T) A^(-1/2) = T"),
    Step("27-28", w * sp.sqrt(c) * (nz / sp.sqrt(c) + tz / sp.sqrt(c) * eps), w * (nz + tz * eps),
         "moving along alpha_h^2 -> c alpha_h^2 in VAE-2 is, in VAE-1 coordinates, W^(0)_h -> c^(1/2) "
         "W^(0)_h with nu_h -> c^(-1/2) nu_h, tau_h -> c^(-1/2) tau_h: the decoder input is unchanged, "
         "so the path stays in the VAE-1 family only if the encoder can follow it",
         ("encoder-scaling",),
         statement="c^(1/2) w (c^(-1/2) nu + c^(-1/2) tau eps) = w (nu + tau eps)"),
    Step("28", -log_det_diag(alpha2s, TWO_PI_E) / 2 - D / 2 * sp.log(TWO_PI_E * s2)
         + log_det_diag([x * y for x, y in zip(alpha2s, tau2s)], TWO_PI_E) / 2,
         -sp.Rational(H_EX, 2) * sp.log(TWO_PI_E) - D / 2 * sp.log(TWO_PI_E * s2) + log_det_diag(tau2s, TWO_PI_E) / 2,
         f"insert T~ = A T into Eq. 20: the prior entropy cancels with part of the encoder entropy (H = {H_EX})",
         ("prop1", "encoder-scaling", "w0-nonzero")),
    Step("28", -sp.Rational(H_EX, 2) * sp.log(TWO_PI_E) - D / 2 * sp.log(TWO_PI_E * s2) + log_det_diag(tau2s, TWO_PI_E) / 2,
         -D / 2 * sp.log(TWO_PI_E * s2) + log_det_diag(tau2s) / 2,
         "last line of Eq. 28: log det(2 pi e T) = H log(2 pi e) + log det T", ("linearity",)),
    Step("25", -sum(g.entropy(1) for _ in range(H_EX)) - D * g.entropy(s2) + sum(g.entropy(t2) for t2 in tau2s),
         -D / 2 * sp.log(TWO_PI_E * s2) + sum(sp.log(t2) for t2 in tau2s) / 2,
         "Eq. 25: -H[N(0, I)] - H[N(mu, sigma^2 I)] + H[q] equals the closed form (per data point)",
         ("linearity",)),
)

CLAIM = Claim(
    name="prop2",
    title="Proposition 2 (VAE-1): at stationary points F = -D/2 log(2 pi e sigma^2) + 1/(2N) sum log tau^2 (Eq. 25)",
    hypotheses=HYP,
    steps=STEPS,
)
