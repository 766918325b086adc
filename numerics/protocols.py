"""Training protocols: which optimiser, on which objective estimate, for how long.

Both protocols optimise ALL parameters jointly with a generic optimiser (Adam, L-BFGS). Neither
uses a closed-form variance update: by the gap identity (DESIGN.md, "gap") such an update zeroes the
residuals by construction and would prove nothing (that projection lives in `numerics.projection`).

``paper`` (Appendix C.3): Adam, lr 1e-3, mini-batches of 2000, 100 fresh reparametrised samples per
data point and step, float32 (PyTorch's default, as in Listing 1). One protocol step = one epoch.

``fast`` (this package's default): float64, all parameters jointly, generic optimisers only.
  linear: L-BFGS then damped Newton on the analytic ELBO (exact; converges to round-off).
  vae1/vae2/vae3: Adam on fresh samples (a new Monte Carlo design every step; mini-batches) as a warm
  start, the step size lowered in a second phase, then L-BFGS (history 200) with strong-Wolfe line
  search on a FIXED tensor-product Gauss-Hermite design, 4 x 4 nodes (vae2, vae3). vae1 (MNIST) keeps
  a per-point randomised-QMC design with K = 8 (`estimators.rqmc_design`) and history 50: with a
  Gauss-Hermite 3 x 3 design and history 200 its fresh rel_gap was 6.3e-3 against 2.5e-3
  (`benchmarks/verify_targets.py --models vae1`); a 784-dimensional decoder adapts to 9 shared nodes.
  What was measured (VAE-3 on PCA-ring, N = 10,000, from the same Adam warm start, fresh gap on an
  independent rqmc evaluation with K = 128; `benchmarks/polish_study.py`):
  - design bias (in-design minus fresh gap) after 90 s of L-BFGS: ~1.5e-3 nats for a per-point rqmc
    design with K = 8, ~1e-3 for Gauss-Hermite 3 x 3, ~3e-4 for 4 x 4, ~1e-2 for 2 x 2. The parameters
    adapt to a fixed design (the decoder networks can bend between its points), so the bias is not
    the naive sd / (K sqrt N) and it grows slowly with training; a Gauss-Hermite rule is exact for
    the locally polynomial part of the integrand, which leaves the networks little to adapt to.
  - history 200 instead of 50: ELBO after 90 s 8.500 vs 8.473 nats (rqmc 8) / 8.432 (GH 4 x 4).
  - not converged within minutes, whatever the design: the ELBO still rises by ~4e-4 nats per second
    after 4 minutes of L-BFGS, and the gap residuals swing by +-5e-3 nats around zero. The same holds
    for 10-unit networks and for smooth (tanh, SiLU) hidden units, so neither size nor ReLU kinks are
    the cause; the variance-scaling directions are soft (curvature ~1 per point in log-scale units)
    next to the mean networks' (~1/sigma^2), and every generic optimiser tried (Adam with iterate
    averaging, L-BFGS with history 50-1000, diagonally preconditioned L-BFGS) converges them slowly.
At a stationary point of the fixed-design objective the in-design gap is zero to optimiser
precision; the verdict is nevertheless taken on an independent evaluation (`numerics.verify`), so what
the verdict measures is how close the design's optimum is to a stationary point of the true ELBO.

``control_protocol(model)``: the short re-optimisation of the Fig. 1a control run (`numerics.verify`):
the fast protocol's polishing phase with a small budget, float64, whatever the main protocol. The
control needs no tight stationary point: its gap identity holds at any parameters, and its gap (a
variance held at a wrong scale) is orders of magnitude above the tolerance.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

PROTOCOL_NAMES = ("fast", "paper")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Phase:
    """One optimisation phase.

    kind: "adam" (fresh Monte Carlo samples every step), "lbfgs" (fixed design) or "newton" (damped
      Newton on the exact Hessian, fixed design; small models only).
    steps: number of protocol steps (adam: passes over the data; lbfgs: calls of LBFGS.step, each
      with up to `inner_iters` iterations). An lbfgs phase ends early when the optimiser stalls.
    batch_size: None = full batch.
    samples: fresh samples per data point (adam).
    design: "gauss-hermite" (nodes per latent dim = design_size), "mc" (design_size fixed samples per
      point), "rqmc" (design_size randomised-QMC points per point, `estimators.rqmc_design`), "sobol"
      (design_size scrambled Sobol points shared by all points) or "analytic" (no design: the linear
      VAE's ELBO is closed-form); lbfgs only.
    """

    kind: str
    steps: int
    lr: float = 1e-3
    batch_size: int | None = None
    samples: int = 1
    design: str = "gauss-hermite"
    design_size: int = 8
    history: int = 100
    inner_iters: int = 25
    log_every: int = 1
    checkpoint_every: int = 1


@dataclass(frozen=True)
class Protocol:
    name: str
    dtype: str
    phases: tuple[Phase, ...]

    def total_steps(self) -> int:
        return sum(phase.steps for phase in self.phases)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Protocol":
        phases = tuple(Phase(**p) for p in d["phases"])
        return Protocol(name=d["name"], dtype=d["dtype"], phases=phases)


# Fast protocol per model kind; sizes chosen by measurement (benchmarks/verify_targets.py, report of
# benchmarks/polish_study.py). Warm start: Adam on fresh samples in mini-batches (cheap, unbiased), the step
# size lowered in a second phase; polish: L-BFGS on a Gauss-Hermite design (see the module docstring).
_FAST: dict[str, tuple[Phase, ...]] = {
    "linear": (Phase("lbfgs", steps=3, design="analytic", inner_iters=50),
               Phase("newton", steps=4, design="analytic")),
    "vae1": (Phase("adam", steps=200, lr=1e-3, batch_size=500, samples=1, log_every=20, checkpoint_every=50),
             Phase("adam", steps=100, lr=3e-4, batch_size=500, samples=1, log_every=20, checkpoint_every=50),
             Phase("lbfgs", steps=8, design="rqmc", design_size=8, history=50, inner_iters=25)),
    "vae2": (Phase("adam", steps=150, lr=3e-3, batch_size=1000, samples=1, log_every=25, checkpoint_every=50),
             Phase("adam", steps=50, lr=1e-3, batch_size=1000, samples=1, log_every=25, checkpoint_every=50),
             Phase("lbfgs", steps=6, design="gauss-hermite", design_size=4, history=200, inner_iters=25)),
    "vae3": (Phase("adam", steps=150, lr=3e-3, batch_size=1000, samples=1, log_every=25, checkpoint_every=50),
             Phase("adam", steps=50, lr=1e-3, batch_size=1000, samples=1, log_every=25, checkpoint_every=50),
             Phase("lbfgs", steps=8, design="gauss-hermite", design_size=4, history=200, inner_iters=25)),
}

_CONTROL_ITERS = {"linear": 50, "vae1": 10, "vae2": 10, "vae3": 10}
"""L-BFGS iterations of the control's re-optimisation (one protocol step)."""

_PAPER_EPOCHS = {"linear": 300, "vae1": 300, "vae2": 300, "vae3": 300}


def get_protocol(name: str, model: str, *, steps: int | None = None, dtype: str | None = None,
                 warmup_steps: int | None = None) -> Protocol:
    """The protocol `name` for model kind `model`.

    steps: paper = number of epochs; fast = number of steps of the final polishing phase.
    warmup_steps: fast only, the length of the phases before it (Adam warm start; linear: L-BFGS).
    dtype overrides the protocol's dtype.
    """
    if name not in PROTOCOL_NAMES:
        raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOL_NAMES)}")
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    if (steps is not None and steps < 0) or (warmup_steps is not None and warmup_steps < 0):
        raise ValueError("steps must be >= 0")
    if name == "paper":
        epochs = _PAPER_EPOCHS[model] if steps is None else steps
        phase = Phase("adam", steps=epochs, lr=1e-3, batch_size=2000, samples=100,
                      log_every=max(1, epochs // 100), checkpoint_every=max(1, epochs // 50))
        return Protocol("paper", dtype or "float32", (phase,))
    phases = _FAST[model]
    if warmup_steps is not None:
        phases = tuple(replace(p, steps=warmup_steps) for p in phases[:-1]) + phases[-1:]
    if steps is not None:
        phases = phases[:-1] + (replace(phases[-1], steps=steps),)
    return Protocol("fast", dtype or "float64", phases)


def control_protocol(model: str) -> Protocol:
    """The Fig. 1a control's re-optimisation for model kind `model`: one L-BFGS step of
    _CONTROL_ITERS[model] iterations on the fast protocol's polishing design, float64."""
    if model not in _FAST:
        raise ValueError(f"unknown model kind {model!r}; valid: {', '.join(_FAST)}")
    polish = next(p for p in reversed(_FAST[model]) if p.kind == "lbfgs")
    return Protocol("control", "float64", (replace(polish, steps=1, inner_iters=_CONTROL_ITERS[model]),))
