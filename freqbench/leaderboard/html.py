"""The HTML page of a dataset: sortable tables and, per model, its Fourier heat map and filters.

One static file that needs no network: the CSS and JS shipped in ``static/`` are inlined.
Images are linked by relative URL (from the page's folder to the record's artifacts) rather
than inlined as base64, so the committed page stays small and diffs stay readable. Every
string from a record goes through Jinja2's autoescape.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2

from freqbench.leaderboard.build import Leaderboard
from freqbench.leaderboard.extract import columns
from freqbench.leaderboard.table import (
    ASCENDING,
    Table,
    bound_keys,
    format_cell,
    is_missing,
    plus_minus,
)
from freqbench.leaderboard.table import Column as TableColumn
from freqbench.metrics import MetricSpec
from freqbench.protocol import describe_standard
from freqbench.records import Record

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("freqbench.leaderboard", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str  # what the sorting script compares; empty sorts last
    cls: str
    href: str = ""
    pm: str = ""  # ± the larger side of the value's interval, shown after it
    title: str = ""  # shown on hover: the interval's bounds and its number of images


@dataclass(frozen=True)
class Figure:
    """One artifact image of a card: its URL (empty when the file is absent) and its words."""

    url: str
    alt: str
    caption: str
    missing: str


@dataclass(frozen=True)
class Card:
    anchor: str
    record: Record
    facts: list[tuple[str, str]]
    figures: list[Figure]
    link: str


def _static(name: str) -> str:
    return resources.files("freqbench.leaderboard").joinpath("static", name).read_text("utf-8")


def relative_url(file: Path, page_dir: Path) -> str:
    """A URL from the page's folder to ``file``, percent-quoted."""
    rel = os.path.relpath(file.resolve(), page_dir.resolve())
    return urllib.parse.quote(rel.replace(os.sep, "/"))


def _interval_title(values: dict, column: TableColumn) -> str:
    low, high, n = (values.get(k) for k in bound_keys(column.key))
    if is_missing(low) or is_missing(high) or is_missing(n):
        return ""
    return (
        f"95% interval {format_cell(low, column.kind)} to {format_cell(high, column.kind)} "
        f"(Wilson, n = {int(n)} images)"
    )


def _cells(table: Table, anchors: dict[str, str]) -> list[list[Cell]]:
    rows = []
    for values in table.frame.to_dict("records"):
        row = []
        for column in table.columns:
            value = values[column.key]
            if is_missing(value):
                sort = ""
            elif column.numeric:
                sort = repr(float(value))
            else:
                sort = str(value).lower()
            href = f"#{anchors[value]}" if column.key == "model" and value in anchors else ""
            cls = f"{'num' if column.numeric else 'text'} col-{column.key}"
            text = format_cell(value, column.kind)
            pm, title = plus_minus(values, column), _interval_title(values, column)
            row.append(Cell(text, sort, cls, href, pm, title))
        rows.append(row)
    return rows


def _card(anchor: str, record: Record, page_dir: Path, specs: Sequence[MetricSpec]) -> Card:
    facts = [
        ("architecture", record.get("model", "architecture")),
        ("recipe", record.get("model", "recipe") or "–"),
        ("BaSS", record.get("model", "bass_mode") or "–"),
        ("threat model", f"{record.data['protocol']['norm']} {record.get('model_info', 'eps')}"),
    ]
    for bound in columns(specs):
        if bound.column.headline:
            facts.append(
                (
                    bound.title,
                    format_cell(bound.shown(record), "percent" if bound.percent else "number"),
                )
            )
    figures = []
    for spec in specs:
        block = record.block(spec.name)
        if spec.presentation.card_facts is not None and block is not None:
            facts += spec.presentation.card_facts(block)
        for artifact in spec.artifacts:
            if artifact.caption:
                file = record.artifact(artifact.key)
                url = relative_url(file, page_dir) if file is not None else ""
                figures.append(Figure(url, artifact.alt, artifact.caption, artifact.missing))
    link = record.get("model_info", "link") or ""
    return Card(
        anchor, record, facts, figures, link if link.startswith(("https://", "http://")) else ""
    )


def render_html(dataset: str, views: list[Leaderboard], page_dir: Path) -> str:
    """The page for ``views``; image URLs are relative to ``page_dir``, where it will be saved."""
    records = sorted({r.name: r for v in views for r in v.records}.values(), key=lambda r: r.name)
    anchors = {r.name: f"model-{i}" for i, r in enumerate(records, start=1)}
    sections = [
        {
            "anchor": f"view-{view.threat_model.lower()}",
            "title": view.main.title,
            "tables": [
                {"table": table, "rows": _cells(table, anchors), "first": i == 0}
                for i, table in enumerate(view.tables)
            ],
        }
        for view in views
    ]
    return _ENV.get_template("leaderboard.html.j2").render(
        dataset=dataset,
        standard=describe_standard(dataset, {r.data["protocol"]["norm"] for r in records}) or "",
        sections=sections,
        cards=[_card(anchors[r.name], r, page_dir, views[0].specs) for r in records],
        ascending=ASCENDING,
        css=_static("leaderboard.css"),
        js=_static("leaderboard.js"),
    )
