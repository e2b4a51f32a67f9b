"""The evaluation protocol: how many images, which eps, which seed, and what counts as standard.

This is the one module that owns it. Every protocol field is declared once: the shared ones
here (:data:`CORE_FIELDS`), the others by the metric that introduces them (e.g.
``autoattack_n_examples``), each with its default per dataset. From those declarations this
module resolves a user's choices into numbers, keys each metric's record block by exactly the
fields it reads, judges whether a record follows its dataset's standard protocol (a count
above the standard minimum still does, one below does not), and formats eps one way for every
page (:func:`~freqbench.metrics.spec.format_eps`, declared beside the metric declarations that
print eps too). The evaluator, the leaderboard, the grid and the findings all ask it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from freqbench.data import DatasetInfo, base_dataset, get_dataset_info, list_datasets
from freqbench.data.base import resolve_preprocessing
from freqbench.errors import UnknownNameError, UserError
from freqbench.metrics import MetricSpec, all_metrics
from freqbench.metrics.fields import CORE_FIELDS
from freqbench.metrics.spec import FieldContext, ProtocolField, format_eps
from freqbench.threat_models import DEFAULT, bounded_names, get_threat_model, threat_models

PRESETS = ("standard", "quick")


def all_fields() -> dict[str, ProtocolField]:
    """Every protocol field by name, core fields first, then each metric's in metric order
    (the registry has checked that no two declare one name)."""
    return {f.name: f for f in (*CORE_FIELDS, *(f for spec in all_metrics() for f in spec.fields))}


@dataclass(frozen=True, eq=False)
class ResolvedProtocol(Mapping[str, Any]):
    """Every protocol field's value for one dataset, defaults filled in and checked.

    The fields every evaluation has are attributes; a metric's own fields (a plugin's too) are
    read by name, as from a mapping (``protocol["autoattack_n_examples"]``), which is also how
    the parts that handle any field (block keys, record protocols) read it. Frozen: one run
    plans, keys and computes with the same protocol. Equal to any mapping of the same fields.
    """

    dataset: str
    fields: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def __reduce__(self) -> tuple[type, tuple[str, dict[str, Any]]]:
        return ResolvedProtocol, (self.dataset, dict(self.fields))  # it travels to workers

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"ResolvedProtocol({self.dataset!r}, {dict(self.fields)!r})"

    @property
    def norm(self) -> str:
        return self.fields["norm"]

    @property
    def eps(self) -> float:
        return self.fields["eps"]

    @property
    def n_examples(self) -> int:
        return self.fields["n_examples"]

    @property
    def seed(self) -> int:
        return self.fields["seed"]

    @property
    def batch_size(self) -> int:
        return self.fields["batch_size"]

    @property
    def shards(self) -> int:
        return self.fields["shards"]

    @property
    def preprocessing(self) -> str | None:
        return self.fields["preprocessing"]


@dataclass(frozen=True)
class Protocol:
    """A preset (``standard`` or ``quick``) and the fields a user set explicitly."""

    preset: str = "standard"
    choices: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, preset: str = "standard", **choices: Any) -> None:
        if preset not in PRESETS:
            raise UnknownNameError("protocol", preset, PRESETS)
        object.__setattr__(self, "preset", preset)
        object.__setattr__(self, "choices", {k: v for k, v in choices.items() if v is not None})

    @classmethod
    def standard(cls) -> Protocol:
        """What a leaderboard compares: the dataset's standard numbers."""
        return cls("standard")

    @classmethod
    def quick(cls) -> Protocol:
        """For demos and smoke runs: 200 AutoAttack and heat-map images, 1000 corrupted ones,
        the rest on the whole test set. Its records say they are non-standard."""
        return cls("quick")

    def replace(self, **choices: Any) -> Protocol:
        return Protocol(self.preset, **{**self.choices, **choices})

    def resolve(
        self, dataset: str, n_test: int | None = None, options: Mapping[str, Any] | None = None
    ) -> ResolvedProtocol:
        """Every field's value for ``dataset`` (``n_test`` test images), defaults filled in.

        ``options`` are the run's options that a default may depend on (``corruptions_dir``,
        the model's ``preprocessing`` and ``input_mean``).
        """
        info = get_dataset_info(dataset)
        n_test = info.test_size if n_test is None else n_test
        if n_test is None:
            raise UserError(f"the size of {dataset}'s test split is unknown: pass n_test")
        fields = all_fields()
        for name in self.choices:
            if name not in fields:
                raise UnknownNameError("protocol field", name, fields)
        resolved: dict[str, Any] = {}
        for name, declared in fields.items():
            context = FieldContext(info, n_test, resolved, options or {})
            if name in self.choices:
                value = declared.check(self.choices[name])
            else:
                value = declared.default_for(context, quick=self.preset == "quick")
                if declared.count and name != "n_examples":
                    value = min(value, resolved["n_examples"])
            resolved[name] = value
        _check_counts(resolved, fields, self.choices, n_test, dataset)
        _check_eps(resolved, info)
        mean = (options or {}).get("input_mean")
        resolved["preprocessing"] = _canonical_preprocessing(resolved, info, mean)
        return ResolvedProtocol(dataset, resolved)


def _check_counts(
    resolved: Mapping[str, Any],
    fields: Mapping[str, ProtocolField],
    chosen: Mapping[str, Any],
    n_test: int,
    dataset: str,
) -> None:
    if resolved["n_examples"] > n_test:
        raise UserError(
            f"--n-examples {resolved['n_examples']} is more than the {n_test} test images of "
            f"{dataset}; pass at most {n_test}"
        )
    for name, declared in fields.items():
        explicit = declared.count and name != "n_examples" and name in chosen
        if explicit and resolved[name] > resolved["n_examples"]:
            raise UserError(
                f"{declared.option} {resolved[name]} is more than the {resolved['n_examples']} "
                f"images evaluated (--n-examples; {dataset} has {n_test}); pass at most "
                f"{resolved['n_examples']}"
            )


def _canonical_preprocessing(
    resolved: Mapping[str, Any], info: DatasetInfo, mean: Iterable[float] | None
) -> str | None:
    """Only image-file datasets take a preprocessing; a name is kept in its canonical form
    (a timm border crop's fill from the model's input ``mean`` when it names none)."""
    mean = tuple(mean) if mean is not None else None
    return resolve_preprocessing(info, resolved["preprocessing"], mean)


def _check_eps(resolved: Mapping[str, Any], info: DatasetInfo) -> None:
    """An eps past the largest possible distance between two images measures nothing."""
    threat_model = get_threat_model(resolved["norm"])
    largest = threat_model.largest_distance(info)
    if resolved["eps"] > largest:
        raise UserError(
            f"--eps {resolved['eps']:g} is larger than any {resolved['norm']} distance between two "
            f"{info.name} images in [0, 1] ({largest:g}): it would measure nothing. The "
            f"dataset's eps is {format_eps(threat_model.eps(info))}"
        )


def metric_protocol(spec: MetricSpec, protocol: Mapping[str, Any]) -> dict[str, Any]:
    """The fields ``spec`` reads, with their values: what its record block depends on. A metric
    that reads images also depends on how they were made (``preprocessing``). A field at its
    neutral value is left out, as in blocks made before the field existed (a protocol written
    then, which lacks the field, is at that value)."""
    fields = all_fields()
    read = {
        name: protocol.get(name)
        for name in spec.reads
        if fields[name].neutral is None
        or protocol.get(name, fields[name].neutral) != fields[name].neutral
    }
    if spec.images is not None and protocol.get("preprocessing") is not None:
        read["preprocessing"] = protocol["preprocessing"]
    return read


def block_key(
    model_id: str, dataset: str, spec: MetricSpec, protocol: Mapping[str, Any], version: str = ""
) -> str:
    """The key of one metric block: checkpoint, dataset, metric, version (``spec.version``
    unless given) and the fields the metric reads. A block whose stored key differs from the
    key of a new run is stale and runs again."""
    identity = {
        "model": model_id,
        "dataset": dataset,
        "metric": spec.name,
        "version": version or spec.version,
        "protocol": metric_protocol(spec, protocol),
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def standard_protocol(
    dataset: str, norm: str = DEFAULT, preprocessing: str | None = None
) -> ResolvedProtocol | None:
    """The standard protocol's value of every field for ``dataset`` and ``norm``, or None when
    the dataset has none. A field whose standard depends on the model's input size (the heat
    map's eps) follows ``preprocessing``, the model's own."""
    base = base_dataset(dataset)  # a variant (BaSS "-b") shares its base's protocol
    if base not in list_datasets() or not get_dataset_info(base).standard_counts:
        return None
    return Protocol(norm=norm).resolve(base, options={"preprocessing": preprocessing})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, rel_tol=1e-6)
        )
    return a == b


def _show(name: str, value: Any) -> str:
    return format_eps(value) if name == "eps" else f"{value}"


def deviations(dataset: str, protocol: Mapping[str, Any], metrics: Iterable[str]) -> list[str]:
    """How the protocol of a record holding ``metrics`` differs from the dataset's standard.

    Only the fields those metrics read are judged (by their ``standard`` rule and their
    ``deviation``); an empty list means standard.
    """
    norm = protocol.get("norm", DEFAULT)
    norm = norm if norm in bounded_names() else DEFAULT
    standard = standard_protocol(dataset, norm, protocol.get("preprocessing"))
    if standard is None:
        return [f"no standard protocol is defined for {dataset}"]
    fields = all_fields()
    read = [name for name in fields if any(name in _reads(m) for m in metrics)]
    found = []
    for name in read:
        departure = fields[name].deviation
        if departure is not None and (text := departure(protocol)) is not None:
            found.append(text)
        rule, value, want = fields[name].standard, protocol.get(name), standard[name]
        if rule == "any" or (value is None and want is None):
            continue
        if value is None or (rule == "at_least" and value < want):
            found.append(f"{name} {_show(name, value)} (standard >= {_show(name, want)})")
        elif rule == "equal" and not _same(value, want):
            found.append(f"{name} {_show(name, value)} (standard {_show(name, want)})")
    return found


def _reads(metric: str) -> tuple[str, ...]:
    from freqbench.metrics import get_metric

    try:
        return get_metric(metric).reads
    except UnknownNameError:  # a plugin's block, read where the plugin is not installed
        return ()


def is_standard(dataset: str, protocol: Mapping[str, Any], metrics: Iterable[str]) -> bool:
    return not deviations(dataset, protocol, list(metrics))


def describe_standard(dataset: str, norms: Iterable[str] = ()) -> str | None:
    """The standard protocol in one sentence, for leaderboard legends; None when there is none.
    It names the eps of the bounded threat models RobustBench ranks, and of ``norms`` (those
    of the records on the page)."""
    named = [
        card.name
        for card in threat_models()
        if card.bounded and (card.robustbench is not None or card.name in set(norms))
    ]
    values = [standard_protocol(dataset, name) for name in named]
    if not named or any(v is None for v in values):
        return None
    first, *others = zip(named, values, strict=True)
    rest = ", ".join(f"{name} {format_eps(v['eps'])}" for name, v in others)
    return (
        f"{first[1]['n_examples']} test images; AutoAttack (standard version) on at least "
        f"{first[1]['autoattack_n_examples']} of them at {first[0]} eps "
        f"{format_eps(first[1]['eps'])}"
        + (f" ({rest} for {', '.join(name for name, _ in others)} records)" if others else "")
    )
