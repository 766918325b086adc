"""`python -m numerics.verify`: train a VAE and check the proposition that applies to it.

Model -> claim (default data): linear -> Cor. 1, Eq. 33 and Cor. A1, Eqs. 44-45 (p-PCA);
vae2 -> Prop. 1, Eq. 20 (p-PCA); vae1 -> Prop. 2, Eq. 25 (MNIST subset); vae3 -> Prop. 3, Eq. 39
(PCA-ring). H = 2 by default.

How a verdict is reached (DESIGN.md, "gap"): F - S = residual_decoder + 1/2 sum_h r_h exactly, and
each residual is minus the derivative of F along a variance-scaling direction. At a stationary point
of the objective actually optimised (a fixed design) the in-design gap is zero to optimiser
precision, so it proves little. The verdict is therefore taken on an INDEPENDENT evaluation:
randomised QMC per data point (`estimators.rqmc_design`: own seed, EVAL_SAMPLES points per data point
in EVAL_REPLICATES independent randomisations, no grad), whose replicates give an honest standard
error of the gap. Tolerance = 4 standard errors of that gap estimate + 1e-10 |F| (float64 round-off);
nothing else. For the linear VAE everything is analytic and only the round-off term remains.

Checks (summary.json `checks`): the claim (|gap| <= tol); the identity's own error (float round-off,
<= 1e-9 |F|); for the linear VAE Cor. A1 (|F - L_ML| and |S - L_ML| <= 1e-6 nats, L_ML = Eq. 45 at the
p-PCA maximum-likelihood solution of the training data); and the Fig. 1a control (`control_frozen`):
the decoder variance is set to `control_factor` times its converged value and the parameters that
could rescale it are frozen, all other parameters are re-optimised from the converged point by the
model's control phase (`protocols.control_protocol`: the fast protocol's fixed design, a short L-BFGS
budget, float64, whatever the main protocol), and the run must show (a) a gap equal to the residual
predicted by the identity, measured on a second, independent design, within the combined tolerance,
and (b) a gap of at least 10 tolerances: a check that cannot fail would be a defect. The claim check
applied to the control run must say FAIL (it is recorded there).

Exit status: 0 every check passed; 1 a check failed; 2 usage error; 3 training diverged.
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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from numerics import estimators
from numerics.cli import EXIT_USAGE, OneLineParser
from numerics.data import DATA_NAMES, load_data
from numerics.determinism import repeatable
from numerics.links import LINKS, inverse_link
from numerics.models import MODEL_KINDS, GaussianVAE, build_model
from numerics.protocols import DTYPES, PROTOCOL_NAMES, Phase, Protocol, control_protocol, get_protocol
from numerics.rundir import RunDir, json_safe
from numerics.training import DivergenceError, Trainer

DEFAULT_DATA = {"linear": "ppca", "vae1": "mnist", "vae2": "ppca", "vae3": "ring"}
CLAIMS = {"linear": "cor1", "vae1": "prop2", "vae2": "prop1", "vae3": "prop3"}
CLAIM_TITLES = {"cor1": "Cor. 1 (Eq. 33)", "prop2": "Prop. 2 (Eq. 25)", "prop1": "Prop. 1 (Eq. 20)",
                "prop3": "Prop. 3 (Eq. 39)", "corA1": "Cor. A1 (Eqs. 44-45)"}
K_SE = 4.0
"""Tolerance in standard errors of the fresh-sample gap estimate (two-sided 4 sigma: ~6e-5 false alarms)."""
ROUNDOFF_REL = 1e-10
"""Round-off allowance relative to |F| (float64 sums over N <= 1e5 points are good to ~1e-13)."""
IDENTITY_REL = 1e-9
CORA1_NATS = 1e-6
CONTROL_DETECT = 10.0
DEFAULT_CONTROL_FACTOR = 4.0
EVAL_SEED_OFFSET = 7_000_001
LOG_SEED_OFFSET = 3_000_017
CONTROL_SEED_OFFSET = 17
EVAL_SAMPLES = {"linear": 0, "vae1": 256, "vae2": 256, "vae3": 512}
"""Randomised-QMC points per data point for the verdict (linear: analytic). Chosen so that 4 SE of
the gap resolves rel_gap 1e-4 at the fast protocol's converged models (measured SEs in the report)."""
EVAL_REPLICATES = 8
"""Independent randomisations per data point of the verdict's rqmc design (the SE's degrees of freedom
per point; EVAL_SAMPLES / EVAL_REPLICATES points per replicate, a power of two). For a --eval-samples
K that 8 does not divide, the largest divisor of K below 8 (`eval_replicates`)."""
LOG_SAMPLES = 16
LOG_REPLICATES = 2
"""Fixed logging design: rqmc, LOG_SAMPLES per point in LOG_REPLICATES randomisations (own seed, the same
for every protocol so curves compare); also the 'second design' of the control's identity check."""
ROWS_PER_CHUNK = 8192
"""Base points x data points per forward pass in evaluation and training. With chunks this small the
activations stay cache-resident: measured 2.3x faster than one pass over N=10,000 x K=16 (1 thread)."""
DEFAULT_THREADS = 1
"""CPU threads (torch.set_num_threads). One by default: these models are small, and on a shared
2-core machine two spinning intra-op threads were measured 10-100x slower than one."""
EXIT_PASS, EXIT_FAIL, EXIT_DIVERGED = 0, 1, 3  # and numerics.cli.EXIT_USAGE = 2


class UsageError(ValueError):
    """Bad options: reported as one line on stderr, exit 2."""


@dataclass
class Check:
    name: str
    claim: str
    status: str
    value: float | None
    tolerance: float | None
    detail: str


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------

def chunk_for(K: int, width: int) -> int:
    """Data points per forward pass for K base points per point: ROWS_PER_CHUNK rows of width <= 64,
    proportionally fewer for wide rows (`estimators.row_width`: a 784-dimensional decoder output unless
    the Gram path applies). VAE-1 on the Gram path, paper protocol: 82 instead of 6 points per chunk,
    2.7x faster per batch; fast protocol (K = 8): 1024 instead of 83, 0.16 s instead of 0.20 s."""
    return max(1, ROWS_PER_CHUNK * 64 // (max(1, K) * max(64, width)))


def eval_replicates(K: int) -> int:
    """Randomisations of the verdict's rqmc design with K points per data point: the largest
    R <= EVAL_REPLICATES dividing K (R >= 2 for K >= 2)."""
    return next(r for r in range(min(EVAL_REPLICATES, max(1, K)), 0, -1) if K % r == 0)


def evaluate_fresh(model: GaussianVAE, x: torch.Tensor, K: int, seed: int) -> dict:
    """The verdict's evaluation: rqmc design with K points per data point in `eval_replicates(K)` independent
    randomisations (`estimators.rqmc_design`), drawn from a CPU generator seeded `seed` and nothing else
    (independent of every training design), no grad, float64 (linear VAE: analytic)."""
    model64 = model if next(model.parameters()).dtype == torch.float64 else copy.deepcopy(model).double()
    x64 = x.to(torch.float64)
    with torch.no_grad():
        if model.kind == "linear":
            return estimators.evaluate(model64, x64, None).to_dict()
        gen = torch.Generator(device="cpu").manual_seed(seed)
        design = estimators.rqmc_design(K, x64.shape[0], model.H, replicates=eval_replicates(K), generator=gen,
                                        dtype=torch.float64, device=x64.device)
        return estimators.evaluate(model64, x64, design, chunk_size=chunk_for(K, estimators.row_width(model64))).to_dict()


def evaluate_on(model: GaussianVAE, x: torch.Tensor, design: estimators.Design | None) -> dict:
    """Evaluation on a given design (no grad, float64)."""
    model64 = model if next(model.parameters()).dtype == torch.float64 else copy.deepcopy(model).double()
    x64 = x.to(torch.float64)
    if design is not None:
        design = estimators.Design(eps=design.eps.to(torch.float64), weights=design.weights.to(torch.float64),
                                   kind=design.kind, replicates=design.replicates)
    with torch.no_grad():
        K = 1 if design is None else design.K
        return estimators.evaluate(model64, x64, design, chunk_size=chunk_for(K, estimators.row_width(model64))).to_dict()


def _ppca_params(model: GaussianVAE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W, mu0, sigma2) of a linear VAE read through its decoder: mu0 = mu(0), W[:, h] = mu(e_h) - mu0."""
    ref = next(model.parameters())
    with torch.no_grad():
        eye = torch.cat([torch.zeros(1, model.H), torch.eye(model.H)]).to(dtype=torch.float64, device=ref.device)
        mu, sigma2 = copy.deepcopy(model).double().decode(eye)
    return (mu[1:] - mu[:1]).T, mu[0], sigma2.reshape(())


def linear_logliks(model: GaussianVAE, x_train: torch.Tensor, x_test: torch.Tensor, meta: dict,
                   ml: dict) -> dict:
    """Eq. 45 (per point) of the learned, ground-truth and maximum-likelihood p-PCA parameters."""
    from numerics.ppca import ppca_loglik

    W, mu0, sigma2 = _ppca_params(model)
    xtr, xte = x_train.to(torch.float64), x_test.to(torch.float64)
    out = {"loglik_train": float(ppca_loglik(xtr, W, mu0, sigma2)),
           "loglik_ml_train": float(ppca_loglik(xtr, ml["W"], ml["mu"], ml["sigma2"]))}
    if len(xte):
        out["loglik_test"] = float(ppca_loglik(xte, W, mu0, sigma2))
    truth = _truth(meta, xtr)
    if truth is not None:
        out["loglik_truth_train"] = float(ppca_loglik(xtr, *truth))
        if len(xte):
            out["loglik_truth_test"] = float(ppca_loglik(xte, *truth))
    return out


def _truth(meta: dict, like: torch.Tensor):
    """Ground-truth (W_gen, mu_gen, sigma_gen^2) from the p-PCA data set's meta, if present."""
    names = {k.lower(): k for k in meta}
    w, mu, s = (names.get(k) for k in ("w_gen", "mu_gen", "sigma_gen"))
    if w is None or mu is None or s is None:
        return None
    as_t = lambda v: torch.as_tensor(np.asarray(v), dtype=torch.float64, device=like.device)  # noqa: E731
    return as_t(meta[w]), as_t(meta[mu]), as_t(meta[s]) ** 2


def make_monitor(model_kind: str, x_train: torch.Tensor, x_test: torch.Tensor, meta: dict, seed: int, H: int):
    """Per-logged-step metrics on a FIXED logging design (`monitor_design`)."""
    design = monitor_design(model_kind, x_train, seed, H)
    ml = None
    if model_kind == "linear":
        from numerics.ppca import ppca_ml
        ml = ppca_ml(x_train.to(torch.float64), H)

    def monitor(model: GaussianVAE) -> dict:
        ev = evaluate_on(model, x_train, design)
        row = {k: ev[k] for k in ("elbo", "elbo_se", "entropy_sum", "gap", "gap_se", "residual_decoder",
                                  "residual_prior", "identity_error")}
        row["rel_gap"] = _rel_gap(ev)
        if model_kind == "linear":
            row.update(linear_logliks(model, x_train, x_test, meta, ml))
        return row

    return monitor, design, ml


def _rel_gap(ev: dict) -> float | None:
    if ev["elbo"] is None or ev["entropy_sum"] is None:
        return None
    return abs(ev["elbo"] - ev["entropy_sum"]) / max(abs(ev["elbo"]), 1e-300)


# ---------------------------------------------------------------------------------------------
# verdict
# ---------------------------------------------------------------------------------------------

def tolerance(ev: dict) -> tuple[float, str]:
    """K_SE standard errors of the gap estimate plus float64 round-off relative to |F|."""
    se = ev.get("gap_se") or 0.0
    tol = K_SE * se + ROUNDOFF_REL * max(1.0, abs(ev["elbo"]))
    if se > 0:
        reason = (f"{K_SE:g} x standard error of the independent rqmc estimate of the gap ({se:.3g}; "
                  f"from its randomisations) + {ROUNDOFF_REL:g} x |F| float64 round-off")
    else:
        reason = f"analytic evaluation: {ROUNDOFF_REL:g} x |F| float64 round-off only"
    return tol, reason


def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _nonfinite(*values) -> bool:
    return any(v is None or not math.isfinite(v) for v in values)


def claim_check(model_kind: str, ev: dict) -> Check:
    """|F - S| <= tol on the independent evaluation `ev` (the proposition for `model_kind`)."""
    claim = CLAIMS[model_kind]
    tol, reason = tolerance(ev)
    gap = ev["gap"]
    ok = not _nonfinite(gap) and abs(gap) <= tol
    return Check(claim, claim, _status(ok), None if gap is None else abs(gap), tol,
                 f"{CLAIM_TITLES[claim]}: |F - S| {'on an independent rqmc design' if ev.get('gap_se') else '(analytic)'} "
                 f"vs {reason}")


def identity_check(model_kind: str, ev: dict) -> Check:
    tol = IDENTITY_REL * max(1.0, abs(ev["elbo"]))
    err = ev["identity_error"]
    ok = not _nonfinite(err) and err <= tol
    return Check("identity", "gap", _status(ok), err, tol,
                 "|gap - (residual_decoder + 1/2 sum_h r_h)| (gap identity, same design): float round-off")


def cora1_check(ev: dict, loglik_ml: float) -> Check:
    dev = max(abs(ev["elbo"] - loglik_ml), abs(ev["entropy_sum"] - loglik_ml))
    ok = not _nonfinite(dev) and dev <= CORA1_NATS
    return Check("corA1", "corA1", _status(ok), dev, CORA1_NATS,
                 "max(|F - L_ML|, |S - L_ML|), L_ML = Eq. 45 at the p-PCA ML solution of the training data")


def control_checks(model_kind: str, fresh: dict, second: dict) -> list[Check]:
    """The Fig. 1a control: gap (fresh samples) = residual predicted by the identity on a second,
    independent design (combined tolerance), and the gap is really there (>= 10 tolerances)."""
    tol_a, _ = tolerance(fresh)
    tol_b, _ = tolerance(second)
    tol = math.hypot(tol_a, tol_b)
    predicted = second["residual_decoder"] + 0.5 * sum(second["residual_prior"])
    gap = fresh["gap"]
    diff = abs(gap - predicted) if not _nonfinite(gap, predicted) else None
    ident = Check("control-identity", "gap", _status(diff is not None and diff <= tol), diff, tol,
                  "Fig. 1a control (decoder variance at a wrong scale, its rescaling directions frozen; VAE-3: "
                  "variance network frozen except its first-layer weight, so the prior scaling stays free): "
                  "|gap(rqmc) - predicted residual(second, independent design)|")
    detected = not _nonfinite(gap) and abs(gap) >= CONTROL_DETECT * tol_a
    det = Check("control-detected", CLAIMS[model_kind], _status(detected), None if gap is None else abs(gap),
                CONTROL_DETECT * tol_a,
                f"the control's gap must be >= {CONTROL_DETECT:g} tolerances (else the check could not fail)")
    return [ident, det]


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


def base_points(phase: Phase, H: int) -> int:
    """Base points per data point that `phase` evaluates (Adam: fresh samples; L-BFGS: its design)."""
    if phase.kind == "adam":
        return phase.samples
    if phase.design == "gauss-hermite":
        return phase.design_size ** H
    return 1 if phase.design == "analytic" else phase.design_size


def _train(config: dict, run_dir: RunDir, model: GaussianVAE, x_train, protocol: Protocol, monitor, *,
           seed: int, frozen=(), progress: bool, stop_after: int | None, label: str):
    width = estimators.row_width(model)
    trainer = Trainer(model, x_train, protocol, run_dir, seed=seed, frozen=tuple(frozen), monitor=monitor,
                      progress=progress, chunk_size=lambda phase: chunk_for(base_points(phase, model.H), width),
                      label=label)
    return trainer, trainer.run(stop_after=stop_after)


def _last_design(protocol: Protocol, config: dict, x_train, H: int):
    from numerics.training import fixed_design
    phase = protocol.phases[-1]
    if phase.kind != "lbfgs":
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
    dtype = getattr(torch, config["dtype"])
    protocol = Protocol.from_dict(config["protocol_spec"])
    gen = torch.Generator(device="cpu").manual_seed(seed)
    net = build_model(kind, D, H, hidden=tuple(config["hidden"]), enc_link=config["enc_link"],
                      dec_link=config["dec_link"], dtype=dtype, device=dev, generator=gen)
    monitor, _, ml = make_monitor(kind, x_train, x_test, meta, seed, H)
    try:
        _, result = _train(config, run_dir, net, x_train, protocol, monitor, seed=seed, progress=progress,
                           stop_after=stop_after, label=f"{kind}/{config['protocol']}")
    except DivergenceError as err:
        run_dir.write_summary({"model": kind, "claim": config["claim"], "status": "FAIL", "error": str(err),
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
    second = evaluate_on(net, x_train, monitor_design(kind, x_train, seed, H))
    checks = [claim_check(kind, fresh), identity_check(kind, fresh)]
    extras: dict = {}
    if kind == "linear":
        extras = linear_logliks(net, x_train, x_test, meta, ml)
        checks.append(cora1_check(fresh, extras["loglik_ml_train"]))
    control_summary = None
    if config["control"]:
        control_summary = _run_control(config, run_dir, net, x_train, kind, H, progress)
        checks.extend(Check(**c) for c in control_summary.pop("checks_for_main"))
    tol, reason = tolerance(fresh)
    status = "PASS" if all(c.status == "PASS" for c in checks) else "FAIL"
    summary = {
        "model": kind, "claim": config["claim"], "status": status,
        "elbo": fresh["elbo"], "elbo_se": fresh["elbo_se"], "entropy_sum": fresh["entropy_sum"],
        "gap": fresh["gap"], "gap_se": fresh["gap_se"], "rel_gap": _rel_gap(fresh),
        "gap_over_se": (abs(fresh["gap"]) / fresh["gap_se"]) if fresh.get("gap_se") else None,
        "residual_decoder": fresh["residual_decoder"], "residual_prior": fresh["residual_prior"],
        "identity_error": fresh["identity_error"],
        "tolerance": tol, "tolerance_reason": reason, "latent_dim": H, "data_dim": D,
        "n_train": int(x_train.shape[0]), "n_test": int(x_test.shape[0]),
        "seconds": time.perf_counter() - t_start, "train_seconds": result.seconds, "steps": result.steps,
        "phase_ends": result.phase_ends, "device": config["device"], "dtype": config["dtype"], "seed": seed,
        "protocol": config["protocol"], "data": config["data"], "versions": config["versions"],
        "evaluation": {"kind": "analytic" if kind == "linear" else "rqmc",
                       "samples_per_point": 0 if kind == "linear" else config["eval_samples"],
                       "replicates": 0 if kind == "linear" else eval_replicates(config["eval_samples"]),
                       "seed": seed + EVAL_SEED_OFFSET},
        "in_design": None if in_design is None else {"design": design_name, "gap": in_design["gap"],
                                                     "elbo": in_design["elbo"], "rel_gap": _rel_gap(in_design),
                                                     "residual_decoder": in_design["residual_decoder"],
                                                     "residual_prior": in_design["residual_prior"]},
        "checks": [asdict(c) for c in checks], "control": control_summary, **extras,
    }
    run_dir.write_summary(summary)
    return summary


def monitor_design(kind: str, x_train, seed: int, H: int):
    """The fixed logging design (the 'second design' of the control identity check)."""
    if kind == "linear":
        return None
    gen = torch.Generator(device="cpu").manual_seed(seed + LOG_SEED_OFFSET)
    return estimators.rqmc_design(LOG_SAMPLES, x_train.shape[0], H, replicates=LOG_REPLICATES, generator=gen,
                                  dtype=torch.float64, device=x_train.device)


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


def _run_control(config: dict, run_dir: RunDir, converged: GaussianVAE, x_train, kind: str, H: int,
                 progress: bool) -> dict:
    """Fig. 1a control in run_dir/control: decoder variance set to factor x its converged value,
    `control_frozen` parameters fixed, everything else re-optimised from the converged point by
    `control_protocol(kind)` (float64, whatever the main protocol)."""
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
    monitor, _, _ = make_monitor(kind, x_control, x_control[:0], {}, seed, H) if kind != "linear" else (None, None, None)
    if kind == "linear":
        monitor = _linear_control_monitor(x_control)
    _, result = _train(config, control_dir, model, x_control, cprotocol, monitor, seed=seed, frozen=frozen,
                       progress=progress, stop_after=None, label=f"{kind}/control")
    model.eval()
    fresh = evaluate_fresh(model, x_control, config["eval_samples"], seed + EVAL_SEED_OFFSET)
    second = evaluate_on(model, x_control, monitor_design(kind, x_control, seed, H))
    checks = control_checks(kind, fresh, second)
    theorem = claim_check(kind, fresh)
    predicted = second["residual_decoder"] + 0.5 * sum(second["residual_prior"])
    status = "PASS" if all(c.status == "PASS" for c in checks) else "FAIL"
    csummary = {"model": kind, "claim": config["claim"], "role": "control", "status": status,
                "elbo": fresh["elbo"], "elbo_se": fresh["elbo_se"], "entropy_sum": fresh["entropy_sum"],
                "gap": fresh["gap"], "gap_se": fresh["gap_se"], "rel_gap": _rel_gap(fresh),
                "predicted_gap": predicted, "residual_decoder": fresh["residual_decoder"],
                "residual_prior": fresh["residual_prior"], "factor": factor,
                "frozen": frozen, "tolerance": tolerance(fresh)[0],
                "tolerance_reason": tolerance(fresh)[1], "theorem_check": asdict(theorem),
                "checks": [asdict(c) for c in checks], "latent_dim": H, "seconds": result.seconds,
                "device": config["device"], "seed": seed, "protocol": "control", "data": config["data"],
                "versions": config["versions"]}
    control_dir.write_summary(csummary)
    return {"gap": fresh["gap"], "predicted_gap": predicted, "status": status, "factor": factor,
            "rel_gap": _rel_gap(fresh), "theorem_status": theorem.status, "frozen": frozen,
            "residual_decoder": fresh["residual_decoder"], "residual_prior": fresh["residual_prior"],
            "seconds": result.seconds, "checks_for_main": [asdict(c) for c in checks]}


def _linear_control_monitor(x_train):
    def monitor(model: GaussianVAE) -> dict:
        ev = evaluate_on(model, x_train, None)
        row = {k: ev[k] for k in ("elbo", "elbo_se", "entropy_sum", "gap", "gap_se", "residual_decoder",
                                  "residual_prior", "identity_error")}
        row["rel_gap"] = _rel_gap(ev)
        return row
    return monitor


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def format_report(summary: dict) -> str:
    lines = [f"{summary['model']} on {summary['data']} ({summary['protocol']} protocol, {summary['dtype']}, "
             f"{summary['device']}, seed {summary['seed']}): {summary['seconds']:.1f} s",
             f"  F (ELBO) = {summary['elbo']:.10g} +- {summary['elbo_se'] or 0:.2g}   "
             f"S (three entropies) = {summary['entropy_sum']:.10g}   rel_gap = {summary['rel_gap']:.3g}"]
    if summary.get("in_design"):
        lines.append(f"  in-design gap ({summary['in_design']['design']}) = {summary['in_design']['gap']:.3g}")
    for key in ("loglik_train", "loglik_ml_train", "loglik_truth_train", "loglik_test", "loglik_truth_test"):
        if key in summary:
            lines.append(f"  {key} = {summary[key]:.10g}")
    for c in summary["checks"]:
        value = "n/a" if c["value"] is None else f"{c['value']:.3g}"
        lines.append(f"  [{c['status']}] {c['name']:<17} {value} vs {c['tolerance']:.3g}: {c['detail']}")
    if summary.get("control"):
        ctl = summary["control"]
        lines.append(f"  control: gap = {ctl['gap']:.6g}, predicted = {ctl['predicted_gap']:.6g}, "
                     f"claim check on the control says {ctl['theorem_status']} (expected FAIL)")
    lines.append(f"VERDICT: {summary['status']}")
    return "\n".join(lines)


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
                      epilog="Exit status: 0 every check passed, 1 a check failed, 2 usage error, 3 training diverged.",
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
    p.add_argument("--enc-link", choices=tuple(LINKS), help="encoder variance link (default exp)")
    p.add_argument("--dec-link", choices=tuple(LINKS), help="decoder variance link (default exp)")
    p.add_argument("--eval-samples", type=int,
                   help=f"rqmc points per data point for the verdict, in {EVAL_REPLICATES} randomisations "
                        f"(default vae1/vae2 {EVAL_SAMPLES['vae1']}, vae3 {EVAL_SAMPLES['vae3']})")
    p.add_argument("--control-factor", type=float,
                   help=f"control run: decoder variance frozen at this factor x its converged value "
                        f"(default {DEFAULT_CONTROL_FACTOR:g})")
    p.add_argument("--no-control", dest="control", action="store_const", const=False,
                   help="skip the Fig. 1a control run (its two checks are then absent)")
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
    return EXIT_PASS if summary["status"] == "PASS" else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
