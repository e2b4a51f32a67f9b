"""The Fourier heat map (Yin et al., NeurIPS 2019, "A Fourier perspective on model robustness"):
the error rate under a perturbation along each Fourier basis direction. DESIGN.md section 2;
the computation is :func:`freqbench.sensitivity.half_plane_errors`. Its own block, because it
costs more than every other frequency measure together (at ImageNet resolution, H x W bases):
a change to its protocol fields re-runs it alone. Sharded by bases."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.errors import UserError
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import (
    COUNT,
    FRACTION,
    Artifact,
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

    from freqbench.data import DatasetInfo, ImageStream, LabeledImages

STANDARD_HEATMAP_N = 1000  # Yin et al.'s CIFAR-10 maps; Paul & Chen's ImageNet maps (below)
QUICK_HEATMAP_N = 200
#: The quick preset measures images larger than this only up to a band limit (a central window).
LARGEST_FULL_QUICK_SIDE = 64
QUICK_BAND_LIMIT = 15

#: L2 eps of the published maps, by image side. 32: Yin et al.'s CIFAR-10 maps (their paper).
#: 224: their ImageNet maps, eps = 15.7, as given by the author of the PyTorch re-implementation
#: the later ImageNet maps were made with (gatheluck/FourierHeatmap, issue 2: "the same
#: experiment as in the original paper ... eps=15.7"; Paul & Chen, AAAI 2022, made theirs with
#: it on 1000 validation images, sayakpaul/robustness-vit analysis/fourier_heatmap).
PUBLISHED_EPS = {32: 4.0, 224: 15.7}


def default_heatmap_eps(height: int) -> float:
    """The published eps for the side (:data:`PUBLISHED_EPS`), else the one of the nearest
    published side (by ratio) scaled by H / side, which keeps its per-pixel amplitude:
    3.5 at 28 (Fashion-MNIST), 15.7 x 288 / 224 at 288 (a model tested at 288 px)."""
    side = min(PUBLISHED_EPS, key=lambda s: abs(math.log(height / s)))
    return PUBLISHED_EPS[side] * height / side


def fourier_heatmap(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    *,
    heatmap_eps: float | None = None,
    heatmap_band_limit: int = 0,
    seed: int = 0,
    clean_predictions: torch.Tensor | None = None,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
    shard: Shard | None = None,
) -> MetricResult:
    """Error per half-plane basis on ``data`` (the first ``heatmap_n_examples`` images), every
    basis or those up to ``heatmap_band_limit`` cycles per image; with ``shard=(i, n)`` the
    i-th of n ranges of those bases (:func:`merge` joins them, exactly). The clean accuracy of
    the same images (from the shared clean predictions) sets the figure's relative scale."""
    from freqbench.sensitivity import half_plane_errors, heatmap_bases

    h, w = data.image_shape[-2:]
    _check_band_limit(heatmap_band_limit, h, w)
    eps = heatmap_eps if heatmap_eps is not None else default_heatmap_eps(h)
    measured = heatmap_bases(h, w, heatmap_band_limit)
    part = shard_range(len(measured), shard)
    errors = half_plane_errors(
        model, data, eps=eps, seed=seed, batch_size=batch_size, device=device,
        progress=progress, bases=measured[part.start : part.stop],
    )  # fmt: skip
    values: dict[str, Any] = {"eps": eps, "n": len(data), "size": [h, w]}
    if heatmap_band_limit:
        values["band_limit"] = heatmap_band_limit
    if clean_predictions is not None:
        correct = clean_predictions[: len(data)] == data.labels.cpu()
        values["clean_accuracy"] = float(correct.float().mean())
    result = MetricResult(values, {"heatmap_errors": errors})
    return result if shard is not None else merge([result])


def _check_band_limit(limit: int, h: int, w: int) -> None:
    if limit > min(h, w) // 2:
        raise UserError(
            f"--heatmap-band-limit {limit} is past the highest frequency of {h}x{w} images "
            f"({min(h, w) // 2} cycles per image): pass at most {min(h, w) // 2}, or 0 for "
            "the whole spectrum"
        )


def _bases(protocol: Mapping[str, Any], info: DatasetInfo) -> int:
    """The units the block is sharded by: one per basis measured."""
    from freqbench.data.base import input_size
    from freqbench.sensitivity import heatmap_bases

    h, w = input_size(info, protocol.get("preprocessing"))
    return len(heatmap_bases(h, w, protocol.get("heatmap_band_limit", 0)))


def merge(parts: list[MetricResult]) -> MetricResult:
    """The block from its parts, in order: the heat map (NaN outside a band limit's window)
    and its band means."""
    import numpy as np

    from freqbench.sensitivity import band_means, heatmap_bases, heatmap_from_errors

    values = dict(parts[0].values)
    h, w = values.pop("size")
    errors = np.concatenate([p.arrays["heatmap_errors"] for p in parts])
    bases = heatmap_bases(h, w, values.get("band_limit", 0))
    heatmap = heatmap_from_errors(h, w, errors, bases)
    return MetricResult({**values, "bands": band_means(heatmap)}, {"heatmap": heatmap})


def _headline(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    bands = block["bands"]
    errors = " / ".join(percent(bands[b]) for b in ("low", "middle", "high"))
    limit = block.get("band_limit")
    if not limit:
        return [("heat map error low/mid/high", f"{errors}  (n={block['n']})")]
    side = 2 * limit + 1
    why = f"{side}x{side} lowest frequencies measured; '-': a band the window does not hold whole"
    return [("heat map error low/mid/high", f"{errors}  (n={block['n']}; {why})")]


def _card_facts(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    facts = [("heat map eps (L2)", f"{block['eps']:g}")]
    if block.get("band_limit"):
        side = 2 * block["band_limit"] + 1
        facts.append(("heat map window", f"{side}x{side} lowest frequencies"))
    return facts


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
        band_limit=values.get("band_limit"),
        scale=context.get("heatmap_scale", "absolute"),
        clean_error=None if clean is None else 1.0 - clean,
    )


def _side(context: FieldContext) -> int:
    from freqbench.data.base import input_size

    return input_size(context.info, context.resolved.get("preprocessing"))[0]


def _eps(context: FieldContext) -> float:
    return default_heatmap_eps(_side(context))


def _quick_band_limit(context: FieldContext) -> int:
    return QUICK_BAND_LIMIT if _side(context) > LARGEST_FULL_QUICK_SIDE else 0


SPEC = MetricSpec(
    name="fourier_heatmap",
    description="Fourier heat map: error under each Fourier basis perturbation (Yin et al. 2019)",
    version="1",
    compute=fourier_heatmap,
    reads=("heatmap_n_examples", "heatmap_eps", "heatmap_band_limit", "seed"),
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
            "L2 norm of the Fourier basis perturbation",
            default=_eps,
            minimum=0,
            exclusive_minimum=True,
            default_help="the published one: 4 at 32 px (CIFAR), 15.7 at 224 px (ImageNet); "
            "other sizes scale the nearest one by H / its side",
        ),
        ProtocolField(
            "heatmap_band_limit",
            int,
            "measure only frequencies of at most L cycles per image along each axis (the "
            "central (2L+1) x (2L+1) window of the map); 0: the whole spectrum",
            default=0,
            quick=_quick_band_limit,
            minimum=0,
            neutral=0,
            default_help="0, the whole spectrum, as published; quick: 15 above 64 px",
        ),
    ),
    images="heatmap_n_examples",
    needs=("clean_predictions",),
    presentation=Presentation(
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
        headline=_headline,
        card_facts=_card_facts,
    ),
    artifacts=(
        Artifact("heatmap_npy", "heatmap.npy", "heatmap", _save_npy, pixel_map=True),
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
                # null: a band outside a band-limited map's window
                "additionalProperties": {**FRACTION, "type": ["number", "null"]},
            },
            "band_limit": {"type": "integer", "minimum": 1},  # absent: the whole spectrum
            "clean_accuracy": FRACTION,  # of the heat map's own images
        },
    },
    merge=merge,
    units=_bases,
    order=43,
)
