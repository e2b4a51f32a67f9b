"""The driver's side of one record: which blocks to run, as tasks, and the merge of results.

A :class:`RecordPlan` compares the record on disk with what a run asks for and decides, block
by block: reuse it (its key is the run's, and the record justifies it:
:mod:`freqbench.records.checks`), or run it (missing, stale, not justified, or named by
``force``), saying why. Each block to run becomes one task per shard. As results come back,
a complete block is merged into the record *as it is on disk at that moment*, under the
record's lock (:func:`freqbench.records.update`), so concurrent runs on one record keep each
other's blocks. A record of another model, or one too damaged to use, is refused unless
``replace`` says to start afresh (its artifacts go too). A block whose metric failed is
reported and written nowhere; the others are kept. Only the driver holds plans: workers never
write records.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    RECORD_FORMAT,
    Review,
    Unreadable,
    model_identity,
    model_info,
    ordered,
    protocol_of,
    read_json,
    review,
    spec_or_none,
    update,
    with_artifacts,
)
from freqbench.records.artifacts import digest
from freqbench.registry import load_object

#: Where ``--replace`` moves the record it replaces (a hidden folder beside the records).
REPLACED_DIR = ".replaced"

if TYPE_CHECKING:
    from freqbench.loading import LoadedModel, ModelRef


@dataclass
class Evaluation:
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


def _new_record(model: dict[str, Any], name: str, dataset: str) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "name": name,
        "dataset": dataset,
        "model_info": {},
        "model": model,
        "protocol": {},
        "metrics": {},
        "evaluations": {},
        "artifacts": {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _drop_block(record: dict[str, Any], name: str) -> None:
    """Take metric ``name``'s block, its evaluation and its artifacts' entries out of
    ``record`` (the files stay until the block's next run replaces them)."""
    record["metrics"].pop(name, None)
    record["evaluations"].pop(name, None)
    spec = spec_or_none(name)
    for artifact in spec.artifacts if spec else ():
        record["artifacts"].pop(artifact.key, None)


def _describe_identity(model: Any) -> str:
    if not isinstance(model, dict):
        return "no model section"
    sha = model.get("checkpoint_sha256")
    what = f"sha256 {sha}" if sha else f"source '{model.get('source')}'"
    transform = model.get("transform")
    return what + (f", transform {transform}" if transform else "")


def _stale_reason(existing: Review, spec: MetricSpec, run: ResolvedProtocol) -> str:
    """What changed since the stored block: its version, or the protocol fields it reads."""
    stored = existing.data["evaluations"][spec.name]
    changes = (
        [f"version {stored['version']} -> {spec.version}"]
        if stored["version"] != spec.version
        else []
    )
    protocol = existing.data["protocol"]
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
        loaded: LoadedModel,
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
        self.ref, self.loaded, self.name, self.dataset = ref, loaded, name, dataset
        self.protocol, self.replace = protocol, replace
        self.out, self.executor = out, executor
        self.figures = figures or {}  # options of the artifact writers (e.g. heatmap_scale)
        self.path = out / f"{name}.json" if out is not None else None
        self.model = describe_model(loaded)
        self.identity = model_identity(self.model)
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
        stored = existing.data["evaluations"] if existing is not None else {}
        self.planned_over = {
            s.name: stored[s.name].get("key")
            for s in self.running
            if isinstance(stored.get(s.name), dict)
        }
        if existing is not None:
            self._check_kept(existing)
        self.record = (
            existing.data if existing is not None else _new_record(self.model, name, dataset)
        )
        # The same weights, described anew (a record written before the description grew
        # learns its training config here); written with the next block, or by `refresh`.
        self.described = self.record["model"] != self.model
        self.base_info = _model_info_base(loaded, name, dataset)
        self.parts: dict[str, dict[int, BlockResult]] = {s.name: {} for s in self.running}
        self.finished: list[str] = []
        self.failed: dict[str, str] = {}
        self.user_error = False
        self.set_aside: Path | None = None
        self.states = StateFiles(out, name) if out is not None and executor == "local" else None
        task = BlockTask(
            model=ref,
            model_sha256=loaded.sha256,
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
        data = checked.data
        if (data["name"], data["dataset"]) != (self.name, self.dataset):
            return self._refuse(
                f"{self.path}: it is the record of '{data['name']}' on {data['dataset']}, not "
                f"of '{self.name}' on {self.dataset}"
            )
        if model_identity(data["model"]) != self.identity:
            if self.replace:
                return None
            raise UserError(
                f"{self.path} is the record of another model ({_describe_identity(data['model'])}); "
                f"this run evaluates {_describe_identity(self.model)}. Pass another --name, or "
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
        if existing is None:
            return ""
        data = existing.data
        if spec.name not in data["metrics"] and spec.name not in data["evaluations"]:
            return ""
        if not existing.justified(spec.name):
            return f"its stored block cannot be trusted: {existing.why_not(spec.name)}"
        if data["evaluations"][spec.name]["key"] != self.keys[spec.name]:
            return _stale_reason(existing, spec, self.protocol)
        return None

    def _check_kept(self, existing: Review) -> None:
        """Blocks that stay must be justified (the others are dropped, and said so) and agree
        with the new run on every field both read: a record holds one protocol."""
        running = {s.name for s in self.running}
        data = existing.data
        for name in sorted(set(data["metrics"]) | set(data["evaluations"])):
            if name not in running and not existing.justified(name):
                self.dropped[name] = existing.why_not(name)
        for name in data["metrics"]:
            if name not in running and name not in self.dropped:
                conflict = self._conflict(name, data["protocol"])
                if conflict:
                    raise UserError(conflict)

    def _conflict(
        self, kept: str, protocol: dict[str, Any], only: list[MetricSpec] | None = None
    ) -> str | None:
        spec = spec_or_none(kept)
        for other in only if only is not None else self.running:
            for f in sorted(set(spec.reads if spec else ()) & set(other.reads)):
                if protocol.get(f) != self.protocol[f]:
                    return (
                        f"{self.path}: its {kept} block was evaluated with {f} = "
                        f"{protocol.get(f)}, and this run of {other.name} uses {self.protocol[f]}; a "
                        f"record holds one protocol. Re-run both (--metrics {kept},{other.name}), "
                        "or write another record (--name or --out)"
                    )
        return None

    # --- tasks --------------------------------------------------------------------------

    def shards(self, spec: MetricSpec) -> list[tuple[int, int] | None]:
        """The parts ``spec``'s block runs as: one, or the protocol's ``shards`` if it merges,
        at most one per unit of work (image, basis, cell), so that no part is empty."""
        count = self.protocol["shards"] if spec.merge is not None else 1
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
        evaluation = {
            "version": spec.version,
            "key": self.keys[spec.name],
            "seconds": round(sum(p.seconds for p in ordered_parts), 3),  # task time
            "wall_seconds": round(
                max(p.started + p.seconds for p in ordered_parts)
                - min(p.started for p in ordered_parts),
                3,
            ),
            "device": ordered_parts[0].device,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": ordered_parts[0].versions,
            "executor": self.executor,
            "shards": expected,
            "threads": ordered_parts[0].threads,
        }
        try:
            results = [MetricResult(p.values, p.arrays) for p in ordered_parts]
            merged = results[0] if expected == 1 else checked_result(spec, spec.merge(results))
            with self._staged_artifacts(spec, merged) as artifacts:
                if artifacts:  # what every reader checks the files against
                    evaluation["artifacts"] = {k: digest(p) for k, (p, _) in artifacts.items()}
                self._write(spec, merged.values, artifacts, evaluation)
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
        if self.tasks or not self.described or self.path is None:
            return False
        self._write(None)
        self.described = False
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
        """Merge one finished block (or, with ``spec`` None, the model description) into the
        record as it is on disk now, under its lock; without a path, into the one in memory."""
        artifacts = artifacts or {}
        merge = (spec, block or {}, artifacts, evaluation or {})

        def move_artifacts() -> None:  # the files follow their block, under the record's lock
            for staged, final in artifacts.values():
                os.replace(staged, final)

        if self.path is None:
            self.record = self._merged(copy.deepcopy(self.record), *merge)
        else:
            self.record = update(
                self.path,
                lambda current: self._merged(self._base(current), *merge),
                move_artifacts,
            )

    def _merged(
        self,
        record: dict[str, Any],
        spec: MetricSpec | None,
        block: dict[str, Any],
        artifacts: dict[str, tuple[Path, Path]],
        evaluation: dict[str, Any],
    ) -> dict[str, Any]:
        """``record`` with one finished block put in; protocol and ``model_info`` follow its
        blocks, and blocks the record cannot justify are dropped."""
        names = set(record["metrics"]) | set(record["evaluations"])
        checked = review(record) if names else None
        if checked is not None and self.path is not None:
            checked = with_artifacts(checked, self.path.parent)
        for name in sorted(names - {getattr(spec, "name", None)}):
            if checked is not None and not checked.justified(name):
                if name not in self.reasons:  # a block this run re-runs is not lost
                    self.dropped.setdefault(name, checked.why_not(name))
                _drop_block(record, name)
        record["model"] = self.model
        kept = {f: v for f, v in record["protocol"].items() if f != "standard"}
        if spec is None:
            fields = {**self.protocol, **kept}
        else:
            pending = {s.name for s in self.running} - set(self.finished) - {spec.name}
            for name in list(record["metrics"]):
                conflict = name != spec.name and self._conflict(name, record["protocol"], [spec])
                if conflict and name in pending:  # this run replaces it: its old block goes
                    _drop_block(record, name)
                elif conflict:
                    raise UserError(f"{conflict} (written by another run meanwhile)")
            self._check_not_overtaken(record, spec)
            fields = {**self.protocol, **{f: v for f, v in kept.items() if f not in spec.reads}}
            record["metrics"] = ordered({**record["metrics"], spec.name: block})
            record["evaluations"] = ordered({**record["evaluations"], spec.name: evaluation})
            record["artifacts"] = {
                **{k: v for k, v in record["artifacts"].items() if k not in artifacts},
                **{key: final.name for key, (_, final) in artifacts.items()},
            }
        record["protocol"] = protocol_of(fields, record["metrics"], self.dataset, kept)
        record["model_info"] = model_info(self.base_info, record["protocol"], record["metrics"])
        return record

    def _check_not_overtaken(self, record: dict[str, Any], spec: MetricSpec) -> None:
        """Refuse to replace a block of ``spec`` that another run wrote since this one was
        planned, with other settings: the two runs disagree, and neither may win silently."""
        stored = record["evaluations"].get(spec.name)
        key = stored.get("key") if isinstance(stored, dict) else None
        if key is None or key in (self.planned_over.get(spec.name), self.keys[spec.name]):
            return
        protocol = record["protocol"]
        changes = [
            f"{f} = {protocol.get(f)} there and {self.protocol.get(f)} here"
            for f in spec.reads
            if protocol.get(f) != self.protocol.get(f)
        ]
        if stored.get("version") != spec.version:
            changes.append(f"version {stored.get('version')} there and {spec.version} here")
        raise UserError(
            f"{self.path}: another run wrote its {spec.name} block meanwhile with other settings "
            f"({'; '.join(changes) or 'another key'}); this run's block is not written. Run "
            "again to replace it on purpose, or write another record (--name or --out)"
        )

    def _base(self, current: Any) -> dict[str, Any]:
        """The record to merge into: the one on disk when it is this model's, else a new one
        (when ``replace`` allows it: the old record and its artifacts are set aside first)."""
        if current is None:
            return _new_record(self.model, self.name, self.dataset)
        if isinstance(current, Unreadable):
            if not self.replace:
                raise UserError(f"{current.problem}; pass --replace to evaluate afresh into it")
            self._set_aside(None)
            return _new_record(self.model, self.name, self.dataset)
        checked = review(current)
        ours = (
            checked.usable
            and (checked.data["name"], checked.data["dataset"]) == (self.name, self.dataset)
            and model_identity(checked.data["model"]) == self.identity
        )
        if ours:
            return checked.data
        if not self.replace:
            raise UserError(
                f"{self.path} was replaced meanwhile by the record of another model "
                f"({_describe_identity(current.get('model') if isinstance(current, dict) else None)})"
                "; run again with --replace to replace it, or with another --name"
            )
        self._set_aside(current)
        return _new_record(self.model, self.name, self.dataset)

    def _set_aside(self, old: Any) -> None:
        """Move the record being replaced, and the files it names beside it (plain file names
        only), to ``<records>/.replaced/<name>-<UTC time>/``: --replace never deletes."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.path.parent / REPLACED_DIR / f"{self.name}-{stamp}"
        for n in range(1, 1000):
            if not folder.exists():
                break
            folder = folder.with_name(f"{self.name}-{stamp}-{n}")
        folder.mkdir(parents=True)
        named = old.get("artifacts") if isinstance(old, dict) else None
        files = [
            self.path.parent / file_name
            for file_name in (named.values() if isinstance(named, dict) else ())
            if isinstance(file_name, str)
            and file_name == Path(file_name).name
            and not file_name.startswith(".")
            and file_name != self.path.name
        ]
        for path in [self.path, *files]:
            if path.exists() or path.is_symlink():
                os.replace(path, folder / path.name)
        self.set_aside = folder

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
    def evaluation(self) -> Evaluation:
        ran = [s.name for s in self.running if s.name not in self.failed]
        reasons = {n: why for n, why in self.reasons.items() if why and n in ran}
        return Evaluation(
            self.record, self.path, ran, self.reused, reasons, dict(self.failed),
            dict(self.dropped), self.user_error, self.set_aside,
        )  # fmt: skip
