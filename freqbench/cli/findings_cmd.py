"""Check the three papers' claims against a dataset's records and write FINDINGS.md.

Example: freqbench findings --dataset fashion-mnist. The grid file
(model_zoo/<dataset>/grid.toml by default) says which record plays which role; each claim
gets a verdict (holds, does not hold, unclear) with the numbers and records behind it.
--check exits 1 when the committed FINDINGS.md differs from what the records say.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from freqbench.errors import UserError
from freqbench.paths import GRID_FILE, RECORDS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="e.g. fashion-mnist")
    parser.add_argument("--grid", type=Path, help=f"default: model_zoo/<dataset>/{GRID_FILE}")
    parser.add_argument(
        "--records-dir", type=Path, default=Path(RECORDS_DIR), help=f"default {RECORDS_DIR}"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when FINDINGS.md is stale")


def run(args: argparse.Namespace) -> int:
    from freqbench import atomic
    from freqbench.findings import findings_path, findings_text
    from freqbench.grid import load_grid
    from freqbench.paths import display_path
    from freqbench.zoo import default_root

    spec = load_grid(args.grid or default_root() / args.dataset / GRID_FILE)
    if spec.dataset != args.dataset:
        raise UserError(f"{spec.path} is a grid of {spec.dataset}, not {args.dataset}")
    text, findings = findings_text(spec, args.records_dir)
    path = findings_path(args.records_dir, spec.dataset)
    if args.check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(
                f"{display_path(path)} is out of date: run `freqbench findings --dataset {spec.dataset}`"
            )
            return 1
        print(f"{display_path(path)} is up to date")
        return 0
    atomic.write_text(path, text)
    for finding in findings:
        print(f"{finding.key}  {finding.verdict:<14} {finding.claim}")
    print(f"wrote {display_path(path)}")
    return 0
