"""Print a leaderboard, or write / check each dataset's generated README.md and index.html.

Without --write or --check, one view (a dataset under one threat model) goes to stdout or
--out. --write regenerates the files of --dataset (of every dataset with records when it is
left out); --check exits 1 when a committed file differs from what its records say.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freqbench.errors import UserError
from freqbench.paths import RECORDS_DIR
from freqbench.threat_models import DEFAULT, ThreatModel, threat_models


def _view_help(card: ThreatModel) -> str:
    if card.bounded:
        return f"{card.name} (records attacked in its ball, ranked by {card.metric})"
    return f"{card.name} (every record with {card.metric}, ranked by it)"


def _views_help() -> str:
    return ", ".join(_view_help(card) for card in threat_models())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        help="e.g. fashion-mnist: the records of <records-dir>/<dataset>/, or of --records-dir "
        "itself when it holds them (the folder `freqbench evaluate --out` wrote)",
    )
    parser.add_argument(
        "--threat-model", default=DEFAULT,
        help=f"the view: {_views_help()}; default {DEFAULT}. Where RobustBench publishes the "
        "board (cifar10, cifar100, imagenet), its published rows follow in a table of their own",
    )  # fmt: skip
    parser.add_argument("--format", default="md", help="md (default), html, csv or latex")
    parser.add_argument(
        "--table", help="only this table: main, unranked (rows of non-standard protocols or "
        "degenerate models, when there are any), bass or correlation (md, csv, latex; csv and "
        "latex default to main)",
    )  # fmt: skip
    parser.add_argument("--sort-by", metavar="COLUMN", help="reorder the main table by a column")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument(
        "--records-dir", type=Path, default=Path(RECORDS_DIR),
        help=f"a folder of per-dataset record folders, or of records (default {RECORDS_DIR})",
    )  # fmt: skip
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--write", action="store_true", help="regenerate README.md and index.html of the dataset"
    )
    mode.add_argument(
        "--check", action="store_true", help="exit 1 when a generated file is out of date"
    )


def _datasets_with_records(records_dir: Path) -> list[str]:
    from freqbench.records import dataset_folders

    return [folder.name for folder in dataset_folders(records_dir)]


def _check(records_dir: Path) -> int:
    from freqbench.leaderboard import stale_pages

    datasets = _datasets_with_records(records_dir)
    messages = stale_pages(records_dir)
    for message in messages:
        print(message)
    if messages:
        return 1
    print(f"generated files of {len(datasets)} dataset(s) in {records_dir} are up to date")
    return 0


def _write(records_dir: Path, dataset: str | None) -> int:
    from freqbench.leaderboard import write_pages
    from freqbench.paths import display_path

    datasets = [dataset] if dataset else _datasets_with_records(records_dir)
    if not datasets:
        raise UserError(f"{records_dir} holds no records: nothing to generate")
    for name in datasets:
        for path in write_pages(records_dir, name):
            print(f"wrote {display_path(path)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from freqbench import atomic
    from freqbench.leaderboard import board_metrics, build_leaderboard, render_view
    from freqbench.leaderboard.published_table import published_board
    from freqbench.paths import display_path
    from freqbench.records import dataset_records_folder, load_dataset_records

    if args.check:
        return _check(args.records_dir)
    if args.write:
        return _write(args.records_dir, args.dataset)
    if not args.dataset:
        raise UserError("pass --dataset (or --write / --check for the generated files)")
    published = published_board(args.dataset, args.threat_model)
    records = load_dataset_records(args.records_dir, args.dataset, empty_ok=bool(published))
    folder = dataset_records_folder(args.records_dir, args.dataset)
    board = build_leaderboard(
        records, args.dataset, args.threat_model, args.sort_by, board_metrics(folder)
    )
    page_dir = args.out.parent if args.out else Path.cwd()
    text = render_view(board, args.format, args.table, page_dir)
    if args.out:
        atomic.write_text(args.out, text)
        print(f"wrote {display_path(args.out)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
