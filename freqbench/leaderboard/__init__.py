"""Leaderboards built from evaluation records: ranked tables, BaSS deltas and correlations.

The leaderboard only reads records (``leaderboards/<dataset>/<name>.json``); it never runs a
model. :func:`build_leaderboard` makes one view (a dataset under one threat model),
:func:`render_view` prints it as Markdown, HTML, CSV or LaTeX, and :func:`write_pages` /
:func:`stale_pages` keep each dataset's generated ``README.md`` and ``index.html`` in step
with its records.
"""

from freqbench.leaderboard.build import Leaderboard, all_views, build_leaderboard
from freqbench.leaderboard.config import CONFIG_FILE, board_metrics
from freqbench.leaderboard.export import FORMATS, render_view
from freqbench.leaderboard.extract import views
from freqbench.leaderboard.generate import dataset_folder, dataset_pages, stale_pages, write_pages
from freqbench.leaderboard.protocols import deviations

__all__ = [
    "CONFIG_FILE",
    "FORMATS",
    "Leaderboard",
    "all_views",
    "board_metrics",
    "build_leaderboard",
    "dataset_folder",
    "dataset_pages",
    "deviations",
    "render_view",
    "stale_pages",
    "views",
    "write_pages",
]
