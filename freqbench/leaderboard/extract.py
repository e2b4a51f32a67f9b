"""The numbers a leaderboard shows, each defined once: where in a record it lives and what it means.

Tables, BaSS deltas and correlations all read records through :data:`METRICS`, so a column
title or a record path is never spelled twice. Values are fractions as the record stores them;
a missing block or a NaN statistic reads as None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from freqbench.filter_stats import STAT_KEYS
from freqbench.records import Record

FAMILIES = ("noise", "blur", "weather", "digital")


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    percent: bool  # a fraction shown in percent (accuracies, error rates)
    read: Callable[[Record], Any]
    description: str
    correlate: bool = False  # a frequency or filter metric, correlated with robustness

    def value(self, record: Record) -> float | None:
        value = self.read(record)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return None if math.isnan(value) else float(value)


def _at(*keys: str) -> Callable[[Record], Any]:
    return lambda record: record.get(*keys)


def _headline(block: str) -> Callable[[Record], Any]:
    """Accuracy at the record's headline radius; radii are JSON keys, written as in ``f"{r:g}"``."""

    def read(record: Record) -> Any:
        radius = record.get("metrics", "frequency", "headline_radius")
        return None if radius is None else record.get("metrics", "frequency", block, f"{radius:g}")

    return read


_FILTER_TITLES = {
    "sparsity": ("Sparsity", "share of (near) zero first-layer kernels"),
    "variance_entropy": (
        "Var. entropy",
        "diversity of first-layer kernels (base-10 PCA entropy; 0.954 is the 3x3 maximum)",
    ),
    "variance_entropy_clean": (
        "Var. entropy (non-sparse)",
        "variance entropy without the sparse kernels",
    ),
    "orthogonality": ("Orthogonality", "1 - mean |cosine| between first-layer filters"),
    "kernel_high_frequency_energy": (
        "Kernel HF energy",
        "share of first-layer kernel energy away from DC",
    ),
    "centre_fraction": ("Centre fraction", "share of first-layer kernel energy in the centre tap"),
}

METRICS: dict[str, Metric] = {
    m.key: m
    for m in [
        Metric("clean", "Clean", True, _at("metrics", "clean", "accuracy"), "accuracy on clean test images"),
        Metric("autoattack", "AutoAttack", True, _at("metrics", "autoattack", "robust_accuracy"), "robust accuracy under AutoAttack (standard version)"),
        Metric("corruptions", "Corruptions", True, _at("metrics", "corruptions", "mean"), "mean accuracy over the 15 corruptions x 5 severities"),
        *[
            Metric(f, f.capitalize(), True, _at("metrics", "corruptions", "per_family", f), f"mean accuracy over the {f} corruptions")
            for f in FAMILIES
        ],
        Metric("lfc", "LFC", True, _headline("low_pass_accuracy"), "accuracy on low-pass filtered images at the headline radius (Wang et al.)", True),
        Metric("hfc", "HFC", True, _headline("high_pass_accuracy"), "accuracy on high-pass filtered images at the headline radius (Wang et al.)", True),
        Metric("head", "Head acc.", True, _at("metrics", "frequency", "long_tail", "head_accuracy"), "accuracy on the spectral head (rings holding 80% of the power; Lin et al.)", True),
        Metric("tail", "Tail acc.", True, _at("metrics", "frequency", "long_tail", "tail_accuracy"), "accuracy on the spectral tail (Lin et al.)", True),
        Metric("tail_share", "Grad. tail share", False, _at("metrics", "frequency", "gradient", "tail_share"), "share of input-gradient power beyond the data's R80 radius (Lin et al.)", True),
        Metric("grad_entropy", "Grad. entropy", False, _at("metrics", "frequency", "gradient", "entropy"), "spectral entropy of the input gradient's radial power profile", True),
        *[
            Metric(f"grad_radius_{top}", f"Grad. radius (top {top}%)", False, _at("metrics", "frequency", "gradient", "mean_radius_top", top), f"mean radius of the top {top}% gradient coefficients", True)
            for top in ("1", "20", "50")
        ],
        *[
            Metric(f"heatmap_{band}", f"Heat map error ({band})", True, _at("metrics", "frequency", "heatmap", "bands", band), f"mean Fourier heat map error in the {band} band (Yin et al.)", True)
            for band in ("low", "middle", "high")
        ],
        *[
            Metric(key, _FILTER_TITLES[key][0], False, _at("metrics", "filters", "first_layer", key), _FILTER_TITLES[key][1], True)
            for key in STAT_KEYS
        ],
        Metric("filter_shift", "Filter shift", False, _at("metrics", "filters", "distribution_shift", "first_layer"), "first-layer kernel distribution shift from the reference model (symmetric KL)", True),
    ]
}  # fmt: skip


def unreliable(record: Record) -> bool:
    return bool(
        record.get("model_info", "unreliable") or record.get("metrics", "autoattack", "unreliable")
    )


def headline_radii(records: list[Record]) -> list[str]:
    """The distinct headline radii of ``records``, for the legend."""
    radii = {record.get("metrics", "frequency", "headline_radius") for record in records}
    return sorted(f"{r:g}" for r in radii if r is not None)
