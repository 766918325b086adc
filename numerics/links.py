"""Variance links: map an unconstrained real parameter (or network output) to a positive variance.

The link is part of the model's parametrisation and decides whether the paper's theorems apply
(DESIGN.md, "criterion"): a *free* scalar variance is closed under the scalings sigma^2 -> e^t sigma^2
for any monotone link, but a variance that is the link of an affine network output, f(a), is closed
iff f(a) lies in span{f'(a), a f'(a)}: "exp" and "square" are, "softplus" is not.

Only links that are strictly positive on their whole domain (or, for "square", positive except on a
null set that training never reaches in practice) are offered; links that can return 0 or a negative
variance (relu, linear) would need a silent clamp and are therefore not offered.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F


def _exp(raw: Tensor) -> Tensor:
    return torch.exp(raw)


def _softplus(raw: Tensor) -> Tensor:
    return F.softplus(raw)


def _square(raw: Tensor) -> Tensor:
    return raw * raw


LINKS: dict[str, Callable[[Tensor], Tensor]] = {
    "exp": _exp,
    "softplus": _softplus,
    "square": _square,
}
"""Variance links by name: raw real -> positive variance."""


def _check_name(name: str) -> None:
    if name not in LINKS:
        raise ValueError(f"unknown link {name!r}; valid: {', '.join(LINKS)}")


def get_link(name: str) -> Callable[[Tensor], Tensor]:
    """The link function called `name` (one of `LINKS`); ValueError listing the valid names otherwise."""
    _check_name(name)
    return LINKS[name]


def inverse_link(name: str, var: Tensor | float) -> Tensor:
    """The raw value whose link is `var` (> 0), used to initialise a variance to a given value.

    exp: log(var); softplus: log(expm1(var)) written as var + log(-expm1(-var)) (stable for large and
    small var); square: sqrt(var) (the positive root).
    """
    _check_name(name)
    v = torch.as_tensor(var)
    if not torch.is_floating_point(v):
        v = v.to(torch.get_default_dtype())
    if bool((v <= 0).any()):
        raise ValueError(f"a variance must be positive to invert the {name!r} link")
    if name == "exp":
        return torch.log(v)
    if name == "softplus":
        return v + torch.log(-torch.expm1(-v))
    return torch.sqrt(v)
