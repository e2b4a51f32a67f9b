"""A leaderboard table: a pandas frame of raw values plus how each column is titled and shown.

Values stay numbers (accuracies in percent, deltas in percentage points) so that CSV keeps
full precision and sorting is numeric; :func:`format_cell` turns them into the strings every
text format (Markdown, HTML, LaTeX) shows, so they all agree digit for digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from freqbench.errors import UnknownNameError

MISSING = "–"

#: kind -> format of a present value. "text" and "int" are shown as they are.
_FORMATS = {
    "percent": "{:.2f}",
    "number": "{:.3f}",
    "delta_pp": "{:+.2f}",
    "delta": "{:+.3f}",
    "rho": "{:+.3f}",
}
NUMERIC_KINDS = {"int", *_FORMATS}
#: kind -> decimal places shown (CSV rounds to them too).
DECIMALS = {"percent": 2, "number": 3, "delta_pp": 2, "delta": 3, "rho": 3}
#: Numeric columns read low to high: a rank, a rank group.
ASCENDING = ("rank", "group")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str  # "text", "int" or a key of _FORMATS
    description: str = ""
    # The frame also holds the value's 95% interval (:func:`bound_keys`, in the value's unit)
    # and its number of images: text formats show ± the larger side, CSV the bounds.
    interval: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


def bound_keys(key: str) -> tuple[str, str, str]:
    """The frame columns of an interval column's low bound, high bound and number of images."""
    return f"{key}_low", f"{key}_high", f"{key}_n"


def plus_minus(row: dict[str, Any], column: Column) -> str:
    """``±0.76``: the larger side of the row's interval, as its value is shown; "" without one."""
    if not column.interval:
        return ""
    low, high, _ = (row.get(k) for k in bound_keys(column.key))
    value = row[column.key]
    if is_missing(value) or is_missing(low) or is_missing(high):
        return ""
    side = max(value - low, high - value)
    return "±" + _FORMATS.get(column.kind, "{}").format(side)


@dataclass
class Table:
    key: str  # "main", "unranked", "bass" or "correlation"
    title: str
    columns: list[Column]
    frame: pd.DataFrame  # one column per Column.key (and bound_keys), rows in display order
    notes: list[str] = field(default_factory=list)
    empty: str = "No rows."

    def cells(self) -> list[list[str]]:
        """Every row as display strings."""
        return [
            [" ".join(filter(None, (format_cell(row[c.key], c.kind), plus_minus(row, c))))
             for c in self.columns]
            for row in self.frame.to_dict("records")
        ]  # fmt: skip

    def column(self, name: str) -> Column:
        """A column by key or title, case-insensitive (for ``--sort-by``)."""
        wanted = name.strip().lower()
        for column in self.columns:
            if wanted in (column.key.lower(), column.title.lower()):
                return column
        raise UnknownNameError("column", name, [c.key for c in self.columns])

    def sorted_by(self, name: str) -> Table:
        """Rows reordered by one column: numbers high to low (rank and group low to high), text
        A to Z."""
        column = self.column(name)
        ascending = not column.numeric or column.key in ASCENDING
        key = (lambda s: s.str.lower()) if not column.numeric else None
        frame = self.frame.sort_values(
            column.key, ascending=ascending, na_position="last", kind="stable", key=key
        )
        return replace(self, frame=frame.reset_index(drop=True))


def is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def format_cell(value: Any, kind: str) -> str:
    if is_missing(value):
        return MISSING
    if kind == "int":
        return str(int(value))
    if kind in _FORMATS:
        return _FORMATS[kind].format(value)
    return str(value)
