"""The verdict: the round-off certificate with its FAIL twins, the convergence grade, the control checks
and the status rules."""
import math

import pytest
import torch

import numerics.estimators as est
from numerics import orbits, verdict
from numerics.data import load_data
from numerics.models import build_model
from numerics.verdict import Check, certificate, convergence, decide

D, H = 10, 2


def _model(kind, seed=0, hidden=(6, 5), **links):
    """A random, far-from-stationary model: every residual is O(0.01-1), so a wrong formula shows."""
    m = build_model(kind, D, H, hidden=hidden, generator=torch.Generator().manual_seed(seed), **links)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + 100), dtype=p.dtype))
    return m


def _x(n=120):
    return load_data("ring", n_train=n, n_test=0, seed=2).x_train


# ---------------------------------------------------------------- the certificate holds

COVERED = [(kind, links) for kind in ("linear", "vae1", "vae2", "vae3")
           for links in ({}, {"enc_link": "square", "dec_link": "square"})]
COVERED += [(kind, {"dec_link": "softplus-std"}) for kind in ("linear", "vae1", "vae2")]  # free sigma^2
COVERED += [("vae2", {"enc_link": "softplus", "dec_link": "softplus"}), ("vae3", {"enc_link": "square"})]


@pytest.mark.parametrize("kind, links", COVERED)
def test_certificate_holds_to_round_off_on_any_parameters(kind, links):
    cert = certificate(_model(kind, **links), _x(), seed=0)
    assert cert.covered and cert.holds, cert.to_dict()
    assert cert.tolerance <= 1e-9 * max(1.0, abs(cert.elbo))
    assert cert.identity_error <= 1e-13 * max(1.0, abs(cert.elbo))
    for orbit in cert.orbits:
        assert abs(orbit.predicted) > 1e-3                   # the slopes are not trivially zero ...
        assert orbit.error <= 1e-13 * max(1.0, abs(cert.elbo))  # ... and equal the identity's residuals


def test_certificate_runs_forward_mode_through_the_gram_expansion(monkeypatch):
    """VAE-1 with a hidden layer narrower than D takes `estimators.squared_error_affine`; its slopes must
    equal those of the direct path to round-off."""
    model = _model("vae1", hidden=(6, 4))
    assert est.row_width(model) == 4                        # the Gram path is the one the certificate uses
    calls = []
    real = est.squared_error_affine
    monkeypatch.setattr(est, "squared_error_affine", lambda *a: calls.append(1) or real(*a))
    gram = certificate(model, _x(), seed=0)
    assert calls and gram.holds
    monkeypatch.setattr(est, "_gram_applies", lambda weight: False)
    direct = certificate(model, _x(), seed=0)
    for a, b in zip(gram.orbits, direct.orbits):
        assert a.slope == pytest.approx(b.slope, rel=1e-12, abs=1e-13)


def test_certificate_is_taken_in_float64_on_a_float32_model():
    model = _model("vae3").float()
    cert = certificate(model, _x().float(), seed=0)
    assert cert.holds and next(model.parameters()).dtype == torch.float32  # the model is not converted


def test_certificate_design_is_small_and_seeded():
    model = _model("vae3")
    a, b = certificate(model, _x(400), seed=3), certificate(model, _x(400), seed=3)
    assert a.design == {"kind": "mc", "points": verdict.CERT_POINTS, "samples_per_point": verdict.CERT_SAMPLES,
                        "seed": 3 + verdict.CERT_SEED_OFFSET}
    assert [o.slope for o in a.orbits] == [o.slope for o in b.orbits]
    assert certificate(_model("linear"), _x(), seed=0).design["kind"] == "analytic"


# ---------------------------------------------------------------- twins: a wrong formula FAILs

@pytest.mark.parametrize("kind", ["linear", "vae1", "vae2", "vae3"])
def test_a_constant_added_to_the_entropy_sum_fails_the_certificate(kind, monkeypatch):
    real = est._entropy_sum_from
    monkeypatch.setattr(est, "_entropy_sum_from", lambda *a: real(*a) + 1e-6)
    cert = certificate(_model(kind), _x(), seed=0)
    assert not cert.holds and cert.identity_error == pytest.approx(1e-6, rel=1e-6)
    checks = verdict.certificate_checks(kind, cert)
    assert [c.status for c in checks] == ["FAIL", "PASS"]


def test_the_half_on_r_h_dropped_from_the_identity_fails_the_certificate(monkeypatch):
    monkeypatch.setattr(est, "predicted_gap", lambda rd, rp: rd + rp.sum(-1))
    cert = certificate(_model("vae3"), _x(), seed=0)
    assert not cert.holds and cert.identity_error > 1e-3


def test_the_half_on_r_h_dropped_from_the_slopes_fails_the_certificate(monkeypatch):
    real = verdict.predicted_slope
    monkeypatch.setattr(verdict, "predicted_slope",
                        lambda orbit, rd, rp: 2.0 * real(orbit, rd, rp) if orbit.startswith("prior") else real(orbit, rd, rp))
    cert = certificate(_model("vae1"), _x(), seed=0)
    assert not cert.holds and cert.identity_error < cert.tolerance
    assert [c.status for c in verdict.certificate_checks("vae1", cert)] == ["PASS", "FAIL"]


@pytest.mark.parametrize("kind", ["vae1", "vae3"])
def test_a_wrong_orbit_map_fails_the_certificate(kind, monkeypatch):
    """The prior orbit with the first decoder layer's column h scaled by s = e^t instead of sqrt(s):
    the reconstruction term is no longer invariant and the slope is not -r_h / 2."""
    real = orbits.prior_move

    def wrong(model, params, t):
        moved = real(model, params, t)
        moved["dec_mean.layers.0.weight"] = params["dec_mean.layers.0.weight"] * torch.exp(t)[None, :]
        return moved

    monkeypatch.setattr(orbits, "prior_move", wrong)
    cert = certificate(_model(kind), _x(), seed=0)
    assert not cert.holds and cert.identity_error < cert.tolerance
    bad = [o.name for o in cert.orbits if o.error > cert.tolerance]
    assert bad == ["prior 0", "prior 1"]


# ---------------------------------------------------------------- not covered

@pytest.mark.parametrize("links, missing", [({"dec_link": "softplus"}, ["decoder"]),
                                            ({"enc_link": "softplus-std"}, ["prior 0", "prior 1"])])
def test_a_softplus_head_is_not_covered_and_the_gap_still_measured(links, missing):
    cert = certificate(_model("vae3", **links), _x(), seed=0)
    assert not cert.covered and cert.holds          # what exists still holds
    assert [o.name for o in cert.orbits if o.missing] == missing
    assert all(o.predicted is not None for o in cert.orbits)  # the residuals are measured anyway
    conv = convergence({"elbo": 10.0, "gap": 1e-4, "gap_se": 1e-5, "design_kind": "rqmc"})
    status, reason = decide(verdict.certificate_checks("vae3", cert), cert, conv, control_ran=True)
    assert status == "NOT-COVERED" and "hypotheses do not hold" in reason and "rel_gap 1e-05" in reason


# ---------------------------------------------------------------- convergence grades

@pytest.mark.parametrize("gap, se, kind, grade", [
    (1e-5, 1e-5, "rqmc", "stationary"),          # within 4 SE and far below the paper's level
    (3e-2, 1e-3, "rqmc", "paper-level"),         # 3e-3 rel, 25 SE: resolved, below 5e-3
    (4.5e-2, 2e-3, "rqmc", "not-converged"),     # 4.5e-3 rel, but the 4-SE upper bound is 5.3e-3
    (1e-1, 1.0, "rqmc", "not-converged"),        # within 4 SE only because the SE is huge
    (1e-3, None, "mc", "not-converged"),         # SE unknown
    (1e-12, None, "analytic", "stationary"),     # analytic: SE 0, round-off only
    (1e-6, None, "analytic", "paper-level"),     # analytic, above round-off
])
def test_the_grade_is_never_better_than_the_evidence(gap, se, kind, grade):
    conv = convergence({"elbo": 10.0, "gap": gap, "gap_se": se, "design_kind": kind})
    assert conv.grade == grade
    if conv.upper is not None:
        assert conv.upper >= conv.rel_gap


def test_non_finite_evaluations_are_not_converged():
    assert convergence({"elbo": None, "gap": None, "gap_se": None}).grade == "not-converged"
    assert convergence({"elbo": float("nan"), "gap": 0.0, "gap_se": 0.0}).grade == "not-converged"


# ---------------------------------------------------------------- control and Cor. A1

def _ev(gap, se=0.01, elbo=10.0, residual_decoder=None, residual_prior=(0.0, 0.0)):
    rd = gap if residual_decoder is None else residual_decoder
    return {"elbo": elbo, "elbo_se": se, "entropy_sum": elbo - gap, "gap": gap, "gap_se": se, "design_kind": "rqmc",
            "residual_decoder": rd, "residual_prior": list(residual_prior), "identity_error": 1e-15}


def _frozen_cert(kind="vae1"):
    model = _model(kind)
    return certificate(model, _x(), seed=0, frozen=("sigma2_raw",))


def test_control_checks_detect_a_real_gap_and_fail_when_there_is_none():
    cert = _frozen_cert()
    fixed = verdict.control_checks("vae1", _ev(gap=2.0), _ev(gap=2.01, residual_decoder=2.01), cert)
    assert [c.status for c in fixed] == ["PASS", "PASS", "PASS"]
    none = verdict.control_checks("vae1", _ev(gap=0.001), _ev(gap=0.0, residual_decoder=0.0), cert)
    assert [c.status for c in none] == ["PASS", "FAIL", "PASS"]       # twin: no gap, not detected
    wrong = verdict.control_checks("vae1", _ev(gap=2.0), _ev(gap=1.0, residual_decoder=1.0), cert)
    assert wrong[0].status == "FAIL"                                   # twin: gap is not the predicted residual


def test_control_certificate_needs_the_decoder_orbit_frozen_and_sloped():
    cert = _frozen_cert()
    decoder = next(o for o in cert.orbits if o.name == "decoder")
    assert decoder.frozen and abs(decoder.slope) > 1e-3
    assert verdict.control_certificate_check("vae1", cert).status == "PASS"
    free = certificate(_model("vae1"), _x(), seed=0)                   # twin: nothing frozen
    assert verdict.control_certificate_check("vae1", free).status == "FAIL"


def test_cora1_is_graded_only_at_a_stationary_point():
    ev = _ev(0.0, se=0.0, elbo=3.9)
    ev["design_kind"] = "analytic"
    at_rest = convergence(ev)
    assert verdict.cora1_check(ev, 3.9 + 1e-8, at_rest).status == "PASS"
    assert verdict.cora1_check(ev, 3.9 + 1e-3, at_rest).status == "FAIL"   # wrong constant
    moving = convergence(_ev(0.5, se=0.01))
    assert verdict.cora1_check(_ev(0.5, se=0.01), 3.9, moving).status == "NOT-CONVERGED"


def test_identity_check_of_the_fresh_evaluation():
    assert verdict.identity_check(_ev(0.0)).status == "PASS"
    bad = _ev(0.0)
    bad["identity_error"] = 1e-3
    assert verdict.identity_check(bad).status == "FAIL"


# ---------------------------------------------------------------- status rules

def _check(status):
    return Check("x", "prop3", status, 0.0, 1.0, "")


@pytest.mark.parametrize("statuses, covered, grade, expected", [
    (["PASS"], True, "stationary", "PASS"),
    (["PASS"], True, "paper-level", "PASS"),
    (["PASS"], True, "not-converged", "NOT-CONVERGED"),
    (["PASS"], False, "stationary", "NOT-COVERED"),
    (["PASS"], False, "not-converged", "NOT-COVERED"),
    (["PASS", "FAIL"], False, "not-converged", "FAIL"),
    (["FAIL"], True, "stationary", "FAIL"),
])
def test_status_precedence(statuses, covered, grade, expected):
    cert = certificate(_model("vae3", dec_link="exp" if covered else "softplus"), _x(), seed=0)
    gaps = {"stationary": (1e-5, 1e-5), "paper-level": (3e-2, 1e-3), "not-converged": (1.0, 1e-3)}[grade]
    conv = convergence({"elbo": 10.0, "gap": gaps[0], "gap_se": gaps[1], "design_kind": "rqmc"})
    status, reason = decide([_check(s) for s in statuses], cert, conv, control_ran=True)
    assert status == expected and "\n" not in reason and reason
    assert verdict.EXIT_CODES[status] == {"PASS": 0, "FAIL": 1, "NOT-COVERED": 4, "NOT-CONVERGED": 5}[status]


def test_a_run_without_control_says_so():
    cert = certificate(_model("vae3"), _x(), seed=0)
    conv = convergence({"elbo": 10.0, "gap": 1e-5, "gap_se": 1e-5, "design_kind": "rqmc"})
    assert "no control run" in decide([], cert, conv, control_ran=False)[1]
    assert "control detected" in decide([], cert, conv, control_ran=True)[1]
    assert math.isfinite(cert.worst_error())
