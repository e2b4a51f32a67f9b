"""The Fourier heat map (Yin et al., NeurIPS 2019, "A Fourier perspective on model robustness"):
the error rate under a perturbation along each Fourier basis direction. DESIGN.md section 2;
the computation is :func:`freqbench.sensitivity.half_plane_errors`. Its own block, because it
costs more than every other frequency measure together (at ImageNet resolution, H x W bases):
a change to its protocol fields re-runs it alone. Sharded by bases."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.errors import UserError
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
    import torch
    from torch import nn

    from freqbench.data import DatasetInfo, LabeledImages

HEATMAP_EPS_32 = 4.0  # Yin et al.'s L2 eps for 32 x 32 CIFAR images
STANDARD_HEATMAP_N = 1000
QUICK_HEATMAP_N = 200


#: Beyond this side the full map is too costly to compute (ImageNet needs a windowed protocol).
LARGEST_SIDE = 64


def default_heatmap_eps(height: int) -> float:
    """Yin et al.'s eps = 4 at 32 x 32, scaled by H / 32 so the per-pixel amplitude is kept."""
    return HEATMAP_EPS_32 * height / 32


def fourier_heatmap(
    model: nn.Module,
    data: LabeledImages,
    *,
    heatmap_eps: float | None = None,
    seed: int = 0,
    clean_predictions: torch.Tensor | None = None,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
    shard: Shard | None = None,
) -> MetricResult:
    """Error per half-plane basis on ``data`` (the first ``heatmap_n_examples`` images); with
    ``shard=(i, n)`` the i-th of n ranges of bases (:func:`merge` joins them, exactly). The
    clean accuracy of the same images (from the shared clean predictions) sets the figure's
    relative colour scale."""
    from freqbench.sensitivity import half_plane_errors
    from freqbench.spectral import half_plane_indices

    h, w = data.image_shape[-2:]
    if max(h, w) > LARGEST_SIDE:
        raise UserError(
            f"the Fourier heat map of {h}x{w} images would take {h * w // 2} bases x "
            f"{len(data)} images forward passes; the heat-map protocol at ImageNet resolution "
            f"(a central window of low frequencies) is not implemented yet: leave "
            "fourier_heatmap out of --metrics"
        )
    eps = heatmap_eps if heatmap_eps is not None else default_heatmap_eps(h)
    bases = shard_range(len(half_plane_indices(h, w)), shard)
    errors = half_plane_errors(
        model, data, eps=eps, seed=seed, batch_size=batch_size, device=device,
        progress=progress, bases=bases,
    )  # fmt: skip
    values: dict[str, Any] = {"eps": eps, "n": len(data), "size": [h, w]}
    if clean_predictions is not None:
        correct = clean_predictions[: len(data)] == data.labels.cpu()
        values["clean_accuracy"] = float(correct.float().mean())
    part = MetricResult(values, {"heatmap_errors": errors})
    return part if shard is not None else merge([part])


def _bases(values: Mapping[str, Any], info: DatasetInfo) -> int:
    """The units the block is sharded by: one per basis of the half-plane."""
    from freqbench.spectral import half_plane_indices

    return len(half_plane_indices(*info.image_size))


def merge(parts: list[MetricResult]) -> MetricResult:
    """The block from its parts, in order: the whole heat map and its band means."""
    import numpy as np

    from freqbench.sensitivity import band_means, heatmap_from_errors

    values = dict(parts[0].values)
    h, w = values.pop("size")
    heatmap = heatmap_from_errors(h, w, np.concatenate([p.arrays["heatmap_errors"] for p in parts]))
    return MetricResult({**values, "bands": band_means(heatmap)}, {"heatmap": heatmap})


def _headline(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    bands = block["bands"]
    return [("heat map error low/mid/high", " / ".join(percent(bands[b]) for b in ("low", "middle", "high")))]  # fmt: skip


def _save_npy(array: np.ndarray, path: Path, context: Mapping[str, Any]) -> None:
    import numpy as np

    from freqbench import atomic

    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _plot(array: np.ndarray, path: Path, context: Mapping[str, Any]) -> None:
    """The heat map's PNG, titled with the model's name and the block's eps and n; the colour
    scale is the run's ``heatmap_scale`` (``absolute``, the default, or ``relative`` to the
    clean error of the heat map's own images)."""
    from freqbench.plots.heatmap import plot_heatmap

    values = context.get("values") or {}
    clean = values.get("clean_accuracy")
    plot_heatmap(
        array,
        path,
        name=context["name"],
        eps=values.get("eps"),
        n=values.get("n"),
        scale=context.get("heatmap_scale", "absolute"),
        clean_error=None if clean is None else 1.0 - clean,
    )


def _eps(context: FieldContext) -> float:
    return default_heatmap_eps(context.info.image_size[0])


SPEC = MetricSpec(
    name="fourier_heatmap",
    description="Fourier heat map: error under each Fourier basis perturbation (Yin et al. 2019)",
    version="1",
    compute=fourier_heatmap,
    reads=("heatmap_n_examples", "heatmap_eps", "seed"),
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
    ),
    images="heatmap_n_examples",
    needs=("clean_predictions",),
    columns=tuple(
        Column(
            f"heatmap_{band}",
            f"Heat map error ({band})",
            f"mean Fourier heat map error in the {band} band (Yin et al.)",
            ("bands", band),
            percent=True,
            correlate=True,
        )
        for band in ("low", "middle", "high")
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
        "required": ["eps", "n", "bands"],
        "properties": {
            "eps": {"type": "number", "minimum": 0},
            "n": COUNT,
            "bands": {
                "type": "object",
                "required": ["low", "middle", "high"],
                "additionalProperties": FRACTION,
            },
            "clean_accuracy": FRACTION,  # of the heat map's own images
        },
    },
    headline=_headline,
    merge=merge,
    units=_bases,
    card_facts=lambda block: [("heat map eps (L2)", f"{block['eps']:g}")],
    order=43,
)
