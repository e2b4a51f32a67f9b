"""Metrics: pure functions ``(model, data, **options) -> MetricResult``, found by name.

A metric never touches files, the CLI or the leaderboard; the evaluator composes them and
writes the record. Importing this package registers the five built-in metrics.
"""

from freqbench.metrics.base import (  # noqa: I001  (base first: the metric modules register into it)
    MetricResult,
    get_metric,
    list_metrics,
    register_metric,
)
from freqbench.metrics import autoattack, clean, corruptions, filters_metric, frequency  # noqa: F401

__all__ = ["MetricResult", "get_metric", "list_metrics", "register_metric"]
