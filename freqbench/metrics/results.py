"""What a metric may hand back: plain, finite JSON numbers of bounded size that satisfy its schema.

Every result passes through :func:`checked_result` before the evaluator sees it, so a
metric (a plugin above all) that returns a numpy scalar where a dict belongs, NaN where its
declaration allows none, or a million numbers, fails its own block with a message that says
what to change, and never reaches a record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from freqbench.metrics.spec import MetricResult, MetricSpec
from freqbench.schemas import problems, validator

#: The largest block a record takes (a block's JSON text); arrays belong in artifacts.
MAX_BLOCK_BYTES = 256 * 1024


class ResultError(ValueError):
    """A metric's result that cannot enter a record; the message says why."""


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON-ready Python (numpy scalars and tuples converted), or ResultError."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        keys = [k for k in value if not isinstance(k, str)]
        if keys:
            raise ResultError(f"{where}: keys must be strings, got {keys[0]!r}")
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    item = getattr(value, "item", None)  # a numpy or torch scalar
    if callable(item) and getattr(value, "ndim", None) == 0:
        return _plain(item(), where)
    raise ResultError(
        f"{where}: a {type(value).__name__} is not a JSON number, string, list or object "
        "(arrays go in MetricResult.arrays, written as artifacts)"
    )


def _non_finite(value: Any, where: str, nan_allowed: bool) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None if nan_allowed and math.isnan(value) else where
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        found = _non_finite(
            child, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]", nan_allowed
        )
        if found:
            return found
    return None


def checked_result(spec: MetricSpec, result: Any, *, schema: bool = True) -> MetricResult:
    """``result`` (a MetricResult or a dict of numbers) made JSON-ready and checked against
    ``spec``: finite (NaN only where ``spec.nan_allowed``), at most :data:`MAX_BLOCK_BYTES`,
    and valid under its schema (``schema=False`` for one shard's part, which only its merge
    makes a whole block). Anything else is a ResultError."""
    if isinstance(result, MetricResult):
        values, arrays = result.values, result.arrays
    elif isinstance(result, Mapping):
        values, arrays = result, {}
    else:
        raise ResultError(
            f"returned {'None' if result is None else 'a ' + type(result).__name__}; a metric "
            "returns a MetricResult or a dict of numbers"
        )
    if not isinstance(values, Mapping):
        raise ResultError(f"MetricResult.values is a {type(values).__name__}, not a dict")
    if not isinstance(arrays, Mapping):
        raise ResultError(f"MetricResult.arrays is a {type(arrays).__name__}, not a dict")
    block = _plain(values, spec.name)
    bad = _non_finite(block, spec.name, spec.nan_allowed)
    if bad:
        allowed = (
            "" if spec.nan_allowed else " (NaN is allowed only where the spec sets nan_allowed)"
        )
        raise ResultError(f"{bad}: not a finite number{allowed}")
    size = len(json.dumps(block, allow_nan=True))
    if size > MAX_BLOCK_BYTES:
        raise ResultError(
            f"its block would be {size:,} bytes of JSON, more than {MAX_BLOCK_BYTES:,}: return "
            "large arrays in MetricResult.arrays and declare an Artifact for them"
        )
    found = problems(validator(spec.block_schema()), block) if schema else []
    if found:
        raise ResultError("its block breaks its own schema: " + "; ".join(found[:3]))
    return MetricResult(block, dict(arrays))
