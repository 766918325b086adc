"""Claim modules, one per claim of the paper; ``REGISTRY`` maps name -> module path, in order."""

from __future__ import annotations

import importlib

from proofs.chain import Claim, ErrataClaim

REGISTRY: dict[str, str] = {
    name: f"proofs.claims.{name}"
    for name in ("prop1", "prop2", "cor1", "corA1", "prop3", "cor2", "gap", "criterion", "errata")
}


def load_claim(name: str) -> Claim | ErrataClaim:
    """The ``CLAIM`` object of the named claim module (KeyError for unknown names)."""
    return importlib.import_module(REGISTRY[name]).CLAIM
