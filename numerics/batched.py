"""K independent training runs of one architecture, trained as ONE batched (vmapped) computation.

Each member is exactly a `numerics.training.Trainer` run of its own seed, only computed together:

* parameters of the K members are stacked ([K, ...], `torch.func.stack_module_state`) and the ELBO of
  Eq. (9) is computed per member by `torch.func.vmap` over `torch.func.functional_call` of
  `numerics.estimators.elbo_objective` -- the very function a sequential run differentiates;
* every member keeps its own data set, its own shuffling generator (mini-batch order, seed + 1) and its
  own noise generator (reparametrisation samples, seed), drawn in the same order and with the same
  shapes as `Trainer._adam_step`, on the CPU, so the random streams are identical to a sequential run;
* one `torch.optim.Adam` over the stacked parameters is K independent Adams: Adam's update is
  elementwise (moments, bias corrections from the shared step count, no norm across elements) and
  no gradient clipping or other cross-member scalar is used;
* the loss is the SUM of the members' losses, so each member's gradient is its own (members do not
  interact in the graph).

Hence on CPU a batched member and a sequential run of the same seed give the same numbers up to
float round-off (tests/numerics/test_batched.py checks it against the plain `Trainer`).

Only Adam phases are batched: L-BFGS takes a line search per member, which is not elementwise.

Logged evaluations (the monitor) use FRESH Monte Carlo samples from a third per-member generator
(seed + EVAL_SEED_OFFSET), independent of the training samples, in the training dtype, through
`numerics.estimators.evaluate` (vmapped as well): ELBO F, three-entropy value S (Eq. 39 for VAE-3),
gap = F - S, its residuals (gap identity) and rel_gap = |F - S| / |F|.

Checkpoints are written per member in the `Trainer` format (model, optimizer, RNG states, counters),
plus the evaluation generator's state, so a member can be resumed batched or alone.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from numerics import estimators
from numerics.models import GaussianVAE, build_model
from numerics.protocols import Phase, Protocol

EVAL_SEED_OFFSET = 7_000_001
"""Seed offset of the per-member evaluation generator (fresh samples, independent of training)."""
TRAIN_ROWS = 16_384
"""Rows (members x samples x points) per vmapped training forward pass. Paper protocol, 3 members, 1
thread: VAE-3 15.4 s for 3 epochs against 38.8 s in one pass per batch (8,192 rows: 16.1 s; 65,536:
20.9 s); VAE-1 0.5 s per member and epoch against 2.1 s. It also bounds memory: one pass over 100
members x 100 samples x 2,000 points would hold 20 million rows per activation."""
EVAL_BUDGET = 400_000
"""Rows (members x samples x points) per vmapped evaluation chunk: bounds evaluation memory."""


def rel_gap(elbo: float | None, entropy_sum: float | None) -> float | None:
    """|F - S| / |F| (the paper's relative absolute error, Fig. 1 bottom); None if undefined."""
    if elbo is None or entropy_sum is None or not math.isfinite(elbo) or not math.isfinite(entropy_sum):
        return None
    return abs(elbo - entropy_sum) / max(abs(elbo), 1e-300)


class _Objective(nn.Module):
    """forward(x, eps) = elbo_objective(model, x, MC design eps): one member's ELBO (Eq. 9), sampled for
    every kind (the linear VAE too: the paper's estimator, Listing 1)."""

    def __init__(self, model: GaussianVAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, eps: Tensor) -> Tensor:
        return estimators.elbo_objective(self.model, x, _mc(eps))


class _Evaluation(nn.Module):
    """forward(x, eps) = the fields of `estimators.evaluate` (no grad is taken) as a tuple of tensors."""

    FIELDS = ("elbo", "elbo_se", "entropy_sum", "gap", "gap_se", "residual_decoder", "residual_prior",
              "identity_error")

    def __init__(self, model: GaussianVAE, chunk_size: int | None) -> None:
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size

    def forward(self, x: Tensor, eps: Tensor | None) -> tuple[Tensor, ...]:
        ev = estimators.evaluate(self.model, x, _mc(eps), chunk_size=self.chunk_size)
        return tuple(getattr(ev, name) for name in self.FIELDS)


def _mc(eps: Tensor | None) -> estimators.Design | None:
    if eps is None:
        return None
    return estimators.Design(eps=eps, weights=torch.full((eps.shape[0],), 1.0 / eps.shape[0], dtype=eps.dtype,
                                                         device=eps.device), kind="mc")


def _float(t: Tensor) -> float | None:
    v = float(t)
    return v if math.isfinite(v) else None


@dataclass
class Member:
    """One run of the batch: its seed, its data and its resumable state (Trainer checkpoint format)."""

    seed: int
    x: Tensor                              # training data [N, D] (on the batch's device and dtype)
    state: dict                            # Trainer-format checkpoint dict (+ "eval_rng")
    label: str = ""
    failure: str | None = None             # set when the member diverged
    rows: list[dict] = field(default_factory=list)


def adam_state_problem(optimizer: dict, model: GaussianVAE) -> str | None:
    """Why `optimizer` (a member checkpoint's, Trainer format) cannot be stacked for `model`, or None:
    per parameter (by index) a scalar step and moments of the parameter's shape, or no state at all."""
    state = optimizer.get("state")
    if not state:
        return None
    if not isinstance(state, dict):
        return "its optimiser state is not Adam's"
    for i, (name, p) in enumerate(model.named_parameters()):
        s = state.get(i)
        ok = isinstance(s, dict) and all(isinstance(s.get(k), Tensor) for k in ("step", "exp_avg", "exp_avg_sq"))
        if not ok or s["step"].numel() != 1 or s["exp_avg"].shape != p.shape or s["exp_avg_sq"].shape != p.shape:
            return f"its Adam state of {name} does not fit the model"
    return None


def initial_state(model: GaussianVAE, seed: int) -> dict:
    """The state of a member before its first step (what `Trainer` would start from)."""
    return {"model": {k: v.detach().clone() for k, v in model.state_dict().items()}, "optimizer": {},
            "noise_rng": torch.Generator(device="cpu").manual_seed(seed).get_state(),
            "shuffle_rng": torch.Generator(device="cpu").manual_seed(seed + 1).get_state(),
            "eval_rng": torch.Generator(device="cpu").manual_seed(seed + EVAL_SEED_OFFSET).get_state(),
            "step": 0, "phase_index": 0, "phase_step": 0, "elapsed": 0.0, "phase_ends": [], "done": False}


Callback = Callable[[Member, dict], None]


class BatchedTrainer:
    """Trains `members` (same architecture `config`, same data size, same counters) with `protocol`.

    config: `build_model` keyword arguments (kind, D, H, hidden, enc_link, dec_link).
    on_log(member, row): called at each logged step with the metrics row (Trainer's keys + evaluation).
    on_checkpoint(member, state): called when a member's checkpoint is due (Trainer's cadence).
    on_fail(member, state): called once when a member diverges (its last checkpoint is kept as is).
    eval_samples: fresh MC samples per point of the logged evaluations.
    """

    def __init__(self, config: dict, members: list[Member], protocol: Protocol, *, device: torch.device | str,
                 eval_samples: int = 16, on_log: Callback | None = None, on_checkpoint: Callback | None = None,
                 on_fail: Callback | None = None, progress: bool = True, label: str = "sweep") -> None:
        if not members:
            raise ValueError("a batch needs at least one member")
        for phase in protocol.phases:
            if phase.kind != "adam":
                raise ValueError(f"batched training supports Adam phases only (got {phase.kind!r}: L-BFGS line "
                                 "searches are per run, not elementwise)")
        counters = {(m.state["step"], m.state["phase_index"], m.state["phase_step"]) for m in members}
        if len(counters) != 1:
            raise ValueError(f"members of one batch must be at the same step; got {sorted(counters)}")
        sizes = {tuple(m.x.shape) for m in members}
        if len(sizes) != 1:
            raise ValueError(f"members of one batch need data of the same shape; got {sorted(sizes)}")
        self.config = dict(config)
        self.protocol = protocol
        self.device = torch.device(device)
        self.dtype = getattr(torch, protocol.dtype)
        self.eval_samples = int(eval_samples)
        self.on_log, self.on_checkpoint, self.on_fail = on_log, on_checkpoint, on_fail
        self.progress = progress
        self.label = label
        self.template = build_model(dtype=self.dtype, device="meta", **self.config)
        self.row_width = estimators.row_width(self.template)
        self.names = [name for name, _ in self.template.named_parameters()]
        first = members[0].state
        self.step, self.phase_index, self.phase_step = first["step"], first["phase_index"], first["phase_step"]
        self.elapsed = max(float(m.state["elapsed"]) for m in members)
        self.phase_ends: list[dict] = list(first["phase_ends"])
        self.optimizer: torch.optim.Optimizer | None = None
        self._set_members(members)

    # -- stacking -----------------------------------------------------------------------------------
    def _set_members(self, members: list[Member]) -> None:
        """(Re)build the stacked parameters, data, generators and Adam state from members' states."""
        self.members = members
        modules = []
        for m in members:
            net = build_model(dtype=self.dtype, device=self.device, **self.config)
            net.load_state_dict(m.state["model"])
            modules.append(_Objective(net))
        params, buffers = stack_module_state(modules)
        self.params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        self.buffers = buffers
        self.x = torch.stack([m.x.to(device=self.device, dtype=self.dtype) for m in members])
        self.noise = [_generator(m.state["noise_rng"]) for m in members]
        self.shuffle = [_generator(m.state["shuffle_rng"]) for m in members]
        self.eval_rng = [_generator(m.state["eval_rng"]) for m in members]
        self.optimizer = None
        if not self.done():
            self.optimizer = torch.optim.Adam(list(self.params.values()), lr=self._phase().lr)
            opt_states = [m.state.get("optimizer") or {} for m in members]
            if all(s.get("state") for s in opt_states):
                self._load_optimizer(opt_states)
        objective = _Objective(self.template)
        self._forward = vmap(lambda p, b, x, eps: functional_call(objective, (p, b), (x, eps)))

    def _load_optimizer(self, opt_states: list[dict]) -> None:
        """Stack K per-member Adam states (Trainer format) into the batched optimizer's state."""
        for i, name in enumerate(self.names):
            per = [s["state"][i] for s in opt_states]
            steps = {float(p["step"]) for p in per}
            if len(steps) != 1:
                raise ValueError(f"members have different Adam step counts {sorted(steps)}")
            self.optimizer.state[self.params[f"model.{name}"]] = {
                "step": per[0]["step"].clone(),
                "exp_avg": torch.stack([p["exp_avg"] for p in per]).to(self.device, self.dtype),
                "exp_avg_sq": torch.stack([p["exp_avg_sq"] for p in per]).to(self.device, self.dtype)}

    def member_state(self, k: int) -> dict:
        """Member k's current state as a Trainer checkpoint dict (+ eval_rng), tensors on the CPU."""
        model = {name: self.params[f"model.{name}"][k].detach().cpu().clone() for name in self.names}
        for name, buf in self.buffers.items():
            model[name.removeprefix("model.")] = buf[k].detach().cpu().clone()
        optimizer: dict = {}
        if self.optimizer is not None:
            template = torch.optim.Adam([torch.zeros(1) for _ in self.names], lr=self._phase().lr).state_dict()
            groups = template["param_groups"]
            groups[0]["params"] = list(range(len(self.names)))
            state = {}
            for i, name in enumerate(self.names):
                s = self.optimizer.state.get(self.params[f"model.{name}"])
                if s:
                    state[i] = {"step": s["step"].detach().cpu().clone(),
                                "exp_avg": s["exp_avg"][k].detach().cpu().clone(),
                                "exp_avg_sq": s["exp_avg_sq"][k].detach().cpu().clone()}
            optimizer = {"state": state, "param_groups": groups}
        return {"model": model, "optimizer": optimizer, "noise_rng": self.noise[k].get_state(),
                "shuffle_rng": self.shuffle[k].get_state(), "eval_rng": self.eval_rng[k].get_state(),
                "step": self.step, "phase_index": self.phase_index, "phase_step": self.phase_step,
                "elapsed": self.elapsed, "phase_ends": list(self.phase_ends), "done": self.done()}

    # -- protocol bookkeeping -------------------------------------------------------------------------
    def done(self) -> bool:
        return self.phase_index >= len(self.protocol.phases)

    def _phase(self) -> Phase:
        return self.protocol.phases[self.phase_index]

    def _enter_phase(self) -> None:
        """A new phase gets a new Adam (as Trainer._enter_phase does)."""
        self.optimizer = None if self.done() else torch.optim.Adam(list(self.params.values()), lr=self._phase().lr)

    # -- one epoch ------------------------------------------------------------------------------------
    def _adam_epoch(self, phase: Phase) -> Tensor:
        """One pass over each member's data (Trainer._adam_step, batched); mean loss per member [K]."""
        K, n, _ = self.x.shape
        H = int(self.config["H"])
        if phase.batch_size and phase.batch_size < n:
            orders = torch.stack([torch.randperm(n, generator=g) for g in self.shuffle]).to(self.device)
            size = phase.batch_size
            batches = [orders[:, i:i + size] for i in range(0, n, size)]
        else:
            batches = [None]
        rows = torch.arange(K, device=self.device)[:, None]
        total = torch.zeros(K, dtype=torch.float64)
        for idx in batches:
            xb = self.x if idx is None else self.x[rows, idx]
            b = xb.shape[1]
            eps = torch.stack([torch.randn((phase.samples, b, H), generator=g, dtype=self.dtype)
                               for g in self.noise]).to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss = torch.zeros(K, dtype=self.dtype, device=self.device)
            size = self._points_per_chunk(eps.shape[1])
            for a in range(0, b, size):  # gradients accumulated over chunks of points (all members at once)
                part = -self._forward(self.params, self.buffers, xb[:, a:a + size],
                                      eps[:, :, a:a + size]) * (min(size, b - a) / b)
                part.sum().backward()
                loss += part.detach()
            self._mark_nonfinite(loss)
            self.optimizer.step()
            total += loss.to(torch.float64).cpu()
        return total / len(batches)

    def _points_per_chunk(self, samples: int) -> int:
        """Data points per vmapped forward pass: TRAIN_ROWS rows (members x samples x points) of width
        <= 64, fewer for wide decoder outputs (`estimators.row_width`)."""
        members = self.x.shape[0]
        return max(1, TRAIN_ROWS * 64 // (members * max(1, samples) * max(64, self.row_width)))

    def _mark_nonfinite(self, loss: Tensor) -> None:
        """Trainer._check_finite per member: a non-finite loss or parameter ends that member."""
        bad = ~torch.isfinite(loss)
        for p in self.params.values():
            bad |= ~torch.isfinite(p.detach()).reshape(p.shape[0], -1).all(dim=1)
        for k in torch.nonzero(bad).flatten().tolist():
            m = self.members[k]
            if m.failure is None:
                m.failure = (f"{m.label or self.label}: training diverged at step {self.step + 1} (non-finite loss "
                             f"or parameters); last good checkpoint kept")

    def _drop_failed(self) -> None:
        failed = [k for k, m in enumerate(self.members) if m.failure is not None]
        if not failed:
            return
        for k in failed:
            if self.on_fail is not None:
                self.on_fail(self.members[k], {})
        keep = [k for k in range(len(self.members)) if k not in failed]
        states = [self.member_state(k) for k in keep]
        members = [self.members[k] for k in keep]
        for m, s in zip(members, states):
            m.state = s
        if members:
            self._set_members(members)
        else:
            self.members = []

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self) -> list[dict]:
        """Fresh-sample evaluation of every member (training dtype, no grad): the metrics of Eq. 9/39."""
        K, n, _ = self.x.shape
        H = int(self.config["H"])
        S = self.eval_samples
        linear = self.template.kind == "linear"
        eps = None
        if not linear:
            eps = torch.stack([torch.randn((S, n, H), generator=g, dtype=self.dtype) for g in self.eval_rng])
        members_per_chunk = max(1, min(K, EVAL_BUDGET // max(1, S * n)))
        point_chunk = max(1, EVAL_BUDGET // max(1, members_per_chunk * (1 if linear else S)))
        module = _Evaluation(self.template, point_chunk)
        params = {k: v.detach() for k, v in self.params.items()}
        buffers, x64 = self.buffers, self.x
        with torch.no_grad():
            if linear:
                fn = vmap(lambda p, b, x: functional_call(module, (p, b), (x, None)), chunk_size=members_per_chunk)
                out = fn(params, buffers, x64)
            else:
                fn = vmap(lambda p, b, x, e: functional_call(module, (p, b), (x, e)), chunk_size=members_per_chunk)
                out = fn(params, buffers, x64, eps.to(self.device))
        out = [o.detach().cpu() for o in out]
        rows = []
        for k in range(K):
            row = {}
            for name, value in zip(_Evaluation.FIELDS, out):
                row[name] = [_float(v) for v in value[k]] if value[k].dim() else _float(value[k])
            row["rel_gap"] = rel_gap(row["elbo"], row["entropy_sum"])
            rows.append(row)
        return rows

    def _log(self, phase_name: str, losses: Tensor | None) -> None:
        evals = self.evaluate()
        for k, m in enumerate(self.members):
            if m.failure is not None:
                continue
            loss = None if losses is None else _float(losses[k])
            row = {"step": self.step, "phase": phase_name, "seconds": self.elapsed, "loss": loss, **evals[k],
                   "eval_samples": self.eval_samples}
            m.rows.append(row)
            if self.on_log is not None:
                self.on_log(m, row)

    def _save(self) -> None:
        for k, m in enumerate(self.members):
            if m.failure is None:
                m.state = self.member_state(k)
                if self.on_checkpoint is not None:
                    self.on_checkpoint(m, m.state)

    # -- main loop ------------------------------------------------------------------------------------
    def run(self, *, fresh: bool, stop_after: int | None = None) -> list[Member]:
        """Train every member until the protocol ends (or after `stop_after` global steps, to simulate a
        kill); returns the members (failed ones carry `failure`). fresh: the members start from their
        initial state (log the "init" row and checkpoint it, as Trainer does for a new run)."""
        all_members = list(self.members)
        if fresh:
            self._log("init", None)
            if not self.done():
                self._save()
        total = self.protocol.total_steps()
        bar = tqdm(total=total, initial=min(self.step, total), desc=f"{self.label} x{len(self.members)}",
                   unit="epoch", disable=not (self.progress and sys.stderr.isatty()), leave=False)
        try:
            while not self.done() and self.members:
                if stop_after is not None and self.step >= stop_after:
                    return all_members
                phase = self._phase()
                if phase.steps == 0:
                    self.phase_index += 1
                    self._enter_phase()
                    continue
                t0 = time.perf_counter()
                losses = self._adam_epoch(phase)
                self.elapsed += time.perf_counter() - t0
                self.step += 1
                self.phase_step += 1
                bar.update(1)
                before = list(self.members)
                self._drop_failed()
                if not self.members:
                    break
                phase_over = self.phase_step >= phase.steps
                if phase_over or phase.logs(self.step, self.phase_step):
                    self._log(phase.kind, _survivors(losses, before, self.members))
                    gaps = [m.rows[-1]["rel_gap"] for m in self.members if m.rows and m.rows[-1]["rel_gap"] is not None]
                    if gaps:
                        bar.set_postfix(median_rel_gap=f"{sorted(gaps)[len(gaps) // 2]:.2e}")
                if phase_over:
                    self.phase_ends.append({"phase": self.phase_index, "kind": phase.kind, "steps": self.phase_step,
                                            "stalled": False, "loss": None, "step": self.step})
                    self.phase_index += 1
                    self.phase_step = 0
                    self._enter_phase()
                    self._save()
                elif self.phase_step % phase.checkpoint_every == 0:
                    self._save()
        finally:
            bar.close()
        return all_members


def _survivors(losses: Tensor, before: list[Member], now: list[Member]) -> Tensor:
    """The losses of the members still in the batch (losses were computed before failures were dropped)."""
    ids = {id(m): i for i, m in enumerate(before)}
    return losses[[ids[id(m)] for m in now]] if len(now) != len(losses) else losses


def _generator(state: Tensor) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.set_state(state.cpu() if isinstance(state, Tensor) else state)
    return g
