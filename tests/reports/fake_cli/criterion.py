"""Fake `python -m numerics.criterion`: a fixture criterion study under --out."""
import sys
from pathlib import Path

from tests.reports.conftest import write_criterion_run
from tests.reports.fake_cli import option, record

argv = sys.argv[1:]
record("criterion", argv)
write_criterion_run(Path(option(argv, "--out")))
sys.exit(0)
