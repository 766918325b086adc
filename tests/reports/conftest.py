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
    step = {"eq": eq, "statement": f"before = after (Eq. {eq})", "latex": latex,
            "expression": f"expression after Eq. {eq}", "expression_latex": latex.split("=")[-1],
            "by": {"kind": "strategy", "name": "expand_log"}, "justification": "by expand_log",
            "hypotheses": [], "status": status, "strategy": "expand_log" if status == "PROVED" else None,
            "seconds": 0.01, "residual": None, "counterexample": None, "printed": None, "corrected": None}
    step.update(extra)
    return step


def proof_claim(name: str, steps: list[dict], **extra: object) -> dict:
    """A claim as `python -m proofs.check --json` writes it (docs/interfaces.md): a chain with its start,
    steps, conclusion, hypotheses used (a derived stationarity one), axioms and lemmas."""
    claim = {"name": name, "title": f"Claim {name}: the three-entropy result", "status": "PROVED", "seconds": 0.2,
             "role": "claim", "start": "F", "start_latex": "F",
             "conclusion": {"eq": "20", "relation": "=", "text": "F = S", "latex": r"F = S"},
             "hypotheses": {"stationary-sigma2": "dF/dsigma^2 = 0 at the point considered (Eq. 19)"},
             "hypotheses_used": ["stationary-sigma2"],
             "hypothesis_details": [{"key": "stationary-sigma2", "kind": "stationarity",
                                     "text": "dF/dsigma^2 = 0 at the point considered (Eq. 19)",
                                     "derivative_latex": r"- \frac{D}{2 \sigma^{2}} + \frac{Q}{2 \sigma^{4}}",
                                     "target": "Q", "value": "D*sigma^2"},
                                    {"key": "first-layer-linear", "kind": "structural",
                                     "text": "the decoder network takes z through a linear first layer"}],
             "axioms": [], "depends_on": [], "failures": [], "lemmas": [], "steps": steps}
    claim.update(extra)
    return claim


def proofs_result() -> dict:
    """A ``python -m proofs.check all --json`` output in which every claim is PROVED."""
    claims = []
    for name in CLAIMS:
        if name == "errata":
            steps = [proof_step("21", r"\mathcal{F}_2 = \frac{D}{2} r_\sigma", status="PRINTED-WRONG",
                                strategy="chain errata/f2",
                                justification="erratum: the factor 1/2 is missing in the printed form",
                                printed={"text": "F2 = D r_sigma", "latex": r"\mathcal{F}_2 = D\, r_\sigma"},
                                corrected={"text": "F2 = (D/2) r_sigma",
                                           "latex": r"\mathcal{F}_2 = \tfrac{D}{2}\, r_\sigma"},
                                counterexample={"D": 3, "r_sigma": 0.5},
                                numeric={"agree": False, "points": 8, "max_rel_error": 0.5})]
            claims.append(proof_claim(name, steps, conclusion=None, hypotheses_used=[], hypothesis_details=[]))
            continue
        steps = [proof_step("8", r"F = F_{1} + F_{2} + F_{3}"),
                 proof_step("21", r"F_{1} + F_{2} + F_{3} = \frac{D}{2} r_\sigma - \frac{D}{2}\log(2\pi e \sigma^2)"),
                 proof_step("22", r"\frac{D}{2} r_\sigma = S", justification="by hypothesis stationary-sigma2"),
                 proof_step("x", r"S = \unknownmacro{x} + \oops")]  # cannot be typeset: plain-text fallback
        lemma = proof_claim(f"{name}/lemma", [proof_step("23", r"a = b")], role="lemma", hypotheses_used=[],
                            hypothesis_details=[])
        extra = {"axioms": [{"key": "lucas", "text": "the bound is tight at the global maximum",
                             "citation": "Lucas et al. 2019"}]} if name == "corA1" else {}
        claims.append(proof_claim(name, steps, lemmas=[lemma], depends_on=["prop1"] if name == "prop2" else [],
                                  **extra))
    return {"claims": claims, "seconds": 1.8, "status": "PROVED",
            "dependency_graph": {c["name"]: c["depends_on"] for c in claims},
            "axioms": [{"key": "lucas", "text": "tight", "citation": "Lucas et al. 2019", "used_by": ["corA1"]}],
            "coverage": [], "coverage_missing": []}


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
        row = {"step": step, "seconds": 0.1 * k, "phase": "adam" if k < steps // 2 else "lbfgs", "elbo": elbo, "elbo_se": 0.01, "entropy_sum": entropy_sum,
               "gap": gap, "rel_gap": gap / abs(elbo), "residual_decoder": residual_decoder,
               "residual_prior": residual_prior[:latent], "identity_error": 1e-13 * (1 + k % 3)}
        if model == "linear":
            row.update({"loglik_train": elbo + 0.01, "loglik_test": elbo - 0.05, "loglik_truth_train": -19.9,
                        "loglik_truth_test": -19.95, "loglik_ml_train": -19.98})
        rows.append(row)
    return rows


def write_checkpoint(path: Path, model: str, seed: int) -> None:
    """A checkpoint of a small real model matching the fixture config (Fig. 3 loads it)."""
    import torch

    from numerics.models import build_model

    net = build_model(model, 10, 2, hidden=(4,), generator=torch.Generator().manual_seed(seed))
    torch.save({"model": net.state_dict()}, path / "checkpoint.pt")


def write_run(path: Path, model: str, seed: int = 0, protocol: str = "fast", status: str = "PASS",
              steps: int = 30, with_control: bool = True, checkpoint: bool = True) -> Path:
    """Write one run directory (and its control run) in the documented layout; ``checkpoint=False``
    leaves out the model checkpoint (no torch import: the fakes of tests.reports.fake_cli start faster)."""
    path.mkdir(parents=True, exist_ok=True)
    rows = metrics_rows(model, steps, tau=25.0 + seed, offset=0.0, control=False)
    last = rows[-1]
    (path / "config.json").write_text(json.dumps({
        "model": model, "protocol": protocol, "seed": seed, "device": "cpu", "batch_size": 2000, "lr": 1e-3,
        "data": "ppca", "n_train": 40, "n_test": 0, "latent_dim": 2, "hidden": [4], "enc_link": "exp",
        "dec_link": "exp", "dtype": "float64"}))
    if checkpoint:
        write_checkpoint(path, model, seed)
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
                           "value": abs(last["rel_gap"]), "tolerance": 5e-3, "detail": f"grade {grade}"}]
               + ([{"name": "corA1", "claim": "corA1", "status": "PASS", "value": 3e-13, "tolerance": 1e-6,
                    "detail": "max(|F - L_ML|, |S - L_ML|)"}] if model == "linear" else [])}
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


def write_criterion_run(path: Path, status: str = "PASS") -> Path:
    """A criterion study's folder (numerics.criterion's summary.json) with an exp and a softplus-std case."""
    path.mkdir(parents=True, exist_ok=True)
    cases = [{"dec_link": link, "enc_link": "exp", "covered": link == "exp", "elbo": -18.0, "entropy_sum": -18.0 - gap,
              "gap": gap, "residual_decoder": gap, "residual_prior": [0.0, 0.0], "grad_norm": 1e-14,
              "tangent_norms": {}, "bound": 1e-13, "tolerance": 2e-9, "seconds": 5.0, "stationary": True,
              "status": "PASS", "reason": "fixture"} for link, gap in (("exp", 7e-15), ("softplus-std", 5.4e-4))]
    (path / "config.json").write_text(json.dumps({"links": ["exp", "softplus-std"]}))
    (path / "summary.json").write_text(json.dumps({
        "claim": "criterion", "model": "vae3", "role": "criterion", "protocol": "stationary", "status": status,
        "reason": "fixture", "cases": cases, "seconds": 10.0,
        "checks": [{"name": f"stationary-gap-{c['dec_link']}", "claim": "criterion", "status": status,
                    "value": abs(c["gap"]), "tolerance": 2e-9, "detail": "fixture"} for c in cases]}))
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
    write_criterion_run(root / "criterion")
    for seed in range(3):
        write_run(root / "fig1c" / f"seed{seed:03d}", "vae3", seed=seed, protocol="paper", with_control=False)
    return root
