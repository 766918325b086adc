"""Every claim is PROVED as a chain; the results carry chains, hypotheses, axioms, the dependency
graph and the coverage of the paper's equations (docs/interfaces.md)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sympy as sp

from proofs import CLAIM_NAMES
from proofs.chain import Claim, ErrataClaim, Step
from proofs.claims import load_claim
from proofs.claims.model import D, H


def _all_chains(claim):
    yield claim
    for lemma in getattr(claim, "lemmas", ()):
        yield from _all_chains(lemma)


def test_claim_names_match_interfaces():
    assert CLAIM_NAMES == ("prop1", "prop2", "cor1", "corA1", "prop3", "cor2", "gap", "criterion", "errata")


@pytest.mark.parametrize("name", CLAIM_NAMES)
def test_claim_proved(all_results, name):
    result = all_results[name]
    bad = [(s.step.eq, s.status, s.detail) for s in result.steps if s.status not in ("PROVED", "PRINTED-WRONG")]
    assert result.status == "PROVED", (result.failures, bad)


@pytest.mark.parametrize("name", CLAIM_NAMES)
def test_claim_is_a_frozen_dataclass_with_a_tuple_of_steps_and_an_equation(name):
    claim = load_claim(name)
    assert dataclasses.is_dataclass(claim) and type(claim).__dataclass_params__.frozen
    assert isinstance(claim.steps, tuple) and claim.steps
    assert isinstance(claim.conclusion, sp.Eq)


def test_steps_have_no_hand_written_statement():
    assert "statement" not in {f.name for f in dataclasses.fields(Step)}


@pytest.mark.parametrize("name", [n for n in CLAIM_NAMES if n != "errata"])
def test_every_chain_links_and_no_step_is_trivial(name):
    for chain in _all_chains(load_claim(name)):
        for k, step in enumerate(chain.steps):
            assert step.before != step.after, (chain.name, k + 1)
            if k:
                assert step.before == chain.steps[k - 1].after, (chain.name, k + 1)


def test_every_lemma_and_remark_is_proved(all_results):
    def walk(result):
        assert result.status == "PROVED", (result.claim.name, result.failures)
        for lemma in result.lemmas:
            walk(lemma)
    for result in all_results.values():
        walk(result)


def test_json_keeps_the_report_keys_and_adds_chains(all_results):
    for result in all_results.values():
        d = json.loads(json.dumps(result.to_dict(), default=str))
        assert {"name", "title", "status", "seconds", "hypotheses", "steps", "hypotheses_used",
                "hypothesis_details", "axioms", "depends_on", "lemmas", "conclusion", "start", "failures"} <= set(d)
        for s in d["steps"]:
            assert {"eq", "statement", "latex", "justification", "hypotheses", "status", "strategy", "seconds",
                    "residual", "counterexample", "printed", "corrected", "kind", "detail", "numeric",
                    "expression", "expression_latex", "by", "index"} <= set(s)
            assert s["justification"].startswith(("by ", "erratum"))


def test_dependency_graph_follows_the_paper(full_report):
    graph = full_report["dependency_graph"]
    assert graph["prop1"] == []
    assert graph["prop2"] == ["prop1"]
    assert graph["cor1"] == ["prop2"]
    assert graph["corA1"] == ["cor1"]
    assert {"prop1", "prop2"} <= set(graph["prop3"])
    assert graph["cor2"] == ["prop3"]


def test_axioms_are_listed_with_citations(full_report):
    axioms = {a["key"]: a for a in full_report["axioms"]}
    assert {"lucas", "tipping-bishop", "tipping-bishop-columns", "large-n"} == set(axioms)
    assert all(a["citation"] and a["used_by"] for a in axioms.values())
    assert "corA1" in axioms["lucas"]["used_by"] and "cor2" in axioms["large-n"]["used_by"]


def test_every_equation_of_the_proofs_is_covered_or_not_needed(full_report):
    rows = {row["eq"]: row for row in full_report["coverage"]}
    assert set(rows) == set(range(19, 34)) | set(range(40, 77))
    assert full_report["coverage_missing"] == []
    for eq in (19, 46, 52, 53, 54, 55, 59, 61, 66, 74, 75, 76):  # the ones the issue found uncovered
        assert rows[eq]["status"] == "covered", eq
    assert rows[73]["status"] == "not needed" and rows[73]["reason"]


def test_stationarity_is_derived_not_assumed(all_results):
    prop1 = all_results["prop1"].derivations
    assert str(prop1["stationary-sigma2"].value) == "D*N*sigma^2"
    assert str(prop1["stationary-alpha2"].value) == "N*alpha^2[k]"
    prop3 = all_results["prop3"].derivations
    assert prop3["stationary-W"].value == 0 and prop3["stationary-M"].value == 0
    assert str(prop3["stationary-orbit"].value) == "N"


def test_prop2_central_inference_is_checked(all_results):
    result = all_results["prop2"]
    checks = {d["hypothesis"]: d for d in result.discharges if d["lemma"] == "prop1"}
    assert checks["stationary-alpha2"]["by"] == "stationary-orbit" and "check" in checks["stationary-alpha2"]
    assert {"first-layer-linear", "encoder-scaling"} <= set(result.hypotheses_used)


def test_prop3_uses_its_lemmas_and_the_m_direction_alone_suffices(all_results):
    lemmas = {lem.claim.name: lem for lem in all_results["prop3"].lemmas}
    assert {"prop3/dF-W", "prop3/dF-M", "prop3/derivative-59", "prop3/m-direction-alone"} <= set(lemmas)
    alone = lemmas["prop3/m-direction-alone"]
    assert alone.status == "PROVED" and alone.hypotheses_used.count("stationary-M") == 1
    assert "stationary-W" not in alone.hypotheses_used


def test_explicit_sizes_have_h_different_from_d():
    corA1 = load_claim("corA1")
    explicit = [lem for lem in corA1.lemmas if "explicit" in lem.name]
    assert len(explicit) >= 2
    for lem in explicit:
        hdim, dim = (int(v) for v in lem.name.split("-")[-1].split("x"))
        assert hdim != dim


def test_symbolic_sizes_are_distinct_symbols():
    assert H != D and H.is_Symbol and D.is_Symbol


def test_errata_carry_counterexamples_and_evidence(all_results):
    result = all_results["errata"]
    assert [s.step.eq for s in result.steps] == ["after 23", "39", "50", "60"]
    for s in result.steps:
        assert s.status == "PRINTED-WRONG" and s.counterexample and s.residual
        assert s.step.evidence and s.step.proof is not None
        d = s.to_dict()
        assert d["printed"]["text"] and d["corrected"]["latex"]
    table = next(s for s in result.steps if s.step.eq == "60")
    assert table.step.verdict == "erratum or transcription damage"


def test_errata_is_not_a_chain_but_lists_its_items():
    claim = load_claim("errata")
    assert isinstance(claim, ErrataClaim) and not isinstance(claim, Claim)
    assert [str(s) for s in claim.conclusion.rhs] == [e.eq for e in claim.steps]


def test_latex_parses_with_mathtext(all_results):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("agg")

    def walk(d):
        yield d["conclusion"]["latex"]
        for s in d["steps"]:
            if s["printed"]:
                yield s["printed"]["latex"]
                yield s["corrected"]["latex"]
        for lemma in d["lemmas"]:
            yield from walk(lemma)

    texts = [t for r in all_results.values() for t in walk(r.to_dict())]
    texts += [s["expression_latex"] for s in all_results["prop3"].to_dict()["steps"]]
    for latex in texts:
        parser.parse(f"${latex}$")
