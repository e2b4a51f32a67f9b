"""A model's test-time preprocessing of image files (resize, crop, interpolation), by name.

ImageNet models differ in how an image file becomes their input, and the difference moves
their numbers (RobustBench issue 59: a second Resize(256)+Crop(224) on ImageNet-C changed its
ranking). So the preprocessing is part of the protocol: a record names it and every block key
that reads images includes it. Two kinds of names:

- RobustBench's (``robustbench.data.PREPROCESSINGS``): ``Res256Crop224``,
  ``BicubicRes256Crop224``, ``Crop288``, ``Res224``;
- timm's resolved data config, written ``timm:size=224,crop_pct=0.875,crop_mode=center,
  interpolation=bicubic`` and built by timm's own ``create_transform``. With
  ``crop_mode=border`` timm pads with the model's mean colour, ``round(255 * mean)`` per
  channel: the name then ends with that fill, ``...,fill=128/128/128`` (a name without one
  gets the model's mean, or ImageNet's, timm's default, where the model does not say).

Every transform ends with pixels in [0, 1]: mean and std live inside the model, as AutoAttack
needs. Files are decoded by PIL and converted to RGB, as both libraries' loaders do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
#: The mean timm's ``create_transform`` assumes when given none (timm's IMAGENET_DEFAULT_MEAN).
TIMM_DEFAULT_MEAN = (0.485, 0.456, 0.406)


@dataclass(frozen=True)
class TimmConfig:
    """The fields of timm's resolved data config that change the pixels."""

    size: int
    crop_pct: float
    crop_mode: str
    interpolation: str
    fill: tuple[int, ...] | None = None  # crop_mode=border's padding colour (RGB, 0..255)

    @property
    def name(self) -> str:
        fill = "" if self.fill is None else f",fill={'/'.join(map(str, self.fill))}"
        return (
            f"{TIMM_PREFIX}size={self.size},crop_pct={self.crop_pct:g},"
            f"crop_mode={self.crop_mode},interpolation={self.interpolation}{fill}"
        )


def timm_fill(mean: Sequence[float]) -> tuple[int, ...]:
    """What timm's border crop pads with for a model of this mean: ``round(255 * v)`` per
    channel (``transforms_imagenet_eval``; Python's rounding, as there), on RGB images."""
    fill = tuple(round(255 * v) for v in mean)
    return fill * 3 if len(fill) == 1 else fill


def list_preprocessings() -> list[str]:
    return [
        *ROBUSTBENCH,
        f"{TIMM_PREFIX}size=S,crop_pct=P,crop_mode=M,interpolation=I[,fill=R/G/B]",
    ]


def timm_config(data_config: dict[str, Any]) -> TimmConfig:
    """The :class:`TimmConfig` of ``timm.data.resolve_data_config(...)``'s result."""
    size = data_config["input_size"]
    if size[1] != size[2]:
        raise UserError(f"a non-square timm input size {tuple(size)} is not supported")
    interpolation = data_config.get("interpolation", "bilinear")
    interpolation = "bilinear" if interpolation == "random" else interpolation
    crop_mode = data_config.get("crop_mode") or "center"
    return TimmConfig(
        int(size[1]),
        float(data_config.get("crop_pct") or 0.875),
        crop_mode,
        interpolation,
        timm_fill(data_config.get("mean") or TIMM_DEFAULT_MEAN) if crop_mode == "border" else None,
    )


def parse_timm(name: str, mean: Sequence[float] | None = None) -> TimmConfig:
    """The config a timm name writes; a border crop without ``fill`` pads with ``mean``'s
    colour (the model's; timm's default where None)."""
    usage = (
        f"preprocessing '{name}' is not a timm data config: write "
        f"{TIMM_PREFIX}size=224,crop_pct=0.875,crop_mode=center,interpolation=bicubic "
        f"(crop_mode one of {', '.join(CROP_MODES)}; interpolation one of "
        f"{', '.join(INTERPOLATIONS)}; crop_mode=border may end with fill=R/G/B, its padding "
        "colour from 0 to 255)"
    )
    try:
        fields = dict(part.split("=", 1) for part in name.removeprefix(TIMM_PREFIX).split(","))
        fill = fields.pop("fill", None)
        config = TimmConfig(
            int(fields.pop("size")), float(fields.pop("crop_pct")), fields.pop("crop_mode"),
            fields.pop("interpolation"),
            None if fill is None else tuple(int(v) for v in fill.split("/")),
        )  # fmt: skip
    except (KeyError, ValueError):
        raise UserError(usage) from None
    if fields or config.crop_mode not in CROP_MODES or config.interpolation not in INTERPOLATIONS:
        raise UserError(usage)
    if not (0 < config.crop_pct <= 1 and 8 <= config.size <= 1024):
        raise UserError(f"{usage}; crop_pct in (0, 1] and size from 8 to 1024")
    if config.fill is not None and (
        config.crop_mode != "border"
        or len(config.fill) != 3
        or not all(0 <= v <= 255 for v in config.fill)
    ):
        raise UserError(f"{usage}; fill is 3 numbers from 0 to 255, with crop_mode=border only")
    if config.crop_mode == "border" and config.fill is None:
        return replace(config, fill=timm_fill(mean or TIMM_DEFAULT_MEAN))
    return config


def check_preprocessing(name: str, mean: Sequence[float] | None = None) -> str:
    """``name`` when it is one freqbench can build; its canonical spelling for timm's (a
    border crop's fill from ``mean``, the model's, when the name has none)."""
    if name.startswith(TIMM_PREFIX):
        return parse_timm(name, mean).name
    if name not in ROBUSTBENCH:
        raise UnknownNameError("preprocessing", name, list_preprocessings())
    return name


def output_size(name: str) -> int:
    """The side of the square images the preprocessing makes."""
    if name.startswith(TIMM_PREFIX):
        return parse_timm(name).size
    resize, _, crop = ROBUSTBENCH[check_preprocessing(name)]
    return crop or resize[0]


def interpolation_of(name: str) -> str:
    """The interpolation the preprocessing resizes with (the model's own, for its inputs)."""
    if name.startswith(TIMM_PREFIX):
        return parse_timm(name).interpolation
    return ROBUSTBENCH[check_preprocessing(name)][1]


def resized_to(side: int, interpolation: str) -> str:
    """The preprocessing that resizes a whole image to ``side`` x ``side`` (no crop) with
    ``interpolation``: timm's squash crop at crop_pct 1 (one Resize((side, side)))."""
    return TimmConfig(side, 1.0, "squash", interpolation).name


def build_transform(name: str) -> Callable[[Image.Image], torch.Tensor]:
    """The transform of ``name``: an RGB PIL image to a float (3, S, S) tensor in [0, 1]."""
    from torchvision import transforms

    if name.startswith(TIMM_PREFIX):
        from timm.data import create_transform

        config = parse_timm(name)
        transform = create_transform(
            input_size=(3, config.size, config.size),
            is_training=False,
            interpolation=config.interpolation,
            crop_pct=config.crop_pct,
            crop_mode=config.crop_mode,
            # timm pads a border crop with round(255 * mean): the mean whose colour is the fill
            mean=tuple(v / 255 for v in config.fill) if config.fill else (0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
        )
        *steps, normalize = transform.transforms
        if not isinstance(normalize, transforms.Normalize):
            raise RuntimeError(f"timm's test transform no longer ends with Normalize: {transform}")
        return transforms.Compose(steps)  # normalization belongs to the model
    resize, interpolation, crop = ROBUSTBENCH[check_preprocessing(name)]
    steps: list[Any] = []
    if resize is not None:
        steps.append(transforms.Resize(resize, transforms.InterpolationMode(interpolation)))
    if crop is not None:
        steps.append(transforms.CenterCrop(crop))
    return transforms.Compose([*steps, transforms.ToTensor()])
