"""Procedural textures: the reference's plasma fractal (fog)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Maps = NDArray[np.float64]


def _wibbled_mean(total: Maps, wibble: float, rng: np.random.Generator) -> Maps:
    # The reference multiplies by wibble twice (wibble * uniform(-wibble, wibble)); kept.
    return total / 4 + wibble * rng.uniform(-wibble, wibble, size=total.shape)


def plasma_fractal(rng: np.random.Generator, n: int, mapsize: int, wibble_decay: float) -> Maps:
    """``n`` diamond-square height maps of side ``mapsize`` (a power of two), each in [0, 1].

    The reference's ``plasma_fractal`` (a modification of FLHerne's mapgen), with a batch
    axis in front: each level fills square centres, then diamond centres, from the mean of
    their four neighbours (wrapping around) plus noise whose scale shrinks by
    ``wibble_decay`` per level.
    """
    maps = np.zeros((n, mapsize, mapsize))
    step, wibble = mapsize, 100.0
    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        square = corners + np.roll(corners, -1, axis=1)
        square = square + np.roll(square, -1, axis=2)
        maps[:, half::step, half::step] = _wibbled_mean(square, wibble, rng)
        centres = maps[:, half::step, half::step]
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, ::step, half::step] = _wibbled_mean(left, wibble, rng)
        top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half::step, ::step] = _wibbled_mean(top, wibble, rng)
        step //= 2
        wibble /= wibble_decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)
