"""Records are built here and only here: a new record, a block put in or taken out, and the
protocol and ``model_info`` that follow the blocks a record holds.

These functions change a record in memory and touch no file: the evaluator decides which
blocks run and hands each finished one to :func:`put_block` (under the record's lock, see
:mod:`freqbench.records.writer`), and the tests build their records with the same functions,
so the record's shape is written down once, here and in its schema. The evaluator reads a
stored record through the accessors below (``stored_*``) rather than by its keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from freqbench.records.artifacts import digest, with_artifacts
from freqbench.records.checks import review
from freqbench.records.format import RECORD_FORMAT, model_info, ordered, protocol_of, spec_or_none


class DescribedModel(Protocol):
    """What a record says of a model: a loaded model (:class:`freqbench.loading.LoadedModel`),
    or its description without weights."""

    source: str
    architecture: str | None
    recipe: str | None
    bass_mode: str | None
    sha256: str | None
    parameters: int | None
    transform: dict[str, Any] | None
    weights: dict[str, Any] | None
    training: dict[str, Any] | None
    metadata: Mapping[str, Any]


def describe_model(model: DescribedModel) -> dict[str, Any]:
    """The record's ``model`` section: what was evaluated, and how it was trained."""
    return {
        "source": model.source,
        "architecture": model.architecture,
        "recipe": model.recipe,
        "bass_mode": model.bass_mode,
        "checkpoint_sha256": model.sha256,
        "parameters": model.parameters,
        "transform": model.transform,
        "weights": model.weights,
        "training": model.training,
    }


def listing(model: DescribedModel, name: str, dataset: str) -> dict[str, Any]:
    """The part of RobustBench's ``model_info`` that the model's metadata gives (the rest
    follows the blocks: :func:`restate`)."""
    meta = model.metadata
    return {
        "name": name,
        "authors": meta.get("authors", ""),
        "architecture": model.architecture,
        "dataset": dataset,
        "additional_data": bool(meta.get("additional_data", False)),
        "number_forward_passes": 1,
        "venue": meta.get("venue", ""),
        "link": meta.get("link", ""),
        "footnote": meta.get("footnote") or None,
    }


def new_record(model: dict[str, Any], name: str, dataset: str) -> dict[str, Any]:
    """A record of ``model`` (its ``model`` section) with no block yet."""
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


def evaluation_entry(
    version: str,
    key: str,
    parts: Sequence[tuple[float, float]],
    *,
    device: str,
    versions: Mapping[str, str | None],
    executor: str,
    threads: int,
) -> dict[str, Any]:
    """How a block was made: the metric's version, the block's key, and its ``parts`` (when
    each started, seconds it took): their summed task time and the wall time from the first
    start to the last end, on what and with what."""
    return {
        "version": version,
        "key": key,
        "seconds": round(sum(seconds for _, seconds in parts), 3),  # task time
        "wall_seconds": round(
            max(start + seconds for start, seconds in parts) - min(start for start, _ in parts), 3
        ),
        "device": device,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": dict(versions),
        "executor": executor,
        "shards": len(parts),
        "threads": threads,
    }


def with_digests(evaluation: dict[str, Any], files: Mapping[str, Path]) -> dict[str, Any]:
    """``evaluation`` with the digest of each artifact file by key (none: as it is): what every
    reader checks the files against."""
    if not files:
        return evaluation
    return {**evaluation, "artifacts": {key: digest(path) for key, path in files.items()}}


def put_block(
    record: dict[str, Any],
    metric: str,
    block: dict[str, Any],
    evaluation: dict[str, Any],
    files: Mapping[str, str] | None = None,
) -> None:
    """Add ``metric``'s block, or replace the one there, with its evaluation and the names of
    its artifact files by key (``files``; the files themselves are the writer's). Call
    :func:`restate` once the blocks are in."""
    record["metrics"] = ordered({**record["metrics"], metric: block})
    record["evaluations"] = ordered({**record["evaluations"], metric: evaluation})
    files = files or {}
    record["artifacts"] = {
        **{k: v for k, v in record["artifacts"].items() if k not in files},
        **files,
    }


def drop_block(record: dict[str, Any], metric: str) -> None:
    """Take ``metric``'s block, its evaluation and its artifacts' entries out of ``record``
    (the files stay until the block's next run replaces them)."""
    record["metrics"].pop(metric, None)
    record["evaluations"].pop(metric, None)
    spec = spec_or_none(metric)
    for artifact in spec.artifacts if spec else ():
        record["artifacts"].pop(artifact.key, None)


def drop_unjustified(
    record: dict[str, Any], folder: Path | None, keep: str | None = None
) -> dict[str, str]:
    """Drop every block but ``keep``'s that the record cannot justify (its artifacts checked
    in ``folder`` when given); returns why, by metric."""
    names = block_names(record)
    if not names:
        return {}
    checked = review(record)
    if folder is not None:
        checked = with_artifacts(checked, folder)
    dropped = {}
    for name in sorted(set(names) - {keep}):
        if not checked.justified(name):
            dropped[name] = checked.why_not(name)
            drop_block(record, name)
    return dropped


def restate(
    record: dict[str, Any],
    model: dict[str, Any],
    protocol: Mapping[str, Any],
    listed: Mapping[str, Any],
    stored: Mapping[str, Any] | None = None,
) -> None:
    """Make the record's ``model``, ``protocol`` and ``model_info`` agree with its blocks:
    the protocol holds the fields they read (from ``protocol``; ``stored``: the record's
    protocol before, kept for the blocks of metrics not installed here), ``model_info`` the
    model's ``listed`` metadata and the percentages of the blocks' columns."""
    record["model"] = model
    record["protocol"] = protocol_of(protocol, record["metrics"], record["dataset"], stored or ())
    record["model_info"] = model_info(listed, record["protocol"], record["metrics"])


def owner(record: Mapping[str, Any]) -> tuple[str, str]:
    """Whose record it is: its name and dataset."""
    return record["name"], record["dataset"]


def stored_model(record: Mapping[str, Any]) -> dict[str, Any]:
    return record["model"]


def stored_protocol(record: Mapping[str, Any]) -> dict[str, Any]:
    """The protocol fields the record holds (without its ``standard`` verdict)."""
    return {f: v for f, v in record["protocol"].items() if f != "standard"}


def metric_names(record: Mapping[str, Any]) -> list[str]:
    """The metrics whose numbers the record holds, in its order."""
    return list(record["metrics"])


def block_names(record: Mapping[str, Any]) -> list[str]:
    """Every metric with numbers or an evaluation in the record (a damaged block may have one
    without the other), by name."""
    return sorted(set(record["metrics"]) | set(record["evaluations"]))


def stored_evaluation(record: Mapping[str, Any], metric: str) -> dict[str, Any] | None:
    """How ``metric``'s stored block was made (version, key, time), None when there is none
    that can be read."""
    evaluation = record["evaluations"].get(metric)
    return evaluation if isinstance(evaluation, dict) else None
