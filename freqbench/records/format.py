"""The record format: one JSON file per model, one block per metric, each block keyed.

A record (``freqbench-record/3``) holds RobustBench's ``model_info``, the ``model``, the
``protocol`` (every field its blocks read, plus the threat model), ``metrics`` (each metric's
numbers) and ``evaluations`` (per metric: its version, the key of checkpoint + metric +
version + the fields it read, and when, where and how fast it ran), and the ``artifacts``
beside it. Older records are migrated on read, and nothing re-runs: the first format's
(``freqbench-record/1``) blocks get the keys the evaluator computes for the same protocol, and
the second format's single ``frequency`` block becomes the four blocks that replaced it
(``band_split``, ``long_tail``, ``gradient_spectrum``, ``fourier_heatmap``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from freqbench.errors import UnknownNameError
from freqbench.metrics import MetricSpec, all_metrics, builtin_metrics, get_metric
from freqbench.protocol import all_fields, block_key, format_eps, is_standard

RECORD_FORMAT = "freqbench-record/3"
FIRST_FORMAT = "freqbench-record/1"
#: Before format 3, one ``frequency`` block held every frequency measure.
SECOND_FORMAT = "freqbench-record/2"
#: The version every built-in metric had when records were first written.
LEGACY_VERSION = "1"
#: Fields that name the record's threat model; every record states them (RobustBench does).
THREAT_FIELDS = ("norm", "eps")
#: Metrics no longer registered, as their blocks' keys were computed (for migration only).
RETIRED = {
    "frequency": MetricSpec(
        name="frequency",
        description="every frequency measure in one block (records before format 3)",
        version=LEGACY_VERSION,
        compute="",
        reads=("n_examples", "heatmap_n_examples", "heatmap_eps", "seed", "q"),
        images=None,
    ),
}
#: What each metric that replaced ``frequency`` takes of its block.
FREQUENCY_PARTS = {
    "band_split": lambda b: {
        **{
            k: b[k] for k in ("radii", "headline_radius", "low_pass_accuracy", "high_pass_accuracy")
        },
        "n": b["n"],
    },
    "long_tail": lambda b: {**b["long_tail"], "n": b["n"]},
    "gradient_spectrum": lambda b: {**b["gradient"], "n": b["n"]},
    "fourier_heatmap": lambda b: dict(b["heatmap"]),
}


def model_id(record: Mapping[str, Any]) -> str:
    """What a block's key names the model by: its checkpoint's sha256, else its source."""
    model = record["model"]
    return model.get("checkpoint_sha256") or model["source"]


def model_identity(model: Mapping[str, Any]) -> tuple[str, str]:
    """Which model a record's ``model`` section describes: the weights (sha256, else the
    source) and the transform applied to them (smoothed kernels make another model of the
    same weights). Two records of one identity and norm are the same row twice."""
    weights = model.get("checkpoint_sha256") or model.get("source") or ""
    return str(weights), json.dumps(model.get("transform"), sort_keys=True)


def spec_or_none(name: str) -> MetricSpec | None:
    """The metric's spec, or None for a block of a plugin that is not installed here."""
    try:
        return get_metric(name)
    except UnknownNameError:
        return None


def ordered(blocks: Mapping[str, Any]) -> dict[str, Any]:
    """``blocks`` in the canonical metric order; blocks of unknown metrics last, by name."""
    order = {spec.name: i for i, spec in enumerate(all_metrics())}
    return {k: blocks[k] for k in sorted(blocks, key=lambda k: (order.get(k, len(order)), k))}


def protocol_of(
    resolved: Mapping[str, Any],
    metrics: Mapping[str, Any],
    dataset: str,
    stored: Iterable[str] = (),
) -> dict:
    """The record's protocol: the threat model and every field a block reads, plus ``standard``.

    Which fields a block of a metric not installed here reads is unknown, so while there is
    one, every field of the ``stored`` protocol stays (its block was computed with them)."""
    fields = list(THREAT_FIELDS)
    for name in metrics:
        spec = spec_or_none(name)
        fields += [f for f in (spec.reads if spec else stored) if f not in fields]
        image_file_input = spec and spec.images and resolved.get("preprocessing") is not None
        if image_file_input and "preprocessing" not in fields:  # see metric_protocol
            fields.append("preprocessing")
    known = all_fields()
    protocol = {name: resolved.get(name) for name in known if name in fields}
    protocol |= {f: resolved[f] for f in sorted(fields) if f not in known and f != "standard"}
    protocol["standard"] = is_standard(dataset, protocol, list(metrics))
    return protocol


def model_info(
    base: Mapping[str, Any], protocol: Mapping[str, Any], metrics: Mapping[str, Any]
) -> dict[str, Any]:
    """RobustBench's ``model_info``: the model's metadata and the percentages its columns name.

    Every built-in column's key is present (null without its block), as RobustBench's tools
    expect; a plugin's key only with its block, so that a record does not depend on what is
    installed where it was written.
    """
    specs = [*builtin_metrics(), *filter(None, map(spec_or_none, metrics))]
    info: dict[str, Any] = {
        **base,
        "threat_model": protocol["norm"],
        "eps": format_eps(protocol["eps"]),
        **{c.model_info: None for spec in specs for c in spec.presentation.columns if c.model_info},
        "unreliable": False,
    }
    for name, block in metrics.items():
        spec = spec_or_none(name)
        if spec is None:
            continue
        for column in spec.presentation.columns:
            value = column.value(block)
            if column.model_info and value is not None:
                info[column.model_info] = round(100 * value, 2)
        if any(flag.name == "unreliable" and flag.raised(block) for flag in spec.flags):
            info["unreliable"] = True
    return info


def _neutral_fields() -> dict[str, Any]:
    """Fields added after records were first written, at the value that changes nothing."""
    return {name: f.neutral for name, f in all_fields().items() if f.neutral is not None}


def _completed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every field that its blocks read and its protocol lacks (a field added
    after it was written) at the field's neutral value."""
    protocol, metrics = data.get("protocol"), data.get("metrics")
    if not isinstance(protocol, dict) or not isinstance(metrics, dict):
        return data
    read = {f for name in metrics for f in (getattr(spec_or_none(name), "reads", ()) or ())}
    missing = {k: v for k, v in _neutral_fields().items() if k in read and k not in protocol}
    return {**data, "protocol": {**protocol, **missing}} if missing else data


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A record in the current format: a first-format record is converted, a second-format
    one has its frequency block split (:func:`_split_frequency`), and a protocol that lacks a
    field added since is completed with the field's neutral value. Nothing is re-run: every
    block keeps its numbers and gets the key the evaluator gives such a block."""
    if data.get("format") == FIRST_FORMAT:
        data = _from_first_format(data)
    if data.get("format") == SECOND_FORMAT:
        data = _split_frequency(data)
    return _completed(data)


def _key_spec(name: str) -> MetricSpec | None:
    """The spec a block's key is computed with: the registered one, or the retired one."""
    return spec_or_none(name) or RETIRED.get(name)


def _from_first_format(data: dict[str, Any]) -> dict[str, Any]:
    """A ``freqbench-record/1`` record in the second format. Each block is keyed as the
    evaluator keyed a block of the same checkpoint, dataset and protocol, with the metric
    version the first format was written with, and keeps its time."""
    old = data["protocol"]
    settings = {
        **_neutral_fields(),
        **{name: old[name] for name in all_fields() if old.get(name) is not None},
    }
    settings.setdefault("corruptions_n_examples", old.get("n_examples"))
    settings.setdefault("q", 0.8)  # the long-tail share every first-format record used
    shift = data["metrics"].get("filters", {}).get("distribution_shift", {})
    settings["reference"] = shift.get("reference")
    metrics = ordered(data["metrics"])
    evaluations = {}
    for name in metrics:
        spec = _key_spec(name)
        evaluations[name] = {
            "version": LEGACY_VERSION,
            "key": block_key(model_id(data), data["dataset"], spec, settings, LEGACY_VERSION)
            if spec
            else "",
            "seconds": data.get("timings", {}).get(name, 0.0),
            "device": old.get("device", "cpu"),
            "created": data["created"],
            "versions": data.get("versions", {}),
            "executor": "local",
            "shards": 1,
        }
    read = {**metrics, **dict.fromkeys(FREQUENCY_PARTS if "frequency" in metrics else ())}
    return {
        "format": SECOND_FORMAT,
        "name": data["name"],
        "dataset": data["dataset"],
        "model_info": data.get("model_info", {}),
        "model": data["model"],
        "protocol": protocol_of(settings, read, data["dataset"]),
        "metrics": metrics,
        "evaluations": evaluations,
        "artifacts": data.get("artifacts", {}),
        "created": data["created"],
    }


def _split_frequency(data: dict[str, Any]) -> dict[str, Any]:
    """A second-format record in the third: its ``frequency`` block (one block for every
    frequency measure, version 1) becomes the blocks of the four metrics that replaced it,
    each with the numbers it held and the key its own fields give. Only a block its record
    justifies is split so (its stored key is the one its record gives it); any other part
    gets no key, and is run again. The block's time goes to the heat map, which took it."""
    metrics, evaluations = data.get("metrics"), data.get("evaluations")
    if not isinstance(metrics, dict) or not isinstance(evaluations, dict):
        return {**data, "format": RECORD_FORMAT}
    block, evaluation = metrics.get("frequency"), evaluations.get("frequency")
    try:
        parts = {name: part(block) for name, part in FREQUENCY_PARTS.items()}
        identity, dataset, protocol = model_id(data), data["dataset"], data["protocol"]
        version = evaluation["version"]
        old_key = block_key(identity, dataset, RETIRED["frequency"], protocol, version)
        justified = evaluation["key"] == old_key and version == LEGACY_VERSION
    except (KeyError, TypeError, AttributeError):  # no frequency block, or a damaged one
        return {**data, "format": RECORD_FORMAT}
    new_evaluations = {}
    for name in parts:
        spec = get_metric(name)
        key = block_key(identity, dataset, spec, protocol, LEGACY_VERSION) if justified else ""
        new_evaluations[name] = {
            **evaluation,
            "version": LEGACY_VERSION,
            "key": key,
            "seconds": evaluation.get("seconds", 0.0) if name == "fourier_heatmap" else 0.0,
            "migrated_from": "frequency",
        }
    rest = {k: v for k, v in metrics.items() if k != "frequency"}
    rest_evaluations = {k: v for k, v in evaluations.items() if k != "frequency"}
    return {
        **data,
        "format": RECORD_FORMAT,
        "metrics": ordered({**rest, **parts}),
        "evaluations": ordered({**rest_evaluations, **new_evaluations}),
    }
