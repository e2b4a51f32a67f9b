"""The standardized evaluator: one model in, one record out, one metric block at a time.

It loads the model, checks that it behaves like a classifier, and runs only the metric blocks
that are missing or stale in the model's record: a block is keyed by the checkpoint, the
metric's version and exactly the protocol fields it reads (:func:`freqbench.protocol.block_key`).
So ``--metrics clean`` then ``--metrics filters`` makes one record with both, a new ``--eps``
re-runs AutoAttack only, and another checkpoint re-runs everything. Each finished block is
merged into the record atomically, with its artifacts beside it, so a kill loses at most the
block in progress.
"""

from __future__ import annotations

import re
import time
import warnings
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
from freqbench.evaluate.run import RunContext, run_metric
from freqbench.metrics import MetricResult, MetricSpec, parse_metrics
from freqbench.protocol import Protocol, block_key

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages
    from freqbench.loading import LoadedModel

__all__ = ["RECORD_FORMAT", "Evaluation", "check_model", "evaluate", "resolve_device"]

#: A record name is a file name: letters, digits and . _ + -, starting with a letter or digit.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass
class Evaluation:
    """The record, where it was written, and which metric blocks ran or were reused."""

    record: dict[str, Any]
    path: Path | None
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def resolve_device(device: str) -> str:
    """``auto``: CUDA when torch sees a GPU, else the CPU; ``cuda`` without one is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device} was asked for, but torch sees no CUDA device")
    try:
        torch.device(device)
    except RuntimeError:
        raise UserError(f"--device must be auto, cpu or cuda[:N], got '{device}'") from None
    return device


def check_model(model: nn.Module, data: LabeledImages, device: str) -> None:
    """Fail early and clearly on a model that cannot be evaluated as a classifier."""
    import torch

    if model.training:
        warnings.warn(
            "the model was in train mode; switched to eval mode (as RobustBench does)", stacklevel=2
        )
        model.eval()
    x = data.images[:8].to(device)
    if x.min() < 0 or x.max() > 1:
        raise UserError("input images must lie in [0, 1]; normalization belongs inside the model")
    try:
        with torch.inference_mode():
            logits = model(x)
    except RuntimeError as exc:
        raise UserError(
            f"the model cannot take {data.info.name} images of shape {tuple(x.shape[1:])}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    expected = (len(x), data.info.num_classes)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise UserError(
            f"the model returned {shape} for a batch of {len(x)}, expected {expected}: "
            f"{data.info.name} has {data.info.num_classes} classes"
        )
    if not torch.isfinite(logits).all():
        raise UserError("the model returned NaN or infinite logits on clean test images")


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UserError(
            f"record name '{name}' must start with a letter or digit and hold only letters, "
            "digits and . _ + - (it is a file name); pass another with --name"
        )
    return name


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


def _clean_leftovers(out: Path, name: str, keep: set[str]) -> None:
    """State and temporary files a killed run left for this record (none of the current run)."""
    for pattern in (f".{name}.*.state.json", f".{name}.*.tmp"):
        for path in out.glob(pattern):
            if path.name not in keep:
                path.unlink(missing_ok=True)


def evaluate(
    model: str,
    *,
    dataset: str | None = None,
    metrics: str | Sequence[str] | None = None,
    protocol: Protocol | None = None,
    out_dir: str | Path | None = None,
    device: str = "auto",
    force: bool = False,
    data_dir: str | Path | None = None,
    corruptions_dir: str | Path | None = None,
    name: str | None = None,
    progress: bool = True,
) -> Evaluation:
    """Evaluate ``model`` (checkpoint path, zoo entry, ``timm:...``, ``robustbench:...``).

    Runs the ``metrics`` (all by default) whose blocks are missing or stale in
    ``<out_dir>/<name>.json`` (every one named with ``force``), merging each into it; without
    ``out_dir`` nothing is written. ``protocol`` defaults to the dataset's standard one.
    """
    from freqbench.data import get_dataset_info, load_dataset
    from freqbench.loading import load_model_ref

    specs = parse_metrics(metrics)
    device = resolve_device(device)
    loaded = load_model_ref(model, dataset, device)
    dataset = dataset or loaded.dataset
    if dataset is None:
        raise UserError(f"cannot tell which dataset {model} belongs to: pass --dataset")
    name = check_name(name or loaded.name)
    info = get_dataset_info(dataset)
    test = None if info.test_size else load_dataset(dataset, "test", data_dir=data_dir)
    n_test = info.test_size or len(test)
    options = {"corruptions_dir": corruptions_dir}
    values = (protocol or Protocol.standard()).resolve(dataset, n_test, options)

    out = Path(out_dir) if out_dir is not None else None
    path = out / f"{name}.json" if out is not None else None
    identity = loaded.sha256 or loaded.source
    existing = _existing(path, identity)
    keys = {spec.name: block_key(identity, dataset, spec, values) for spec in specs}
    done = existing["evaluations"] if existing else {}
    running = [s for s in specs if force or done.get(s.name, {}).get("key") != keys[s.name]]
    reused = [s.name for s in specs if s not in running]
    if existing is not None:
        kept = [n for n in existing["metrics"] if n not in {s.name for s in running}]
        _conflicts(existing, kept, running, values, path)
    if not running:
        return Evaluation(existing, path, [], reused)  # type: ignore[arg-type]

    if any(spec.images is not None for spec in running):
        test = test or load_dataset(dataset, "test", data_dir=data_dir)
        if len(test) != n_test:
            raise UserError(f"{dataset}'s test split holds {len(test)} images, not {n_test}")
        data = test.first(values["n_examples"])
        check_model(loaded.model, data, device)
    else:
        data = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _clean_leftovers(
            out, name, keep={f".{name}.{s.name}.{keys[s.name][:16]}.state.json" for s in running}
        )

    record = existing or _new_record(loaded, name, dataset)
    base_info = _model_info_base(loaded, name, dataset)
    context = RunContext(
        device=device,
        progress=progress,
        corruptions_dir=Path(corruptions_dir) if corruptions_dir else None,
        load_model=lambda ref: load_model_ref(ref, dataset, device).model,
        state_dir=out,
    )
    from tqdm.auto import tqdm

    for spec in tqdm(running, desc=f"evaluating {name}", leave=False, disable=not context.progress):
        start = time.perf_counter()
        result = run_metric(
            spec, loaded.model, data, values, context.options(spec, keys[spec.name], name)
        )
        seconds = round(time.perf_counter() - start, 3)
        artifacts = _write_artifacts(out, name, spec, result) if out is not None else {}
        _merge(record, spec, result.values, artifacts, values, base_info, dataset, {
            "version": spec.version,
            "key": keys[spec.name],
            "seconds": seconds,
            "device": device,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": _versions(),
            "executor": "local",
            "shards": 1,
        })  # fmt: skip
        if path is not None:
            atomic.write_json(path, record)
    if out is not None:
        _clean_leftovers(out, name, keep=set())
    return Evaluation(record, path, [s.name for s in running], reused)


def _versions() -> dict[str, str | None]:
    from freqbench.provenance import versions

    return versions()


def _new_record(loaded: LoadedModel, name: str, dataset: str) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "name": name,
        "dataset": dataset,
        "model_info": {},
        "model": {
            "source": loaded.source,
            "architecture": loaded.architecture,
            "recipe": loaded.recipe,
            "bass_mode": loaded.bass_mode,
            "checkpoint_sha256": loaded.sha256,
            "parameters": loaded.parameters,
            "transform": loaded.transform,
        },
        "protocol": {},
        "metrics": {},
        "evaluations": {},
        "artifacts": {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _merge(
    record: dict[str, Any],
    spec: MetricSpec,
    block: dict[str, Any],
    artifacts: dict[str, str],
    values: dict[str, Any],
    base_info: dict[str, Any],
    dataset: str,
    evaluation: dict[str, Any],
) -> None:
    """Put one finished block into ``record``; protocol and ``model_info`` follow its blocks."""
    kept = {f: v for f, v in record["protocol"].items() if f != "standard"}
    merged_values = {**values, **{f: v for f, v in kept.items() if f not in spec.reads}}
    record["metrics"] = ordered({**record["metrics"], spec.name: block})
    record["evaluations"] = ordered({**record["evaluations"], spec.name: evaluation})
    record["protocol"] = protocol_of(merged_values, record["metrics"], dataset)
    record["model_info"] = model_info(base_info, record["protocol"], record["metrics"])
    record["artifacts"] = {
        **{k: v for k, v in record["artifacts"].items() if k not in artifacts},
        **artifacts,
    }


def _write_artifacts(
    out: Path, name: str, spec: MetricSpec, result: MetricResult
) -> dict[str, str]:
    """Each declared artifact whose array the result holds, as ``<name>.<suffix>``."""
    from freqbench.registry import load_object

    written = {}
    for artifact in spec.artifacts:
        array = result.arrays.get(artifact.array)
        if array is None:
            continue
        write = load_object(artifact.write) if isinstance(artifact.write, str) else artifact.write
        path = out / f"{name}.{artifact.suffix}"
        write(array, path, {"name": name, "values": result.values})
        written[artifact.key] = path.name
    return written
