"""Variance links: map an unconstrained real parameter (or network output) to a positive variance.

The link is part of the model's parametrisation and decides whether the paper's propositions apply
(DESIGN.md, "criterion"). Their proofs move the model along variance-scaling orbits (sigma^2 ->
e^t sigma^2, and the prior scalings of Eqs. 26-27), so the model family must contain those orbits:

* a FREE variance (a scalar parameter, or one per latent) is closed under the scalings for any
  monotone link: `Link.scale_free` gives the raw value whose variance is e^s times the old one;
* a variance that is the link of an AFFINE network output a = W h + b, f(a), is closed iff
  f(a) lies in span{f'(a), a f'(a)}, i.e. a change of (W, b) alone multiplies f(a) by e^s at every
  input: "exp" (b -> b + s) and "square" ((W, b) -> e^(s/2) (W, b)) are closed; "softplus" and
  "softplus-std" are not (`Link.scale_head` is None for them).

"softplus-std" is the authors' own parametrisation (Listing 1 of Appendix C.3 and their verification
code): the link gives the standard deviation, sigma = softplus(a), so sigma^2 = softplus(a)^2.

Only links that are strictly positive on their whole domain (or, for "square", positive except on a
null set that training never reaches in practice) are offered; links that can return 0 or a negative
variance (relu, linear) would need a silent clamp and are therefore not offered.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

HeadScale = Callable[[Tensor, Tensor, Tensor], "tuple[Tensor, Tensor]"]
"""(W [out, in], b [out], s [out]) -> (W', b') with link(W' h + b') = e^s link(W h + b) for every h."""


def _softplus_inverse(value: Tensor) -> Tensor:
    """The raw a with softplus(a) = value > 0: log(expm1(v)) written as v + log(-expm1(-v)) (stable
    for large and small v)."""
    return value + torch.log(-torch.expm1(-value))


def _exp_head(weight: Tensor, bias: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    return weight, bias + s


def _square_head(weight: Tensor, bias: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    root = torch.exp(0.5 * s)
    return weight * root[:, None], bias * root


@dataclass(frozen=True)
class Link:
    """A variance link: `link(raw)` is the variance; `inverse(var)` the raw value giving `var`.

    scale_free(raw, s): the raw value with link(raw') = e^s link(raw) exactly (a free variance; any
      monotone link). Differentiable in s, so the orbit maps (`numerics.orbits`) can be differentiated
      in forward mode.
    scale_head: how to multiply link(W h + b) by e^s at every h by changing (W, b) alone, or None when
      no such change exists (the link is not closed under scaling as a network head).
    """

    name: str
    forward: Callable[[Tensor], Tensor]
    inverse: Callable[[Tensor], Tensor]
    scale_head: HeadScale | None = None
    free_scale: Callable[[Tensor, Tensor], Tensor] | None = None

    def __call__(self, raw: Tensor) -> Tensor:
        return self.forward(raw)

    def scale_free(self, raw: Tensor, s: Tensor) -> Tensor:
        """raw' with link(raw') = e^s link(raw): the link's own closed form where it has one (exp:
        raw + s; square: raw e^(s/2), which keeps the sign of raw), else inverse(e^s link(raw))."""
        if self.free_scale is not None:
            return self.free_scale(raw, s)
        return self.inverse(torch.exp(s) * self.forward(raw))


LINKS: dict[str, Link] = {
    "exp": Link("exp", torch.exp, torch.log, scale_head=_exp_head, free_scale=lambda raw, s: raw + s),
    "softplus": Link("softplus", F.softplus, _softplus_inverse),
    "softplus-std": Link("softplus-std", lambda raw: F.softplus(raw) ** 2,
                         lambda var: _softplus_inverse(torch.sqrt(var))),
    "square": Link("square", lambda raw: raw * raw, torch.sqrt, scale_head=_square_head,
                   free_scale=lambda raw, s: raw * torch.exp(0.5 * s)),
}
"""Variance links by name: raw real -> positive variance."""


def _check_name(name: str) -> None:
    if name not in LINKS:
        raise ValueError(f"unknown link {name!r}; valid: {', '.join(LINKS)}")


def get_link(name: str) -> Link:
    """The link called `name` (one of `LINKS`); ValueError listing the valid names otherwise."""
    _check_name(name)
    return LINKS[name]


def closed_as_head(name: str) -> bool:
    """True when link(affine network output) is closed under variance scaling (DESIGN.md, "criterion")."""
    return get_link(name).scale_head is not None


def inverse_link(name: str, var: Tensor | float) -> Tensor:
    """The raw value whose link is `var` (> 0), used to initialise a variance to a given value.

    exp: log(var); softplus: log(expm1(var)), computed stably; softplus-std: the softplus inverse of
    sqrt(var); square: sqrt(var) (the positive root).
    """
    _check_name(name)
    v = torch.as_tensor(var)
    if not torch.is_floating_point(v):
        v = v.to(torch.get_default_dtype())
    if bool((v <= 0).any()):
        raise ValueError(f"a variance must be positive to invert the {name!r} link")
    return LINKS[name].inverse(v)
