"""Probabilistic PCA (Tipping and Bishop, 1999): the maximum-likelihood solution and the exact
log-likelihood (Eq. 45), the reference for the linear VAE (Corollaries 1 and A1)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .links import inverse_link
from .models import LinearVAE


def _covariance(x: Tensor, mu: Tensor) -> Tensor:
    """S = (1/N) sum_n (x_n - mu)(x_n - mu)^T."""
    centred = x - mu
    return centred.T @ centred / x.shape[0]


def ppca_ml(x: Tensor, H: int) -> dict:
    """Maximum-likelihood p-PCA with H components on data x [N,D] (R = identity).

    Returns mu (data mean), eigenvalues (of S, descending, [D]), sigma2 (mean of the D-H discarded
    eigenvalues), W = U_H (Lambda_H - sigma2)^(1/2) [D,H], the optimal linear-VAE encoder
    V = M^-1 W^T [H,D] with M = W^T W + sigma2 1 (= Lambda_H), its variances tau2 = sigma2 / lambda_h
    [H] (the exact posterior covariance sigma2 M^-1), and loglik (Eq. 45 per data point at this solution).
    """
    D = x.shape[1]
    if not 0 < H < D:
        raise ValueError(f"p-PCA needs 0 < H < D; got H={H}, D={D}")
    mu = x.mean(0)
    evals, evecs = torch.linalg.eigh(_covariance(x, mu))
    evals, evecs = evals.flip(0), evecs.flip(1)
    lam, U = evals[:H], evecs[:, :H]
    sigma2 = evals[H:].mean()
    if bool((lam <= sigma2).any()):
        raise ValueError("p-PCA ML solution degenerate: a kept eigenvalue does not exceed sigma2")
    W = U * torch.sqrt(lam - sigma2)
    M = W.T @ W + sigma2 * torch.eye(H, dtype=x.dtype, device=x.device)
    V = torch.linalg.solve(M, W.T)
    return {"mu": mu, "eigenvalues": evals, "sigma2": sigma2, "W": W, "V": V, "tau2": sigma2 / lam,
            "loglik": ppca_loglik(x, W, mu, sigma2)}


def ppca_loglik(x: Tensor, W: Tensor, mu: Tensor, sigma2: Tensor | float) -> Tensor:
    """Eq. 45 per data point: -(D/2) log 2 pi - 1/2 log det C - 1/2 Tr(C^-1 S), C = W W^T + sigma2 1,
    S the scatter of x about the model mean mu (not about the data mean)."""
    D = x.shape[1]
    C = W @ W.T + sigma2 * torch.eye(D, dtype=x.dtype, device=x.device)
    L = torch.linalg.cholesky(C)
    logdet = 2.0 * torch.log(torch.diagonal(L)).sum()
    trace = torch.trace(torch.cholesky_solve(_covariance(x, mu), L))
    return -0.5 * D * math.log(2.0 * math.pi) - 0.5 * logdet - 0.5 * trace


def linear_vae_at_ml(x: Tensor, H: int, *, enc_link: str = "exp", dec_link: str = "exp") -> LinearVAE:
    """A `LinearVAE` set to the p-PCA ML solution of x (mu0 = mean, W, V = M^-1 W^T, tau2, sigma2):
    its encoder is then the exact posterior, so its ELBO equals the ML log-likelihood (Cor. A1)."""
    ml = ppca_ml(x, H)
    model = LinearVAE(x.shape[1], H, enc_link=enc_link, dec_link=dec_link, dtype=x.dtype, device=x.device,
                      generator=torch.Generator().manual_seed(0))  # values overwritten; keeps the global RNG untouched
    with torch.no_grad():
        model.V.copy_(ml["V"])
        model.W.copy_(ml["W"])
        model.mu0.copy_(ml["mu"])
        model.tau2_raw.copy_(inverse_link(enc_link, ml["tau2"]))
        model.sigma2_raw.copy_(inverse_link(dec_link, ml["sigma2"].reshape(1)))
    return model
