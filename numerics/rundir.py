"""Run directories: the on-disk record of one verification run (docs/interfaces.md, "numerics").

Layout of ``DIR`` (``--out DIR``)::

    config.json        every option, seed, device, data source (with the data's fingerprint), versions
    metrics.jsonl      one JSON object per logged step, append-only (numerics.metrics_log)
    metrics.jsonl.cut  half-written last lines of metrics.jsonl, set aside (absent unless a write was cut)
    checkpoint.pt      model + optimiser + RNG states + step/phase, replaced atomically, read back with
                       torch.load(weights_only=True)
    data.npz           x_train, x_test for generated data (absent for MNIST: config.json says how to load)
    summary.json       final verdict
    writer.lock        the writer lock (numerics.rundir_files.WriterLock)
    control/           the Fig. 1a control run (decoder variance frozen at a wrong value), same layout

What a `RunDir` guarantees (docs/reliability.md):

* one writer: every write holds the run directory's writer lock (`acquire` holds it for a writer's
  lifetime; a write without it takes it for that write), so a second process is refused
  (`RunDirLocked`) instead of interleaving; `control/` is locked with its run directory;
* no lost history: metrics.jsonl is only appended; a resume appends a marker that supersedes the
  replayed steps (`rewind_metrics`); `read_metrics` / `numerics.metrics_log.read_metrics_log` is the
  one reader;
* nothing outside: every file and folder is opened without following links (`numerics.rundir_files`),
  and created with the user's umask;
* clear errors: an unreadable config.json, summary.json or checkpoint is a `RunDirError` (a
  `numerics.cli.UsageError`) whose message is one line naming the file; a checkpoint is
  "cannot read checkpoint PATH: REASON" (`CheckpointError`), and nothing it loads runs code.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import re
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch

from numerics import limits
from numerics.json_fields import RUN_FIELDS, SUMMARY_FIELDS, check_fields
from numerics.metrics_log import (METRICS, METRICS_CUT, MetricsLog, marker_line, parse_metrics, read_metrics_log,
                                  row_line, set_aside_tail, unterminated_tail)
from numerics.rundir_files import Folder, RunDirError, RunDirLocked, UnsafePathError, WriterLock

__all__ = ["RunDir", "Run", "load_run", "json_safe", "write_json_atomic", "load_model_state", "read_metrics_log",
           "MetricsLog", "RunDirError", "RunDirLocked", "UnsafePathError", "CheckpointError", "METRICS",
           "METRICS_CUT"]

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
DATA = "data.npz"
SUMMARY = "summary.json"
CONTROL = "control"
MAX_JSON_BYTES = 64 << 20
"""config.json and summary.json are a few kB; a larger file is not one the kit wrote."""


class CheckpointError(RunDirError):
    """A checkpoint that cannot be loaded safely: "cannot read checkpoint PATH: REASON"."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read checkpoint {path}: {reason}")


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


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n").encode()


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Strict JSON (non-finite floats as null) into `path`, atomically, through no link; the folder
    must exist (it is not a run directory: no lock)."""
    path = Path(path)
    folder = Folder.open(path.parent)
    if folder is None:
        raise RunDirError(f"cannot write {path}: {path.parent} does not exist")
    with folder:
        folder.replace(path.name, lambda h: h.write(_json_bytes(obj)))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not strict JSON")


def _parse_json_object(raw: bytes, path: Path) -> dict:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise RunDirError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        raise RunDirError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    except ValueError as err:
        raise RunDirError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: not a JSON object")
    return value


# -------------------------------------------------------------------------------------------------
# checkpoints
# -------------------------------------------------------------------------------------------------
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _checkpoint_reason(err: BaseException) -> str:
    """Why torch.load refused a checkpoint, in the kit's words: torch's own text is never passed on
    (it advises weights_only=False, which would run whatever code the file holds)."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError):
        found = _GLOBAL.search(text)
        if found:
            return f"it refers to the Python object {found.group(1)}, which could run code when loaded (refused)"
        return "not a complete PyTorch checkpoint (truncated, damaged, or not written by torch.save)"
    if isinstance(err, RuntimeError) and "cuda" in text.lower():
        return "it holds CUDA tensors and no CUDA device is available here"
    if isinstance(err, (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError)):
        return "not a complete PyTorch checkpoint (truncated, damaged, or not written by torch.save)"
    return f"not a PyTorch checkpoint ({type(err).__name__})"


def load_model_state(model: torch.nn.Module, state: Any, path: Path) -> None:
    """`model.load_state_dict(state)`, or CheckpointError naming what differs (keys, shapes) when the
    checkpoint at `path` holds another model."""
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in state.items()):
        raise CheckpointError(path, "its 'model' entry is not a state dict of tensors")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} has shape {list(state[k].shape)}, the run needs {list(v.shape)}"
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected)}"] if unexpected else []) + shapes
        raise CheckpointError(path, "it holds another model: " + "; ".join(parts))
    model.load_state_dict(state)


# -------------------------------------------------------------------------------------------------
# the run directory
# -------------------------------------------------------------------------------------------------
class RunDir:
    """One run directory (see the module docstring). `RunDir(path)` is a top-level run directory;
    `child(name)` (e.g. `control()`) a folder inside it, locked and link-checked with it."""

    def __init__(self, path: str | Path, *, _root: Path | None = None, _parts: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self._root = self.path if _root is None else _root
        self._parts = _parts
        self._lock: WriterLock | None = None

    def child(self, name: str) -> "RunDir":
        return RunDir(self.path / name, _root=self._root, _parts=self._parts + (name,))

    def control(self) -> "RunDir":
        return self.child(CONTROL)

    # -- opening and locking --------------------------------------------------------------------
    @contextmanager
    def _open(self, *, create: bool) -> Iterator[tuple[Folder, Folder] | None]:
        """(top run directory, this folder), opened without following links; None if absent."""
        root = Folder.open(self._root, create=create)
        if root is None:
            yield None
            return
        folders = [root]
        try:
            for part in self._parts:
                child = folders[-1].subfolder(part, create=create)
                if child is None:
                    yield None
                    return
                folders.append(child)
            yield root, folders[-1]
        finally:
            for folder in reversed(folders):
                folder.close()

    @contextmanager
    def _reading(self) -> Iterator[Folder | None]:
        with self._open(create=False) as opened:
            yield None if opened is None else opened[1]

    @contextmanager
    def _writing(self) -> Iterator[Folder]:
        """This folder (created if needed) with the writer lock held: this object's, another of this
        process's, or one taken for this write alone."""
        with self._open(create=True) as opened:
            root, folder = opened
            lock = WriterLock(root)
            try:
                yield folder
            finally:
                lock.release()

    def acquire(self) -> "RunDir":
        """Hold the writer lock of the top run directory (created if needed) until `release`;
        RunDirLocked when another process holds it. Returns self (also a context manager)."""
        if self._lock is None:
            with self._open(create=True) as opened:
                self._lock = WriterLock(opened[0])
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "RunDir":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    # -- config / summary -------------------------------------------------------------------
    def exists(self) -> bool:
        """True when the folder holds a run (a config.json); UnsafePathError for a link on the way."""
        with self._reading() as folder:
            return folder is not None and folder.has_file(CONFIG)

    def create(self, config: dict) -> None:
        """Create the folder and write config.json; refuses a folder that already holds a run."""
        with self._writing() as folder:
            if folder.has_file(CONFIG):
                raise RunDirError(f"{self.path} already holds a run; resume it with --resume {self.path}")
            folder.replace(CONFIG, lambda h: h.write(_json_bytes(config)))

    def _read_json(self, name: str) -> dict | None:
        with self._reading() as folder:
            raw = None if folder is None else folder.read_bytes(name, MAX_JSON_BYTES)
        return None if raw is None else _parse_json_object(raw, self.path / name)

    def read_config(self) -> dict:
        """config.json as a dict (RunDirError when missing or not a JSON object)."""
        config = self._read_json(CONFIG)
        if config is None:
            raise RunDirError(f"{self.path} is not a run directory (no {CONFIG})")
        return config

    def write_summary(self, summary: dict) -> None:
        self.write_json(SUMMARY, summary)

    def write_json(self, name: str, obj: Any) -> None:
        """Strict JSON (non-finite floats as null) into the file `name` of this folder, atomically, under
        the writer lock (e.g. a sweep folder's aggregate.json)."""
        with self._writing() as folder:
            folder.replace(name, lambda h: h.write(_json_bytes(obj)))

    def read_summary(self) -> dict | None:
        """summary.json (None when absent); RunDirError when it is not JSON or a key has the wrong type
        (`SUMMARY_FIELDS`)."""
        summary = self._read_json(SUMMARY)
        if summary is not None:
            check_fields(summary, SUMMARY_FIELDS, self.path / SUMMARY)
        return summary

    # -- metrics ----------------------------------------------------------------------------
    @staticmethod
    def _append_metrics_lines(folder: Folder, lines: bytes) -> None:
        with folder.open_append(METRICS) as handle:
            if unterminated_tail(handle) is not None:
                with folder.open_append(METRICS_CUT) as cut:
                    set_aside_tail(handle, cut)
            handle.write(lines)
            os.fsync(handle.fileno())

    def append_metrics(self, row: dict) -> None:
        """Append one row (strict JSON, an integer step) and force it to disk, so a killed run keeps
        its history. A half-written last line is set aside first (numerics.metrics_log)."""
        line = row_line(json_safe(row))
        with self._writing() as folder:
            self._append_metrics_lines(folder, line)

    def rewind_metrics(self, last_step: int) -> None:
        """Supersede every row with step > `last_step` (a resume from the checkpoint at that step replays
        them; -1: a fresh start) by appending a marker; nothing is removed. No-op when no such row exists."""
        with self._writing() as folder:
            handle = folder.open_read(METRICS)
            if handle is None:
                return
            with handle:
                rows = parse_metrics(handle).rows
            if any(row["step"] > last_step for row in rows):
                self._append_metrics_lines(folder, marker_line(last_step))

    def metrics_log(self) -> MetricsLog:
        """metrics.jsonl as read by numerics.metrics_log: rows in effect, superseded and bad lines."""
        with self._reading() as folder:
            handle = None if folder is None else folder.open_read(METRICS)
        if handle is None:
            return MetricsLog()
        with handle:
            return parse_metrics(handle)

    def read_metrics(self) -> list[dict]:
        """The rows in effect (`metrics_log().rows`)."""
        return self.metrics_log().rows

    # -- checkpoint -------------------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> None:
        """torch.save to a temp file in this folder, then rename: never a half-written file."""
        with self._writing() as folder:
            folder.replace(CHECKPOINT, lambda h: torch.save(state, h))

    def load_checkpoint(self, map_location: str | torch.device = "cpu", *,
                        required: Iterable[str] = ("model",)) -> dict | None:
        """The checkpoint (None when there is none yet), loaded with weights_only=True: only tensors and
        plain containers, no code. CheckpointError ("cannot read checkpoint PATH: REASON") when it is
        empty, truncated, larger than this machine's memory allows, not a dict holding `required`,
        or holds anything else."""
        path = self.path / CHECKPOINT
        with self._reading() as folder:
            handle = None if folder is None else folder.open_read(CHECKPOINT)
        if handle is None:
            return None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            budget = limits.memory_budget("cpu")
            if size == 0:
                raise CheckpointError(path, "the file is empty")
            if size > budget:
                raise CheckpointError(path, f"it is {size} bytes, more than the {budget} this machine allows")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    state = torch.load(handle, map_location=map_location, weights_only=True)
            except Exception as err:  # noqa: BLE001 - every failure of an untrusted file is "cannot read"
                raise CheckpointError(path, _checkpoint_reason(err)) from None
        if not isinstance(state, dict):
            raise CheckpointError(path, f"not a training state (a dict), but a {type(state).__name__}")
        missing = [key for key in required if key not in state]
        if missing:
            raise CheckpointError(path, f"not a training state of this kit (no {', '.join(missing)})")
        return state

    # -- data -------------------------------------------------------------------------------
    def save_data(self, x_train: torch.Tensor, x_test: torch.Tensor) -> None:
        def write(handle):
            np.savez(handle, x_train=x_train.detach().cpu().numpy(), x_test=x_test.detach().cpu().numpy())

        with self._writing() as folder:
            folder.replace(DATA, write)

    def has_data(self) -> bool:
        with self._reading() as folder:
            return folder is not None and folder.has_file(DATA)

    def load_data(self) -> tuple[np.ndarray, np.ndarray]:
        """x_train, x_test from data.npz (RunDirError when unreadable or larger than memory allows)."""
        path = self.path / DATA
        with self._reading() as folder:
            handle = None if folder is None else folder.open_read(DATA)
        if handle is None:
            raise RunDirError(f"cannot read {path}: no such file")
        with handle:
            if os.fstat(handle.fileno()).st_size > limits.memory_budget("cpu"):
                raise RunDirError(f"cannot read {path}: larger than this machine's memory allows")
            try:
                with np.load(handle, allow_pickle=False) as archive:
                    x_train, x_test = archive["x_train"], archive["x_test"]
            except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as err:
                raise RunDirError(f"cannot read {path}: not the kit's data file ({type(err).__name__})") from None
        if x_train.ndim != 2 or x_test.ndim != 2 or x_train.dtype.kind != "f" or x_test.dtype.kind != "f":
            raise RunDirError(f"cannot read {path}: x_train and x_test must be 2-D float arrays")
        return x_train, x_test


@dataclass
class Run:
    """A finished (or interrupted) run as read back from disk by `load_run`."""

    path: Path
    config: dict
    metrics: list[dict]
    summary: dict | None
    model: torch.nn.Module | None
    data: tuple[torch.Tensor, torch.Tensor]


_DATA_DIMS = {"ppca": 10, "ring": 10, "mnist": 784}
_DEFAULT_POINTS = {"ppca": (10_000, 10_000), "ring": (10_000, 10_000), "mnist": (60_000, 10_000)}


def _check_run_size(config: dict, where: Path) -> None:
    """BoundsError before anything is allocated when the model and data of `config` exceed this machine."""
    n_train, n_test = _DEFAULT_POINTS[config["data"]]
    names = {k: f"{k} in {where}" for k in ("latent_dim", "hidden", "n_train", "n_test")}
    limits.check_memory(limits.Workload(
        model=config["model"], data_dim=_DATA_DIMS[config["data"]], latent_dim=config["latent_dim"],
        hidden=tuple(config["hidden"]), n_train=config.get("n_train") or n_train,
        n_test=n_test if config.get("n_test") is None else config["n_test"], options=names))


def load_run(path: str | Path) -> Run:
    """Read a run directory: config, metrics, summary, the model at its last checkpoint (eval mode,
    on CPU, in the run's dtype) and the data (from data.npz, or regenerated from config.json, then
    checked against the fingerprint config.json holds). Every failure is a RunDirError (or a
    BoundsError / DataError: all `numerics.cli.UsageError`s) with a one-line message."""
    from numerics.data import FINGERPRINT_KEY, DataError, check_fingerprint, load_data
    from numerics.models import build_model

    run_dir = RunDir(path)
    if not run_dir.exists():
        raise RunDirError(f"{path} is not a run directory (no {CONFIG})")
    config = run_dir.read_config()
    check_fields(config, RUN_FIELDS, run_dir.path / CONFIG)
    _check_run_size(config, run_dir.path / CONFIG)
    summary = run_dir.read_summary()
    dtype = getattr(torch, config["dtype"])
    if run_dir.has_data():
        x_train, x_test = (torch.as_tensor(a, dtype=dtype) for a in run_dir.load_data())
    else:
        try:
            dataset = load_data(config["data"], data_dir=config.get("data_dir"), seed=config["seed"],
                                n_train=config.get("n_train"), n_test=config.get("n_test"), dtype=dtype)
        except (DataError, ValueError, OSError) as err:
            raise RunDirError(f"cannot load the data of {path}: {err}") from None
        if FINGERPRINT_KEY in config:
            check_fingerprint(config[FINGERPRINT_KEY], dataset.meta.get("fingerprint"))
        x_train = dataset.x_train
        x_test = dataset.x_test if dataset.x_test is not None else dataset.x_train[:0]
    model = None
    checkpoint = run_dir.load_checkpoint()
    if checkpoint is not None:
        model = build_model(config["model"], x_train.shape[1], config["latent_dim"],
                            hidden=tuple(config["hidden"]), enc_link=config["enc_link"],
                            dec_link=config["dec_link"], dtype=dtype, device="cpu")
        load_model_state(model, checkpoint["model"], run_dir.path / CHECKPOINT)
        model.eval()
    return Run(path=Path(path), config=config, metrics=run_dir.read_metrics(), summary=summary, model=model,
               data=(x_train, x_test))
