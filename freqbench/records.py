"""Evaluation records (``leaderboards/<dataset>/<name>.json``): reading and checking them.

A record is what the evaluator writes and the leaderboard reads (the format:
:mod:`freqbench.evaluate.record`; a first-format record is migrated on read). Beyond the
schema, a record must be internally consistent: RobustBench's ``model_info`` percentages repeat
the metric fractions their columns name, every block has its evaluation entry and the protocol
fields it read, and only metrics that say so may hold NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from freqbench.errors import UserError
from freqbench.evaluate.record import LEGACY_FORMAT, migrate, read_json, spec_or_none
from freqbench.metrics import all_metrics
from freqbench.protocol import all_fields
from freqbench.schemas import key_path, load_schema, problems, schema_problems, validator

#: How far a model_info percentage may sit from 100 x its fraction (the evaluator rounds to 2 decimals).
_PERCENT_TOLERANCE = 0.01


def dig(data: Any, *keys: Any) -> Any:
    """``data[k0][k1]...`` or None where any level is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


@dataclass(frozen=True)
class Record:
    """A record's data and its file; artifacts are named relative to the file's folder."""

    data: dict[str, Any]
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def dataset(self) -> str:
        return self.data["dataset"]

    def get(self, *keys: Any) -> Any:
        return dig(self.data, *keys)

    def block(self, metric: str) -> dict[str, Any] | None:
        return self.get("metrics", metric)

    def artifact(self, key: str) -> Path | None:
        """The artifact file when the record names one and it exists beside the record."""
        name = self.get("artifacts", key)
        if not name or self.path is None:
            return None
        file = self.path.parent / name
        return file if file.is_file() else None


@cache
def record_schema() -> dict[str, Any]:
    """The record schema, its ``protocol`` and ``metrics`` filled in from the registered metrics."""
    schema = load_schema("record")
    protocol = schema["properties"]["protocol"]
    metrics = schema["properties"]["metrics"]
    return {
        **schema,
        "properties": {
            **schema["properties"],
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


def _non_finite(data: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, float) and not math.isfinite(data):
        yield where
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite(value, (*where, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _non_finite(value, (*where, i))


def _nan_allowed(where: tuple[Any, ...]) -> bool:
    if len(where) < 2 or where[0] != "metrics":
        return False
    spec = spec_or_none(where[1])
    return spec is not None and spec.nan_allowed


def _consistency_problems(data: dict[str, Any]) -> list[str]:
    problems_found = []
    for key, other in (("name", ("name",)), ("dataset", ("dataset",))):
        if dig(data, "model_info", key) != data[key]:
            problems_found.append(
                f"model_info.{key}: '{dig(data, 'model_info', key)}' differs from {key_path(other)}"
            )
    if dig(data, "model_info", "architecture") != dig(data, "model", "architecture"):
        problems_found.append("model_info.architecture: differs from model.architecture")
    if set(data["metrics"]) != set(data["evaluations"]):
        problems_found.append(
            "evaluations: must name exactly the metrics of the record "
            f"({', '.join(sorted(data['metrics']))}), names {', '.join(sorted(data['evaluations']))}"
        )
    for name in data["metrics"]:
        spec = spec_or_none(name)
        for field_name in spec.reads if spec else ():
            if field_name not in data["protocol"]:
                problems_found.append(f"protocol.{field_name}: missing (metrics.{name} reads it)")
        for column in spec.columns if spec else ():
            if not column.model_info:
                continue
            percent, fraction = (
                dig(data, "model_info", column.model_info),
                column.value(data["metrics"][name]),
            )
            if fraction is not None and (
                percent is None or abs(percent - 100 * fraction) > _PERCENT_TOLERANCE
            ):
                problems_found.append(
                    f"model_info.{column.model_info}: is {percent}, but metrics.{name}."
                    f"{'.'.join(column.path)} is {fraction} (expected {100 * fraction:.2f})"
                )
    for spec in all_metrics():
        for column in spec.columns:
            key = column.model_info
            if (
                key
                and spec.name not in data["metrics"]
                and dig(data, "model_info", key) is not None
            ):
                problems_found.append(
                    f"model_info.{key}: is {dig(data, 'model_info', key)} but metrics.{spec.name} "
                    "is missing"
                )
    return problems_found


def content_problems(data: dict[str, Any]) -> list[str]:
    """NaN and consistency problems of a record that satisfies the schema."""
    found = [
        f"{key_path(where)}: not a finite number (NaN is allowed only in blocks of metrics that "
        "mark a statistic without meaning so, like metrics.filters)"
        for where in _non_finite(data)
        if not _nan_allowed(where)
    ]
    return found + _consistency_problems(data)


def schema_problems_of(data: Any) -> list[str]:
    """Every way a parsed record breaks its schema; a first-format record is checked against
    its own schema, then migrated and checked against the current one."""
    if isinstance(data, dict) and data.get("format") == LEGACY_FORMAT:
        return schema_problems("record-v1", data) or problems(_record_validator(), migrate(data))
    return problems(_record_validator(), data)


def record_problems(data: Any) -> list[str]:
    """Every schema, NaN and consistency problem of a parsed record, as ``key: problem`` lines.

    Content is checked only once the schema holds: it would otherwise repeat the same gaps.
    """
    return schema_problems_of(data) or content_problems(migrate(data))


def load_record(path: str | Path) -> Record:
    """Read and check one record (migrated when in the first format); a UserError names the
    file and every problem."""
    path = Path(path)
    data = read_json(path)
    found = record_problems(data)
    if found:
        raise UserError(f"{path}: " + "; ".join(found))
    return Record(migrate(data), path)


def record_files(folder: Path) -> list[Path]:
    """The records of one dataset folder: its JSON files, minus hidden ones (resume states,
    half-written temporary files)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def load_records(folder: str | Path) -> list[Record]:
    """Every record in ``folder``, checked; an empty or missing folder is a UserError."""
    folder = Path(folder)
    files = record_files(folder)
    if not files:
        why = "does not exist" if not folder.is_dir() else "holds no records (*.json)"
        raise UserError(
            f"{folder} {why}: evaluate a model into it first, e.g. `freqbench submit "
            f"model_zoo/{folder.name}/<name>.toml`"
        )
    return [load_record(f) for f in files]


def dataset_folders(records_dir: str | Path) -> list[Path]:
    """The dataset folders of ``records_dir`` that hold at least one record."""
    root = Path(records_dir)
    if not root.is_dir():
        return []
    return [p for p in sorted(root.iterdir()) if p.is_dir() and record_files(p)]


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it: shorter, and clickable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
