"""The metric registry: built-in metrics, then the installed plugins, found by name.

Built-in metrics are the modules of :mod:`freqbench.metrics.builtin`, each with a ``SPEC``.
Plugins are installed packages that declare an entry point in the group ``freqbench.metrics``
whose value (``module:object``) is a :class:`MetricSpec`, or anything registered with
:func:`register_metric` when its module is imported. A plugin that fails to load is named in
a warning and left out; every other metric still runs.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from importlib.metadata import entry_points

from freqbench.errors import UnknownNameError, UserError
from freqbench.metrics.spec import MetricSpec

ENTRY_POINT_GROUP = "freqbench.metrics"

_METRICS: dict[str, MetricSpec] = {}
_loaded = False


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric; its name must be new. Returns the spec, so a module can keep it."""
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register_metric takes a MetricSpec, got {type(spec).__name__}")
    if spec.name in _METRICS and _METRICS[spec.name] is not spec:
        raise ValueError(f"metric '{spec.name}' is already registered")
    _METRICS[spec.name] = spec
    return spec


def _load_builtin() -> None:
    package = importlib.import_module("freqbench.metrics.builtin")
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        register_metric(importlib.import_module(module.name).SPEC)


def _load_plugins() -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
            if isinstance(loaded, MetricSpec):
                register_metric(loaded)
            elif entry.name not in _METRICS:
                raise TypeError(
                    f"it names a {type(loaded).__name__}, not a MetricSpec, and registers no "
                    f"metric called '{entry.name}'"
                )
        except Exception as exc:  # a broken plugin must not take the other metrics down
            warnings.warn(
                f"freqbench: metric plugin '{entry.name}' ({entry.value}) failed to load and is "
                f"left out: {type(exc).__name__}: {exc}",
                stacklevel=2,
            )


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        _load_builtin()
        _load_plugins()


def get_metric(name: str) -> MetricSpec:
    _ensure_loaded()
    try:
        return _METRICS[name]
    except KeyError:
        raise UnknownNameError("metric", name, _METRICS) from None


def all_metrics() -> list[MetricSpec]:
    """Every metric in the canonical order: built-ins by ``order``, then plugins by name."""
    _ensure_loaded()
    return sorted(_METRICS.values(), key=lambda spec: (spec.order, spec.name))


def list_metrics(pattern: str | None = None) -> list[str]:
    import fnmatch

    names = [spec.name for spec in all_metrics()]
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names


def parse_metrics(spec: str | list[str] | tuple[str, ...] | None) -> list[MetricSpec]:
    """``"all"``, ``None``, a comma list or a sequence of names -> specs in the canonical order."""
    if spec is None or spec == "all":
        return all_metrics()
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    if not names or not all(names):
        raise UserError("--metrics needs a comma list of metric names, e.g. clean,filters")
    chosen = {get_metric(name).name for name in names}
    return [m for m in all_metrics() if m.name in chosen]
