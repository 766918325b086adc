"""Failing twins of the engine's checks: corrupted steps, trivial steps, lemma instances, discharges,
hypotheses that determine nothing, non-errata; and the strategies' and spot-check's own twins."""

from __future__ import annotations

import dataclasses

import sympy as sp

from proofs import check_claim
from proofs.chain import ByHypothesis, ByLemma, ByStrategy, Claim, Discharge, Erratum, ErrataClaim, Path, chain, instance
from proofs.claims import errata, prop1, prop2, prop3
from proofs.claims.model import D, H, N, entropy, s2
from proofs.spotcheck import spot_check

a, b = sp.symbols("a b", positive=True)


def _one_step(before, after, by=None, **kwargs) -> Claim:
    steps = chain(before, (after, by or ByStrategy(), "0"))
    return Claim("twin", "a twin", steps, sp.Eq(before, after, evaluate=False), **kwargs)


def test_false_identity_fails_with_residual_and_counterexample():
    result = check_claim(_one_step(sp.log(a + b), sp.log(a) + sp.log(b)))
    step = result.steps[0]
    assert result.status == "FAILED" and step.status == "FAILED"
    assert step.residual and step.counterexample


def test_corrupted_sign_in_prop1_fails():
    step = prop1.CLAIM.steps[4]  # Eq. 21, second line
    bad = dataclasses.replace(step, after=step.after.xreplace({D: -D}))
    result = check_claim(dataclasses.replace(prop1.CLAIM, steps=prop1.CLAIM.steps[:4] + (bad,) + prop1.CLAIM.steps[5:]))
    assert result.steps[4].status == "FAILED"


def test_wrong_entropy_constant_in_a_gaussian_integral_fails():
    lemma = prop1.ENTROPY
    bad = dataclasses.replace(lemma.steps[0], after=sp.log(2 * sp.pi * prop1.v_) / 2)  # e dropped
    result = check_claim(dataclasses.replace(lemma, steps=(bad,)))
    assert result.steps[0].status == "FAILED" and result.steps[0].counterexample


def test_trivial_step_is_refused():
    result = check_claim(_one_step(a, a))
    assert result.status == "FAILED" and "refused" in result.steps[0].detail


def test_lemma_whose_left_side_does_not_occur_fails():
    lemma = _one_step(sp.log(a * b), sp.log(a) + sp.log(b))
    result = check_claim(_one_step(sp.exp(a), sp.exp(a) + 1, ByLemma(lemma)))
    assert result.status == "FAILED" and "does not occur" in result.steps[0].detail


def test_lemma_instance_must_keep_positivity():
    lemma = _one_step(sp.log(a * b), sp.log(a) + sp.log(b))
    x = sp.Symbol("x", real=True)
    user = _one_step(sp.log(x * b), sp.log(x) + sp.log(b), ByLemma(lemma, instance((a, x))))
    result = check_claim(user)
    assert result.status == "FAILED" and "positive" in result.steps[0].detail


def test_unproved_lemma_cannot_be_used():
    false_lemma = _one_step(sp.log(a + b), sp.log(a) + sp.log(b))
    result = check_claim(_one_step(sp.log(a + b) * 2, (sp.log(a) + sp.log(b)) * 2, ByLemma(false_lemma)))
    assert result.status == "FAILED" and "not proved" in result.steps[0].detail


def test_lemma_with_undischarged_stationarity_fails():
    """prop2 using prop1 without saying which of its hypotheses implies prop1's alpha-stationarity."""
    step = prop2.CLAIM.steps[3]
    only_sigma = dataclasses.replace(step.by, discharges=step.by.discharges[:1])
    steps = prop2.CLAIM.steps[:3] + (dataclasses.replace(step, by=only_sigma),) + prop2.CLAIM.steps[4:]
    result = check_claim(dataclasses.replace(prop2.CLAIM, steps=steps))
    assert result.steps[3].status == "FAILED" and "not discharged" in result.steps[3].detail


def test_vae1_stationarity_implies_vae2_stationarity_only_if_the_encoder_follows():
    """The orbit without the encoder's scaling (nu, tau^2 fixed) is not VAE-2's alpha direction: the
    engine's derivative check of "VAE-1 stationary => VAE-2 stationary" must fail."""
    w0_only = dataclasses.replace(prop2.STATIONARY_ORBIT, path=Path(prop2.STATIONARY_ORBIT.path.entries[:1]))
    hypotheses = tuple(w0_only if h.key == "stationary-orbit" else h for h in prop2.CLAIM.hypotheses)
    result = check_claim(dataclasses.replace(prop2.CLAIM, hypotheses=hypotheses))
    assert result.steps[3].status == "FAILED" and "does not imply" in result.steps[3].detail


def test_wrong_discharge_factor_fails():
    step = prop2.CLAIM.steps[3]
    wrong = dataclasses.replace(step.by, discharges=(step.by.discharges[0],
                                                     Discharge("stationary-alpha2", "stationary-orbit", sp.S(2))))
    steps = prop2.CLAIM.steps[:3] + (dataclasses.replace(step, by=wrong),) + prop2.CLAIM.steps[4:]
    assert check_claim(dataclasses.replace(prop2.CLAIM, steps=steps)).steps[3].status == "FAILED"


def test_stationarity_that_does_not_determine_its_target_fails():
    """sigma^2-stationarity says nothing about sum_n E_q[z_k^2]."""
    wrong = dataclasses.replace(prop1.STATIONARY_SIGMA2, key="stationary-alpha2")
    hypotheses = (prop1.STATIONARY_SIGMA2, wrong)
    result = check_claim(dataclasses.replace(prop1.CLAIM, hypotheses=hypotheses))
    assert result.status == "FAILED"


def test_w_direction_alone_does_not_give_eq_75():
    """Without stationary-W as given, stationary-M determines I1 + I2 = 0, not I2 = 0."""
    m_alone = dataclasses.replace(prop3.STATIONARY_M, given=())
    hypotheses = tuple(m_alone if h.key == "stationary-M" else h for h in prop3.CLAIM.hypotheses)
    result = check_claim(dataclasses.replace(prop3.CLAIM, hypotheses=hypotheses))
    assert result.status == "FAILED"


def test_via_lemma_for_another_direction_fails():
    swapped = dataclasses.replace(prop3.STATIONARY_W, via=prop3.DF_M)
    hypotheses = tuple(swapped if h.key == "stationary-W" else h for h in prop3.CLAIM.hypotheses)
    result = check_claim(dataclasses.replace(prop3.CLAIM, hypotheses=hypotheses))
    assert result.status == "FAILED"
    assert "not the derivative" in (result.derivations["stationary-W"].error or "")


def test_hypothesis_used_but_absent_fails_the_step():
    steps = chain(a, (a + 1, ByHypothesis("nowhere"), "0"))
    result = check_claim(Claim("twin", "t", steps, sp.Eq(a, a + 1, evaluate=False)))
    assert result.status == "FAILED" and "not declared" in result.steps[0].detail


def test_true_printed_form_is_not_an_erratum():
    item = Erratum("x", sp.Eq(sp.log(a * b), sp.log(a) + sp.log(b), evaluate=False),
                   errata.DF1_CHAIN.conclusion, "none", "a true equation", proof=errata.DF1_CHAIN)
    claim = ErrataClaim("e", "t", (item,), sp.Eq(sp.Symbol("printed wrong"), sp.Tuple(sp.Symbol("x")), evaluate=False))
    result = check_claim(claim)
    assert result.status == "FAILED" and "not an erratum" in result.steps[0].detail


def test_erratum_with_wrong_correction_fails():
    item = errata.AFTER_23
    bad = dataclasses.replace(item, corrected=sp.Eq(item.corrected.lhs, 2 * item.corrected.rhs, evaluate=False))
    claim = dataclasses.replace(errata.CLAIM, steps=(bad,) + errata.CLAIM.steps[1:])
    result = check_claim(claim)
    assert result.steps[0].status == "FAILED" and "not proved" in result.steps[0].detail


def test_spot_check_disagrees_on_false_identity():
    assert spot_check(sp.log(a + b), sp.log(a) + sp.log(b), {}).agree is False
    assert spot_check(sp.log(a * b), sp.log(a) + sp.log(b), {}).agree is True


def test_numeric_only_when_no_strategy_closes(monkeypatch):
    import proofs.engine as engine

    engine.clear_caches()
    monkeypatch.setattr(engine, "strategy_chain", lambda r: [])
    try:
        result = check_claim(_one_step(entropy(s2) + D, sp.log(2 * sp.pi * s2) / 2 + sp.Rational(1, 2) + D))
        assert result.steps[0].status == "NUMERIC-ONLY" and result.status == "NUMERIC-ONLY"
    finally:
        engine.clear_caches()


def test_prop3_eq_39_with_h_for_d_in_its_constant_fails():
    """The mix-up of issue 15: the constant of Eq. 39 written with H where D is meant."""
    last = prop3.CLAIM.steps[-1]
    bad = dataclasses.replace(last, after=last.after.xreplace({D * sp.log(2 * sp.pi * sp.E) / 2: 0})
                              - H * sp.log(2 * sp.pi * sp.E) / 2)
    assert bad.after != last.after
    result = check_claim(dataclasses.replace(prop3.CLAIM, steps=prop3.CLAIM.steps[:-1] + (bad,),
                                             conclusion=sp.Eq(prop3.CLAIM.conclusion.lhs, bad.after, evaluate=False)))
    assert result.steps[-1].status == "FAILED" and N in sp.sympify(bad.after).free_symbols


def test_stationarity_of_another_function_than_the_elbo_is_refused():
    """A hypothesis may differentiate any form of the claim's F, never another function."""
    from proofs.claims import corA1

    bad = dataclasses.replace(corA1.STATIONARY_T, of=corA1.F_LIN + corA1.T[corA1.k] ** 2)
    result = check_claim(dataclasses.replace(corA1.OPTIMAL_ENCODER, hypotheses=(corA1.cor1.LINEAR_VAE, bad)))
    assert result.status == "FAILED" and "not this claim's F" in result.steps[0].detail
