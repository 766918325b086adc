"""Training protocols: which optimiser, on which objective estimate, for how long.

Both protocols optimise ALL parameters jointly with a generic optimiser (Adam, L-BFGS). Neither
uses a closed-form variance update: by the gap identity (DESIGN.md, "gap") such an update zeroes the
residuals by construction and would prove nothing (that projection lives in `numerics.projection`).

``paper`` (Appendix C.3): Adam, lr 1e-3, mini-batches of 2000, 100 fresh reparametrised samples per
data point and step, float32 (PyTorch's default, as in Listing 1). One protocol step = one epoch. The
objective is the paper's estimator for every model, the linear VAE included: the mean over the 100
samples of log p(x|z) minus the analytic KL (Listing 1's `lower_bound`), not the closed-form ELBO.

``fast`` (this package's default): float64, all parameters jointly, generic optimisers only.
  linear: L-BFGS then damped Newton on the analytic ELBO (design "analytic": exact; converges to
  round-off).
  vae1/vae2/vae3: Adam on fresh samples (a new Monte Carlo design every step; mini-batches) as a warm
  start, its step size lowered phase by phase, then L-BFGS (strong-Wolfe line search) on a FIXED
  per-point randomised-QMC design (`estimators.rqmc_design`, K = 16, history 200). A per-point design
  leaves nothing for the optimiser to exploit, where a design shared by all points (Gauss-Hermite
  nodes) can be: the decoder-variance network learns small variances at the few z the nodes reach.
  vae2, vae3: 2,000 Adam epochs in float32 (lr 1e-2, 3e-3, 1e-3, 3e-4; float32 halves their cost and
  a warm start needs no more precision), then 4 x 25 L-BFGS iterations in float64. The long, cheap
  warm start is what brings F near a maximum; a few L-BFGS steps then take the soft
  variance-scaling directions to stationarity.
  vae1 (MNIST): 1,500 epochs of mini-batch Adam in float32 (lr 3e-3, 1e-3, 3e-4; batch 500), then
  24 x 25 L-BFGS iterations in float64: it uses the 5-minute budget of the issue-3 target. The loss
  uses the Gram expansion of `estimators.squared_error_affine`. It converges slowly: F's curvature
  along its prior-scaling orbits is 1e6-1e7 times below the largest Hessian eigenvalue
  (`numerics.soft_modes`), so L-BFGS needs on the order of a thousand iterations per e-fold of r_h.

The sizes were chosen by measurement; the figures, the variants tried and why they were not kept
are in docs/measurements.md (commands: benchmarks/verify_targets.py, benchmarks/polish_study.py,
benchmarks/soft_modes.py).

At a stationary point of the fixed-design objective the in-design gap is zero to optimiser
precision; the convergence grade is nevertheless taken on an independent evaluation
(`numerics.verdict`), so what it measures is how close the design's optimum is to a stationary point
of the true ELBO. The proposition itself is certified on the trained parameters whatever the grade.

``control_protocol(model)``: the short re-optimisation of the Fig. 1a control run (`numerics.verify`):
the fast protocol's polishing phase with a small budget, float64, whatever the main protocol. The
control needs no tight stationary point: its gap identity holds at any parameters, and its gap (a
variance held at a wrong scale) is orders of magnitude above the tolerance.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from numerics.limits import MAX_SAMPLES, MAX_STEPS

PROTOCOL_NAMES = ("fast", "paper")
DTYPES = ("float64", "float32")
PHASE_KINDS = ("adam", "lbfgs", "newton")
DESIGNS = ("analytic", "gauss-hermite", "sobol", "mc", "rqmc")
LOG_PER_DECADE = 20
"""Logged rows per decade of training steps in Adam phases (`log_grid`): enough for the shape of a curve
on a logarithmic step axis (issue 17's figures). Each row is one evaluation on the logging design (in a
default run: VAE-3 0.17 s, VAE-2 0.10 s, VAE-1 0.07 s), so 20 per decade add about 50 rows and 16 s to
the four default verifications, under 3 % of their time."""
MAX_ITERS = 10 ** 6
"""Upper end of L-BFGS's history and inner iterations (far above any protocol's; a bound, not a choice)."""


def _log_bin(step: int, per_decade: int) -> int:
    """The largest k with 10^(k / per_decade) <= step (step >= 1), in exact integer arithmetic."""
    k = math.floor(per_decade * math.log10(step))
    power = step ** per_decade
    while 10 ** (k + 1) <= power:
        k += 1
    while 10 ** k > power:
        k -= 1
    return k


def log_grid(step: int, per_decade: int) -> bool:
    """True when training step `step` (>= 1, counted over the whole run) is the first step of a new bin of
    1/per_decade decade: every step up to about per_decade / ln 10, then `per_decade` steps per decade.
    Deterministic, the same for every run and member, so that curves and sweep statistics line up."""
    if per_decade <= 0 or step < 1:
        return False
    return step == 1 or _log_bin(step, per_decade) > _log_bin(step - 1, per_decade)


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
    dtype: None = the run's dtype (`Protocol.dtype`); "float32" runs this phase in float32 (model and
      data converted on entering it, back on leaving it; the conversion float32 -> float64 is exact).
    log_every, log_per_decade: which steps are logged (`logs`): every `log_every`-th step of the phase
      (0: none), the steps of the run-wide logarithmic grid with `log_per_decade` rows per decade
      (`log_grid`; 0: none), and always the phase's last step.
    Every field is checked on construction (ValueError, one line): a protocol read back from a run's
    config.json is untrusted input.
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
    dtype: str | None = None
    log_per_decade: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PHASE_KINDS:
            raise ValueError(f"unknown phase kind {self.kind!r}; valid: {', '.join(PHASE_KINDS)}")
        if self.design not in DESIGNS:
            raise ValueError(f"unknown design {self.design!r}; valid: {', '.join(DESIGNS)}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"unknown phase dtype {self.dtype!r}; valid: {', '.join(DTYPES)} (or None)")
        for name, low, high in (("steps", 0, MAX_STEPS), ("samples", 1, MAX_SAMPLES), ("design_size", 1, MAX_SAMPLES),
                                ("history", 1, MAX_ITERS), ("inner_iters", 1, MAX_ITERS),
                                ("log_every", 0, MAX_STEPS), ("checkpoint_every", 1, MAX_STEPS),
                                ("log_per_decade", 0, 1000)):
            _check_int(name, getattr(self, name), low, high)
        if self.batch_size is not None:
            _check_int("batch_size", self.batch_size, 1, MAX_SAMPLES)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (0 < self.lr < math.inf):
            raise ValueError(f"'lr' must be a finite number above 0, got {_shown(self.lr)}")

    def logs(self, step: int, phase_step: int) -> bool:
        """Whether the step that just ended is logged: `step` counts over the whole run, `phase_step`
        within this phase (both from 1); the phase's last step is always logged."""
        return (phase_step >= self.steps or (self.log_every > 0 and phase_step % self.log_every == 0)
                or log_grid(step, self.log_per_decade))

    def base_points(self, H: int) -> int:
        """Base points per data point this phase evaluates (Adam: its fresh samples; L-BFGS and Newton:
        its design; 1 for the analytic design)."""
        if self.kind == "adam":
            return self.samples
        if self.design == "gauss-hermite":
            return self.design_size ** H
        return 1 if self.design == "analytic" else self.design_size


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
    def from_dict(d: object) -> "Protocol":
        """The protocol `to_dict` wrote; ValueError (one line) for anything else (a config.json is untrusted)."""
        if not isinstance(d, dict) or not isinstance(d.get("name"), str) or d.get("dtype") not in DTYPES \
                or not isinstance(d.get("phases"), (list, tuple)) or not d["phases"]:
            raise ValueError(f"must be a protocol: name, dtype ({', '.join(DTYPES)}) and a list of phases")
        known = {f.name for f in fields(Phase)}
        phases = []
        for i, p in enumerate(d["phases"]):
            if not isinstance(p, dict) or "kind" not in p or "steps" not in p or set(p) - known:
                raise ValueError(f"phase {i}: must be an object with kind, steps and only the keys of a phase")
            try:
                phases.append(Phase(**p))
            except ValueError as err:
                raise ValueError(f"phase {i}: {err}") from None
        return Protocol(name=d["name"], dtype=d["dtype"], phases=tuple(phases))


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{name}' must be an integer from {low} to {high}, got {_shown(value)}")


_LONG_FLOAT32_WARM_START = tuple(
    Phase("adam", steps=epochs, lr=lr, batch_size=1000, samples=1, log_every=0, log_per_decade=LOG_PER_DECADE,
          checkpoint_every=100, dtype="float32")
    for epochs, lr in ((700, 1e-2), (700, 3e-3), (400, 1e-3), (200, 3e-4)))
"""VAE-2 and VAE-3: 2,000 epochs of mini-batch Adam on fresh samples, in float32, step size lowered in four phases."""

# Fast protocol per model kind; sizes chosen by measurement (benchmarks/verify_targets.py --seeds,
# benchmarks/polish_study.py). Warm start: Adam on fresh samples in mini-batches (cheap, unbiased), the step
# size lowered phase by phase; polish: L-BFGS on a per-point design (see the module docstring).
_FAST: dict[str, tuple[Phase, ...]] = {
    "linear": (Phase("lbfgs", steps=3, design="analytic", inner_iters=50),
               Phase("newton", steps=4, design="analytic")),
    "vae1": tuple(Phase("adam", steps=epochs, lr=lr, batch_size=500, samples=1, log_every=0,
                        log_per_decade=LOG_PER_DECADE, checkpoint_every=100, dtype="float32")
                  for epochs, lr in ((700, 3e-3), (500, 1e-3), (300, 3e-4)))
            + (Phase("lbfgs", steps=24, design="rqmc", design_size=16, history=200, inner_iters=25),),
    "vae2": _LONG_FLOAT32_WARM_START + (Phase("lbfgs", steps=4, design="rqmc", design_size=16, history=200,
                                                 inner_iters=25),),
    "vae3": _LONG_FLOAT32_WARM_START + (Phase("lbfgs", steps=4, design="rqmc", design_size=16, history=200,
                                                 inner_iters=25),),
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
        phase = Phase("adam", steps=epochs, lr=1e-3, batch_size=2000, samples=100, log_every=0,
                      log_per_decade=LOG_PER_DECADE, checkpoint_every=max(1, epochs // 50))
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
