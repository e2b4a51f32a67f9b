"""AugMix (Hendrycks et al., ICLR 2020), batched in torch on [0, 1] images (grey or RGB).

Each view mixes ``width`` chains of ``depth`` random operations (depth drawn from 1-3 per
chain unless fixed) with Dirichlet(1) weights, then blends the mixture with the original
image by m ~ Beta(1, 1). The loss is cross-entropy on the clean image plus 12 times the
Jensen-Shannon consistency over the clean image and two views.

The operations follow the reference ``augmentations.py`` (PIL on 8-bit images): the same
level ranges at severity 3, level = U(0.1, severity) per operation. By default the
operations that overlap the test corruptions (color, contrast, brightness, sharpness) are
left out, as in the paper's CIFAR-10-C experiments; ``all_ops`` adds them. Posterize,
solarize and equalize work on the 8-bit pixel values, as PIL does; the geometric
operations resample bilinearly with black fill, as PIL's ``transform`` does.

Dirichlet(1) is sampled as normalised Exp(1) draws and Beta(1, 1) as U(0, 1), which are
exactly those distributions and accept a torch.Generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqbench.errors import UserError
from freqbench.recipes.base import Recipe, RecipeConfig, RecipeOutput, Transform
from freqbench.recipes.losses import augmix_loss

Op = Callable[[Tensor, Tensor, Tensor], Tensor]  # (images, level u, sign +-1) -> images

MAX_LEVEL = 10  # the reference scales every parameter by level / 10
MIN_LEVEL = 0.1
RANDOM_DEPTHS = (1, 3)
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # PIL's "L" conversion
SMOOTH_KERNEL = ((1.0, 1.0, 1.0), (1.0, 5.0, 1.0), (1.0, 1.0, 1.0))  # PIL's SMOOTH, / 13


def _image_shape(u: Tensor) -> Tensor:
    return u.view(-1, 1, 1, 1)


def _int_parameter(u: Tensor, maxval: float) -> Tensor:
    return torch.floor(u * maxval / MAX_LEVEL)


def _pixels(x: Tensor) -> Tensor:
    """The 8-bit pixel values PIL works on."""
    return torch.round(x * 255)


# ----------------------------------------------------------------------------- pixel ops


def autocontrast(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    """Stretch each channel to the full [0, 1] range (constant channels stay)."""
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    spread = high - low
    return torch.where(spread > 0, (x - low) / spread.clamp_min(1e-12), x)


def equalize(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    """Per-channel histogram equalisation with PIL's lookup table."""
    n, c, h, w = x.shape
    q = _pixels(x).long().view(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=x.device)
    hist.scatter_add_(1, q, torch.ones_like(q))
    top_count = hist.gather(1, q.amax(dim=1, keepdim=True))  # pixels at the highest value
    step = (h * w - top_count) // 255
    below = hist.cumsum(dim=1) - hist
    lut = ((step // 2 + below) // step.clamp_min(1)).clamp_max(255)
    identity = torch.arange(256, device=x.device).expand_as(lut)
    lut = torch.where(step > 0, lut, identity)
    return lut.gather(1, q).view(n, c, h, w).to(x.dtype) / 255


def posterize(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    """Keep 4 - int(level * 4 / 10) bits of each 8-bit pixel."""
    bits = 4 - _int_parameter(u, 4).long()
    drop = _image_shape(8 - bits)
    q = _pixels(x).long()
    return ((q >> drop) << drop).to(x.dtype) / 255


def solarize(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    """Invert pixels at or above 256 - int(level * 256 / 10)."""
    threshold = _image_shape(256 - _int_parameter(u, 256))
    return torch.where(_pixels(x) >= threshold, 1 - x, x)


def _grey(x: Tensor) -> Tensor:
    if x.shape[1] != 3:
        return x
    weights = torch.tensor(GREY_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _enhance(x: Tensor, degenerate: Tensor, u: Tensor) -> Tensor:
    """PIL ImageEnhance: blend from ``degenerate`` by factor 0.1 + level * 1.8 / 10."""
    factor = _image_shape(u * 1.8 / MAX_LEVEL + 0.1)
    return (degenerate + factor * (x - degenerate)).clamp(0, 1)


def color(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    return _enhance(x, _grey(x).expand_as(x), u)


def contrast(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    return _enhance(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), u)


def brightness(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    return _enhance(x, torch.zeros_like(x), u)


def sharpness(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    """Blend with PIL's SMOOTH-filtered image; border pixels are not filtered, as in PIL."""
    c = x.shape[1]
    kernel = torch.tensor(SMOOTH_KERNEL, device=x.device, dtype=x.dtype) / 13
    smooth = F.conv2d(x, kernel.expand(c, 1, 3, 3), groups=c)
    degenerate = x.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    return _enhance(x, degenerate, u)


# ----------------------------------------------------------------------------- geometric ops


def _warp(x: Tensor, matrix: Tensor) -> Tensor:
    """Resample ``x`` at ``matrix @ (u, v, 1)`` for each output pixel centre (u, v), in pixels.

    Converts the pixel-space map to affine_grid's normalised coordinates (align_corners=False:
    pixel centre i lies at (2 i + 1) / size - 1) and fills outside pixels with black.
    """
    h, w = x.shape[-2:]
    options = {"device": x.device, "dtype": x.dtype}
    to_unit = torch.tensor([[2 / w, 0, -1], [0, 2 / h, -1], [0, 0, 1]], **options)
    to_pixels = torch.tensor([[w / 2, 0, w / 2], [0, h / 2, h / 2], [0, 0, 1]], **options)
    theta = to_unit @ matrix @ to_pixels
    grid = F.affine_grid(theta[:, :2], list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _affine(rows: list[list[Tensor | float]], like: Tensor) -> Tensor:
    """(N, 3, 3) matrices from 2 x 3 entries that are per-image tensors or constants."""
    n = like.shape[0]
    entries = [
        torch.as_tensor(v, dtype=like.dtype, device=like.device) for row in rows for v in row
    ]
    top = torch.stack([e.expand(n) for e in entries], dim=1).view(n, 2, 3)
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=like.dtype, device=like.device).expand(n, 1, 3)
    return torch.cat([top, bottom], dim=1)


def rotate(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    """Rotate about the centre by int(level * 30 / 10) degrees, either way."""
    angle = torch.deg2rad(_int_parameter(u, 30) * sign).to(x.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    cx, cy = x.shape[3] / 2, x.shape[2] / 2
    rows = [
        [cos, -sin, cx - cos * cx + sin * cy],
        [sin, cos, cy - sin * cx - cos * cy],
    ]
    return _warp(x, _affine(rows, x))


def shear_x(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    shear = (u * 0.3 / MAX_LEVEL * sign).to(x.dtype)
    return _warp(x, _affine([[1.0, shear, 0.0], [0.0, 1.0, 0.0]], x))


def shear_y(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    shear = (u * 0.3 / MAX_LEVEL * sign).to(x.dtype)
    return _warp(x, _affine([[1.0, 0.0, 0.0], [shear, 1.0, 0.0]], x))


def translate_x(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    """Shift by int(level * (width / 3) / 10) whole pixels, either way."""
    shift = (_int_parameter(u, x.shape[3] / 3) * sign).to(x.dtype)
    return _warp(x, _affine([[1.0, 0.0, shift], [0.0, 1.0, 0.0]], x))


def translate_y(x: Tensor, u: Tensor, sign: Tensor) -> Tensor:
    shift = (_int_parameter(u, x.shape[2] / 3) * sign).to(x.dtype)
    return _warp(x, _affine([[1.0, 0.0, 0.0], [0.0, 1.0, shift]], x))


OPS: dict[str, Op] = {
    "autocontrast": autocontrast,
    "equalize": equalize,
    "posterize": posterize,
    "rotate": rotate,
    "solarize": solarize,
    "shear_x": shear_x,
    "shear_y": shear_y,
    "translate_x": translate_x,
    "translate_y": translate_y,
}
CORRUPTION_OVERLAP_OPS: dict[str, Op] = {
    "color": color,
    "contrast": contrast,
    "brightness": brightness,
    "sharpness": sharpness,
}


# ----------------------------------------------------------------------------- AugMix


@dataclass(frozen=True)
class AugMixConfig(RecipeConfig):
    width: int = 3
    depth: int | None = None  # None: drawn from 1-3 for each chain
    severity: int = 3
    jsd_weight: float = 12.0
    all_ops: bool = False  # add color, contrast, brightness, sharpness

    def __post_init__(self) -> None:
        if self.width < 1:
            raise UserError(f"width must be >= 1, got {self.width}")
        if self.depth is not None and self.depth < 1:
            raise UserError(f"depth must be >= 1 (or unset for 1-3 at random), got {self.depth}")
        if not 1 <= self.severity <= MAX_LEVEL:
            raise UserError(f"severity must be in 1..{MAX_LEVEL}, got {self.severity}")
        if self.jsd_weight < 0:
            raise UserError(f"jsd_weight must be >= 0, got {self.jsd_weight}")

    def ops(self) -> list[Op]:
        chosen = {**OPS, **CORRUPTION_OVERLAP_OPS} if self.all_ops else OPS
        return list(chosen.values())


def _apply_step(x: Tensor, op_index: Tensor, u: Tensor, sign: Tensor, ops: list[Op]) -> Tensor:
    """Apply op ``op_index[i]`` to image i (-1: none), one batched call per operation."""
    out = x.clone()
    for k, op in enumerate(ops):
        chosen = (op_index == k).nonzero().squeeze(1)
        if chosen.numel():
            out[chosen] = op(x[chosen], u[chosen], sign[chosen])
    return out


def augment_and_mix(x: Tensor, config: AugMixConfig, generator: torch.Generator | None) -> Tensor:
    """One AugMix view of every image in the batch x (N, C, H, W) in [0, 1]."""
    n, device = x.shape[0], x.device
    ops = config.ops()
    width, chains_n = config.width, config.width * x.shape[0]
    if config.depth is None:
        low, high = RANDOM_DEPTHS
        depth = torch.randint(low, high + 1, (chains_n,), generator=generator, device=device)
        steps = high
    else:
        depth = torch.full((chains_n,), config.depth, device=device)
        steps = config.depth
    chains = x.repeat(width, 1, 1, 1)  # chain-major: rows k * n .. (k + 1) * n - 1
    for step in range(steps):
        op_index = torch.randint(len(ops), (chains_n,), generator=generator, device=device)
        op_index = torch.where(depth > step, op_index, -1)
        u = MIN_LEVEL + (config.severity - MIN_LEVEL) * torch.rand(
            chains_n, generator=generator, device=device
        )
        sign = torch.where(torch.rand(chains_n, generator=generator, device=device) < 0.5, -1, 1)
        chains = _apply_step(chains, op_index, u, sign.to(u.dtype), ops)
    exp_draws = torch.empty(width, n, device=device).exponential_(generator=generator)
    weights = (exp_draws / exp_draws.sum(dim=0)).to(x.dtype)  # Dirichlet(1) per image
    mixture = (weights.view(width, n, 1, 1, 1) * chains.view(width, *x.shape)).sum(dim=0)
    m = torch.rand(n, generator=generator, device=device).to(x.dtype).view(n, 1, 1, 1)
    return (1 - m) * x + m * mixture


class AugMix(Recipe[AugMixConfig]):
    name = "augmix"
    config_class = AugMixConfig

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        views = [augment_and_mix(x, self.config, generator) for _ in range(2)]
        return self._consistency_loss(model, x, views, y)

    def loss_with_bass(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator | None,
        bass: Transform,
    ) -> RecipeOutput:
        """One view is mixed from the BaSS image; the JSD covers the clean image and both views."""
        views = [
            augment_and_mix(x, self.config, generator),
            augment_and_mix(bass(x), self.config, generator),
        ]
        return self._consistency_loss(model, x, views, y)

    def _consistency_loss(
        self, model: nn.Module, x: Tensor, views: list[Tensor], y: Tensor
    ) -> RecipeOutput:
        # One forward over clean and views together, as the reference does (shared BN batch).
        logits = model(torch.cat([x, *views])).split(x.shape[0])
        loss = augmix_loss(logits[0], logits[1:], y, self.config.jsd_weight)
        return RecipeOutput(loss, logits[0])
