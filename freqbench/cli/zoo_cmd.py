"""RobustBench's published models: list a board's entries, or evaluate every one of them.

`zoo list` shows each entry's published clean and robust accuracy (RobustBench's figures, in
RobustBench's order) and whether its weights are on this machine ($FREQBENCH_MODEL_DIR, in
robustbench's layout <dataset>/<threat_model>/<Name>.pt); it imports no torch. `zoo run`
evaluates the entries of one board with the dataset's standard protocol (the protocol options
change it, as for evaluate: such records are listed, not ranked), one record per entry
in --out (default runs/zoo/<dataset>/<threat_model>/), reusing what is there: run it again
after a kill and it goes on. An entry that fails is reported with its reason; the others go on.
`zoo page` (also written at the end of every run) correlates the measured frequency and filter
numbers with the published robust accuracy across the board, and judges the papers' claims.
"""

from __future__ import annotations

import argparse
import fnmatch
import time
from pathlib import Path

from freqbench.cli.options import (
    add_cache_argument,
    add_device_argument,
    add_executor_arguments,
    add_protocol_arguments,
    executor_from_args,
    protocol_from_args,
)
from freqbench.errors import UserError

DEFAULT_OUT = Path("runs") / "zoo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="entries, published numbers, local weights")
    listing.add_argument("--dataset", help="cifar10, cifar100 or imagenet (default: all)")
    listing.add_argument("--threat-model", help="Linf, L2, corruptions, corruptions_3d")
    listing.add_argument("pattern", nargs="?", help="only entries matching, e.g. 'Wong*'")
    run = actions.add_parser("run", help="evaluate every entry of one board (resumable)")
    run.add_argument("--dataset", required=True, help="cifar10, cifar100 or imagenet")
    run.add_argument("--threat-model", required=True, help="Linf, L2, corruptions, ...")
    run.add_argument("--entries", help="comma list of entry names (default: the whole board)")
    run.add_argument(
        "--metrics", default="clean,frequency,filters",
        help="comma list (filters alone reads weights only, no images); AutoAttack's "
        "published number is on the board already, ask for autoattack to re-run it",
    )  # fmt: skip
    run.add_argument(
        "--out", type=Path, help=f"record folder (default {DEFAULT_OUT}/<dataset>/<threat_model>)"
    )
    run.add_argument("--data-dir", type=Path, help="where the dataset files are")
    run.add_argument("--corruptions-dir", type=Path, help="release corruption files, if any")
    add_device_argument(run)
    add_cache_argument(run)
    add_protocol_arguments(run)
    add_executor_arguments(run)
    page = actions.add_parser("page", help="write the zoo's frequency view from its records")
    page.add_argument("--dataset", required=True, help="cifar10, cifar100 or imagenet")
    page.add_argument("--threat-model", required=True, help="Linf, L2, corruptions, ...")
    page.add_argument(
        "--records-dir", type=Path,
        help=f"the records `zoo run` wrote (default {DEFAULT_OUT}/<dataset>/<threat_model>)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    if args.action == "page":
        return _page(args.dataset, args.threat_model, args.records_dir)
    return _run(args)


def _page(dataset: str, threat_model: str, folder: Path | None) -> int:
    """Write ZOO.md, zoo.html, zoo.csv and the scatter plots beside the records."""
    from freqbench.findings.zoo import write_zoo_page, zoo_view
    from freqbench.paths import display_path
    from freqbench.published import published_entries
    from freqbench.records import load_records

    published_entries(dataset, threat_model)  # an unknown board: close matches
    folder = folder or DEFAULT_OUT / dataset / threat_model
    view = zoo_view(load_records(folder), dataset, threat_model)
    for path in write_zoo_page(folder, view):
        print(f"wrote {display_path(path)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from freqbench.architectures.external import default_model_dir
    from freqbench.published import published_entries, rank_as_robustbench
    from freqbench.published.zoo import zoo_release, zoo_weights

    entries = published_entries(args.dataset, args.threat_model)
    model_dir = default_model_dir()
    boards: dict[tuple[str, str], list] = {}
    for entry in entries:
        if args.pattern is None or fnmatch.fnmatch(entry.name, args.pattern):
            boards.setdefault((entry.dataset, entry.threat_model), []).append(entry)
    if not boards:
        raise UserError(f"no published entry matches '{args.pattern}'")
    for (dataset, threat_model), board in sorted(boards.items()):
        local = 0
        rows = []
        for rank, entry in enumerate(rank_as_robustbench(board), 1):
            weights = zoo_weights(dataset, threat_model, entry.name)
            where = _where(weights, model_dir)
            local += where == "local"
            rows.append((rank, entry, where))
        with_weights = sum(where != "not published" for _, _, where in rows)
        print(
            f"\n{dataset} {threat_model}: {len(rows)} entries, {with_weights} with weights in "
            f"robustbench {zoo_release()}'s zoo, {local} local in {model_dir}"
        )
        width = max(len(entry.name) for _, entry, _ in rows)
        field = board[0].robust_field
        print(
            f"{'#':>3}  {'entry':<{width}}  {'clean':>6}  {field:>18}  {'best known':>10}  weights"
        )
        for rank, entry, where in rows:
            print(
                f"{rank:>3}  {entry.name:<{width}}  {entry.clean_acc:6.2f}  "
                f"{entry.robust_acc:18.2f}  {entry.best_known_acc:10.2f}  {where}"
            )
    print(
        "\nfigures: RobustBench's published numbers (freqbench.published), not re-run; ranked "
        "as RobustBench ranks, by the best known accuracy (an external evaluation's, where "
        "one found a stronger attack)"
    )
    return 0


def _where(weights, model_dir: Path) -> str:
    if weights is None:
        return "not published"
    local = weights.local(model_dir)
    if local is None:
        return f"{weights.source} hub"
    return "local" if local else "missing"


def _run(args: argparse.Namespace) -> int:
    from freqbench.grid.zoo_run import chosen_entries, run_zoo, summary_table
    from freqbench.metrics import parse_metrics

    entries = [name.strip() for name in args.entries.split(",")] if args.entries else None
    chosen = chosen_entries(args.dataset, args.threat_model, entries)  # names checked first
    metrics = [spec.name for spec in parse_metrics(args.metrics)]
    out = args.out or DEFAULT_OUT / args.dataset / args.threat_model
    print(f"{len(chosen)} entries of {args.dataset} {args.threat_model} -> {out}")
    start = time.perf_counter()

    def said(outcome) -> None:
        detail = f": {outcome.reason.splitlines()[0]}" if outcome.reason else ""
        print(f"{outcome.name}: {outcome.status} ({outcome.seconds:.0f} s){detail}", flush=True)

    with executor_from_args(args) as executor:
        outcomes = run_zoo(
            args.dataset,
            args.threat_model,
            out,
            entries=[entry.name for entry in chosen],
            metrics=metrics,
            executor=executor,
            on_entry=said,
            device=args.device,
            data_dir=args.data_dir,
            corruptions_dir=args.corruptions_dir,
            cache_dir=args.cache_dir,
            protocol=protocol_from_args(args),
        )
    print()
    print(summary_table(outcomes, time.perf_counter() - start))
    if any(outcome.status in ("done", "reused") for outcome in outcomes):
        _page(args.dataset, args.threat_model, out)
    return 1 if any(outcome.status == "failed" for outcome in outcomes) else 0
