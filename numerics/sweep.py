"""`python -m numerics.sweep`: many independent runs (seeds) of one VAE, trained as one batched computation.

The paper's statistics (Fig. 1 bottom, Fig. 2) are medians and interquartile ranges of the relative gap
|F - S| / |F| between the ELBO F (Eq. 9) and the three-entropy value S (Eq. 25 / 20 / 33 / 39) over 10
or 100 runs, each on newly generated data. Here member `seed` = its own data set
(`load_data(data, seed=seed)`; MNIST is one fixed data set, shared by all members), its own initialisation (`build_model(..., generator=seed)`), its own
mini-batch order, samples and Adam state, exactly as a sequential `numerics.training.Trainer` run of
that seed (see `numerics.batched`); the K members only share the batched arithmetic.

Output (`--out DIR`): `DIR/run-seedXXXX/` per member (config.json, metrics.jsonl, checkpoint.pt,
summary.json; docs/interfaces.md layout, data regenerated from config.json) and `DIR/aggregate.json`
(`aggregate()`: per logged step the median and 25/75 % quantiles of rel_gap over all run directories
found). A killed sweep is resumed by running the same command again: finished members are skipped,
unfinished ones continue from their last checkpoint (bitwise the same numbers as an uninterrupted run).

Scale-out: `--shard i/n` trains seeds[i::n] of the sweep's seeds only, so a job-array scheduler
(`--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`) or torchrun (`--shard $RANK/$WORLD_SIZE`)
spreads a sweep over machines; `--aggregate DIR [DIR ...]` merges run directories from any number of
shards.

Protocols: `paper` = Appendix C.3 (Adam, lr 1e-3, batch 2000, 100 fresh samples, float32, one step =
one epoch; `numerics.protocols.get_protocol("paper")`). `fast` = the same generic optimiser (Adam on
fresh reparametrised samples, all parameters jointly, no closed-form variance step) with small
mini-batches, one sample per point and a stepwise learning-rate decay (`fast_protocol`).

Verdicts. Per member (summary.json), after training, by the rules of `numerics.verify`
(`numerics.verdict`): the certificate of the member's trained parameters (float64: the gap identity
and the exact slope along every variance-scaling orbit, to round-off) and the convergence grade of
its last logged fresh-sample evaluation; there is no control run per member. Status PASS / FAIL /
NOT-COVERED / NOT-CONVERGED with a one-line reason. Sweep (aggregate.json `checks` and `status`): FAIL
when a member diverged, failed its certificate or did not finish; else NOT-COVERED when a member's
parametrisation has no orbit; else NOT-CONVERGED when the median final rel_gap is above --rel-tol
(default 5e-3: the paper's level, "below 0.5 %" for Fig. 1c); else PASS.
Exit status: 0 PASS; 1 FAIL; 2 usage error; 3 a member's training diverged (as `numerics.verify`; the
sweep's status is then FAIL); 4 NOT-COVERED; 5 NOT-CONVERGED; 130 interrupted (Ctrl-C: the same command
resumes).

Bad input (docs/reliability.md): every option is checked against its range and the memory of the whole
batch is estimated before anything is written; existing members are read and checked (config,
summary, checkpoint) before any new one is created; the sweep folder's writer lock is held until the
sweep ends, and members are folders inside it (`RunDir.child`), locked with it.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from numerics import json_fields, limits, verdict
from numerics.batched import EVAL_BUDGET, EVAL_SEED_OFFSET, BatchedTrainer, Member, adam_state_problem, initial_state
from numerics.cli import EXIT_DIVERGED, OneLineParser, UsageError, run_main
from numerics.data import DATA_NAMES, load_data
from numerics.determinism import repeatable
from numerics.links import LINKS
from numerics.models import MODEL_KINDS, build_model
from numerics.protocols import DTYPES, LOG_PER_DECADE, Phase, Protocol, get_protocol
from numerics.rundir import CHECKPOINT, CheckpointError, RunDir, json_safe
from numerics.training import GENERATORS, check_training_state
from numerics.verdict import CLAIMS, EXIT_CODES, PAPER_LEVEL
from numerics.verify import DEFAULT_DATA, DEFAULT_THREADS, DEVICES, resolve_device, versions

PROG = "python -m numerics.sweep"
PROTOCOLS = ("fast", "paper")
DEFAULT_REL_TOL = PAPER_LEVEL
"""The median check's level: the paper's for VAE-3 on PCA-ring (Fig. 1c, Appendix C.2: average
absolute error below 0.5 %)."""
RUN_PREFIX = "run-seed"
AGGREGATE = "aggregate.json"

FAST_SCHEDULE = ((0.5, 1.0), (0.2, 1 / 4), (0.15, 1 / 16), (0.15, 1 / 64))
"""Fast protocol: (fraction of the epochs, learning rate / lr) per phase; each phase a new Adam."""


# ---------------------------------------------------------------------------------------------------
# protocols and seeds
# ---------------------------------------------------------------------------------------------------

def fast_protocol(epochs: int = 60, *, batch_size: int = 500, lr: float = 3e-3, samples: int = 1,
                  dtype: str = "float32", log_every: int | None = None) -> Protocol:
    """Adam on fresh samples, mini-batches, lr decayed stepwise (FAST_SCHEDULE); one step = one epoch.
    Logged on the logarithmic grid of `protocols.LOG_PER_DECADE` rows per decade and at every phase end
    (or every `log_every` epochs when given); a checkpoint every tenth of the epochs.

    Smaller batches than the paper's give more updates per epoch; the decay shrinks the stochastic
    fluctuation around the stationary point that limits the final gap (Appendix C.2)."""
    if epochs < 1:
        raise ValueError("the fast protocol needs at least 1 epoch")
    checkpoint_every = max(1, epochs // 10)
    ends = np.floor(np.cumsum([f for f, _ in FAST_SCHEDULE]) * epochs + 0.5).astype(int)
    counts = np.diff(ends, prepend=0).tolist()
    logging = {"log_every": 0, "log_per_decade": LOG_PER_DECADE} if log_every is None else {"log_every": log_every}
    phases = tuple(Phase("adam", steps=c, lr=lr * factor, batch_size=batch_size, samples=samples,
                         checkpoint_every=checkpoint_every, **logging)
                   for c, (_, factor) in zip(counts, FAST_SCHEDULE) if c > 0)
    return Protocol("fast", dtype, phases)


def sweep_protocol(name: str, model: str, *, epochs: int | None = None, batch_size: int | None = None,
                   lr: float | None = None, samples: int | None = None, dtype: str | None = None) -> Protocol:
    """The protocol of a sweep: `paper` (get_protocol, options override its phase) or `fast`."""
    if name == "paper":
        proto = get_protocol("paper", model, steps=epochs, dtype=dtype)
        phase = proto.phases[0]
        overrides = {k: v for k, v in (("batch_size", batch_size), ("lr", lr), ("samples", samples)) if v is not None}
        return replace(proto, phases=(replace(phase, **overrides),))
    if name == "fast":
        kw = {k: v for k, v in (("batch_size", batch_size), ("lr", lr), ("samples", samples), ("dtype", dtype))
              if v is not None}
        return fast_protocol(60 if epochs is None else epochs, **kw)
    raise UsageError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n; UsageError otherwise."""
    parts = text.split("/")
    try:
        i, n = (int(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        i = n = None
    if i is None or n is None or n < 1 or not 0 <= i < n:
        raise UsageError(f"bad --shard {text!r}: expected i/n with integers 0 <= i < n (e.g. 0/4)")
    return i, n


def shard_seeds(seeds: list[int], shard: tuple[int, int] | None) -> list[int]:
    """The deterministic slice seeds[i::n] of shard (i, n); every seed lies in exactly one shard."""
    if shard is None:
        return list(seeds)
    i, n = shard
    return list(seeds)[i::n]


def run_dir_name(seed: int) -> str:
    return f"{RUN_PREFIX}{seed:04d}"


# ---------------------------------------------------------------------------------------------------
# verdicts
# ---------------------------------------------------------------------------------------------------

def member_certificate(model_config: dict, member: Member) -> verdict.Certificate:
    """`verdict.certificate` of a trained member (float64 copy of its parameters, its own data and seed)."""
    model = build_model(**model_config)
    model.load_state_dict(member.state["model"])
    return verdict.certificate(model, member.x, member.seed)


def member_summary(config: dict, row: dict | None, failure: str | None, seconds: float,
                   cert: verdict.Certificate | None) -> dict:
    """summary.json of one member: the certificate of its trained parameters and the convergence grade
    of its last logged (fresh-sample) evaluation, decided by `verdict.decide` (no control run)."""
    claim = CLAIMS[config["model"]]
    row = row or {}
    conv = verdict.convergence(row) if row else None
    checks: list[verdict.Check] = []
    if failure is not None or cert is None or conv is None:
        status, reason = "FAIL", failure or "no evaluation was logged"
    else:
        checks = [*verdict.certificate_checks(config["model"], cert), verdict.convergence_check(config["model"], conv)]
        status, reason = verdict.decide(checks, cert, conv, control_ran=False)
    tol, tol_reason = verdict.stationary_tolerance(row) if row.get("elbo") is not None else (None, "no evaluation")
    return {"model": config["model"], "claim": claim, "status": status, "reason": reason, "message": failure,
            "certificate": None if cert is None else cert.to_dict(),
            "convergence": None if conv is None else conv.to_dict(),
            "elbo": row.get("elbo"), "elbo_se": row.get("elbo_se"), "entropy_sum": row.get("entropy_sum"),
            "gap": row.get("gap"), "gap_se": row.get("gap_se"), "rel_gap": row.get("rel_gap"),
            "residual_decoder": row.get("residual_decoder"), "residual_prior": row.get("residual_prior"),
            "identity_error": row.get("identity_error"), "tolerance": tol, "tolerance_reason": tol_reason,
            "latent_dim": config["latent_dim"], "data_dim": config.get("data_dim"), "steps": row.get("step"),
            "seconds": seconds, "device": config["device"], "dtype": config["dtype"], "seed": config["seed"],
            "protocol": config["protocol"], "data": config["data"], "enc_link": config["enc_link"],
            "dec_link": config["dec_link"], "versions": config["versions"],
            "evaluation": {"kind": "analytic" if config["model"] == "linear" else "mc",
                           "samples": config["eval_samples"], "seed": config["seed"] + EVAL_SEED_OFFSET},
            "checks": [asdict(c) for c in checks], "control": None, "batched": config["sweep"]}


# ---------------------------------------------------------------------------------------------------
# aggregate
# ---------------------------------------------------------------------------------------------------

def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Run directories in `paths`: each path is a run directory or a sweep folder holding run-seed*/
    (UsageError for anything else)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(p for p in sorted(path.glob(f"{RUN_PREFIX}*")) if (p / "config.json").is_file())
        else:
            raise UsageError(f"{path} is neither a run directory nor a folder of run directories")
    return found


_MEMBER_FIELDS = {"seed": json_fields.integer(limits.BOUNDS["--seed"])}
"""What `aggregate` needs of a member's config.json beyond what it compares (`_SAME`)."""


def _number(row: dict, key: str) -> float | None:
    value = row.get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


_SAME = ("model", "data", "protocol", "protocol_def", "latent_dim", "hidden", "enc_link", "dec_link", "n_train",
         "dtype", "eval_samples")


def _quantiles(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    q25, med, q75 = np.quantile(a, [0.25, 0.5, 0.75])
    return {"n": int(a.size), "median": float(med), "q25": float(q25), "q75": float(q75)}


def _seeds(seeds: list[int]) -> str:
    return f": seeds {seeds}" if seeds else ""


def sweep_status(checks: list[dict]) -> str:
    """The sweep's status by the rules of `verdict.decide`: FAIL (a member diverged, failed its
    certificate or did not finish) before NOT-COVERED before NOT-CONVERGED (median rel_gap above
    --rel-tol) before PASS."""
    for status in ("FAIL", "NOT-COVERED", "NOT-CONVERGED"):
        if any(c["status"] == status for c in checks):
            return status
    return "PASS"


def aggregate(dirs: list[Path], *, rel_tol: float = DEFAULT_REL_TOL) -> dict:
    """Merge run directories (or sweep folders) from any number of shards into the sweep statistics.

    Per logged step: median and 25/75 % quantiles of rel_gap = |F - S| / |F| over the runs that logged
    it (Fig. 1 bottom), plus the mean signed relative deviation (F - S) / |F| (Fig. 2 bottom). Final:
    the same statistics of each run's summary. The result depends only on the SET of runs (sorted by
    seed), not on how they were sharded. Runs of different configurations, duplicate seeds and unreadable
    files are refused (UsageError, one line).
    """
    runs = []
    for path in find_run_dirs(dirs):
        rd = RunDir(path)
        config = rd.read_config()
        json_fields.check_fields(config, _MEMBER_FIELDS, rd.path / "config.json")
        runs.append((config, rd.read_metrics(), rd.read_summary(), path))
    seeds = [c["seed"] for c, *_ in runs]
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise UsageError(f"seeds {dup} appear in more than one run directory")
    runs.sort(key=lambda r: r[0]["seed"])
    if runs:
        ref = runs[0][0]
        for config, *_rest, path in runs[1:]:
            diff = [k for k in _SAME if config.get(k) != ref.get(k)]
            if diff:
                raise UsageError(f"{path} differs from {runs[0][3]} in {', '.join(diff)}: not one sweep")
    by_step: dict[int, list[tuple[float, float]]] = {}
    for _, metrics, _, _ in runs:
        last: dict[int, dict] = {}
        for row in metrics:
            last[row["step"]] = row  # a re-logged step (resume) counts once
        for step, row in last.items():
            gap, elbo, entropy_sum = (_number(row, k) for k in ("rel_gap", "elbo", "entropy_sum"))
            if gap is not None and elbo is not None and entropy_sum is not None:
                signed = (elbo - entropy_sum) / max(abs(elbo), 1e-300)
                by_step.setdefault(step, []).append((gap, signed))
    curve = []
    for step in sorted(by_step):
        vals = by_step[step]
        curve.append({"step": step, **_quantiles([v for v, _ in vals]),
                      "mean_signed": float(np.mean([s for _, s in vals]))})
    finished = [(c, s) for c, _, s, _ in runs if s is not None]
    failed = [c["seed"] for c, s in finished if s.get("message")]
    finals = [s["rel_gap"] for _, s in finished if s.get("rel_gap") is not None and not s.get("message")]
    final = _quantiles(finals) if finals else {"n": 0, "median": None, "q25": None, "q75": None}
    statuses = {status: sum(1 for _, s in finished if s.get("status") == status) for status in verdict.STATUSES}
    uncertified = [c["seed"] for c, s in finished  # summaries written before the certificate have none
                   if s.get("status") == "FAIL" and not s.get("message") and isinstance(s.get("certificate"), dict)]
    not_covered = [c["seed"] for c, s in finished if s.get("status") == "NOT-COVERED"]
    checks = [
        {"name": "no-divergence", "status": "PASS" if not failed else "FAIL", "value": len(failed), "tolerance": 0,
         "detail": "members whose training diverged (non-finite loss or parameters)"},
        {"name": "certificates", "status": "PASS" if not uncertified else "FAIL", "value": len(uncertified),
         "tolerance": 0, "detail": f"members whose certificate failed (numerics.verdict){_seeds(uncertified)}"},
        {"name": "median-rel-gap", "status": "PASS" if final["median"] is not None and final["median"] <= rel_tol
         else "NOT-CONVERGED", "value": final["median"], "tolerance": rel_tol,
         "detail": "median over members of the final |F - S| / |F| (fresh samples) vs the paper's level"},
    ]
    if not_covered:
        checks.append({"name": "covered", "status": "NOT-COVERED", "value": len(not_covered), "tolerance": 0,
                       "detail": f"members whose parametrisation has no variance-scaling orbit{_seeds(not_covered)}"})
    unfinished = [c["seed"] for c, _, s, _ in runs if s is None]
    if unfinished:
        checks.append({"name": "all-finished", "status": "FAIL", "value": len(unfinished), "tolerance": 0,
                       "detail": f"run directories without summary.json (unfinished): seeds {unfinished}"})
    config = runs[0][0] if runs else {}
    return json_safe({
        "model": config.get("model"), "data": config.get("data"), "protocol": config.get("protocol"),
        "protocol_def": config.get("protocol_def"), "runs": len(runs), "finished": len(finished),
        "seeds": [c["seed"] for c, *_ in runs], "failed_seeds": failed, "members_pass": statuses["PASS"],
        "member_statuses": statuses,
        "rel_tol": rel_tol, "final_rel_gap": final,
        "final_seconds": max((s.get("seconds") or 0.0 for _, s in finished), default=None),
        "curve": curve, "checks": checks,
        "status": sweep_status(checks) if runs else "FAIL",
        "sources": [str(p) for *_, p in runs]})


# ---------------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------------

def _member_config(opts: dict, seed: int, protocol: Protocol, device: torch.device, D: int) -> dict:
    return json.loads(json.dumps(json_safe({
        "model": opts["model"], "data": opts["data"], "data_dir": None, "seed": seed,
        "n_train": opts["n_train"], "n_test": opts["n_test"], "dtype": protocol.dtype,
        "latent_dim": opts["latent_dim"], "data_dim": D, "hidden": list(opts["hidden"]),
        "enc_link": opts["enc_link"], "dec_link": opts["dec_link"], "protocol": protocol.name,
        "protocol_def": protocol.to_dict(), "steps": protocol.total_steps(),
        "eval_samples": opts["eval_samples"], "device": str(device), "rel_tol": opts["rel_tol"],
        "threads": opts["threads"], "versions": versions(),
        "sweep": {"seed0": opts["seed0"], "runs": opts["runs"], "shard": opts["shard"], "batched": True,
                  "note": "seconds = wall time of the whole batch this member was trained in"}})))


@dataclass
class _Plan:
    """One member of this shard as found before anything is written: `state` None = finished."""

    seed: int
    run: RunDir
    config: dict
    x: torch.Tensor
    state: dict | None
    fresh: bool
    has_config: bool


def _model_config(config: dict) -> dict:
    return {"kind": config["model"], "D": config["data_dim"], "H": config["latent_dim"],
            "hidden": tuple(config["hidden"]), "enc_link": config["enc_link"], "dec_link": config["dec_link"]}


def _plan_member(run: RunDir, opts: dict, seed: int, protocol: Protocol, device: torch.device) -> _Plan:
    """Read and check member `seed` in `run` (its data, and an existing config.json, summary.json and
    checkpoint); writes nothing. UsageError when the folder holds another run or unreadable files."""
    dtype = getattr(torch, protocol.dtype)
    data = load_data(opts["data"], seed=seed, n_train=opts["n_train"], n_test=opts["n_test"], dtype=dtype)
    config = _member_config(opts, seed, protocol, device, data.x_train.shape[1])
    model = build_model(dtype=dtype, generator=torch.Generator(device="cpu").manual_seed(seed), **_model_config(config))
    if not run.exists():
        return _Plan(seed, run, config, data.x_train, initial_state(model, seed), True, False)
    saved = run.read_config()
    diff = [k for k in (*_SAME, "seed") if saved.get(k) != config.get(k)]
    if diff:
        raise UsageError(f"{run.path} holds a run with a different {', '.join(diff)}; use another --out")
    if run.read_summary() is not None:
        return _Plan(seed, run, config, data.x_train, None, False, True)
    state = run.load_checkpoint()
    if state is None:
        return _Plan(seed, run, config, data.x_train, initial_state(model, seed), True, True)
    path = run.path / CHECKPOINT
    check_training_state(state, model, protocol, path, generators=(*GENERATORS, "eval_rng"))
    problem = adam_state_problem(state["optimizer"], model)
    if problem is not None:
        raise CheckpointError(path, problem)
    return _Plan(seed, run, config, data.x_train, state, False, True)


def check_sweep_memory(opts: dict, protocol: Protocol, members: int) -> None:
    """BoundsError (one line naming the option that frees most and its largest value that fits) unless
    `members` members of this sweep fit this machine's memory together (`numerics.limits.check_memory`)."""
    D = {"ppca": 10, "ring": 10, "mnist": 784}[opts["data"]]
    n_train = opts["n_train"] or (4_000 if opts["data"] == "mnist" else 10_000)
    workload = limits.workload_for_protocol(
        protocol, model=opts["model"], data_dim=D, latent_dim=opts["latent_dim"], hidden=opts["hidden"],
        n_train=n_train, n_test=0, eval_samples=opts["eval_samples"], chunk_rows=max(1, EVAL_BUDGET // members),
        members=members, options={"latent_dim": "--latent-dim", "hidden": "--hidden", "n_train": "--n-train",
                                  "members": "--runs"})
    limits.check_memory(workload, device=opts["device_resolved"])


def run_sweep(opts: dict, *, progress: bool = True, stop_after: int | None = None) -> dict:
    """Train (or resume) this shard's members in `opts["out"]`, write summaries and aggregate.json.
    Every member is read and checked, and the memory of the batch estimated, before anything is written;
    the sweep folder's writer lock is held until the end."""
    out = Path(opts["out"])
    device = resolve_device(opts["device"])
    protocol = sweep_protocol(opts["protocol"], opts["model"], epochs=opts["epochs"], batch_size=opts["batch_size"],
                              lr=opts["lr"], samples=opts["samples"], dtype=opts["dtype"])
    seeds = shard_seeds(list(range(opts["seed0"], opts["seed0"] + opts["runs"])), opts["shard_tuple"])
    check_sweep_memory(dict(opts, device_resolved=str(device)), protocol, len(seeds))
    root = RunDir(out)
    if root.exists():
        raise UsageError(f"{out} holds a single run (config.json), not a sweep; choose another --out")
    torch.set_num_threads(opts["threads"])
    repeatable(device)
    plans = [_plan_member(root.child(run_dir_name(seed)), opts, seed, protocol, device) for seed in seeds]
    with root:  # the writer lock of the sweep folder and of every member in it
        return _train_members(root, plans, opts, protocol, device, progress=progress, stop_after=stop_after)


def _train_members(root: RunDir, plans: list[_Plan], opts: dict, protocol: Protocol, device: torch.device, *,
                   progress: bool, stop_after: int | None) -> dict:
    groups: dict[tuple, list[_Plan]] = {}
    for plan in plans:
        if plan.state is None:
            continue
        if not plan.has_config:
            plan.run.create(plan.config)
        plan.run.rewind_metrics(-1 if plan.fresh else plan.state["step"])
        key = (plan.state["step"], plan.state["phase_index"], plan.state["phase_step"], plan.fresh)
        groups.setdefault(key, []).append(plan)
    members_of = {plan.seed: plan for plan in plans}
    t_start = time.perf_counter()

    def on_log(member: Member, row: dict) -> None:
        members_of[member.seed].run.append_metrics(row)

    def on_checkpoint(member: Member, state: dict) -> None:
        members_of[member.seed].run.save_checkpoint(state)

    def on_fail(member: Member, _state: dict) -> None:
        run = members_of[member.seed].run
        rows = run.read_metrics()
        run.write_summary(member_summary(members_of[member.seed].config, rows[-1] if rows else None, member.failure,
                                         time.perf_counter() - t_start, None))

    for key in sorted(groups):
        entries = groups[key]
        members = [Member(p.seed, p.x, p.state, label=p.run.path.name) for p in entries]
        model_config = _model_config(entries[0].config)
        trainer = BatchedTrainer(model_config, members, protocol, device=device,
                                 eval_samples=opts["eval_samples"], on_log=on_log, on_checkpoint=on_checkpoint,
                                 on_fail=on_fail, progress=progress, label=f"{opts['model']} sweep")
        members = trainer.run(fresh=key[3], stop_after=stop_after)
        if stop_after is not None and not trainer.done():
            continue
        for member in members:
            if member.failure is not None:
                continue
            plan = members_of[member.seed]
            rows = plan.run.read_metrics()
            plan.run.write_summary(member_summary(plan.config, rows[-1] if rows else None, None,
                                                  float(member.state["elapsed"]),
                                                  member_certificate(model_config, member)))
    result = aggregate([root.path], rel_tol=opts["rel_tol"])
    result["shard"] = opts["shard"]
    result["shard_seeds"] = [p.seed for p in plans]
    result["skipped_finished"] = sum(1 for p in plans if p.state is None)
    result["wall_seconds"] = time.perf_counter() - t_start
    root.write_json(AGGREGATE, result)
    return result


# ---------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------

class MembersDiverged(RuntimeError):
    """Members of a sweep diverged: exit EXIT_DIVERGED, as `numerics.verify` for one run."""


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Train many independent runs (one seed each: own data, init, batches, samples, Adam state) "
                    "of one VAE as one batched computation; write a run directory per member and aggregate.json "
                    "(median and interquartile range of |F - S|/|F| over training, as in Fig. 1 bottom).",
        epilog="Exit status: 0 PASS (no member diverged or failed its certificate, median final rel_gap <= "
               "--rel-tol); 1 FAIL (a member failed its certificate or did not finish); 2 usage error (nothing "
               "is created); 3 a member's training diverged (the sweep's status is FAIL); 4 NOT-COVERED (a "
               "member's parametrisation has no variance-scaling orbit); 5 NOT-CONVERGED (median final rel_gap "
               "above --rel-tol); 130 interrupted (Ctrl-C). Re-running the same command resumes a killed sweep.")
    p.add_argument("--model", default="vae3", help=f"model kind: {', '.join(MODEL_KINDS)} (default vae3)")
    p.add_argument("--data", default=None, help=f"data set: {', '.join(DATA_NAMES)} (default: the paper's for the model)")
    p.add_argument("--runs", type=int, default=10, help="number of runs (seeds seed0 .. seed0+runs-1), default 10")
    p.add_argument("--seed0", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--shard", default=None, help="i/n: train only seeds[i::n] (job arrays, torchrun: $RANK/$WORLD_SIZE)")
    p.add_argument("--protocol", default="fast", help="fast (default) or paper (Appendix C.3)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (fast default 60, paper default: numerics.protocols)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (fast 500, paper 2000)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (fast 3e-3, decayed; paper 1e-3)")
    p.add_argument("--samples", type=int, default=None, help="fresh samples per point and step (fast 1, paper 100)")
    p.add_argument("--dtype", default=None, help=f"{', '.join(DTYPES)} (both protocols default to float32)")
    p.add_argument("--eval-samples", type=int, default=8,
                   help="fresh MC samples per point of each logged evaluation (default 8; at least 2 for a "
                        "standard error)")
    p.add_argument("--threads", type=int, default=None, help=f"torch CPU threads (default {DEFAULT_THREADS}, "
                                                              f"as every numerics CLI)")
    p.add_argument("--rel-tol", type=float, default=DEFAULT_REL_TOL,
                   help=f"relative gap level of the verdicts (default {DEFAULT_REL_TOL:g}, the paper's Fig. 1c)")
    p.add_argument("--n-train", type=int, default=None, help="training points per run (default: the data set's)")
    p.add_argument("--latent-dim", type=int, default=2, help="H (default 2)")
    p.add_argument("--hidden", type=limits.parse_hidden, default=(50, 50),
                   help="hidden layer sizes, e.g. 50,50 (default); none = affine networks (as numerics.verify)")
    p.add_argument("--enc-link", default="exp", help=f"encoder variance link: {', '.join(LINKS)}")
    p.add_argument("--dec-link", default="exp", help=f"decoder variance link: {', '.join(LINKS)}")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--out", default=None, help="sweep folder (default runs/sweep-MODEL-DATA-PROTOCOL)")
    p.add_argument("--aggregate", nargs="+", default=None, metavar="DIR",
                   help="do not train: merge these run directories / sweep folders (any number of shards) "
                        "into --out/aggregate.json (or print with --json)")
    p.add_argument("--json", action="store_true", help="print aggregate.json to stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _options(args: argparse.Namespace) -> dict:
    """The sweep's options, every one checked (UsageError / BoundsError, one line); nothing is written."""
    if args.model not in MODEL_KINDS:
        raise UsageError(f"unknown model {args.model!r}; valid: {', '.join(MODEL_KINDS)}")
    data = args.data or DEFAULT_DATA[args.model]
    if data not in DATA_NAMES:
        raise UsageError(f"unknown data set {data!r}; valid: {', '.join(DATA_NAMES)}")
    if args.protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {args.protocol!r}; valid: {', '.join(PROTOCOLS)}")
    if args.dtype is not None and args.dtype not in DTYPES:
        raise UsageError(f"unknown dtype {args.dtype!r}; valid: {', '.join(DTYPES)}")
    for name in ("enc_link", "dec_link"):
        if getattr(args, name) not in LINKS:
            raise UsageError(f"unknown {name.replace('_', '-')} {getattr(args, name)!r}; valid: {', '.join(LINKS)}")
    if args.device not in DEVICES:
        raise UsageError(f"unknown device {args.device!r}; valid: auto, cpu, cuda")
    limits.check_bounds({"--runs": args.runs, "--seed0": args.seed0, "--epochs": args.epochs,
                         "--batch-size": args.batch_size, "--lr": args.lr, "--samples": args.samples,
                         "--eval-samples": args.eval_samples, "--threads": args.threads, "--rel-tol": args.rel_tol,
                         "--n-train": args.n_train, "--latent-dim": args.latent_dim, "--hidden": args.hidden})
    if args.seed0 + args.runs - 1 > limits.MAX_SEED:
        raise UsageError(f"--seed0 {args.seed0} --runs {args.runs}: the last seed exceeds {limits.MAX_SEED}")
    shard = parse_shard(args.shard) if args.shard is not None else None
    if shard is not None and shard[0] >= args.runs:
        raise UsageError(f"--shard {args.shard} selects no seed of --runs {args.runs}")
    out = args.out or f"runs/sweep-{args.model}-{data}-{args.protocol}"
    return {"model": args.model, "data": data, "runs": args.runs, "seed0": args.seed0, "shard": args.shard,
            "shard_tuple": shard, "protocol": args.protocol, "epochs": args.epochs, "batch_size": args.batch_size,
            "lr": args.lr, "samples": args.samples, "dtype": args.dtype, "eval_samples": args.eval_samples,
            "rel_tol": args.rel_tol, "n_train": args.n_train, "n_test": 0, "latent_dim": args.latent_dim,
            "hidden": list(args.hidden), "enc_link": args.enc_link, "dec_link": args.dec_link,
            "device": args.device, "threads": DEFAULT_THREADS if args.threads is None else args.threads, "out": out}


def format_table(result: dict) -> str:
    final = result["final_rel_gap"]
    lines = [f"sweep {result['model']} on {result['data']} ({result['protocol']}): {result['finished']}/{result['runs']} "
             f"runs finished, {result['members_pass']} members PASS",
             "   step   n    median       q25       q75"]
    for row in result["curve"]:
        lines.append(f"{row['step']:7d} {row['n']:3d} {row['median']:9.3e} {row['q25']:9.3e} {row['q75']:9.3e}")
    if final["n"]:
        lines.append(f"final |F-S|/|F|: median {final['median']:.3e}, IQR [{final['q25']:.3e}, {final['q75']:.3e}]")
    for check in result["checks"]:
        lines.append(f"{check['status']:4s} {check['name']}: {check['value']} (tolerance {check['tolerance']}) - "
                     f"{check['detail']}")
    lines.append(f"{result['status']}")
    return "\n".join(lines)


def _aggregate_only(args: argparse.Namespace) -> dict:
    limits.check_bounds({"--rel-tol": args.rel_tol})
    result = aggregate([Path(p) for p in args.aggregate], rel_tol=args.rel_tol)
    if args.out:
        with RunDir(args.out) as folder:
            folder.write_json(AGGREGATE, result)
    return result


def main(argv: list[str] | None = None) -> int:
    """The CLI: one line and exit 2 for bad input, 3 when a member diverged, 130 for Ctrl-C (re-running
    the same command resumes), else the sweep's status's code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    out = Path(args.out or f"runs/sweep-{args.model}-{args.data or DEFAULT_DATA.get(args.model, '')}-{args.protocol}")

    def resume_hint() -> str | None:
        started = args.aggregate is None and any(out.glob(f"{RUN_PREFIX}*/config.json"))
        return f"{PROG} {shlex.join(argv)}" if started else None

    def body() -> int:
        result = _aggregate_only(args) if args.aggregate is not None else run_sweep(_options(args),
                                                                                   progress=not args.no_progress)
        print(json.dumps(result, indent=2) if args.json else format_table(result))
        if result["failed_seeds"]:
            raise MembersDiverged(f"training diverged for {len(result['failed_seeds'])} of {result['runs']} members "
                                  f"(seeds {result['failed_seeds']}; their summary.json says where); the sweep's "
                                  f"status is {result['status']}")
        return EXIT_CODES[result["status"]]

    return run_main(PROG, body, errors={MembersDiverged: EXIT_DIVERGED}, resume_hint=resume_hint)


if __name__ == "__main__":
    sys.exit(main())
