"""Write the small TOML files the grid generates (zoo entries): scalars, lists, inline tables.

The standard library reads TOML but does not write it; entries need only this subset.
"""

from __future__ import annotations

import json
import math
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML entries hold finite numbers only, got {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ((k, v) for k, v in value.items() if v is not None)  # TOML has no null: omit
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in items) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _key(key: str) -> str:
    bare = key.replace("-", "").replace("_", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def dumps(data: dict[str, Any], header: str = "") -> str:
    """Top-level scalars first, then one ``[table]`` per dict value (tables one level deep).

    None values are left out (TOML has no null): a reader sees the option's default.
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines += [f"{_key(k)} = {toml_value(v)}" for k, v in scalars.items() if v is not None]
    for name, table in tables.items():
        lines += ["", f"[{_key(name)}]"]
        lines += [f"{_key(k)} = {toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"
