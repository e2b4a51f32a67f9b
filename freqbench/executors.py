"""Where work runs: in this process (the default) or on Ray, across GPUs and machines.

An executor takes tasks (a module-level function and one picklable argument) as they become
ready and hands back each result when it finishes, in whatever order they finish. The
local executor runs them one after another in this process and needs nothing beyond
freqbench. The Ray executor (``pip install "freqbench[ray]"``) connects to a running
cluster (``address``, or ``RAY_ADDRESS``) or starts a local Ray instance that it shuts down
again; each task asks for one GPU where the cluster has GPUs (``gpus_per_task``, e.g. 0.25
to pack four small models onto one), one CPU otherwise, and Ray re-runs a task whose worker
or node died (``max_retries``). Only the caller (the driver) writes files from the results.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from itertools import count
from typing import Any

from freqbench.bounds import MAX_CPUS, NumberRange
from freqbench.errors import UserError

EXECUTORS = ("local", "ray")
#: torch threads (and the CPUs a Ray task asks for) per task: no machine has more CPUs.
THREADS = NumberRange(int, 1, MAX_CPUS)
#: The share of a GPU a Ray task asks for: a task runs on one GPU, or on a part of one.
GPUS_PER_TASK = NumberRange(float, 0, 1, exclusive_minimum=True)
#: How often the driver shows what Ray workers report while it waits for a result.
STATUS_SECONDS = 2.0

Task = Callable[[Any], Any]


class Executor(ABC):
    """``submit`` tasks, then take ``next_done`` results until ``pending`` is 0.

    ``on_status(handle, line)``, when set, hears from tasks that run elsewhere while they run:
    ``"started"``, then their progress lines.
    """

    name = "executor"
    on_status: Callable[[int, str], None] | None = None

    @abstractmethod
    def submit(self, function: Task, argument: Any, *, gpu: bool = False) -> int:
        """Queue ``function(argument)``; ``gpu``: it benefits from a GPU. Returns its handle."""

    @abstractmethod
    def next_done(self) -> tuple[int, Any]:
        """The handle and result of a finished task (the task's error is raised here)."""

    @property
    @abstractmethod
    def pending(self) -> int:
        """Tasks submitted and not yet taken with ``next_done``."""

    @abstractmethod
    def close(self) -> None:
        """Give back what the executor started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """In this process, one task at a time, in the order they were submitted."""

    name = "local"

    def __init__(self) -> None:
        self._queue: deque[tuple[int, Task, Any]] = deque()
        self._handles = count()

    def submit(self, function: Task, argument: Any, *, gpu: bool = False) -> int:
        handle = next(self._handles)
        self._queue.append((handle, function, argument))
        return handle

    def next_done(self) -> tuple[int, Any]:
        handle, function, argument = self._queue.popleft()
        return handle, function(argument)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        """Nothing to give back: the tasks ran in this process."""
        self._queue.clear()


_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")


def _host_port(address: str, given: str) -> tuple[str, int]:
    """``host:port`` split and checked; a UserError shows how a Ray address is written."""
    match = _HOST_PORT.fullmatch(address)
    if not match or not 0 < int(match[2]) < 65536:
        raise UserError(
            f"{given} is not a Ray cluster address: write host:port (e.g. 127.0.0.1:6379, the "
            "head's --port), ray://host:10001 for Ray's client, or auto"
        )
    return match[1].strip("[]"), int(match[2])


def check_address(address: str, given: str) -> None:
    """Fail at once on an address Ray cannot use (``given`` names where it came from), and
    where nothing listens: Ray itself waits many minutes on such an address."""
    if address in ("auto", "local"):
        return
    if address.startswith("ray://"):
        _host_port(address.removeprefix("ray://"), given)
        if importlib.util.find_spec("grpc") is None:
            raise UserError(
                f'{given} uses Ray\'s client (ray://), which needs pip install "ray[client]"; '
                "or give the head's host:port and run this driver on a cluster machine"
            )
        return  # Ray's client connects itself
    host, port = _host_port(address, given)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise UserError(
            f"nothing answers at the Ray cluster address {address} ({exc.strerror or exc}): "
            f"start the head there (ray start --head --port={port}), or fix --ray-address "
            "or RAY_ADDRESS"
        ) from None


def _run_on_worker(function: Task, argument: Any, channel: Any, handle: int) -> Any:
    """What a Ray worker runs: the task, telling the driver through ``channel`` that it
    started and how it progresses."""
    from freqbench.progress import reporting_to

    def send(line: str) -> None:
        channel.put_nowait((handle, line))

    send("started")
    with reporting_to(send):
        return function(argument)


class RayExecutor(Executor):
    """On a Ray cluster, or on a local Ray instance started (and shut down) for the job."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        gpus_per_task: float | None = None,
        max_retries: int = 3,
        threads: int | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise UserError(
                '--executor ray needs Ray: pip install "freqbench[ray]" (or use the default '
                "--executor local)"
            ) from None
        if gpus_per_task is not None:
            GPUS_PER_TASK.check(gpus_per_task, "--gpus-per-task")
        self._ray = ray
        self._cpus = threads or 1
        self._started = not ray.is_initialized()
        if self._started:
            given = f"--ray-address {address}" if address else ""
            if not address and os.environ.get("RAY_ADDRESS"):
                address = os.environ["RAY_ADDRESS"]
                given = f"RAY_ADDRESS={address}"
            if address:
                check_address(address, given)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, ValueError) as exc:
                raise UserError(
                    f"cannot reach the Ray cluster at {address}: {exc}. Check that it runs "
                    "(ray status) and, if it was started with token authentication, set "
                    "RAY_AUTH_MODE=token here with the cluster's token (~/.ray/auth_token or "
                    "RAY_AUTH_TOKEN)"
                ) from None
        self._gpus = ray.cluster_resources().get("GPU", 0) > 0
        self._gpus_per_task = gpus_per_task or 1.0
        self._remote = ray.remote(max_retries=max_retries)(_run_on_worker)
        from ray.util.queue import Queue

        self._channel = Queue(actor_options={"num_cpus": 0})  # the workers' status lines
        self._running: dict[Any, int] = {}
        self._handles = count()

    def submit(self, function: Task, argument: Any, *, gpu: bool = False) -> int:
        gpus = self._gpus_per_task if gpu and self._gpus else 0
        handle = next(self._handles)
        ref = self._remote.options(num_gpus=gpus, num_cpus=0 if gpus else self._cpus).remote(
            function, argument, self._channel, handle
        )
        self._running[ref] = handle
        return handle

    def _relay(self) -> None:
        """Hand the workers' status lines that arrived to ``on_status``."""
        waiting = self._channel.qsize()
        for handle, line in self._channel.get_nowait_batch(waiting) if waiting else ():
            if self.on_status is not None:
                self.on_status(handle, line)

    def next_done(self) -> tuple[int, Any]:
        while True:  # wake every few seconds to show what the workers say meanwhile
            ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=STATUS_SECONDS)
            self._relay()
            if ready:
                break
        (ref,) = ready
        handle = self._running.pop(ref)
        try:
            return handle, self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, UserError):
                raise exc.cause from None
            raise

    @property
    def pending(self) -> int:
        return len(self._running)

    def close(self) -> None:
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._running.clear()
        self._channel.shutdown()
        if self._started:
            self._ray.shutdown()


def make_executor(
    name: str = "local",
    *,
    address: str | None = None,
    gpus_per_task: float | None = None,
    threads: int | None = None,
) -> Executor:
    """The executor called ``name``: ``local`` (default) or ``ray``. ``threads``: the CPUs a
    Ray task asks for (the tasks themselves set torch's threads)."""
    if threads is not None:
        THREADS.check(threads, "--threads")
    if name == "local":
        if address or gpus_per_task:
            raise UserError("--ray-address and --gpus-per-task apply to --executor ray only")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, gpus_per_task, threads=threads)
    from freqbench.errors import UnknownNameError

    raise UnknownNameError("executor", name, EXECUTORS)
