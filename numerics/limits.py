"""Bounds on every number the CLIs take, and the memory a run needs, estimated before anything is allocated.

Two checks; each rejection is a `BoundsError` (a `UsageError`: one line, exit 2) that names the option,
its value and the allowed range:

* `check_bounds({"--latent-dim": 2, "--hidden": (50, 50), ...})`: each option against its fixed range
  (`BOUNDS`). The ranges are what the numbers mean: a latent dimension, a width or a training set of
  zero has no model; a seed is a 32-bit integer; the control factor multiplies the converged decoder
  variance (Fig. 1a) and must leave it finite: at 1e308 it overflowed to inf, training "converged" on
  a non-finite variance and the run ended on abs(None) without a summary. The upper ends of the sizes
  are generous; what limits them is the second check.
* `check_memory(Workload(...))`: the bytes a run will hold, from its sizes alone (`estimate_memory`:
  parameters with their gradients and optimiser state, the Newton phase's Hessian, the data, the
  fixed designs, the activations of one forward chunk), against this machine's memory
  (`machine_memory`: physical memory, or the cgroup limit where lower) times `MEMORY_FRACTION`. A run
  that does not fit is refused with the largest value of the option that dominates it that would fit,
  the other options as given: `--latent-dim 1e8` is one line instead of an OOM kill at 24 GB.

The estimate is an upper-side order of magnitude (float64 everywhere, every design alive at once), meant
to turn impossible runs into one line, not to pack a machine to the last byte. A chunked evaluation holds
one chunk's activations at a time: it gathers its per-point results into buffers allocated once
(`numerics.estimators._Rows`), so glibc's heap does not grow chunk by chunk (docs/reliability.md, "Memory").
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

from numerics.cli import UsageError

MAX_LATENT = 65_536
MAX_WIDTH = 1 << 20
MAX_LAYERS = 64
MAX_POINTS = 10 ** 9
MAX_SAMPLES = 10 ** 9
MAX_NODES = 128
"""Gauss-Hermite nodes per latent dimension (numpy's hermegauss is accurate far beyond what a design needs)."""
MAX_RUNS = 10 ** 6
MAX_STEPS = 10 ** 9
MAX_SEED = 2 ** 32 - 1
CONTROL_FACTOR_RANGE = (1e-3, 1e3)
"""The Fig. 1a control multiplies the converged decoder variance by this factor. At the ends the variance
is off by three orders of magnitude: its residual is hundreds of nats per point, far above any tolerance
(the control must be detectable), while the variance, the ELBO and their gradients stay finite in float64."""

MEMORY_FRACTION = 0.8
"""Share of the machine's memory a run may plan to use: the rest is the OS, other jobs and the
estimate's error."""
BYTES = 8
"""Bytes per number (float64: evaluation is always float64, and training phases may be)."""
RUNTIME_BYTES = 1 << 29
"""The Python and PyTorch runtime itself (measured: about 0.4 GB of resident memory after import)."""
DATA_COPIES = 3
"""The data as loaded (float64), in the training dtype, and on the device."""
AUTOGRAD_FACTOR = 2
"""Activations kept for the backward pass: each layer's input and output."""
HESSIAN_COPIES = 3
"""The damped Newton phase: the Hessian, Hessian + lambda 1, and its Cholesky factor."""


class BoundsError(UsageError):
    """A number outside its allowed range; `option` names the option."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


# -------------------------------------------------------------------------------------------------
# fixed ranges
# -------------------------------------------------------------------------------------------------
def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Bound:
    """An allowed range: low..high (inclusive; `low_open`: above low), integers or finite floats,
    optionally one excluded value. `high` may be a function (read when checked, e.g. the CPU count)."""

    low: float
    high: float | Callable[[], float]
    integer: bool = True
    low_open: bool = False
    excluded: float | None = None

    def upper(self) -> float:
        return self.high() if callable(self.high) else self.high

    def describe(self) -> str:
        high = self.upper()
        if self.low_open:
            text = f"a finite number above {self.low:g}" + ("" if math.isinf(high) else f" up to {high:g}")
        elif self.integer:
            text = f"{int(self.low)} to {int(high)}"
        else:
            text = f"{self.low:g} to {high:g}"
        return text + ("" if self.excluded is None else f", not {self.excluded:g}")

    def admits(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value) or value == self.excluded:
            return False
        return (value > self.low if self.low_open else value >= self.low) and value <= self.upper()


BOUNDS: dict[str, Bound] = {
    "--latent-dim": Bound(1, MAX_LATENT),
    "--hidden": Bound(1, MAX_WIDTH),
    "--n-train": Bound(1, MAX_POINTS),
    "--n-test": Bound(0, MAX_POINTS),
    "--batch-size": Bound(1, MAX_POINTS),
    "--steps": Bound(0, MAX_STEPS),
    "--warmup-steps": Bound(0, MAX_STEPS),
    "--epochs": Bound(1, MAX_STEPS),
    "--eval-samples": Bound(2, MAX_SAMPLES),
    "--samples": Bound(1, MAX_SAMPLES),
    "--nodes": Bound(1, MAX_NODES),
    "--runs": Bound(1, MAX_RUNS),
    "--seed": Bound(0, MAX_SEED),
    "--seed0": Bound(0, MAX_SEED),
    "--points-per-segment": Bound(1, MAX_POINTS),
    "--threads": Bound(1, _cpu_count),
    "--control-factor": Bound(*CONTROL_FACTOR_RANGE, integer=False, excluded=1.0),
    "--lr": Bound(0.0, math.inf, integer=False, low_open=True),
    "--rel-tol": Bound(0.0, 1.0, integer=False, low_open=True),
}
"""Each option's fixed range. --eval-samples: the verdict's rqmc design needs two randomisations for a
standard error. --hidden: each width (at most MAX_LAYERS of them; an empty tuple is an affine network)."""


def _value_text(value: object) -> str:
    """`value` as the user wrote it where it is a number or a list of them, else its repr (one line)."""
    if isinstance(value, (tuple, list)):
        return ",".join(_value_text(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_bound(option: str, value: object, bounds: Mapping[str, Bound] = BOUNDS) -> None:
    """BoundsError unless `value` lies in `bounds[option]` (KeyError for an option without a bound)."""
    bound = bounds[option]
    if option == "--hidden":
        if not isinstance(value, (tuple, list)) or len(value) > MAX_LAYERS or not all(bound.admits(v) for v in value):
            raise BoundsError(option, f"{option} {_value_text(value)} is out of range: allowed up to {MAX_LAYERS} "
                                      f"widths, each {bound.describe()}")
        return
    if not bound.admits(value):
        raise BoundsError(option, f"{option} {_value_text(value)} is out of range: allowed {bound.describe()}")


def check_bounds(values: Mapping[str, object], bounds: Mapping[str, Bound] = BOUNDS) -> None:
    """`check_bound` for every option in `values` that was given (None = not given, skipped)."""
    for option, value in values.items():
        if option not in bounds:  # a programming error, whether the option was given or not
            raise KeyError(f"no bound for option {option}")
        if value is not None:
            check_bound(option, value, bounds)


def parse_hidden(text: str) -> tuple[int, ...]:
    """'50,50' -> (50, 50); 'none' -> () (affine networks)."""
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden {text!r}: expected comma-separated integers, e.g. 50,50, "
                                         f"or none") from None


def argparse_type(option: str, bounds: Mapping[str, Bound] = BOUNDS) -> Callable[[str], object]:
    """An argparse `type=` for `option`: parses the text and checks its bound, so that a bad value is
    one line and exit 2 from the parser itself (numerics.cli.OneLineParser)."""
    bound = bounds[option]

    def parse(text: str) -> object:
        if option == "--hidden":
            value = parse_hidden(text)
        else:
            try:
                value = int(text) if bound.integer else float(text)
            except ValueError:
                kind = "an integer" if bound.integer else "a number"
                raise argparse.ArgumentTypeError(f"{text!r} is not {kind} (allowed {bound.describe()})") from None
        try:
            check_bound(option, value, bounds)
        except BoundsError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{option} ")) from None  # argparse names it
        return value

    parse.__name__ = option.lstrip("-").replace("-", "_")
    return parse


# -------------------------------------------------------------------------------------------------
# memory
# -------------------------------------------------------------------------------------------------
def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory (os.sysconf), or the cgroup's limit
    (v2 memory.max, v1 memory.limit_in_bytes) where that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limits = [_read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes")]
    return min([total] + [v for v in limits if v is not None and v > 0])


def memory_budget(device: str = "cpu") -> int:
    """Bytes a run may plan to use on `device`: MEMORY_FRACTION of `machine_memory()`, or of the CUDA
    device's memory for "cuda" / "cuda:N"."""
    if str(device).startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        return int(torch.cuda.get_device_properties(index).total_memory * MEMORY_FRACTION)
    return int(machine_memory() * MEMORY_FRACTION)


def _mlp_count(sizes: Sequence[int]) -> int:
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def parameter_count(model: str, data_dim: int, latent_dim: int, hidden: Sequence[int]) -> int:
    """Number of parameters of `numerics.models.build_model(model, data_dim, latent_dim, hidden=hidden)`,
    computed from the sizes (nothing is allocated)."""
    D, H = int(data_dim), int(latent_dim)
    if model == "linear":
        return 2 * H * D + D + H + 1                            # V, W, mu0, tau2_raw, sigma2_raw
    encoder = 2 * _mlp_count([D, *hidden, H])                  # enc_mean, enc_var
    decoder = _mlp_count([H, *hidden, D])
    if model == "vae1":
        return encoder + decoder + 1                           # + sigma2_raw
    if model == "vae2":
        return encoder + decoder + 1 + H                       # + prior variances
    if model == "vae3":
        return encoder + 2 * decoder                           # dec_mean, dec_var
    raise ValueError(f"unknown model kind {model!r}")


@dataclass(frozen=True)
class DesignSize:
    """A fixed design held in memory: `size` points per data point (`per_point`) or shared by all,
    or, with `power`, `size` nodes per latent dimension (tensor-product Gauss-Hermite: size**H points).
    `option` is the option that sets `size` (None: set by the protocol)."""

    size: int
    per_point: bool
    option: str | None = None
    power: bool = False

    def points(self, latent_dim: int) -> int:
        return self.size ** latent_dim if self.power else self.size


@dataclass(frozen=True)
class Workload:
    """The sizes that set a run's memory. `chunk_rows`: base points x data points per forward pass
    (None: all at once); `members`: models trained together (a sweep's batch); `optimizer_slots`:
    numbers the optimiser keeps per parameter (Adam 2, L-BFGS about 2 x history); `hessian`: a damped
    Newton phase holds the P x P Hessian; `options` maps the fields latent_dim, hidden, n_train,
    n_test and members to the option that set them (the fields a rejection may name)."""

    model: str
    data_dim: int
    latent_dim: int
    hidden: tuple[int, ...]
    n_train: int
    n_test: int = 0
    designs: tuple[DesignSize, ...] = ()
    chunk_rows: int | None = None
    members: int = 1
    optimizer_slots: int = 2
    hessian: bool = False
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MemoryEstimate:
    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())


def _decoder_networks(model: str) -> int:
    return 2 if model == "vae3" else 1


def estimate_memory(w: Workload) -> MemoryEstimate:
    """Bytes `w` holds at its peak, by part (see the module docstring); exact integers, no allocation."""
    P = parameter_count(w.model, w.data_dim, w.latent_dim, w.hidden)
    H, D = w.latent_dim, w.data_dim
    design_bytes = sum(BYTES * d.points(H) * (w.n_train if d.per_point else 1) * (H + 1) for d in w.designs)
    largest = max([d.points(H) for d in w.designs] + [1])
    rows = w.n_train * largest if w.chunk_rows is None else max(largest, min(w.chunk_rows, w.n_train * largest))
    per_row = _decoder_networks(w.model) * (2 * sum(w.hidden) + D) + 2 * D + H
    return MemoryEstimate({
        "runtime": RUNTIME_BYTES,
        "parameters": BYTES * P * (2 + w.optimizer_slots) * w.members,
        "hessian": BYTES * P * P * HESSIAN_COPIES * w.members if w.hessian else 0,
        "data": BYTES * (w.n_train + w.n_test) * D * DATA_COPIES * w.members,
        "designs": design_bytes * w.members,
        "activations": BYTES * rows * per_row * AUTOGRAD_FACTOR * w.members,
    })


def workload_for_protocol(protocol, *, model: str, data_dim: int, latent_dim: int, hidden: Sequence[int],
                          n_train: int, n_test: int, eval_samples: int, chunk_rows: int | None, members: int = 1,
                          eval_option: str = "--eval-samples", options: Mapping[str, str] | None = None) -> Workload:
    """The `Workload` of training `protocol` (a numerics.protocols.Protocol) and evaluating on an rqmc
    design of `eval_samples` points per data point (0: analytic, the linear VAE)."""
    designs, slots, hessian = [], 2, False
    for phase in protocol.phases:
        if phase.kind == "adam":
            designs.append(DesignSize(phase.samples, per_point=False))  # drawn per chunk: counts in the rows
        elif phase.design == "gauss-hermite":
            designs.append(DesignSize(phase.design_size, per_point=False, power=True))
        elif phase.design == "sobol":
            designs.append(DesignSize(phase.design_size, per_point=False))
        elif phase.design in ("mc", "rqmc"):
            designs.append(DesignSize(phase.design_size, per_point=True))
        if phase.kind == "lbfgs":
            slots = max(slots, 2 * phase.history + 3)
        hessian = hessian or phase.kind == "newton"
    if eval_samples and model != "linear":
        designs.append(DesignSize(eval_samples, per_point=True, option=eval_option))
    return Workload(model=model, data_dim=data_dim, latent_dim=latent_dim, hidden=tuple(hidden), n_train=n_train,
                    n_test=n_test, designs=tuple(designs), chunk_rows=chunk_rows, members=members,
                    optimizer_slots=slots, hessian=hessian, options=dict(options or {}))


def _gib(n: int) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class _Knob:
    """One option of a workload that a rejection may name: its value, lowest value and how to set it."""

    option: str
    value: int
    low: int
    apply: Callable[[Workload, int], Workload]
    text: str
    range_text: str = ""


def _knobs(w: Workload) -> list[_Knob]:
    knobs = []
    for name, low in (("latent_dim", 1), ("n_train", 1), ("n_test", 0), ("members", 1)):
        if name in w.options:
            knobs.append(_Knob(w.options[name], getattr(w, name), low,
                               lambda wl, v, name=name: replace(wl, **{name: v}), str(getattr(w, name))))
    if "hidden" in w.options and w.hidden:
        knobs.append(_Knob(w.options["hidden"], max(w.hidden), 1,
                           lambda wl, v: replace(wl, hidden=tuple(min(h, v) for h in w.hidden)),
                           _value_text(w.hidden), "widths "))
    for i, d in enumerate(w.designs):
        if d.option is not None:
            low = int(BOUNDS[d.option].low) if d.option in BOUNDS else 1
            knobs.append(_Knob(d.option, d.size, low,
                               lambda wl, v, i=i: replace(wl, designs=tuple(replace(x, size=v) if j == i else x
                                                                           for j, x in enumerate(wl.designs))),
                               str(d.size)))
    return knobs


def largest_fitting(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest v in [low, high] with fits(v), for `fits` true up to some value and false above it
    (None if not even fits(low)); bisection."""
    if not fits(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def _largest_fitting(w: Workload, knob: _Knob, budget: int) -> int | None:
    """The largest value of `knob` in [low, value] for which `w` fits `budget` (None if not even low)."""
    return largest_fitting(lambda v: estimate_memory(knob.apply(w, v)).total <= budget, knob.low, knob.value)


def _budget_and_where(budget: int | None, device: str) -> tuple[int, str]:
    """`budget`, or `memory_budget(device)` and the words that say where it comes from."""
    if budget is not None:
        return budget, ""
    budget = memory_budget(device)
    return budget, f" ({MEMORY_FRACTION:.0%} of this machine's {_gib(int(budget / MEMORY_FRACTION))})"


def _needs_text(estimate: MemoryEstimate, budget: int, where: str) -> str:
    """"needs about X of memory (its two largest parts), more than the B allowed (where)"."""
    top = sorted(((v, k) for k, v in estimate.parts.items() if v), reverse=True)[:2]
    return (f"needs about {_gib(estimate.total)} of memory (" + ", ".join(f"{k} {_gib(v)}" for v, k in top)
            + f"), more than the {_gib(budget)} allowed{where}")


def check_option_memory(estimate: Callable[[Mapping[str, int]], MemoryEstimate], values: Mapping[str, int],
                        lows: Mapping[str, int], *, budget: int | None = None) -> MemoryEstimate:
    """`estimate(values)` for a CLI whose memory is not a `Workload` (numerics.stream): returned if it fits
    `budget` (default `memory_budget()`), else BoundsError naming the option in `lows` whose reduction
    frees the most memory and the largest value of it that fits, the other options as given."""
    total = estimate(values)
    budget, where = _budget_and_where(budget, "cpu")
    if total.total <= budget:
        return total
    at = lambda option, v: estimate({**values, option: v}).total  # noqa: E731
    fitting = {o: largest_fitting(lambda v, o=o: at(o, v) <= budget, low, values[o]) for o, low in lows.items()}
    option = max(lows, key=lambda o: (fitting[o] is not None, total.total - at(o, lows[o])))
    allowed = (f"allowed: {option} {lows[option]} to {fitting[option]} with the other options as given"
               if fitting[option] is not None else f"no value of {option} alone fits; reduce " + ", ".join(lows))
    raise BoundsError(option, f"{option} {values[option]} {_needs_text(total, budget, where)}; {allowed}")


def check_memory(w: Workload, *, budget: int | None = None, device: str = "cpu") -> MemoryEstimate:
    """`estimate_memory(w)` if it fits `budget` (default `memory_budget(device)`); else BoundsError naming
    the option whose reduction frees the most memory and the largest value of it that fits."""
    estimate = estimate_memory(w)
    budget, where = _budget_and_where(budget, device)
    if estimate.total <= budget:
        return estimate
    needs = _needs_text(estimate, budget, where)
    knobs = _knobs(w)
    if not knobs:
        raise BoundsError("", f"the run {needs}")
    freed = {k.option: estimate.total - estimate_memory(k.apply(w, k.low)).total for k in knobs}
    knob = max(knobs, key=lambda k: (_largest_fitting(w, k, budget) is not None, freed[k.option]))
    largest = _largest_fitting(w, knob, budget)
    allowed = (f"allowed: {knob.option} {knob.range_text}{knob.low} to {largest} with the other options as given"
               if largest is not None else
               f"no value of {knob.option} alone fits; reduce " + ", ".join(sorted(freed, key=freed.get, reverse=True)))
    raise BoundsError(knob.option, f"{knob.option} {knob.text} {needs}; {allowed}")
