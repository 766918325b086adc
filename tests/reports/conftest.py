"""Fixture results in the format of docs/interfaces.md: a proofs JSON file and small run directories.

The numbers are synthetic (a gap decaying like exp(-step/tau) towards zero, residuals that add up
to it) but every key that the contract names is present (status, reason, certificate, convergence,
checks, control), so the report is exercised end to end without training a network or running SymPy.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

CLAIMS = ("prop1", "prop2", "cor1", "corA1", "prop3", "cor2", "gap", "criterion", "errata")
MODEL_CLAIMS = {"linear": "cor1/corA1", "vae2": "prop1", "vae1": "prop2", "vae3": "prop3"}


def proof_step(eq: str, latex: str, status: str = "PROVED", **extra: object) -> dict:
    step = {"eq": eq, "statement": f"statement of Eq. {eq}", "latex": latex,
            "justification": "expand both sides and compare", "hypotheses": ["sigma2-free"],
            "status": status, "strategy": "expand_log" if status == "PROVED" else None,
            "seconds": 0.01, "residual": None, "counterexample": None, "printed": None, "corrected": None}
    step.update(extra)
    return step


def proofs_result() -> dict:
    """A ``python -m proofs.check all --json`` output in which every claim is PROVED."""
    claims = []
    for name in CLAIMS:
        if name == "errata":
            steps = [proof_step("21", r"\mathcal{F}_2 = \frac{D}{2} r_\sigma", status="PRINTED-WRONG",
                                strategy="counterexample+expand",
                                printed={"text": "F2 = D r_sigma", "latex": r"\mathcal{F}_2 = D\, r_\sigma"},
                                corrected={"text": "F2 = (D/2) r_sigma",
                                           "latex": r"\mathcal{F}_2 = \tfrac{D}{2}\, r_\sigma"},
                                counterexample={"D": 3, "r_sigma": 0.5})]
        else:
            steps = [proof_step("19", r"\mathcal{F} = \mathcal{F}_1 + \mathcal{F}_2 + \mathcal{F}_3"),
                     proof_step("21", r"\mathcal{F}_2 = \frac{D}{2} r_\sigma - \frac{D}{2}\log(2\pi e \sigma^2)"),
                     proof_step("20", r"\begin{aligned} \mathcal{F} &= \frac{1}{N}\sum_{n} \mathcal{H}[q] \\ "
                                      r"&- \mathcal{H}[p(z)] \end{aligned}"),
                     proof_step("x", r"\unknownmacro{x} + \oops")]  # cannot be typeset: plain-text fallback
        claims.append({"name": name, "title": f"Claim {name}: the three-entropy result", "status": "PROVED",
                       "seconds": 0.2, "hypotheses": {"sigma2-free": "sigma^2 is a free positive parameter"},
                       "steps": steps})
    return {"claims": claims, "seconds": 1.8, "status": "PROVED"}


def metrics_rows(model: str, steps: int, tau: float, offset: float, control: bool) -> list[dict]:
    rows = []
    latent = 2
    for k in range(steps + 1):
        step = k * 10
        decay = math.exp(-step / tau)
        residual_decoder = 5.0 * decay + offset
        residual_prior = [0.8 * decay, -0.4 * decay]
        gap = residual_decoder + 0.5 * sum(residual_prior)  # F - S = (D/2) r_sigma + (1/2) sum_h r_h
        entropy_sum = -20.0 + 3.0 * decay
        elbo = entropy_sum + gap
        row = {"step": step, "seconds": 0.1 * k, "elbo": elbo, "elbo_se": 0.01, "entropy_sum": entropy_sum,
               "gap": gap, "rel_gap": gap / abs(elbo), "residual_decoder": residual_decoder,
               "residual_prior": residual_prior[:latent], "identity_error": 1e-13 * (1 + k % 3)}
        if model == "linear":
            row.update({"loglik_train": elbo + 0.01, "loglik_test": elbo - 0.05, "loglik_truth_train": -19.9,
                        "loglik_truth_test": -19.95, "loglik_ml_train": -19.98})
        rows.append(row)
    return rows


def write_run(path: Path, model: str, seed: int = 0, protocol: str = "fast", status: str = "PASS",
              steps: int = 30, with_control: bool = True) -> Path:
    """Write one run directory (and its control run) in the documented layout."""
    path.mkdir(parents=True, exist_ok=True)
    rows = metrics_rows(model, steps, tau=25.0 + seed, offset=0.0, control=False)
    last = rows[-1]
    (path / "config.json").write_text(json.dumps({"model": model, "protocol": protocol, "seed": seed,
                                                  "device": "cpu", "batch_size": 2000, "lr": 1e-3}))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 9')  # killed
    claim = MODEL_CLAIMS[model].split("/")[0]
    certificate = {"elbo": last["elbo"], "identity_error": 3e-15, "tolerance": 2e-9, "holds": status != "FAIL",
                   "covered": status != "NOT-COVERED", "worst_error": 3e-15, "seconds": 0.05,
                   "design": {"kind": "mc", "points": 256, "samples_per_point": 8, "seed": 5_000_011},
                   "orbits": [{"name": name, "slope": -r, "predicted": -r, "error": 0.0, "frozen": False,
                               "missing": None}
                              for name, r in (("decoder", last["residual_decoder"]),
                                              ("prior 0", 0.5 * last["residual_prior"][0]),
                                              ("prior 1", 0.5 * last["residual_prior"][1]))]}
    grade = "not-converged" if status == "NOT-CONVERGED" else "paper-level"
    convergence = {"rel_gap": abs(last["rel_gap"]), "se": 1e-5, "upper": abs(last["rel_gap"]) + 4e-5,
                   "gap": last["gap"], "gap_se": 1e-4, "gap_over_se": 3.0, "stationary_tolerance": 4e-4,
                   "stationary": False, "grade": grade, "paper_level": 5e-3}
    summary = {"model": model, "claim": MODEL_CLAIMS[model], "status": status,
               "reason": f"status {status} of a fixture run", "certificate": certificate,
               "convergence": convergence, "elbo": last["elbo"],
               "elbo_se": 0.01, "entropy_sum": last["entropy_sum"], "gap": last["gap"], "rel_gap": last["rel_gap"],
               "tolerance": 1e-3, "tolerance_reason": "4 standard errors of the fresh gap estimate",
               "latent_dim": 2, "seconds": 1.5, "device": "cpu", "seed": seed, "protocol": protocol,
               "data": "synthetic", "versions": {"torch": "2.x"},
               "checks": [{"name": "certificate-identity", "claim": "gap", "status": "PASS",
                           "value": 3e-15, "tolerance": 2e-9, "detail": "float64 round-off"},
                          {"name": "certificate-orbits", "claim": claim, "status": "PASS",
                           "value": 0.0, "tolerance": 2e-9, "detail": "exact slopes"},
                          {"name": "convergence", "claim": claim,
                           "status": "NOT-CONVERGED" if status == "NOT-CONVERGED" else "PASS",
                           "value": abs(last["rel_gap"]), "tolerance": 5e-3, "detail": f"grade {grade}"}]}
    if with_control:
        control_rows = metrics_rows(model, steps, tau=60.0, offset=0.8, control=True)
        summary["control"] = {"gap": control_rows[-1]["gap"], "predicted_gap": control_rows[-1]["gap"],
                              "status": "PASS", "grade": "not-converged", "decoder_slope": -0.8,
                              "decoder_frozen": True}
        summary["checks"] += [{"name": name, "claim": "gap" if name == "control-identity" else claim,
                               "status": "PASS", "value": 0.8, "tolerance": 1e-3, "detail": "control"}
                              for name in ("control-identity", "control-detected", "control-certificate")]
        control = path / "control"
        control.mkdir(exist_ok=True)
        (control / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in control_rows))
        control_summary = copy.deepcopy(summary)
        control_summary.update({"gap": control_rows[-1]["gap"], "status": "PASS"})
        control_summary.pop("control")
        (control / "summary.json").write_text(json.dumps(control_summary))
    (path / "summary.json").write_text(json.dumps(summary))
    return path


@pytest.fixture
def proofs_file(tmp_path: Path) -> Path:
    path = tmp_path / "proofs.json"
    path.write_text(json.dumps(proofs_result()))
    return path


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """Verification runs of all four models plus three paper-protocol runs of VAE-3."""
    root = tmp_path / "runs"
    for model in MODEL_CLAIMS:
        write_run(root / f"verify-{model}", model)
    for seed in range(3):
        write_run(root / "fig1c" / f"seed{seed:03d}", "vae3", seed=seed, protocol="paper", with_control=False)
    return root
