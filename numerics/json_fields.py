"""What config.json and summary.json must hold for the kit to read them: types and ranges per key.

A run directory from elsewhere may hold anything. `check_fields` turns a wrong type or value into one
line naming the file and the key (`RunDirError`), before any of it reaches a model constructor or an
index: "config.json: 'latent_dim' must be an integer from 1 to 65536, got '2'" instead of a
TypeError three calls later, or an allocation of 10^8 latent dimensions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from numerics import limits
from numerics.rundir_files import RunDirError


@dataclass(frozen=True)
class Field:
    """What one key of a JSON object must hold: `test(value)` true, described by `expected`;
    `required`: the key must be present."""

    test: Callable[[Any], bool]
    expected: str
    required: bool = True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _or_null(field: Field, nullable: bool, required: bool) -> Field:
    if not nullable:
        return Field(field.test, field.expected, required)
    return Field(lambda v: v is None or field.test(v), field.expected + " or null", required)


def choice(values: Iterable[str], *, nullable: bool = False, required: bool = True) -> Field:
    values = tuple(values)
    return _or_null(Field(lambda v: isinstance(v, str) and v in values, "one of " + ", ".join(values)),
                    nullable, required)


def integer(bound: limits.Bound, *, nullable: bool = False, required: bool = True) -> Field:
    return _or_null(Field(lambda v: _is_int(v) and bound.admits(v), f"an integer from {bound.describe()}"),
                    nullable, required)


def text(*, nullable: bool = False, required: bool = True) -> Field:
    return _or_null(Field(lambda v: isinstance(v, str), "a string"), nullable, required)


def number(*, required: bool = False) -> Field:
    """A finite number or null (the kit writes non-finite values as null)."""
    return _or_null(Field(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
                          "a finite number"), True, required)


def widths() -> Field:
    """Hidden-layer widths: a list of at most MAX_LAYERS integers in the --hidden range."""
    bound = limits.BOUNDS["--hidden"]
    return Field(lambda v: isinstance(v, list) and len(v) <= limits.MAX_LAYERS
                 and all(_is_int(h) and bound.admits(h) for h in v),
                 f"a list of integers from {bound.describe()} (at most {limits.MAX_LAYERS})")


def objects() -> Field:
    return Field(lambda v: isinstance(v, list) and all(isinstance(c, dict) for c in v), "a list of objects",
                 required=False)


def check_fields(obj: Mapping[str, Any], fields: Mapping[str, Field], where: Path | str) -> None:
    """RunDirError (one line naming `where` and the key) unless every field of `fields` holds in `obj`."""
    for key, spec in fields.items():
        if key not in obj:
            if spec.required:
                raise RunDirError(f"{where}: no '{key}' (expected {spec.expected})")
            continue
        if not spec.test(obj[key]):
            shown = repr(obj[key])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise RunDirError(f"{where}: '{key}' must be {spec.expected}, got {shown}")


def _run_fields() -> dict[str, Field]:
    from numerics.data import DATA_NAMES
    from numerics.links import LINKS
    from numerics.models import MODEL_KINDS
    from numerics.protocols import DTYPES

    bound = limits.BOUNDS
    return {"model": choice(MODEL_KINDS), "dtype": choice(DTYPES), "data": choice(DATA_NAMES),
            "data_dir": text(nullable=True, required=False), "seed": integer(bound["--seed"]),
            "n_train": integer(bound["--n-train"], nullable=True, required=False),
            "n_test": integer(bound["--n-test"], nullable=True, required=False),
            "latent_dim": integer(bound["--latent-dim"]), "hidden": widths(),
            "enc_link": choice(LINKS), "dec_link": choice(LINKS)}


def _summary_fields() -> dict[str, Field]:
    from numerics.verdict import STATUSES

    numbers = ("elbo", "elbo_se", "entropy_sum", "gap", "gap_se", "rel_gap", "tolerance", "seconds")
    return {"status": choice(STATUSES), "reason": text(nullable=True, required=False),
            **{key: number() for key in numbers}, "checks": objects()}


RUN_FIELDS: dict[str, Field] = _run_fields()
"""The keys of config.json that rebuild a run's model and data (`numerics.rundir.load_run`); verify and
sweep configs hold more, checked where they are read."""
SUMMARY_FIELDS: dict[str, Field] = _summary_fields()
"""The keys of summary.json that readers rely on (types only; judging a verdict is the reader's job)."""
