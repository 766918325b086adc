"""ELBO, three-entropy value and gap residuals of a Gaussian VAE, all from ONE design of base points.

Gap identity (DESIGN.md, "gap"), exact at every parameter value:

    F - S = residual_decoder + 1/2 sum_h r_h,

    r_h = 1 - (1/N) sum_n (nu_h(x_n)^2 + tau_h^2(x_n)) / alpha_h^2                       (prior part, analytic)
    residual_decoder = (1/N) sum_{n,d} E_q[1/2 - (x_nd - mu_d(z))^2 / (2 sigma_d^2(z))]   (VAE-3)
                     = (D/2) r_sigma,  r_sigma = 1 - Qbar/(D sigma^2),                    (scalar sigma^2)
                       Qbar = (1/N) sum_n E_q ||x_n - mu(z)||^2.

F (Eq. 9) is computed as "expected log-likelihood minus analytic KL", S by the closed forms of
`numerics.entropies`, the residuals by their own formulas; every expectation over q uses the same
design, so the identity holds to float round-off whatever the design (its error is a check of the
code, not of the theorem). The theorem itself is the statement that the residuals vanish at
stationary points of the variance parameters.

A design holds base points eps and weights; z = nu(x) + sqrt(tau2(x)) * eps (reparametrisation). The
design IS the choice of estimator: for the linear VAE, design None computes every expectation in
closed form (Eqs. 29-32), and a design samples the decoder term like any other model (the estimator of
Appendix C.3 and Listing 1: reparametrised samples of log p(x|z), analytic KL).

Any Gaussian VAE is evaluated through three methods only (the adapter protocol, docs/interfaces.md
"practitioners"): `encode(x) -> (nu [N,H], tau2 [N,H])`, `decode(z) -> (mu [...,D], sigma2)` and,
optionally, `prior_var() -> alpha2 [H]`. Which closed form S takes is decided by what decode returns
(`decoder_variance_form`) and by whether the model defines its prior, never by a model kind:

    decoder variance      standard prior N(0, 1)                                   learned prior
    a scalar              Eq. 25 (Eq. 33 for the linear VAE)                       Eq. 20
    one per d, [D]        Eq. 39 with E_q log sigma_d^2 = log sigma_d^2 (closed)   Eqs. 20 + 39
    z-dependent           Eq. 39 (E_q log sigma_d^2(z) by the design)              Eqs. 20 + 39

("Eqs. 20 + 39": `entropies.entropy_sum_learned_prior`, Eq. 39 with the prior entropy kept.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .entropies import entropy_sum_learned_prior, entropy_sum_vae1, entropy_sum_vae2, entropy_sum_vae3
from .models import GaussianVAE, LinearVAE

DESIGN_KINDS = ("mc", "rqmc", "gauss-hermite", "qmc")
SCALAR, PER_DIMENSION, Z_DEPENDENT = "scalar", "per-dimension", "z-dependent"
DECODER_VARIANCE_FORMS = (SCALAR, PER_DIMENSION, Z_DEPENDENT)
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class Design:
    """Reparametrisation base points: z = nu + sqrt(tau2) * eps.

    eps: [K, N, H] (independent samples per data point) or [K, 1, H] (nodes shared by all points);
    weights: [K], summing to 1; kind: "mc" (random, standard errors reported), "rqmc" (randomised QMC
    per data point, `replicates` independent randomisations, standard errors reported),
    "gauss-hermite" or "qmc" (deterministic shared nodes: no standard error, se = 0).
    replicates: rqmc only, R; the K base points are R consecutive blocks of K/R points, each block an
      independent unbiased estimate per data point (see `rqmc_design`).
    """

    eps: Tensor
    weights: Tensor
    kind: str
    replicates: int = 1

    def __post_init__(self) -> None:
        if self.kind not in DESIGN_KINDS:
            raise ValueError(f"unknown design kind {self.kind!r}; valid: {', '.join(DESIGN_KINDS)}")
        if self.eps.dim() != 3 or self.weights.shape != (self.eps.shape[0],):
            raise ValueError(f"design needs eps [K,N,H] and weights [K]; got {tuple(self.eps.shape)} and "
                             f"{tuple(self.weights.shape)}")
        if self.replicates < 1 or self.eps.shape[0] % self.replicates:
            raise ValueError(f"replicates={self.replicates} must be >= 1 and divide K={self.eps.shape[0]}")

    @property
    def K(self) -> int:
        """Number of base points per data point."""
        return int(self.eps.shape[0])

    @property
    def shared(self) -> bool:
        """True when the same base points are used for every data point (eps [K,1,H])."""
        return int(self.eps.shape[1]) == 1


def slice_design(design: Design | None, index: Tensor | slice) -> Design | None:
    """The design restricted to the data points `index` (None and shared [K,1,H] designs are returned as they are)."""
    if design is None or design.shared:
        return design
    return Design(eps=design.eps[:, index], weights=design.weights, kind=design.kind, replicates=design.replicates)


def mc_design(K: int, N: int, H: int, *, generator: torch.Generator | None = None, dtype=torch.float64,
              device="cpu") -> Design:
    """K independent standard-normal samples per data point (eps [K,N,H], weights 1/K).

    With `N=1` the samples are shared by all points. Drawn on the generator's device (the global RNG
    on `device` when generator is None) and moved to `device`, so a CPU generator gives the same
    samples on every device.
    """
    draw_device = generator.device if generator is not None else device
    eps = torch.randn((K, N, H), generator=generator, dtype=dtype, device=draw_device).to(device)
    return Design(eps=eps, weights=torch.full((K,), 1.0 / K, dtype=dtype, device=device), kind="mc")


def gauss_hermite_design(nodes_per_dim: int, H: int, *, dtype=torch.float64, device="cpu") -> Design:
    """Tensor-product Gauss-Hermite rule for N(0, 1_H): K = nodes_per_dim**H shared nodes.

    Probabilists' Hermite nodes (numpy.polynomial.hermite_e.hermegauss), weights normalised to sum to
    one; a rule with n nodes per dimension integrates polynomials of degree <= 2n-1 in each coordinate
    exactly. Deterministic: the reported standard error is 0 (the quadrature error is not estimated).
    """
    nodes, w = np.polynomial.hermite_e.hermegauss(nodes_per_dim)
    w = w / w.sum()
    grids = np.meshgrid(*([nodes] * H), indexing="ij")
    wgrids = np.meshgrid(*([w] * H), indexing="ij")
    eps = np.stack([g.reshape(-1) for g in grids], axis=-1)[:, None, :]
    weights = np.prod(np.stack([g.reshape(-1) for g in wgrids], axis=-1), axis=-1)
    return Design(eps=torch.as_tensor(eps, dtype=dtype, device=device),
                  weights=torch.as_tensor(weights / weights.sum(), dtype=dtype, device=device), kind="gauss-hermite")


def sobol_design(K: int, H: int, *, seed: int, dtype=torch.float64, device="cpu") -> Design:
    """K scrambled-Sobol points mapped to N(0, 1_H) by the inverse normal CDF, shared by all points.

    torch.quasirandom.SobolEngine returns multiples of 2^-30 (0 included); the points are moved to the
    midpoints of their cells (+2^-31) so the inverse CDF is finite. Use K a power of two. Deterministic
    given the seed: the reported standard error is 0.
    """
    u = torch.quasirandom.SobolEngine(H, scramble=True, seed=seed).draw(K, dtype=torch.float64)
    eps = torch.special.ndtri(u + 2.0 ** -31)
    return Design(eps=eps[:, None, :].to(dtype=dtype, device=device),
                  weights=torch.full((K,), 1.0 / K, dtype=dtype, device=device), kind="qmc")


U_MIN = 2.0 ** -53
"""Randomised points are clamped into [U_MIN, 1 - U_MIN] before the inverse normal CDF (reached with
probability ~2^-53 per coordinate; keeps eps finite, |eps| <= 8.3)."""
SOBOL_BITS = 30
"""torch.quasirandom.SobolEngine returns multiples of 2^-30."""


def rqmc_design(K: int, N: int, H: int, *, replicates: int = 8, generator: torch.Generator | None = None,
                dtype=torch.float64, device="cpu") -> Design:
    """Randomised QMC per data point: eps [K, N, H], R = `replicates` independent randomisations.

    One scrambled-Sobol base set P of M = K/R points in [0,1)^H (scramble seed drawn from
    `generator`). For every data point n and replicate r an independent random digital shift: each
    coordinate's 30-bit integer is XOR-ed with uniform random bits, then a uniform offset inside its
    2^-30 cell is added, so every point is exactly uniform on [0,1)^H while the block keeps the
    net structure of P; the inverse normal CDF maps it to N(0, 1_H). Block r (eps[r*M:(r+1)*M, n]) is
    therefore an unbiased estimate of E_q for point n, and the R block averages are independent,
    which gives an honest standard error (`evaluate`): SE = sqrt(sum_n s_n^2 / R) / N with s_n^2 the
    sample variance of point n's R block averages. Errors are independent across points, so they
    average out over N; per point the error decays ~M^-1 (measured on trained VAE-3 residuals: SE
    proportional to K^-1.1 from K=128 to 512, 6x below plain MC at K=512) instead of M^-1/2.
    A Cranley-Patterson shift (u + shift mod 1) is also unbiased but was measured ~2x worse at
    K=512: it breaks the digital net structure. Use M a power of two. All draws on the CPU (same
    numbers on every device), then moved to `device`.
    """
    if replicates < 1 or K % replicates:
        raise ValueError(f"rqmc_design: replicates={replicates} must be >= 1 and divide K={K}")
    M = K // replicates
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    base = torch.quasirandom.SobolEngine(H, scramble=True, seed=seed).draw(M, dtype=torch.float64)   # [M,H]
    base_bits = torch.round(base * 2.0 ** SOBOL_BITS).to(torch.int64)
    shift_bits = torch.randint(0, 2 ** SOBOL_BITS, (replicates, 1, N, H), generator=generator)
    cell = torch.rand((replicates, M, N, H), generator=generator, dtype=torch.float64)
    bits = torch.bitwise_xor(base_bits[None, :, None, :], shift_bits)                              # [R,M,N,H]
    u = ((bits.to(torch.float64) + cell) * 2.0 ** -SOBOL_BITS).clamp_(U_MIN, 1.0 - U_MIN)
    eps = torch.special.ndtri(u).reshape(K, N, H)
    return Design(eps=eps.to(dtype=dtype, device=device), weights=torch.full((K,), 1.0 / K, dtype=dtype, device=device),
                  kind="rqmc", replicates=replicates)


def default_design(H: int, *, dtype=torch.float64, device="cpu") -> Design:
    """The design used when none is given (VAE-3 only): 256 scrambled-Sobol points, seed 0."""
    return sobol_design(256, H, seed=0, dtype=dtype, device=device)


@dataclass
class Evaluation:
    """ELBO, three-entropy value and gap residuals, per data point (see the module docstring).

    elbo: F (Eq. 9), decoder term by the design (analytic for the linear VAE), KL analytic.
    elbo_se / gap_se: Monte Carlo standard errors (0 for analytic values and deterministic designs;
    NaN for an MC design with K = 1 or an rqmc design with one replicate). entropy_sum: S (Eq. 33 / 25 / 20 / 39). residual_prior: [H].
    identity_error: |gap - (residual_decoder + residual_prior.sum()/2)|, float round-off.
    entropy_formula: which closed form S took (`entropy_formula`), e.g. "Eq. 25".
    """

    elbo: Tensor
    elbo_se: Tensor
    entropy_sum: Tensor
    residual_decoder: Tensor
    residual_prior: Tensor
    gap: Tensor
    gap_se: Tensor
    identity_error: Tensor
    kl: Tensor = field(default=None)  # type: ignore[assignment]
    expected_loglik: Tensor = field(default=None)  # type: ignore[assignment]
    n_points: int = 0
    design_kind: str = ""
    entropy_formula: str = ""

    def to_dict(self) -> dict:
        """Python floats (NaN -> None) and a list for residual_prior."""
        out: dict = {}
        for key, value in self.__dict__.items():
            if isinstance(value, Tensor):
                value = value.detach().cpu()
                value = [_float(v) for v in value.tolist()] if value.dim() else _float(value.item())
            out[key] = value
        return out


def _float(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


@dataclass
class _Rows:
    """Per-point rows [N, ...] gathered chunk by chunk (the encoder variances, E_q log sigma_d^2).

    Without autograd they are copied into one tensor allocated at the first chunk: keeping one small
    tensor per chunk alive fragments glibc's heap, so that each next chunk's activations no longer fit
    the freed space (measured: a VAE-3 evaluation's heap at 1.9-2.0 GB for 118 MB of live tensors in 5
    of 7 runs; with one buffer 0.15 GB; docs/reliability.md). Under autograd the chunks' tensors are
    kept and concatenated, so the graph reaches every chunk."""

    n: int
    parts: list = field(default_factory=list)
    buffer: Tensor | None = None
    filled: int = 0

    def add(self, rows: Tensor) -> None:
        if rows.requires_grad:
            self.parts.append(rows)
            return
        if self.buffer is None:
            self.buffer = rows.new_empty((self.n, *rows.shape[1:]))
        self.buffer[self.filled:self.filled + rows.shape[0]] = rows
        self.filled += rows.shape[0]

    def gathered(self) -> Tensor | None:
        """All rows in order (None when none were added)."""
        if self.parts:
            return torch.cat(self.parts, 0)
        return None if self.buffer is None else self.buffer[:self.filled]


@dataclass
class _Sums:
    """Running sums over data-point chunks (sums over n; divided by N at the end)."""

    loglik: Tensor | int = 0          # sum_n sum_k w_k log p(x_n | z_kn)
    kl: Tensor | int = 0              # sum_n KL(q_n || p)
    resid_dec: Tensor | int = 0       # sum_n sum_k w_k sum_d (1/2 - (x-mu)^2/(2 sigma^2))
    second_moment: Tensor | int = 0   # sum_n (nu^2 + tau2) / alpha2, [H]
    tau2: _Rows = field(default_factory=lambda: _Rows(0))        # [N,H]
    log_sigma2: _Rows = field(default_factory=lambda: _Rows(0))  # E_q log sigma_d^2 [N,D] (Eq. 39 forms)
    var_loglik: Tensor | int = 0      # per-point MC: sum_n sample variance over k of log p(x_n|z_kn)
    var_resid: Tensor | int = 0       # ... of the decoder residual
    k_loglik: Tensor | int = 0        # shared MC: sum_n log p(x_n|z_k), [K]
    k_resid: Tensor | int = 0         # shared MC: same for the decoder residual, [K]
    sigma2: Tensor | None = None      # decoder variance as returned by decode (scalar form)
    alpha2: Tensor | None = None      # the model's own prior variances (None: N(0, 1))
    form: str = SCALAR                # `decoder_variance_form` (read when stats are collected)


def _check_data(model: GaussianVAE, x: Tensor) -> None:
    D = getattr(model, "D", None)
    if x.dim() != 2 or (D is not None and x.shape[1] != D):
        raise ValueError(f"x must be [N, D={'D' if D is None else D}]; got {tuple(x.shape)}")


def _linear_weight(model: GaussianVAE) -> Tensor | None:
    """The decoder matrix W of the kit's linear VAE (mu = W z + mu0), whose expectations have a closed
    form (design None); None for every other model."""
    return model.W if isinstance(model, LinearVAE) else None


def _check(model: GaussianVAE, x: Tensor, design: Design | None) -> None:
    _check_data(model, x)
    H = getattr(model, "H", None)
    if design is None:
        if _linear_weight(model) is None:
            raise ValueError(f"{type(model).__name__} needs a design (mc_design, gauss_hermite_design, sobol_design); "
                             f"only the linear VAE has a closed form")
    elif (H is not None and design.eps.shape[2] != H) or design.eps.shape[1] not in (1, x.shape[0]):
        raise ValueError(f"design eps {tuple(design.eps.shape)} does not fit N={x.shape[0]}, H={H}")


def prior_variances(model: GaussianVAE) -> Tensor | None:
    """alpha^2 [H] from `model.prior_var()` when the model defines its own prior (a learned prior, VAE-2),
    None for the standard normal prior N(0, 1) (no prior_var, or `GaussianVAE`'s default)."""
    method = getattr(type(model), "prior_var", None)
    if method is None or method is GaussianVAE.prior_var:
        return None
    return model.prior_var()


def decoder_variance_form(sigma2: Tensor, mu: Tensor) -> str:
    """What decode returned as its variance, from shapes alone (so it also works under torch.func.vmap):
    "scalar" (one element), "per-dimension" ([D], leading dimensions of size one allowed) or
    "z-dependent" (the leading dimensions of the batch of z: [..., D] or [..., 1]). Read it from at
    least two z (`variance_form`): for one z a z-dependent variance has the shape [1, D]."""
    if sigma2.numel() == 1:
        return SCALAR
    if all(size == 1 for size in sigma2.shape[:-1]) and sigma2.shape[-1] == mu.shape[-1]:
        return PER_DIMENSION
    if sigma2.dim() == mu.dim() and sigma2.shape[:-1] == mu.shape[:-1] and sigma2.shape[-1] in (1, mu.shape[-1]):
        return Z_DEPENDENT
    raise ValueError(f"decode(z) returned a variance of shape {tuple(sigma2.shape)} for a mean of shape "
                     f"{tuple(mu.shape)}; it must be a scalar, [D] or [..., D] like the mean")


def variance_form(model: GaussianVAE, H: int, like: Tensor) -> str:
    """`decoder_variance_form` of `model`, read from decode at two latent points (z = 0)."""
    mu, sigma2 = model.decode(torch.zeros(2, H, dtype=like.dtype, device=like.device))
    return decoder_variance_form(sigma2, mu)


def entropy_formula(form: str, learned_prior: bool) -> str:
    """The paper's equation S takes for a decoder variance `form` and prior (the module docstring's table)."""
    if learned_prior:
        return "Eq. 20" if form == SCALAR else "Eqs. 20 + 39"
    return {SCALAR: "Eq. 25", PER_DIMENSION: "Eq. 39 (constant sigma_d^2)", Z_DEPENDENT: "Eq. 39"}[form]


def _kl_and_moments(nu: Tensor, tau2: Tensor, alpha2: Tensor) -> tuple[Tensor, Tensor]:
    """Per point KL(N(nu, tau2) || N(0, alpha2)) [n] and second moments (nu^2 + tau2)/alpha2 [n,H]."""
    m2 = (nu * nu + tau2) / alpha2
    kl = 0.5 * (m2 - 1.0 - torch.log(tau2) + torch.log(alpha2)).sum(-1)
    return kl, m2


def squared_error_affine(x: Tensor, features: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """||x - mu||^2 summed over d for mu = features W^T + b, by the Gram expansion

        ||x - b||^2 - 2 <(x - b) W, a> + a^T (W^T W) a,

    x [n,D], features a [K,n,m], W [D,m], b [D] -> [K,n]. It never forms the [K,n,D] tensor mu: the
    cost per base point is O(m^2) instead of O(m D), so the estimators use it when m < D (VAE-1 on
    MNIST, m = 50, D = 784: a float64 loss and gradient at K = 8 in 0.16 s instead of 0.61 s; not for
    D = 10). Exact algebra; the cancellation costs about log10(||x - b||^2 / ||x - mu||^2) digits
    (tests: agreement with the direct sum to 1e-12 relative in float64, 1e-5 in float32).
    """
    centred = x - bias                                                       # [n,D]
    cross = (features * (centred @ weight)).sum(-1)                          # [K,n]
    quadratic = ((features @ (weight.T @ weight)) * features).sum(-1)        # [K,n]
    return (centred ** 2).sum(-1) - 2.0 * cross + quadratic


def _decode_affine(model: GaussianVAE, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """`GaussianVAE.decode_affine`, or None for a user model without that method."""
    decode_affine = getattr(model, "decode_affine", None)
    return None if decode_affine is None else decode_affine(z)


def _gram_applies(weight: Tensor) -> bool:
    """The Gram expansion is cheaper than forming mu when the output layer W [D,m] has m < D."""
    return weight.shape[1] < weight.shape[0]


def row_width(model: GaussianVAE, H: int | None = None) -> int:
    """Width of the per-base-point decoder output the estimators form for `model`: D, or on the Gram
    path (`squared_error_affine`) the output layer's input width. Sets how many points fit a chunk.
    H defaults to `model.H` (a user model without that attribute passes it)."""
    ref = next(model.parameters())
    with torch.no_grad():
        z = torch.zeros(1, int(model.H if H is None else H), dtype=ref.dtype, device=ref.device)
        affine = _decode_affine(model, z)
        if affine is not None and _gram_applies(affine[1]):
            return int(affine[1].shape[1])
        return int(model.D) if hasattr(model, "D") else int(model.decode(z)[0].shape[-1])


ROWS_PER_CHUNK = 8192
"""Base points x data points per forward pass in evaluation and training. With chunks this small the
activations stay cache-resident: measured 2.3x faster than one pass over N=10,000 x K=16 (1 thread)."""


def chunk_for(K: int, width: int) -> int:
    """Data points per forward pass for K base points per point: ROWS_PER_CHUNK rows of width <= 64,
    proportionally fewer for wide rows (`row_width`: a 784-dimensional decoder output unless the Gram
    path applies). VAE-1 on the Gram path, paper protocol: 82 instead of 6 points per chunk, 2.7x
    faster per batch; fast protocol (K = 8): 1024 instead of 83, 0.16 s instead of 0.20 s."""
    return max(1, ROWS_PER_CHUNK * 64 // (max(1, K) * max(64, width)))


def _decoder_terms(model: GaussianVAE, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per base point k and data point n: sum_d (x_d - mu_d)^2 / (2 sigma_d^2) and sum_d log sigma_d^2
    ([K,n] each), sigma2 as the decoder returned it, and log sigma2 [K,n,D] (for a scalar sigma^2 an
    expanded view: no copy)."""
    D = x.shape[-1]
    affine = _decode_affine(model, z)
    if affine is not None and _gram_applies(affine[1]):  # the Gram expansion: no [K,n,D] tensor formed
        features, weight, bias, sigma2 = affine
        s2 = sigma2.reshape(())
        sq = squared_error_affine(x, features, weight, bias) / (2.0 * s2)
        return sq, D * torch.log(s2), sigma2, torch.log(s2).expand(*sq.shape, D)
    if affine is not None:
        features, weight, bias, sigma2 = affine
        mu = torch.nn.functional.linear(features, weight, bias)
    else:
        mu, sigma2 = model.decode(z)                    # [K,n,D]; sigma2 broadcastable to it
    if sigma2.numel() == 1:  # scalar sigma^2: no [K,n,D] work beyond the squared error
        s2 = sigma2.reshape(())
        return ((x - mu) ** 2).sum(-1) / (2.0 * s2), D * torch.log(s2), sigma2, torch.log(sigma2).expand_as(mu)
    log_sigma2 = torch.log(sigma2).expand_as(mu)
    return ((x - mu) ** 2 / (2.0 * sigma2)).sum(-1), log_sigma2.sum(-1), sigma2, log_sigma2


def _accumulate_chunk(model: GaussianVAE, x: Tensor, eps: Tensor | None, weights: Tensor | None,
                      sums: _Sums, *, stats: bool, mc: str) -> None:
    """Add one chunk of data points to `sums`. mc: "" (no SE), "per-point", "shared" or "replicates:R"."""
    nu, tau2 = model.encode(x)
    tau2 = tau2.expand_as(nu)  # a free [H] variance (the linear VAE's) is one per point
    if eps is not None and eps.shape[-1] != nu.shape[-1]:
        raise ValueError(f"design eps has H={eps.shape[-1]} latents; encode returned {nu.shape[-1]}")
    alpha2 = torch.ones_like(nu[0]) if sums.alpha2 is None else sums.alpha2
    kl, m2 = _kl_and_moments(nu, tau2, alpha2)
    sums.kl = sums.kl + kl.sum()
    sums.tau2.add(tau2)
    sums.second_moment = sums.second_moment + m2.sum(0)
    D = x.shape[-1]
    if eps is None:  # linear VAE: E_q ||x - W z - mu0||^2 = ||x - W nu - mu0||^2 + sum_h tau_h^2 ||W_:,h||^2
        mu, sigma2 = model.decode(nu)
        q = ((x - mu) ** 2).sum(-1) + (tau2 * (_linear_weight(model) ** 2).sum(0)).sum(-1)
        sums.loglik = sums.loglik + (-0.5 * D * torch.log(2.0 * math.pi * sigma2) - q / (2.0 * sigma2)).sum()
        sums.resid_dec = sums.resid_dec + (0.5 * D - q / (2.0 * sigma2)).sum()
        sums.sigma2 = sigma2
        return
    z = nu + torch.sqrt(tau2) * eps                     # [K,n,H]
    sq_kn, logdet_kn, sigma2, log_sigma2 = _decoder_terms(model, x, z)
    if sigma2.numel() == 1:
        sums.sigma2 = sigma2
    loglik_kn = -0.5 * D * _LOG_2PI - 0.5 * logdet_kn - sq_kn
    w = weights[:, None]
    sums.loglik = sums.loglik + (w * loglik_kn).sum()
    if not stats:
        return
    if sigma2.numel() != 1:  # per-dimension or z-dependent: Eq. 39 needs E_q log sigma_d^2 per point
        sums.log_sigma2.add((weights[:, None, None] * log_sigma2).sum(0))
    resid_kn = 0.5 * D - sq_kn
    sums.resid_dec = sums.resid_dec + (w * resid_kn).sum()
    with torch.no_grad():
        if mc.startswith("replicates:"):  # rqmc: variance over the R block averages per point
            R = int(mc.split(":")[1])
            if R >= 2:
                sums.var_loglik = sums.var_loglik + loglik_kn.reshape(R, -1, loglik_kn.shape[1]).mean(1).var(0).sum()
                sums.var_resid = sums.var_resid + resid_kn.reshape(R, -1, resid_kn.shape[1]).mean(1).var(0).sum()
        elif mc == "per-point" and loglik_kn.shape[0] >= 2:
            sums.var_loglik = sums.var_loglik + loglik_kn.var(0).sum()
            sums.var_resid = sums.var_resid + resid_kn.var(0).sum()
        elif mc == "shared":
            sums.k_loglik = sums.k_loglik + loglik_kn.sum(-1)
            sums.k_resid = sums.k_resid + resid_kn.sum(-1)


def _run(model: GaussianVAE, x: Tensor, design: Design | None, chunk_size: int | None, *, stats: bool) -> _Sums:
    _check(model, x, design)
    N = x.shape[0]
    chunk = N if chunk_size is None else max(1, int(chunk_size))
    sums = _Sums(alpha2=prior_variances(model), tau2=_Rows(N), log_sigma2=_Rows(N))
    analytic = design is None
    eps = weights = None
    mc = ""
    if not analytic:
        eps = design.eps.to(dtype=x.dtype, device=x.device)
        weights = design.weights.to(dtype=x.dtype, device=x.device)
        if design.kind == "mc":
            mc = "shared" if design.shared else "per-point"
        elif design.kind == "rqmc":
            mc = "shared" if design.shared else f"replicates:{design.replicates}"
        if stats:
            sums.form = variance_form(model, design.eps.shape[2], x)
    for a in range(0, N, chunk):
        b = min(N, a + chunk)
        eps_c = None if analytic else (eps if design.shared else eps[:, a:b])
        _accumulate_chunk(model, x[a:b], eps_c, weights, sums, stats=stats, mc=mc)
    return sums


def _standard_errors(sums: _Sums, design: Design | None, N: int, like: Tensor) -> tuple[Tensor, Tensor]:
    zero = torch.zeros((), dtype=like.dtype, device=like.device)
    if design is None or design.kind not in ("mc", "rqmc"):
        return zero, zero
    R = design.replicates if design.kind == "rqmc" else design.K  # independent estimates per point
    if R < 2:
        nan = torch.full((), float("nan"), dtype=like.dtype, device=like.device)
        return nan, nan
    if design.shared:  # R independent estimates of the N-average (block means over k); SE of their mean
        blocks = lambda k_sums: (k_sums / N).reshape(R, -1).mean(1)  # noqa: E731
        return blocks(sums.k_loglik).std() / math.sqrt(R), blocks(sums.k_resid).std() / math.sqrt(R)
    return torch.sqrt(sums.var_loglik / R) / N, torch.sqrt(sums.var_resid / R) / N


def _entropy_sum_from(form: str, tau2: Tensor, sigma2: Tensor | None, log_sigma2_expect: Tensor | None,
                      alpha2: Tensor | None, D: int) -> Tensor:
    """S by the closed form of `numerics.entropies` for the decoder variance `form` and the prior
    (alpha2 None: N(0, 1)); the module docstring's table."""
    if form == SCALAR:
        return entropy_sum_vae1(sigma2, tau2, D) if alpha2 is None else entropy_sum_vae2(sigma2, tau2, alpha2, D)
    if alpha2 is None:
        return entropy_sum_vae3(log_sigma2_expect, tau2)
    return entropy_sum_learned_prior(log_sigma2_expect, tau2, alpha2)


def predicted_gap(residual_decoder: Tensor, residual_prior: Tensor) -> Tensor:
    """The right-hand side of the gap identity: residual_decoder + 1/2 sum_h r_h (DESIGN.md, "gap")."""
    return residual_decoder + 0.5 * residual_prior.sum(-1)


def evaluate(model: GaussianVAE, x: Tensor, design: Design | None, *, chunk_size: int | None = None) -> Evaluation:
    """ELBO, three-entropy value S, every gap residual and the identity's error on data x [N,D].

    Differentiable (no torch.no_grad inside; standard errors and identity_error are detached), so
    training may call `evaluate(...).elbo.backward()`. `chunk_size` processes that many data points at
    a time and sums the chunks' contributions; the values do not depend on it. Under autograd the graph
    still holds every chunk, so chunking saves memory only when called inside `torch.no_grad()` (how
    the training code should evaluate on large data such as MNIST). Linear VAE: design None is the
    analytic evaluation, a design samples the decoder term. Any model of the adapter protocol (module
    docstring) is evaluated; S takes the closed form its decoder variance and prior call for.
    """
    sums = _run(model, x, design, chunk_size, stats=True)
    N = x.shape[0]
    expected_loglik = sums.loglik / N
    kl = sums.kl / N
    elbo = expected_loglik - kl
    S = _entropy_sum_from(sums.form, sums.tau2.gathered(), sums.sigma2, sums.log_sigma2.gathered(), sums.alpha2,
                          x.shape[1])
    residual_decoder = sums.resid_dec / N
    residual_prior = 1.0 - sums.second_moment / N
    gap = elbo - S
    elbo_se, gap_se = _standard_errors(sums, design, N, elbo)
    identity_error = (gap - predicted_gap(residual_decoder, residual_prior)).abs().detach()
    return Evaluation(elbo=elbo, elbo_se=elbo_se, entropy_sum=S, residual_decoder=residual_decoder,
                      residual_prior=residual_prior, gap=gap, gap_se=gap_se, identity_error=identity_error,
                      kl=kl, expected_loglik=expected_loglik, n_points=N,
                      design_kind="analytic" if design is None else design.kind,
                      entropy_formula=entropy_formula(sums.form, sums.alpha2 is not None))


def elbo_objective(model: GaussianVAE, x: Tensor, design: Design | None) -> Tensor:
    """The ELBO F per data point (Eq. 9), differentiable; same value as `evaluate(...).elbo`.

    Cheapest path for training: one batched forward over all K x N base points, no residuals or
    standard errors. Linear VAE: analytic for design None, sampled by a design.
    """
    sums = _run(model, x, design, None, stats=False)
    N = x.shape[0]
    return (sums.loglik - sums.kl) / N


def three_entropies(model: GaussianVAE, x: Tensor, design: Design | None = None) -> Tensor:
    """The three-entropy value S of `model` on data `x` (per data point), by the closed form of
    `numerics.entropies` that its decoder variance and prior call for (the module docstring's table).

    A scalar or per-dimension decoder variance: closed form in the variances (design ignored; Eq. 33,
    25, 20, or Eq. 39 with constant sigma_d^2). A z-dependent one (VAE-3): Eq. 39, whose E_q log
    sigma_d^2(z) needs a design, by default `default_design` (256 scrambled-Sobol points shared by all
    points, seed 0).
    """
    _check_data(model, x)
    nu, tau2 = model.encode(x)
    tau2 = tau2.expand_as(nu)
    form = variance_form(model, nu.shape[-1], x)
    if form == Z_DEPENDENT:
        design = default_design(nu.shape[-1], dtype=x.dtype, device=x.device) if design is None else design
        sums = _run(model, x, design, None, stats=True)
        return _entropy_sum_from(form, sums.tau2.gathered(), None, sums.log_sigma2.gathered(), sums.alpha2,
                                 x.shape[1])
    _, sigma2 = model.decode(nu[:1])
    log_sigma2 = None if form == SCALAR else torch.log(sigma2).reshape(-1).expand(x.shape[0], -1)
    return _entropy_sum_from(form, tau2, sigma2, log_sigma2, prior_variances(model), x.shape[1])
