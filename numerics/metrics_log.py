"""metrics.jsonl: a run's training history, only ever appended, and the one reader every reader uses.

Each complete line (ending in a newline) is one of:

* a row: a JSON object with an integer ``"step"`` >= 0 (one logged step; the kit writes strict JSON,
  non-finite numbers as null);
* a marker ``{"superseded_after": S, "reason": ...}`` (an integer S >= -1), appended when a run is
  resumed from its checkpoint at step S: every row ABOVE the marker with step > S is superseded,
  because those steps are replayed from the checkpoint and logged again below it (S = -1: a run that
  starts afresh supersedes all of them);
* anything else (not JSON, not an object, NaN or Infinity, no integer step, invalid UTF-8): a bad line,
  skipped and reported by number in `MetricsLog.bad_lines`. It is never removed.

An unterminated last line is a write cut by a kill: readers ignore it (`MetricsLog.partial_tail`), and
the next writer sets it aside (`set_aside_tail`: appended to metrics.jsonl.cut, then cut from
metrics.jsonl) before it appends, so that a new row never joins a fragment. Those bytes are the only
ones ever removed from the file; everything else is append-only, so no reader can lose history to a
resume.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

METRICS = "metrics.jsonl"
METRICS_CUT = "metrics.jsonl.cut"
"""Where half-written last lines go: one fragment per line, in the order they were set aside."""
MARKER = "superseded_after"
_TAIL_BLOCK = 1 << 16


@dataclass
class MetricsLog:
    """metrics.jsonl as read: the rows in effect (file order) and what was skipped."""

    rows: list[dict] = field(default_factory=list)
    superseded: int = 0
    """Rows replaced by a later resume (see the module docstring)."""
    bad_lines: list[int] = field(default_factory=list)
    """1-based numbers of complete lines that are neither a row nor a marker."""
    partial_tail: bool = False
    """The file ends in an unterminated line (ignored)."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-finite number {name}")


def _entry(raw: bytes) -> dict | None:
    """The JSON object on one line, or None when it is not strict JSON holding an object."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return value if isinstance(value, dict) else None


def _is_int(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def parse_metrics(lines: Iterable[bytes]) -> MetricsLog:
    """The metrics log held by `lines` (binary lines with their newlines, e.g. an open file)."""
    log = MetricsLog()
    for number, raw in enumerate(lines, 1):
        if not raw.endswith(b"\n"):
            log.partial_tail = True
            break
        entry = _entry(raw)
        if entry is not None and "step" not in entry and _is_int(entry.get(MARKER), -1):
            kept = [row for row in log.rows if row["step"] <= entry[MARKER]]
            log.superseded += len(log.rows) - len(kept)
            log.rows = kept
        elif entry is not None and _is_int(entry.get("step"), 0):
            log.rows.append(entry)
        else:
            log.bad_lines.append(number)
    return log


def read_metrics_log(path: str | Path) -> MetricsLog:
    """The metrics log in the file `path` (empty if absent). OSError when `path` is a link (not followed)
    or not a regular file (a FIFO is not waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return MetricsLog()
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return parse_metrics(handle)


def row_line(row: dict) -> bytes:
    """One row as a strict-JSON line (ValueError for a row without an integer step >= 0)."""
    if not _is_int(row.get("step"), 0):
        raise ValueError(f"a metrics row needs an integer step >= 0, got {row.get('step')!r}")
    return (json.dumps(row, allow_nan=False) + "\n").encode()


def marker_line(after_step: int) -> bytes:
    """The marker that supersedes every earlier row with step > `after_step`."""
    reason = ("a fresh start: every earlier row is superseded" if after_step < 0 else
              f"resumed from the checkpoint at step {after_step}: earlier rows of later steps are replayed below")
    return (json.dumps({MARKER: int(after_step), "reason": reason}) + "\n").encode()


def unterminated_tail(handle: BinaryIO) -> int | None:
    """Offset where the unterminated last line of the open file `handle` starts; None if it ends cleanly."""
    fd = handle.fileno()
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return None
    end = size
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def set_aside_tail(handle: BinaryIO, cut: BinaryIO) -> bool:
    """Move the unterminated last line of `handle` (metrics.jsonl, open for appending) to the end of
    `cut` (metrics.jsonl.cut) as one line, fsync'ed there before it is cut here. True if there was one."""
    start = unterminated_tail(handle)
    if start is None:
        return False
    fd = handle.fileno()
    fragment = os.pread(fd, os.fstat(fd).st_size - start, start)
    cut.write(fragment + b"\n")
    cut.flush()
    os.fsync(cut.fileno())
    os.ftruncate(fd, start)
    os.fsync(fd)
    return True
