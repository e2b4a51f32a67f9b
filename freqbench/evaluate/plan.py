"""The driver's side of one record: which blocks to run, as tasks, and the merge of results.

A :class:`RecordPlan` compares the record on disk with what a run asks for and decides, block
by block: reuse it (its key is the run's, and the record justifies it:
:mod:`freqbench.records.checks`), or run it (missing, stale, not justified, or named by
``force``), saying why. Each block to run becomes one task per shard. As results come back,
a complete block is handed to the records' merge (:mod:`freqbench.records.merge`) and
written under the record's lock, into the record as it is on disk at that moment
(:mod:`freqbench.records.writer`), so concurrent runs on one record keep each other's blocks.
A record of another model, or one too damaged to use, is refused unless ``replace`` says to
start afresh (its artifacts go too). A block whose metric failed is reported and written
nowhere; the others are kept. Only the driver holds plans: workers never write records.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench import atomic
from freqbench.data import get_dataset_info
from freqbench.errors import UserError
from freqbench.evaluate.states import StateFiles
from freqbench.evaluate.tasks import BlockResult, BlockTask, takes_option
from freqbench.metrics import MetricResult, MetricSpec
from freqbench.metrics.results import checked_result
from freqbench.protocol import ResolvedProtocol, block_key
from freqbench.records import (
    Review,
    model_identity,
    read_json,
    review,
    spec_or_none,
    with_artifacts,
)
from freqbench.records.builder import (
    DescribedModel,
    block_names,
    describe_model,
    evaluation_entry,
    listing,
    metric_names,
    new_record,
    owner,
    stored_evaluation,
    stored_model,
    stored_protocol,
    with_digests,
)
from freqbench.records.merge import FinishedBlock, RunState, merge_block, protocol_conflict
from freqbench.records.writer import RecordWriter, describe_identity
from freqbench.registry import load_object

if TYPE_CHECKING:
    from freqbench.loading import ModelRef


@dataclass
class Outcome:
    """The record, where it was written, and what happened to each metric block."""

    record: dict[str, Any]
    path: Path | None
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # why a block ran, when not new
    failed: dict[str, str] = field(default_factory=dict)  # metric -> why it failed
    dropped: dict[str, str] = field(default_factory=dict)  # blocks removed: not justified
    user_error: bool = False  # a failure was the input's (exit 2), not a metric's bug
    set_aside: Path | None = None  # where --replace moved the record it replaced


def _stale_reason(existing: Review, spec: MetricSpec, run: ResolvedProtocol) -> str:
    """What changed since the stored block: its version, or the protocol fields it reads."""
    version = (stored_evaluation(existing.data, spec.name) or {}).get("version")
    changes = [f"version {version} -> {spec.version}"] if version != spec.version else []
    protocol = stored_protocol(existing.data)
    changes += [
        f"{name} {protocol.get(name)} -> {run.get(name)}"
        for name in spec.reads
        if protocol.get(name) != run.get(name)
    ]
    return "replaces the stored block: " + (", ".join(changes) or "its key differs")


class RecordPlan:
    """The blocks one record still needs, and their merge into it as they finish."""

    def __init__(
        self,
        ref: ModelRef,
        described: DescribedModel,
        name: str,
        dataset: str,
        specs: Sequence[MetricSpec],
        protocol: ResolvedProtocol,
        *,
        out: Path | None,
        force: bool = False,
        replace: bool = False,
        executor: str = "local",
        device: str = "auto",
        data_dir: str | None = None,
        corruptions_dir: str | None = None,
        cache_dir: str | None = None,
        progress: bool = False,
        figures: dict[str, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        self.ref, self.name, self.dataset = ref, name, dataset
        self.protocol, self.replace = protocol, replace
        self.out, self.executor = out, executor
        self.figures = figures or {}  # options of the artifact writers (e.g. heatmap_scale)
        self.path = out / f"{name}.json" if out is not None else None
        self.description = describe_model(described)
        self.identity = model_identity(self.description)
        self.keys = {
            spec.name: block_key(self.identity[0], dataset, spec, protocol) for spec in specs
        }
        existing = self._existing()
        self.reasons: dict[str, str] = {}
        self.dropped: dict[str, str] = {}
        for spec in specs:
            why = self._why_run(existing, spec, force)
            if why is not None:
                self.reasons[spec.name] = why
        self.running = [s for s in specs if s.name in self.reasons]
        self.reused = [s.name for s in specs if s.name not in self.reasons]
        # The key of each block this run replaces, as it was when the run was planned: a
        # block found under another key at merge time was written by another run meanwhile.
        self.planned_over = {
            s.name: stored.get("key")
            for s in self.running
            if existing is not None and (stored := stored_evaluation(existing.data, s.name))
        }
        if existing is not None:
            self._check_kept(existing)
        self.record = (
            existing.data if existing is not None else new_record(self.description, name, dataset)
        )
        # The same weights, described anew (a record written before the description grew
        # learns its training config here); written with the next block, or by `refresh`.
        self.redescribed = stored_model(self.record) != self.description
        self.listed = listing(described, name, dataset)
        self.writer = (
            RecordWriter(self.path, name, dataset, self.description, replace)
            if self.path is not None
            else None
        )
        self.parts: dict[str, dict[int, BlockResult]] = {s.name: {} for s in self.running}
        self.finished: list[str] = []
        self.failed: dict[str, str] = {}
        self.user_error = False
        self.states = StateFiles(out, name) if out is not None and executor == "local" else None
        task = BlockTask(
            ref=ref,
            weights_sha256=described.sha256,
            dataset=dataset,
            metric="",
            protocol=protocol,
            device=device,
            cwd=os.getcwd(),
            data_dir=data_dir,
            corruptions_dir=corruptions_dir,
            cache_dir=cache_dir,
            progress=progress,
            threads=threads,
        )
        self.tasks = [
            dataclasses.replace(task, metric=spec.name, shard=shard)
            for spec in self.running
            for shard in self.shards(spec)
        ]

    # --- what the record on disk allows -------------------------------------------------

    def _existing(self) -> Review | None:
        """The record at the plan's path, reviewed, when it holds this model; None when there
        is none, or when ``replace`` lets this run start it afresh."""
        if self.path is None or not (self.path.exists() or self.path.is_symlink()):
            return None
        try:
            checked = with_artifacts(review(read_json(self.path)), self.path.parent)
        except UserError as exc:
            return self._refuse(f"{exc}")
        if not checked.usable:
            return self._refuse(f"{self.path}: {'; '.join(checked.frame[:3])}")
        (name, dataset), model = owner(checked.data), stored_model(checked.data)
        if (name, dataset) != (self.name, self.dataset):
            return self._refuse(
                f"{self.path}: it is the record of '{name}' on {dataset}, not "
                f"of '{self.name}' on {self.dataset}"
            )
        if model_identity(model) != self.identity:
            if self.replace:
                return None
            raise UserError(
                f"{self.path} is the record of another model ({describe_identity(model)}); "
                f"this run evaluates {describe_identity(self.description)}. Pass another --name, or "
                "--replace to replace that record and its artifacts"
            )
        return checked

    def _refuse(self, problem: str) -> None:
        if self.replace:
            return None
        raise UserError(
            f"{problem}. The record cannot be used: repair or delete it, or pass --replace to "
            "evaluate afresh into it"
        )

    def _why_run(self, existing: Review | None, spec: MetricSpec, force: bool) -> str | None:
        """Why ``spec``'s block must run ("" when it is simply missing); None: reuse it."""
        if force:
            return "forced (--force)"
        if existing is None or spec.name not in block_names(existing.data):
            return ""
        if not existing.justified(spec.name):
            return f"its stored block cannot be trusted: {existing.why_not(spec.name)}"
        if (stored_evaluation(existing.data, spec.name) or {}).get("key") != self.keys[spec.name]:
            return _stale_reason(existing, spec, self.protocol)
        return None

    def _check_kept(self, existing: Review) -> None:
        """Blocks that stay must be justified (the others are dropped, and said so) and agree
        with the new run on every field both read: a record holds one protocol."""
        running = {s.name for s in self.running}
        for name in block_names(existing.data):
            if name not in running and not existing.justified(name):
                self.dropped[name] = existing.why_not(name)
        for name in metric_names(existing.data):
            if name not in running and name not in self.dropped:
                conflict = protocol_conflict(
                    self.path, name, stored_protocol(existing.data), self.protocol, self.running
                )
                if conflict:
                    raise UserError(conflict)

    # --- tasks --------------------------------------------------------------------------

    def shards(self, spec: MetricSpec) -> list[tuple[int, int] | None]:
        """The parts ``spec``'s block runs as: one, or the protocol's ``shards`` if it merges,
        at most one per unit of work (image, basis, cell), so that no part is empty."""
        count = self.protocol.shards if spec.merge is not None else 1
        if count > 1 and spec.units is not None:
            count = max(1, min(count, spec.units(self.protocol, get_dataset_info(self.dataset))))
        return [None] if count == 1 else [(i, count) for i in range(count)]

    def _block_name(self, task: BlockTask) -> str:
        """What a task's state file is named by: record, metric, block key and shard."""
        suffix = f".{task.shard[0]}-of-{task.shard[1]}" if task.shard else ""
        return f".{self.name}.{task.metric}.{self.keys[task.metric][:16]}{suffix}"

    def prepare(self) -> None:
        """Before the first task: an output folder that can be written (made at the first
        write, so a failed run leaves none), leftovers of killed runs removed (never a live
        run's), and a resume state for each block that keeps one."""
        if self.out is None:
            return
        atomic.check_folder(self.out, option="--out")
        if self.out.is_dir():
            atomic.clean_temp_files(self.out, f".{glob.escape(self.name)}.*.tmp")
        if self.states is None:
            return
        self.states.clean()
        stateful = {s.name for s in self.running if takes_option(s, "state_path")}
        self.tasks = [
            dataclasses.replace(task, state_path=str(self.states.path_for(self._block_name(task))))
            if task.metric in stateful
            else task
            for task in self.tasks
        ]

    def close(self) -> None:
        """Give up the ownership of this plan's state files (their blocks are done or failed)."""
        if self.states is not None:
            self.states.close()

    # --- results ------------------------------------------------------------------------

    def accept(self, task: BlockTask, result: BlockResult) -> str | None:
        """Take one task's result; when its block is complete, merge and write it. Returns the
        metric's name when it did."""
        spec = spec_or_none(task.metric)
        if task.metric in self.failed:
            return None
        if result.error is not None:
            self._fail(spec, result.error, result.user_error)
            return None
        parts = self.parts[task.metric]
        parts[task.shard[0] if task.shard else 0] = result
        expected = len(self.shards(spec))
        if len(parts) < expected:
            return None
        ordered_parts = [parts[i] for i in range(expected)]
        first = ordered_parts[0]
        evaluation = evaluation_entry(
            spec.version, self.keys[spec.name], [(p.started, p.seconds) for p in ordered_parts],
            device=first.device, versions=first.versions, executor=self.executor,
            threads=first.threads,
        )  # fmt: skip
        try:
            results = [MetricResult(p.values, p.arrays) for p in ordered_parts]
            merged = results[0] if expected == 1 else checked_result(spec, spec.merge(results))
            with self._staged_artifacts(spec, merged) as artifacts:
                staged = {key: path for key, (path, _) in artifacts.items()}
                self._write(spec, merged.values, artifacts, with_digests(evaluation, staged))
        except UserError as exc:
            self._fail(spec, str(exc), True)
            return None
        except Exception as exc:  # a plugin's merge or artifact writer, a result past its schema
            self._fail(spec, f"metric {spec.name}: {type(exc).__name__}: {exc}", False)
            return None
        if self.states is not None:
            self.states.release(self._block_name(dataclasses.replace(task, shard=None)))
        self.finished.append(spec.name)
        return spec.name

    def _fail(self, spec: MetricSpec, message: str, user_error: bool) -> None:
        self.failed[spec.name] = message
        self.user_error = self.user_error or user_error
        self.parts.pop(spec.name, None)

    def refresh(self) -> bool:
        """Write the record when only its model description changed (no block to run);
        True when it did."""
        if self.tasks or not self.redescribed or self.path is None:
            return False
        self._write(None)
        self.redescribed = False
        return True

    @property
    def complete(self) -> bool:
        """Every block this plan runs is merged into the record, or has failed."""
        return len(self.finished) + len(self.failed) == len(self.running)

    def _write(
        self,
        spec: MetricSpec | None,
        block: dict[str, Any] | None = None,
        artifacts: dict[str, tuple[Path, Path]] | None = None,
        evaluation: dict[str, Any] | None = None,
    ) -> None:
        """Hand one finished block (or, with ``spec`` None, the model description) to the
        records' merge, on the record as it is on disk now, under its lock; without a path, on
        the one in memory."""
        artifacts = artifacts or {}
        files = {key: final.name for key, (_, final) in artifacts.items()}
        finished = FinishedBlock(spec, block or {}, files, evaluation or {}) if spec else None
        pending = {s.name for s in self.running} - set(self.finished) - {getattr(spec, "name", "")}
        run = RunState(
            self.path, self.protocol, self.description, self.listed, self.keys,
            self.planned_over, frozenset(pending),
        )  # fmt: skip

        def merged(record: dict[str, Any]) -> dict[str, Any]:
            record, dropped = merge_block(record, run, finished)
            for name, why in dropped.items():
                if name not in self.reasons:  # a block this run re-runs is not lost
                    self.dropped.setdefault(name, why)
            return record

        if self.writer is None:
            self.record = merged(copy.deepcopy(self.record))
        else:
            self.record = self.writer.write(merged, artifacts)

    @contextlib.contextmanager
    def _staged_artifacts(
        self, spec: MetricSpec, result: MetricResult
    ) -> Iterator[dict[str, tuple[Path, Path]]]:
        """Each declared artifact whose array the result holds, written under a hidden name
        beside its final one (``<name>.<suffix>``): the block's merge renames it into place,
        so a block that fails to merge never replaces the files of the block it kept."""
        staged: dict[str, tuple[Path, Path]] = {}
        try:
            for artifact in spec.artifacts if self.out is not None else ():
                array = result.arrays.get(artifact.array)
                if array is None:
                    continue
                write = (
                    load_object(artifact.write)
                    if isinstance(artifact.write, str)
                    else artifact.write
                )
                final = self.out / f"{self.name}.{artifact.suffix}"
                # The suffix stays last: writers (matplotlib) choose the format by it.
                path = final.with_name(f".{self.name}.{os.getpid()}.staged.{artifact.suffix}")
                write(array, path, {"name": self.name, "values": result.values, **self.figures})
                staged[artifact.key] = (path, final)
            yield staged
        finally:
            for path, _ in staged.values():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    @property
    def outcome(self) -> Outcome:
        ran = [s.name for s in self.running if s.name not in self.failed]
        reasons = {n: why for n, why in self.reasons.items() if why and n in ran}
        return Outcome(
            self.record, self.path, ran, self.reused, reasons, dict(self.failed),
            dict(self.dropped), self.user_error, self.writer.set_aside if self.writer else None,
        )  # fmt: skip
