"""Projection onto the variance-stationary set: a practitioner's tool, NEVER part of `verify`.

Given any trained Gaussian VAE, the ELBO restricted to each variance-scaling direction (DESIGN.md,
"gap") has a closed-form maximiser:

* decoder, scalar sigma^2 (linear VAE, VAE-1, VAE-2; Eq. 21): sigma^2 := (1/(N D)) sum_n E_q||x_n - mu(z)||^2;
* decoder, VAE-3 (Eqs. 51-58): sigma_d^2(z) -> c_d sigma_d^2(z) with
  c_d = (1/N) sum_n E_q[(x_nd - mu_d(z))^2 / sigma_d^2(z)], realised on the variance network's output
  layer (exp link: bias_d += log c_d; square link: row d scaled by sqrt(c_d));
* prior (Eq. 23), s_h = (1/N) sum_n (nu_h^2 + tau_h^2) / alpha_h^2: VAE-2 sets alpha_h^2 := s_h alpha_h^2;
  the other kinds (prior fixed to N(0, 1)) use the equivalent reparametrisation of Prop. 2's proof
  (Eqs. 26-27): nu_h -> nu_h / sqrt(s_h), tau_h^2 -> tau_h^2 / s_h, and column h of the first decoder
  layer(s) times sqrt(s_h), which leaves every decoded z, hence the reconstruction term, unchanged.

After this step all gap residuals are zero on the design used (the bound then equals the three
entropies by construction) and the ELBO cannot have decreased: each step is the exact maximiser of F
along its direction, and the directions are separable. Its value is "the value of the bound after
projection onto the variance-stationary set". Because the residuals vanish BY CONSTRUCTION, a model
that went through this projection is no evidence for the propositions; `numerics.verify` never calls
it. Each step is a finite move along a variance-scaling orbit (`numerics.orbits`, the maps the
verdict's certificate differentiates). A network variance head with a softplus link is not closed
under the scalings (DESIGN.md, "criterion"), so it cannot be projected and ValueError is raised.

CLI: ``python -m numerics.projection RUN_DIR [--nodes 16 | --samples K] [--device D] [--threads T] [--json]``
(the run is not modified; sizes are checked against their ranges and this machine's memory first).
"""
from __future__ import annotations

import copy
import json
import math
import sys
from dataclasses import dataclass

import torch
from torch import Tensor

from numerics import estimators, limits, orbits
from numerics.cli import OneLineParser, UsageError, run_main
from numerics.models import GaussianVAE


@dataclass
class ProjectionResult:
    model: GaussianVAE            # the projected copy
    before: dict                  # Evaluation.to_dict() on the design, before
    after: dict                   # ... after
    prior_scale: list[float]      # s_h
    decoder_scale: list[float]    # sigma^2 factor (one value) or c_d (VAE-3)

    def to_dict(self) -> dict:
        return {"before": self.before, "after": self.after, "prior_scale": self.prior_scale,
                "decoder_scale": self.decoder_scale, "elbo_increase": self.after["elbo"] - self.before["elbo"]}


def _decoder_scale(model: GaussianVAE, x: Tensor, design: estimators.Design | None, chunk: int) -> Tensor:
    """Scalar kinds: [1] = (1/(N D)) sum_n E_q||x - mu||^2 / sigma^2; VAE-3: [D] = c_d. Both are the
    factors by which the decoder variance must be multiplied to make its residual vanish."""
    N = x.shape[0]
    total = 0
    for a in range(0, N, chunk):
        xb = x[a:a + chunk]
        nu, tau2 = model.encode(xb)
        if design is None:  # linear VAE: analytic second moment
            mu, sigma2 = model.decode(nu)
            q = ((xb - mu) ** 2).sum(-1) + (tau2 * (model.W ** 2).sum(0)).sum(-1)
            total = total + (q / sigma2).sum().reshape(1)
            continue
        eps = design.eps if design.shared else design.eps[:, a:a + chunk]
        mu, sigma2 = model.decode(nu + torch.sqrt(tau2) * eps)
        ratio = (xb - mu) ** 2 / sigma2                                 # [K,n,D]
        weighted = (design.weights[:, None, None] * ratio).sum((0, 1))  # [D]
        total = total + (weighted if model.kind == "vae3" else weighted.sum().reshape(1))
    return total / (N * (1 if model.kind == "vae3" else model.D))


def _prior_scale(model: GaussianVAE, x: Tensor) -> Tensor:
    nu, tau2 = model.encode(x)
    return ((nu * nu + tau2) / model.prior_var()).mean(0)


def _assign(model: GaussianVAE, moved: dict[str, Tensor]) -> None:
    """Copy the moved parameter values into `model` (in place)."""
    named = dict(model.named_parameters())
    for name, value in moved.items():
        named[name].copy_(value.to(named[name].dtype))


def _detached(model: GaussianVAE) -> dict[str, Tensor]:
    return {name: p.detach() for name, p in model.named_parameters()}


def apply_prior_scale(model: GaussianVAE, s: Tensor) -> None:
    """Move `model` (in place, under no_grad) along the prior orbits by t_h = log s_h
    (`orbits.prior_move`): second moments / s_h, F's reconstruction term unchanged (Eqs. 26-27);
    s [H] > 0. `orbits.NotCovered` (a ValueError) for an encoder variance head not closed under scaling."""
    _assign(model, orbits.prior_move(model, _detached(model), torch.log(s)))


def apply_decoder_scale(model: GaussianVAE, c: Tensor) -> None:
    """Multiply the decoder variance by c (in place, under no_grad; `orbits.decoder_move` at t = log c):
    [1] for a scalar sigma^2, [D] (or [1], broadcast) for VAE-3. `orbits.NotCovered` (a ValueError) for a
    variance head not closed under scaling."""
    t = torch.log(c)
    _assign(model, orbits.decoder_move(model, _detached(model), t if model.kind == "vae3" else t.reshape(())))


def project_variances(model: GaussianVAE, x: Tensor, design: estimators.Design | None, *,
                      chunk_size: int = 1000) -> ProjectionResult:
    """A projected copy of `model` (see the module docstring) and its evaluation before/after on `design`."""
    if model.kind != "linear" and design is None:
        raise ValueError(f"model kind {model.kind!r} needs a design to compute E_q")
    projected = copy.deepcopy(model).eval()
    with torch.no_grad():
        before = estimators.evaluate(projected, x, design, chunk_size=chunk_size).to_dict()
        s = _prior_scale(projected, x)
        apply_prior_scale(projected, s)
        c = _decoder_scale(projected, x, design, chunk_size)
        apply_decoder_scale(projected, c)
        after = estimators.evaluate(projected, x, design, chunk_size=chunk_size).to_dict()
    return ProjectionResult(projected, before, after, s.tolist(), c.tolist())


def default_design(model: GaussianVAE, *, nodes: int | None, samples: int | None, seed: int = 0):
    """Gauss-Hermite (nodes per dim; default 16 for H <= 3) or `samples` MC points per data point."""
    if model.kind == "linear":
        return None
    ref = next(model.parameters())
    if samples:
        return ("mc", samples)
    if nodes is None and model.H > 3:
        return ("mc", 64)
    return estimators.gauss_hermite_design(nodes or 16, model.H, dtype=ref.dtype, device=ref.device)


PROG = "python -m numerics.projection"
DEFAULT_NODES = 16
CHUNK_ROWS = 4_000_000
"""Base points x data points x D per forward pass of the projection's evaluation."""


def _design_size(model: GaussianVAE, nodes: int | None, samples: int | None) -> limits.DesignSize | None:
    """The design `default_design` will build, as the memory estimate counts it."""
    if model.kind == "linear":
        return None
    if samples or (nodes is None and model.H > 3):
        return limits.DesignSize(samples or 64, per_point=True, option="--samples")
    return limits.DesignSize(nodes or DEFAULT_NODES, per_point=False, power=True, option="--nodes")


def _check_design_memory(run, model: GaussianVAE, x: Tensor, size: limits.DesignSize | None, device: str) -> int:
    """The points per chunk of the projection's evaluation, after `limits.check_memory` of its design."""
    points = 1 if size is None else size.points(model.H)
    chunk = max(1, CHUNK_ROWS // (points * model.D))
    workload = limits.Workload(model=model.kind, data_dim=model.D, latent_dim=model.H,
                               hidden=tuple(run.config["hidden"]), n_train=x.shape[0],
                               designs=() if size is None else (size,), chunk_rows=chunk * points)
    limits.check_memory(workload, device=device)
    return chunk


def main(argv: list[str] | None = None) -> int:
    """The CLI: exit 0 when the projected bound is finite, 1 when not, 2 for bad input (one line)."""
    from numerics.verify import DEFAULT_THREADS, DEVICES, resolve_device

    parser = OneLineParser(prog=PROG,
                           description="Value of the bound after projection onto the variance-stationary "
                                       "set (closed-form variance step; a practitioner's tool, not evidence "
                                       "for the propositions). The run directory is not modified.",
                           epilog="Exit status: 0 done (the projected bound is finite), 1 it is not, 2 usage error "
                                  "(an option, the run directory or its checkpoint).")
    parser.add_argument("run_dir", help="a run directory written by `python -m numerics.verify`")
    parser.add_argument("--nodes", type=limits.argparse_type("--nodes"),
                        help=f"Gauss-Hermite nodes per latent dimension (default {DEFAULT_NODES}, H <= 3)")
    parser.add_argument("--samples", type=limits.argparse_type("--samples"),
                        help="use this many MC samples per data point instead (default 64 when H > 3)")
    parser.add_argument("--seed", type=limits.argparse_type("--seed"), default=0, help="seed of the MC design")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto (default) = cuda if available")
    parser.add_argument("--threads", type=limits.argparse_type("--threads"), default=DEFAULT_THREADS,
                        help=f"CPU threads (default {DEFAULT_THREADS}, as every numerics CLI)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    def body() -> int:
        from numerics.rundir import json_safe, load_run

        device = resolve_device(args.device)
        run = load_run(args.run_dir)
        if run.model is None:
            raise UsageError(f"{args.run_dir} has no checkpoint yet")
        torch.set_num_threads(args.threads)
        model = run.model.double().to(device)
        x = run.data[0].double().to(device)
        chunk = _check_design_memory(run, model, x, _design_size(model, args.nodes, args.samples), str(device))
        design = default_design(model, nodes=args.nodes, samples=args.samples)
        if isinstance(design, tuple):
            gen = torch.Generator().manual_seed(args.seed)
            design = estimators.mc_design(design[1], x.shape[0], model.H, generator=gen, device=device)
        try:
            result = project_variances(model, x, design, chunk_size=chunk)
        except orbits.NotCovered as err:
            raise UsageError(str(err)) from None
        out = result.to_dict()
        if args.json:
            print(json.dumps(json_safe(out), indent=2, allow_nan=False))
        else:
            b, a = out["before"], out["after"]
            print(f"design: {'analytic' if design is None else design.kind} ({0 if design is None else design.K} points)")
            print(f"before: F = {b['elbo']:.10g}  S = {b['entropy_sum']:.10g}  gap = {b['gap']:.3g}")
            print(f"after projection onto the variance-stationary set: F = {a['elbo']:.10g}  "
                  f"S = {a['entropy_sum']:.10g}  gap = {a['gap']:.3g} (zero by construction)")
            print(f"F increased by {out['elbo_increase']:.3g}; prior scale s_h = {out['prior_scale']}")
        return 0 if math.isfinite(out["after"]["elbo"] or math.nan) else 1

    return run_main(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
