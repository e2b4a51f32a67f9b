"""Frequency-domain operations on image batches (DESIGN.md section 2).

Radial spectra, the fixed-radius split of Wang et al. (CVPR 2020), the long-tail split and
R80 of Lin et al. (NeurIPS 2023), spectral entropy, the Fourier basis images of Yin et al.
(NeurIPS 2019), Balanced Spectrum Sampling (BaSS, Lin et al.) and the kernel smoothing of
Wang et al. (section 6).

Conventions shared by every function: images are float tensors in [0, 1], NCHW, any size
from 2 x 2 up, any channel count, on any device (results stay on it). F = fftshift(fft2(x))
per channel, the centre is (H//2, W//2), d(i, j) is the Euclidean distance to it and ring k
holds the coefficients with floor(d) = k; ring 0 is the DC term alone.

How it is computed, and why the results are still exactly those definitions:

- Everything is batched: no Python loop over images, channels or rings. Per-ring means are
  one matrix product with a cached (coefficients x rings) averaging matrix.
- The data are never fftshift-ed. Distances are computed once per (H, W, device) for the
  unshifted layout, which is the same permutation applied to the index map instead.
- rfft2 / irfft2 replace fft2 / ifft2. A real image's spectrum is Hermitian and every mask or
  weight used here depends on d only, which is the same for a coefficient and its mirror
  (the Nyquist row/column of even sizes included). So the weighted spectrum stays Hermitian,
  irfft2 returns exactly the real part of the full inverse, and a ring mean over the full
  plane is the half-plane sum with each coefficient counted as often as it occurs (twice,
  except columns 0 and W/2).
- float16/bfloat16 inputs are computed in float32 (FFTs need it) and images come back in the
  input dtype.
"""

from __future__ import annotations

import copy
import difflib
import functools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqbench.errors import UserError

__all__ = [
    "BaSS",
    "bass",
    "energy_radius",
    "fourier_basis",
    "fourier_basis_batch",
    "half_plane_indices",
    "mirror_indices",
    "radial_profile",
    "scaled_radii",
    "smooth_kernels",
    "spectral_entropy",
    "split_frequency",
    "split_long_tail",
]

_RANGE_TOLERANCE = 1e-4
_PAPER_RADII = (4, 8, 12, 16)  # Wang et al.'s radii for 32 x 32 images
_PIXEL_SCALE = 255.0  # BaSS works on 0-255 pixels so that ln P stays positive


# ----------------------------------------------------------------------------- validation


def _check_images(x: object, *, allow_single: bool = False) -> Tensor:
    """Return ``x`` if it is a float image batch in [0, 1], else raise a helpful UserError."""
    if not isinstance(x, Tensor):
        raise UserError(
            f"images must be a torch.Tensor, got {type(x).__name__}; "
            "convert with torch.as_tensor(array).float()"
        )
    if not x.is_floating_point():
        raise UserError(
            f"images must be floating point with values in [0, 1], got dtype {x.dtype}; "
            "convert 0-255 pixels with x.float() / 255"
        )
    ranks = "NCHW (rank 4) or CHW (rank 3)" if allow_single else "NCHW (rank 4)"
    if x.dim() != 4 and not (allow_single and x.dim() == 3):
        hint = "add a batch axis with x.unsqueeze(0)" if x.dim() == 3 else "reshape to N, C, H, W"
        raise UserError(f"images must be {ranks}, got shape {tuple(x.shape)}; {hint}")
    if x.numel() == 0 or min(x.shape[-2:]) < 2:
        raise UserError(f"images must be non-empty and at least 2 x 2, got shape {tuple(x.shape)}")
    low, high = torch.aminmax(x.detach())
    if not (low >= -_RANGE_TOLERANCE and high <= 1 + _RANGE_TOLERANCE):
        raise UserError(
            f"image values must lie in [0, 1] (found min {low.item():.4g}, max {high.item():.4g}, "
            "NaN counts as out of range); divide 0-255 pixels by 255 and keep mean/std "
            "normalization inside the model"
        )
    return x


def _check_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(float(value)):
        raise UserError(f"{name} must be finite, got {value!r}")
    return float(value)


def _check_radius(radius: object) -> float:
    r = _check_number(radius, "radius")
    if r < 0:
        raise UserError(f"radius must be >= 0 (a distance in frequency bins), got {r}")
    return r


def _check_fraction(q: object) -> float:
    value = _check_number(q, "q")
    if not 0 < value < 1:
        raise UserError(f"q must be a power fraction strictly between 0 and 1 (e.g. 0.8), got {q}")
    return value


def _compute_dtype(x: Tensor) -> Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


# ----------------------------------------------------------------------------- ring geometry


@dataclass(frozen=True)
class _Rings:
    """Ring geometry of the rfft2 half plane (H, W//2 + 1) of an H x W image."""

    dist: Tensor  # (H, W//2+1) float64: d of each coefficient from the centre
    ring: Tensor  # (H, W//2+1) int64: floor(d)
    counts: Tensor  # (K,) float64: number of full-plane coefficients in each ring
    multiplicity: Tensor  # (W//2+1,) float64: how often each half-plane column occurs


@functools.lru_cache(maxsize=64)
def _rings(h: int, w: int, device: torch.device) -> _Rings:
    # Unshifted row u sits at shifted row (u + H//2) mod H, so its offset from the centre is
    # ((u + H//2) mod H) - H//2; a half-plane column v has offset v (or -v at Nyquist).
    rows = (torch.arange(h) + h // 2) % h - h // 2
    cols = torch.arange(w // 2 + 1)
    squared = rows[:, None] ** 2 + cols[None, :] ** 2
    dist = squared.double().sqrt()
    ring = dist.floor().long()
    multiplicity = torch.full((w // 2 + 1,), 2.0, dtype=torch.float64)
    multiplicity[0] = 1.0
    if w % 2 == 0:
        multiplicity[-1] = 1.0
    weights = multiplicity.expand(h, -1).reshape(-1)
    counts = torch.zeros(int(ring.max()) + 1, dtype=torch.float64)
    counts.index_add_(0, ring.reshape(-1), weights)
    return _Rings(dist.to(device), ring.to(device), counts.to(device), multiplicity.to(device))


@functools.lru_cache(maxsize=64)
def _mean_matrix(h: int, w: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(H * (W//2+1), K) matrix: half-plane values @ matrix = full-plane ring means."""
    rings = _rings(h, w, torch.device("cpu"))
    flat = rings.ring.reshape(-1)
    weights = rings.multiplicity.expand(h, -1).reshape(-1) / rings.counts[flat]
    matrix = torch.zeros(flat.numel(), rings.counts.numel(), dtype=torch.float64)
    matrix[torch.arange(flat.numel()), flat] = weights
    return matrix.to(device=device, dtype=dtype)


def _ring_means(half_plane: Tensor, h: int, w: int) -> Tensor:
    """Full-plane ring means of real values given on the rfft2 half plane (..., H, W//2+1)."""
    matrix = _mean_matrix(h, w, half_plane.device, half_plane.dtype)
    lead = half_plane.shape[:-2]
    return (half_plane.reshape(-1, matrix.shape[0]) @ matrix).reshape(*lead, matrix.shape[1])


def _power(spectrum: Tensor) -> Tensor:
    """|X|^2 as re^2 + im^2: about twice as fast as complex abs() on CPU."""
    parts = torch.view_as_real(spectrum)
    return torch.addcmul(parts[..., 0] * parts[..., 0], parts[..., 1], parts[..., 1])


def _masked_inverse(spectrum: Tensor, keep: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
    """Inverse transforms of the coefficients where ``keep`` is true and of the rest."""
    keep = keep.to(spectrum.real.dtype)
    inside = torch.fft.irfft2(spectrum * keep, s=(h, w))
    outside = torch.fft.irfft2(spectrum * (1 - keep), s=(h, w))
    return inside, outside


# ----------------------------------------------------------------------------- spectra, splits


def radial_profile(x: Tensor, kind: str = "power") -> Tensor:
    """Mean of |F|^2 (``kind="power"``) or |F| (``"amplitude"``) over each ring.

    Returns (N, C, K) with K = largest ring index + 1, so index k is ring k (k = 0 is the
    DC term alone). ``sum_k count_k * profile_k = sum |F|^2 = H * W * sum x^2`` (Parseval).
    """
    x = _check_images(x)
    if kind not in ("power", "amplitude"):
        raise UserError(f"kind must be 'power' or 'amplitude', got {kind!r}")
    h, w = x.shape[-2:]
    power = _power(torch.fft.rfft2(_compute_dtype(x)))
    return _ring_means(power if kind == "power" else power.sqrt_(), h, w)


def split_frequency(x: Tensor, radius: float) -> tuple[Tensor, Tensor]:
    """Wang et al.'s fixed-radius split: ``low`` keeps coefficients with d < radius.

    Both parts are the real inverse transforms, so ``low + high == x`` to float precision.
    They are NOT clipped to [0, 1]: accuracy is reported on the raw parts, as in the paper.
    ``radius = 0`` gives low == 0; a radius beyond the corner gives high == 0.
    """
    x = _check_images(x)
    radius = _check_radius(radius)
    h, w = x.shape[-2:]
    low_mask = _rings(h, w, x.device).dist < radius
    low, high = _masked_inverse(torch.fft.rfft2(_compute_dtype(x)), low_mask, h, w)
    return low.to(x.dtype), high.to(x.dtype)


def scaled_radii(h: int) -> list[int]:
    """Wang et al.'s radii (4, 8, 12, 16 for 32 x 32) scaled by H / 32.

    Rounded half up (28 x 28 gives 4, 7, 11, 14), not Python's round-half-to-even.
    """
    if isinstance(h, bool) or not isinstance(h, int) or h < 1:
        raise UserError(f"image height must be a positive integer, got {h!r}")
    return [math.floor(r * h / 32 + 0.5) for r in _PAPER_RADII]


def _energy_radius(x: Tensor, q: float) -> Tensor:
    h, w = x.shape[-2:]
    # float64 so that the discrete radius does not hinge on float32 rounding of the FFT.
    power = _power(torch.fft.rfft2(x.double())).sum(dim=1)  # summed over channels
    ring_power = _ring_means(power, h, w) * _rings(h, w, x.device).counts
    cumulative = ring_power[:, 1:].cumsum(dim=1)  # rings 1..k, DC left out
    # Rings 1..k with cumulative < q E come before R; since q < 1 the last ring always
    # reaches q E, so R <= K - 1. With E = 0 no ring is below and R = 1.
    return (cumulative < q * cumulative[:, -1:]).sum(dim=1) + 1


def energy_radius(x: Tensor, q: float = 0.8) -> Tensor:
    """Per image, Lin et al.'s R_q: the smallest R >= 1 with ``sum_{k=1..R} E_k >= q * E``.

    E_k is the power sum_(i,j in ring k) |F|^2 summed over channels (one radius per image,
    as the head/tail split is per image), E = sum over rings k >= 1 (the DC term is left
    out). An image without power outside DC (a constant image) gets R = 1. Returns (N,) int64.
    """
    return _energy_radius(_check_images(x), _check_fraction(q))


def split_long_tail(x: Tensor, q: float = 0.8) -> tuple[Tensor, Tensor]:
    """Lin et al.'s long-tail split: ``head`` keeps rings floor(d) <= R_q, ``tail`` the rest.

    R_q is :func:`energy_radius` (power fraction ``>= q``, DC left out); the DC term falls in
    the head. Both parts are real inverse transforms, unclipped; ``head + tail == x``.
    """
    x = _check_images(x)
    radius = _energy_radius(x, _check_fraction(q))
    h, w = x.shape[-2:]
    keep = _rings(h, w, x.device).ring <= radius[:, None, None, None]
    head, tail = _masked_inverse(torch.fft.rfft2(_compute_dtype(x)), keep, h, w)
    return head.to(x.dtype), tail.to(x.dtype)


def spectral_entropy(profile: Tensor) -> Tensor:
    """Normalized entropy in [0, 1] of a radial profile (..., K), K = rings 0..K-1.

    p_k = profile_k / sum_{j=1..K-1} profile_j over the K - 1 non-DC rings (ring 0, the DC
    term, is left out); H = -sum p_k ln p_k / ln(K - 1), with 0 ln 0 = 0. This is DESIGN.md's
    formula with its K counting the non-DC rings. A profile with no power outside DC has
    no spread and gets 0.
    """
    if not isinstance(profile, Tensor) or not profile.is_floating_point():
        raise UserError("profile must be a floating-point tensor (..., K) from radial_profile")
    if profile.dim() == 0 or profile.shape[-1] < 3:
        raise UserError(
            f"profile needs at least 3 rings (DC + 2) on its last axis, got {tuple(profile.shape)}"
        )
    rings = profile[..., 1:]
    if not bool(torch.isfinite(rings).all()) or bool((rings < 0).any()):
        raise UserError("profile values must be finite and >= 0 (a power or amplitude profile)")
    total = rings.sum(dim=-1, keepdim=True)
    p = rings / total.clamp_min(torch.finfo(rings.dtype).tiny)
    return -torch.special.xlogy(p, p).sum(dim=-1) / math.log(profile.shape[-1] - 1)


# ----------------------------------------------------------------------------- Fourier basis


def _check_indices(h: int, w: int, indices: object) -> Tensor:
    for name, size in (("h", h), ("w", w)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UserError(f"{name} must be a positive integer, got {size!r}")
    index = torch.as_tensor(indices)
    if index.is_floating_point() or index.dim() != 2 or index.shape[1] != 2:
        raise UserError(
            f"indices must be integer pairs (i, j) of shape (B, 2), got {tuple(index.shape)}"
        )
    index = index.long().cpu()
    inside = (index >= 0).all() and (index[:, 0] < h).all() and (index[:, 1] < w).all()
    if not inside:
        raise UserError(f"indices must satisfy 0 <= i < {h} and 0 <= j < {w}")
    return index


def mirror_indices(h: int, w: int, indices: Tensor | Sequence[Sequence[int]]) -> Tensor:
    """Shifted-spectrum index of each (i, j)'s mirror: ((2 (H//2) - i) mod H, same for j)."""
    index = _check_indices(h, w, indices)
    return torch.stack([(2 * (h // 2) - index[:, 0]) % h, (2 * (w // 2) - index[:, 1]) % w], 1)


def half_plane_indices(h: int, w: int) -> Tensor:
    """One shifted-spectrum index (i, j) per mirror pair, (B, 2), in row-major order.

    The pair member with the smaller row-major position is kept; self-mirrored points (DC
    and the Nyquist points of even sizes) appear once. A heat map computed on these and
    copied to :func:`mirror_indices` covers the whole plane.
    """
    grid = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), -1)
    index = grid.reshape(-1, 2)
    mirror = mirror_indices(h, w, index)
    keep = index[:, 0] * w + index[:, 1] <= mirror[:, 0] * w + mirror[:, 1]
    return index[keep]


def fourier_basis_batch(
    h: int,
    w: int,
    indices: Tensor | Sequence[Sequence[int]],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Yin et al.'s Fourier basis images U_ij for a batch of shifted indices, (B, h, w).

    U_ij = cos(2 pi (a m / h + b n / w)) with (a, b) = (i - h//2, j - w//2), scaled to unit L2
    norm: the real image whose shifted spectrum is non-zero only at (i, j) and its mirror.
    The phase is reduced modulo h * w in integers so it stays exact. Memory is B * h * w.
    """
    index = _check_indices(h, w, indices)
    a = (index[:, 0] - h // 2)[:, None, None]
    b = (index[:, 1] - w // 2)[:, None, None]
    m = torch.arange(h)[None, :, None]
    n = torch.arange(w)[None, None, :]
    phase = (a * m * w + b * n * h) % (h * w)
    basis = torch.cos(phase.double() * (2 * math.pi / (h * w)))
    basis = basis / basis.flatten(1).norm(dim=1)[:, None, None]
    return basis.to(dtype=dtype, device=device)


def fourier_basis(
    h: int,
    w: int,
    i: int,
    j: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """One basis image U_ij, (h, w); see :func:`fourier_basis_batch`."""
    return fourier_basis_batch(h, w, [[i, j]], dtype=dtype, device=device)[0]


# ----------------------------------------------------------------------------- BaSS


def _bass_weights(mean_amplitude: Tensor) -> Tensor:
    """Per-ring BaSS weights (..., K) from the ring mean amplitudes P (..., K)."""
    inner = mean_amplitude[..., 1:-1]  # rings 1..M-1; ring 0 (DC) and ring M keep weight 1
    log_inner = inner.clamp_min(1.0).log()  # ln P taken as 0 where P <= 1
    ratio = log_inner / inner.clamp_min(1.0)  # (ln P / P); 0 where P <= 1
    sum_log = log_inner.sum(dim=-1, keepdim=True)
    scale = inner.sum(dim=-1, keepdim=True) / sum_log.clamp_min(torch.finfo(inner.dtype).tiny)
    inner_weights = torch.where(sum_log > 0, ratio * scale, torch.ones_like(ratio))
    ones = torch.ones_like(mean_amplitude[..., :1])
    return torch.cat([ones, inner_weights, ones], dim=-1)


def bass(x: Tensor, clip: bool = True) -> Tensor:
    """Balanced Spectrum Sampling (Lin et al., NeurIPS 2023), per image and channel.

    On 0-255 pixels: P(k) = mean |F| over ring k for k = 1..M-1 (M = the outermost, partial
    corner ring: 22 for 32 x 32, 19 for 28 x 28); w(k) = p_new / p_old with
    p_old = P / sum P and p_new = ln P / sum ln P; ring k is multiplied by w(k); rings 0 (DC)
    and M keep weight 1; back through the inverse FFT, / 255 and clipped to [0, 1] unless
    ``clip=False`` (for checking that the DC coefficient is kept).

    Guard for P(k) <= 1, where ln P <= 0 would make weights negative or infinite: ln P is
    taken as 0 there, so such a ring gets weight 0 (its coefficients are at most 1/(H W) of
    a grey level each). A channel where every ring 1..M-1 has P <= 1 (e.g. a constant
    channel) is returned unchanged. No NaN can arise.
    """
    x = _check_images(x)
    n, c, h, w = x.shape
    spectrum = torch.fft.rfft2(_compute_dtype(x))
    # The FFT is linear, so P on the 0-255 scale is 255 x P of the [0, 1] image; the
    # weights then multiply the [0, 1] spectrum directly, which saves scaling the data.
    mean_amplitude = _ring_means(_power(spectrum).sqrt_(), h, w) * _PIXEL_SCALE
    weights = _bass_weights(mean_amplitude).reshape(n * c, -1)  # (N C, K)
    ring = _rings(h, w, x.device).ring.reshape(-1)
    per_coefficient = weights.index_select(1, ring).reshape(n, c, h, -1)
    out = torch.fft.irfft2(spectrum * per_coefficient, s=(h, w))
    return (out.clamp_(0.0, 1.0) if clip else out).to(x.dtype)


class BaSS(nn.Module):
    """BaSS as an augmentation: each image gets :func:`bass` with probability ``p``.

    One Bernoulli draw per image from ``generator`` (its device; the CPU default generator
    when None), so runs are reproducible. Accepts an NCHW batch on any device or a single
    CHW image, so it works in a torchvision ``Compose`` after ``ToTensor`` and on GPU
    batches. ``p = 0`` is the identity, ``p = 1`` is :func:`bass` on every image.
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        p = _check_number(p, "p")
        if not 0 <= p <= 1:
            raise UserError(f"p must be a probability in [0, 1], got {p}")
        self.p = p
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        x = _check_images(x, allow_single=True)
        batch = x.unsqueeze(0) if x.dim() == 3 else x
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        draws = torch.rand(batch.shape[0], generator=self.generator, device=device) < self.p
        chosen = draws.nonzero().squeeze(1).to(batch.device)
        out = batch.clone()
        if chosen.numel():
            out[chosen] = bass(batch[chosen])
        return out[0] if x.dim() == 3 else out

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ----------------------------------------------------------------------------- kernel smoothing


def _select_convs(model: nn.Module, layers: str | Sequence[str]) -> list[nn.Conv2d]:
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    if not convs:
        raise UserError(f"{type(model).__name__} has no nn.Conv2d layer to smooth")
    if layers == "first":
        return [next(iter(convs.values()))]
    if layers == "all":
        return list(convs.values())
    if isinstance(layers, str) or not layers:
        raise UserError(
            f"layers must be 'first', 'all' or a non-empty list of module names, got {layers!r}"
        )
    modules = dict(model.named_modules())
    chosen = []
    for name in dict.fromkeys(layers):
        if name not in convs:
            if name in modules:
                kind = type(modules[name]).__name__
                raise UserError(f"layer '{name}' is a {kind}, not an nn.Conv2d")
            close = difflib.get_close_matches(name, list(convs), n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UserError(f"unknown layer name '{name}'.{hint} Conv2d layers: {', '.join(convs)}")
        chosen.append(convs[name])
    return chosen


def _smooth(weight: Tensor, rho: float) -> Tensor:
    """Each k x k kernel convolved with [[rho]*3, [rho, 1, rho], [rho]*3], symmetric, same size.

    numpy's 'symmetric' boundary mirrors including the edge, which for a one-pixel pad is
    exactly edge replication, so 'replicate' padding is that boundary (torch's 'reflect' is
    not). The 3 x 3 filter is symmetric, so convolution and correlation agree; the result is
    w + rho * (sum of the 8 neighbours), which is exactly w for rho = 0.
    """
    kh, kw = weight.shape[-2:]
    padded = F.pad(weight, (1, 1, 1, 1), mode="replicate")
    neighbours = sum(
        padded[..., 1 + di : 1 + di + kh, 1 + dj : 1 + dj + kw]
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
        if (di, dj) != (0, 0)
    )
    return weight + rho * neighbours


def smooth_kernels(
    model: nn.Module, rho: float, layers: str | Sequence[str] = "first"
) -> nn.Module:
    """Wang et al.'s kernel smoothing (section 6) on a deep copy of ``model``.

    ``layers``: "first" (the first nn.Conv2d in ``model.modules()`` order, the default),
    "all", or a list of module names. Every spatial kernel of those layers, batched, is
    convolved over its two spatial axes (never across channels) with the filter above; no
    renormalization. 1 x 1 kernels follow the same definition and are scaled by 1 + 8 rho.
    The original model is untouched.
    """
    rho = _check_number(rho, "rho")
    if rho < 0:
        raise UserError(f"rho must be >= 0 (e.g. 0.1, 0.25, 0.5, 1.0), got {rho}")
    smoothed = copy.deepcopy(model)
    with torch.no_grad():
        for conv in _select_convs(smoothed, layers):
            conv.weight.copy_(_smooth(conv.weight, rho))
    return smoothed
