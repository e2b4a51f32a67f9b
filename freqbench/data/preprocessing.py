"""A model's test-time preprocessing of image files (resize, crop, interpolation), by name.

ImageNet models differ in how an image file becomes their input, and the difference moves
their numbers (RobustBench issue 59: a second Resize(256)+Crop(224) on ImageNet-C changed its
ranking). So the preprocessing is part of the protocol: a record names it and every block key
that reads images includes it. Two kinds of names:

- RobustBench's (``robustbench.data.PREPROCESSINGS``): ``Res256Crop224``,
  ``BicubicRes256Crop224``, ``Crop288``, ``Res224``;
- timm's resolved data config, written ``timm:size=224,crop_pct=0.875,crop_mode=center,
  interpolation=bicubic`` and built by timm's own ``create_transform``.

Every transform ends with pixels in [0, 1]: mean and std live inside the model, as AutoAttack
needs. Files are decoded by PIL and converted to RGB, as both libraries' loaders do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freqbench.errors import UnknownNameError, UserError

if TYPE_CHECKING:
    import torch
    from PIL import Image

TIMM_PREFIX = "timm:"
#: RobustBench's names: (resize, interpolation, centre crop); an int resize scales the short
#: side, a pair resizes to exactly that size.
ROBUSTBENCH = {
    "Res256Crop224": (256, "bilinear", 224),
    "BicubicRes256Crop224": (256, "bicubic", 224),
    "Crop288": (None, "bilinear", 288),
    "Res224": ((224, 224), "bilinear", None),
}
#: What freqbench uses for a model that names none (RobustBench's default for ImageNet).
DEFAULT = "Res256Crop224"
CROP_MODES = ("center", "squash", "border")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")


@dataclass(frozen=True)
class TimmConfig:
    """The fields of timm's resolved data config that change the pixels."""

    size: int
    crop_pct: float
    crop_mode: str
    interpolation: str

    @property
    def name(self) -> str:
        return (
            f"{TIMM_PREFIX}size={self.size},crop_pct={self.crop_pct:g},"
            f"crop_mode={self.crop_mode},interpolation={self.interpolation}"
        )


def list_preprocessings() -> list[str]:
    return [*ROBUSTBENCH, f"{TIMM_PREFIX}size=S,crop_pct=P,crop_mode=M,interpolation=I"]


def timm_config(data_config: dict[str, Any]) -> TimmConfig:
    """The :class:`TimmConfig` of ``timm.data.resolve_data_config(...)``'s result."""
    size = data_config["input_size"]
    if size[1] != size[2]:
        raise UserError(f"a non-square timm input size {tuple(size)} is not supported")
    interpolation = data_config.get("interpolation", "bilinear")
    interpolation = "bilinear" if interpolation == "random" else interpolation
    return TimmConfig(
        int(size[1]),
        float(data_config.get("crop_pct") or 0.875),
        data_config.get("crop_mode") or "center",
        interpolation,
    )


def parse_timm(name: str) -> TimmConfig:
    usage = (
        f"preprocessing '{name}' is not a timm data config: write "
        f"{TIMM_PREFIX}size=224,crop_pct=0.875,crop_mode=center,interpolation=bicubic "
        f"(crop_mode one of {', '.join(CROP_MODES)}; interpolation one of "
        f"{', '.join(INTERPOLATIONS)})"
    )
    try:
        fields = dict(part.split("=", 1) for part in name.removeprefix(TIMM_PREFIX).split(","))
        config = TimmConfig(
            int(fields.pop("size")), float(fields.pop("crop_pct")), fields.pop("crop_mode"),
            fields.pop("interpolation"),
        )  # fmt: skip
    except (KeyError, ValueError):
        raise UserError(usage) from None
    if fields or config.crop_mode not in CROP_MODES or config.interpolation not in INTERPOLATIONS:
        raise UserError(usage)
    if not (0 < config.crop_pct <= 1 and 8 <= config.size <= 1024):
        raise UserError(f"{usage}; crop_pct in (0, 1] and size from 8 to 1024")
    return config


def check_preprocessing(name: str) -> str:
    """``name`` when it is one freqbench can build; its canonical spelling for timm's."""
    if name.startswith(TIMM_PREFIX):
        return parse_timm(name).name
    if name not in ROBUSTBENCH:
        raise UnknownNameError("preprocessing", name, list_preprocessings())
    return name


def output_size(name: str) -> int:
    """The side of the square images the preprocessing makes."""
    if name.startswith(TIMM_PREFIX):
        return parse_timm(name).size
    resize, _, crop = ROBUSTBENCH[check_preprocessing(name)]
    return crop or resize[0]


def build_transform(name: str) -> Callable[[Image.Image], torch.Tensor]:
    """The transform of ``name``: an RGB PIL image to a float (3, S, S) tensor in [0, 1]."""
    from torchvision import transforms

    if name.startswith(TIMM_PREFIX):
        from timm.data import create_transform

        config = parse_timm(name)
        return create_transform(
            input_size=(3, config.size, config.size),
            is_training=False,
            interpolation=config.interpolation,
            crop_pct=config.crop_pct,
            crop_mode=config.crop_mode,
            mean=(0.0, 0.0, 0.0),  # normalization belongs to the model: x - 0 / 1 is exact
            std=(1.0, 1.0, 1.0),
        )
    resize, interpolation, crop = ROBUSTBENCH[check_preprocessing(name)]
    steps: list[Any] = []
    if resize is not None:
        steps.append(transforms.Resize(resize, transforms.InterpolationMode(interpolation)))
    if crop is not None:
        steps.append(transforms.CenterCrop(crop))
    return transforms.Compose([*steps, transforms.ToTensor()])
