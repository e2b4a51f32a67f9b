"""Architectures by name, timm-style: ``register_architecture``, ``create_model``, ``list_architectures``.

Besides the registered names, ``timm:<name>`` builds any timm model and
``robustbench:<dataset>/<threat_model>/<Name>`` loads a RobustBench zoo model with
robustbench's own code. Every model takes images in [0, 1]: normalization is inside it.
A builder may be named as ``"module:function"``: it is imported when a model is built, so
listing architectures imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from freqbench.architectures.external import ROBUSTBENCH_PREFIX, TIMM_PREFIX
from freqbench.registry import Registry, load_object

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[[int, int, int], "nn.Module"]  # (num_classes, in_channels, image_size)


@dataclass(frozen=True)
class ArchitectureSpec:
    build: Builder | str  # a builder, or the "module:function" that names one
    description: str

    def builder(self) -> Builder:
        return load_object(self.build) if isinstance(self.build, str) else self.build


_ARCHITECTURES: Registry[ArchitectureSpec] = Registry("architecture")


def register_architecture(name: str, description: str = "", build: Builder | str | None = None):
    """Register a builder ``(num_classes, in_channels, image_size) -> nn.Module``.

    With ``build`` (a callable or ``"module:function"``) it registers at once; without, it is
    a decorator for the builder function.
    """
    if build is not None:
        _ARCHITECTURES.register(name, ArchitectureSpec(build, description))
        return build

    def wrap(function: Builder) -> Builder:
        _ARCHITECTURES.register(
            name, ArchitectureSpec(function, description or function.__doc__ or "")
        )
        return function

    return wrap


def list_architectures(pattern: str | None = None) -> list[str]:
    return _ARCHITECTURES.names(pattern)


def describe_architecture(name: str) -> str:
    return _ARCHITECTURES.get(name).description


def create_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    image_size: int = 32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    model_dir: str | None = None,
) -> nn.Module:
    """Build a model that takes images in [0, 1]; ``mean``/``std`` default to no rescaling."""
    from freqbench.architectures.external import robustbench_model, timm_model
    from freqbench.architectures.normalize import NormalizedModel

    if name.startswith(ROBUSTBENCH_PREFIX):
        return robustbench_model(name, model_dir)
    if name.startswith(TIMM_PREFIX):
        net = timm_model(name, num_classes, in_channels)
    else:
        net = _ARCHITECTURES.get(name).builder()(num_classes, in_channels, image_size)
    mean = tuple(mean) if mean is not None else (0.0,) * in_channels
    std = tuple(std) if std is not None else (1.0,) * in_channels
    return NormalizedModel(net, mean, std)


_BUILTIN = (
    ("smallcnn", "4-conv VGG-style CNN for 28x28 images (~435k parameters)", "smallcnn:build"),
    (
        "resnet18",
        "ResNet-18, CIFAR variant (3x3 stem, no max-pool), 11.2M",
        "resnet:build_resnet18",
    ),
    (
        "preact-resnet18",
        "PreAct ResNet-18 (He et al. 2016b), 11.2M",
        "resnet:build_preact_resnet18",
    ),
    ("wrn-16-4", "Wide ResNet-16-4, 2.7M", "wide_resnet:build_wrn_16_4"),
    ("wrn-28-10", "Wide ResNet-28-10, 36.5M", "wide_resnet:build_wrn_28_10"),
    ("wrn-34-10", "Wide ResNet-34-10, 46.2M", "wide_resnet:build_wrn_34_10"),
)
for _name, _description, _target in _BUILTIN:
    register_architecture(_name, _description, f"{__name__}.{_target}")

__all__ = [
    "create_model",
    "describe_architecture",
    "list_architectures",
    "register_architecture",
]
