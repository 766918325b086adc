"""Gather everything a report shows into one plain :class:`ReportData` structure.

Symbolic results come from ``proofs.check_claims`` (or a saved ``python -m proofs.check all --json``
file); numeric results come from ``numerics.verify.run_verification`` (one run directory per run
under ``<out>/runs``) or from finished run directories given with ``--runs``. Nothing here draws or
formats: data flows one way, from results to rendering.
"""

from __future__ import annotations

import importlib

import contextlib
import inspect
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

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
    seconds: float | None = None  # wall time of training the group in this build

    def to_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "model": self.model, "protocol": self.protocol,
                "role": self.role, "variant": self.variant, "errors": self.errors, "seconds": self.seconds,
                "runs": [run.to_dict() for run in self.runs]}


@dataclass
class ReportData:
    """Everything the report shows: proof results, numeric run groups, provenance, wall times."""

    profile: str
    proofs: dict | None
    proofs_error: str | None
    groups: list[RunGroup]
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    numerics_error: str | None = None

    def claims(self) -> list[dict]:
        return list((self.proofs or {}).get("claims", []))

    def to_dict(self) -> dict:
        return {"profile": self.profile, "proofs": self.proofs, "proofs_error": self.proofs_error,
                "numerics_error": self.numerics_error, "groups": [g.to_dict() for g in self.groups],
                "timings": self.timings, "provenance": self.provenance}

    def save(self, path: Path) -> None:
        """Write the structure (without per-step metrics, which stay in the run directories) as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str))


# ---------------------------------------------------------------- proofs


def load_proofs_file(path: Path) -> dict:
    """Read a saved ``python -m proofs.check all --json`` output."""
    data = read_json(Path(path))
    if not isinstance(data.get("claims"), list):
        raise RunDirError(f"{path}: no 'claims' list (expected `python -m proofs.check all --json` output)")
    return data


def run_proofs() -> tuple[dict | None, str | None]:
    """Check every claim through ``proofs.check_claims``; return (results, error line)."""
    try:
        import proofs
        started = time.perf_counter()
        results = proofs.check_claims(None)
        claims = [result.to_dict() for result in results]
    except Exception as error:  # the report must still be built and show what went wrong
        return None, f"proofs could not be run: {type(error).__name__}: {error}"
    seconds = time.perf_counter() - started
    status = "PROVED" if claims and all(c.get("status") == "PROVED" for c in claims) else "FAILED"
    return {"claims": claims, "seconds": seconds, "status": status}, None


# ---------------------------------------------------------------- numerics


def _group_from_spec(spec: GroupSpec) -> RunGroup:
    return RunGroup(key=spec.key, title=spec.title, model=spec.model, protocol=spec.protocol,
                    role=spec.role, variant=spec.variant)


def run_dir_for(out: Path, spec: GroupSpec, seed: int) -> Path:
    """Where a profile run is written: ``<out>/runs/<group>/seed<k>``."""
    return out / "runs" / spec.key / f"seed{seed:03d}"


def _run_verify_group(spec: GroupSpec, group: RunGroup, out: Path, device: str, rerun: bool,
                      progress: bool) -> None:
    """One ``numerics.verify.run_verification`` run per seed, resuming interrupted ones, reusing finished ones."""
    from numerics.verify import run_verification

    accepted = set(inspect.signature(run_verification).parameters)
    unsupported = sorted(set(spec.options) - accepted)
    if unsupported:
        group.errors.append(f"run_verification does not accept {', '.join(unsupported)}: group not run")
        return
    bar = tqdm(spec.seeds, desc=spec.key, unit="run", disable=not progress or len(spec.seeds) == 1)
    for seed in bar:
        path = run_dir_for(out, spec, seed)
        if rerun and path.exists():
            shutil.rmtree(path)
        if (path / "summary.json").exists():
            group.runs.append(read_run(path))
            tqdm.write(f"{spec.key} seed {seed}: finished run reused from {path}", file=sys.stderr)
            continue
        resume = (path / "config.json").exists()  # an interrupted run: continue it from its checkpoint
        kwargs = {"model": spec.model, "device": device, "out": path, "resume": resume,
                  "progress": progress and len(spec.seeds) == 1}
        if not resume:  # a resumed run takes its options from its own config.json
            kwargs.update({"protocol": spec.protocol, "seed": seed, **spec.options})
        kwargs = {key: value for key, value in kwargs.items() if key in accepted}
        started = time.perf_counter()
        try:
            run_verification(**kwargs)
            record = read_run(path)
        except Exception as error:
            group.errors.append(f"seed {seed}: {type(error).__name__}: {error}")
            tqdm.write(f"{spec.key} seed {seed}: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        record.seconds = time.perf_counter() - started
        group.runs.append(record)
        tqdm.write(f"{spec.key} seed {seed}: {record.status} in {record.seconds:.0f} s -> {path}", file=sys.stderr)


def _run_sweep_group(spec: GroupSpec, group: RunGroup, out: Path, device: str, rerun: bool,
                     progress: bool) -> None:
    """All seeds of the group as one batched ``python -m numerics.sweep`` (resumable by itself)."""
    sweep = importlib.import_module("numerics.sweep")  # via sys.modules, so tests can substitute it
    path = out / "runs" / spec.key
    if rerun and path.exists():
        shutil.rmtree(path)
    argv = ["--model", spec.model, "--protocol", spec.protocol, "--runs", str(len(spec.seeds)),
            "--seed0", str(spec.seeds[0]), "--device", device, "--out", str(path)]
    for option, flag in (("batch_size", "--batch-size"), ("lr", "--lr"), ("epochs", "--epochs")):
        if option in spec.options:
            argv += [flag, str(spec.options[option])]
    if not progress:
        argv.append("--no-progress")
    tqdm.write(f"{spec.key}: python -m numerics.sweep {' '.join(argv)}", file=sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):  # the sweep's table must not mix with --json output
        try:
            code = sweep.main(argv)
        except SystemExit as exit_:  # argparse rejected an option
            code = exit_.code if isinstance(exit_.code, int) else 2
        except Exception as error:
            group.errors.append(f"numerics.sweep failed: {type(error).__name__}: {error}")
            code = None
    if code == 2:
        group.errors.append(f"numerics.sweep refused the options {' '.join(argv)}")
    try:
        group.runs.extend(find_runs(path))
    except RunDirError as error:
        group.errors.append(str(error))


def run_profile(specs: list[GroupSpec], out: Path, device: str, rerun: bool = False,
                progress: bool | None = None) -> tuple[list[RunGroup], str | None]:
    """Run every group of a profile (``numerics.verify`` per seed, or ``numerics.sweep`` per group).

    Resumable: finished runs (``summary.json`` present) are read, not repeated (unless ``rerun``).
    Returns the groups and, if ``numerics`` cannot be imported at all, one error line.
    """
    try:
        import numerics.verify  # noqa: F401
    except Exception as error:
        groups = [_group_from_spec(spec) for spec in specs]
        return groups, f"numerics could not be imported: {type(error).__name__}: {error}"
    if progress is None:
        progress = sys.stderr.isatty()
    groups = []
    for spec in specs:
        group = _group_from_spec(spec)
        started = time.perf_counter()
        runner = _run_sweep_group if spec.runner == "sweep" else _run_verify_group
        runner(spec, group, out, device, rerun, progress)
        group.seconds = time.perf_counter() - started
        groups.append(group)
    return groups, None


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
    the paper's reproduction experiments and are summarised as statistics ("reproduce").
    """
    groups: dict[tuple[str, str, str], RunGroup] = {}
    order = {model: i for i, model in enumerate(MODELS)}
    for run in runs:
        protocol = str(run.summary.get("protocol", "?"))
        key = (run.model, protocol, _variant_of(run))
        if key not in groups:
            label = MODELS.get(run.model, ((), "", run.model))[2]
            variant = "" if key[2] == "base" else f", {key[2]}"
            groups[key] = RunGroup(key=f"{run.model}-{protocol}" + ("" if key[2] == "base" else
                                                                     "-" + key[2].replace(" ", "")),
                                   title=f"{label} ({protocol} protocol{variant})", model=run.model,
                                   protocol=protocol, role="reproduce" if protocol == "paper" else "verify",
                                   variant=key[2])
        groups[key].runs.append(run)
    for group in groups.values():
        group.title = f"{group.title}, {len(group.runs)} run{'s' if len(group.runs) != 1 else ''}"
    return sorted(groups.values(), key=lambda g: (g.role != "verify", order.get(g.model, 99), g.variant))


def collect(profile: str, out: Path, device: str = "auto", runs_dirs: list[Path] | None = None,
            proofs_file: Path | None = None, rerun: bool = False, paper_runs: int | None = None,
            paper_epochs: int | None = None) -> ReportData:
    """Run (or read) proofs and numerics for ``profile`` and return the report's data
    (``paper_runs`` / ``paper_epochs``: a scaled-down full profile, `profiles.reproduction_groups`).

    Raises :class:`RunDirError` for a bad ``--runs`` / ``--proofs`` path (a usage error).
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if proofs_file is not None:
        proofs_result, proofs_error = load_proofs_file(proofs_file), None
    else:
        print("checking the proofs (proofs.check_claims) ...", file=sys.stderr)
        proofs_result, proofs_error = run_proofs()
        print(f"proofs: {(proofs_result or {}).get('status', proofs_error)} in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    timings["proofs (read from JSON)" if proofs_file is not None else "proofs"] = time.perf_counter() - started

    started = time.perf_counter()
    numerics_error = None
    if runs_dirs:
        runs = [run for root in runs_dirs for run in find_runs(Path(root))]
        groups = group_runs(runs)
    else:
        groups, numerics_error = run_profile(profile_groups(profile, paper_runs=paper_runs,
                                                            paper_epochs=paper_epochs), out, device, rerun=rerun)
    timings["numerics (read from run directories)" if runs_dirs else "numerics"] = time.perf_counter() - started
    return ReportData(profile=profile if not runs_dirs else f"{profile} (runs read from disk)",
                      proofs=proofs_result, proofs_error=proofs_error, groups=groups, timings=timings,
                      numerics_error=numerics_error)
