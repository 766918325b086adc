"""Twins of PROVED: dropping a middle step, altering the conclusion, removing a used hypothesis from
the declaration, or swapping H and D makes every claim FAILED (issue 15, item 9)."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from proofs import CLAIM_NAMES, check_claim
from proofs.claims import load_claim
from proofs.claims.model import D, H

CHAINS = [n for n in CLAIM_NAMES if n != "errata"]


def _middle_drops(name: str):
    claim = load_claim(name)
    return [(name, k) for k in range(1, len(claim.steps) - 1)]


@pytest.mark.parametrize("name,k", [pair for n in CHAINS for pair in _middle_drops(n)])
def test_dropping_a_middle_step_fails(all_results, name, k):
    claim = load_claim(name)
    result = check_claim(dataclasses.replace(claim, steps=claim.steps[:k] + claim.steps[k + 1:]))
    assert result.status == "FAILED"
    assert any("chain broken" in f for f in result.failures), result.failures


@pytest.mark.parametrize("name", CHAINS)
def test_dropping_the_last_step_does_not_reach_the_conclusion(all_results, name):
    claim = load_claim(name)
    result = check_claim(dataclasses.replace(claim, steps=claim.steps[:-1]))
    assert result.status == "FAILED"
    assert any("does not reach the conclusion" in f for f in result.failures), result.failures


@pytest.mark.parametrize("name", CLAIM_NAMES)
def test_altering_the_conclusion_fails(all_results, name):
    claim = load_claim(name)
    lhs, rhs = claim.conclusion.lhs, claim.conclusion.rhs
    altered = sp.Tuple(*rhs[:-1]) if isinstance(rhs, sp.Tuple) else rhs + sp.Rational(1, 2)
    result = check_claim(dataclasses.replace(claim, conclusion=sp.Eq(lhs, altered, evaluate=False)))
    assert result.status == "FAILED"
    assert any("does not reach the conclusion" in f for f in result.failures), result.failures


def _used_hypotheses(name: str):
    claim = load_claim(name)
    return [(name, h.key) for h in claim.hypotheses]


@pytest.mark.parametrize("name,key", [pair for n in CHAINS for pair in _used_hypotheses(n)])
def test_removing_a_used_hypothesis_from_the_declaration_fails(all_results, name, key):
    claim = load_claim(name)
    assert key in all_results[name].hypotheses_used
    result = check_claim(dataclasses.replace(claim, hypotheses=tuple(h for h in claim.hypotheses if h.key != key)))
    assert result.status == "FAILED"
    assert any(f"hypothesis {key} is used but not declared" in f for f in result.failures), result.failures


@pytest.mark.parametrize("name", CHAINS)
def test_declaring_an_unused_hypothesis_fails(name):
    from proofs.chain import Structural

    claim = load_claim(name)
    extra = Structural("unused-extra", "a hypothesis nothing uses")
    result = check_claim(dataclasses.replace(claim, hypotheses=claim.hypotheses + (extra,)))
    assert result.status == "FAILED"
    assert any("unused-extra is declared but not used" in f for f in result.failures)


def _swap(expr):
    return expr.xreplace({H: D, D: H})


@pytest.mark.parametrize("name", [n for n in CHAINS if load_claim(n).conclusion.rhs.has(H, D)])
def test_swapping_h_and_d_in_the_result_fails(all_results, name):
    """H and D swapped in the last step's result and in the conclusion alike, as a mix-up of the two
    sizes would: the conclusion is then reached, but the last step is false."""
    claim = load_claim(name)
    last = claim.steps[-1]
    swapped_rhs = _swap(claim.conclusion.rhs)
    assert swapped_rhs != claim.conclusion.rhs
    steps = claim.steps[:-1] + (dataclasses.replace(last, after=_swap(last.after)),)
    result = check_claim(dataclasses.replace(claim, steps=steps,
                                             conclusion=sp.Eq(claim.conclusion.lhs, swapped_rhs, evaluate=False)))
    assert result.status == "FAILED"
    assert result.steps[-1].status == "FAILED", result.steps[-1].detail


@pytest.mark.parametrize("hdim,dim", [(2, 3), (3, 5)])
def test_swapping_h_and_d_in_an_explicit_instance_fails(hdim, dim):
    """corA1's explicit-size remarks: Eq. 45's closed form with H and D swapped in it,
    -H/2 log(2 pi e sigma^2) + 1/2 sum_{h <= D} log(sigma^2/lambda_h), is refuted."""
    from proofs.claims import corA1
    from proofs.claims.model import TWO_PI_E

    good = corA1.explicit(hdim, dim)
    lams = sp.symbols(f"lambda_1:{dim + 1}", positive=True)
    sigma2 = sum(lams[hdim:]) / (dim - hdim)
    swapped = -sp.Rational(hdim, 2) * sp.log(TWO_PI_E * sigma2) + sum(sp.log(sigma2 / lv) for lv in lams[:dim]) / 2
    step = dataclasses.replace(good.steps[0], after=swapped)
    result = check_claim(dataclasses.replace(good, steps=(step,),
                                             conclusion=sp.Eq(good.conclusion.lhs, swapped, evaluate=False)))
    assert result.status == "FAILED" and result.steps[0].counterexample


def test_dropping_an_erratum_fails(all_results):
    claim = load_claim("errata")
    result = check_claim(dataclasses.replace(claim, steps=claim.steps[1:]))
    assert result.status == "FAILED"
    assert any("does not reach the conclusion" in f for f in result.failures)
