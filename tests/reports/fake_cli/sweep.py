"""Fake `python -m numerics.sweep`: one fixture run per member under --out."""
import sys
from pathlib import Path

from tests.reports.conftest import write_run
from tests.reports.fake_cli import option, record

argv = sys.argv[1:]
record("sweep", argv)
out = Path(option(argv, "--out"))
for seed in range(int(option(argv, "--runs", "1"))):
    write_run(out / f"run-seed{seed:04d}", option(argv, "--model", "vae3"), seed=seed, protocol="paper",
              with_control=False, checkpoint=False)
sys.exit(0)
