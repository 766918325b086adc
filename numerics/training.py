"""The trainer: runs a `Protocol` on a model, logging, checkpointing and resuming through a `RunDir`.

All parameters that are not explicitly frozen are optimised jointly by a generic optimiser (Adam or
L-BFGS) on the ELBO of Eq. (8)/(9) as estimated by `numerics.estimators.elbo_objective`; there is no
closed-form variance step anywhere in here.

Logging: the steps `Phase.logs` names (every L-BFGS and Newton step; Adam phases on a logarithmic grid
of `protocols.LOG_PER_DECADE` rows per decade; every phase end) are evaluated by the monitor and appended
to metrics.jsonl with `step`, `phase`, `seconds` (training wall time, the monitor's own time excluded)
and `loss`.

Resumability: a checkpoint is written every `Phase.checkpoint_every` steps and at the end of each
phase; it holds the model, the optimiser state, both random generators (sample noise on the model's
device, data shuffling on the CPU), the phase/step counters and the elapsed training time. Rows of
metrics.jsonl logged after the last checkpoint are superseded on resume (a marker is appended,
numerics.metrics_log) and logged again by the replayed steps, which are bitwise identical (same
generator states, same fixed designs), so a killed run that is resumed gives exactly the numbers of an
uninterrupted one. A checkpoint is untrusted input: it is read with the safe loader and checked
(`check_training_state`) before anything of it is used; what does not fit is a `CheckpointError`.

Divergence: a non-finite loss or parameter stops training with `DivergenceError`; the last good
checkpoint is kept as it was (a checkpoint is only ever written from finite parameters).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from tqdm import tqdm

from numerics import estimators
from numerics.models import GaussianVAE
from numerics.protocols import Phase, Protocol
from numerics.rundir import CHECKPOINT, CheckpointError, RunDir, load_model_state

Monitor = Callable[[GaussianVAE], dict]
"""Returns the metrics of one logged step (elbo, entropy_sum, residuals, ...) for the current model."""

ChunkRule = Callable[[Phase], "int | None"]
"""Data points per forward pass for a phase (phases differ in base points per data point)."""

DESIGN_SEED_OFFSET = 1_000_003
"""Seed offset of the fixed L-BFGS design (so it does not share draws with the sample noise)."""


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or parameter; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    steps: int
    seconds: float
    stopped: str  # "completed" | "step-limit"
    phase_ends: list[dict]


def fixed_design(phase: Phase, n: int, H: int, *, seed: int, dtype: torch.dtype, device) -> estimators.Design | None:
    """The deterministic design an L-BFGS phase optimises on (rebuilt identically on resume);
    None for "analytic" (the linear VAE, whose ELBO needs no design)."""
    if phase.design == "analytic":
        return None
    if phase.design == "gauss-hermite":
        return estimators.gauss_hermite_design(phase.design_size, H, dtype=dtype, device=device)
    if phase.design == "sobol":
        return estimators.sobol_design(phase.design_size, H, seed=seed + DESIGN_SEED_OFFSET, dtype=dtype, device=device)
    if phase.design in ("mc", "rqmc"):
        gen = torch.Generator(device="cpu").manual_seed(seed + DESIGN_SEED_OFFSET)
        if phase.design == "rqmc":  # randomised QMC per point, one randomisation (no SE needed in training)
            return estimators.rqmc_design(phase.design_size, n, H, replicates=1, generator=gen, dtype=dtype, device=device)
        return estimators.mc_design(phase.design_size, n, H, generator=gen, dtype=dtype, device=device)
    raise ValueError(f"unknown design {phase.design!r}; valid: analytic, gauss-hermite, sobol, mc, rqmc")


GENERATORS = ("noise_rng", "shuffle_rng")
"""The CPU generators a training state holds (a sweep member's also holds "eval_rng")."""


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_training_state(state: dict, model: torch.nn.Module, protocol: Protocol, path,
                         generators: tuple[str, ...] = GENERATORS) -> None:
    """CheckpointError ("cannot read checkpoint PATH: REASON") unless `state` (as `RunDir.load_checkpoint`
    returned it) is a training state of `model` under `protocol`: the model's own keys and shapes with
    finite values, counters within the protocol, generator states a CPU generator accepts. Nothing of
    the state is used before this passes (the optimiser state is checked by torch when it is loaded)."""
    load_model_state(model, state["model"], path)
    if not all(bool(torch.isfinite(v).all()) for v in state["model"].values() if v.is_floating_point()):
        raise CheckpointError(path, "its model holds non-finite values (a checkpoint is written only from finite ones)")
    phases = protocol.phases
    index = state.get("phase_index")
    problems = []
    if not _is_int(state.get("step"), 0, protocol.total_steps()):
        problems.append(f"step {state.get('step')!r} (the protocol has {protocol.total_steps()} steps)")
    if not _is_int(index, 0, len(phases)):
        problems.append(f"phase_index {index!r} (the protocol has {len(phases)} phases)")
    elif not _is_int(state.get("phase_step"), 0, phases[index].steps if index < len(phases) else 0):
        problems.append(f"phase_step {state.get('phase_step')!r}")
    elapsed = state.get("elapsed")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not 0 <= elapsed < math.inf:
        problems.append(f"elapsed {elapsed!r}")
    if not isinstance(state.get("phase_ends"), list) or not all(isinstance(e, dict) for e in state["phase_ends"]):
        problems.append("phase_ends")
    if not isinstance(state.get("optimizer"), dict):
        problems.append("optimizer")
    size = torch.Generator().get_state().shape
    for name in generators:
        rng = state.get(name)
        if not isinstance(rng, Tensor) or rng.dtype != torch.uint8 or rng.shape != size:
            problems.append(f"{name} (not a CPU generator state)")
    if problems:
        shown = ", ".join(problems)
        raise CheckpointError(path, f"not a training state this run can resume: {shown[:200]}")


def _chunks(n: int, size: int | None) -> list[slice]:
    size = n if not size else size
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _all_finite(params: list[Tensor]) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in params)


class DampedNewton:
    """Levenberg-Marquardt damped Newton on the exact Hessian (autograd), for models with few
    parameters (the linear VAE: 53). Generic: it sees only the loss, its gradient and its Hessian.

    One `step(closure)` makes one accepted update: solve (Hess + lam 1) s = -grad, accept when the loss
    did not rise beyond float round-off and the gradient norm fell (near the optimum loss changes are
    below round-off, so the gradient decides), else raise lam tenfold and retry. Quadratic
    convergence takes the gradient, hence the gap residuals, to round-off level, which L-BFGS with a
    line search cannot (its sufficient-decrease test stalls once loss changes drop under round-off).
    """

    def __init__(self, params: list[Tensor], lam: float = 1e-6, max_tries: int = 30) -> None:
        self.params = params
        self.lam = lam
        self.max_tries = max_tries

    def state_dict(self) -> dict:
        return {"lam": self.lam}

    def load_state_dict(self, state: dict) -> None:
        self.lam = float(state["lam"])

    def _loss_grad(self, loss_fn, create_graph: bool) -> tuple[Tensor, Tensor]:
        loss = loss_fn()
        grads = torch.autograd.grad(loss, self.params, create_graph=create_graph)
        return loss, torch.cat([g.reshape(-1) for g in grads])

    def _set(self, flat: Tensor) -> None:
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(flat, self.params)

    def step(self, loss_fn) -> tuple[float, bool]:
        """loss_fn() -> differentiable loss. Returns (loss, stalled)."""
        loss, grad = self._loss_grad(loss_fn, create_graph=True)
        n = grad.numel()
        rows = [torch.cat([h.reshape(-1) for h in torch.autograd.grad(grad[i], self.params, retain_graph=True)])
                for i in range(n)]
        hess = torch.stack(rows)
        hess = 0.5 * (hess + hess.T)
        grad, loss = grad.detach(), float(loss.detach())
        gnorm = float(grad.norm())
        start = torch.nn.utils.parameters_to_vector(self.params).detach().clone()
        eye = torch.eye(n, dtype=hess.dtype, device=hess.device)
        slack = 1e-13 * max(1.0, abs(loss))
        for _ in range(self.max_tries):
            chol, info = torch.linalg.cholesky_ex(hess + self.lam * eye)
            if int(info) == 0:
                step = torch.cholesky_solve(-grad[:, None], chol)[:, 0]
                self._set(start + step)
                new_loss, new_grad = self._loss_grad(loss_fn, create_graph=False)
                new_loss = float(new_loss.detach())
                if math.isfinite(new_loss) and new_loss <= loss + slack and float(new_grad.norm()) < gnorm:
                    self.lam = max(self.lam / 10.0, 1e-12)
                    return new_loss, False
            self.lam *= 10.0
        self._set(start)
        return loss, True


class Trainer:
    """Runs `protocol` on `model` with data `x` and records it in `run_dir`.

    frozen: names of parameters kept fixed (the Fig. 1a control freezes the decoder variance).
    monitor: called at each logged step; its dict is written to metrics.jsonl with step, phase,
      seconds (training wall time, excluding the monitor's own time).
    chunk_size: data points per forward pass (memory bound only; the objective is the same sum): one
      number for every phase, or a rule giving it per phase (`ChunkRule`); None = no chunking.
    """

    def __init__(self, model: GaussianVAE, x: Tensor, protocol: Protocol, run_dir: RunDir, *, seed: int,
                 frozen: tuple[str, ...] = (), monitor: Monitor | None = None, progress: bool = True,
                 chunk_size: int | ChunkRule | None = None, label: str = "train") -> None:
        self.model = model
        self.x = x
        self.run_dtype = x.dtype
        self._x_by_dtype = {x.dtype: x}
        self.protocol = protocol
        self.run_dir = run_dir
        self.seed = seed
        self.monitor = monitor
        self.progress = progress
        self.chunk_rule: ChunkRule = chunk_size if callable(chunk_size) else (lambda phase: chunk_size)
        self.chunk_size: int | None = None  # of the current phase
        self.label = label
        self.device = x.device
        names = dict(model.named_parameters())
        unknown = [n for n in frozen if n not in names]
        if unknown:
            raise ValueError(f"cannot freeze unknown parameters {unknown}")
        for name, p in names.items():
            p.requires_grad_(name not in frozen)
        self.params = [p for n, p in names.items() if n not in frozen]
        self.noise = torch.Generator(device="cpu").manual_seed(seed)  # CPU: same samples on any device
        self.shuffle = torch.Generator(device="cpu").manual_seed(seed + 1)
        self.step = 0
        self.phase_index = 0
        self.phase_step = 0
        self.elapsed = 0.0
        self.phase_ends: list[dict] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self.design: estimators.Design | None = None
        self.last_checkpoint_step = -1

    # -- optimiser per phase --------------------------------------------------------------------
    def _make_optimizer(self, phase: Phase) -> torch.optim.Optimizer:
        if phase.kind == "adam":
            return torch.optim.Adam(self.params, lr=phase.lr)
        if phase.kind == "newton":
            return DampedNewton(self.params)
        if phase.kind == "lbfgs":
            return torch.optim.LBFGS(self.params, lr=1.0, max_iter=phase.inner_iters, history_size=phase.history,
                                     tolerance_grad=1e-14, tolerance_change=1e-16, line_search_fn="strong_wolfe")
        raise ValueError(f"unknown phase kind {phase.kind!r}; valid: adam, lbfgs, newton")

    def _set_dtype(self, dtype: torch.dtype) -> None:
        """Convert the model (in place: the Parameter objects stay the same) and select the data in `dtype`."""
        if dtype not in self._x_by_dtype:
            self._x_by_dtype[dtype] = self._x_by_dtype[self.run_dtype].to(dtype)
        self.model.to(dtype)
        self.x = self._x_by_dtype[dtype]

    def _enter_phase(self) -> None:
        phase = self.protocol.phases[self.phase_index]
        self._set_dtype(getattr(torch, phase.dtype) if phase.dtype else self.run_dtype)
        self.chunk_size = self.chunk_rule(phase)
        self.optimizer = self._make_optimizer(phase)
        self.design = None
        if phase.kind in ("lbfgs", "newton"):
            self.design = fixed_design(phase, self.x.shape[0], self.model.H, seed=self.seed,
                                       dtype=self.x.dtype, device=self.device)

    # -- checkpoint -----------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
                "noise_rng": self.noise.get_state(), "shuffle_rng": self.shuffle.get_state(),
                "step": self.step, "phase_index": self.phase_index, "phase_step": self.phase_step,
                "elapsed": self.elapsed, "phase_ends": self.phase_ends, "done": self.done()}

    def save(self) -> None:
        """Write a checkpoint, only ever from finite parameters (else DivergenceError, the last one kept)."""
        if not _all_finite(self.params):
            self._diverged(self.step)
        self.run_dir.save_checkpoint(self._state())
        self.last_checkpoint_step = self.step

    def restore(self) -> bool:
        """Load the run directory's checkpoint, if any (safely: `check_training_state`); True when one
        was loaded. Rows logged after it are superseded (`RunDir.rewind_metrics`)."""
        state = self.run_dir.load_checkpoint(map_location=self.device)
        if state is None:
            return False
        path = self.run_dir.path / CHECKPOINT
        check_training_state(state, self.model, self.protocol, path)
        self.step, self.phase_index, self.phase_step = state["step"], state["phase_index"], state["phase_step"]
        self.elapsed, self.phase_ends = float(state["elapsed"]), list(state["phase_ends"])
        self.noise.set_state(state["noise_rng"].cpu())
        self.shuffle.set_state(state["shuffle_rng"].cpu())
        if not self.done():
            self._enter_phase()
            try:
                self.optimizer.load_state_dict(state["optimizer"])
            except (ValueError, KeyError, TypeError, RuntimeError, IndexError):  # torch's own check of the file
                raise CheckpointError(path, "its optimiser state does not belong to this phase") from None
        self.last_checkpoint_step = self.step
        self.run_dir.rewind_metrics(self.step)
        return True

    def done(self) -> bool:
        return self.phase_index >= len(self.protocol.phases)

    # -- steps ----------------------------------------------------------------------------------
    def _adam_step(self, phase: Phase) -> float:
        n = self.x.shape[0]
        if phase.batch_size and phase.batch_size < n:
            order = torch.randperm(n, generator=self.shuffle).to(self.device)
            batches = [order[s] for s in _chunks(n, phase.batch_size)]
        else:
            batches = [slice(0, n)]
        total = 0.0
        for batch in batches:
            xb = self.x[batch]
            self.optimizer.zero_grad(set_to_none=True)
            loss = 0.0
            for part in _chunks(xb.shape[0], self.chunk_size):
                xp = xb[part]
                design = estimators.mc_design(phase.samples, xp.shape[0], self.model.H, generator=self.noise,
                                              dtype=xp.dtype, device=self.device)
                part_loss = -estimators.elbo_objective(self.model, xp, design) * (xp.shape[0] / xb.shape[0])
                part_loss.backward()
                loss += float(part_loss.detach())
            self._check_finite(loss, params=False)  # non-finite parameters make the next loss non-finite
            self.optimizer.step()
            total += loss
        return total / len(batches)

    def _full_objective(self) -> Tensor:
        """-F on the fixed design, gradients accumulated chunk by chunk (the L-BFGS closure)."""
        self.optimizer.zero_grad(set_to_none=False)
        n = self.x.shape[0]
        total = torch.zeros((), dtype=self.x.dtype, device=self.device)
        for part in _chunks(n, self.chunk_size):
            xp = self.x[part]
            loss = -estimators.elbo_objective(self.model, xp, estimators.slice_design(self.design, part)) * (xp.shape[0] / n)
            loss.backward()
            total = total + loss.detach()
        return total

    def _plain_objective(self) -> Tensor:
        """-F on the fixed design in one piece (differentiable twice; for small models)."""
        return -estimators.elbo_objective(self.model, self.x, self.design)

    def _lbfgs_step(self) -> tuple[float, bool]:
        """One LBFGS.step call; returns (loss, stalled). Stalled = the call made no progress."""
        state = self.optimizer.state[self.optimizer._params[0]]
        evals_before = state.get("func_evals", 0)
        self.optimizer.step(self._full_objective)
        loss = float(state.get("prev_loss", math.nan))
        self._check_finite(loss)
        stalled = state.get("func_evals", 0) - evals_before <= 1
        return loss, stalled

    def _check_finite(self, loss: float, *, params: bool = True) -> None:
        if not math.isfinite(loss) or params and not _all_finite(self.params):
            self._diverged(self.step + 1)

    def _diverged(self, step: int) -> None:
        where = (f"last good checkpoint (step {self.last_checkpoint_step}) kept in {self.run_dir.path}"
                 if self.last_checkpoint_step >= 0 else "no checkpoint was written yet")
        raise DivergenceError(f"{self.label}: training diverged at step {step} "
                              f"(non-finite loss or parameters); {where}")

    # -- logging --------------------------------------------------------------------------------
    def _log(self, phase_name: str, loss: float | None) -> dict | None:
        if self.monitor is None:
            return None
        was_training = self.model.training
        self.model.eval()
        row = {"step": self.step, "phase": phase_name, "seconds": self.elapsed, "loss": loss}
        row.update(self.monitor(self.model))
        self.model.train(was_training)
        self.run_dir.append_metrics(row)
        return row

    # -- main loop ------------------------------------------------------------------------------
    def run(self, *, stop_after: int | None = None) -> TrainResult:
        """Train until every phase is done (or, to simulate a kill, after `stop_after` global steps)."""
        resumed = self.restore()
        if not resumed:
            self.run_dir.rewind_metrics(-1)  # a run killed before its first checkpoint starts afresh
            if not self.done():
                self._enter_phase()
            self._log("init", None)
            if not self.done():
                self.save()
        total = sum(p.steps for p in self.protocol.phases)
        bar = tqdm(total=total, initial=min(self.step, total), desc=self.label, unit="step",
                   disable=not (self.progress and sys.stderr.isatty()), leave=False)
        try:
            while not self.done():
                if stop_after is not None and self.step >= stop_after:
                    return TrainResult(self.step, self.elapsed, "step-limit", self.phase_ends)
                phase = self.protocol.phases[self.phase_index]
                if phase.steps == 0:
                    self.phase_index += 1
                    if not self.done():
                        self._enter_phase()
                    continue
                t0 = time.perf_counter()
                stalled = False
                if phase.kind == "adam":
                    loss = self._adam_step(phase)
                elif phase.kind == "newton":
                    loss, stalled = self.optimizer.step(self._plain_objective)
                    self._check_finite(loss)
                else:
                    loss, stalled = self._lbfgs_step()
                self.elapsed += time.perf_counter() - t0
                self.step += 1
                self.phase_step += 1
                bar.update(1)
                phase_over = stalled or self.phase_step >= phase.steps
                name = f"{phase.kind}"
                if phase_over or phase.logs(self.step, self.phase_step):
                    row = self._log(name, loss)
                    if row is not None and row.get("rel_gap") is not None:
                        bar.set_postfix(rel_gap=f"{row['rel_gap']:.2e}")
                if phase_over:
                    self.phase_ends.append({"phase": self.phase_index, "kind": phase.kind, "steps": self.phase_step,
                                            "stalled": stalled, "loss": loss, "step": self.step})
                    self.phase_index += 1
                    self.phase_step = 0
                    if not self.done():
                        self._enter_phase()
                    self.save()
                elif self.phase_step % phase.checkpoint_every == 0:
                    self.save()
        finally:
            bar.close()
        self._set_dtype(self.run_dtype)
        if self.last_checkpoint_step != self.step or not resumed and self.step == 0:
            self.save()
        return TrainResult(self.step, self.elapsed, "completed", self.phase_ends)
