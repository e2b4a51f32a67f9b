"""The frequency view of a whole RobustBench board: one evaluation per published entry.

Each entry of the board (or each one chosen) is evaluated as ``robustbench:<dataset>/
<threat_model>/<Name>`` into ``<out_dir>/<Name>.json``, through robustbench's own loader and
the dataset's standard protocol, exactly as ``freqbench evaluate`` would: blocks already there
are reused, so a killed run resumes where it stopped. An entry that cannot be evaluated (no
published weights, weights missing offline, a constructor that fails, memory, a metric that
does not apply) is recorded with its reason and the others go on. After every entry the run's
ledger, ``<out_dir>/zoo-run.jsonl`` (one JSON line per entry), is rewritten atomically: what
each entry came to and why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.evaluate import evaluate
from freqbench.executors import Executor
from freqbench.loading import ModelRef
from freqbench.published import PublishedEntry, get_published, published_entries
from freqbench.published.zoo import zoo_weights

#: Blocks a zoo run computes unless told otherwise: AutoAttack's number is already published.
DEFAULT_METRICS = ("clean", "frequency", "filters")
STATUSES = ("done", "reused", "failed", "skipped")
LEDGER = "zoo-run.jsonl"  # not *.json: the folder's *.json files are its records
REASON_WIDTH = 100  # characters of a reason in the summary table; the ledger keeps it whole


@dataclass(frozen=True)
class EntryOutcome:
    """What one entry came to: ``status`` is one of :data:`STATUSES`; ``reason`` says why an
    entry failed or was skipped; ``seconds`` is its wall time."""

    name: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    blocks: tuple[str, ...] = ()  # the blocks that ran (done) or were reused


def robustbench_ref(dataset: str, threat_model: str, name: str) -> str:
    return f"robustbench:{dataset}/{threat_model}/{name}"


def chosen_entries(
    dataset: str, threat_model: str, names: Sequence[str] | None = None
) -> list[PublishedEntry]:
    """The board's entries, or the named ones in the order given (an unknown name is an error
    with close matches, before anything runs)."""
    if names:
        return [get_published(dataset, threat_model, name) for name in names]
    entries = published_entries(dataset, threat_model)
    if not entries:
        raise UserError(f"RobustBench publishes no {dataset} {threat_model} board")
    return entries


def run_zoo(
    dataset: str,
    threat_model: str,
    out_dir: Path,
    *,
    entries: Sequence[str] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    executor: str | Executor = "local",
    on_entry: Callable[[EntryOutcome], None] | None = None,
    **options: Any,
) -> list[EntryOutcome]:
    """Evaluate every chosen entry into ``out_dir``; ``options`` go to
    :func:`freqbench.evaluate.evaluate` (device, data_dir, corruptions_dir, protocol, ...)."""
    chosen = chosen_entries(dataset, threat_model, entries)
    outcomes: list[EntryOutcome] = []
    for entry in chosen:
        outcome = _run_entry(entry, out_dir, metrics, executor, options)
        outcomes.append(outcome)
        _write_ledger(out_dir, dataset, threat_model, metrics, outcomes)
        if on_entry is not None:
            on_entry(outcome)
    return outcomes


def _run_entry(
    entry: PublishedEntry,
    out_dir: Path,
    metrics: Sequence[str],
    executor: str | Executor,
    options: dict[str, Any],
) -> EntryOutcome:
    if zoo_weights(entry.dataset, entry.threat_model, entry.name) is None:
        return EntryOutcome(entry.name, "skipped", "RobustBench publishes no weights for it")
    start = time.perf_counter()
    ref = ModelRef(robustbench_ref(entry.dataset, entry.threat_model, entry.name))
    try:
        result = evaluate(
            ref,
            executor=executor,
            dataset=entry.dataset,
            metrics=list(metrics),
            out_dir=out_dir,
            name=entry.name,
            **options,
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one entry's loader, weights or memory must not stop the board
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        return EntryOutcome(entry.name, "failed", reason, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if result.failed:
        reason = "; ".join(f"{name}: {why}" for name, why in result.failed.items())
        return EntryOutcome(entry.name, "failed", reason, seconds, tuple(result.ran))
    if result.ran:
        return EntryOutcome(entry.name, "done", "", seconds, tuple(result.ran))
    return EntryOutcome(entry.name, "reused", "", seconds, tuple(result.reused))


def _write_ledger(
    out_dir: Path,
    dataset: str,
    threat_model: str,
    metrics: Sequence[str],
    outcomes: list[EntryOutcome],
) -> None:
    board = {"dataset": dataset, "threat_model": threat_model, "metrics": list(metrics)}
    lines = [json.dumps({**board, **asdict(outcome)}) for outcome in outcomes]
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_dir / LEDGER, "\n".join(lines) + "\n")


def summary_table(outcomes: Sequence[EntryOutcome], wall_seconds: float) -> str:
    """One line per entry, then the count of each status and the wall time."""
    width = max((len(o.name) for o in outcomes), default=4)
    lines = [f"{'entry':<{width}}  {'status':<7} {'seconds':>8}  reason / blocks"]
    for o in outcomes:
        detail = o.reason.splitlines()[0] if o.reason else ", ".join(o.blocks)
        if len(detail) > REASON_WIDTH:
            detail = detail[: REASON_WIDTH - 3] + "..."
        lines.append(f"{o.name:<{width}}  {o.status:<7} {o.seconds:8.1f}  {detail}")
    counts = {status: sum(o.status == status for o in outcomes) for status in STATUSES}
    total = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
    entries = "entry" if len(outcomes) == 1 else "entries"
    lines.append(f"\n{len(outcomes)} {entries}: {total}; {wall_seconds:.0f} s wall")
    lines.append(f"every reason in full: {LEDGER}")
    return "\n".join(lines)
