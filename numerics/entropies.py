"""Closed-form "three entropies" values: what the ELBO equals at stationary points (per data point).

One function per formula of the paper, named like the maths. All take their dtype and device from
their inputs and are differentiable. `numerics.estimators` picks the formula from what a model's
decoder returns (a scalar variance, one per output dimension, or z-dependent ones) and whether it
defines a prior (this module imports nothing from the package: data flow one way).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

_LOG_2PI_E = math.log(2.0 * math.pi) + 1.0


def gaussian_entropy(var: Tensor) -> Tensor:
    """Differential entropy of a univariate Gaussian with variance `var`: 1/2 log(2 pi e var), elementwise."""
    return 0.5 * (torch.log(var) + _LOG_2PI_E)


def entropy_sum_vae1(sigma2: Tensor, tau2: Tensor, D: int) -> Tensor:
    """Eq. (25) (VAE-1): -D/2 log(2 pi e sigma^2) + 1/(2N) sum_n sum_h log tau_h^2(x_n).

    sigma2: scalar decoder variance (any shape with one element); tau2: encoder variances [N,H].
    (D is required: the formula needs it and a scalar sigma^2 does not carry it.)
    """
    return -D * gaussian_entropy(sigma2).reshape(()) + 0.5 * torch.log(tau2).sum(-1).mean()


def entropy_sum_linear(sigma2: Tensor, tau2: Tensor, D: int) -> Tensor:
    """Eq. (33) (linear VAE; also Eq. 44 at the p-PCA optimum): -D/2 log(2 pi e sigma^2) + 1/2 sum_h log tau_h^2.

    tau2: the free encoder variances [H] (a [N,H] broadcast of them gives the same value).
    """
    return -D * gaussian_entropy(sigma2).reshape(()) + 0.5 * torch.log(tau2).sum(-1).mean()


def entropy_sum_vae2(sigma2: Tensor, tau2_tilde: Tensor, alpha2: Tensor, D: int) -> Tensor:
    """Eq. (20) (VAE-2): -1/2 log det(2 pi e A) - D/2 log(2 pi e sigma^2) + 1/N sum_n 1/2 log det(2 pi e T~(x_n)).

    tau2_tilde: encoder variances in VAE-2 coordinates [N,H]; alpha2: prior variances [H].
    """
    return (-gaussian_entropy(alpha2).sum() - D * gaussian_entropy(sigma2).reshape(())
            + gaussian_entropy(tau2_tilde).sum(-1).mean())


def entropy_sum_vae3(log_sigma2_expect: Tensor, tau2: Tensor) -> Tensor:
    """Eq. (39) (VAE-3): 1/(2N) sum_{n,h} log tau_h^2 - 1/(2N) sum_{n,d} E_q[log sigma_d^2(z)] - D/2 log(2 pi e).

    log_sigma2_expect: E_{q^(n)}[log sigma_d^2(z)] per data point [N,D] (estimated by a design);
    tau2: encoder variances [N,H].
    """
    D = log_sigma2_expect.shape[-1]
    return (0.5 * torch.log(tau2).sum(-1).mean() - 0.5 * log_sigma2_expect.sum(-1).mean()
            - 0.5 * D * _LOG_2PI_E)


def entropy_sum_learned_prior(log_sigma2_expect: Tensor, tau2: Tensor, alpha2: Tensor) -> Tensor:
    """The three entropies with a learned prior N(0, diag(alpha^2)) and per-dimension decoder variances:
    -H[p(z)] - 1/N sum_n E_q H[p(x|z)] + 1/N sum_n H[q_n]
    = -1/2 sum_h log(2 pi e alpha_h^2) - 1/(2N) sum_{n,d} E_q[log(2 pi e sigma_d^2(z))]
      + 1/(2N) sum_{n,h} log(2 pi e tau_h^2(x_n)).

    The first line of Eq. 39 with the prior entropy of Eq. 20 kept: Eq. 20 for a scalar sigma^2,
    Eq. 39 for alpha = 1. It is the S of the gap identity (DESIGN.md, "gap") for any Gaussian VAE with
    a diagonal learned prior. log_sigma2_expect: E_q log sigma_d^2 per point [N,D]; tau2 [N,H]; alpha2 [H].
    """
    decoder = 0.5 * (log_sigma2_expect + _LOG_2PI_E).sum(-1).mean()
    return -gaussian_entropy(alpha2).sum() - decoder + gaussian_entropy(tau2).sum(-1).mean()
