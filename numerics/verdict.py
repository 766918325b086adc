"""The verdict on a trained network: a round-off certificate of the proposition, a convergence grade,
and the checks of the Fig. 1a control; from them one status with a one-line reason.

1. Certificate (independent of how well training converged). By the gap identity (DESIGN.md, "gap"),
   F - S = residual_decoder + 1/2 sum_h r_h at every parameter value, and each residual is minus the
   derivative of F along a variance-scaling orbit (`numerics.orbits`): dF/dt = -residual_decoder
   along sigma^2 -> e^t sigma^2, dF/dt = -r_h / 2 along prior orbit h (Eqs. 21, 23, 26-27, 51-58).
   On the trained parameters the certificate checks (a) the identity and (b) every orbit's slope,
   computed by forward-mode autograd with the EXACT tangent (`torch.func.jvp` in the orbit parameter
   t at t = 0, through the orbit map and the model via `torch.func.functional_call`; no finite
   difference), against the value the identity names. Both hold term by term (for every data point
   and every base point of any fixed design), so at every stationary point of F every slope is zero
   and F = S: the proposition, checked to float64 round-off instead of to Monte Carlo precision.
   The design: the first CERT_POINTS training points with CERT_SAMPLES standard-normal base points
   each (own seed; linear VAE: analytic). A few thousand terms exercise every code path the full
   evaluation uses (chunked sums, batched products, the Gram expansion of
   `estimators.squared_error_affine`) at a cost of a few forward passes; a larger design would
   certify nothing more, because the relations are exact per term.
   Tolerance: CERTIFICATE_REL x max(1, |F|) = 1e-10 |F|. Each quantity is a float64 mean of n K
   terms of magnitude up to ~|F| (the decoder log-likelihood per point); with ~10 rounding errors
   of 1.1e-16 per term and blocked summation, the error is expected near 1e-14 |F| (the measured
   errors of the four default models are in docs/measurements.md), so 1e-10 leaves a wide margin,
   while any error in a formula (a factor 1/2, a constant in S, a wrong tangent) shows at
   the size of a residual, 1e-6 to 1 nats. Where an orbit does not exist in the model family (a
   softplus variance head; DESIGN.md, "criterion") the run is NOT-COVERED: the proposition's
   hypotheses do not hold for that parametrisation; the gap is still measured.
2. Convergence, on the fresh evaluation (`evaluation.evaluate_fresh`): rel_gap = |F - S| / |F| with
   its standard error, graded on the 4-SE upper confidence bound u = (|gap| + 4 SE) / |F|, so that a
   grade is never better than the evidence (a huge SE cannot buy a grade):
   `paper-level` iff u <= PAPER_LEVEL (5e-3: Appendix C.2, "average absolute error below 0.5 %");
   `stationary` iff paper-level and |gap| <= 4 SE + 1e-10 |F| (the former verdict, kept as a figure);
   `not-converged` otherwise (also when the SE is unknown).
3. Control (Fig. 1a): the run with the decoder variance held at a wrong scale must show a gap equal
   to the residual predicted by the identity on a second, independent design, at least CONTROL_DETECT
   tolerances large; its certificate shows why F != S there: the identity holds, the slopes equal
   their predictions, and the decoder orbit's slope is nonzero while that direction is frozen.

Status: FAIL when any check failed (certificate, control, Cor. A1); else NOT-COVERED when an orbit
does not exist; else NOT-CONVERGED when the grade is `not-converged`; else PASS. A run without a
control run (`--no-control`, sweep members) is decided without it and says so in its reason.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, jvp

from numerics import estimators, orbits
from numerics.evaluation import as_float64
from numerics.models import GaussianVAE

CLAIMS = {"linear": "cor1", "vae1": "prop2", "vae2": "prop1", "vae3": "prop3"}
CLAIM_TITLES = {"cor1": "Cor. 1 (Eq. 33)", "prop2": "Prop. 2 (Eq. 25)", "prop1": "Prop. 1 (Eq. 20)",
                "prop3": "Prop. 3 (Eq. 39)", "corA1": "Cor. A1 (Eqs. 44-45)"}
STATUSES = ("PASS", "FAIL", "NOT-COVERED", "NOT-CONVERGED")
EXIT_CODES = {"PASS": 0, "FAIL": 1, "NOT-COVERED": 4, "NOT-CONVERGED": 5}
"""Exit status per run status (2 = usage error and 3 = training diverged are the CLIs' own)."""

CERTIFICATE_REL = 1e-10
"""Certificate tolerance relative to max(1, |F|): float64 round-off (see the module docstring)."""
CERT_POINTS = 256
CERT_SAMPLES = 8
CERT_SEED_OFFSET = 5_000_011
K_SE = 4.0
"""Standard errors of the fresh gap estimate in the `stationary` figure and the grade's upper bound
(two-sided 4 sigma: ~6e-5 false alarms)."""
ROUNDOFF_REL = 1e-10
"""Round-off allowance of the fresh evaluation relative to max(1, |F|) (float64 sums over N <= 1e5
points are good to ~1e-13)."""
IDENTITY_REL = 1e-9
"""The fresh evaluation's own identity error, relative to max(1, |F|): its sums run over up to
N x 512 terms in chunks (measured ~1e-13 relative)."""
PAPER_LEVEL = 5e-3
"""Appendix C.2: 'an average absolute error of below 0.5 %' between the bound and Eq. (39)."""
CORA1_NATS = 1e-6
CONTROL_DETECT = 10.0


@dataclass
class Check:
    """One named check of a run: status PASS / FAIL (or NOT-COVERED / NOT-CONVERGED where the check
    cannot be graded), its value against its tolerance, and what it checks."""

    name: str
    claim: str
    status: str
    value: float | None
    tolerance: float | None
    detail: str


@dataclass
class OrbitSlope:
    """dF/dt along one orbit at t = 0 (exact, forward mode) next to the value the identity names."""

    name: str
    slope: float | None          # None: the orbit does not exist in the model family
    predicted: float | None      # -residual_decoder or -r_h / 2 on the certificate's design
    error: float | None          # |slope - predicted|
    frozen: bool = False         # the orbit moves a parameter the run keeps fixed (the control)
    missing: str | None = None   # why the orbit does not exist (DESIGN.md, "criterion")


@dataclass
class Certificate:
    """Identity and orbit slopes of one model on one fixed design (see the module docstring)."""

    elbo: float
    identity_error: float
    tolerance: float
    orbits: list[OrbitSlope]
    design: dict
    seconds: float = 0.0
    covered: bool = field(init=False)
    holds: bool = field(init=False)

    def __post_init__(self) -> None:
        self.covered = all(o.missing is None for o in self.orbits)
        errors = [self.identity_error] + [o.error for o in self.orbits if o.missing is None]
        self.holds = all(e is not None and math.isfinite(e) and e <= self.tolerance for e in errors)

    def worst_error(self) -> float | None:
        """The largest of the identity error and the slope errors (None if one is not finite)."""
        errors = [self.identity_error] + [o.error for o in self.orbits if o.missing is None]
        return None if any(e is None or not math.isfinite(e) for e in errors) else max(errors)

    def to_dict(self) -> dict:
        return {**asdict(self), "worst_error": self.worst_error()}


class _DesignELBO(nn.Module):
    """forward(x, design) = F on the design (`estimators.elbo_objective`): what functional_call differentiates."""

    def __init__(self, model: GaussianVAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, design: estimators.Design | None) -> Tensor:
        return estimators.elbo_objective(self.model, x, design)


def orbit_slope(model: GaussianVAE, x: Tensor, design: estimators.Design | None, orbit: str) -> float:
    """d/dt F(theta(t)) at t = 0 along `orbit` (`orbits.move`), by forward-mode autograd (exact tangent)."""
    wrapper = _DesignELBO(model)
    params = {name: p.detach() for name, p in model.named_parameters()}

    def along(t: Tensor) -> Tensor:
        moved = {**params, **orbits.move(model, params, orbit, t)}
        return functional_call(wrapper, {f"model.{k}": v for k, v in moved.items()}, (x, design))

    t0 = torch.zeros((), dtype=x.dtype, device=x.device)
    _, slope = jvp(along, (t0,), (torch.ones_like(t0),))
    return float(slope)


def predicted_slope(orbit: str, residual_decoder: float, residual_prior: list[float]) -> float:
    """The slope the gap identity names: -residual_decoder (decoder orbit), -r_h / 2 (prior orbit h)."""
    if orbit == orbits.DECODER:
        return -residual_decoder
    return -0.5 * residual_prior[int(orbit.split()[1])]


def certificate_design(model: GaussianVAE, x: Tensor, seed: int) -> tuple[Tensor, estimators.Design | None, dict]:
    """The certificate's data and design: the first CERT_POINTS points of x, CERT_SAMPLES standard-normal
    base points per point from a CPU generator seeded seed + CERT_SEED_OFFSET; linear VAE: analytic."""
    xc = x[:CERT_POINTS].to(torch.float64)
    if model.kind == "linear":
        return xc, None, {"kind": "analytic", "points": int(xc.shape[0]), "samples_per_point": 0}
    gen = torch.Generator(device="cpu").manual_seed(seed + CERT_SEED_OFFSET)
    design = estimators.mc_design(CERT_SAMPLES, xc.shape[0], model.H, generator=gen, device=xc.device)
    return xc, design, {"kind": "mc", "points": int(xc.shape[0]), "samples_per_point": CERT_SAMPLES,
                        "seed": seed + CERT_SEED_OFFSET}


def certificate(model: GaussianVAE, x: Tensor, seed: int, *, frozen: tuple[str, ...] = ()) -> Certificate:
    """The certificate of `model` (any dtype; computed in float64 on a copy) on `certificate_design`.
    frozen: names of parameters the run keeps fixed (marks the orbits that move them)."""
    started = time.perf_counter()
    model64 = as_float64(model)
    xc, design, about = certificate_design(model64, x, seed)
    with torch.no_grad():
        ev = estimators.evaluate(model64, xc, design).to_dict()
    missing = orbits.missing_orbits(model64)
    params = {name: p.detach() for name, p in model64.named_parameters()}
    slopes = []
    for name in orbits.orbit_names(model64):
        predicted = predicted_slope(name, ev["residual_decoder"], ev["residual_prior"])
        if name in missing:
            slopes.append(OrbitSlope(name, None, predicted, None, missing=missing[name]))
            continue
        slope = orbit_slope(model64, xc, design, name)
        zero = torch.zeros((), dtype=torch.float64, device=xc.device)
        moves_frozen = bool(set(orbits.move(model64, params, name, zero)) & set(frozen))
        slopes.append(OrbitSlope(name, slope, predicted, abs(slope - predicted), frozen=moves_frozen))
    elbo = ev["elbo"]
    tol = CERTIFICATE_REL * max(1.0, abs(elbo)) if elbo is not None and math.isfinite(elbo) else 0.0
    identity_error = ev["identity_error"] if ev["identity_error"] is not None else math.inf
    return Certificate(elbo=elbo, identity_error=identity_error, tolerance=tol, orbits=slopes, design=about,
                       seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# convergence
# ---------------------------------------------------------------------------------------------

@dataclass
class Convergence:
    """How close training came, on the fresh evaluation (see the module docstring for the grades)."""

    rel_gap: float | None
    se: float | None               # standard error of rel_gap (gap_se / |F|); 0 for analytic evaluations
    upper: float | None            # (|gap| + 4 SE) / |F|: what the grade is decided on
    gap: float | None
    gap_se: float | None
    gap_over_se: float | None      # the former verdict's figure
    stationary_tolerance: float | None  # 4 SE + 1e-10 max(1, |F|), nats
    stationary: bool
    grade: str
    paper_level: float = PAPER_LEVEL

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def stationary_tolerance(ev: dict) -> tuple[float, str]:
    """K_SE standard errors of the fresh gap estimate plus float64 round-off relative to |F|."""
    se = ev.get("gap_se") or 0.0
    tol = K_SE * se + ROUNDOFF_REL * max(1.0, abs(ev["elbo"]))
    if se > 0:
        reason = (f"{K_SE:g} x standard error of the independent rqmc estimate of the gap ({se:.3g}; "
                  f"from its randomisations) + {ROUNDOFF_REL:g} x |F| float64 round-off")
    else:
        reason = f"analytic evaluation: {ROUNDOFF_REL:g} x |F| float64 round-off only"
    return tol, reason


def convergence(ev: dict) -> Convergence:
    """The grade of a fresh evaluation `ev` (`Evaluation.to_dict()`); analytic evaluations have SE 0,
    a missing (None) SE of a sampled one counts as unknown, hence not-converged."""
    elbo, gap = ev.get("elbo"), ev.get("gap")
    se = 0.0 if ev.get("design_kind") == "analytic" else ev.get("gap_se")
    if not _finite(elbo, gap) or elbo == 0.0:
        return Convergence(None, None, None, gap, se, None, None, False, "not-converged")
    rel = abs(gap) / abs(elbo)
    if not _finite(se):
        return Convergence(rel, None, None, gap, None, None, None, False, "not-converged")
    upper = (abs(gap) + K_SE * se) / abs(elbo)
    tol, _ = stationary_tolerance({"gap_se": se, "elbo": elbo})
    stationary = abs(gap) <= tol
    paper = upper <= PAPER_LEVEL
    grade = "stationary" if paper and stationary else "paper-level" if paper else "not-converged"
    return Convergence(rel, se / abs(elbo), upper, gap, se, abs(gap) / se if se > 0 else None, tol, stationary, grade)


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------

def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def certificate_checks(kind: str, cert: Certificate) -> list[Check]:
    """The certificate as two checks: the identity (claim "gap") and the orbit slopes (the model's claim)."""
    identity = Check("certificate-identity", "gap",
                     _status(math.isfinite(cert.identity_error) and cert.identity_error <= cert.tolerance),
                     cert.identity_error, cert.tolerance,
                     f"|(F - S) - (residual_decoder + 1/2 sum_h r_h)| on the certificate design "
                     f"({_design_text(cert.design)}), float64 round-off")
    present = [o for o in cert.orbits if o.missing is None]
    errors = [o.error for o in present]
    worst = max(errors) if errors and _finite(*errors) else None
    ok = all(_finite(e) and e <= cert.tolerance for e in errors)
    if not ok:
        status = "FAIL"
    elif not cert.covered:
        status = "NOT-COVERED"
    else:
        status = "PASS"
    missing = [o for o in cert.orbits if o.missing is not None]
    detail = (f"{CLAIM_TITLES[CLAIMS[kind]]}: |dF/dt along each orbit (forward-mode autograd, exact tangent) - "
              f"the identity's -residual| on the certificate design")
    if missing:
        detail += f"; no {', '.join(o.name for o in missing)} orbit: {missing[0].missing}"
    return [identity, Check("certificate-orbits", CLAIMS[kind], status, worst, cert.tolerance, detail)]


def _design_text(about: dict) -> str:
    if about["kind"] == "analytic":
        return f"{about['points']} points, analytic"
    return f"{about['points']} points x {about['samples_per_point']} {about['kind']} base points"


def convergence_check(kind: str, conv: Convergence) -> Check:
    """Graded, not pass/fail: PASS for `paper-level` or `stationary`, NOT-CONVERGED otherwise."""
    figure = ("n/a" if conv.gap_over_se is None else f"{conv.gap_over_se:.2f} SE") if conv.se is not None else "SE unknown"
    return Check("convergence", CLAIMS[kind], "NOT-CONVERGED" if conv.grade == "not-converged" else "PASS",
                 conv.rel_gap, PAPER_LEVEL,
                 f"grade {conv.grade}: rel_gap |F - S| / |F| on the independent evaluation, its 4-SE upper bound "
                 f"{_fmt(conv.upper)} vs the paper's {PAPER_LEVEL:g} (Appendix C.2); |gap| = {figure}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def cora1_check(ev: dict, loglik_ml: float, conv: Convergence) -> Check:
    """Cor. A1: F and S equal the p-PCA maximum log-likelihood Eq. 45 (graded only at a stationary point)."""
    dev = max(abs(ev["elbo"] - loglik_ml), abs(ev["entropy_sum"] - loglik_ml))
    detail = "max(|F - L_ML|, |S - L_ML|), L_ML = Eq. 45 at the p-PCA ML solution of the training data"
    if conv.grade != "stationary":
        return Check("corA1", "corA1", "NOT-CONVERGED", dev, CORA1_NATS,
                     detail + " (not graded: the model is not at a stationary point)")
    return Check("corA1", "corA1", _status(_finite(dev) and dev <= CORA1_NATS), dev, CORA1_NATS, detail)


def identity_check(ev: dict) -> Check:
    """The fresh evaluation's own identity error (its chunked sums; float round-off)."""
    tol = IDENTITY_REL * max(1.0, abs(ev["elbo"]))
    err = ev["identity_error"]
    return Check("identity", "gap", _status(_finite(err) and err <= tol), err, tol,
                 "|gap - (residual_decoder + 1/2 sum_h r_h)| on the independent evaluation: float round-off")


def identity_prediction(ev: dict) -> float:
    """The gap the identity predicts from an evaluation's residuals (`estimators.predicted_gap`)."""
    return float(estimators.predicted_gap(torch.tensor(ev["residual_decoder"], dtype=torch.float64),
                                          torch.tensor(ev["residual_prior"], dtype=torch.float64)))


def control_checks(kind: str, fresh: dict, second: dict, cert: Certificate) -> list[Check]:
    """The Fig. 1a control: the gap (fresh samples) equals the residual predicted by the identity on a
    second, independent design (combined tolerance); the gap is really there (>= CONTROL_DETECT
    tolerances); and the control's certificate holds with its decoder orbit frozen and sloped."""
    tol_a, _ = stationary_tolerance(fresh)
    tol_b, _ = stationary_tolerance(second)
    tol = math.hypot(tol_a, tol_b)
    predicted = identity_prediction(second)
    gap = fresh["gap"]
    diff = abs(gap - predicted) if _finite(gap, predicted) else None
    ident = Check("control-identity", "gap", _status(diff is not None and diff <= tol), diff, tol,
                  "Fig. 1a control (decoder variance at a wrong scale, its rescaling directions frozen; VAE-3: "
                  "variance network frozen except its first-layer weight, so the prior scaling stays free): "
                  "|gap(rqmc) - predicted residual(second, independent design)|")
    detected = _finite(gap) and abs(gap) >= CONTROL_DETECT * tol_a
    det = Check("control-detected", CLAIMS[kind], _status(detected), None if gap is None else abs(gap),
                CONTROL_DETECT * tol_a,
                f"the control's gap must be >= {CONTROL_DETECT:g} tolerances (else the check could not fail)")
    return [ident, det, control_certificate_check(kind, cert)]


def control_certificate_check(kind: str, cert: Certificate) -> Check:
    """Why F != S in the control: its certificate holds, and the decoder orbit is frozen with a slope of at
    least CONTROL_DETECT certificate tolerances (the direction F is not stationary along)."""
    decoder = next(o for o in cert.orbits if o.name == orbits.DECODER)
    detail = (f"the control's certificate: identity and slopes hold, decoder orbit frozen with slope "
              f"{_fmt(decoder.slope)} (= -residual_decoder {_fmt(decoder.predicted)}), which is why F != S there")
    if decoder.missing is not None:
        return Check("control-certificate", CLAIMS[kind], "FAIL" if not cert.holds else "NOT-COVERED", None,
                     cert.tolerance, f"no decoder orbit: {decoder.missing}")
    sloped = _finite(decoder.slope) and abs(decoder.slope) >= CONTROL_DETECT * cert.tolerance
    return Check("control-certificate", CLAIMS[kind], _status(cert.holds and decoder.frozen and sloped),
                 None if decoder.slope is None else abs(decoder.slope), CONTROL_DETECT * cert.tolerance, detail)


# ---------------------------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------------------------

def decide(checks: list[Check], cert: Certificate, conv: Convergence, *, control_ran: bool) -> tuple[str, str]:
    """(status, one-line reason) from a run's checks, certificate and grade (module docstring, "Status")."""
    failed = [c for c in checks if c.status == "FAIL"]
    if failed:
        c = failed[0]
        more = f" (and {len(failed) - 1} more failed check(s))" if len(failed) > 1 else ""
        return "FAIL", f"check {c.name} failed: {_fmt(c.value)} vs tolerance {_fmt(c.tolerance)}{more}"
    measured = f"rel_gap {_fmt(conv.rel_gap)} measured"
    if not cert.covered:
        reason = next(o.missing for o in cert.orbits if o.missing is not None)
        return "NOT-COVERED", (f"the proposition's hypotheses do not hold for this parametrisation: {reason}; "
                               f"{measured}")
    if conv.grade == "not-converged":
        bound = "its standard error is unknown" if conv.upper is None else f"4-SE upper bound {conv.upper:.3g}"
        return "NOT-CONVERGED", (f"certificate holds, but training has not converged to the paper's level: "
                                 f"{measured}, {bound} > {PAPER_LEVEL:g}")
    control = "control detected" if control_ran else "no control run"
    return "PASS", (f"certificate holds (worst error {_fmt(cert.worst_error())} <= {cert.tolerance:.2g}), {control}, "
                    f"grade {conv.grade} ({measured})")
