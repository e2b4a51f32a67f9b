"""Submit a model: validate its zoo entry, evaluate it, write its record and regenerate the tables.

The entry must live in model_zoo/<dataset>/ under the current folder (the repository root),
where the evaluator finds entries by name. The model is evaluated with the dataset's standard
protocol unless its record already exists (--force re-evaluates); --protocol quick and the
--*-n-examples options make a smaller run for small machines, and its record says it is
non-standard. Prints the `git add` lines of everything the submission adds.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from pathlib import Path

from freqbench.errors import UserError
from freqbench.evaluate import evaluate
from freqbench.leaderboard import write_pages
from freqbench.protocol import Protocol
from freqbench.records import RECORDS_DIR, display_path, read_json, validate_tree
from freqbench.zoo import ZooEntry, default_root, find_entry, load_entry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("entry", type=Path, help="model_zoo/<dataset>/<name>.toml")
    parser.add_argument(
        "--protocol", choices=("standard", "quick"), default="standard",
        help="standard (default) or quick (fewer AutoAttack and heat-map images)",
    )  # fmt: skip
    parser.add_argument("--n-examples", type=int, help="test images for every metric")
    parser.add_argument("--autoattack-n-examples", type=int, help="images attacked by AutoAttack")
    parser.add_argument("--heatmap-n-examples", type=int, help="images per Fourier basis")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--force", action="store_true", help="re-evaluate when a record exists")
    parser.add_argument("--data-dir", type=Path, help="where the dataset files are")
    parser.add_argument("--corruptions-dir", type=Path, help="official CIFAR-10-C/100-C .npy files")
    parser.add_argument(
        "--records-dir", type=Path, default=Path(RECORDS_DIR), help=f"default {RECORDS_DIR}"
    )


def _protocol(args: argparse.Namespace, dataset: str) -> Protocol:
    protocol = Protocol.quick(dataset) if args.protocol == "quick" else Protocol.standard(dataset)
    overrides = {
        key: getattr(args, key)
        for key in ("n_examples", "autoattack_n_examples", "heatmap_n_examples")
        if getattr(args, key) is not None
    }
    return replace(protocol, **overrides)


def _entry_in_zoo(path: Path) -> ZooEntry:
    """The entry, provided the evaluator will find this very file by its name."""
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


def _files_to_commit(entry: ZooEntry, record_path: Path, pages: list[Path]) -> list[Path]:
    files = [entry.path]
    if entry.weights_path is not None:
        files += [entry.weights_path, entry.weights_path.with_suffix(".json")]
    files.append(record_path)
    artifacts = read_json(record_path)["artifacts"]
    files += [record_path.parent / name for name in artifacts.values()]
    return files + pages


def run(args: argparse.Namespace) -> int:
    entry = _entry_in_zoo(args.entry)
    checked = validate_tree([entry.path], records_dir=args.records_dir)
    if checked.problems:
        return _report(checked.problems)
    out_dir = args.records_dir / entry.dataset
    record_path = out_dir / f"{entry.name}.json"
    if record_path.is_file() and not args.force:
        print(f"{display_path(record_path)} exists: kept (pass --force to evaluate again)")
    else:
        evaluate(
            entry.name,
            dataset=entry.dataset,
            protocol=_protocol(args, entry.dataset),
            out_dir=out_dir,
            device=args.device,
            force=args.force,
            data_dir=args.data_dir,
            corruptions_dir=args.corruptions_dir,
        )
        print(f"wrote {display_path(record_path)}")
    checked = validate_tree([entry.path, record_path], records_dir=args.records_dir)
    if checked.problems:
        return _report(checked.problems)
    pages = write_pages(args.records_dir, entry.dataset)
    print("Commit the submission:")
    for file in _files_to_commit(entry, record_path, pages):
        print(f"git add {shlex.quote(display_path(file))}")
    return 0
