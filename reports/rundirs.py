"""Read finished (or partly finished) run directories written by ``numerics`` (docs/interfaces.md).

Only the JSON files are read here (``config.json``, ``metrics.jsonl``, ``summary.json`` and the
same files under ``control/``); models and data are loaded lazily through
``numerics.rundir.load_run`` by the figure that needs them (Fig. 3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class RunDirError(ValueError):
    """A path given as a run directory is missing or holds no readable run."""


@dataclass
class RunRecord:
    """One run directory: its summary verdict, its configuration and its training history."""

    path: str
    summary: dict
    config: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    control: "RunRecord | None" = None
    seconds: float | None = None

    @property
    def model(self) -> str:
        return str(self.summary.get("model") or self.config.get("model") or "?")

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "MISSING"))

    def to_dict(self) -> dict:
        """Plain-JSON form; the (long) metrics history stays in the run directory."""
        return {"path": self.path, "summary": self.summary, "config": self.config, "seconds": self.seconds,
                "metrics_rows": len(self.metrics), "control": self.control.to_dict() if self.control else None}


def read_json(path: Path) -> dict:
    """Read a JSON object from ``path``; raise :class:`RunDirError` with one clear line if unreadable."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise RunDirError(f"cannot read {path}: {error}") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path} does not hold a JSON object")
    return value


def read_metrics(path: Path) -> list[dict]:
    """The rows in effect of ``metrics.jsonl``, read by the kit's one reader
    (``numerics.metrics_log.read_metrics_log``: rows superseded by a resume, bad lines and a half-written
    last line are not rows); :class:`RunDirError` when the file cannot be read (a link, a FIFO)."""
    from numerics.metrics_log import read_metrics_log

    try:
        return read_metrics_log(path).rows
    except OSError as error:
        raise RunDirError(f"cannot read {path}: {error.strerror or error}") from None


def read_run(path: Path) -> RunRecord:
    """Read one run directory (and its ``control/`` sub-run, if any)."""
    path = Path(path)
    summary_path = path / "summary.json"
    if not summary_path.exists():
        raise RunDirError(f"{path} is not a finished run directory (no summary.json)")
    summary = read_json(summary_path)
    config = read_json(path / "config.json") if (path / "config.json").exists() else {}
    control_dir = path / "control"
    control = read_run(control_dir) if (control_dir / "summary.json").exists() else None
    seconds = summary.get("seconds")
    return RunRecord(path=str(path), summary=summary, config=config,
                     metrics=read_metrics(path / "metrics.jsonl"), control=control,
                     seconds=float(seconds) if isinstance(seconds, (int, float)) else None)


def find_runs(root: Path) -> list[RunRecord]:
    """All run directories at or below ``root`` (``control/`` sub-runs belong to their parent).

    Raises :class:`RunDirError` when ``root`` does not exist or holds no run.
    """
    root = Path(root)
    if not root.is_dir():
        raise RunDirError(f"--runs {root}: no such directory")
    if (root / "summary.json").exists():
        return [read_run(root)]
    found = sorted(p.parent for p in root.rglob("summary.json") if p.parent.name != "control")
    if not found:
        raise RunDirError(f"--runs {root}: no run directory (summary.json) found below it")
    return [read_run(p) for p in found]
