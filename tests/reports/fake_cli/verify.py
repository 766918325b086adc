"""Fake `python -m numerics.verify`: writes a fixture run directory (or resumes one)."""
import os
import sys
from pathlib import Path

from tests.reports.conftest import write_run
from tests.reports.fake_cli import exit_code_for, option, record

argv = sys.argv[1:]
record("verify", argv)
out = Path(option(argv, "--out") or option(argv, "--resume"))
model = option(argv, "--model") or "vae3"
code = exit_code_for(model)
if code == 0:
    write_run(out, model, seed=int(option(argv, "--seed", "0")), checkpoint=bool(os.environ.get("FAKE_CHECKPOINT")))
sys.exit(code)
