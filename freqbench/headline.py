"""The short table of headline figures printed after an evaluation, from each metric's own rows."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from freqbench.errors import UserError
from freqbench.protocol import format_eps
from freqbench.records import spec_or_none
from freqbench.records.degenerate_models import degeneracies


def _rows_of(name: str, block: dict[str, Any]) -> list[tuple[str, str]]:
    """The metric's headline rows, or one row per column it declares (a plugin's default)."""
    spec = spec_or_none(name)
    if spec is None:
        return [(name, "(metric not installed here)")]
    if spec.presentation.headline is not None:
        try:
            return spec.presentation.headline(block)
        except Exception as exc:  # a plugin's printout must not hide the other metrics'
            return [(name, f"(its headline failed: {type(exc).__name__}: {exc})")]
    rows = []
    for column in spec.presentation.columns:
        value = column.value(block)
        text = "-" if value is None else f"{100 * value:.2f}%" if column.percent else f"{value:.4g}"
        rows.append((column.title, text))
    return rows


def headline_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    p = record["protocol"]
    rows = [row for name, block in record["metrics"].items() for row in _rows_of(name, block)]
    rows += [("DEGENERATE", reason) for reason in degeneracies(record)]
    standard = "standard" if p.get("standard") else "non-standard"
    seed = f", seed {p['seed']}" if "seed" in p else ""
    rows.append(("protocol", f"{p['norm']} eps={format_eps(p['eps'])}{seed}, {standard}"))
    if p.get("preprocessing"):  # image files: how they became the model's inputs
        rows.append(("preprocessing", _preprocessing(record["dataset"], p["preprocessing"])))
    return rows


def _preprocessing(dataset: str, preprocessing: str) -> str:
    """The preprocessing and the size of the inputs it makes."""
    from freqbench.data import get_dataset_info
    from freqbench.data.base import input_size

    try:
        h, w = input_size(get_dataset_info(dataset), preprocessing)
    except UserError:  # a dataset or preprocessing this installation does not know
        return preprocessing
    return f"{preprocessing} ({h}x{w} px inputs)"


def headline_table(record: dict[str, Any]) -> str:
    title = f"{record['name']} on {record['dataset']}"
    return title + "\n" + tabulate(headline_rows(record), tablefmt="simple")
