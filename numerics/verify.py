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
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from numerics import verdict
from numerics.cli import EXIT_USAGE, OneLineParser
from numerics.data import DATA_NAMES, load_data
from numerics.determinism import repeatable
from numerics.estimators import chunk_for, row_width
from numerics.evaluation import (EVAL_REPLICATES, EVAL_SAMPLES, EVAL_SEED_OFFSET, LOG_SAMPLES, eval_replicates,
                                 evaluate_fresh, evaluate_on, linear_logliks, make_monitor, monitor_design, rel_gap)
from numerics.links import LINKS, inverse_link
from numerics.models import MODEL_KINDS, GaussianVAE, build_model
from numerics.protocols import DTYPES, PROTOCOL_NAMES, Protocol, control_protocol, get_protocol
from numerics.rundir import RunDir, json_safe
from numerics.training import DivergenceError, Trainer, fixed_design
from numerics.verdict import CLAIMS, EXIT_CODES, K_SE, ROUNDOFF_REL, Check

DEFAULT_DATA = {"linear": "ppca", "vae1": "mnist", "vae2": "ppca", "vae3": "ring"}
DEFAULT_CONTROL_FACTOR = 4.0
CONTROL_SEED_OFFSET = 17
DEFAULT_THREADS = 1
"""CPU threads (torch.set_num_threads). One by default: these models are small, and on a shared
2-core machine two spinning intra-op threads were measured 10-100x slower than one."""
EXIT_DIVERGED = 3
EXIT_STATUS_TEXT = """exit status:
  0  PASS: the certificate holds, the control is detected, convergence is at least paper-level
  1  FAIL: a certificate, control or Cor. A1 check failed
  2  usage error (bad option or data)
  3  training diverged (non-finite loss or parameters; the last good checkpoint is kept)
  4  NOT-COVERED: the parametrisation is not closed under the variance scalings (softplus variance
     head): the proposition's hypotheses do not hold; the gap is still measured
  5  NOT-CONVERGED: the certificate holds, but rel_gap's 4-SE upper bound is above the paper's 5e-3"""


class UsageError(ValueError):
    """Bad options: reported as one line on stderr, exit 2."""


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
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; valid: auto, cpu, cuda")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda requested but no CUDA device is available (try --device cpu)")
    return torch.device(device)


_OPTIONS = ("model", "protocol", "data", "data_dir", "device", "seed", "steps", "dtype", "latent_dim",
            "hidden", "enc_link", "dec_link", "n_train", "n_test", "eval_samples", "control_factor", "control",
            "threads", "warmup_steps")


def _fresh_config(opts: dict) -> dict:
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
    if opts["threads"] is not None and opts["threads"] < 1:
        raise UsageError("--threads must be >= 1")
    for key in ("steps", "n_train", "n_test", "eval_samples"):
        if opts[key] is not None and opts[key] < 0:
            raise UsageError(f"--{key.replace('_', '-')} must be >= 0")
    if model != "linear" and opts["eval_samples"] is not None and opts["eval_samples"] < 2:
        raise UsageError("--eval-samples must be >= 2 (an rqmc standard error needs two randomisations)")
    factor = DEFAULT_CONTROL_FACTOR if opts["control_factor"] is None else float(opts["control_factor"])
    if not (factor > 0 and factor != 1.0 and math.isfinite(factor)):
        raise UsageError("--control-factor must be positive and different from 1")
    device = resolve_device(opts["device"] or "auto")
    if opts["warmup_steps"] is not None and (protocol != "fast" or opts["warmup_steps"] < 0):
        raise UsageError("--warmup-steps needs --protocol fast and a value >= 0")
    spec = get_protocol(protocol, model, steps=opts["steps"], dtype=opts["dtype"], warmup_steps=opts["warmup_steps"])
    return {"model": model, "claim": CLAIMS[model], "protocol": protocol, "protocol_spec": spec.to_dict(),
            "warmup_steps": opts["warmup_steps"], "data": data, "data_dir": opts["data_dir"], "n_train": opts["n_train"], "n_test": opts["n_test"],
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


def _resume_config(run_dir: RunDir, opts: dict) -> dict:
    if not run_dir.exists():
        raise UsageError(f"--resume {run_dir.path}: not a run directory (no config.json)")
    config = run_dir.read_config()
    for key in _OPTIONS:
        given = opts.get(key)
        if given is None:
            continue
        saved = config.get("requested_device" if key == "device" else key)
        if key == "hidden":
            given = list(given)
        if given != saved:
            raise UsageError(f"--{key.replace('_', '-')} {given} conflicts with the saved run "
                             f"({key}={saved}); drop it to resume {run_dir.path}")
    resolve_device(config["requested_device"])
    if torch.device(config["device"]).type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{run_dir.path} was trained on CUDA, which is not available here")
    return config


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------

def _load_dataset(config: dict, run_dir: RunDir, device: torch.device):
    dtype = getattr(torch, config["dtype"])
    dataset = load_data(config["data"], data_dir=config["data_dir"], seed=config["seed"],
                        n_train=config["n_train"], n_test=config["n_test"], dtype=torch.float64)
    x_train = dataset.x_train
    x_test = dataset.x_test if dataset.x_test is not None else x_train[:0]
    if config["data"] != "mnist":
        if run_dir.has_data():
            saved_train, saved_test = run_dir.load_data()
            if not (np.array_equal(saved_train, x_train.cpu().numpy()) and np.array_equal(saved_test, x_test.cpu().numpy())):
                raise UsageError(f"{run_dir.path}/data.npz differs from the data regenerated from config.json")
        else:
            run_dir.save_data(x_train, x_test)
    return x_train.to(device=device, dtype=dtype), x_test.to(device=device, dtype=dtype), dict(dataset.meta)


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
    seed 0, data = DEFAULT_DATA[model]. With resume=True, `out` must hold a run; its saved config is
    used and any explicitly given conflicting option raises UsageError. `stop_after` stops the main
    training after that many steps without a verdict and returns None (simulates a killed run).
    Raises UsageError (bad options) and DivergenceError (non-finite training)."""
    opts = {k: v for k, v in locals().items() if k in _OPTIONS}
    if resume:
        if out is None:
            raise UsageError("resume needs the run directory")
        run_dir = RunDir(out)
        config = _resume_config(run_dir, opts)
    else:
        config = _fresh_config(opts)
        if out is None:
            out = Path("runs") / f"{config['model']}-{config['data']}-{config['protocol']}-seed{config['seed']}"
        run_dir = RunDir(out)
        if run_dir.exists():
            raise UsageError(f"{run_dir.path} already holds a run; resume it with --resume {run_dir.path} "
                             f"or choose another --out")
        run_dir.create(config)
    t_start = time.perf_counter()
    torch.set_num_threads(config.get("threads", DEFAULT_THREADS))
    dev = torch.device(config["device"])
    repeatable(dev)
    try:
        x_train, x_test, meta = _load_dataset(config, run_dir, dev)
    except (ValueError, FileNotFoundError, OSError) as err:
        raise UsageError(f"cannot load data {config['data']!r}: {err}") from err
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
        run_dir.write_summary({"model": kind, "claim": config["claim"], "status": "FAIL",
                               "reason": f"training diverged: {err}", "error": str(err),
                               "latent_dim": H, "seconds": time.perf_counter() - t_start,
                               "device": config["device"], "seed": seed, "protocol": config["protocol"],
                               "data": config["data"], "versions": config["versions"], "checks": []})
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
        control_summary = _run_control(config, run_dir, net, x_train, kind, H, progress)
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


def _hidden(text: str) -> tuple[int, ...]:
    """'50,50' -> (50, 50); 'none' -> () (affine networks: no hidden layer)."""
    if text.strip().lower() == "none":
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated integers, e.g. 50,50") from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("hidden sizes must be positive")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m numerics.verify", description=__doc__.split("\n\n")[0],
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
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="auto (default) = cuda if available")
    p.add_argument("--dtype", choices=DTYPES, help="training dtype (default: fast float64, paper float32; "
                                                   "phases that name their own, such as the fast VAE-1/2/3 "
                                                   "warm start in float32, keep it); evaluation is always float64")
    p.add_argument("--seed", type=int, help="seed of data, initialisation and samples (default 0)")
    p.add_argument("--steps", type=int, help="paper: epochs; fast: L-BFGS steps of the polishing phase")
    p.add_argument("--warmup-steps", type=int, help="fast: length of the warm-start phase(s) (Adam; linear: L-BFGS)")
    p.add_argument("--latent-dim", type=int, help="H (default 2)")
    p.add_argument("--hidden", type=_hidden, help="hidden layer sizes, e.g. 50,50 (default); none = affine networks")
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
    args = build_parser().parse_args(argv)
    if args.resume is not None and args.out is not None and args.out != args.resume:
        sys.stderr.write("error: give either --out or --resume DIR, not both\n")
        return EXIT_USAGE
    try:
        summary = run_verification(
            model=args.model, protocol=args.protocol, data=args.data, device=args.device, seed=args.seed,
            steps=args.steps, out=args.resume if args.resume is not None else args.out,
            resume=args.resume is not None, progress=not args.no_progress, dtype=args.dtype,
            data_dir=args.data_dir, n_train=args.n_train, n_test=args.n_test, latent_dim=args.latent_dim,
            hidden=args.hidden, enc_link=args.enc_link, dec_link=args.dec_link, eval_samples=args.eval_samples,
            control_factor=args.control_factor, control=args.control, threads=args.threads,
            warmup_steps=args.warmup_steps)
    except UsageError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except DivergenceError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_DIVERGED
    if args.json:
        print(json.dumps(json_safe(summary), indent=2, allow_nan=False))
    else:
        print(format_report(summary))
    return EXIT_CODES[summary["status"]]


if __name__ == "__main__":
    sys.exit(main())
