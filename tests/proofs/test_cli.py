"""The CLI: --list, --json, --verbose chains, usage errors (exit 2, no traceback), failing claims (exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sympy as sp

import proofs.check as cli
from proofs import CLAIM_NAMES
from proofs.chain import ByStrategy, Claim, chain
from proofs.engine import check_claim


def test_list(capsys):
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in CLAIM_NAMES)


def test_unknown_name_exits_2_with_valid_names(capsys):
    assert cli.main(["nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and all(name in err for name in CLAIM_NAMES)


def test_no_name_exits_2(capsys):
    assert cli.main([]) == 2


def test_unknown_name_subprocess_has_no_traceback():
    p = subprocess.run([sys.executable, "-m", "proofs.check", "nope"], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "prop1" in p.stderr


def test_json_output_has_chains_graph_axioms_and_coverage(capsys, all_results):
    assert cli.main(["cor1", "prop2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in data["claims"]] == ["cor1", "prop2"]
    assert data["status"] == "PROVED" and isinstance(data["seconds"], float)
    assert data["dependency_graph"] == {"cor1": ["prop2"], "prop2": ["prop1"]}
    assert {"axioms", "coverage", "coverage_missing"} <= set(data)
    cor1 = data["claims"][0]
    assert cor1["start"] == "F" and cor1["conclusion"]["eq"] == "33"
    assert [s["by"]["kind"] for s in cor1["steps"]] == ["definition", "definition", "lemma", "strategy"]


def test_verbose_shows_the_chain_hypotheses_and_axioms(capsys, all_results):
    assert cli.main(["corA1", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "  = " in out and "(by axiom lucas" in out and "(by claim cor1" in out
    assert "conclusion (Eq. 44)" in out and "axiom lucas" in out and "hypothesis stationary-T" in out


def test_failing_claim_exits_1(monkeypatch, capsys):
    a = sp.Symbol("a", positive=True)
    bad = Claim("bad", "a false claim", chain(sp.log(2 * a), (2 * sp.log(a), ByStrategy(), "0")),
                sp.Eq(sp.log(2 * a), 2 * sp.log(a), evaluate=False))
    monkeypatch.setattr(cli, "check_claims", lambda names: [check_claim(bad)])
    assert cli.main(["prop1"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_unknown_option_is_one_line_without_usage_block(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "unrecognized arguments: --bogus" in err
