"""The files a block refers to (a heat map's ``.npy``, figures), proved to be the ones it wrote.

When the evaluator merges a block it stores each of its artifacts' digest in the block's
``evaluations`` entry (:func:`digest`: the file, its sha256 and size, and for an ``.npy``
its shape and dtype). Every reader checks the files against it before trusting the block
(:func:`with_artifacts`): a file that is missing, not a regular file, another file (another
model's map, an edited figure) or another array makes the block untrusted, so the evaluator
runs it again and ``validate`` and the leaderboard name the file. Blocks written before
digests were stored are checked for form: a regular file, and an ``.npy`` that is a numeric
array (never a pickle), of the model's input size where the artifact is one value per pixel.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from freqbench.atomic import sha256_of
from freqbench.data import get_dataset_info
from freqbench.data.base import input_size
from freqbench.errors import UnknownNameError, UserError
from freqbench.records.checks import Review
from freqbench.records.format import spec_or_none

ARRAY_SUFFIX = ".npy"


def _regular(path: Path) -> os.stat_result:
    """The file's status; a UserError unless it is a regular file (never a link, a FIFO, a
    device or a folder: nothing is opened that could block or lead elsewhere)."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        why = "does not exist" if exc.errno == errno.ENOENT else f"cannot be read ({exc.strerror})"
        raise UserError(f"'{path.name}' {why} beside the record") from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{path.name} is not a regular file")
    return info


def _array_header(path: Path) -> tuple[tuple[int, ...], str]:
    """The shape and dtype an ``.npy`` file declares; a UserError for anything else (text, a
    pickled object array)."""
    import numpy as np  # here: checking a name or a path needs no numpy

    try:  # mapped, not read: only the header is parsed, and a pickle is refused
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path.name} is not an .npy array of numbers ({exc})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise UserError(f"{path.name} does not hold an array of numbers")
    return tuple(array.shape), array.dtype.str


def digest(path: Path) -> dict[str, Any]:
    """What a block stores of one artifact it wrote: file name, sha256, size in bytes, and
    for an array its shape and dtype."""
    info = _regular(path)
    found: dict[str, Any] = {"sha256": sha256_of(path), "bytes": info.st_size}
    if path.suffix == ARRAY_SUFFIX:
        shape, dtype = _array_header(path)
        found |= {"shape": list(shape), "dtype": dtype}
    return found


def file_problem(
    path: Path, stored: Mapping[str, Any] | None, shape: tuple[int, ...] | None
) -> str | None:
    """What is wrong with one artifact file against its stored digest (None: written before
    digests, checked for form, an array against ``shape`` when one is expected)."""
    try:
        info = _regular(path)
        if path.suffix == ARRAY_SUFFIX:
            found_shape, dtype = _array_header(path)
            want = tuple(stored["shape"]) if stored else shape
            if want is not None and found_shape != want:
                return f"{path.name} holds a {found_shape} array, not the block's {want}"
            if stored and dtype != stored["dtype"]:
                return f"{path.name} holds {dtype} values, not the block's {stored['dtype']}"
        if stored is None:
            return None
        if info.st_size != stored["bytes"] or sha256_of(path) != stored["sha256"]:
            return f"{path.name} is not the file its block wrote (its sha256 differs)"
    except UserError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror})"
    return None


def _pixel_shape(data: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The (H, W) of the images the record's model received, when its dataset is known."""
    try:
        info = get_dataset_info(data["dataset"])
        return input_size(info, data["protocol"].get("preprocessing"))
    except (UnknownNameError, UserError):
        return None


def block_file_problems(
    data: Mapping[str, Any], folder: Path, blocks: list[str]
) -> dict[str, list[str]]:
    """Per metric block of ``blocks`` (schema-valid ones of a usable record), what is wrong
    with the files it refers to."""
    found: dict[str, list[str]] = {}
    named = data["artifacts"]
    for name in blocks:
        spec = spec_or_none(name)
        if spec is None:
            continue
        digests = data["evaluations"][name].get("artifacts")
        for artifact in spec.artifacts:
            file_name = named.get(artifact.key)
            if file_name is None:
                continue
            stored = digests.get(artifact.key) if isinstance(digests, Mapping) else None
            if digests is not None and stored is None:
                problem = f"{file_name} has no digest in evaluations.{name}.artifacts"
            else:
                shape = _pixel_shape(data) if artifact.pixel_map else None
                problem = file_problem(folder / file_name, stored, shape)
            if problem:
                found.setdefault(name, []).append(f"artifacts.{artifact.key}: {problem}")
    return found


def with_artifacts(checked: Review, folder: Path) -> Review:
    """``checked`` with the problems of its blocks' files added to those blocks."""
    if not checked.usable:
        return checked
    valid = [
        name
        for name in checked.data["metrics"]
        if name in checked.data["evaluations"] and not checked.blocks.get(name)
    ]
    found = block_file_problems(checked.data, folder, valid)
    if not found:
        return checked
    blocks = {**checked.blocks}
    for name, lines in found.items():
        blocks[name] = [*blocks.get(name, []), *lines]
    return dataclasses.replace(checked, blocks=blocks)
