"""Metrics: each one a :class:`MetricSpec` that says what it reads, computes and reports.

The built-in metrics are the modules of :mod:`freqbench.metrics.builtin`; installed packages
add more through the entry-point group ``freqbench.metrics`` (see CONTRIBUTING.md, "Writing
a metric plugin"). A metric never touches files, the CLI or the leaderboard: the evaluator
runs it and writes the record, and everything else reads its declaration.
"""

from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.registry import (
    ENTRY_POINT_GROUP,
    all_metrics,
    builtin_metrics,
    default_metrics,
    get_metric,
    list_metrics,
    parse_metrics,
    register_metric,
)
from freqbench.metrics.spec import (
    Artifact,
    FieldContext,
    Flag,
    MetricResult,
    MetricSpec,
    ProtocolField,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Artifact",
    "Column",
    "FieldContext",
    "Flag",
    "MetricResult",
    "MetricSpec",
    "Presentation",
    "ProtocolField",
    "all_metrics",
    "builtin_metrics",
    "default_metrics",
    "get_metric",
    "list_metrics",
    "parse_metrics",
    "register_metric",
]
