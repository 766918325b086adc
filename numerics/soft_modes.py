"""Soft modes: why a generic optimiser closes the gap slowly, measured on a trained model.

Each gap residual is a derivative of F along a variance-scaling orbit (DESIGN.md, "gap";
`numerics.orbits` writes the orbits as maps of the parameters):

    prior,   s_h = e^t  (Eqs. 26-27):   dF/dt = -r_h / 2
    decoder, c   = e^t  (Eq. 21):       dF/dt = -residual_decoder

so the gap closes exactly as fast as the optimiser drives these directional derivatives to zero.
For a network VAE the prior orbits are exact symmetries of the reconstruction term, broken only by
the KL term: the curvature of F along them is of order one per data point, while the largest
curvature of the objective (decoder means, weighted by 1/sigma^2) can be 10^5 or more times larger.
A Krylov or quasi-Newton method (CG, L-BFGS) on a quadratic with condition number kappa needs on
the order of sqrt(kappa) iterations per e-fold of a residual along the softest direction; a diagonal
preconditioner (Adam) is not expected to help, because the soft direction is a cancellation between layers whose
own curvatures are stiff.

`soft_modes(model, x, design)` measures, for every orbit, on the fixed `design` (float64):
the tangent v in parameter space (the exact derivative of the orbit map, forward mode); the
directional derivative g.v of the loss -F (autograd), next to the value the residual predicts (a
check of the identity on raw parameters); the curvature v'Hv/v'v of -F along it (Hessian-vector
products); lambda_max of the Hessian (power iteration); and kappa = lambda_max / curvature.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
from torch import Tensor
from torch.func import jvp

from numerics import estimators, orbits
from numerics.models import GaussianVAE


@dataclass
class SoftMode:
    """One variance-scaling orbit of a model at its current parameters (all per data point, loss = -F)."""

    name: str                 # "prior h" or "decoder"
    residual: float           # r_h or residual_decoder on the design
    slope: float              # g . v, the loss's derivative along the orbit (autograd)
    predicted_slope: float    # r_h / 2 or residual_decoder (the identity)
    tangent_norm: float       # |v|
    curvature: float          # v' H v / v' v
    lambda_max: float         # largest |eigenvalue| of H (power iteration)

    @property
    def kappa(self) -> float:
        """lambda_max / curvature along the orbit (inf when the curvature is not positive)."""
        return self.lambda_max / self.curvature if self.curvature > 0 else math.inf

    def to_dict(self) -> dict:
        return {**asdict(self), "kappa": self.kappa}


def _flat(tensors) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def orbit_tangent(model: GaussianVAE, orbit: str, index: int = 0) -> Tensor:
    """d theta / dt at t = 0 along an orbit, flattened over `model.parameters()`: the exact tangent of
    the orbit map (`numerics.orbits.move`, forward-mode autograd).

    orbit "prior": latent `index`'s prior orbit; "decoder": the whole decoder variance. Raises
    `orbits.NotCovered` (a ValueError) where the parametrisation is not closed under the scaling
    (softplus variance heads; DESIGN.md, "criterion").
    """
    if orbit not in ("prior", "decoder"):
        raise ValueError(f"unknown orbit {orbit!r}; valid: prior, decoder")
    name = orbits.DECODER if orbit == "decoder" else f"prior {index}"
    params = {k: p.detach() for k, p in model.named_parameters()}
    ref = next(iter(params.values()))

    def flat_params(t: Tensor) -> Tensor:
        return _flat({**params, **orbits.move(model, params, name, t)}.values())

    t0 = torch.zeros((), dtype=ref.dtype, device=ref.device)
    return jvp(flat_params, (t0,), (torch.ones_like(t0),))[1]


class ChunkedObjective:
    """-F on a fixed design, summed chunk by chunk: gradient and Hessian-vector products (float64)."""

    def __init__(self, model: GaussianVAE, x: Tensor, design: estimators.Design | None, chunk_size: int) -> None:
        self.model, self.x, self.design, self.chunk = model, x, design, max(1, chunk_size)
        self.params = list(model.parameters())

    def losses(self) -> Iterator[Tensor]:
        """Each chunk's share of -F (weighted by its size); their sum is -F."""
        n = self.x.shape[0]
        for a in range(0, n, self.chunk):
            b = min(n, a + self.chunk)
            design = estimators.slice_design(self.design, slice(a, b))
            yield -estimators.elbo_objective(self.model, self.x[a:b], design) * ((b - a) / n)

    def grad(self) -> Tensor:
        total = None
        for loss in self.losses():
            g = _flat(torch.autograd.grad(loss, self.params))
            total = g if total is None else total + g
        return total

    def hvp(self, v: Tensor) -> Tensor:
        pieces, i = [], 0
        for p in self.params:
            pieces.append(v[i:i + p.numel()].view_as(p))
            i += p.numel()
        total = None
        for loss in self.losses():
            g = torch.autograd.grad(loss, self.params, create_graph=True)
            h = _flat(torch.autograd.grad(g, self.params, grad_outputs=pieces))
            total = h if total is None else total + h
        return total


def lambda_max(objective: ChunkedObjective, *, iters: int, generator: torch.Generator) -> float:
    """Largest |eigenvalue| of the Hessian of -F by power iteration (`iters` Hessian-vector products)."""
    u = torch.randn(sum(p.numel() for p in objective.params), generator=generator, dtype=torch.float64)
    u = (u / u.norm()).to(dtype=objective.x.dtype, device=objective.x.device)
    estimate = 0.0
    for _ in range(iters):
        w = objective.hvp(u)
        estimate = float(u @ w)
        u = w / w.norm()
    return abs(estimate)


def soft_modes(model: GaussianVAE, x: Tensor, design: estimators.Design | None, *, chunk_size: int = 1000,
               power_iters: int = 20, seed: int = 0) -> list[SoftMode]:
    """The prior orbit of every latent and the decoder orbit of `model` on `design` (see the module docstring)."""
    model = copy.deepcopy(model).double().train(False)
    x = x.to(torch.float64)
    if design is not None:
        design = estimators.Design(eps=design.eps.double(), weights=design.weights.double(), kind=design.kind,
                                   replicates=design.replicates)
    objective = ChunkedObjective(model, x, design, chunk_size)
    with torch.no_grad():
        ev = estimators.evaluate(model, x, design, chunk_size=chunk_size)
    g = objective.grad()
    top = lambda_max(objective, iters=power_iters, generator=torch.Generator().manual_seed(seed))
    orbits = [("prior", h, f"prior {h}", float(ev.residual_prior[h]), float(ev.residual_prior[h]) / 2.0)
              for h in range(model.H)]
    orbits.append(("decoder", 0, "decoder", float(ev.residual_decoder), float(ev.residual_decoder)))
    modes = []
    for orbit, index, name, residual, predicted in orbits:
        v = orbit_tangent(model, orbit, index).to(x.device)
        unit = v / v.norm()
        modes.append(SoftMode(name=name, residual=residual, slope=float(g @ v), predicted_slope=predicted,
                              tangent_norm=float(v.norm()), curvature=float(unit @ objective.hvp(unit)),
                              lambda_max=top))
    return modes
