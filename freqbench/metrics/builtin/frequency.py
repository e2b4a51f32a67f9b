"""Frequency sensitivity (DESIGN.md section 2): filtered-image, head/tail and gradient-spectrum
measures and the Fourier heat map, as one metric; the computations, and the papers behind
them, are in :mod:`freqbench.sensitivity`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.metrics.spec import (
    COUNT,
    FRACTION,
    Artifact,
    Column,
    FieldContext,
    MetricResult,
    MetricSpec,
    ProtocolField,
    Shard,
    percent,
    shard_range,
)

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from freqbench.data import DatasetInfo, LabeledImages

HEATMAP_EPS_32 = 4.0  # Yin et al.'s L2 eps for 32 x 32 CIFAR images
STANDARD_HEATMAP_N = 1000
QUICK_HEATMAP_N = 200


def default_heatmap_eps(height: int) -> float:
    """Yin et al.'s eps = 4 at 32 x 32, scaled by H / 32 so the per-pixel amplitude is kept."""
    return HEATMAP_EPS_32 * height / 32


def frequency_metrics(
    model: nn.Module,
    data: LabeledImages,
    *,
    radii: list[int] | None = None,
    q: float = 0.8,
    heatmap_n_examples: int | None = STANDARD_HEATMAP_N,
    heatmap_eps: float | None = None,
    seed: int = 0,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
    shard: Shard | None = None,
) -> MetricResult:
    """Every frequency measure; with ``shard=(i, n)`` the i-th of n ranges of heat-map bases,
    and in part 0 everything else (:func:`merge` joins them, exactly)."""
    from freqbench.prediction import accuracy
    from freqbench.sensitivity import (
        gradient_metrics,
        half_plane_errors,
        long_tail,
        split_accuracy,
    )
    from freqbench.spectral import half_plane_indices, scaled_radii

    h, w = data.images.shape[-2:]
    radii = radii or scaled_radii(h)
    eps = heatmap_eps if heatmap_eps is not None else default_heatmap_eps(h)
    heat_data = data.first(min(heatmap_n_examples, len(data)) if heatmap_n_examples else None)
    bases = shard_range(len(half_plane_indices(h, w)), shard)
    errors = half_plane_errors(
        model, heat_data, eps=eps, seed=seed, batch_size=batch_size, device=device,
        progress=progress, bases=bases,
    )  # fmt: skip
    heatmap = {"eps": eps, "n": len(heat_data), "size": [h, w]}
    if shard is not None and shard[0] > 0:
        return MetricResult({"heatmap": heatmap}, {"heatmap_errors": errors})
    low, high = split_accuracy(model, data, radii, batch_size, device, progress)
    values = {
        "radii": list(radii),
        "headline_radius": radii[len(radii) // 2 - 1] if len(radii) > 1 else radii[0],
        "low_pass_accuracy": low,
        "high_pass_accuracy": high,
        "clean_accuracy": accuracy(model, data.images, data.labels, batch_size, device),
        "long_tail": long_tail(model, data, q, batch_size, device, progress),
        "gradient": gradient_metrics(model, data, q, batch_size, device, progress),
        "heatmap": heatmap,
        "n": len(data),
    }
    part = MetricResult(values, {"heatmap_errors": errors})
    return part if shard is not None else merge([part])


def _heatmap_bases(values: Mapping[str, Any], info: DatasetInfo) -> int:
    """The heat map's Fourier bases: the units its block is sharded by."""
    from freqbench.spectral import half_plane_indices

    return len(half_plane_indices(*info.image_size))


def merge(parts: list[MetricResult]) -> MetricResult:
    """The block from its parts, in order: part 0's measures and the whole heat map."""
    import numpy as np

    from freqbench.sensitivity import band_means, heatmap_from_errors

    values = dict(parts[0].values)
    heat = dict(values["heatmap"])
    h, w = heat.pop("size")
    errors = np.concatenate([p.arrays["heatmap_errors"] for p in parts])
    heatmap = heatmap_from_errors(h, w, errors)
    values["heatmap"] = {**heat, "bands": band_means(heatmap)}
    return MetricResult(values, {"heatmap": heatmap})


def _at_headline_radius(part: str):
    """Accuracy at the block's headline radius; radii are JSON keys, written as in ``f"{r:g}"``."""

    def read(block: Mapping[str, Any]) -> Any:
        radius = block.get("headline_radius")
        return None if radius is None else block.get(part, {}).get(f"{radius:g}")

    return read


def _table_context(blocks: list[Mapping[str, Any]]) -> dict[str, str]:
    radii = sorted({f"{b['headline_radius']:g}" for b in blocks if "headline_radius" in b})
    if not radii:  # an empty table: its title and its legend say the same
        return {"radius": "n/a", "radii": "n/a"}
    return {"radius": radii[0] if len(radii) == 1 else "varies", "radii": ", ".join(radii)}


def _headline(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    r = f"{block['headline_radius']:g}"
    lt, bands = block["long_tail"], block["heatmap"]["bands"]
    return [
        (
            f"low-pass / high-pass r={r}",
            f"{percent(block['low_pass_accuracy'][r])} / {percent(block['high_pass_accuracy'][r])}",
        ),
        (
            "head / tail (mean R80)",
            f"{percent(lt['head_accuracy'])} / {percent(lt['tail_accuracy'])}  ({lt['mean_r80']:.2f})",
        ),
        ("gradient power in tail", percent(block["gradient"]["tail_share"])),
        ("heat map error low/mid/high", " / ".join(percent(bands[b]) for b in ("low", "middle", "high"))),
    ]  # fmt: skip


def _save_npy(array: np.ndarray, path: Path, context: Mapping[str, Any]) -> None:
    import numpy as np

    from freqbench import atomic

    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _plot(array: np.ndarray, path: Path, context: Mapping[str, Any]) -> None:
    """The heat map's PNG, titled with the model's name and the block's eps and n; the colour
    scale is the run's ``heatmap_scale`` (``absolute``, the default, or ``relative`` to the
    block's clean error)."""
    from freqbench.plots.heatmap import plot_heatmap

    values = context.get("values") or {}
    heatmap = values.get("heatmap") or {}
    clean = values.get("clean_accuracy")
    plot_heatmap(
        array,
        path,
        name=context["name"],
        eps=heatmap.get("eps"),
        n=heatmap.get("n"),
        scale=context.get("heatmap_scale", "absolute"),
        clean_error=None if clean is None else 1.0 - clean,
    )


def _eps(context: FieldContext) -> float:
    return default_heatmap_eps(context.info.image_size[0])


def _correlated(key: str, title: str, path: tuple[str, ...], description: str, **kw) -> Column:
    return Column(key, title, description, path, correlate=True, **kw)


_BY_RADIUS = {
    "type": "object",
    "propertyNames": {"pattern": r"^[0-9]+(\.[0-9]+)?$"},
    "minProperties": 1,
}

SPEC = MetricSpec(
    name="frequency",
    description="low/high-pass and head/tail accuracy, gradient spectrum, Fourier heat map",
    version="1",
    compute=frequency_metrics,
    reads=("n_examples", "heatmap_n_examples", "heatmap_eps", "seed", "q"),
    fields=(
        ProtocolField(
            "heatmap_n_examples",
            int,
            "first N test images of the Fourier heat map",
            default=STANDARD_HEATMAP_N,
            quick=QUICK_HEATMAP_N,
            standard="at_least",
            minimum=1,
            count=True,
        ),
        ProtocolField(
            "heatmap_eps",
            float,
            "L2 norm of the Fourier basis perturbation (default 4 H / 32)",
            default=_eps,
            minimum=0,
            exclusive_minimum=True,
        ),
        ProtocolField(
            "q",
            float,
            "power share of the long-tail head (0.8: R80)",
            default=0.8,
            minimum=0,
            exclusive_minimum=True,
            maximum=1,
            cli=False,
        ),
    ),
    columns=(
        Column(
            "lfc",
            "LFC",
            "accuracy on low-pass filtered images at the headline radius (Wang et al.)",
            read=_at_headline_radius("low_pass_accuracy"),
            percent=True,
            main=True,
            correlate=True,
            main_title="LFC (r={radius})",
            legend="LFC / HFC: accuracy on low- / high-pass filtered test images at radius r = "
            "{radii} (Wang et al., CVPR 2020; the filtered images are not clipped).",
        ),
        Column(
            "hfc",
            "HFC",
            "accuracy on high-pass filtered images at the headline radius (Wang et al.)",
            read=_at_headline_radius("high_pass_accuracy"),
            percent=True,
            main=True,
            correlate=True,
            main_title="HFC (r={radius})",
        ),
        _correlated(
            "head",
            "Head acc.",
            ("long_tail", "head_accuracy"),
            "accuracy on the spectral head (rings holding 80% of the power; Lin et al.)",
            percent=True,
        ),
        _correlated(
            "tail",
            "Tail acc.",
            ("long_tail", "tail_accuracy"),
            "accuracy on the spectral tail (Lin et al.)",
            percent=True,
        ),
        _correlated(
            "tail_share",
            "Grad. tail share",
            ("gradient", "tail_share"),
            "share of input-gradient power beyond the data's R80 radius (Lin et al.)",
            main=True,
            bass_delta=True,
            legend="Grad. tail share: share of input-gradient power beyond the data's R80 radius (Lin et al.).",
            bass_note="gradient tail share as a fraction (BaSS should lower it: Lin et al., NeurIPS 2023)",
        ),
        _correlated(
            "grad_entropy",
            "Grad. entropy",
            ("gradient", "entropy"),
            "spectral entropy of the input gradient's radial power profile",
        ),
        *(
            _correlated(
                f"grad_radius_{top}",
                f"Grad. radius (top {top}%)",
                ("gradient", "mean_radius_top", top),
                f"mean radius of the top {top}% gradient coefficients",
            )
            for top in ("1", "20", "50")
        ),
        *(
            _correlated(
                f"heatmap_{band}",
                f"Heat map error ({band})",
                ("heatmap", "bands", band),
                f"mean Fourier heat map error in the {band} band (Yin et al.)",
                percent=True,
            )
            for band in ("low", "middle", "high")
        ),
    ),
    artifacts=(
        Artifact("heatmap_npy", "heatmap.npy", "heatmap", _save_npy),
        Artifact(
            "heatmap_png",
            "heatmap.png",
            "heatmap",
            _plot,
            caption="Fourier heat map: error rate per basis direction (centre: low frequencies)",
            alt="Fourier heat map of",
            missing="no heat map",
        ),
    ),
    schema={
        "type": "object",
        "required": [
            "radii",
            "headline_radius",
            "low_pass_accuracy",
            "high_pass_accuracy",
            "long_tail",
            "gradient",
            "heatmap",
            "n",
        ],
        "properties": {
            "radii": {
                "type": "array",
                "items": {"type": "number", "exclusiveMinimum": 0},
                "minItems": 1,
            },
            "headline_radius": {"type": "number", "exclusiveMinimum": 0},
            "low_pass_accuracy": {**_BY_RADIUS, "additionalProperties": FRACTION},
            "high_pass_accuracy": {**_BY_RADIUS, "additionalProperties": FRACTION},
            "long_tail": {
                "type": "object",
                "required": ["q", "mean_r80", "head_accuracy", "tail_accuracy"],
                "properties": {
                    "q": FRACTION,
                    "mean_r80": {"type": "number", "minimum": 0},
                    "head_accuracy": FRACTION,
                    "tail_accuracy": FRACTION,
                },
            },
            "gradient": {
                "type": "object",
                "required": ["tail_share", "entropy", "mean_radius_top"],
                "properties": {
                    "tail_share": FRACTION,
                    "entropy": FRACTION,
                    "mean_radius_top": {
                        **_BY_RADIUS,
                        "minProperties": 0,
                        "additionalProperties": {"type": "number", "minimum": 0},
                    },
                },
            },
            "heatmap": {
                "type": "object",
                "required": ["eps", "n", "bands"],
                "properties": {
                    "eps": {"type": "number", "minimum": 0},
                    "n": COUNT,
                    "bands": {
                        "type": "object",
                        "required": ["low", "middle", "high"],
                        "additionalProperties": FRACTION,
                    },
                },
            },
            "n": COUNT,
        },
    },
    headline=_headline,
    table_context=_table_context,
    merge=merge,
    units=_heatmap_bases,
    card_facts=lambda block: [("heat map eps (L2)", f"{block['heatmap']['eps']:g}")],
    order=40,
)
