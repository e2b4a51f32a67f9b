"""Submit a model: validate its zoo entry, evaluate it, write its record and regenerate the tables.

The entry must live in model_zoo/<dataset>/ under the current folder (the repository root),
where the evaluator finds entries by name. The model is evaluated with the dataset's standard
protocol: only the metric blocks its record lacks are run (--force re-runs them all);
--protocol quick and the --*-n-examples options make a smaller run for small machines, and
its record says it is non-standard. Prints the `git add` lines of everything the submission
adds.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.cli.options import add_cache_argument, add_device_argument, add_field_arguments
from freqbench.errors import UserError
from freqbench.paths import RECORDS_DIR

if TYPE_CHECKING:
    from freqbench.protocol import Protocol
    from freqbench.zoo import ZooEntry


#: The protocol counts a submission may lower, for a smaller run on a small machine.
SMALLER_RUN = ("n_examples", "autoattack_n_examples", "heatmap_n_examples")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("entry", type=Path, help="model_zoo/<dataset>/<name>.toml")
    parser.add_argument(
        "--protocol", choices=("standard", "quick"), default="standard",
        help="standard (default) or quick (fewer AutoAttack and heat-map images)",
    )  # fmt: skip
    add_field_arguments(parser, SMALLER_RUN)
    add_device_argument(parser)
    parser.add_argument(
        "--force", action="store_true", help="re-run every metric even if its block is done"
    )
    parser.add_argument("--data-dir", type=Path, help="where the dataset files are")
    parser.add_argument("--corruptions-dir", type=Path, help="official CIFAR-10-C/100-C .npy files")
    add_cache_argument(parser)
    parser.add_argument(
        "--records-dir", type=Path, default=Path(RECORDS_DIR), help=f"default {RECORDS_DIR}"
    )


def _protocol(args: argparse.Namespace) -> Protocol:
    from freqbench.protocol import Protocol

    return Protocol(args.protocol, **{key: getattr(args, key, None) for key in SMALLER_RUN})


def _entry_in_zoo(path: Path) -> ZooEntry:
    """The entry, provided the evaluator will find this very file by its name."""
    from freqbench.zoo import default_root, find_entry, load_entry

    entry = load_entry(path)
    try:
        found = find_entry(entry.name)
    except UserError as exc:
        raise UserError(
            f"{path}: the evaluator looks up entries by name in {default_root()}, and there "
            f"{exc}. Place the entry at model_zoo/{entry.dataset}/{entry.name}.toml and run "
            "from the repository root"
        ) from None
    if found.path.resolve() != path.resolve():
        raise UserError(f"{path}: the name '{entry.name}' belongs to {found.path} in the zoo")
    return entry


def _report(problems: list) -> int:
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _files_to_commit(entry: ZooEntry, folder: Path, pages: list[Path]) -> list[Path]:
    """The entry, its weights and sidecar, the dataset's records folder (every record and
    artifact the regenerated pages show) and the pages outside it."""
    files = [entry.path]
    if entry.weights_path is not None:
        files += [entry.weights_path, entry.weights_path.with_suffix(".json")]
    return files + [folder] + [page for page in pages if folder not in page.parents]


def run(args: argparse.Namespace) -> int:
    from freqbench.cli.evaluate_cmd import time_summary
    from freqbench.evaluate import evaluate
    from freqbench.headline import headline_table
    from freqbench.leaderboard import write_pages
    from freqbench.paths import display_path
    from freqbench.validation import validate_tree

    entry = _entry_in_zoo(args.entry)
    folder = args.records_dir / entry.dataset
    checked = validate_tree([entry.path], records_dir=args.records_dir)
    if checked.problems:
        return _report(checked.problems)
    result = evaluate(
        entry.name,
        dataset=entry.dataset,
        protocol=_protocol(args),
        out_dir=folder,
        device=args.device,
        force=args.force,
        data_dir=args.data_dir,
        corruptions_dir=args.corruptions_dir,
        cache_dir=args.cache_dir,
        publish=True,
    )
    print(headline_table(result.record))
    print(f"\nrecord: {display_path(result.path)}")
    print(time_summary(result))
    # Every record in the folder goes on the regenerated pages: each must be a valid submission.
    checked = validate_tree([entry.path, folder], records_dir=args.records_dir)
    if checked.problems:
        return _report(checked.problems)
    pages = write_pages(args.records_dir, entry.dataset)
    print("Commit the submission:")
    print(
        "git add "
        + " ".join(shlex.quote(display_path(f)) for f in _files_to_commit(entry, folder, pages))
    )
    return 0
