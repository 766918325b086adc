"""numerics.criterion: the stationary gap of a covered (exp) and an uncovered (softplus-std) decoder link."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from numerics import criterion, estimators
from numerics.data import load_data
from numerics.models import build_model


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("criterion") / "out"
    code = criterion.main(["--out", str(out), "--n-train", "200", "--links", "exp,softplus-std,softplus"])
    return code, json.loads((out / "summary.json").read_text()), out


def test_covered_link_has_zero_gap_and_the_authors_link_does_not(study):
    code, summary, _ = study
    assert code == 0 and summary["status"] == "PASS" and summary["claim"] == "criterion"
    exp, *uncovered = summary["cases"]
    assert exp["dec_link"] == "exp" and exp["covered"] and exp["stationary"]
    assert abs(exp["gap"]) <= exp["tolerance"] < 1e-8
    assert [case["dec_link"] for case in uncovered] == ["softplus-std", "softplus"]
    for case in uncovered:
        assert not case["covered"] and case["stationary"] and abs(case["gap"]) > 1e-4
        # the nonzero gap is the decoder residual: the prior orbits exist and are stationary
        assert case["gap"] == pytest.approx(case["residual_decoder"], abs=case["tolerance"])


def test_the_check_fails_when_coverage_is_misjudged(study):
    _, summary, _ = study
    cases = [criterion.StationaryGap(**{k: v for k, v in case.items()
                                        if k in {f.name for f in dataclasses.fields(criterion.StationaryGap)}})
             for case in summary["cases"]]
    exp, softplus_std, _ = cases
    assert exp.check()[0] == "PASS" and softplus_std.check()[0] == "PASS"
    assert dataclasses.replace(softplus_std, covered=True).check()[0] == "FAIL"
    assert dataclasses.replace(exp, covered=False).check()[0] == "FAIL"
    assert dataclasses.replace(exp, grad_norm=1e-3).check()[0] == "NOT-CONVERGED"
    assert criterion.summarise([exp, dataclasses.replace(exp, covered=False)], 1.0)["status"] == "FAIL"


def test_the_bound_holds_at_any_parameter_value():
    """|F - S| <= |grad F| sum_o |v_o| + round-off for a covered model far from stationarity: the gap
    identity with exact orbit tangents (a wrong tangent or residual breaks it)."""
    x = load_data("ring", n_train=100, n_test=0).x_train.double() * criterion.SCALE
    model = build_model("vae3", 10, 2, hidden=(), generator=torch.Generator().manual_seed(3))
    case = criterion.measure(model, x, estimators.gauss_hermite_design(criterion.GH_NODES, 2), 0.0)
    assert case.covered and not case.stationary
    assert 0 < abs(case.gap) <= case.tolerance


@pytest.mark.parametrize("argv", [["--links", "nope"], ["--n-train", "3"], ["--n-train", "1e9"], ["--seed", "-1"],
                                  ["--seed", "nan"], ["--links", "exp\nsoftplus"]])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, argv):
    try:
        code = criterion.main(["--out", str(tmp_path / "o"), *argv])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_an_occupied_out_folder_is_refused(study, capsys):
    _, _, out = study
    assert criterion.main(["--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    (out.parent / "afile").write_text("x")
    assert criterion.main(["--out", str(out.parent / "afile")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]
