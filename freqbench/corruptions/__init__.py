"""The 15 CIFAR-10-C corruptions at five severities (Hendrycks & Dietterich, ICLR 2019).

Batched reimplementations of Hendrycks' CIFAR generator with its parameters (see
:mod:`freqbench.corruptions.params`), for float NCHW images in [0, 1] with 1 or 3 channels;
``profile="imagenet"`` selects his ImageNet generator instead (ImageNet-C's parameters, and
the differences :mod:`freqbench.corruptions.imagenet_c` lists).
Where the result differs from the reference, its tools are unavailable or its uint8 steps
do not apply:

- motion blur (motion_blur, snow) reimplements ImageMagick's MotionBlurImage;
- images stay float throughout, where the reference truncates to uint8 between some steps
  and at the end (JPEG quantizes by nature); ImageNet-C's snow keeps the reference's two
  8-bit steps around its motion blur (:mod:`freqbench.corruptions.imagenet_c`).

Frost blends crops of the reference's own frost photographs (``FROST_SOURCE``), shipped
with freqbench and checked by SHA-256 (:mod:`freqbench.corruptions.photographs`); images
larger than 62x104 pixels cannot be cropped from all of them and are refused.

The reference's quirks stay, since the published CIFAR-10-C was made with them: glass blur's
"swap" copies and its offsets lie in [-delta, delta), zoom blur counts the clean image twice,
fog's noise scale is wibble squared, frost draws from the first five of its six photographs
only (never frost6.jpg). Parameters in pixels were made for 32x32 images and are kept for
other sizes.
"""

from typing import Any

from freqbench.corruptions.params import CORRUPTIONS, FAMILIES, SEVERITIES, SEVERITY_PARAMS

# The generators import torch and scipy: they load on first use, so that the catalogue above
# (names, families, parameters) is free to read.
_LAZY = {
    "MIN_SIZE": "core",
    "CorruptedBatch": "core",
    "corrupt": "core",
    "corrupted_batches": "core",
    "FROST_SOURCE": "weather",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "CORRUPTIONS",
    "FAMILIES",
    "FROST_SOURCE",
    "MIN_SIZE",
    "SEVERITIES",
    "SEVERITY_PARAMS",
    "CorruptedBatch",
    "corrupt",
    "corrupted_batches",
]
