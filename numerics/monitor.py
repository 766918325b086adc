"""A three-entropy monitor for any training loop: call it once per step (or epoch).

    monitor = Monitor(model, x_val, every=100, log="three_entropies.jsonl", tensorboard="runs/tb")
    for step, batch in enumerate(loader):
        ...; optimizer.step()
        monitor(step)                  # every 100th call: diagnose on x_val, one JSONL row, TB scalars
    monitor.close()

Every `every`-th call runs `numerics.diagnose` (`numerics.diagnosis`) on x_val with ONE fixed design, drawn at the first call
(randomised QMC, `samples` points per validation point in `replicates` randomisations, own seed), so
successive rows differ by the model only, never by fresh sampling noise; the coverage probe runs at
the first call only (the parametrisation does not change in training). The model is copied to
float64 in eval mode for the evaluation; the training model and its RNG state are not touched.

A row (one JSON object per line, appended and flushed, so a killed run keeps its history): step,
seconds (of the monitor's own work), elbo, elbo_se, entropy_sum, gap, gap_se, rel_gap,
residual_decoder, residual_prior [H], decoder_factor, prior_factors [H] (the variance changes that
would zero each residual), elbo_gain (F's rise if they were made), kl [H], active_variance [H],
collapsed [H], n_collapsed, covered. The same scalars go to TensorBoard (`three_entropies/...`,
per-latent ones as `.../h`) when `tensorboard` is a folder and `torch.utils.tensorboard` works (the
optional `tensorboard` package: `pip install -e '.[tensorboard]'`; without it a warning says so once
and the JSONL log goes on), or when it is an object with `add_scalar` (your own SummaryWriter).
A PyTorch Lightning callback is in `numerics.lightning_callback` (`pip install -e '.[lightning]'`).
"""
from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from numerics import estimators
from numerics.adapters import inspect_model
from numerics.coverage import Coverage
from numerics.diagnosis import Diagnosis, diagnose

DEFAULT_SAMPLES = 16
DEFAULT_REPLICATES = 4
"""The monitor's design per validation point: 16 randomised-QMC points in 4 randomisations (cheap enough
to call every few steps; its standard error is reported with every row)."""
SCALARS = ("elbo", "elbo_se", "entropy_sum", "gap", "gap_se", "rel_gap", "residual_decoder", "decoder_factor",
           "elbo_gain", "n_collapsed")
PER_LATENT = ("residual_prior", "prior_factors", "kl", "active_variance")


def row_from(diagnosis: Diagnosis, step: int, seconds: float) -> dict:
    """The monitor's flat JSONL row of a diagnosis (module docstring)."""
    d = diagnosis.to_dict()
    priors = [name for name in d["residuals"] if name != "decoder"]
    return {"step": step, "seconds": seconds, "elbo": d["elbo"], "elbo_se": d["elbo_se"],
            "entropy_sum": d["entropy_sum"], "gap": d["gap"], "gap_se": d["gap_se"], "rel_gap": d["rel_gap"],
            "residual_decoder": d["residuals"]["decoder"]["value"],
            "residual_prior": [d["residuals"][n]["value"] for n in priors],
            "decoder_factor": d["residuals"]["decoder"]["factor"],
            "prior_factors": [d["residuals"][n]["factor"] for n in priors], "elbo_gain": d["elbo_gain"],
            "kl": [lat["kl"] for lat in d["latents"]], "active_variance": [lat["active_variance"] for lat in d["latents"]],
            "collapsed": [lat["collapsed"] for lat in d["latents"]],
            "n_collapsed": sum(lat["collapsed"] for lat in d["latents"]), "covered": d["covered"]}


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


class Monitor:
    """Three-entropy diagnostics every `every` calls (module docstring). Use as a context manager or
    call `close()` at the end (it closes a TensorBoard writer the monitor opened itself)."""

    def __init__(self, model: nn.Module, x_val: Tensor, *, every: int = 1, log: str | Path | None = None,
                 tensorboard: str | Path | Any | None = None, samples: int = DEFAULT_SAMPLES,
                 replicates: int = DEFAULT_REPLICATES, seed: int = 0, probe: bool = True) -> None:
        if int(every) < 1:
            raise ValueError(f"every must be >= 1; got {every}")
        self.model, self.x_val, self.every = model, x_val, int(every)
        self.log = None if log is None else Path(log)
        self.samples, self.replicates, self.seed, self.probe = samples, replicates, seed, probe
        self.calls = 0
        self.history: list[dict] = []
        self.design: estimators.Design | None = None
        self.coverage: Coverage | None = None
        self._writer, self._owns_writer = self._open_tensorboard(tensorboard)

    @staticmethod
    def _open_tensorboard(target: str | Path | Any | None) -> tuple[Any, bool]:
        if target is None:
            return None, False
        if hasattr(target, "add_scalar"):
            return target, False
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # the optional tensorboard package is missing
            warnings.warn(f"TensorBoard scalars not written ({err}); install the extra: pip install -e '.[tensorboard]'",
                          stacklevel=3)
            return None, False
        return SummaryWriter(log_dir=str(target)), True

    def _first_call(self) -> None:
        shape = inspect_model(self.model, self.x_val)
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        reps = next(r for r in range(min(self.replicates, self.samples), 0, -1) if self.samples % r == 0)
        self.design = estimators.rqmc_design(self.samples, self.x_val.shape[0], shape.H, replicates=reps,
                                             generator=gen, dtype=torch.float64, device=self.x_val.device)
        if self.probe:
            from numerics.coverage import coverage
            self.coverage = coverage(self.model, self.x_val, seed=self.seed)

    def __call__(self, step: int | None = None) -> dict | None:
        """Count one call; on every `every`-th (the first included) diagnose, log and return the row."""
        self.calls += 1
        if (self.calls - 1) % self.every:
            return None
        step = self.calls - 1 if step is None else int(step)
        started = time.perf_counter()
        if self.design is None:
            self._first_call()
        diagnosis = diagnose(self.model, self.x_val, design=self.design, seed=self.seed, probe=False,
                             coverage_result=self.coverage)
        row = row_from(diagnosis, step, 0.0)
        row["seconds"] = time.perf_counter() - started
        self._write(row)
        self.history.append(row)
        return row

    def _write(self, row: dict) -> None:
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({k: _json_value(v) for k, v in row.items()}) + "\n")
                handle.flush()
        if self._writer is None:
            return
        for key in SCALARS:
            if row[key] is not None and math.isfinite(row[key]):
                self._writer.add_scalar(f"three_entropies/{key}", row[key], row["step"])
        for key in PER_LATENT:
            for h, value in enumerate(row[key]):
                if value is not None and math.isfinite(value):
                    self._writer.add_scalar(f"three_entropies/{key}/{h}", value, row["step"])

    def close(self) -> None:
        """Flush and close the TensorBoard writer if the monitor opened it."""
        if self._writer is not None and self._owns_writer:
            self._writer.close()
        self._writer = None

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
