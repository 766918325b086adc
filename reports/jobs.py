"""Run the build's commands (proofs, verification runs, sweeps, studies) as child processes, several at once.

Every numeric run of a profile is an independent command of the kit (``python -m numerics.verify ...``)
that writes its own folder; the build starts up to ``workers`` of them at a time, longest expected
first (so the longest run starts at once and the short ones fill the other workers), and reads the
folders when they are done. One torch thread per child, so the numbers do not depend on how many run
side by side, and ``workers`` = the number of cores uses the machine: the quick profile's four
verification runs take about as long as the slowest of them instead of their sum.

Each child writes its stdout and stderr to ``<out>/logs/<job>.log`` (and ``<out>/proofs.json`` for the
proofs' JSON); the build prints one line per finished job. Children import the same packages as the
build (``PYTHONPATH`` = the build's ``sys.path``), so a checkout that is not installed works too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

MODULES: dict[str, str] = {"verify": "numerics.verify", "sweep": "numerics.sweep",
                           "criterion": "numerics.criterion", "stream": "numerics.stream",
                           "proofs": "proofs.check"}
"""The module each kind of job runs with ``python -m`` (tests substitute fakes here)."""


@dataclass
class Job:
    """One command: ``python -m MODULES[kind] *argv``, its log file and its expected wall time."""

    name: str
    kind: str
    argv: list[str]
    log: Path
    expected_seconds: float = 60.0
    stdout: Path | None = None  # where stdout goes instead of the log (the proofs' JSON)


@dataclass
class Finished:
    """A job's exit status (None: it could not be started) and wall time."""

    job: Job
    returncode: int | None
    seconds: float
    error: str = ""


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen
    started: float
    handles: list = field(default_factory=list)


def child_environment() -> dict[str, str]:
    """The build's environment with PYTHONPATH set to its sys.path and one torch/BLAS thread per child."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _start(job: Job) -> _Running:
    job.log.parent.mkdir(parents=True, exist_ok=True)
    log = open(job.log, "wb")
    out = open(job.stdout, "wb") if job.stdout is not None else log
    command = [sys.executable, "-m", MODULES[job.kind], *job.argv]
    log.write((" ".join(command) + "\n").encode())
    log.flush()
    process = subprocess.Popen(command, stdout=out, stderr=log, stdin=subprocess.DEVNULL, env=child_environment())
    return _Running(job, process, time.perf_counter(), [log] + ([out] if out is not log else []))


def run_jobs(jobs: list[Job], workers: int, *, report=None) -> list[Finished]:
    """Run every job, at most ``workers`` at a time, longest expected first; ``report(finished)`` is
    called as each one ends. On KeyboardInterrupt the running children are stopped and it propagates."""
    pending = sorted(jobs, key=lambda j: -j.expected_seconds)
    running: list[_Running] = []
    done: list[Finished] = []
    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                job = pending.pop(0)
                try:
                    running.append(_start(job))
                except OSError as error:
                    done.append(Finished(job, None, 0.0, f"cannot start: {error}"))
                    if report:
                        report(done[-1])
            time.sleep(0.05)
            for item in [r for r in running if r.process.poll() is not None]:
                running.remove(item)
                for handle in item.handles:
                    handle.close()
                done.append(Finished(item.job, item.process.returncode, time.perf_counter() - item.started))
                if report:
                    report(done[-1])
    except BaseException:
        for item in running:
            item.process.terminate()
        for item in running:
            try:
                item.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                item.process.kill()
            for handle in item.handles:
                handle.close()
        raise
    order = {id(job): k for k, job in enumerate(jobs)}
    return sorted(done, key=lambda f: order[id(f.job)])


def log_tail(path: Path, lines: int = 1) -> str:
    """The last non-empty line(s) of a log file ('' if unreadable): what a failed child said last."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " ".join(line.strip() for line in text[-lines:])
