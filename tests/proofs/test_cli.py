"""The CLI: --list, --json, usage errors (exit 2, no traceback) and failing claims (exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sympy as sp

import proofs.check as cli
from proofs import CLAIM_NAMES
from proofs.engine import Claim, Step, check_claim


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


def test_json_output(capsys):
    assert cli.main(["cor1", "prop2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in data["claims"]] == ["cor1", "prop2"]
    assert data["status"] == "PROVED" and isinstance(data["seconds"], float)
    assert all(s["status"] == "PROVED" for c in data["claims"] for s in c["steps"])


def test_verbose_lists_steps(capsys):
    assert cli.main(["cor1", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "Eq. 33" in out and "PROVED" in out


def test_failing_claim_exits_1(monkeypatch, capsys):
    a = sp.Symbol("a", positive=True)
    bad = Claim("bad", "a false claim", {}, (Step("0", sp.log(2 * a), 2 * sp.log(a), "wrong"),))
    monkeypatch.setattr(cli, "check_claims", lambda names: [check_claim(bad)])
    assert cli.main(["prop1"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_unknown_option_is_one_line_without_usage_block(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "unrecognized arguments: --bogus" in err
