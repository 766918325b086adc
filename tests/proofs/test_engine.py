"""Failing twins: corrupted steps, false identities and non-errata must not pass."""

from __future__ import annotations

import dataclasses

import sympy as sp

from proofs.claims import load_claim
from proofs.claims.common import D, H, Qbar, s2
from proofs.claims.cor2 import Ssig, Stau
from proofs.claims.criterion import witness
from proofs.claims.errata import Printed
from proofs.claims.prop3 import M, eta1, mus, psi, sig2, table, delta
from proofs.engine import Step, check_step
from proofs.spotcheck import spot_check


def _step(claim: str, eq: str, contains: str = "") -> Step:
    return next(s for s in load_claim(claim).steps if s.eq == eq and contains in s.text())


def _assert_failed(step: Step) -> None:
    r = check_step(step)
    assert r.status == "FAILED", r.detail
    assert r.residual is not None and r.counterexample, r.to_dict()


def test_corrupted_sign_fails():
    real = _step("prop1", "21", "Qbar")
    assert check_step(real).status == "PROVED"
    _assert_failed(dataclasses.replace(real, after=D / 2 * (1 + Qbar / (D * s2)) - D / 2 * sp.log(2 * sp.pi * sp.E * s2)))


def test_dropped_term_fails():
    real = _step("gap", "gap", "F - S")
    dropped = D / 2 * (1 - Qbar / (D * s2))  # the prior residuals (1/2) sum_h r_h dropped
    _assert_failed(dataclasses.replace(real, after=dropped))


def test_wrong_constant_fails():
    real = _step("cor2", "43")
    # const = (D - H) log 3 - D/2 log(2 pi e) instead of (D - H) log 2 - D/2 log(2 pi e)
    wrong = (H * sp.log(2) + Stau / 2) - (D * sp.log(2) + Ssig / 2) + (D - H) * sp.log(3) - D / 2 * sp.log(2 * sp.pi * sp.E)
    _assert_failed(dataclasses.replace(real, after=wrong))


def test_wrong_entropy_constant_in_gaussian_integral_fails():
    real = _step("prop1", "22", "Integral")
    _assert_failed(dataclasses.replace(real, after=-D / 2 * sp.log(2 * sp.pi * s2)))  # e dropped


def test_corrupted_matrix_table_entry_fails():
    real = _step("prop3", "60", "d eta1_d'/dM_dj")
    before, _ = table(eta1, M, lambda dp, d, j: 0)
    _, wrong = table(eta1, M, lambda dp, d, j: delta(d, dp) * mus[d] * psi[j] / sig2[d] ** 2)  # sign flipped
    _assert_failed(dataclasses.replace(real, before=before, after=wrong))


def test_corrupted_derivative_of_functions_fails():
    real = _step("prop3", "58")
    _assert_failed(dataclasses.replace(real, after=2 * real.after))


def test_spot_check_disagrees_on_false_identity():
    a, b = sp.symbols("a b", positive=True)
    assert spot_check(sp.log(a + b), sp.log(a) + sp.log(b), {}).agree is False
    assert spot_check(sp.log(a * b), sp.log(a) + sp.log(b), {}).agree is True


def test_numeric_only_when_no_strategy_closes(monkeypatch):
    import proofs.engine as engine
    monkeypatch.setattr(engine, "strategy_chain", lambda r: [])  # no symbolic strategy at all
    real = _step("prop1", "21", "Qbar")
    r = check_step(real)
    assert r.status == "NUMERIC-ONLY" and r.strategy == "spot-check"
    claim = engine.Claim("c", "t", {}, (real,))
    assert engine.check_claim(claim).status == "NUMERIC-ONLY"


def test_nonzero_witness_fails_for_closed_family():
    step = Step("w", witness(sp.exp), None, "exp is closed: its determinant is 0", kind="nonzero")
    assert check_step(step).status == "FAILED"


def test_true_printed_form_is_not_an_erratum():
    # table after Eq. 60: d eta1_d'/dM_dj = mu_d d/dM_dj (1/sigma_d'^2) looks odd (mu_d for mu_d')
    # but holds, because the derivative vanishes for d != d'
    before, _ = table(eta1, M, lambda dp, d, j: 0)
    printed = sp.Matrix([mus[d] * sp.Derivative(1 / sig2[dp], M[d, j]) for dp in range(2) for d in range(2) for j in range(2)])
    _, corrected = table(eta1, M, lambda dp, d, j: -delta(d, dp) * mus[d] * psi[j] / sig2[d] ** 2)
    step = Step("60", before, corrected, "twin", kind="erratum", printed=Printed(before, printed))
    r = check_step(step)
    assert r.status == "FAILED" and "not an erratum" in r.detail


def test_erratum_with_wrong_correction_fails():
    real = _step("errata", "after 23")
    r = check_step(dataclasses.replace(real, after=2 * real.after))
    assert r.status == "FAILED" and "corrected form not proved" in r.detail
