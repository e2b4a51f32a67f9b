"""Architectures by name, timm-style: ``register_architecture``, ``create_model``, ``list_architectures``.

Besides the registered names, ``timm:<name>`` builds any timm model and
``robustbench:<dataset>/<threat_model>/<Name>`` loads a RobustBench zoo model with
robustbench's own code. Every model takes images in [0, 1]: normalization is inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from freqbench.architectures.external import (
    ROBUSTBENCH_PREFIX,
    TIMM_PREFIX,
    robustbench_model,
    timm_model,
)
from freqbench.architectures.normalize import Normalize, NormalizedModel
from freqbench.architectures.resnet import preact_resnet18, resnet18
from freqbench.architectures.smallcnn import SmallCNN
from freqbench.architectures.wide_resnet import WideResNet
from freqbench.registry import Registry

Builder = Callable[[int, int, int], nn.Module]  # (num_classes, in_channels, image_size)


@dataclass(frozen=True)
class ArchitectureSpec:
    build: Builder
    description: str


_ARCHITECTURES: Registry[ArchitectureSpec] = Registry("architecture")


def register_architecture(name: str, description: str = ""):
    """Decorator for a builder ``(num_classes, in_channels, image_size) -> nn.Module``."""

    def wrap(build: Builder) -> Builder:
        _ARCHITECTURES.register(name, ArchitectureSpec(build, description or build.__doc__ or ""))
        return build

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
    if name.startswith(ROBUSTBENCH_PREFIX):
        return robustbench_model(name, model_dir)
    if name.startswith(TIMM_PREFIX):
        net = timm_model(name, num_classes, in_channels)
    else:
        net = _ARCHITECTURES.get(name).build(num_classes, in_channels, image_size)
    mean = tuple(mean) if mean is not None else (0.0,) * in_channels
    std = tuple(std) if std is not None else (1.0,) * in_channels
    return NormalizedModel(net, mean, std)


@register_architecture("smallcnn", "4-conv VGG-style CNN for 28x28 images (~435k parameters)")
def _smallcnn(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return SmallCNN(num_classes, in_channels, image_size)


@register_architecture("resnet18", "ResNet-18, CIFAR variant (3x3 stem, no max-pool), 11.2M")
def _resnet18(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return resnet18(num_classes, in_channels)


@register_architecture("preact-resnet18", "PreAct ResNet-18 (He et al. 2016b), 11.2M")
def _preact_resnet18(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return preact_resnet18(num_classes, in_channels)


def _register_wrn(depth: int, width: int, params: str) -> None:
    @register_architecture(f"wrn-{depth}-{width}", f"Wide ResNet-{depth}-{width}, {params}")
    def build(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        return WideResNet(depth, width, num_classes, in_channels)


for _depth, _width, _params in ((16, 4, "2.7M"), (28, 10, "36.5M"), (34, 10, "46.2M")):
    _register_wrn(_depth, _width, _params)

__all__ = [
    "Normalize",
    "NormalizedModel",
    "create_model",
    "describe_architecture",
    "list_architectures",
    "register_architecture",
]
