"""The metric registry: built-in metrics, then the installed plugins, found by name.

Built-in metrics are the modules of :mod:`freqbench.metrics.builtin`, each with a ``SPEC``.
Plugins are installed packages that declare an entry point in the group ``freqbench.metrics``
whose value (``module:object``) is a :class:`MetricSpec`, or anything registered with
:func:`register_metric` when its module is imported. :data:`METRICS` is a
:class:`freqbench.registry.Registry`: its checks, and the warning that leaves a plugin out.

Every metric is checked as it registers (:func:`_clashes`): its name, column keys,
RobustBench ``model_info`` keys, artifact files and protocol fields must
not collide with what is registered already (nor a field with an option of any command:
the CLI hands its parsers' option names over, :func:`freqbench.registry.reserve_option_names`),
the fields it reads must be declared, and its block schema must be a schema.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable
from typing import Any

from freqbench.errors import UnknownNameError, UserError
from freqbench.metrics.fields import CORE_FIELDS
from freqbench.metrics.spec import MetricSpec
from freqbench.registry import Registry, reserved_option_names

ENTRY_POINT_GROUP = "freqbench.metrics"
#: Names that stand for several metrics in ``--metrics`` (and in a leaderboard.toml).
GROUPS: dict[str, tuple[str, ...]] = {
    "frequency": ("band_split", "long_tail", "gradient_spectrum", "fourier_heatmap"),
}
#: Names no protocol field may take whatever the command line: the record's own protocol key.
INTRINSIC_RESERVED = frozenset({"standard"})
#: An artifact is ``<record>.<suffix>``: a suffix ending in json would be read as a record.
ARTIFACT_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _collisions(spec: MetricSpec, others: Iterable[MetricSpec]) -> list[str]:
    """How ``spec`` clashes with the registered ``others`` (and whether the fields it reads
    are declared)."""
    others = list(others)
    found = []
    taken = {
        "column key": {c.key for o in others for c in o.presentation.columns},
        "model_info key": {
            c.model_info for o in others for c in o.presentation.columns if c.model_info
        },
        "artifact key": {a.key for o in others for a in o.artifacts},
        "artifact suffix": {a.suffix for o in others for a in o.artifacts},
    }
    own = {
        "column key": [c.key for c in spec.presentation.columns],
        "model_info key": [c.model_info for c in spec.presentation.columns if c.model_info],
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
    for name in spec.reads:
        if name not in declared | {f.name for f in spec.fields}:
            found.append(f"it reads the undeclared protocol field '{name}'")
    if not _own(spec):  # freqbench's own schemas are checked by its tests, not at each start
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(spec.block_schema())
        except SchemaError as exc:
            found.append(f"its block schema is not a JSON Schema: {exc.message}")
    return found


def _own(spec: MetricSpec) -> bool:
    """A metric freqbench ships (its compute function lives in freqbench)."""
    compute = spec.compute
    where = compute if isinstance(compute, str) else getattr(compute, "__module__", "")
    return where.startswith("freqbench.")


def reserved_field_names() -> frozenset[str]:
    """Names a protocol field may not take: the record's own key, and every option of the
    command line (:func:`freqbench.registry.reserve_option_names`)."""
    return INTRINSIC_RESERVED | reserved_option_names()


def _clashes(name: str, spec: MetricSpec, others: list[MetricSpec]) -> list[str]:
    """The registry's check of one metric (see the module docstring)."""
    if name in GROUPS:
        return ["it would take the name of a group of metrics"]
    return _collisions(spec, others)


def _adopt(entry_name: str, loaded: Any) -> list[tuple[str, MetricSpec]]:
    """An entry point names a MetricSpec, or a module that registered ``entry_name``."""
    if isinstance(loaded, MetricSpec):
        return [(loaded.name, loaded)]
    if entry_name not in METRICS:  # registered while its module was imported
        raise TypeError(
            f"it names a {type(loaded).__name__}, not a MetricSpec, and registers no "
            f"metric called '{entry_name}'"
        )
    return []


def _builtins() -> list[tuple[str, MetricSpec]]:
    """Every module of :mod:`freqbench.metrics.builtin`."""
    package = importlib.import_module("freqbench.metrics.builtin")
    modules = pkgutil.iter_modules(package.__path__, package.__name__ + ".")
    specs = [importlib.import_module(module.name).SPEC for module in modules]
    return [(spec.name, spec) for spec in specs]


METRICS: Registry[MetricSpec] = Registry(
    "metric",
    ENTRY_POINT_GROUP,
    adopt=_adopt,
    check=_clashes,
    name_form=r"^[a-z0-9][a-z0-9_-]*$",
    name_rule="lowercase letters, digits, - and _",
    builtins=_builtins,
)


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric after checking it against the registered ones (see the module docstring);
    a clash is a ValueError that says what to rename. Returns the spec."""
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register_metric takes a MetricSpec, got {type(spec).__name__}")
    return METRICS.register(spec.name, spec)


def get_metric(name: str) -> MetricSpec:
    return METRICS.get(name)


def plugin_source(name: str) -> str | None:
    """The package (name and version) a plugin metric came from; None for a built-in one."""
    return METRICS.source(name)


def all_metrics() -> list[MetricSpec]:
    """Every metric in the canonical order: built-ins by ``order``, then plugins by name."""
    return sorted(METRICS.values(), key=lambda spec: (spec.order, spec.name))


def default_metrics() -> list[MetricSpec]:
    """The metrics ``--metrics all`` and a grid run: every one but those that ask to be named
    (``by_default`` False, e.g. corruptions_3d, which needs release files)."""
    return [spec for spec in all_metrics() if spec.by_default]


def builtin_metrics() -> list[MetricSpec]:
    """The metrics that ship with freqbench and run by default, in the canonical order."""
    return [spec for spec in all_metrics() if METRICS.is_builtin(spec.name) and spec.by_default]


def list_metrics(pattern: str | None = None) -> list[str]:
    """Metric names in the canonical order, or those ``pattern`` matches."""
    chosen = set(METRICS.names(pattern))
    return [spec.name for spec in all_metrics() if spec.name in chosen]


def expand(names: Iterable[str]) -> list[str]:
    """``names`` with each group name replaced by its metrics (``frequency``: the four)."""
    return [member for name in names for member in GROUPS.get(name, (name,))]


def parse_metrics(spec: str | list[str] | tuple[str, ...] | None) -> list[MetricSpec]:
    """``"all"``, ``None``, a comma list or a sequence of metric or group names -> specs in
    the canonical order."""
    if spec is None or spec == "all":
        return default_metrics()
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    if not names or not all(names):
        raise UserError("--metrics needs a comma list of metric names, e.g. clean,filters")
    chosen = set()
    for name in expand(names):
        try:
            chosen.add(get_metric(name).name)
        except UnknownNameError:
            raise UnknownNameError("metric", name, [*METRICS.names(), *GROUPS]) from None
    return [m for m in all_metrics() if m.name in chosen]
