"""One view in the format a user asks for: Markdown, HTML, CSV or LaTeX.

Markdown and HTML show the whole view (main, unranked, BaSS and correlation tables); CSV
and LaTeX hold a single table, the main one unless another is named. CSV rounds as the text
formats show (:func:`format_cell`; full precision lives in the records' JSON), with each
interval's bounds and number of images as columns of their own; the text formats show an
interval as ± its larger side.
"""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from freqbench.errors import UnknownNameError, UserError
from freqbench.leaderboard.build import Leaderboard
from freqbench.leaderboard.html import render_html
from freqbench.leaderboard.markdown import table_markdown, view_markdown
from freqbench.leaderboard.table import DECIMALS, MISSING, Table, bound_keys, is_missing

FORMATS = ("md", "html", "csv", "latex")


def table_csv(table: Table) -> str:
    """Values rounded as the text formats show them (the records keep full precision); an
    interval column is followed by its 95% bounds and its n."""
    titles, digits = {}, {}
    for column in table.columns:
        titles[column.key] = column.title
        digits[column.key] = DECIMALS.get(column.kind)
        if column.interval:
            low, high, n = bound_keys(column.key)
            titles.update(
                {low: f"{column.title} 95% low", high: f"{column.title} 95% high",
                 n: f"{column.title} n"}
            )  # fmt: skip
            digits.update({low: DECIMALS.get(column.kind), high: DECIMALS.get(column.kind)})
    frame = table.frame[list(titles)].copy()
    for key, places in digits.items():
        if places is not None:
            frame[key] = [v if is_missing(v) else round(float(v), places) for v in frame[key]]
    return frame.rename(columns=titles).to_csv(index=False, lineterminator="\n")


def table_latex(table: Table) -> str:
    """A booktabs tabular; tabulate escapes LaTeX's special characters in every cell."""
    cells = [["--" if cell == MISSING else cell for cell in row] for row in table.cells()]
    return (
        tabulate(
            cells,
            headers=[c.title for c in table.columns],
            tablefmt="latex_booktabs",
            disable_numparse=True,
            colalign=["right" if c.numeric else "left" for c in table.columns],
        )
        + "\n"
    )


def render_view(
    board: Leaderboard, fmt: str, table: str | None = None, page_dir: Path | None = None
) -> str:
    """``board`` as text; ``page_dir`` is where an HTML page will live (its images link from there)."""
    if fmt not in FORMATS:
        raise UnknownNameError("format", fmt, FORMATS)
    if fmt == "html":
        if table is not None:
            raise UserError("the HTML page shows every table of the view: leave out --table")
        return render_html(board.dataset, [board], page_dir or Path.cwd())
    if fmt == "md":
        return table_markdown(board.table(table)) if table else view_markdown(board)
    chosen = board.table(table or "main")
    if table is None and chosen.frame.empty and board.unranked is not None:
        n = len(board.unranked.frame)
        raise UserError(
            f"no {board.dataset} model here is ranked (a standard protocol and a model that "
            f"learned), so the main table is empty; the {n} other{'s are' if n > 1 else ' is'} "
            "in --table unranked"
        )
    return table_csv(chosen) if fmt == "csv" else table_latex(chosen)
