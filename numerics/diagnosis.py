"""Three-entropy diagnosis of any Gaussian VAE (`numerics.diagnose`, the function): its bound, the three entropies, how far from stationary
along each variance direction, which latents collapsed, and whether the theorem covers it.

`diagnose(model, x)` takes a model of the adapter protocol (`numerics.adapters`: encode, decode,
optional prior_var; the kit's own models too) and data x [N, D], and returns a `Diagnosis`:

* elbo F (Eq. 9) with its standard error, entropy_sum S (the closed form of Eq. 25 / 20 / 39 that the
  decoder variance calls for), gap = F - S, all per data point, on one design (`numerics.estimators`);
* residuals: the terms of the gap identity F - S = decoder + 1/2 sum_h prior_h (DESIGN.md, "gap").
  Each is minus the slope of F along one variance-scaling orbit, so each has a closed-form zero
  (the steps of `numerics.projection`): the decoder residual r vanishes when every decoder variance is
  multiplied by c = 1 - 2 r / D (Eq. 21; Eqs. 51-58 for z-dependent variances), prior residual r_h
  when alpha_h^2 is multiplied by s_h = 1 - r_h (Eq. 23; for the standard prior the equivalent move of
  Eqs. 26-27: tau_h^2 / s_h, nu_h / sqrt(s_h), decoder column h x sqrt(s_h)). Moving there raises F by
  D/2 (c - 1 - ln c), resp. 1/2 (s_h - 1 - ln s_h) nats per point (`elbo_gain`): F restricted to an
  orbit is a - b t - k e^(-t), maximised in closed form. ADVICE ONLY: nothing is applied;
* latents: per latent h, the KL to the prior (nats per point), Burda et al.'s activity
  Var_x(nu_h(x)), and `collapsed`: the encoder equals the prior in mean and variance, measured
  against the model's own prior (learned priors included): RMS_x nu_h / alpha_h < COLLAPSE_MEAN and
  RMS_x log(tau_h^2 / alpha_h^2) < COLLAPSE_LOG_VAR (see their docstrings for why 0.1);
* covered: whether the variance-scaling orbits exist in the model's family (`numerics.coverage`:
  exact for the kit's models, probed for a user's; None when the probe cannot decide).

CLI: ``python -m numerics.diagnose RUN_DIR [--samples K] [--seed S] [--test] [--json]`` diagnoses
the model of a run directory written by `python -m numerics.verify` (read only). Exit status: 0 the
diagnosis was printed, 2 usage error (bad option or run directory, no checkpoint, a design that would
not fit this machine's memory).
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from numerics import estimators, limits
from numerics.adapters import ModelShape, inspect_model
from numerics.cli import OneLineParser, UsageError, run_main
from numerics.coverage import Coverage, coverage
from numerics.models import LinearVAE

DEFAULT_SAMPLES = 64
DEFAULT_REPLICATES = 8
"""Default design: randomised QMC per data point, 64 points in 8 independent randomisations (an honest
standard error from 8 replicates; `estimators.rqmc_design`). The linear VAE is evaluated in closed form."""
COLLAPSE_MEAN = 0.1
"""A latent's encoder mean counts as the prior's (zero) when RMS_x nu_h(x) < 0.1 alpha_h. Burda et al.
(2016) call a unit inactive when Var_x nu_h < 0.01 for the standard prior, i.e. an SD of 0.1 prior SDs;
the same 0.1 in units of the model's own prior SD, on the RMS (which bounds Var_x and also requires the
mean to sit at the prior's zero rather than at a constant offset)."""
COLLAPSE_LOG_VAR = 0.1
"""A latent's encoder variance counts as the prior's when RMS_x log(tau_h^2 / alpha_h^2) < 0.1, i.e. the
encoder SD within ~5 % of the prior SD. With both thresholds met the latent's KL to the prior is below
about 1/2 (0.01 + 0.005) = 0.008 nats per point: q(z_h|x) is, for practical purposes, p(z_h)."""
ACTIVE_VARIANCE = 0.01
"""Burda et al.'s activity threshold on Var_x nu_h, here in units of the prior variance alpha_h^2."""


@dataclass
class Residual:
    """One term of the gap identity and the variance change that would zero it (advice, never applied)."""

    value: float
    factor: float          # multiply the variance by this to zero the residual
    change: str            # which variance, in words
    elbo_gain: float       # nats per point F would gain by that change alone
    orbit_exists: bool | None = None  # can the model make this change (`numerics.coverage`)?


@dataclass
class Latent:
    """One latent's KL, activity and collapse (module docstring)."""

    kl: float
    active_variance: float       # Var_x nu_h(x) (Burda et al.), in latent units
    active: bool                 # active_variance > ACTIVE_VARIANCE alpha_h^2
    mean_rms: float              # RMS_x nu_h / alpha_h
    log_variance_rms: float      # RMS_x log(tau_h^2 / alpha_h^2)
    collapsed: bool              # q(z_h|x) = p(z_h) in mean and variance, within the thresholds


@dataclass
class Diagnosis:
    """What `diagnose` found; `to_dict()` for JSON, `text()` for people."""

    model: str
    n_points: int
    design: dict
    elbo: float | None
    elbo_se: float | None
    entropy_sum: float | None
    gap: float | None
    gap_se: float | None
    rel_gap: float | None
    identity_error: float | None
    entropy_formula: str
    decoder_variance: str
    learned_prior: bool
    residuals: dict[str, Residual]
    latents: list[Latent]
    coverage: Coverage | None
    covered: bool | None = field(init=False)

    def __post_init__(self) -> None:
        self.covered = None if self.coverage is None else self.coverage.covered

    def to_dict(self) -> dict:
        out = asdict(self)
        out["coverage"] = None if self.coverage is None else self.coverage.to_dict()
        out["elbo_gain"] = sum(r.elbo_gain for r in self.residuals.values())
        return out

    def text(self) -> str:
        """A readable report (a few dozen lines at most)."""
        d = self.design
        how = ("closed form" if d["kind"] == "analytic" else
               f"{d['kind']}, {d['samples_per_point']} base points per data point"
               + (f" in {d['replicates']} randomisations" if d.get("replicates", 1) > 1 else ""))
        lines = [f"Diagnosis of {self.model} on {self.n_points} points ({how})",
                 f"  ELBO F = {_num(self.elbo)} +- {_num(self.elbo_se, '.2g')} nats per point; three entropies S = "
                 f"{_num(self.entropy_sum)} ({self.entropy_formula}, {self.decoder_variance} decoder variance, "
                 f"{'learned' if self.learned_prior else 'standard'} prior)",
                 f"  gap F - S = {_num(self.gap, '.4g')} +- {_num(self.gap_se, '.2g')} (|F - S| / |F| = "
                 f"{_num(self.rel_gap, '.2g')}); identity error {_num(self.identity_error, '.1e')}"]
        covered = {True: "yes", False: "NO", None: "undecided"}[self.covered]
        lines.append(f"  covered by the theorem: {covered}"
                     + (" (not decided: probe=False)" if self.coverage is None else f"; {self.coverage.reason}"))
        total = sum(r.elbo_gain for r in self.residuals.values())
        lines.append(f"  residuals (F - S = decoder + 1/2 sum_h prior h); the variance change that zeroes each, "
                     f"advice only (together F +{total:.3g} nats):")
        for name, r in self.residuals.items():
            note = "" if r.orbit_exists is not False else "  [not reachable in this parametrisation]"
            lines.append(f"    {name:<9} {r.value:+.4g}: multiply {r.change} by s = {r.factor:.4g} "
                         f"(F +{r.elbo_gain:.3g}){note}")
        collapsed = [h for h, lat in enumerate(self.latents) if lat.collapsed]
        lines.append(f"  latents: {len(self.latents) - len(collapsed)} of {len(self.latents)} not collapsed "
                     f"(collapsed: q = prior, RMS mean < {COLLAPSE_MEAN:g} prior SD and RMS log variance ratio "
                     f"< {COLLAPSE_LOG_VAR:g})")
        lines.append("     h   KL (nats)   Var_x nu   mean/SD   log var ratio   collapsed")
        for h, lat in enumerate(self.latents):
            lines.append(f"    {h:>2}   {lat.kl:9.4g}   {lat.active_variance:8.3g}   {lat.mean_rms:7.3g}   "
                         f"{lat.log_variance_rms:13.3g}   {'yes' if lat.collapsed else 'no'}")
        return "\n".join(lines)


def _num(value: float | None, fmt: str = ".6g") -> str:
    return "n/a" if value is None else format(value, fmt)


def default_design(model: nn.Module, shape: ModelShape, N: int, *, samples: int | None, replicates: int, seed: int,
                   device) -> estimators.Design | None:
    """rqmc with `samples` points per data point in `replicates` randomisations (fewer where they do not
    divide it); samples None: closed form for the kit's linear VAE, DEFAULT_SAMPLES for any other."""
    if isinstance(model, LinearVAE) and not samples:
        return None
    samples = DEFAULT_SAMPLES if samples is None else samples
    if samples < 1:
        raise UsageError(f"samples must be >= 1 for {type(model).__name__} (only the linear VAE has a closed form)")
    reps = next(r for r in range(min(replicates, samples), 0, -1) if samples % r == 0)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return estimators.rqmc_design(samples, N, shape.H, replicates=reps, generator=gen, dtype=torch.float64,
                                  device=device)


def _design_about(design: estimators.Design | None, seed: int) -> dict:
    if design is None:
        return {"kind": "analytic", "samples_per_point": 0}
    return {"kind": design.kind, "samples_per_point": design.K, "replicates": design.replicates, "seed": seed}


def _residuals(ev: dict, shape: ModelShape, cov: Coverage | None) -> dict[str, Residual]:
    exists = {} if cov is None else {o.name: o.exists for o in cov.orbits}
    r = ev["residual_decoder"]
    c = 1.0 - 2.0 * r / shape.D
    change = "sigma^2" if shape.decoder_variance == estimators.SCALAR else "sigma_d^2(z) (every d and z)"
    out = {"decoder": Residual(r, c, change, _gain(c, shape.D), exists.get("decoder"))}
    for h, r_h in enumerate(ev["residual_prior"]):
        s = 1.0 - r_h
        change = (f"alpha_{h}^2" if shape.learned_prior else
                  f"alpha_{h}^2 (standard prior, Eqs. 26-27: tau_{h}^2 / s, nu_{h} / sqrt(s), decoder column {h} "
                  f"x sqrt(s))")
        out[f"prior {h}"] = Residual(r_h, s, change, _gain(s, 1), exists.get(f"prior {h}"))
    return out


def _gain(factor: float, dims: int) -> float:
    """dims/2 (c - 1 - ln c): what F gains by multiplying the variance of an orbit by its zeroing factor."""
    return 0.5 * dims * (factor - 1.0 - math.log(factor)) if factor > 0 else math.inf


def _latents(model: nn.Module, x: Tensor, chunk: int) -> list[Latent]:
    nus, taus = [], []
    with torch.no_grad():
        for a in range(0, x.shape[0], chunk):
            nu, tau2 = model.encode(x[a:a + chunk])
            nus.append(nu)
            taus.append(tau2.expand_as(nu))
        nu, tau2 = torch.cat(nus), torch.cat(taus)
        alpha2 = estimators.prior_variances(model)
        alpha2 = torch.ones_like(nu[0]) if alpha2 is None else alpha2
        kl = 0.5 * ((nu * nu + tau2) / alpha2 - 1.0 - torch.log(tau2 / alpha2)).mean(0)
        var_nu = nu.var(0, unbiased=False) if nu.shape[0] > 1 else torch.zeros_like(alpha2)
        mean_rms = torch.sqrt((nu * nu).mean(0) / alpha2)
        log_var_rms = torch.sqrt((torch.log(tau2 / alpha2) ** 2).mean(0))
    return [Latent(kl=float(kl[h]), active_variance=float(var_nu[h]),
                   active=bool(var_nu[h] > ACTIVE_VARIANCE * alpha2[h]), mean_rms=float(mean_rms[h]),
                   log_variance_rms=float(log_var_rms[h]),
                   collapsed=bool(mean_rms[h] < COLLAPSE_MEAN and log_var_rms[h] < COLLAPSE_LOG_VAR))
            for h in range(nu.shape[1])]


def diagnose(model: nn.Module, x: Tensor, *, samples: int | None = None, replicates: int = DEFAULT_REPLICATES,
             seed: int = 0, design: estimators.Design | None = None, probe: bool = True,
             coverage_result: Coverage | None = None) -> Diagnosis:
    """Diagnose `model` (adapter protocol) on data x [N, D] (module docstring).

    Works on a float64 copy in eval mode (the model itself is not touched). design: a given design
    (e.g. to compare with other evaluations) instead of the default (`default_design`: rqmc, `samples`
    points per data point in `replicates` randomisations, seed `seed`; samples None: 64, or the closed
    form for the kit's linear VAE). probe=False skips the coverage decision (covered None); coverage_result reuses
    an earlier one (the parametrisation does not change during training: `numerics.monitor`)."""
    shape = inspect_model(model, x)
    work = copy.deepcopy(model).to(torch.float64).eval()
    ref = next(work.parameters(), None)
    device = x.device if ref is None else ref.device
    x64 = x.detach().to(dtype=torch.float64, device=device)
    if design is None:
        design = default_design(work, shape, x64.shape[0], samples=samples, replicates=replicates, seed=seed,
                                device=device)
        about = _design_about(design, seed)
    else:
        about = _design_about(design, seed) | {"given": True}
    K = 1 if design is None else design.K
    chunk = estimators.chunk_for(K, estimators.row_width(work, shape.H) if ref is not None else shape.D)
    with torch.no_grad():
        ev = estimators.evaluate(work, x64, design, chunk_size=chunk).to_dict()
    cov = coverage_result if coverage_result is not None else coverage(model, x, seed=seed) if probe else None
    elbo, gap = ev["elbo"], ev["gap"]
    rel = abs(gap) / abs(elbo) if elbo not in (None, 0.0) and gap is not None else None
    return Diagnosis(model=type(model).__name__, n_points=int(x.shape[0]), design=about, elbo=elbo,
                     elbo_se=ev["elbo_se"], entropy_sum=ev["entropy_sum"], gap=gap, gap_se=ev["gap_se"], rel_gap=rel,
                     identity_error=ev["identity_error"], entropy_formula=ev["entropy_formula"],
                     decoder_variance=shape.decoder_variance, learned_prior=shape.learned_prior,
                     residuals=_residuals(ev, shape, cov), latents=_latents(work, x64, max(1, chunk * K)),
                     coverage=cov)


def _check_design_memory(run, n_points: int, samples: int | None) -> None:
    """BoundsError naming --samples (and its largest value that fits) unless the diagnosis's design,
    `samples` points per data point, and one chunk of its evaluation fit this machine
    (numerics.limits.check_memory)."""
    model = run.model
    if model.kind == "linear" and samples is None:
        return
    K = samples or DEFAULT_SAMPLES
    chunk = estimators.chunk_for(K, estimators.row_width(model))
    limits.check_memory(limits.Workload(
        model=model.kind, data_dim=model.D, latent_dim=model.H, hidden=tuple(run.config["hidden"]),
        n_train=n_points, designs=(limits.DesignSize(K, per_point=True, option="--samples"),),
        chunk_rows=chunk * K))


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m numerics.diagnose",
                           description="Three-entropy diagnosis of the model of a run directory (read only): "
                                       "ELBO, three entropies, gap residuals with the variance changes that zero "
                                       "them (advice), per-latent collapse, coverage by the theorem.",
                           epilog="Exit status: 0 diagnosis printed, 2 usage error (bad option or run directory).")
    parser.add_argument("run_dir", help="a run directory written by `python -m numerics.verify`")
    parser.add_argument("--samples", type=limits.argparse_type("--samples"), default=None,
                        help=f"rqmc points per data point (default {DEFAULT_SAMPLES}; the linear VAE: closed form)")
    parser.add_argument("--seed", type=limits.argparse_type("--seed"), default=0,
                        help="seed of the design and of the coverage probe")
    parser.add_argument("--test", action="store_true", help="diagnose on the held-out data instead of the training data")
    parser.add_argument("--json", action="store_true", help="print Diagnosis.to_dict() as JSON")
    args = parser.parse_args(argv)
    prog = parser.prog

    def body() -> int:
        from numerics.rundir import json_safe, load_run

        run = load_run(args.run_dir)
        if run.model is None:
            raise UsageError(f"{args.run_dir} has no checkpoint yet")
        x = run.data[1] if args.test else run.data[0]
        if x.shape[0] == 0:
            raise UsageError(f"{args.run_dir} has no {'held-out' if args.test else 'training'} data")
        _check_design_memory(run, x.shape[0], args.samples)
        result = diagnose(run.model, x, samples=args.samples, seed=args.seed)
        if args.json:
            print(json.dumps(json_safe(result.to_dict()), indent=2))
        else:
            print(result.text())
        return 0

    return run_main(prog, body)
