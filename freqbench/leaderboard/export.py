"""One view in the format a user asks for: Markdown, HTML, CSV or LaTeX.

Markdown and HTML show the whole view (main, non-standard, BaSS and correlation tables); CSV
and LaTeX hold a single table, the main one unless another is named. CSV keeps
full-precision numbers for analysis, with each interval's bounds and number of images as
columns of their own; the text formats show the rounded cells of :func:`format_cell`, an
interval as ± its larger side.
"""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from freqbench.errors import UnknownNameError, UserError
from freqbench.leaderboard.build import Leaderboard
from freqbench.leaderboard.html import render_html
from freqbench.leaderboard.markdown import table_markdown, view_markdown
from freqbench.leaderboard.table import MISSING, Table, bound_keys

FORMATS = ("md", "html", "csv", "latex")


def table_csv(table: Table) -> str:
    """Full-precision values; an interval column is followed by its 95% bounds and its n."""
    titles = {}
    for column in table.columns:
        titles[column.key] = column.title
        if column.interval:
            low, high, n = bound_keys(column.key)
            titles.update(
                {low: f"{column.title} 95% low", high: f"{column.title} 95% high",
                 n: f"{column.title} n"}
            )  # fmt: skip
    frame = table.frame[list(titles)].rename(columns=titles)
    return frame.to_csv(index=False, lineterminator="\n")


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
    return table_csv(chosen) if fmt == "csv" else table_latex(chosen)
