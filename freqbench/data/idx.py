"""Reader for the IDX format of (Fashion-)MNIST, plain or gzip-compressed.

Every way a file can be wrong (not gzip though named .gz, cut short, a header that does not
match the data) is a :class:`~freqbench.errors.UserError` that names the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.errors import UserError

if TYPE_CHECKING:
    import numpy as np

_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if raw[:2] != _GZIP_MAGIC:
        if path.suffix == ".gz":
            raise UserError(
                f"{path} is not gzip-compressed although its name ends in .gz: replace it with "
                "the original download (or drop the .gz suffix if it is a plain IDX file)"
            )
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(
            f"{path} is a damaged gzip file ({exc or 'it ends early'}): it is truncated or "
            "corrupted; download it again"
        ) from None


def read_idx(path: Path) -> np.ndarray:
    import numpy as np

    raw = _read_bytes(Path(path))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise UserError(f"{path} is not an IDX file: its header is cut short or has no dimensions")
    dims = [int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)]
    dtype = np.dtype(_DTYPES[raw[2]])
    payload = len(raw) - 4 - 4 * ndim
    expected = int(np.prod(dims, dtype=object))  # exact: a forged header may overflow int64
    if payload != expected * dtype.itemsize:
        raise UserError(
            f"{path} is truncated or corrupted: its header announces {'x'.join(map(str, dims))} "
            f"values ({expected * dtype.itemsize} bytes), but it holds {payload} bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)
