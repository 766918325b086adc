"""The README's commands and its library example stay true (CI runs the README's test line)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
CI_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "run"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```") + 1: lines.index("```") + 3]
    assert block[0].endswith("python -m reports.build --out report")
    assert block[1].endswith("python -m pytest -q")
    assert "grep -m1 -E '^python3 -m venv .*pytest' README.md" in CI_SCRIPT.read_text()


def test_readme_library_example_runs_and_its_identity_holds():
    (example,) = _python_blocks(README.read_text())
    check = example + "\nassert abs(float(ev.gap - (ev.residual_decoder + 0.5 * ev.residual_prior.sum()))) < 1e-12\n"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300,
                            cwd=README.parent)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_broken_example_would_fail():
    """Twin: the same harness reports a wrong identity as a failure."""
    (example,) = _python_blocks(README.read_text())
    check = example + "\nassert abs(float(ev.gap - ev.residual_decoder)) < 1e-12\n"  # drops the prior part
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300,
                            cwd=README.parent)
    assert result.returncode != 0 and "AssertionError" in result.stderr
