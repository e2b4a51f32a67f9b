"""Check model-zoo entries and records: schema, agreement, checkpoint hashes, unique names.

With no PATHS, everything under model_zoo/ and leaderboards/ is checked. PATHS may also be
an experiment's records (the folder `freqbench evaluate --out` wrote): those are checked as
records (schema, counts, files, keys), without the zoo entry a published record needs.
Prints one line per problem (`path: problem`) and exits 1 when there is any; exits 0 with a
one-line summary when there is none. CI runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freqbench.paths import RECORDS_DIR, ZOO_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="entry (.toml) or record (.json) files or folders"
    )  # fmt: skip
    parser.add_argument(
        "--zoo", type=Path, help=f"the model zoo records refer to (default: ./{ZOO_DIR})"
    )
    parser.add_argument(
        "--records-dir", type=Path, default=Path(RECORDS_DIR), help=f"default {RECORDS_DIR}"
    )


def run(args: argparse.Namespace) -> int:
    from freqbench.validation import validate_tree

    report = validate_tree(args.paths, args.zoo, args.records_dir)
    for problem in report.problems:
        print(problem)
    if report.problems:
        print(report.summary(), file=sys.stderr)
        return 1
    print(report.summary())
    return 0
