"""What a record's content justifies: the checks shared by the evaluator, ``validate`` and the
leaderboard, so that all three trust the same blocks.

A record is reviewed in two parts. Its frame (format, name, dataset, model, protocol, the
shape of ``metrics`` and ``evaluations``) must hold, or nothing in it can be used. Each block
is justified on its own: it satisfies its metric's schema and holds finite numbers (NaN only
where the metric allows it), its ``evaluations`` entry exists, its stored key equals the key
recomputed from the record's own checkpoint and protocol, the ``model_info`` percentages of
its columns repeat its numbers, and its image counts fit the protocol and the dataset. The
evaluator re-runs a block that is not justified (and says why); ``validate`` and the
leaderboard report every problem.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from freqbench.data import get_dataset_info
from freqbench.errors import UnknownNameError
from freqbench.metrics import MetricSpec, all_metrics
from freqbench.protocol import all_fields, block_key
from freqbench.records.format import FIRST_FORMAT, migrate, model_id, spec_or_none
from freqbench.schemas import key_path, load_schema, located_problems, validator
from freqbench.threat_models import threat_models

#: How far a model_info percentage may sit from 100 x its fraction (the evaluator rounds to 2 decimals).
PERCENT_TOLERANCE = 0.01
#: Parts of a record made from its blocks: damage there is the block's, not the record's.
BLOCK_PARTS = ("metrics", "evaluations")


@cache
def record_schema() -> dict[str, Any]:
    """The record schema, its ``protocol`` and ``metrics`` filled in from the registered
    metrics, the threat model of its ``model_info`` from the threat-model cards."""
    schema = load_schema("record")
    protocol = schema["properties"]["protocol"]
    metrics = schema["properties"]["metrics"]
    info = schema["properties"]["model_info"]
    threat_model = {"enum": [card.name for card in threat_models()]}
    return {
        **schema,
        "properties": {
            **schema["properties"],
            "model_info": {
                **info,
                "properties": {**info["properties"], "threat_model": threat_model},
            },
            "protocol": {
                **protocol,
                "properties": {
                    **protocol["properties"],
                    **{name: f.json_schema() for name, f in all_fields().items()},
                },
            },
            "metrics": {
                **metrics,
                "properties": {spec.name: spec.block_schema() for spec in all_metrics()},
            },
        },
    }


@cache
def _record_validator():
    return validator(record_schema())


@cache
def _legacy_validator():
    return validator(load_schema("record-v1"))


@dataclass(frozen=True)
class Review:
    """A record's data in the current format and what is wrong with it, by part."""

    data: Any
    frame: list[str] = field(default_factory=list)  # the record as a whole cannot be used
    blocks: dict[str, list[str]] = field(default_factory=dict)  # per metric block
    derived: list[str] = field(default_factory=list)  # model_info lines no block explains

    @property
    def usable(self) -> bool:
        return not self.frame

    def justified(self, metric: str) -> bool:
        """The block is in the record and nothing speaks against reusing it."""
        return self.usable and metric in self.data["metrics"] and not self.blocks.get(metric)

    def why_not(self, metric: str) -> str:
        """The first reason the block cannot be reused, for a one-line message."""
        found = self.frame or self.blocks.get(metric) or []
        return found[0] if found else ""

    @property
    def problems(self) -> list[str]:
        """Every problem, record-wide ones first, then block by block."""
        blocks = [line for name in sorted(self.blocks) for line in self.blocks[name]]
        return [*self.frame, *blocks, *self.derived]


def review(raw: Any) -> Review:
    """Review a parsed record file (either format); never raises on any JSON content."""
    if not isinstance(raw, dict):
        return Review(raw, [f"(top level): must be a JSON object, got {_type(raw)}"])
    if raw.get("format") == FIRST_FORMAT:
        legacy = [f"{key_path(w)}: {t}" for w, t in located_problems(_legacy_validator(), raw)]
        if legacy:
            return Review(raw, sorted(legacy))
    data = migrate(raw)
    result = Review(data)
    for where, text in located_problems(_record_validator(), data):
        line = f"{key_path(where)}: {text}"
        if len(where) >= 2 and where[0] in BLOCK_PARTS:
            result.blocks.setdefault(str(where[1]), []).append(line)
        elif len(where) >= 2 and where[0] == "model_info":
            result.derived.append(line)
        else:
            result.frame.append(line)
    if result.frame:
        return result
    result.frame.extend(_frame_content(data))
    if result.frame:
        return result
    for name in sorted(set(data["metrics"]) | set(data["evaluations"])):
        if name not in result.blocks:
            found = _block_problems(data, name)
            if found:
                result.blocks[name] = found
    result.derived.extend(_derived_problems(data, result.blocks))
    return result


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _non_finite(data: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    stack = [(data, where)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            yield at
        elif isinstance(value, dict):
            stack += [(v, (*at, k)) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, (*at, i)) for i, v in enumerate(value)]


def _test_size(dataset: str) -> int | None:
    try:
        return get_dataset_info(dataset).test_size
    except UnknownNameError:
        return None


def _frame_content(data: dict[str, Any]) -> list[str]:
    """Problems of the frame past its schema: numbers outside blocks, and counts of images
    larger than the dataset's test split."""
    found = [
        f"{key_path(where)}: not a finite number"
        for part in ("model", "protocol")
        for where in _non_finite(data[part], (part,))
    ]
    size, fields = _test_size(data["dataset"]), all_fields()
    for name, value in data["protocol"].items():
        declared = fields.get(name)
        counted = declared is not None and declared.count and isinstance(value, int)
        if counted and size is not None and value > size:
            found.append(
                f"protocol.{name}: {value} is more than the {size} test images of {data['dataset']}"
            )
    return found


def _block_problems(data: dict[str, Any], name: str) -> list[str]:
    """Why block ``name`` (schema-valid) cannot be trusted: see the module docstring."""
    block, evaluation = data["metrics"].get(name), data["evaluations"].get(name)
    if block is None:
        return [f"evaluations.{name}: describes a block that metrics lacks"]
    if evaluation is None:
        return [f"metrics.{name}: has no evaluations entry: nothing says how it was computed"]
    spec = spec_or_none(name)
    if spec is None:  # a plugin that is not installed here: its block is kept as it is
        return []
    found = [
        f"{key_path(where)}: not a finite number (NaN is allowed only in blocks of metrics "
        "that mark a statistic without meaning so, like metrics.filters)"
        for where in _non_finite(block, ("metrics", name))
        if not (spec.nan_allowed and math.isnan(_at(block, where[2:])))
    ]
    missing = [f for f in spec.reads if f not in data["protocol"]]
    found += [f"protocol.{f}: missing (metrics.{name} reads it)" for f in missing]
    if not missing:
        key = block_key(
            model_id(data), data["dataset"], spec, data["protocol"], evaluation["version"]
        )
        if evaluation["key"] != key:
            found.append(
                f"evaluations.{name}.key: differs from the key of the record's own checkpoint "
                "and protocol: the block was computed for other settings"
            )
    return found + _column_problems(data, spec, block) + _own_problems(spec, block)


def _own_problems(spec: MetricSpec, block: Mapping) -> list[str]:
    """What the metric's own ``check`` finds (counts over n), located in the record."""
    if spec.check is None:
        return []
    try:
        found = spec.check(block)
    except Exception as exc:  # a plugin's check that fails on a block it did not expect
        return [
            f"metrics.{spec.name}: its metric's check failed on it ({type(exc).__name__}: {exc})"
        ]
    return [f"metrics.{spec.name}.{line}" for line in found]


def _at(data: Any, where: tuple[Any, ...]) -> Any:
    for key in where:
        data = data[key]
    return data


def _column_problems(data: dict[str, Any], spec: MetricSpec, block: Mapping) -> list[str]:
    """The block's numbers as its columns read them: repeated in model_info, counted within
    the protocol's images."""
    found = []
    images = data["protocol"].get(spec.images) if spec.images else None
    for column in spec.presentation.columns:
        fraction = column.value(block)
        if column.model_info and fraction is not None:
            percent = data["model_info"].get(column.model_info)
            if not _number(percent) or abs(percent - 100 * fraction) > PERCENT_TOLERANCE:
                found.append(
                    f"model_info.{column.model_info}: is {percent}, but metrics.{spec.name}."
                    f"{'.'.join(column.path)} is {fraction} (expected {100 * fraction:.2f})"
                )
        count = _at_path(block, column.count)
        if column.count and _number(count) and _number(images) and count > images:
            found.append(
                f"metrics.{spec.name}.{'.'.join(column.count)}: {count} images, more than the "
                f"{images} of protocol.{spec.images}"
            )
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _at_path(block: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(block, Mapping) or key not in block:
            return None
        block = block[key]
    return block if path else None


def _derived_problems(data: dict[str, Any], blocks: Mapping[str, list[str]]) -> list[str]:
    """model_info lines that disagree with the rest of the record and no block explains."""
    info = data["model_info"]
    found = [
        f"model_info.{key}: '{info.get(key)}' differs from {where}"
        for key, where, value in (
            ("name", "name", data["name"]),
            ("dataset", "dataset", data["dataset"]),
            ("architecture", "model.architecture", data["model"]["architecture"]),
        )
        if info.get(key) != value
    ]
    for spec in all_metrics():
        for column in spec.presentation.columns:
            key = column.model_info
            if key and spec.name not in data["metrics"] and info.get(key) is not None:
                found.append(f"model_info.{key}: is {info[key]} but metrics.{spec.name} is missing")
    return found


def record_problems(data: Any) -> list[str]:
    """Every problem of a parsed record, as ``key: problem`` lines (empty: it can be trusted)."""
    return review(data).problems
