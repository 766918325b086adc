"""The adapter protocol: what a user's own `nn.Module` must offer to be a Gaussian VAE to the kit.

    encode(x)   -> (mean [N, H], var [N, H])     q(z|x) = N(mean, diag(var)); var may be a free [H]
    decode(z)   -> (mean [..., D], var)          p(x|z) = N(mean, diag(var)); var a scalar, [D] or [..., D]
    prior_var() -> [H]   (optional)              p(z) = N(0, diag(prior_var)); without it N(0, 1)

No base class, no `kind` attribute: what decode returns decides which closed form the three-entropy
value takes (`numerics.estimators`: Eq. 25 / 20 for a scalar variance, Eq. 39 for per-dimension or
z-dependent ones, Eq. 20 + 39 with a learned prior). `inspect_model` runs the methods once on two data
points and says, in one line, what is wrong when the model does not keep the protocol.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from numerics.cli import UsageError
from numerics.estimators import decoder_variance_form, entropy_formula, prior_variances


class AdapterError(UsageError):
    """The model does not keep the adapter protocol (one line saying how)."""


@dataclass(frozen=True)
class ModelShape:
    """What `inspect_model` found: sizes, the decoder variance form, the prior, and S's formula."""

    D: int
    H: int
    decoder_variance: str    # "scalar", "per-dimension" or "z-dependent" (estimators.decoder_variance_form)
    learned_prior: bool      # the model defines prior_var()
    entropy_formula: str     # e.g. "Eq. 25" (estimators.entropy_formula)


def _pair(value: object, method: str) -> tuple[Tensor, Tensor]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, Tensor) for v in value)):
        raise AdapterError(f"{method} must return a pair of tensors (mean, var); got {type(value).__name__}")
    return value[0], value[1]


def _positive(var: Tensor, what: str) -> None:
    if not bool(torch.isfinite(var).all()) or not bool((var > 0).all()):
        raise AdapterError(f"{what} must be finite and > 0; got values in [{float(var.min()):.3g}, {float(var.max()):.3g}]")


def inspect_model(model: nn.Module, x: Tensor) -> ModelShape:
    """Check that `model` keeps the adapter protocol on data x [N, D] and return its `ModelShape`.

    Runs encode on (at most) the first two points and decode on their encoder means, without
    gradients; AdapterError (a `numerics.cli.UsageError`) names the first violation."""
    for method in ("encode", "decode"):
        if not callable(getattr(model, method, None)):
            raise AdapterError(f"{type(model).__name__} has no {method}() method (the adapter protocol needs "
                               f"encode(x) -> (mean, var) and decode(z) -> (mean, var))")
    if x.dim() != 2 or x.shape[0] < 1:
        raise AdapterError(f"x must be [N, D] with N >= 1; got {tuple(x.shape)}")
    probe = x[:2] if x.shape[0] >= 2 else x.expand(2, -1)
    with torch.no_grad():
        nu, tau2 = _pair(model.encode(probe), "encode(x)")
        if nu.shape != (2, nu.shape[-1]) or nu.dim() != 2:
            raise AdapterError(f"encode(x) must return a mean [N, H]; got {tuple(nu.shape)} for N = 2")
        H = int(nu.shape[1])
        try:
            tau2 = tau2.expand_as(nu)
        except RuntimeError:
            raise AdapterError(f"encode(x) must return a variance [N, H] (or [H]) like its mean [2, {H}]; got "
                               f"{tuple(tau2.shape)}") from None
        _positive(tau2, "encode(x)'s variance")
        mu, sigma2 = _pair(model.decode(nu), "decode(z)")
        if mu.shape != (2, x.shape[1]):
            raise AdapterError(f"decode(z) must return a mean [..., D={x.shape[1]}]; got {tuple(mu.shape)} for z "
                               f"[2, {H}]")
        try:
            form = decoder_variance_form(sigma2, mu)
        except ValueError as err:
            raise AdapterError(str(err)) from None
        _positive(sigma2, "decode(z)'s variance")
        alpha2 = prior_variances(model)
        if alpha2 is not None:
            if not isinstance(alpha2, Tensor) or alpha2.shape != (H,):
                raise AdapterError(f"prior_var() must return [H={H}]; got "
                                   f"{tuple(alpha2.shape) if isinstance(alpha2, Tensor) else type(alpha2).__name__}")
            _positive(alpha2, "prior_var()")
    return ModelShape(D=int(x.shape[1]), H=H, decoder_variance=form, learned_prior=alpha2 is not None,
                      entropy_formula=entropy_formula(form, alpha2 is not None))
