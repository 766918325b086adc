"""`python -m numerics.verify`: train a VAE and check the proposition that applies to it.

Model -> claim (default data): linear -> Cor. 1, Eq. 33 and Cor. A1, Eqs. 44-45 (p-PCA);
vae2 -> Prop. 1, Eq. 20 (p-PCA); vae1 -> Prop. 2, Eq. 25 (MNIST subset); vae3 -> Prop. 3, Eq. 39
(PCA-ring). H = 2 by default.

This module is the CLI and the orchestration: data -> model -> training (`numerics.training`, the
protocol of `numerics.protocols`) -> evaluation (`numerics.evaluation`) -> verdict
(`numerics.verdict`) -> run directory (`numerics.rundir`). The verdict has three parts:

* a certificate on the trained parameters, float64: the gap identity F - S = residual_decoder +
  1/2 sum_h r_h and, along every variance-scaling orbit, the exact derivative of F (forward-mode
  autograd) against the residual the identity names, both to round-off (1e-10 |F|). Together they
  say F = S at every stationary point of this model, independently of how far training got. A
  parametrisation that is not closed under the scalings (softplus variance heads) is NOT-COVERED;
* convergence on an independent randomised-QMC evaluation (own seed, EVAL_SAMPLES points per data
  point in 8 randomisations; analytic for the linear VAE): rel_gap with its standard error, graded
  `stationary` (within 4 SE, kept as a figure), `paper-level` (4-SE upper bound of rel_gap <= 5e-3,
  Appendix C.2) or `not-converged`;
* the Fig. 1a control (`control_frozen`): the decoder variance is set to `control_factor` times its
  converged value, the parameters that could rescale it are frozen, the rest re-optimised from the
  converged point by `protocols.control_protocol` (float64, a short L-BFGS budget); its gap must
  equal the residual the identity predicts on a second, independent design, be at least 10
  tolerances large, and its certificate must show the frozen decoder orbit's nonzero slope.
For the linear VAE also Cor. A1: |F - L_ML| and |S - L_ML| <= 1e-6 nats at a stationary point, L_ML =
Eq. 45 at the p-PCA maximum-likelihood solution of the training data.

Status (summary.json `status`, with a one-line `reason`): PASS iff the certificate holds, the control
is detected and the grade is at least paper-level; FAIL when a certificate, control or Cor. A1 check
failed; NOT-COVERED when an orbit does not exist in the model family; NOT-CONVERGED otherwise.

Bad input (docs/reliability.md): every option is checked against its range (`numerics.limits`), the
memory the run needs is estimated, and the data are loaded and checked, all before anything is
written; only then is the run directory created, and its writer lock is held until the run ends. A
resumed run's config.json and checkpoint are checked the same way, and data read from `--data-dir`
must still match the fingerprint stored when the run was created. Every refusal is one line and exit
2; Ctrl-C is one line saying how to resume (exit 130).
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from numerics import json_fields, limits, verdict
from numerics.cli import EXIT_DIVERGED, OneLineParser, UsageError, run_main
from numerics.data import DATA_NAMES, FINGERPRINT_KEY, DataError, check_fingerprint, load_data, resolve_data_dir
from numerics.determinism import repeatable
from numerics.estimators import ROWS_PER_CHUNK, chunk_for, row_width
from numerics.evaluation import (EVAL_REPLICATES, EVAL_SAMPLES, EVAL_SEED_OFFSET, LOG_SAMPLES, eval_replicates,
                                 evaluate_fresh, evaluate_on, linear_logliks, make_monitor, monitor_design, rel_gap)
from numerics.links import LINKS, inverse_link
from numerics.models import MODEL_KINDS, GaussianVAE, build_model
from numerics.protocols import DTYPES, PROTOCOL_NAMES, Protocol, control_protocol, get_protocol
from numerics.rundir import CONFIG, RunDir, RunDirError, json_safe
from numerics.training import DivergenceError, Trainer, fixed_design
from numerics.verdict import CLAIMS, EXIT_CODES, K_SE, ROUNDOFF_REL, Check

DEFAULT_DATA = {"linear": "ppca", "vae1": "mnist", "vae2": "ppca", "vae3": "ring"}
DEFAULT_CONTROL_FACTOR = 4.0
CONTROL_SEED_OFFSET = 17
DEFAULT_THREADS = 1
"""CPU threads (torch.set_num_threads), the default of every numerics CLI. One: these models are small,
and on a shared 2-core machine two spinning intra-op threads were measured 10-100x slower than one."""
DEVICES = ("auto", "cpu", "cuda")
PROG = "python -m numerics.verify"
EXIT_STATUS_TEXT = """exit status:
  0    PASS: the certificate holds, the control is detected, convergence is at least paper-level
  1    FAIL: a certificate, control or Cor. A1 check failed
  2    usage error (an option, the data, the run directory or its checkpoint; nothing is created)
  3    training diverged (non-finite loss or parameters; the last good checkpoint is kept)
  4    NOT-COVERED: the parametrisation is not closed under the variance scalings (softplus variance
       head): the proposition's hypotheses do not hold; the gap is still measured
  5    NOT-CONVERGED: the certificate holds, but rel_gap's 4-SE upper bound is above the paper's 5e-3
  130  interrupted (Ctrl-C); the line printed says how to resume"""


# ---------------------------------------------------------------------------------------------
# control run helpers
# ---------------------------------------------------------------------------------------------

def scale_decoder_variance(model: GaussianVAE, factor: float) -> None:
    """Multiply the decoder variance by `factor` (scalar sigma^2: exactly, via the inverse link;
    VAE-3: the output bias of the variance network is shifted so that link(b) -> factor * link(b),
    which multiplies sigma_d^2(z) by `factor` at every z for the exp link and changes it for others)."""
    with torch.no_grad():
        if hasattr(model, "set_sigma2"):
            model.set_sigma2(factor * float(model.sigma2().reshape(())))
            return
        bias = model.dec_var.layers[-1].bias
        value = model.dec_link(bias) * factor
        bias.copy_(inverse_link(model.dec_link_name, value.to(torch.float64)).to(bias.dtype))


def control_frozen(model: GaussianVAE) -> list[str]:
    """The parameters the Fig. 1a control freezes: those that could undo a rescaling of the decoder
    variance, and no more.

    Scalar sigma^2 (linear, VAE-1, VAE-2): sigma2_raw, as in Fig. 1a. VAE-3: the variance network
    DNN_sigma(z; M) except its first-layer weight M^(0). Freezing the whole network would also remove
    the prior-scaling direction of Prop. 3 (z_h -> a z_h needs the first-layer columns of BOTH decoder
    networks, W^(0) and M^(0), to scale by 1/a), so r_h would not have to vanish either; with M^(0)
    free that direction stays available, while no free parameter can add the same constant to every
    output of the network for every z (M^(0) acts only through M^(0) z), i.e. sigma^2(z) cannot be
    rescaled uniformly. So the control's gap is the decoder residual of a variance held at a wrong
    scale, as in Fig. 1a.
    """
    if model.kind != "vae3":
        return model.variance_parameters()
    return [name for name in model.variance_parameters() if name != "dec_var.layers.0.weight"]


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------

def versions() -> dict:
    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "git_commit": commit}


def resolve_device(device: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; UsageError for an unknown name or an absent CUDA device."""
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; valid: auto, cpu, cuda")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda requested but no CUDA device is available (try --device cpu)")
    return torch.device(device)


_OPTIONS = ("model", "protocol", "data", "data_dir", "device", "seed", "steps", "dtype", "latent_dim",
            "hidden", "enc_link", "dec_link", "n_train", "n_test", "eval_samples", "control_factor", "control",
            "threads", "warmup_steps")
_BOUNDED = ("seed", "steps", "latent_dim", "hidden", "n_train", "n_test", "eval_samples", "control_factor",
            "threads", "warmup_steps")
"""The options with a range in `numerics.limits.BOUNDS` (named there as --latent-dim, ...)."""


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def _fresh_config(opts: dict) -> dict:
    """config.json of a new run from the options (None = default); UsageError for any bad value."""
    model = opts["model"] or "vae3"
    if model not in MODEL_KINDS:
        raise UsageError(f"unknown model {model!r}; valid: {', '.join(MODEL_KINDS)}")
    protocol = opts["protocol"] or "fast"
    if protocol not in PROTOCOL_NAMES:
        raise UsageError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOL_NAMES)}")
    data = opts["data"] or DEFAULT_DATA[model]
    if data not in DATA_NAMES:
        raise UsageError(f"unknown data {data!r}; valid: {', '.join(DATA_NAMES)}")
    for key in ("enc_link", "dec_link"):
        if opts[key] is not None and opts[key] not in LINKS:
            raise UsageError(f"unknown {key.replace('_', '-')} {opts[key]!r}; valid: {', '.join(LINKS)}")
    if opts["dtype"] is not None and opts["dtype"] not in DTYPES:
        raise UsageError(f"unknown dtype {opts['dtype']!r}; valid: {', '.join(DTYPES)}")
    limits.check_bounds({_option(key): opts[key] for key in _BOUNDED})
    if opts["data_dir"] is not None and data != "mnist":
        raise UsageError(f"--data-dir applies only to --data mnist, not to generated {data!r} data")
    device = resolve_device(opts["device"] or "auto")
    if opts["warmup_steps"] is not None and protocol != "fast":
        raise UsageError("--warmup-steps needs --protocol fast")
    spec = get_protocol(protocol, model, steps=opts["steps"], dtype=opts["dtype"], warmup_steps=opts["warmup_steps"])
    factor = DEFAULT_CONTROL_FACTOR if opts["control_factor"] is None else float(opts["control_factor"])
    return {"model": model, "claim": CLAIMS[model], "protocol": protocol, "protocol_spec": spec.to_dict(),
            "warmup_steps": opts["warmup_steps"], "data": data,
            "data_dir": None if opts["data_dir"] is None else resolve_data_dir(opts["data_dir"]),
            "n_train": opts["n_train"], "n_test": opts["n_test"],
            "device": str(device), "requested_device": opts["device"] or "auto", "dtype": spec.dtype,
            "seed": 0 if opts["seed"] is None else int(opts["seed"]), "steps": opts["steps"],
            "latent_dim": 2 if opts["latent_dim"] is None else int(opts["latent_dim"]),
            "hidden": [50, 50] if opts["hidden"] is None else list(opts["hidden"]), "enc_link": opts["enc_link"] or "exp",
            "dec_link": opts["dec_link"] or "exp",
            "eval_samples": EVAL_SAMPLES[model] if opts["eval_samples"] is None else int(opts["eval_samples"]),
            "log_samples": LOG_SAMPLES, "control_factor": factor,
            "control": True if opts["control"] is None else bool(opts["control"]),
            "threads": DEFAULT_THREADS if opts["threads"] is None else int(opts["threads"]),
            "k_se": K_SE, "roundoff_rel": ROUNDOFF_REL, "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


_CONFIG_FIELDS: dict[str, json_fields.Field] = {
    **json_fields.RUN_FIELDS,
    "protocol": json_fields.choice(PROTOCOL_NAMES),
    "requested_device": json_fields.choice(DEVICES),
    "device": json_fields.choice(("cpu", "cuda")),
    "steps": json_fields.integer(limits.BOUNDS["--steps"], nullable=True),
    "warmup_steps": json_fields.integer(limits.BOUNDS["--warmup-steps"], nullable=True),
    "eval_samples": json_fields.integer(limits.Bound(0, limits.MAX_SAMPLES)),
    "control_factor": json_fields.Field(limits.BOUNDS["--control-factor"].admits,
                                        f"a number from {limits.BOUNDS['--control-factor'].describe()}"),
    "control": json_fields.Field(_is_bool, "true or false"),
    "threads": json_fields.integer(limits.BOUNDS["--threads"]),
    FINGERPRINT_KEY: json_fields.Field(lambda v: v is None or isinstance(v, dict), "an object or null",
                                       required=False),
}
"""What verify needs from a config.json to resume it (`_check_config`; `protocol_spec` is checked by
`Protocol.from_dict`). threads: up to this machine's CPU count."""


def _check_config(config: dict, where: Path) -> Protocol:
    """RunDirError (one line naming `where` and the key) unless `config` is one verify can resume;
    returns its protocol."""
    json_fields.check_fields(config, _CONFIG_FIELDS, where)
    if config["model"] != "linear" and config["eval_samples"] < 2:
        raise RunDirError(f"{where}: 'eval_samples' must be at least 2 for model {config['model']!r}, "
                          f"got {config['eval_samples']}")
    try:
        return Protocol.from_dict(config.get("protocol_spec"))
    except ValueError as err:
        raise RunDirError(f"{where}: 'protocol_spec' {err}") from None


def _resume_config(run_dir: RunDir, opts: dict) -> dict:
    """The saved config of the run in `run_dir`, checked (`_check_config`) and compared with the options
    given (any that differs is a UsageError); nothing is written."""
    if not run_dir.exists():
        raise UsageError(f"--resume {run_dir.path}: not a run directory (no config.json)")
    config = run_dir.read_config()
    _check_config(config, run_dir.path / CONFIG)
    for key in _OPTIONS:
        given = opts.get(key)
        if given is None:
            continue
        saved = config.get("requested_device" if key == "device" else key)
        if key == "hidden":
            given = list(given)
        if key == "data_dir":
            given = resolve_data_dir(given)
        if given != saved:
            raise UsageError(f"--{key.replace('_', '-')} {given} conflicts with the saved run "
                             f"({key}={saved}); drop it to resume {run_dir.path}")
    if torch.device(config["device"]).type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{run_dir.path} was trained on CUDA, which is not available here")
    return config


_DEFAULT_POINTS = {"ppca": (10_000, 10_000), "ring": (10_000, 10_000), "mnist": (4_000, 1_000)}
"""Points of each data set when --n-train / --n-test are not given (MNIST: the embedded subset; full
MNIST from --data-dir: 60,000 and 10,000)."""
_DATA_DIMS = {"ppca": 10, "ring": 10, "mnist": 784}


def check_workload(config: dict, *, data_dim: int | None = None, n_train: int | None = None,
                   n_test: int | None = None, where: str | None = None) -> None:
    """BoundsError (one line naming the option that frees most memory and its largest value that fits)
    unless the run of `config` fits this machine's memory (`numerics.limits.check_memory`): its protocol,
    the fresh evaluation and the data, sizes from the data set's defaults until the data are loaded.
    `where`: the config.json a resumed run's values come from (named instead of the options)."""
    default_train, default_test = (60_000, 10_000) if config.get("data_dir") else _DEFAULT_POINTS[config["data"]]
    n_train = n_train or config.get("n_train") or default_train
    if n_test is None:
        n_test = default_test if config.get("n_test") is None else config["n_test"]
    D = data_dim or _DATA_DIMS[config["data"]]
    hidden = tuple(config["hidden"])
    width = min(D, hidden[-1] if hidden else config["latent_dim"])  # the narrowest row: the most rows per chunk
    K = max(1, config["eval_samples"])
    names = {k: _option(k) if where is None else f"{k} in {where}"
             for k in ("latent_dim", "hidden", "n_train", "n_test")}
    workload = limits.workload_for_protocol(
        Protocol.from_dict(config["protocol_spec"]), model=config["model"], data_dim=D,
        latent_dim=config["latent_dim"], hidden=hidden, n_train=n_train, n_test=n_test, eval_samples=K,
        chunk_rows=max(ROWS_PER_CHUNK, chunk_for(K, width) * K),
        eval_option="--eval-samples" if where is None else f"eval_samples in {where}", options=names)
    limits.check_memory(workload, device=config["device"])


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------

def _read_dataset(config: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """x_train, x_test (float64, CPU) and the data's meta, loaded and checked (`numerics.data`); a
    resumed run's files must match the fingerprint its config.json holds. Writes nothing."""
    try:
        dataset = load_data(config["data"], data_dir=config["data_dir"], seed=config["seed"],
                            n_train=config["n_train"], n_test=config["n_test"], dtype=torch.float64)
    except DataError:
        raise
    except (ValueError, OSError) as err:  # a missing folder or file, an unreadable one
        raise DataError(f"cannot load data {config['data']!r}: {err}") from None
    if FINGERPRINT_KEY in config:
        check_fingerprint(config[FINGERPRINT_KEY], dataset.meta.get("fingerprint"))
    x_train = dataset.x_train
    x_test = dataset.x_test if dataset.x_test is not None else x_train[:0]
    return x_train, x_test, dict(dataset.meta)


def _keep_data(run_dir: RunDir, config: dict, x_train: torch.Tensor, x_test: torch.Tensor) -> None:
    """Generated data: write data.npz, or check the data regenerated from config.json against it."""
    if config["data"] == "mnist":
        return
    if run_dir.has_data():
        saved_train, saved_test = run_dir.load_data()
        if not (np.array_equal(saved_train, x_train.numpy()) and np.array_equal(saved_test, x_test.numpy())):
            raise RunDirError(f"{run_dir.path}/data.npz differs from the data regenerated from config.json")
    else:
        run_dir.save_data(x_train, x_test)


def _train(config: dict, run_dir: RunDir, model: GaussianVAE, x_train, protocol: Protocol, monitor, *,
           seed: int, frozen=(), progress: bool, stop_after: int | None, label: str):
    width = row_width(model)
    trainer = Trainer(model, x_train, protocol, run_dir, seed=seed, frozen=tuple(frozen), monitor=monitor,
                      progress=progress, chunk_size=lambda phase: chunk_for(phase.base_points(model.H), width),
                      label=label)
    return trainer, trainer.run(stop_after=stop_after)


def _last_design(protocol: Protocol, config: dict, x_train, H: int):
    phase = protocol.phases[-1]
    if phase.kind == "adam":
        return None, "none (fresh samples every step)"
    design = fixed_design(phase, x_train.shape[0], H, seed=config["seed"], dtype=torch.float64, device=x_train.device)
    return design, f"{phase.design}" + ("" if phase.design == "analytic" else f" ({phase.design_size})")


def run_verification(model: str | None = None, protocol: str | None = None, data: str | None = None,
                     device: str | None = None, seed: int | None = None, steps: int | None = None,
                     out: str | Path | None = None, resume: bool = False, progress: bool = True, *,
                     dtype: str | None = None, data_dir: str | None = None, n_train: int | None = None,
                     n_test: int | None = None, latent_dim: int | None = None, hidden: tuple[int, ...] | None = None,
                     enc_link: str | None = None, dec_link: str | None = None, eval_samples: int | None = None,
                     control_factor: float | None = None, control: bool | None = None,
                     threads: int | None = None, warmup_steps: int | None = None, stop_after: int | None = None) -> dict | None:
    """Train, evaluate, run the control and write `out` (see the module docstring); returns the
    summary.json content. None (documented) defaults: model "vae3", protocol "fast", device "auto",
    seed 0, data = DEFAULT_DATA[model], out = `default_out(...)`. With resume=True, `out` must hold a
    run; its saved config is used and any explicitly given conflicting option raises UsageError.
    `stop_after` stops the main training after that many steps without a verdict and returns None
    (simulates a killed run). Every option, the memory estimate and the data are checked before
    anything is written; the run directory's writer lock is held until the end.
    Raises UsageError (bad input of any kind) and DivergenceError (non-finite training)."""
    opts = {k: v for k, v in locals().items() if k in _OPTIONS}
    if resume:
        if out is None:
            raise UsageError("resume needs the run directory")
        run_dir = RunDir(out)
        config = _resume_config(run_dir, opts)
        where = str(run_dir.path / CONFIG)
    else:
        config = _fresh_config(opts)
        run_dir = RunDir(default_out(config["model"], config["data"], config["protocol"], config["seed"])
                         if out is None else out)
        if run_dir.exists():
            raise UsageError(f"{run_dir.path} already holds a run; resume it with --resume {run_dir.path} "
                             f"or choose another --out")
        where = None
    check_workload(config, where=where)
    torch.set_num_threads(config["threads"])  # before the data are generated, as on every resume
    x_train, x_test, meta = _read_dataset(config)
    check_workload(config, data_dim=x_train.shape[1], n_train=x_train.shape[0], n_test=x_test.shape[0], where=where)
    if not resume:
        config[FINGERPRINT_KEY] = meta.get("fingerprint")
    with run_dir:  # the writer lock, until the run ends (RunDirLocked when another process writes)
        if not resume:
            run_dir.create(config)
        _keep_data(run_dir, config, x_train, x_test)
        return _verify(config, run_dir, x_train, x_test, meta, progress=progress, stop_after=stop_after)


def default_out(model: str, data: str, protocol: str, seed: int) -> Path:
    """The run directory of a run without --out: runs/<model>-<data>-<protocol>-seed<k>."""
    return Path("runs") / f"{model}-{data}-{protocol}-seed{seed}"


def _verify(config: dict, run_dir: RunDir, x_train: torch.Tensor, x_test: torch.Tensor, meta: dict, *,
            progress: bool, stop_after: int | None) -> dict | None:
    """The run itself, in a created and locked run directory (see `run_verification`)."""
    t_start = time.perf_counter()
    dev = torch.device(config["device"])
    repeatable(dev)
    dtype = getattr(torch, config["dtype"])
    x_train, x_test = x_train.to(device=dev, dtype=dtype), x_test.to(device=dev, dtype=dtype)
    H, D, kind, seed = config["latent_dim"], x_train.shape[1], config["model"], config["seed"]
    protocol = Protocol.from_dict(config["protocol_spec"])
    gen = torch.Generator(device="cpu").manual_seed(seed)
    net = build_model(kind, D, H, hidden=tuple(config["hidden"]), enc_link=config["enc_link"],
                      dec_link=config["dec_link"], dtype=getattr(torch, config["dtype"]), device=dev, generator=gen)
    monitor, ml = make_monitor(kind, x_train, seed, H, logliks=(x_test, meta))
    try:
        _, result = _train(config, run_dir, net, x_train, protocol, monitor, seed=seed, progress=progress,
                           stop_after=stop_after, label=f"{kind}/{config['protocol']}")
    except DivergenceError as err:
        _write_diverged(run_dir, config, f"training diverged: {err}", t_start)
        raise
    if result.stopped == "step-limit":
        return None
    net.eval()
    fresh = evaluate_fresh(net, x_train, config["eval_samples"], seed + EVAL_SEED_OFFSET)
    design, design_name = _last_design(protocol, config, x_train, H)
    in_design = evaluate_on(net, x_train, design) if design is not None else None
    cert = verdict.certificate(net, x_train, seed)
    conv = verdict.convergence(fresh)
    checks = [*verdict.certificate_checks(kind, cert), verdict.identity_check(fresh), verdict.convergence_check(kind, conv)]
    extras: dict = {}
    if kind == "linear":
        extras = linear_logliks(net, x_train, x_test, meta, ml)
        checks.append(verdict.cora1_check(fresh, extras["loglik_ml_train"], conv))
    control_summary = None
    if config["control"]:
        try:
            control_summary = _run_control(config, run_dir, net, x_train, kind, H, progress)
        except DivergenceError as err:
            _write_diverged(run_dir, config, f"the control's training diverged: {err}", t_start)
            raise
        checks.extend(Check(**c) for c in control_summary.pop("checks_for_main"))
    status, reason = verdict.decide(checks, cert, conv, control_ran=bool(config["control"]))
    tol, tol_reason = verdict.stationary_tolerance(fresh)
    summary = {
        "model": kind, "claim": config["claim"], "status": status, "reason": reason,
        "certificate": cert.to_dict(), "convergence": conv.to_dict(),
        "elbo": fresh["elbo"], "elbo_se": fresh["elbo_se"], "entropy_sum": fresh["entropy_sum"],
        "gap": fresh["gap"], "gap_se": fresh["gap_se"], "rel_gap": rel_gap(fresh), "gap_over_se": conv.gap_over_se,
        "residual_decoder": fresh["residual_decoder"], "residual_prior": fresh["residual_prior"],
        "identity_error": fresh["identity_error"],
        "tolerance": tol, "tolerance_reason": tol_reason, "latent_dim": H, "data_dim": D,
        "n_train": int(x_train.shape[0]), "n_test": int(x_test.shape[0]),
        "seconds": time.perf_counter() - t_start, "train_seconds": result.seconds, "steps": result.steps,
        "phase_ends": result.phase_ends, "device": config["device"], "dtype": config["dtype"], "seed": seed,
        "protocol": config["protocol"], "data": config["data"], "enc_link": config["enc_link"],
        "dec_link": config["dec_link"], "versions": config["versions"],
        "evaluation": {"kind": "analytic" if kind == "linear" else "rqmc",
                       "samples_per_point": 0 if kind == "linear" else config["eval_samples"],
                       "replicates": 0 if kind == "linear" else eval_replicates(config["eval_samples"]),
                       "seed": seed + EVAL_SEED_OFFSET},
        "in_design": None if in_design is None else {"design": design_name, "gap": in_design["gap"],
                                                     "elbo": in_design["elbo"], "rel_gap": rel_gap(in_design),
                                                     "residual_decoder": in_design["residual_decoder"],
                                                     "residual_prior": in_design["residual_prior"]},
        "checks": [asdict(c) for c in checks], "control": control_summary, **extras,
    }
    run_dir.write_summary(summary)
    return summary


def _write_diverged(run_dir: RunDir, config: dict, reason: str, t_start: float) -> None:
    """summary.json of a run whose training (or its control's) diverged: FAIL, no verdict."""
    run_dir.write_summary({"model": config["model"], "claim": config["claim"], "status": "FAIL", "reason": reason,
                           "error": reason, "latent_dim": config["latent_dim"],
                           "seconds": time.perf_counter() - t_start, "device": config["device"],
                           "seed": config["seed"], "protocol": config["protocol"], "data": config["data"],
                           "versions": config["versions"], "checks": []})


def _run_control(config: dict, run_dir: RunDir, converged: GaussianVAE, x_train, kind: str, H: int,
                 progress: bool) -> dict:
    """Fig. 1a control in run_dir/control: decoder variance set to factor x its converged value,
    `control_frozen` parameters fixed, everything else re-optimised from the converged point by
    `control_protocol(kind)` (float64, whatever the main protocol); its checks (`verdict.control_checks`)."""
    control_dir = run_dir.control()
    factor = config["control_factor"]
    cprotocol = control_protocol(kind)
    frozen = control_frozen(converged)
    ccfg = dict(config, role="control", control=False, dtype=cprotocol.dtype, protocol_spec=cprotocol.to_dict(),
                frozen=frozen,
                frozen_how=(f"decoder variance = {factor:g} x its converged value (VAE-3: output bias of the "
                            f"variance network shifted by log {factor:g}); frozen parameters requires_grad=False"))
    if not control_dir.exists():
        control_dir.create(ccfg)
    model = copy.deepcopy(converged).to(getattr(torch, cprotocol.dtype))
    x_control = x_train.to(getattr(torch, cprotocol.dtype))
    scale_decoder_variance(model, factor)
    seed = config["seed"] + CONTROL_SEED_OFFSET
    monitor, _ = make_monitor(kind, x_control, seed, H)
    _, result = _train(config, control_dir, model, x_control, cprotocol, monitor, seed=seed, frozen=frozen,
                       progress=progress, stop_after=None, label=f"{kind}/control")
    model.eval()
    fresh = evaluate_fresh(model, x_control, config["eval_samples"], seed + EVAL_SEED_OFFSET)
    second = evaluate_on(model, x_control, monitor_design(kind, x_control, seed, H))
    cert = verdict.certificate(model, x_control, seed, frozen=tuple(frozen))
    conv = verdict.convergence(fresh)
    checks = verdict.control_checks(kind, fresh, second, cert)
    predicted = verdict.identity_prediction(second)
    status = "PASS" if all(c.status == "PASS" for c in checks) else "FAIL"
    failed = [c.name for c in checks if c.status != "PASS"]
    reason = ("the gap the identity predicts is there, and the frozen decoder orbit's slope says why"
              if not failed else f"control check(s) not passed: {', '.join(failed)}")
    tol, tol_reason = verdict.stationary_tolerance(fresh)
    csummary = {"model": kind, "claim": config["claim"], "role": "control", "status": status, "reason": reason,
                "certificate": cert.to_dict(), "convergence": conv.to_dict(),
                "elbo": fresh["elbo"], "elbo_se": fresh["elbo_se"], "entropy_sum": fresh["entropy_sum"],
                "gap": fresh["gap"], "gap_se": fresh["gap_se"], "rel_gap": rel_gap(fresh),
                "predicted_gap": predicted, "residual_decoder": fresh["residual_decoder"],
                "residual_prior": fresh["residual_prior"], "factor": factor,
                "frozen": frozen, "tolerance": tol, "tolerance_reason": tol_reason,
                "checks": [asdict(c) for c in checks], "latent_dim": H, "seconds": result.seconds,
                "device": config["device"], "seed": seed, "protocol": "control", "data": config["data"],
                "versions": config["versions"]}
    control_dir.write_summary(csummary)
    decoder = next(o for o in cert.orbits if o.name == "decoder")
    return {"gap": fresh["gap"], "predicted_gap": predicted, "status": status, "reason": reason, "factor": factor,
            "rel_gap": rel_gap(fresh), "grade": conv.grade, "frozen": frozen,
            "decoder_slope": decoder.slope, "decoder_frozen": decoder.frozen,
            "certificate_holds": cert.holds, "certificate_seconds": cert.seconds,
            "residual_decoder": fresh["residual_decoder"],
            "residual_prior": fresh["residual_prior"], "seconds": result.seconds,
            "checks_for_main": [asdict(c) for c in checks]}


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def format_report(summary: dict) -> str:
    """The run's verdict for a terminal: figures, every check, the certificate and the status line."""
    lines = [f"{summary['model']} on {summary['data']} ({summary['protocol']} protocol, {summary['dtype']}, "
             f"{summary['device']}, seed {summary['seed']}): {summary['seconds']:.1f} s",
             f"  F (ELBO) = {summary['elbo']:.10g} +- {summary['elbo_se'] or 0:.2g}   "
             f"S (three entropies) = {summary['entropy_sum']:.10g}   rel_gap = {summary['rel_gap']:.3g}"]
    if summary.get("in_design"):
        lines.append(f"  in-design gap ({summary['in_design']['design']}) = {summary['in_design']['gap']:.3g}")
    for key in ("loglik_train", "loglik_ml_train", "loglik_truth_train", "loglik_test", "loglik_truth_test"):
        if key in summary:
            lines.append(f"  {key} = {summary[key]:.10g}")
    cert = summary["certificate"]
    lines.append(f"  certificate ({cert['design']['points']} points, {cert['design']['kind']}, "
                 f"{cert['seconds']:.2f} s): identity error {cert['identity_error']:.2g}, tolerance {cert['tolerance']:.2g}")
    for orbit in cert["orbits"]:
        if orbit["missing"] is not None:
            lines.append(f"    {orbit['name']:<9} no orbit: {orbit['missing']}")
        else:
            lines.append(f"    {orbit['name']:<9} dF/dt = {orbit['slope']:+.6e}  identity: {orbit['predicted']:+.6e}  "
                         f"error {orbit['error']:.2g}{'  (frozen)' if orbit['frozen'] else ''}")
    conv = summary["convergence"]
    lines.append(f"  convergence: grade {conv['grade']}, rel_gap {_text(conv['rel_gap'])} +- {_text(conv['se'])} "
                 f"(4-SE upper bound {_text(conv['upper'])}; |gap| / SE = {_text(conv['gap_over_se'])})")
    for c in summary["checks"]:
        value = _text(c["value"])
        lines.append(f"  [{c['status']}] {c['name']:<20} {value} vs {_text(c['tolerance'])}: {c['detail']}")
    if summary.get("control"):
        ctl = summary["control"]
        lines.append(f"  control: gap = {ctl['gap']:.6g}, predicted = {ctl['predicted_gap']:.6g}, "
                     f"decoder orbit slope {_text(ctl['decoder_slope'])} (frozen), grade {ctl['grade']}")
    lines.append(f"VERDICT: {summary['status']}: {summary['reason']}")
    return "\n".join(lines)


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0],
                      epilog=EXIT_STATUS_TEXT,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODEL_KINDS, help="model kind (default vae3)")
    p.add_argument("--protocol", choices=PROTOCOL_NAMES,
                   help="fast (default: Adam warm start on fresh samples, then float64 L-BFGS on a fixed per-point design) "
                        "or paper (Appendix C.3: Adam lr 1e-3, batch 2000, 100 samples, float32)")
    p.add_argument("--data", choices=DATA_NAMES, help="data set (default: linear, vae2 ppca; vae1 mnist; vae3 ring)")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (default: the embedded 5,000-image subset)")
    p.add_argument("--n-train", type=int, help="training points (default: the data set's)")
    p.add_argument("--n-test", type=int, help="test points (default: the data set's)")
    p.add_argument("--device", choices=DEVICES, help="auto (default) = cuda if available")
    p.add_argument("--dtype", choices=DTYPES, help="training dtype (default: fast float64, paper float32; "
                                                   "phases that name their own, such as the fast VAE-1/2/3 "
                                                   "warm start in float32, keep it); evaluation is always float64")
    p.add_argument("--seed", type=int, help="seed of data, initialisation and samples (default 0)")
    p.add_argument("--steps", type=int, help="paper: epochs; fast: L-BFGS steps of the polishing phase")
    p.add_argument("--warmup-steps", type=int, help="fast: length of the warm-start phase(s) (Adam; linear: L-BFGS)")
    p.add_argument("--latent-dim", type=int, help="H (default 2)")
    p.add_argument("--hidden", type=limits.parse_hidden,
                   help="hidden layer sizes, e.g. 50,50 (default); none = affine networks")
    p.add_argument("--enc-link", choices=tuple(LINKS),
                   help="encoder variance link (default exp; softplus-std: sigma = softplus(a), the authors'; "
                        "a network head with a softplus link is NOT-COVERED)")
    p.add_argument("--dec-link", choices=tuple(LINKS),
                   help="decoder variance link (default exp; VAE-3's network head with a softplus link is NOT-COVERED)")
    p.add_argument("--eval-samples", type=int,
                   help=f"rqmc points per data point for the verdict, in {EVAL_REPLICATES} randomisations "
                        f"(default vae1/vae2 {EVAL_SAMPLES['vae1']}, vae3 {EVAL_SAMPLES['vae3']})")
    p.add_argument("--control-factor", type=float,
                   help=f"control run: decoder variance frozen at this factor x its converged value "
                        f"(default {DEFAULT_CONTROL_FACTOR:g})")
    p.add_argument("--no-control", dest="control", action="store_const", const=False,
                   help="skip the Fig. 1a control run (its checks are then absent and the status is decided "
                        "without them; the reason says so)")
    p.add_argument("--threads", type=int, help=f"CPU threads (default {DEFAULT_THREADS})")
    p.add_argument("--out", type=Path, help="run directory (default runs/<model>-<data>-<protocol>-seed<k>)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout instead of the report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway when stderr "
                                                              "is not a terminal)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI: one line and exit 2 for bad input, 3 for divergence, 130 for Ctrl-C (with the command
    that resumes), else the status's code (`EXIT_STATUS_TEXT`)."""
    args = build_parser().parse_args(argv)
    if args.resume is not None:
        path = args.resume
    else:
        model = args.model or "vae3"
        path = args.out or default_out(model, args.data or DEFAULT_DATA[model], args.protocol or "fast",
                                       args.seed or 0)

    def resume_hint() -> str | None:
        try:
            return f"{PROG} --resume {shlex.quote(str(path))}" if RunDir(path).exists() else None
        except UsageError:
            return None

    def body() -> int:
        if args.resume is not None and args.out is not None and args.out != args.resume:
            raise UsageError("give either --out or --resume DIR, not both")
        summary = run_verification(
            model=args.model, protocol=args.protocol, data=args.data, device=args.device, seed=args.seed,
            steps=args.steps, out=path, resume=args.resume is not None, progress=not args.no_progress,
            dtype=args.dtype, data_dir=args.data_dir, n_train=args.n_train, n_test=args.n_test,
            latent_dim=args.latent_dim, hidden=args.hidden, enc_link=args.enc_link, dec_link=args.dec_link,
            eval_samples=args.eval_samples, control_factor=args.control_factor, control=args.control,
            threads=args.threads, warmup_steps=args.warmup_steps)
        if args.json:
            print(json.dumps(json_safe(summary), indent=2, allow_nan=False))
        else:
            print(format_report(summary))
        return EXIT_CODES[summary["status"]]

    return run_main(PROG, body, errors={DivergenceError: EXIT_DIVERGED}, resume_hint=resume_hint)


if __name__ == "__main__":
    sys.exit(main())
