"""The standardized evaluator: one model in, one record out, one metric block at a time.

It loads the model, checks that it behaves like a classifier, and runs only the metric blocks
that are missing or stale in the model's record: a block is keyed by the checkpoint, the
metric's version and exactly the protocol fields it reads (:func:`freqbench.protocol.block_key`).
So ``--metrics clean`` then ``--metrics filters`` makes one record with both, a new ``--eps``
re-runs AutoAttack only, and another checkpoint re-runs everything. A block is one task, or
``shards`` tasks for a metric that can be split (:attr:`MetricSpec.merge`); the tasks run on
an executor (in this process by default, or on Ray) and each finished block is merged into the
record atomically, with its artifacts beside it, so a kill loses at most the blocks in
progress.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.errors import UserError
from freqbench.evaluate.device import resolve_device
from freqbench.evaluate.plan import Outcome, RecordPlan
from freqbench.evaluate.tasks import BlockResult, BlockTask, run_block
from freqbench.evaluate.worker import WORKER
from freqbench.executors import Executor, make_executor
from freqbench.metrics import parse_metrics
from freqbench.paths import LEADERBOARD_FILE
from freqbench.progress import Progress
from freqbench.protocol import Protocol, all_fields
from freqbench.records import RECORD_FORMAT
from freqbench.scheduler import Scheduler

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages
    from freqbench.data.base import ImageStream
    from freqbench.loading import ModelRef

__all__ = [
    "RECORD_FORMAT",
    "Outcome",
    "RecordPlan",
    "check_model",
    "evaluate",
    "plan_evaluation",
    "resolve_device",
    "run_plans",
    "submit_plan",
    "task_name",
]

#: Told of each block task's result once its plan took it.
OnBlock = Callable[[RecordPlan, BlockTask, BlockResult], None]

#: A record name is a file name: letters, digits and . _ + -, starting with a letter or digit.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def check_model(model: nn.Module, data: LabeledImages | ImageStream, device: str) -> None:
    """Fail early and clearly on a model that cannot be evaluated as a classifier."""
    import torch

    if model.training:
        warnings.warn(
            "the model was in train mode; switched to eval mode (as RobustBench does)", stacklevel=2
        )
        model.eval()
    x = data.take(0, min(8, len(data))).images.to(device)
    if x.min() < 0 or x.max() > 1:
        raise UserError("input images must lie in [0, 1]; normalization belongs inside the model")
    try:
        with torch.inference_mode():
            logits = model(x)
    except RuntimeError as exc:
        raise UserError(
            f"the model cannot take {data.info.name} images of shape {tuple(x.shape[1:])}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    expected = (len(x), data.info.num_classes)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise UserError(
            f"the model returned {shape} for a batch of {len(x)}, expected {expected}: "
            f"{data.info.name} has {data.info.num_classes} classes"
        )
    if not torch.isfinite(logits).all():
        raise UserError("the model returned NaN or infinite logits on clean test images")


def check_name(name: str) -> str:
    """A plain record name: the record is ``<name>.json`` in the records folder."""
    if not NAME_PATTERN.match(name):
        raise UserError(
            f"record name '{name}' must start with a letter or digit and hold only letters, "
            "digits and . _ + - (no folder: the record folder is --out); pass another with --name"
        )
    if name.lower().endswith(".json"):
        raise UserError(
            f"record name '{name}' ends in .json: the record is written as <name>.json; pass "
            f"--name {name[: -len('.json')]}"
        )
    return name


def check_unpublished(out: Path) -> None:
    """Refuse to write a record into a leaderboard's folder: publishing goes through
    ``freqbench submit`` (or ``grid``), which validates the zoo entry and regenerates the pages."""
    if (out / LEADERBOARD_FILE).exists():
        raise UserError(
            f"{out} is a published leaderboard (it holds {LEADERBOARD_FILE}): evaluate writes "
            "experiments elsewhere (--out, default runs/records/<dataset>); publish a model with "
            "`freqbench submit model_zoo/<dataset>/<name>.toml`"
        )


def task_name(plan: RecordPlan, task: BlockTask) -> str:
    """``record: metric`` and, for a shard, ``i/n``: how progress lines name a task."""
    shard = f" {task.shard[0] + 1}/{task.shard[1]}" if task.shard else ""
    return f"{plan.name}: {task.metric}{shard}"


def submit_plan(scheduler: Scheduler, plan: RecordPlan, on_block: OnBlock | None = None) -> None:
    """Every task of ``plan`` on ``scheduler``; each result is merged into its record by the
    plan, then told to ``on_block``."""
    plan.prepare()
    for task in plan.tasks:

        def accept(result: BlockResult, task: BlockTask = task) -> None:
            finished = plan.accept(task, result)
            failed = plan.failed.get(task.metric)
            scheduler.bar.note(
                f"{task.metric} failed" if failed else f"{finished} done" if finished
                else f"{task.metric} part done"
            )  # fmt: skip
            if on_block is not None:
                on_block(plan, task, result)

        scheduler.submit(run_block, task, task_name(plan, task), accept)


def run_plans(plans: list[RecordPlan], executor: Executor, progress: bool = True) -> None:
    """Every task of ``plans`` on ``executor``, each block merged as soon as it is complete;
    one progress bar for the whole job."""
    names = ", ".join(plan.name for plan in plans)
    # Tasks take unequal time (AutoAttack's against clean accuracy's): no time-left estimate.
    with Progress(0, f"evaluating {names}", "tasks", enabled=progress, estimate=False) as bar:
        scheduler = Scheduler(executor, bar)
        for plan in plans:
            submit_plan(scheduler, plan)
        scheduler.run()


def plan_evaluation(
    ref: str | ModelRef,
    *,
    dataset: str | None = None,
    metrics: str | Sequence[str] | None = None,
    protocol: Protocol | None = None,
    out_dir: str | Path | None = None,
    device: str = "auto",
    force: bool = False,
    replace: bool = False,
    data_dir: str | Path | None = None,
    corruptions_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    name: str | None = None,
    progress: bool = True,
    executor: str = "local",
    figures: dict[str, Any] | None = None,
    threads: int | None = None,
    publish: bool = False,
) -> RecordPlan:
    """The blocks still missing from the record of the model ``ref`` names, as tasks for an
    ``executor`` of that name.

    The driver plans from the model's description (its checkpoint's sidecar, where it says
    enough) and loads the weights only when a block runs: on the local executor here, to
    check the model once, and the tasks find it loaded; on Ray the workers load it themselves
    (``device`` is then resolved on each worker). A run that reuses every block loads neither
    weights nor test images. ``replace`` lets the run start afresh a record of
    another model, or one too damaged to use, under the same name. ``figures`` are options
    of the artifact writers (``heatmap_scale``: ``absolute`` or ``relative``). ``threads``:
    torch threads per task (None: the process's own locally, one per task on Ray); equal
    thread counts give equal numbers on both executors. ``publish`` allows ``out_dir`` to be a
    leaderboard's folder (``submit`` and ``grid`` set it; see :func:`check_unpublished`).
    """
    from freqbench.data import get_dataset_info
    from freqbench.loading import ModelRef, describe_model_ref, input_mean

    ref = ref if isinstance(ref, ModelRef) else ModelRef(ref)
    if name is not None:
        check_name(name)
    if out_dir is not None and not publish:
        check_unpublished(Path(out_dir))
    local = executor == "local"
    here = resolve_device(device) if local else "cpu"
    # What the plan needs is the model's description; a reference that only loading describes
    # (timm, RobustBench, --weights) is loaded where the local tasks run.
    described = describe_model_ref(ref, dataset, here)
    dataset = dataset or described.dataset
    if dataset is None:
        raise UserError(f"cannot tell which dataset {ref} belongs to: pass --dataset")
    if described.model is not None and local:
        WORKER.keep_model(ref, dataset, here, described)  # the local tasks use it as it is
    name = check_name(described.name if name is None else name)
    info = get_dataset_info(dataset)
    n_test = info.test_size or len(WORKER.test_images(dataset, _text(data_dir), None))
    mean = input_mean(described.model)
    if mean is None and described.model is None and local and info.default_preprocessing:
        # An image-file dataset's preprocessing may pad with the model's own input mean.
        mean = input_mean(WORKER.loaded_model(ref, dataset, here, described.sha256).model)
    resolved = (protocol or Protocol.standard()).resolve(
        dataset, n_test, {
            "corruptions_dir": corruptions_dir, "preprocessing": described.preprocessing,
            "input_mean": mean,
        },
    )  # fmt: skip
    plan = RecordPlan(
        ref, described, name, dataset, parse_metrics(metrics), resolved,
        out=Path(out_dir) if out_dir is not None else None, force=force, replace=replace,
        executor=executor, device=here if local else device, data_dir=_text(data_dir),
        corruptions_dir=_text(corruptions_dir), cache_dir=_text(cache_dir), progress=progress,
        figures=figures,
        threads=threads,
    )  # fmt: skip
    if (
        plan.tasks
        and any(s.images for s in plan.running)
        and (local or described.model is not None)
    ):
        loaded = WORKER.loaded_model(ref, dataset, here, described.sha256) if local else described
        data = WORKER.test_images(
            dataset, _text(data_dir), resolved.n_examples, resolved.preprocessing
        )
        check_model(loaded.model, data, here)
    fields = all_fields()
    for field_name in sorted({f for spec in plan.running for f in spec.reads}):
        if fields[field_name].model_reference and resolved[field_name] is not None:
            describe_model_ref(resolved[field_name], dataset)  # a wrong one fails here, not later
    return plan


def evaluate(
    ref: str | ModelRef,
    *,
    executor: str | Executor = "local",
    progress: bool = True,
    **options: Any,
) -> Outcome:
    """Evaluate the model ``ref`` names (checkpoint, zoo entry, ``timm:...``, ``robustbench:...``).

    Runs the ``metrics`` (all by default) whose blocks are missing, stale or not justified by
    ``<out_dir>/<name>.json`` (every one named with ``force``), merging each into it; without
    ``out_dir`` nothing is written. A metric that fails fails its block only: the others run,
    and :attr:`Outcome.failed` says what went wrong. ``protocol`` defaults to the dataset's standard one; its
    ``shards`` splits the shardable metrics into that many tasks. ``executor`` is ``local``
    (this process), ``ray`` or an :class:`~freqbench.executors.Executor`. The other options
    are :func:`plan_evaluation`'s.
    """
    job = make_executor(executor) if isinstance(executor, str) else executor
    try:
        plan = plan_evaluation(ref, executor=job.name, progress=progress, **options)
        try:
            if plan.tasks:
                run_plans([plan], job, progress)
            plan.refresh()
        finally:
            plan.close()
            WORKER.clear()  # the job's models, images and predictions: this job's only
        return plan.outcome
    finally:
        if isinstance(executor, str):
            job.close()


def _text(path: str | Path | None) -> str | None:
    """A path as text a worker elsewhere can use (absolute), or None."""
    return str(Path(path).resolve()) if path else None
