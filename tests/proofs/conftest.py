"""Shared fixtures: every claim is checked once per test session (about 15 s of CPU)."""

from __future__ import annotations

import pytest

from proofs import check_claims, report


@pytest.fixture(scope="session")
def all_results():
    return {r.claim.name: r for r in check_claims()}


@pytest.fixture(scope="session")
def full_report(all_results):
    return report(list(all_results.values()), 1.0)
