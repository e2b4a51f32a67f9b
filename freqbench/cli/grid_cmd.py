"""Train and evaluate every missing row of a grid file; resumes after a kill, skips what is done.

Example: freqbench grid model_zoo/fashion-mnist/grid.toml --commit. Each trained row is
published to the zoo beside the grid file, the metric blocks its record lacks are evaluated
with the grid's protocol (standard unless the file says protocol = "quick") into
leaderboards/<dataset>/, and the pages are regenerated;
--commit commits each checkpoint as soon as it is trained, and the records with the
regenerated pages at the end. --train-only trains and publishes every row first (evaluate
later, e.g. on a GPU).
--executor ray runs the tasks (a training run per row, a task per metric block or shard)
side by side on a Ray cluster, or a local Ray instance. --dry-run lists the rows and their
status without doing anything.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from freqbench.cli.options import (
    add_cache_argument,
    add_device_argument,
    add_executor_arguments,
    executor_from_args,
    field_type,
)
from freqbench.paths import RECORDS_DIR
from freqbench.protocol import all_fields


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("grid", type=Path, help="model_zoo/<dataset>/grid.toml")
    parser.add_argument("--dry-run", action="store_true", help="list the rows and their status")
    parser.add_argument(
        "--commit", action="store_true", help="git-commit each checkpoint and each record"
    )
    parser.add_argument(
        "--train-only", action="store_true", help="train and publish rows, evaluate none"
    )
    add_device_argument(
        parser, "evaluation device: auto (default: CUDA when torch sees a GPU), cpu or cuda; "
        "training uses the grid's [training] device",
    )  # fmt: skip
    parser.add_argument(
        "--runs-dir", type=Path, default=Path("runs/grid"), help="training runs (default runs/grid)"
    )
    parser.add_argument(
        "--records-dir", type=Path, default=Path(RECORDS_DIR), help=f"default {RECORDS_DIR}"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_cache_argument(parser)
    parser.add_argument(
        "--shards", type=field_type(all_fields()["shards"]), default=1,
        help="tasks per shardable metric block (AutoAttack, heat map, corruptions); default 1",
    )  # fmt: skip
    add_executor_arguments(parser)


def _table(states: list) -> str:
    recipes = [s.row.recipe if s.row.trained else f"{s.row.recipe} (smoothed)" for s in states]
    width = max(len(s.row.name) for s in states)
    recipe_width = max(map(len, recipes))
    lines = [f"{'row':<{width}}  {'recipe':<{recipe_width}}  status"]
    for state, recipe in zip(states, recipes, strict=True):
        lines.append(f"{state.row.name:<{width}}  {recipe:<{recipe_width}}  {state.detail}")
    done = sum(s.done for s in states)
    lines.append(f"{done} of {len(states)} rows done")
    return "\n".join(lines)


def _spent(paths) -> str:
    from freqbench.grid.runner import ledger_totals

    totals = ledger_totals(paths)
    if not totals["steps"]:
        return "no steps finished on this machine yet"
    return (
        f"{totals['steps']} steps finished here: {totals['wall_seconds'] / 3600:.2f} h wall, "
        f"{totals['cpu_seconds'] / 3600:.2f} h CPU ({paths.runs}/ledger.jsonl)"
    )


def run(args: argparse.Namespace) -> int:
    from freqbench.grid import GridPaths, GridRunner, grid_states, load_grid

    spec = load_grid(args.grid)
    paths = GridPaths(records=args.records_dir, runs=args.runs_dir)
    if args.dry_run:
        print(_table(grid_states(spec, paths)))
        print(_spent(paths))
        return 0
    from freqbench.cli.git import committer
    from freqbench.findings import write_findings

    def say(message: str) -> None:
        print(message, flush=True)

    start = time.perf_counter()
    with executor_from_args(args) as executor:
        runner = GridRunner(
            spec,
            paths,
            device=args.device,
            train_only=args.train_only,
            progress=False if args.no_progress else None,
            say=say,
            on_published=committer(say) if args.commit else None,
            executor=executor,
            shards=args.shards,
            threads=args.threads,
            more_pages=lambda spec, paths: [write_findings(spec, paths.records)],
            cache_dir=args.cache_dir,
        )
        states = runner.run()
    print(_table(states))
    if runner.seconds:
        parts = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in runner.seconds.items())
        wall = time.perf_counter() - start
        print(f"this run: {wall:.0f} s wall; task time ({args.executor}): {parts}")
    print(_spent(paths))
    for block, why in runner.failed.items():
        print(f"FAILED {block}: {why}")
    return 1 if runner.failed else 0
