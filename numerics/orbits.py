"""The variance-scaling orbits of a Gaussian VAE, as maps of its parameters (DESIGN.md, "gap").

Gap identity: F - S = residual_decoder + 1/2 sum_h r_h at every parameter value, where each residual
is minus the derivative of F along one orbit through the current parameters:

* decoder orbit, sigma^2 -> e^t sigma^2 (Eq. 21; VAE-3: sigma_d^2(z) -> e^t sigma_d^2(z) for every d
  and z, Eqs. 51-58):                                   dF/dt = -residual_decoder;
* prior orbit h. VAE-2 (learned prior, Eqs. 12-18): alpha_h^2 -> e^t alpha_h^2 (Eq. 23). The other
  kinds (prior fixed to N(0, 1)) use the equivalent reparametrisation of Prop. 2's proof
  (Eqs. 26-27): the encoder mean of latent h times e^(-t/2), its variance times e^(-t), and column h
  of the first decoder layer (of both decoder networks for VAE-3) times e^(t/2), so that every
  decoded z, hence the reconstruction term, is unchanged:   dF/dt = -r_h / 2.

Each map returns the parameters it changes as functions of t (out of place, differentiable in t), so
`numerics.verdict` differentiates F along an orbit in forward mode with the exact tangent and
`numerics.projection` moves a model by a finite t = log(factor): one implementation for both.

An orbit exists in the model family only where the parametrisation is closed under its scaling
(DESIGN.md, "criterion"; `numerics.links`): a free variance always is; a network variance head only
with an "exp" or "square" link. `missing_orbits` names the orbits that do not exist and why.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from numerics.links import get_link
from numerics.models import GaussianVAE

DECODER = "decoder"
Params = Mapping[str, Tensor]


class NotCovered(ValueError):
    """The orbit does not exist in the model family: its variance head is not closed under scaling."""


def orbit_names(model: GaussianVAE) -> list[str]:
    """"decoder", then "prior 0" ... "prior H-1"."""
    return [DECODER] + [f"prior {h}" for h in range(model.H)]


def _last(prefix: str, layers) -> str:
    return f"{prefix}.layers.{len(layers) - 1}"


def _head_reason(link: str, what: str) -> str:
    return (f"{what} is link(affine network output) with the {link!r} link, which is not closed under "
            f"variance scaling (DESIGN.md 'criterion': only exp and square heads are)")


def missing_orbits(model: GaussianVAE) -> dict[str, str]:
    """Orbit name -> one-line reason, for every orbit that does not exist in `model`'s family."""
    if model.kind not in ("linear", "vae1", "vae2", "vae3"):
        raise ValueError(f"orbits are defined for the built-in model kinds; got {model.kind!r}")
    missing = {}
    if model.kind == "vae3" and get_link(model.dec_link_name).scale_head is None:
        missing[DECODER] = _head_reason(model.dec_link_name, "the decoder variance sigma_d^2(z)")
    if model.kind in ("vae1", "vae3") and get_link(model.enc_link_name).scale_head is None:
        reason = _head_reason(model.enc_link_name, "the encoder variance tau_h^2(x)")
        missing.update({f"prior {h}": reason for h in range(model.H)})
    return missing


def _require(model: GaussianVAE, orbit: str) -> None:
    reason = missing_orbits(model).get(orbit)
    if reason is not None:
        raise NotCovered(f"no {orbit} orbit: {reason}")


def decoder_move(model: GaussianVAE, params: Params, t: Tensor) -> dict[str, Tensor]:
    """The decoder-orbit parameters at sigma^2 -> e^t sigma^2 (t a scalar; VAE-3: a scalar or one per
    output dimension d). NotCovered for a variance head whose link is not closed under scaling."""
    if model.kind == "vae3":
        _require(model, DECODER)
        head = _last("dec_var", model.dec_var.layers)
        weight, bias = params[f"{head}.weight"], params[f"{head}.bias"]
        weight, bias = get_link(model.dec_link_name).scale_head(weight, bias, t.expand(bias.shape))
        return {f"{head}.weight": weight, f"{head}.bias": bias}
    return {"sigma2_raw": get_link(model.dec_link_name).scale_free(params["sigma2_raw"], t.reshape(()))}


def prior_move(model: GaussianVAE, params: Params, t: Tensor) -> dict[str, Tensor]:
    """The prior-orbit parameters after moving along orbit h by t[h], for every h at once (t [H]; the
    orbits of different h touch different rows and columns, so they commute). NotCovered for an
    encoder variance head whose link is not closed under scaling."""
    if model.kind == "vae2":
        return {"prior_var_raw": get_link(model.dec_link_name).scale_free(params["prior_var_raw"], t)}
    shrink, grow = torch.exp(-0.5 * t), torch.exp(0.5 * t)
    if model.kind == "linear":
        return {"V": params["V"] * shrink[:, None],
                "tau2_raw": get_link(model.enc_link_name).scale_free(params["tau2_raw"], -t),
                "W": params["W"] * grow[None, :]}
    for h in range(model.H):
        _require(model, f"prior {h}")
    mean, var = _last("enc_mean", model.enc_mean.layers), _last("enc_var", model.enc_var.layers)
    var_weight, var_bias = get_link(model.enc_link_name).scale_head(params[f"{var}.weight"], params[f"{var}.bias"], -t)
    moved = {f"{mean}.weight": params[f"{mean}.weight"] * shrink[:, None], f"{mean}.bias": params[f"{mean}.bias"] * shrink,
             f"{var}.weight": var_weight, f"{var}.bias": var_bias}
    for net in ("dec_mean", "dec_var") if model.kind == "vae3" else ("dec_mean",):
        name = f"{net}.layers.0.weight"
        moved[name] = params[name] * grow[None, :]
    return moved


def move(model: GaussianVAE, params: Params, orbit: str, t: Tensor) -> dict[str, Tensor]:
    """The parameters `orbit` ("decoder" or "prior h") changes, at orbit parameter t (a scalar)."""
    if orbit == DECODER:
        return decoder_move(model, params, t)
    if orbit.startswith("prior "):
        h = int(orbit.split()[1])
        if not 0 <= h < model.H:
            raise ValueError(f"no orbit {orbit!r}: the model has H = {model.H} latents")
        one_hot = torch.zeros(model.H, dtype=t.dtype, device=t.device)
        one_hot[h] = 1.0
        return prior_move(model, params, t * one_hot)
    raise ValueError(f"unknown orbit {orbit!r}; valid: {', '.join(orbit_names(model))}")
