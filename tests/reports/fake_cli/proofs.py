"""Fake `python -m proofs.check all --json`: the fixture proofs result on stdout."""
import json
import sys

from tests.reports.conftest import proofs_result
from tests.reports.fake_cli import record

record("proofs", sys.argv[1:])
print(json.dumps(proofs_result()))
