"""Architectures by name, timm-style: ``register_architecture``, ``create_model``, ``list_architectures``.

Besides the registered names, ``timm:<name>`` builds any timm model and
``robustbench:<dataset>/<threat_model>/<Name>`` loads a RobustBench zoo model with
robustbench's own code. Every model takes images in [0, 1]: normalization is inside it.
A builder may be named as ``"module:function"``: it is imported when a model is built, so
listing architectures imports no torch. Installed packages add architectures through the
entry-point group ``freqbench.architectures``: the entry point's name is the architecture's,
its value a builder (or an :class:`ArchitectureSpec`). :data:`ARCHITECTURES` (a
:class:`freqbench.registry.Registry`) leaves one that clashes or fails to import out with one
warning naming its package; a builder that raises, exits or returns no ``nn.Module`` is one
clear error naming its package (exit code 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freqbench.architectures.external import ROBUSTBENCH_PREFIX, TIMM_PREFIX
from freqbench.errors import PluginError
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


def _adopt(entry_name: str, loaded: Any) -> list[tuple[str, ArchitectureSpec]]:
    """An entry point's builder (described by its docstring's first line) or spec."""
    if isinstance(loaded, ArchitectureSpec):
        return [(entry_name, loaded)]
    if callable(loaded):
        doc = (loaded.__doc__ or "").strip().splitlines()
        return [(entry_name, ArchitectureSpec(loaded, doc[0] if doc else ""))]
    raise TypeError(f"it names a {type(loaded).__name__}, not a builder or an ArchitectureSpec")


ENTRY_POINT_GROUP = "freqbench.architectures"
#: An architecture's name takes no ``:`` (``timm:`` and ``robustbench:`` are freqbench's own).
ARCHITECTURES: Registry[ArchitectureSpec] = Registry(
    "architecture",
    ENTRY_POINT_GROUP,
    adopt=_adopt,
    name_form=r"^[a-z0-9][a-z0-9._-]*$",
    name_rule="lowercase letters, digits and . _ -",
)


def register_architecture(
    name: str, description: str = "", build: Builder | str | None = None, *, builtin: bool = False
):
    """Register a builder ``(num_classes, in_channels, image_size) -> nn.Module``.

    With ``build`` (a callable or ``"module:function"``) it registers at once; without, it is
    a decorator for the builder function. ``builtin``: it ships with freqbench.
    """
    if build is not None:
        ARCHITECTURES.register(name, ArchitectureSpec(build, description), builtin=builtin)
        return build

    def wrap(function: Builder) -> Builder:
        spec = ArchitectureSpec(function, description or function.__doc__ or "")
        ARCHITECTURES.register(name, spec, builtin=builtin)
        return function

    return wrap


def list_architectures(pattern: str | None = None) -> list[str]:
    return ARCHITECTURES.names(pattern)


def describe_architecture(name: str) -> str:
    return ARCHITECTURES.get(name).description


def architecture_source(name: str) -> str | None:
    """The package (name and version) a plugin architecture came from; None for a built-in."""
    return ARCHITECTURES.source(name)


def _build(name: str, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """The registered builder's model; a plugin that raises, exits or returns anything but an
    ``nn.Module`` is one clear error naming its package (:func:`plugin_code`)."""
    from torch import nn

    spec, source = ARCHITECTURES.get(name), ARCHITECTURES.source(name)
    what = f"architecture '{name}'"
    with ARCHITECTURES.guard(name):
        net = spec.builder()(num_classes, in_channels, image_size)
    if not isinstance(net, nn.Module):
        package = f" (plugin package {source})" if source else ""
        raise PluginError(
            f"{what}{package} returned {'None' if net is None else 'a ' + type(net).__name__}, "
            "not a torch.nn.Module"
        )
    return net


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
        net = _build(name, num_classes, in_channels, image_size)
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
    register_architecture(_name, _description, f"{__name__}.{_target}", builtin=True)

__all__ = [
    "architecture_source",
    "create_model",
    "describe_architecture",
    "list_architectures",
    "register_architecture",
]
