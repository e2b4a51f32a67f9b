"""The generated files of each dataset folder, ``README.md`` and ``index.html``: write or check.

They are a pure function of the records (no dates, no absolute paths), so CI can regenerate
them in memory and fail when a committed copy differs from what its records say. The
repository's own README (beside the records folder) may hold a dataset's main table between
two marker comments; that block is generated and checked the same way.
"""

from __future__ import annotations

from pathlib import Path

from freqbench import atomic
from freqbench.errors import UnknownNameError, UserError
from freqbench.leaderboard.build import all_views
from freqbench.leaderboard.config import board_metrics
from freqbench.leaderboard.html import render_html
from freqbench.leaderboard.markdown import INDEX, readme_markdown, table_markdown
from freqbench.paths import LEADERBOARD_FILE, display_path
from freqbench.records import dataset_folders, load_records

README = "README.md"


def block_markers(dataset: str) -> tuple[str, str]:
    return (
        f"<!-- freqbench leaderboard {dataset}: start -->",
        f"<!-- freqbench leaderboard {dataset}: end -->",
    )


def root_readme_block(dataset: str, views: list, records_dir: Path) -> str:
    """The main table of the dataset's first view, and how to regenerate it.

    The README lies beside the records folder, so the link is relative to it.
    """
    page = f"{Path(records_dir).name}/{dataset}/{README}"
    regenerate = f"regenerate with `freqbench leaderboard --dataset {dataset} --write`"
    if not views:
        return f"_No records for {dataset} yet_ ({regenerate}).\n"
    board = views[0]
    return (
        f"{board.main.title} on {dataset} (from [{page}]({page}); {regenerate}):\n\n"
        f"{table_markdown(board.main)}"
    )


def _with_block(text: str, dataset: str, block: str, path: Path) -> str | None:
    """``text`` with the dataset's marked block replaced, or None when it has no markers."""
    start, end = block_markers(dataset)
    if start not in text and end not in text:
        return None
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise UserError(
            f"{display_path(path)}: the lines '{start}' and '{end}' must each appear once, "
            "in this order; fix them and regenerate"
        )
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{block}{end}{tail}"


def dataset_folder(records_dir: Path, dataset: str) -> Path:
    """``<records_dir>/<dataset>``, or an error that names the datasets that do have records."""
    folder = Path(records_dir) / dataset
    if folder.is_dir():
        return folder
    known = [f.name for f in dataset_folders(records_dir)]
    if not known:
        raise UserError(
            f"{records_dir} has no dataset folder with records: the pages are made from "
            f"{records_dir}/<dataset>/*.json (`freqbench submit` writes them for leaderboards/)"
        )
    raise UnknownNameError(f"dataset with records in {records_dir}", dataset, known)


def dataset_pages(records_dir: Path, dataset: str) -> dict[Path, str]:
    """{file: content} of the generated files of one dataset folder."""
    folder = dataset_folder(records_dir, dataset)
    records = load_records(folder, empty_ok=(folder / LEADERBOARD_FILE).is_file())
    views = all_views(records, dataset, board_metrics(folder))
    pages = {
        folder / README: readme_markdown(dataset, views),
        folder / INDEX: render_html(dataset, views, folder),
    }
    root_readme = Path(records_dir).parent / README
    if root_readme.is_file():
        block = root_readme_block(dataset, views, records_dir)
        text = _with_block(root_readme.read_text(encoding="utf-8"), dataset, block, root_readme)
        if text is not None:
            pages[root_readme] = text
    return pages


def write_pages(records_dir: Path, dataset: str) -> list[Path]:
    return [
        atomic.write_text(path, text) for path, text in dataset_pages(records_dir, dataset).items()
    ]


def stale_pages(records_dir: Path) -> list[str]:
    """One message per generated file that differs from what the records say, or is missing."""
    messages = []
    for folder in dataset_folders(records_dir):
        for path, text in dataset_pages(records_dir, folder.name).items():
            if not path.is_file():
                state = "is missing"
            elif path.read_text(encoding="utf-8") != text:
                state = "is out of date with the records"
            else:
                continue
            messages.append(
                f"{display_path(path)}: {state}; run `freqbench leaderboard --dataset "
                f"{folder.name} --write`"
            )
    return messages
