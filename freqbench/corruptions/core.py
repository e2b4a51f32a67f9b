"""Apply a corruption to a batch of images: validation, seeding, dispatch.

Two generators: ``cifar`` (CIFAR-10-C's, the default) and ``imagenet`` (ImageNet-C's, for 224 x
224 images: :mod:`freqbench.corruptions.imagenet_c`), each with its own severity parameters.

The corruptions run on the CPU in numpy / scipy / PIL (the result goes back to the input's
device): they need a seeded numpy stream, and cost little next to evaluating a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from freqbench.corruptions import blur, digital, imagenet_c, noise, weather
from freqbench.corruptions.ops import Images, make_rng
from freqbench.corruptions.params import (
    CORRUPTIONS,
    IMAGENET_C_PARAMS,
    SEVERITIES,
    SEVERITY_PARAMS,
)
from freqbench.errors import UnknownNameError, UserError
from freqbench.registry import Registry

Corruption = Callable[[Images, Any, np.random.Generator], Images]

MIN_SIZE = 28
"""Smallest height and width accepted: Fashion-MNIST's; the parameters were made for 32."""

REGISTRY: Registry[Corruption] = Registry("corruption")
for _fn in (
    noise.gaussian_noise,
    noise.shot_noise,
    noise.impulse_noise,
    blur.defocus_blur,
    blur.glass_blur,
    blur.motion_blur,
    blur.zoom_blur,
    weather.snow,
    weather.frost,
    weather.fog,
    weather.brightness,
    digital.contrast,
    digital.elastic_transform,
    digital.pixelate,
    digital.jpeg_compression,
):
    REGISTRY.register(_fn.__name__, _fn)
assert tuple(REGISTRY.names()) == tuple(sorted(CORRUPTIONS))

#: ImageNet-C's generator: the CIFAR functions, but for the six that work differently.
IMAGENET_C: dict[str, Corruption] = {
    **{name: REGISTRY.get(name) for name in CORRUPTIONS},
    **{fn.__name__: fn for fn in (
        imagenet_c.impulse_noise, imagenet_c.glass_blur, imagenet_c.zoom_blur, imagenet_c.frost,
        imagenet_c.pixelate, imagenet_c.snow,
    )},
}  # fmt: skip


class Profile(NamedTuple):
    """A generator: its corruption functions and severity parameters, by name."""

    functions: dict[str, Corruption]
    params: dict[str, tuple[Any, ...]]
    full_size_frost: bool


PROFILES: dict[str, Profile] = {
    "cifar": Profile({n: REGISTRY.get(n) for n in CORRUPTIONS}, SEVERITY_PARAMS, False),
    "imagenet": Profile(IMAGENET_C, IMAGENET_C_PARAMS, True),
}


def _profile(name: str) -> Profile:
    if name not in PROFILES:
        raise UnknownNameError("corruption generator", name, list(PROFILES))
    return PROFILES[name]


class CorruptedBatch(NamedTuple):
    """One chunk of corrupted images with its labels."""

    name: str
    severity: int
    images: torch.Tensor
    labels: torch.Tensor


def corrupt(
    images: torch.Tensor,
    name: str,
    severity: int,
    seed: int = 0,
    profile: str = "cifar",
    stream: int = 0,
) -> torch.Tensor:
    """Corrupt a batch (float NCHW in [0, 1], 1 or 3 channels) at a severity from 1 to 5, with
    the ``profile``'s generator (``cifar`` or ``imagenet``).

    Returns a tensor of the same shape, dtype and device, values in [0, 1]. The randomness
    comes from one stream seeded by (seed, name, severity) and drawn for the whole batch,
    so the same call gives the same result, and each image gets its own noise; the result
    for an image depends on the batch it came in (see :func:`corrupted_batches`). ``stream``
    k draws from stream (seed, name, severity, k): chunk k of :func:`corrupted_batches` is
    ``corrupt`` of its images with ``stream=k``.
    """
    REGISTRY.get(name)  # an unknown name is refused with suggestions
    generator = _profile(profile)
    _check_severity(severity)
    _check_seed(seed)
    _check_images(images)
    params = generator.params[name][severity - 1]
    _check_seed(stream, "stream")
    rng = make_rng(seed, name, severity, stream)
    return _apply(images, generator.functions[name], params, rng)


def corrupted_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    names: Iterable[str] = CORRUPTIONS,
    severities: Iterable[int] = SEVERITIES,
    seed: int = 0,
    chunk_size: int = 1000,
    profile: str = "cifar",
) -> Iterator[CorruptedBatch]:
    """Yield every (name, severity) corruption of ``images`` in chunks of ``chunk_size``, with
    the ``profile``'s generator.

    Only one chunk is in memory at a time. Chunk k of a (name, severity) draws from the
    stream (seed, name, severity, k), so the output depends on the seed and the chunk size
    only, and chunk 0 equals ``corrupt(images[:chunk_size], name, severity, seed)``.
    Arguments are checked here, before the first chunk is made.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    severities = tuple(severities)
    for name in names:
        REGISTRY.get(name)  # an unknown name is refused with suggestions
    generator = _profile(profile)
    for severity in severities:
        _check_severity(severity)
    _check_seed(seed)
    _check_images(images)
    if "frost" in names:  # frost's size limit, checked now rather than at its first chunk
        weather.check_frost_size(*images.shape[-2:], generator.full_size_frost)
    if not isinstance(labels, torch.Tensor) or labels.shape[:1] != images.shape[:1]:
        raise UserError(f"labels must be a tensor with one entry per image ({len(images)})")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise UserError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return _chunks(images, labels, names, generator, severities, seed, chunk_size)


def _chunks(
    images: torch.Tensor,
    labels: torch.Tensor,
    names: Sequence[str],
    generator: Profile,
    severities: Sequence[int],
    seed: int,
    chunk_size: int,
) -> Iterator[CorruptedBatch]:
    for name in names:
        for severity in severities:
            params = generator.params[name][severity - 1]
            for k, start in enumerate(range(0, len(images), chunk_size)):
                part = slice(start, start + chunk_size)
                rng = make_rng(seed, name, severity, stream=k)
                out = _apply(images[part], generator.functions[name], params, rng)
                yield CorruptedBatch(name, severity, out, labels[part])


def _apply(
    images: torch.Tensor, fn: Corruption, params: Any, rng: np.random.Generator
) -> torch.Tensor:
    if images.shape[0] == 0:
        return images.clone()
    x = images.detach().to(device="cpu", dtype=torch.float32).numpy()
    out = fn(x, params, rng)
    # Every reference corruption ends by clipping to [0, 1]; done once, here.
    out = np.clip(out, 0, 1, dtype=np.float32)
    return torch.from_numpy(out).to(device=images.device, dtype=images.dtype)


def _check_severity(severity: object) -> None:
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer):
        raise UserError(f"severity must be an integer from 1 to 5, got {severity!r}")
    if severity not in SEVERITIES:
        raise UserError(f"severity must be an integer from 1 to 5, got {severity}")


def _check_seed(seed: object, what: str = "seed") -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UserError(f"{what} must be a non-negative integer, got {seed!r}")


def _check_images(images: object) -> None:
    if not isinstance(images, torch.Tensor):
        raise UserError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise UserError(f"images must be a 4-D NCHW tensor, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise UserError(f"images must be a float tensor with values in [0, 1], got {images.dtype}")
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise UserError(f"images must have 1 (grayscale) or 3 (RGB) channels, got {c} (NCHW)")
    if h < MIN_SIZE or w < MIN_SIZE:
        raise UserError(f"images must be at least {MIN_SIZE}x{MIN_SIZE} pixels, got {h}x{w}")
    if n:
        lo, hi = (float(v) for v in torch.aminmax(images.detach()))
        if not (lo >= 0 and hi <= 1):  # also false for NaN
            raise UserError(f"pixel values must lie in [0, 1] (and not be NaN), got {lo}..{hi}")
