"""One finished block into a record: the merge, as one call that takes the run's decisions.

The evaluator decides what runs; what a finished block does to the record as it is on disk
now (another run may have written it meanwhile) is decided here, in one place: blocks the
record cannot justify are dropped, a kept block read with other protocol settings is refused
(or given way, when this run re-runs it), a block another run rewrote since this one planned
is refused rather than overwritten, and protocol and ``model_info`` follow the blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqbench.errors import UserError
from freqbench.metrics import MetricSpec
from freqbench.records.builder import (
    drop_block,
    drop_unjustified,
    metric_names,
    put_block,
    restate,
    stored_evaluation,
    stored_protocol,
)
from freqbench.records.format import spec_or_none


@dataclass(frozen=True)
class RunState:
    """What a run knows when it merges: its protocol and model, the blocks it still runs, and
    the keys it planned over (to see a block another run wrote meanwhile)."""

    path: Path | None
    protocol: Mapping[str, Any]
    description: dict[str, Any]
    listed: dict[str, Any]
    keys: Mapping[str, str]
    planned_over: Mapping[str, str | None] = field(default_factory=dict)
    pending: frozenset[str] = frozenset()  # re-run by this run and not finished yet


@dataclass(frozen=True)
class FinishedBlock:
    spec: MetricSpec
    block: dict[str, Any]
    files: dict[str, str]
    evaluation: dict[str, Any]


def protocol_conflict(
    path: Path | None,
    kept: str,
    kept_protocol: Mapping[str, Any],
    protocol: Mapping[str, Any],
    running: Sequence[MetricSpec],
) -> str | None:
    """Why the kept block ``kept`` (evaluated with ``kept_protocol``) cannot share a record
    with blocks of ``running`` evaluated with ``protocol``; None when they agree on every
    field both read."""
    spec = spec_or_none(kept)
    for other in running:
        for f in sorted(set(spec.reads if spec else ()) & set(other.reads)):
            if kept_protocol.get(f) != protocol[f]:
                return (
                    f"{path}: its {kept} block was evaluated with {f} = {kept_protocol.get(f)}, "
                    f"and this run of {other.name} uses {protocol[f]}; a record holds one "
                    f"protocol. Re-run both (--metrics {kept},{other.name}), or write another "
                    "record (--name or --out)"
                )
    return None


def merge_block(
    record: dict[str, Any], run: RunState, finished: FinishedBlock | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``record`` with ``finished`` put in (or, when None, only the model description
    restated), and the blocks it dropped as unjustified, with why."""
    folder = run.path.parent if run.path is not None else None
    spec = finished.spec if finished is not None else None
    dropped = drop_unjustified(record, folder, getattr(spec, "name", None))
    kept = stored_protocol(record)
    if finished is None:
        fields = {**run.protocol, **kept}
    else:
        for name in metric_names(record):
            conflict = name != spec.name and protocol_conflict(
                run.path, name, kept, run.protocol, [spec]
            )
            if conflict and name in run.pending:  # this run replaces it: its old block goes
                drop_block(record, name)
            elif conflict:
                raise UserError(f"{conflict} (written by another run meanwhile)")
        _check_not_overtaken(record, run, spec)
        fields = {**run.protocol, **{f: v for f, v in kept.items() if f not in spec.reads}}
        put_block(record, spec.name, finished.block, finished.evaluation, finished.files)
    restate(record, run.description, fields, run.listed, kept)
    return record, dropped


def _check_not_overtaken(record: dict[str, Any], run: RunState, spec: MetricSpec) -> None:
    """Refuse to replace a block of ``spec`` that another run wrote since this one was
    planned, with other settings: the two runs disagree, and neither may win silently."""
    stored = stored_evaluation(record, spec.name) or {}
    key = stored.get("key")
    if key is None or key in (run.planned_over.get(spec.name), run.keys[spec.name]):
        return
    protocol = stored_protocol(record)
    changes = [
        f"{f} = {protocol.get(f)} there and {run.protocol.get(f)} here"
        for f in spec.reads
        if protocol.get(f) != run.protocol.get(f)
    ]
    if stored.get("version") != spec.version:
        changes.append(f"version {stored.get('version')} there and {spec.version} here")
    raise UserError(
        f"{run.path}: another run wrote its {spec.name} block meanwhile with other settings "
        f"({'; '.join(changes) or 'another key'}); this run's block is not written. Run "
        "again to replace it on purpose, or write another record (--name or --out)"
    )
