"""SymPy proof checker for "The ELBO of VAEs converges to a sum of three entropies".

Public API (docs/interfaces.md)::

    proofs.CLAIM_NAMES                 # ordered tuple of claim names
    proofs.check_claims(names=None)    # -> list[ClaimResult]; ClaimResult.to_dict() is the JSON
    proofs.check_claim(claim)          # one claim object, e.g. proofs.claims.prop3.CLAIM
    proofs.report(results)             # the whole JSON: claims, dependency graph, axioms, coverage
"""

from __future__ import annotations

from proofs.chain import Claim, ErrataClaim, Step
from proofs.claims import REGISTRY, load_claim
from proofs.engine import ClaimResult, StepResult, check_claim
from proofs.summary import report

CLAIM_NAMES: tuple[str, ...] = tuple(REGISTRY)


def check_claims(names: list[str] | None = None) -> list[ClaimResult]:
    """Check the named claims (all when None), in the given order.

    Raises KeyError naming the unknown claim if a name is not in CLAIM_NAMES.
    """
    names = list(CLAIM_NAMES) if names is None else list(names)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown claim(s) {', '.join(unknown)}; valid: {', '.join(CLAIM_NAMES)}")
    return [check_claim(load_claim(n)) for n in names]


__all__ = ["CLAIM_NAMES", "check_claims", "check_claim", "report", "Claim", "ErrataClaim", "ClaimResult",
           "Step", "StepResult"]
