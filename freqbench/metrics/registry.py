"""The metric registry: built-in metrics, then the installed plugins, found by name.

Built-in metrics are the modules of :mod:`freqbench.metrics.builtin`, each with a ``SPEC``.
Plugins are installed packages that declare an entry point in the group ``freqbench.metrics``
whose value (``module:object``) is a :class:`MetricSpec`, or anything registered with
:func:`register_metric` when its module is imported.

Every metric is checked as it registers (:func:`register_metric`): its name, column keys,
RobustBench ``model_info`` keys, artifact files and protocol fields must
not collide with what is registered already (nor a field with an option of any command:
the CLI hands its parsers' option names over, :func:`freqbench.registry.reserve_option_names`), the fields it
reads must be declared, and its block schema must be a schema. A
plugin that fails any check, or raises anything while it loads (``SystemExit`` and
``KeyboardInterrupt`` included), is left out with one warning that names its package; every
other metric and command still works.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import re
import warnings
from collections.abc import Iterable
from importlib.metadata import EntryPoint

from freqbench.errors import UnknownNameError, UserError
from freqbench.metrics.fields import CORE_FIELDS
from freqbench.metrics.spec import MetricSpec
from freqbench.registry import (
    distribution,
    load_plugins,
    reserved_option_names,
    when_reserved,
)

ENTRY_POINT_GROUP = "freqbench.metrics"
#: Names that stand for several metrics in ``--metrics`` (and in a leaderboard.toml).
GROUPS: dict[str, tuple[str, ...]] = {
    "frequency": ("band_split", "long_tail", "gradient_spectrum", "fourier_heatmap"),
}
#: Names no protocol field may take whatever the command line: the record's own protocol key.
INTRINSIC_RESERVED = frozenset({"standard"})
#: An artifact is ``<record>.<suffix>``: a suffix ending in json would be read as a record.
ARTIFACT_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

_METRICS: dict[str, MetricSpec] = {}
_BUILTIN: set[str] = set()  # names of the metrics that ship with freqbench
_SOURCES: dict[str, str] = {}  # plugin metric -> "distribution version"
_loaded = False


def _collisions(spec: MetricSpec, others: Iterable[MetricSpec], reads: bool = True) -> list[str]:
    """How ``spec`` clashes with the registered ``others`` (``reads``: and whether the fields
    it reads are declared)."""
    others = list(others)
    found = []
    taken = {
        "column key": {c.key for o in others for c in o.columns},
        "model_info key": {c.model_info for o in others for c in o.columns if c.model_info},
        "artifact key": {a.key for o in others for a in o.artifacts},
        "artifact suffix": {a.suffix for o in others for a in o.artifacts},
    }
    own = {
        "column key": [c.key for c in spec.columns],
        "model_info key": [c.model_info for c in spec.columns if c.model_info],
        "artifact key": [a.key for a in spec.artifacts],
        "artifact suffix": [a.suffix for a in spec.artifacts],
    }
    for what, names in own.items():
        for name in sorted(set(names)):
            if name in taken[what] or names.count(name) > 1:
                found.append(f"its {what} '{name}' is taken")
    for artifact in spec.artifacts:
        if not ARTIFACT_SUFFIX.match(artifact.suffix) or artifact.suffix.endswith("json"):
            found.append(
                f"its artifact suffix '{artifact.suffix}' must be lowercase letters, digits and "
                ". _ - and must not end in json (the file would be read as a record)"
            )
    core = {f.name for f in CORE_FIELDS}
    declared = core | {f.name for o in others for f in o.fields}
    for field in spec.fields:
        if field.name in declared:
            found.append(f"its protocol field '{field.name}' is declared already")
        elif field.name in reserved_field_names():
            found.append(f"its protocol field '{field.name}' would take the option {field.option}")
    for name in spec.reads if reads else ():
        if name not in declared | {f.name for f in spec.fields}:
            found.append(f"it reads the undeclared protocol field '{name}'")
    from jsonschema import Draft202012Validator  # here: listing and --help stay instant
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(spec.block_schema())
    except SchemaError as exc:
        found.append(f"its block schema is not a JSON Schema: {exc.message}")
    return found


def reserved_field_names() -> frozenset[str]:
    """Names a protocol field may not take: the record's own key, and every option of the
    command line (:func:`freqbench.registry.reserve_option_names`)."""
    return INTRINSIC_RESERVED | reserved_option_names()


def _leave_out_clashing() -> None:
    """Plugins loaded before the CLI handed its option names over, whose fields take one,
    are left out now with one warning each, as they would have been at load."""
    for name, source in sorted(_SOURCES.items()):
        spec = _METRICS.get(name)
        taken = [f for f in (spec.fields if spec else ()) if f.name in reserved_field_names()]
        if taken:
            del _METRICS[name], _SOURCES[name]
            warnings.warn(
                f"freqbench: metric plugin '{name}' (package {source}) is left out: its "
                f"protocol field '{taken[0].name}' would take the option {taken[0].option}",
                stacklevel=2,
            )


when_reserved(_leave_out_clashing)


def register_metric(spec: MetricSpec, *, check_reads: bool = True) -> MetricSpec:
    """Add a metric after checking it against the registered ones (see the module docstring);
    a clash is a ValueError that says what to rename. Returns the spec."""
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register_metric takes a MetricSpec, got {type(spec).__name__}")
    if _METRICS.get(spec.name) is spec:
        return spec
    if spec.name in _METRICS:
        raise ValueError(f"metric '{spec.name}' is already registered")
    if spec.name in GROUPS:
        raise ValueError(f"metric '{spec.name}' would take the name of a group of metrics")
    found = _collisions(spec, _METRICS.values(), reads=check_reads)
    if found:
        raise ValueError(f"metric '{spec.name}': {'; '.join(found)}")
    _METRICS[spec.name] = spec
    return spec


def _load_builtin() -> None:
    """Every module of :mod:`freqbench.metrics.builtin`; the fields a built-in reads may be
    declared by another built-in, so they are checked once all are in."""
    package = importlib.import_module("freqbench.metrics.builtin")
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        spec = importlib.import_module(module.name).SPEC
        _BUILTIN.add(register_metric(spec, check_reads=False).name)
    for name in _BUILTIN:
        others = [s for s in _METRICS.values() if s.name != name]
        found = _collisions(_METRICS[name], others)
        if found:
            raise ValueError(f"metric '{name}': {'; '.join(found)}")


def _load_plugin(entry: EntryPoint) -> None:
    """Register one entry point's metrics (a MetricSpec, or those its module registers when
    imported), all or none: on any failure what it registered is taken out again."""
    before = dict(_METRICS)
    try:
        loaded = entry.load()
        if isinstance(loaded, MetricSpec):
            register_metric(loaded)
        elif entry.name not in _METRICS:
            raise TypeError(
                f"it names a {type(loaded).__name__}, not a MetricSpec, and registers no "
                f"metric called '{entry.name}'"
            )
    except BaseException:
        _METRICS.clear()
        _METRICS.update(before)
        raise
    for name in _METRICS.keys() - before.keys():
        _SOURCES[name] = distribution(entry)


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        _load_builtin()
        load_plugins(ENTRY_POINT_GROUP, "metric", _load_plugin)


def get_metric(name: str) -> MetricSpec:
    _ensure_loaded()
    try:
        return _METRICS[name]
    except KeyError:
        raise UnknownNameError("metric", name, _METRICS) from None


def plugin_source(name: str) -> str | None:
    """The package (name and version) a plugin metric came from; None for a built-in one."""
    _ensure_loaded()
    return _SOURCES.get(name)


def all_metrics() -> list[MetricSpec]:
    """Every metric in the canonical order: built-ins by ``order``, then plugins by name."""
    _ensure_loaded()
    return sorted(_METRICS.values(), key=lambda spec: (spec.order, spec.name))


def builtin_metrics() -> list[MetricSpec]:
    """The metrics that ship with freqbench and run by default, in the canonical order."""
    return [spec for spec in all_metrics() if spec.name in _BUILTIN and spec.by_default]


def list_metrics(pattern: str | None = None) -> list[str]:
    names = [spec.name for spec in all_metrics()]
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names


def expand(names: Iterable[str]) -> list[str]:
    """``names`` with each group name replaced by its metrics (``frequency``: the four)."""
    return [member for name in names for member in GROUPS.get(name, (name,))]


def parse_metrics(spec: str | list[str] | tuple[str, ...] | None) -> list[MetricSpec]:
    """``"all"``, ``None``, a comma list or a sequence of metric or group names -> specs in
    the canonical order."""
    if spec is None or spec == "all":
        return [m for m in all_metrics() if m.by_default]
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    if not names or not all(names):
        raise UserError("--metrics needs a comma list of metric names, e.g. clean,filters")
    _ensure_loaded()
    chosen = set()
    for name in expand(names):
        try:
            chosen.add(get_metric(name).name)
        except UnknownNameError:
            raise UnknownNameError("metric", name, [*_METRICS, *GROUPS]) from None
    return [m for m in all_metrics() if m.name in chosen]
