"""Run directories: the on-disk record of one verification run (docs/interfaces.md, "numerics").

Layout of ``DIR`` (``--out DIR``)::

    config.json     every option, seed, device, data source, versions
    metrics.jsonl   one JSON object per logged step, appended (flush + fsync) while training
    checkpoint.pt   model + optimiser + RNG states + step/phase, written atomically (temp file in the
                    same folder, then os.replace) and read back with torch.load(weights_only=True)
    data.npz        x_train, x_test for generated data (absent for MNIST: config.json says how to load)
    summary.json    final verdict
    control/        the Fig. 1a control run (decoder variance frozen at a wrong value), same layout

Everything a checkpoint holds is a tensor, a dict/list of tensors or a primitive, so it loads with
``weights_only=True`` (no pickled code runs when a run directory from elsewhere is opened).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
DATA = "data.npz"
SUMMARY = "summary.json"
CONTROL = "control"


def json_safe(value: Any) -> Any:
    """`value` with tensors/arrays turned into lists and non-finite floats into None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return json_safe(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """Write through `write(file_object)` into a temp file beside `path`, fsync, then os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Strict JSON (non-finite floats as null), written atomically."""
    text = json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n"
    _atomic_write(Path(path), lambda h: h.write(text.encode()))


class RunDir:
    """One run directory; every write is either an fsync'ed append (metrics) or atomic (the rest)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- config / summary -------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / CONFIG).is_file()

    def create(self, config: dict) -> None:
        """Create the folder and write config.json; refuses a folder that already holds a run."""
        if self.exists():
            raise FileExistsError(f"{self.path} already holds a run; resume it with --resume {self.path}")
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path / CONFIG, config)

    def read_config(self) -> dict:
        return json.loads((self.path / CONFIG).read_text())

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.path / SUMMARY, summary)

    def read_summary(self) -> dict | None:
        path = self.path / SUMMARY
        return json.loads(path.read_text()) if path.is_file() else None

    # -- metrics ----------------------------------------------------------------------------
    def append_metrics(self, row: dict) -> None:
        """Append one JSON line and force it to disk, so a killed run keeps its history."""
        line = json.dumps(json_safe(row), allow_nan=False) + "\n"
        with open(self.path / METRICS, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def read_metrics(self) -> list[dict]:
        path = self.path / METRICS
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a kill mid-write
                    break
        return rows

    def truncate_metrics(self, last_step: int) -> None:
        """Keep only rows with step <= last_step (those past a checkpoint are re-logged on resume)."""
        rows = [r for r in self.read_metrics() if r.get("step", -1) <= last_step]
        text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows)
        _atomic_write(self.path / METRICS, lambda h: h.write(text.encode()))

    # -- checkpoint -------------------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> None:
        """torch.save to a temp file in this folder, then os.replace: never a half-written file."""
        _atomic_write(self.path / CHECKPOINT, lambda h: torch.save(state, h))

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict | None:
        path = self.path / CHECKPOINT
        if not path.is_file():
            return None
        return torch.load(path, map_location=map_location, weights_only=True)

    # -- data -------------------------------------------------------------------------------
    def save_data(self, x_train: torch.Tensor, x_test: torch.Tensor) -> None:
        def write(handle):
            np.savez(handle, x_train=x_train.detach().cpu().numpy(), x_test=x_test.detach().cpu().numpy())

        _atomic_write(self.path / DATA, write)

    def has_data(self) -> bool:
        return (self.path / DATA).is_file()

    def load_data(self) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.path / DATA) as archive:
            return archive["x_train"], archive["x_test"]

    def control(self) -> "RunDir":
        return RunDir(self.path / CONTROL)


@dataclass
class Run:
    """A finished (or interrupted) run as read back from disk by `load_run`."""

    path: Path
    config: dict
    metrics: list[dict]
    summary: dict | None
    model: torch.nn.Module | None
    data: tuple[torch.Tensor, torch.Tensor]


def load_run(path: str | Path) -> Run:
    """Read a run directory: config, metrics, summary, the model at its last checkpoint (eval mode,
    on CPU, in the run's dtype) and the data (from data.npz, or regenerated from config.json)."""
    from numerics.data import load_data
    from numerics.models import build_model

    run_dir = RunDir(path)
    if not run_dir.exists():
        raise FileNotFoundError(f"{path} is not a run directory (no {CONFIG})")
    config = run_dir.read_config()
    dtype = getattr(torch, config["dtype"])
    if run_dir.has_data():
        x_train, x_test = (torch.as_tensor(a, dtype=dtype) for a in run_dir.load_data())
    else:
        dataset = load_data(config["data"], data_dir=config.get("data_dir"), seed=config["seed"],
                            n_train=config.get("n_train"), n_test=config.get("n_test"), dtype=dtype)
        x_train, x_test = dataset.x_train, dataset.x_test
    model = None
    checkpoint = run_dir.load_checkpoint()
    if checkpoint is not None:
        model = build_model(config["model"], x_train.shape[1], config["latent_dim"],
                            hidden=tuple(config["hidden"]), enc_link=config["enc_link"],
                            dec_link=config["dec_link"], dtype=dtype, device="cpu")
        model.load_state_dict(checkpoint["model"])
        model.eval()
    return Run(path=Path(path), config=config, metrics=run_dir.read_metrics(),
               summary=run_dir.read_summary(), model=model, data=(x_train, x_test))
