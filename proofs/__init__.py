"""SymPy proof checker for "The ELBO of VAEs converges to a sum of three entropies".

Public API (docs/interfaces.md)::

    proofs.CLAIM_NAMES                 # ordered tuple of claim names
    proofs.check_claims(names=None)    # -> list[ClaimResult]; ClaimResult.to_dict() is the JSON
"""

from __future__ import annotations

from proofs.claims import REGISTRY, load_claim
from proofs.engine import Claim, ClaimResult, Step, StepResult, check_claim, check_step

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


__all__ = ["CLAIM_NAMES", "check_claims", "Claim", "ClaimResult", "Step", "StepResult",
           "check_claim", "check_step"]
