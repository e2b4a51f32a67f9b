"""Run one metric on one model: the unit of work of an evaluation.

The options of a metric's ``compute`` are filled generically: the protocol fields it reads, by
name, and the run's options it asks for (``device``, ``batch_size``, ``progress``,
``state_path``, ``corruptions_dir``, ``load_model``), whichever of them its signature takes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.metrics import MetricResult, MetricSpec
from freqbench.registry import load_object

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages


@dataclass
class RunContext:
    """What a metric may need besides the model, its images and the protocol."""

    device: str = "cpu"
    progress: bool = False
    corruptions_dir: Path | None = None
    load_model: Callable[[str], nn.Module] | None = None
    state_dir: Path | None = None  # where resumable state files go (None: no resuming)

    def options(self, spec: MetricSpec, key: str, name: str) -> dict[str, Any]:
        state_path = (
            self.state_dir / f".{name}.{spec.name}.{key[:16]}.state.json"
            if self.state_dir is not None
            else None
        )
        return {
            "device": self.device,
            "progress": self.progress,
            "corruptions_dir": self.corruptions_dir,
            "load_model": self.load_model,
            "state_path": state_path,
        }


def compute_function(spec: MetricSpec) -> Callable[..., MetricResult | dict[str, Any]]:
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
    values: Mapping[str, Any],
    options: Mapping[str, Any],
) -> MetricResult:
    """``spec``'s result on ``model``: it gets the first ``values[spec.images]`` images of
    ``data`` (None when it reads no image), the fields it reads and the options it takes."""
    subset = data.first(values[spec.images]) if spec.images is not None and data else None
    function = compute_function(spec)
    arguments = {**options, "batch_size": values["batch_size"]}
    arguments.update({name: values[name] for name in spec.reads})
    result = function(model, subset, **_accepted(function, arguments))
    return result if isinstance(result, MetricResult) else MetricResult(dict(result))
