"""The driver's side of one record: which blocks to run, as tasks, and the merge of results.

A :class:`RecordPlan` compares the record on disk with what a run asks for (a block runs when
it is missing, its key differs, or ``force`` names it), turns each such block into one task
per shard, and, as results come back, merges a block once all its shards are in and writes
the record atomically, artifacts first. Only the driver holds plans: workers never write
records.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.evaluate.record import (
    RECORD_FORMAT,
    model_id,
    model_info,
    ordered,
    protocol_of,
    read_record_data,
    spec_or_none,
)
from freqbench.evaluate.tasks import BlockResult, BlockTask
from freqbench.metrics import MetricResult, MetricSpec
from freqbench.protocol import block_key
from freqbench.registry import load_object

if TYPE_CHECKING:
    from freqbench.loading import LoadedModel, ModelRef


@dataclass
class Evaluation:
    """The record, where it was written, and which metric blocks ran or were reused."""

    record: dict[str, Any]
    path: Path | None
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def _existing(path: Path | None, identity: str) -> dict[str, Any] | None:
    """The record at ``path`` when it is of the same model (else its blocks do not apply)."""
    if path is None or not path.is_file():
        return None
    try:
        data = read_record_data(path)
        return data if model_id(data) == identity else None
    except (UserError, KeyError, TypeError):  # unreadable: evaluate afresh, then replace it
        return None


def _conflicts(
    existing: dict[str, Any], kept: list[str], running: list[MetricSpec], values: dict, path
) -> None:
    """One record holds one protocol: a block that stays may not disagree with the new run
    on a field both read."""
    for name in kept:
        spec = spec_or_none(name)
        for other in running:
            for f in set(spec.reads if spec else ()) & set(other.reads):
                old, new = existing["protocol"].get(f), values[f]
                if old != new:
                    raise UserError(
                        f"{path}: its {name} block was evaluated with {f} = {old}, and this run "
                        f"of {other.name} uses {new}; a record holds one protocol. Re-run both "
                        f"(--metrics {name},{other.name}), or write another record (--name or --out)"
                    )


def _model_info_base(loaded: LoadedModel, name: str, dataset: str) -> dict[str, Any]:
    meta = loaded.metadata
    return {
        "name": name,
        "authors": meta.get("authors", ""),
        "architecture": loaded.architecture,
        "dataset": dataset,
        "additional_data": bool(meta.get("additional_data", False)),
        "number_forward_passes": 1,
        "venue": meta.get("venue", ""),
        "link": meta.get("link", ""),
        "footnote": meta.get("footnote") or None,
    }


def describe_model(loaded: LoadedModel) -> dict[str, Any]:
    """The record's ``model`` section: what was evaluated, and how it was trained."""
    return {
        "source": loaded.source,
        "architecture": loaded.architecture,
        "recipe": loaded.recipe,
        "bass_mode": loaded.bass_mode,
        "checkpoint_sha256": loaded.sha256,
        "parameters": loaded.parameters,
        "transform": loaded.transform,
        "weights": loaded.weights,
        "training": loaded.training,
    }


def _new_record(loaded: LoadedModel, name: str, dataset: str) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "name": name,
        "dataset": dataset,
        "model_info": {},
        "model": describe_model(loaded),
        "protocol": {},
        "metrics": {},
        "evaluations": {},
        "artifacts": {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class RecordPlan:
    """The blocks one record still needs, and their merge into it as they finish."""

    def __init__(
        self,
        ref: ModelRef,
        loaded: LoadedModel,
        name: str,
        dataset: str,
        specs: Sequence[MetricSpec],
        values: dict[str, Any],
        *,
        out: Path | None,
        force: bool = False,
        executor: str = "local",
        device: str = "auto",
        data_dir: str | None = None,
        corruptions_dir: str | None = None,
        progress: bool = False,
        figures: dict[str, Any] | None = None,
    ) -> None:
        self.ref, self.loaded, self.name, self.dataset = ref, loaded, name, dataset
        self.values = values
        self.out, self.executor = out, executor
        self.figures = figures or {}  # options of the artifact writers (e.g. heatmap_scale)
        self.path = out / f"{name}.json" if out is not None else None
        identity = loaded.sha256 or loaded.source
        existing = _existing(self.path, identity)
        self.keys = {spec.name: block_key(identity, dataset, spec, values) for spec in specs}
        done = existing["evaluations"] if existing else {}
        self.running = [
            s for s in specs if force or done.get(s.name, {}).get("key") != self.keys[s.name]
        ]
        self.reused = [s.name for s in specs if s not in self.running]
        if existing is not None:
            kept = [n for n in existing["metrics"] if n not in {s.name for s in self.running}]
            _conflicts(existing, kept, self.running, values, self.path)
        self.record = existing or _new_record(loaded, name, dataset)
        # The same weights, described anew (a record written before the description grew
        # learns its training config here); written with the next block, or by `refresh`.
        self.described = self.record["model"] != describe_model(loaded)
        self.record["model"] = describe_model(loaded)
        self.base_info = _model_info_base(loaded, name, dataset)
        self.parts: dict[str, dict[int, BlockResult]] = {s.name: {} for s in self.running}
        self.finished: list[str] = []
        self.tasks = [
            self._task(spec, shard, device, data_dir, corruptions_dir, progress)
            for spec in self.running
            for shard in self.shards(spec)
        ]

    def shards(self, spec: MetricSpec) -> list[tuple[int, int] | None]:
        """The parts ``spec``'s block runs as: one, or the protocol's ``shards`` if it merges."""
        count = self.values["shards"] if spec.merge is not None else 1
        return [None] if count == 1 else [(i, count) for i in range(count)]

    def state_prefix(self, spec: MetricSpec) -> str:
        return f".{self.name}.{spec.name}.{self.keys[spec.name][:16]}"

    def _task(self, spec, shard, device, data_dir, corruptions_dir, progress) -> BlockTask:
        state = None
        if self.out is not None and self.executor == "local":  # a worker's disk may be another's
            suffix = f".{shard[0]}-of-{shard[1]}" if shard else ""
            state = str(self.out / f"{self.state_prefix(spec)}{suffix}.state.json")
        return BlockTask(
            model=self.ref,
            model_sha256=self.loaded.sha256,
            dataset=self.dataset,
            metric=spec.name,
            values=self.values,
            shard=shard,
            device=device,
            cwd=os.getcwd(),
            data_dir=data_dir,
            corruptions_dir=corruptions_dir,
            state_path=state,
            progress=progress,
        )

    def prepare(self) -> None:
        """Before the first task: an output folder that can be written (made at the first
        write, so a failed run leaves none), and leftovers of killed runs removed."""
        if self.out is None:
            return
        atomic.check_folder(self.out, option="--out")
        if not self.out.is_dir():
            return
        keep = tuple(self.state_prefix(spec) for spec in self.running)
        for pattern in (f".{self.name}.*.state.json", f".{self.name}.*.tmp"):
            for path in self.out.glob(pattern):
                if not path.name.startswith(keep):
                    path.unlink(missing_ok=True)

    def accept(self, task: BlockTask, result: BlockResult) -> str | None:
        """Take one task's result; when its block is complete, merge and write it. Returns the
        metric's name when it did."""
        spec = spec_or_none(task.metric)
        parts = self.parts[task.metric]
        parts[task.shard[0] if task.shard else 0] = result
        expected = len(self.shards(spec))
        if len(parts) < expected:
            return None
        ordered_parts = [parts[i] for i in range(expected)]
        results = [MetricResult(p.values, p.arrays) for p in ordered_parts]
        merged = results[0] if expected == 1 else spec.merge(results)
        artifacts = self._write_artifacts(spec, merged)
        self._merge(spec, merged.values, artifacts, {
            "version": spec.version,
            "key": self.keys[spec.name],
            "seconds": round(sum(p.seconds for p in ordered_parts), 3),
            "device": ordered_parts[0].device,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": ordered_parts[0].versions,
            "executor": self.executor,
            "shards": expected,
        })  # fmt: skip
        if self.path is not None:
            atomic.write_json(self.path, self.record)
            for state in self.out.glob(f"{self.state_prefix(spec)}*.state.json"):
                state.unlink(missing_ok=True)
        self.finished.append(spec.name)
        return spec.name

    def refresh(self) -> bool:
        """Write the record when only its model description changed (no block to run);
        True when it did."""
        if self.tasks or not self.described or self.path is None:
            return False
        atomic.write_json(self.path, self.record)
        self.described = False
        return True

    @property
    def complete(self) -> bool:
        """Every block this plan runs is merged into the record."""
        return len(self.finished) == len(self.running)

    def _merge(
        self, spec: MetricSpec, block: dict, artifacts: dict[str, str], evaluation: dict
    ) -> None:
        """Put one finished block into the record; protocol and ``model_info`` follow its blocks."""
        record = self.record
        kept = {f: v for f, v in record["protocol"].items() if f != "standard"}
        merged_values = {**self.values, **{f: v for f, v in kept.items() if f not in spec.reads}}
        record["metrics"] = ordered({**record["metrics"], spec.name: block})
        record["evaluations"] = ordered({**record["evaluations"], spec.name: evaluation})
        record["protocol"] = protocol_of(merged_values, record["metrics"], self.dataset)
        record["model_info"] = model_info(self.base_info, record["protocol"], record["metrics"])
        record["artifacts"] = {
            **{k: v for k, v in record["artifacts"].items() if k not in artifacts},
            **artifacts,
        }

    def _write_artifacts(self, spec: MetricSpec, result: MetricResult) -> dict[str, str]:
        """Each declared artifact whose array the result holds, as ``<name>.<suffix>``."""
        if self.out is None:
            return {}
        written = {}
        for artifact in spec.artifacts:
            array = result.arrays.get(artifact.array)
            if array is None:
                continue
            write = (
                load_object(artifact.write) if isinstance(artifact.write, str) else artifact.write
            )
            path = self.out / f"{self.name}.{artifact.suffix}"
            write(array, path, {"name": self.name, "values": result.values, **self.figures})
            written[artifact.key] = path.name
        return written

    @property
    def evaluation(self) -> Evaluation:
        return Evaluation(self.record, self.path, [s.name for s in self.running], self.reused)
