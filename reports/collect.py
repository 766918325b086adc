"""Gather everything a report shows into one plain :class:`ReportData` structure.

Symbolic results come from ``python -m proofs.check all --json`` (or a saved copy of its output);
numeric results from the kit's commands (``numerics.verify`` per run, ``numerics.sweep``,
``numerics.criterion``, ``numerics.stream``), run as child processes (`reports.jobs`) into folders
under ``<out>/runs``, or from finished run directories given with ``--runs``. Nothing here draws or
formats: data flows one way, from results to rendering.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from reports.jobs import Finished, Job, log_tail, run_jobs
from reports.profiles import MODELS, GroupSpec, profile_groups
from reports.rundirs import RunDirError, RunRecord, find_runs, read_json, read_run


@dataclass
class RunGroup:
    """Runs of one model and one training setting (one figure panel)."""

    key: str
    title: str
    model: str
    protocol: str
    role: str
    variant: str = "base"
    runs: list[RunRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float | None = None  # wall time of the group's jobs in this build (summed over its runs)
    study: dict | None = None  # a study's own result (the stream experiment's stream.json)

    def to_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "model": self.model, "protocol": self.protocol,
                "role": self.role, "variant": self.variant, "errors": self.errors, "seconds": self.seconds,
                "study": self.study, "runs": [run.to_dict() for run in self.runs]}


@dataclass
class ReportData:
    """Everything the report shows: proof results, numeric run groups, provenance, wall times."""

    profile: str
    proofs: dict | None
    proofs_error: str | None
    groups: list[RunGroup]
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def claims(self) -> list[dict]:
        return list((self.proofs or {}).get("claims", []))

    def to_dict(self) -> dict:
        return {"profile": self.profile, "proofs": self.proofs, "proofs_error": self.proofs_error,
                "groups": [g.to_dict() for g in self.groups],
                "timings": self.timings, "provenance": self.provenance}

    @classmethod
    def from_dict(cls, results: dict) -> "ReportData":
        """The structure back from results.json (runs without their metrics, which stay in the run folders)."""
        groups = []
        for g in results.get("groups", []):
            group = RunGroup(key=g["key"], title=g["title"], model=g["model"], protocol=g["protocol"], role=g["role"],
                             variant=g.get("variant", "base"), errors=list(g.get("errors", [])),
                             seconds=g.get("seconds"), study=g.get("study"))
            group.runs = [_record(r) for r in g.get("runs", [])]
            groups.append(group)
        return cls(profile=results.get("profile", ""), proofs=results.get("proofs"),
                   proofs_error=results.get("proofs_error"), groups=groups, timings=dict(results.get("timings", {})),
                   provenance=dict(results.get("provenance", {})))

    def save(self, path: Path) -> None:
        """Write the structure (without per-step metrics, which stay in the run directories) as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str))


def _record(run: dict) -> RunRecord:
    """A RunRecord from its ``to_dict`` form (without metrics)."""
    control = run.get("control")
    return RunRecord(path=run["path"], summary=run.get("summary") or {}, config=run.get("config") or {},
                     seconds=run.get("seconds"), control=_record(control) if isinstance(control, dict) else None)


# ---------------------------------------------------------------- proofs


def load_proofs_file(path: Path) -> dict:
    """Read a saved ``python -m proofs.check all --json`` output."""
    data = read_json(Path(path))
    if not isinstance(data.get("claims"), list):
        raise RunDirError(f"{path}: no 'claims' list (expected `python -m proofs.check all --json` output)")
    return data


# ---------------------------------------------------------------- numerics


def _group_from_spec(spec: GroupSpec) -> RunGroup:
    return RunGroup(key=spec.key, title=spec.title, model=spec.model, protocol=spec.protocol,
                    role=spec.role, variant=spec.variant)


def run_dir_for(out: Path, spec: GroupSpec, seed: int) -> Path:
    """Where a profile's verification run is written: ``<out>/runs/<group>/seed<k>``."""
    return out / "runs" / spec.key / f"seed{seed:03d}"


VERIFY_OPTIONS = {"steps": "--steps", "eval_samples": "--eval-samples"}
SWEEP_OPTIONS = {"batch_size": "--batch-size", "lr": "--lr", "epochs": "--epochs"}


def _flags(options: dict, names: dict[str, str]) -> list[str]:
    return [part for key, flag in names.items() if key in options for part in (flag, str(options[key]))]


@dataclass
class _Planned:
    """A job of the build and how its output is read back into its group."""

    job: Job
    group: RunGroup
    path: Path
    seed: int | None = None


def _plan_group(spec: GroupSpec, group: RunGroup, out: Path, device: str, rerun: bool) -> list[_Planned]:
    """The jobs a group still needs (finished runs are read at once, not repeated, unless ``rerun``)."""
    logs = out / "logs"
    if spec.runner == "verify":
        unknown = sorted(set(spec.options) - set(VERIFY_OPTIONS))
        if unknown:
            group.errors.append(f"numerics.verify has no option for {', '.join(unknown)}: group not run")
            return []
        planned = []
        for seed in spec.seeds:
            path = run_dir_for(out, spec, seed)
            if rerun and path.exists():
                shutil.rmtree(path)
            if (path / "summary.json").exists():
                group.runs.append(read_run(path))
                continue
            argv = (["--resume", str(path)] if (path / "config.json").exists() else  # interrupted: continue it
                    ["--model", spec.model, "--protocol", spec.protocol, "--seed", str(seed), "--device", device,
                     "--out", str(path), *_flags(spec.options, VERIFY_OPTIONS)])
            job = Job(f"{spec.key}-seed{seed:03d}", "verify", argv + ["--no-progress"],
                      logs / f"{spec.key}-seed{seed:03d}.log", spec.expected_seconds)
            planned.append(_Planned(job, group, path, seed))
        return planned
    path = out / "runs" / spec.key
    if rerun and path.exists():
        shutil.rmtree(path)
    if spec.runner == "sweep":  # resumable by itself: finished members are kept
        argv = ["--model", spec.model, "--protocol", spec.protocol, "--runs", str(len(spec.seeds)),
                "--seed0", str(spec.seeds[0]), "--device", device, "--out", str(path), "--no-progress",
                *_flags(spec.options, SWEEP_OPTIONS)]
        return [_Planned(Job(spec.key, "sweep", argv, logs / f"{spec.key}.log", spec.expected_seconds), group, path)]
    done_file = "summary.json" if spec.runner == "criterion" else "stream.json"
    if (path / done_file).exists():
        _read_back(_Planned(Job(spec.key, spec.runner, [], logs / f"{spec.key}.log"), group, path), None)
        return []
    if path.exists():  # an interrupted study starts again (a few minutes at most)
        shutil.rmtree(path)
    argv = ["--out", str(path)] + (["--no-progress"] if spec.runner == "stream" else [])
    return [_Planned(Job(spec.key, spec.runner, argv, logs / f"{spec.key}.log", spec.expected_seconds), group, path)]


def _read_back(planned: _Planned, finished: Finished | None) -> None:
    """Read a finished job's folder into its group; a job that wrote nothing readable is a group error."""
    group, path = planned.group, planned.path
    why = ""
    if finished is not None and finished.returncode not in (0, None):
        why = f" (exit {finished.returncode}: {log_tail(planned.job.log)})"
    elif finished is not None and finished.returncode is None:
        why = f" ({finished.error})"
    try:
        if planned.job.kind == "verify":
            record = read_run(path)
            if finished is not None:
                record.seconds = finished.seconds
            group.runs.append(record)
        elif planned.job.kind == "sweep":
            group.runs.extend(find_runs(path))
            if finished is not None and finished.returncode == 2:
                group.errors.append(f"numerics.sweep refused its options{why}")
        elif planned.job.kind == "criterion":
            group.runs.append(read_run(path))
        else:
            group.study = read_json(path / "stream.json")
            group.study["figure"] = str(path / "stream.png")
    except RunDirError as error:
        label = f"seed {planned.seed}: " if planned.seed is not None else ""
        group.errors.append(f"{label}no result{why or ''}: {error}")


def run_profile(specs: list[GroupSpec], out: Path, device: str, rerun: bool = False, *, workers: int = 1,
                proofs: bool = False) -> tuple[list[RunGroup], dict | None, str | None]:
    """Run every group of a profile (and, with ``proofs``, ``python -m proofs.check all --json``) as child
    processes, ``workers`` at a time (`reports.jobs`). Resumable: finished runs are read, not repeated
    (unless ``rerun``). Returns the groups, the proofs' JSON (or None) and the proofs' error line."""
    groups = [_group_from_spec(spec) for spec in specs]
    planned = [p for spec, group in zip(specs, groups) for p in _plan_group(spec, group, out, device, rerun)]
    by_job = {id(p.job): p for p in planned}
    jobs = [p.job for p in planned]
    proofs_job = None
    if proofs:
        proofs_job = Job("proofs", "proofs", ["all", "--json"], out / "logs" / "proofs.log", 30.0,
                         stdout=out / "proofs.json")
        jobs.append(proofs_job)
    group_seconds: dict[str, float] = {}

    def report(finished: Finished) -> None:
        job = finished.job
        if job is proofs_job:
            word = "done" if finished.returncode in (0, 1) else f"exit {finished.returncode}"
        else:
            item = by_job[id(job)]
            _read_back(item, finished)
            group_seconds[item.group.key] = group_seconds.get(item.group.key, 0.0) + finished.seconds
            runs = [r for r in item.group.runs if item.seed is None or r.path == str(item.path)]
            word = ", ".join(sorted({r.status for r in runs})) or "no result"
        print(f"{job.name}: {word} in {finished.seconds:.0f} s (log {job.log})", file=sys.stderr, flush=True)

    if jobs:
        print(f"running {len(jobs)} job(s), {workers} at a time; logs in {out / 'logs'}", file=sys.stderr)
    run_jobs(jobs, workers, report=report)
    for group in groups:
        group.seconds = group_seconds.get(group.key)
    proofs_result, proofs_error = None, None
    if proofs_job is not None:
        try:
            proofs_result = load_proofs_file(out / "proofs.json")
        except RunDirError as error:
            proofs_error = f"proofs could not be run: {log_tail(proofs_job.log)} ({error})"
    return groups, proofs_result, proofs_error


def _variant_of(run: RunRecord) -> str:
    """Training variant of a paper-protocol run read from disk: batch size / learning rate if not Appendix C.3's.

    Reads the last phase of ``config.protocol_spec`` (numerics' layout), else top-level config keys.
    """
    if run.summary.get("protocol") != "paper":
        return "base"
    spec = run.config.get("protocol_spec") or run.config.get("protocol_def") or {}  # verify / sweep naming
    phases = spec.get("phases") or [run.config]
    options = phases[-1] if isinstance(phases[-1], dict) else {}
    parts = []
    if options.get("batch_size") not in (None, 2000):
        parts.append(f"batch {options['batch_size']}")
    if isinstance(options.get("lr"), (int, float)) and options["lr"] != 1e-3:
        parts.append(f"lr {options['lr']:g}")
    return ", ".join(parts) or "base"


def group_runs(runs: list[RunRecord]) -> list[RunGroup]:
    """Group runs read from ``--runs`` directories by model, protocol and training variant.

    Runs of a protocol other than ``paper`` decide numeric verdicts ("verify"); ``paper`` runs are
    the paper's reproduction experiments ("reproduce"), which count only when they fail; a criterion
    study (`numerics.criterion`) is its own group ("criterion").
    """
    groups: dict[tuple[str, str, str], RunGroup] = {}
    order = {model: i for i, model in enumerate(MODELS)}
    for run in runs:
        protocol = str(run.summary.get("protocol", "?"))
        role = "criterion" if run.summary.get("role") == "criterion" else \
            "reproduce" if protocol == "paper" else "verify"
        key = (run.model, protocol if role != "criterion" else "criterion", _variant_of(run))
        if key not in groups:
            label = MODELS.get(run.model, ((), "", run.model))[2]
            variant = "" if key[2] == "base" else f", {key[2]}"
            title = ("Criterion: stationary gap per decoder variance link" if role == "criterion" else
                     f"{label} ({protocol} protocol{variant})")
            groups[key] = RunGroup(key=f"{run.model}-{key[1]}" + ("" if key[2] == "base" else
                                                                   "-" + key[2].replace(" ", "")),
                                   title=title, model=run.model, protocol=protocol, role=role, variant=key[2])
        groups[key].runs.append(run)
    for group in groups.values():
        group.title = f"{group.title}, {len(group.runs)} run{'s' if len(group.runs) != 1 else ''}"
    return sorted(groups.values(), key=lambda g: (g.role != "verify", g.role, order.get(g.model, 99), g.variant))


def find_studies(root: Path) -> list[RunGroup]:
    """Stream-experiment folders (stream.json) at or below ``root``, each as a study group."""
    found = [root] if (root / "stream.json").exists() else sorted(p.parent for p in Path(root).rglob("stream.json"))
    groups = []
    for path in found:
        group = RunGroup(key="stream", title="Streaming model selection", model="linear", protocol="online",
                         role="study")
        group.study = {**read_json(path / "stream.json"), "figure": str(path / "stream.png")}
        groups.append(group)
    return groups


def collect(profile: str, out: Path, device: str = "auto", runs_dirs: list[Path] | None = None,
            proofs_file: Path | None = None, rerun: bool = False, paper_runs: int | None = None,
            paper_epochs: int | None = None, seeds: int = 1, workers: int = 1) -> ReportData:
    """Run (or read) proofs and numerics for ``profile`` and return the report's data
    (``paper_runs`` / ``paper_epochs``: a scaled-down full profile, `profiles.reproduction_groups`;
    ``seeds``: verification runs per model; ``workers``: child processes at a time).

    Raises :class:`RunDirError` for a bad ``--runs`` / ``--proofs`` path (a usage error).
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    proofs_result = load_proofs_file(proofs_file) if proofs_file is not None else None
    proofs_error = None
    if runs_dirs:
        runs = [run for root in runs_dirs for run in find_runs(Path(root))]
        groups = group_runs(runs) + [g for root in runs_dirs for g in find_studies(Path(root))]
        if proofs_file is None:
            _, proofs_result, proofs_error = run_profile([], out, device, workers=workers, proofs=True)
    else:
        specs = profile_groups(profile, paper_runs=paper_runs, paper_epochs=paper_epochs, seeds=seeds)
        groups, computed, proofs_error = run_profile(specs, out, device, rerun=rerun, workers=workers,
                                                     proofs=proofs_file is None)
        proofs_result = proofs_result if proofs_file is not None else computed
    timings["proofs and numerics" + (" (runs read from disk)" if runs_dirs else f", {workers} at a time")] = \
        time.perf_counter() - started
    return ReportData(profile=profile if not runs_dirs else f"{profile} (runs read from disk)",
                      proofs=proofs_result, proofs_error=proofs_error, groups=groups, timings=timings)
