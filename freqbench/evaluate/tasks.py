"""One unit of evaluation work: one metric, or one shard of it, on one model.

A :class:`BlockTask` is plain data (it travels to Ray workers), and :func:`run_block` is what
a worker runs: it loads the model and the test images itself (kept for the next task of the
same process, :mod:`freqbench.evaluate.worker`), computes the shared inputs the metric needs
(``clean_predictions``) once per model and image set, fills the metric's options generically
(the protocol fields it reads, by name, and the run's options its ``compute`` takes:
``device``, ``batch_size``, ``progress``, ``state_path``, ``corruptions_dir``, ``cache_dir``,
``load_model``, ``shard``) and returns numbers and arrays. It writes no record: the driver
does.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.errors import UserError
from freqbench.evaluate.worker import WORKER
from freqbench.metrics import MetricSpec, get_metric
from freqbench.metrics.registry import plugin_source
from freqbench.metrics.results import ResultError, checked_result
from freqbench.metrics.spec import Shard
from freqbench.registry import load_object

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages
    from freqbench.loading import ModelRef
    from freqbench.protocol import ResolvedProtocol


@dataclass(frozen=True)
class BlockTask:
    """Everything a worker needs to compute one metric block (or one shard of it)."""

    ref: ModelRef  # what to load: a reference, or an architecture and its weights
    weights_sha256: str | None  # the weights the driver planned for (None: no file to check)
    dataset: str
    metric: str
    protocol: ResolvedProtocol
    shard: Shard | None = None
    device: str = "auto"  # resolved where the task runs
    cwd: str = "."  # the driver's folder: zoo names and relative paths resolve from it
    data_dir: str | None = None
    corruptions_dir: str | None = None
    cache_dir: str | None = None  # the array cache (generated corruption sets)
    state_path: str | None = None  # resumable state (local runs only)
    progress: bool = False
    threads: int | None = None  # torch threads for the computation (None: as the process has)


@dataclass
class BlockResult:
    values: dict[str, Any]
    arrays: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the computation
    cpu_seconds: float = 0.0  # CPU time of the worker's process meanwhile
    device: str = "cpu"
    versions: dict[str, str | None] = field(default_factory=dict)
    threads: int = 1  # torch threads during the computation: float sums depend on it
    started: float = 0.0  # when the computation started (seconds since the epoch)
    error: str | None = None  # why the metric failed; then there are no values
    user_error: bool = False  # the failure is the input's (a UserError), not a bug


@contextlib.contextmanager
def _working_dir(path: str) -> Iterator[None]:
    before = os.getcwd()
    if Path(path).resolve() == Path(before).resolve():
        yield
        return
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def compute_function(spec: MetricSpec) -> Callable[..., Any]:
    return load_object(spec.compute) if isinstance(spec.compute, str) else spec.compute


def _accepted(function: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in parameters}


def run_metric(
    spec: MetricSpec,
    model: nn.Module,
    data: LabeledImages | None,
    protocol: Mapping[str, Any],
    options: Mapping[str, Any],
) -> Any:
    """What ``spec``'s compute returns on ``model`` (see :func:`checked_result`): it gets the
    first ``protocol[spec.images]`` images of ``data`` (None when it reads no image), the fields
    it reads and the options it takes."""
    subset = data.first(protocol[spec.images]) if spec.images is not None and data else None
    function = compute_function(spec)
    arguments = {**options, "batch_size": protocol["batch_size"]}
    arguments.update({name: protocol[name] for name in spec.reads})
    if options.get("shard") is not None and "shard" not in inspect.signature(function).parameters:
        raise ValueError(f"metric {spec.name} declares merge but its compute takes no shard")
    return function(model, subset, **_accepted(function, arguments))


def takes_option(spec: MetricSpec, option: str) -> bool:
    """Whether ``spec``'s compute accepts the run option ``option`` (e.g. ``state_path``)."""
    parameters = inspect.signature(compute_function(spec)).parameters.values()
    return any(p.name == option or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` torch threads (None: as set), yielding the number in use."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _failure(spec: MetricSpec, exc: BaseException) -> str:
    """One line: which metric (and plugin package) failed, how, and where."""
    source = plugin_source(spec.name)
    who = f"metric {spec.name}" + (f" (plugin {source})" if source else "")
    if isinstance(exc, UserError):
        return f"{who}: {exc}"
    if isinstance(exc, ResultError):
        return f"{who} returned a result that cannot enter a record: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{who} failed: {type(exc).__name__}: {exc}{where}"


def run_block(task: BlockTask) -> BlockResult:
    """Compute ``task``'s metric (or shard) where this process runs: the worker side.

    A metric that raises (``sys.exit`` included) or returns what a record cannot hold fails
    this block only: the result carries the error, and the driver runs the other blocks.
    """
    from freqbench.evaluate.device import resolve_device
    from freqbench.loading import load_model_ref
    from freqbench.provenance import versions

    with _working_dir(task.cwd):
        device = resolve_device(task.device)
        spec = get_metric(task.metric)
        loaded = WORKER.loaded_model(task.ref, task.dataset, device, task.weights_sha256)
        n, preprocessing = task.protocol.n_examples, task.protocol.preprocessing
        data = (
            WORKER.test_images(task.dataset, task.data_dir, n, preprocessing)
            if spec.images
            else None
        )
        options = {
            "device": device,
            "progress": task.progress,
            "corruptions_dir": Path(task.corruptions_dir) if task.corruptions_dir else None,
            "cache_dir": Path(task.cache_dir) if task.cache_dir else None,
            "state_path": Path(task.state_path) if task.state_path else None,
            "load_model": lambda ref: load_model_ref(ref, task.dataset, device).model,
            "shard": task.shard,
        }
        start, cpu, started = time.perf_counter(), time.process_time(), time.time()
        with torch_threads(task.threads) as threads:
            try:
                # Shared inputs are made by the first block that needs them, on its threads
                # and in its time: the record's seconds add up to the work done.
                if "clean_predictions" in spec.needs:
                    options["clean_predictions"] = WORKER.clean_predictions(
                        loaded, task.dataset, task.data_dir, n, task.protocol.batch_size, device,
                        preprocessing,
                    )  # fmt: skip
                result = checked_result(
                    spec,
                    run_metric(spec, loaded.model, data, task.protocol, options),
                    schema=task.shard is None,
                )
            except (Exception, SystemExit) as exc:  # one block fails, not the run
                return BlockResult(
                    {}, device=device, threads=threads, error=_failure(spec, exc),
                    user_error=isinstance(exc, UserError),
                )  # fmt: skip
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return BlockResult(
        result.values, result.arrays, seconds, cpu, device, versions(), threads, started
    )
