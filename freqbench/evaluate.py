"""The standardized evaluator: one model in, one record out.

It loads the model, checks that it behaves like a classifier, runs the chosen metrics (each a
pure function of model and data), times them, and writes one JSON record (RobustBench's
``model_info`` keys plus everything freqbench adds) atomically, with the heat map and the
first-layer filter grid beside it. A record for the same model and protocol is reused.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from freqbench import atomic
from freqbench.data import LabeledImages, load_dataset
from freqbench.errors import UserError
from freqbench.loading import LoadedModel, load_model_ref
from freqbench.metrics import get_metric
from freqbench.protocol import Protocol
from freqbench.provenance import versions

RECORD_FORMAT = "freqbench-record/1"
ALL_METRICS = ("clean", "autoattack", "corruptions", "frequency", "filters")


def parse_metrics(spec: str | Sequence[str] | None) -> list[str]:
    """``"all"``, ``None``, a comma list or a sequence -> names in the canonical order."""
    if spec is None or spec == "all":
        return list(ALL_METRICS)
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    for name in names:
        get_metric(name)  # raises with a suggestion
    return [n for n in ALL_METRICS if n in names] + [n for n in names if n not in ALL_METRICS]


def check_model(model: nn.Module, data: LabeledImages, device: str) -> None:
    """Fail early and clearly on a model that cannot be evaluated as a classifier."""
    if model.training:
        warnings.warn(
            "the model was in train mode; switched to eval mode (as RobustBench does)", stacklevel=2
        )
        model.eval()
    x = data.images[:8].to(device)
    if x.min() < 0 or x.max() > 1:
        raise UserError("input images must lie in [0, 1]; normalization belongs inside the model")
    with torch.inference_mode():
        logits = model(x)
    expected = (len(x), data.info.num_classes)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise UserError(
            f"the model returned {shape} for a batch of {len(x)}, expected {expected}: "
            f"{data.info.name} has {data.info.num_classes} classes"
        )
    if not torch.isfinite(logits).all():
        raise UserError("the model returned NaN or infinite logits on clean test images")


def _eps_string(eps: float) -> str:
    """RobustBench writes eps as "8/255" for CIFAR; keep that form where it is exact."""
    scaled = eps * 255
    return (
        f"{round(scaled)}/255"
        if abs(scaled - round(scaled)) < 1e-9 and eps < 1 and round(scaled)
        else f"{eps:g}"
    )


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _model_info(loaded: LoadedModel, dataset: str, protocol: Protocol, metrics: dict) -> dict:
    meta = loaded.metadata
    autoattack = metrics.get("autoattack", {})
    return {
        "name": loaded.name,
        "authors": meta.get("authors", ""),
        "architecture": loaded.architecture,
        "dataset": dataset,
        "threat_model": protocol.norm,
        "eps": _eps_string(protocol.eps),
        "clean_acc": _percent(metrics.get("clean", {}).get("accuracy")),
        "autoattack_acc": _percent(autoattack.get("robust_accuracy")),
        "corruptions_acc": _percent(metrics.get("corruptions", {}).get("mean")),
        "additional_data": bool(meta.get("additional_data", False)),
        "number_forward_passes": 1,
        "venue": meta.get("venue", ""),
        "link": meta.get("link", ""),
        "footnote": meta.get("footnote") or None,
        "unreliable": bool(autoattack.get("unreliable", False)),
    }


def _reusable(
    path: Path, sha256: str | None, source: str, protocol: dict, metrics: list[str]
) -> dict | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    same_model = (
        record.get("model", {}).get("checkpoint_sha256") == sha256
        and record.get("model", {}).get("source") == source
    )
    ignored = ("device", "standard", "metrics", "corruptions_source")
    same_protocol = {
        k: v for k, v in record.get("protocol", {}).items() if k not in ignored
    } == protocol
    has_metrics = set(metrics) <= set(record.get("metrics", {}))
    return record if same_model and same_protocol and has_metrics else None


def _metric_options(
    name: str, protocol: Protocol, device: str, state_path: Path, corruptions_dir, reference
) -> dict[str, Any]:
    common = {"batch_size": protocol.batch_size, "device": device}
    return {
        "clean": common,
        "autoattack": {
            **common,
            "norm": protocol.norm,
            "eps": protocol.eps,
            "n_examples": protocol.autoattack_n_examples,
            "seed": protocol.seed,
            "state_path": state_path,
        },
        "corruptions": {**common, "seed": protocol.seed, "corruptions_dir": corruptions_dir},
        "frequency": {
            **common,
            "q": protocol.q,
            "heatmap_n_examples": protocol.heatmap_n_examples,
            "heatmap_eps": protocol.heatmap_eps,
            "seed": protocol.seed,
        },
        "filters": {"reference": reference},
    }.get(name, common)


def evaluate(
    model: str,
    *,
    dataset: str | None = None,
    metrics: str | Sequence[str] | None = None,
    protocol: Protocol | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    force: bool = False,
    reference: str | None = None,
    data_dir: str | Path | None = None,
    corruptions_dir: str | Path | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (checkpoint path, zoo entry, ``timm:...``, ``robustbench:...``).

    Returns the record; writes ``<out_dir>/<name>.json`` and its artifacts when ``out_dir`` is set.
    """
    names = parse_metrics(metrics)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA device")
    loaded = load_model_ref(model, dataset, device)
    dataset = dataset or loaded.dataset
    if dataset is None:
        raise UserError(f"cannot tell which dataset {model} belongs to: pass --dataset")
    if name:
        loaded.name = name
    test = load_dataset(dataset, "test", data_dir=data_dir)
    protocol = (protocol or Protocol.standard(dataset)).resolved(test.info, len(test))
    data = test.first(protocol.n_examples)
    check_model(loaded.model, data, device)

    out = Path(out_dir) if out_dir is not None else None
    record_path = out / f"{loaded.name}.json" if out else None
    if record_path and not force:
        existing = _reusable(record_path, loaded.sha256, loaded.source, protocol.to_dict(), names)
        if existing is not None:
            return existing
    reference_model = load_model_ref(reference, dataset, device).model if reference else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    state_path = (out or Path(".")) / f".{loaded.name}.autoattack.state.json"

    results, arrays, timings = {}, {}, {}
    for metric_name in tqdm(names, desc=f"evaluating {loaded.name}", leave=False):
        options = _metric_options(
            metric_name, protocol, device, state_path, corruptions_dir, reference_model
        )
        if out is None and metric_name == "autoattack":
            options["state_path"] = None
        start = time.perf_counter()
        subset = (
            data.first(protocol.corruptions_n_examples) if metric_name == "corruptions" else data
        )
        result = get_metric(metric_name).fn(loaded.model, subset, **options)
        timings[metric_name] = round(time.perf_counter() - start, 3)
        results[metric_name] = result.values
        arrays.update({f"{metric_name}.{k}": v for k, v in result.arrays.items()})
    if "filters" in results and reference:
        results["filters"].setdefault("distribution_shift", {})["reference"] = reference

    record = {
        "format": RECORD_FORMAT,
        "name": loaded.name,
        "dataset": dataset,
        "model_info": _model_info(loaded, dataset, protocol, results),
        "model": {
            "source": loaded.source,
            "architecture": loaded.architecture,
            "recipe": loaded.recipe,
            "bass_mode": loaded.bass_mode,
            "checkpoint_sha256": loaded.sha256,
            "parameters": loaded.parameters,
            "transform": loaded.transform,
        },
        "protocol": {
            **protocol.to_dict(),
            "device": device,
            "corruptions_source": "files" if corruptions_dir else "generated",
            "metrics": names,
            "standard": protocol.is_standard(dataset, len(test)),
        },
        "metrics": results,
        "artifacts": {},
        "timings": timings,
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if out is not None:
        record["artifacts"] = _write_artifacts(out, loaded, arrays)
        atomic.write_json(record_path, record)
        state_path.unlink(missing_ok=True)
    return record


def _write_artifacts(
    out: Path, loaded: LoadedModel, arrays: dict[str, np.ndarray]
) -> dict[str, str]:
    artifacts = {}
    heatmap = arrays.get("frequency.heatmap")
    if heatmap is not None:
        from freqbench.plots.heatmap import plot_heatmap

        npy = out / f"{loaded.name}.heatmap.npy"
        with atomic.atomic_path(npy) as tmp, open(tmp, "wb") as f:
            np.save(f, heatmap)
        plot_heatmap(
            heatmap, out / f"{loaded.name}.heatmap.png", f"{loaded.name}: Fourier heat map"
        )
        artifacts.update(heatmap_npy=npy.name, heatmap_png=f"{loaded.name}.heatmap.png")
    try:
        from freqbench.plots.filters import plot_first_layer_filters

        png = plot_first_layer_filters(loaded.model, out / f"{loaded.name}.filters.png")
        artifacts["filters_png"] = Path(png).name
    except UserError:  # a model without k >= 3 convolutions has no filter grid
        pass
    return artifacts
