"""Every claim is PROVED, every erratum PRINTED-WRONG, and results follow docs/interfaces.md."""

from __future__ import annotations

import json

import pytest

from proofs import CLAIM_NAMES
from proofs.claims import load_claim


def test_claim_names_match_interfaces():
    assert CLAIM_NAMES == ("prop1", "prop2", "cor1", "corA1", "prop3", "cor2", "gap", "criterion", "errata")


@pytest.mark.parametrize("name", CLAIM_NAMES)
def test_claim_proved(all_results, name):
    result = all_results[name]
    bad = [(s.step.eq, s.status, s.detail) for s in result.steps
           if s.status != ("PRINTED-WRONG" if s.step.kind == "erratum" else "PROVED")]
    assert result.status == "PROVED", bad


@pytest.mark.parametrize("name", CLAIM_NAMES)
def test_step_hypotheses_are_declared(name):
    claim = load_claim(name)
    for step in claim.steps:
        assert set(step.hypotheses) <= set(claim.hypotheses), (step.eq, step.hypotheses)


def test_errata_carry_counterexamples(all_results):
    steps = all_results["errata"].steps
    assert len(steps) >= 5
    for s in steps:
        assert s.status == "PRINTED-WRONG"
        assert s.counterexample and s.residual
        d = s.to_dict()
        assert d["printed"]["text"] and d["corrected"]["latex"]


def test_symbolic_strategy_closed_every_identity(all_results):
    for result in all_results.values():
        for s in result.steps:
            assert s.strategy not in (None, "spot-check"), (result.claim.name, s.step.eq)


def test_json_schema(all_results):
    for result in all_results.values():
        d = json.loads(json.dumps(result.to_dict(), default=str))
        assert {"name", "title", "status", "seconds", "hypotheses", "steps"} <= set(d)
        for s in d["steps"]:
            assert {"eq", "statement", "latex", "justification", "hypotheses", "status", "strategy",
                    "seconds", "residual", "counterexample", "printed", "corrected"} <= set(s)


def test_latex_parses_with_mathtext(all_results):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("agg")
    for result in all_results.values():
        for s in result.steps:
            d = s.to_dict()
            for latex in [d["latex"]] + ([d["printed"]["latex"]] if d["printed"] else []):
                parser.parse(f"${latex}$")
