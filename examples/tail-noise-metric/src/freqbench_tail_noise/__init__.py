"""Accuracy under noise confined to the spectral tail: a freqbench metric plugin.

Each test image gets Gaussian noise whose spectrum is zero at distance d < H / 4 from the
centre of the shifted spectrum (the head, where natural images keep most of their power)
and white beyond; the noise is scaled to L2 norm ``tail_noise_eps`` per image and the result
clipped to [0, 1]. The noise is drawn from ``seed``, so the metric is deterministic.

Importing this module imports no torch: freqbench lists metrics without it.
"""

from __future__ import annotations

from typing import Any

from freqbench.metrics import Column, MetricResult, MetricSpec, Presentation, ProtocolField

TAIL_FRACTION = 0.25  # the tail starts at d >= H / 4


def tail_noise(images, eps: float, seed: int):
    """``images`` plus L2-``eps`` Gaussian noise restricted to d >= H / 4, clipped to [0, 1]."""
    import torch

    n, c, h, w = images.shape
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, c, h, w, generator=generator, dtype=torch.float64)
    i = torch.arange(h, dtype=torch.float64)[:, None] - h // 2
    j = torch.arange(w, dtype=torch.float64)[None, :] - w // 2
    tail = torch.fft.ifftshift(((i**2 + j**2).sqrt() >= TAIL_FRACTION * h).to(torch.float64))
    noise = torch.fft.ifft2(torch.fft.fft2(noise) * tail).real
    noise = noise * (eps / noise.flatten(1).norm(dim=1).clamp_min(1e-12))[:, None, None, None]
    return (images.double() + noise).clamp(0, 1).to(images.dtype)


def compute(
    model,
    data,
    *,
    tail_noise_eps: float,
    seed: int,
    batch_size: int,
    device: str,
    clean_predictions,
) -> MetricResult:
    """Accuracy on the noisy images; the clean accuracy comes from the predictions freqbench
    shares between metrics (``needs=("clean_predictions",)``), so it is not computed again."""
    from freqbench.prediction import accuracy

    clean = float((clean_predictions[: len(data)] == data.labels).float().mean())
    noisy = tail_noise(data.images, tail_noise_eps, seed)
    values: dict[str, Any] = {
        "accuracy": accuracy(model, noisy, data.labels, batch_size, device),
        "clean_accuracy": clean,
        "eps": tail_noise_eps,
        "n": len(data),
    }
    values["drop"] = values["clean_accuracy"] - values["accuracy"]
    return MetricResult(values)


SPEC = MetricSpec(
    name="tail_noise",
    description="accuracy under L2 noise confined to the spectral tail (d >= H/4)",
    version="1",
    compute=compute,
    reads=("n_examples", "seed", "tail_noise_eps"),
    needs=("clean_predictions",),
    fields=(
        ProtocolField(
            "tail_noise_eps",
            float,
            "L2 norm of the tail-band noise per image (default 1.0)",
            default=1.0,
            minimum=0,
            exclusive_minimum=True,
        ),
    ),
    presentation=Presentation(
        columns=(
            Column(
                "tail_noise",
                "Tail-noise acc.",
                "accuracy under L2 noise confined to the spectral tail (d >= H/4)",
                ("accuracy",),
                percent=True,
                higher_is_better=True,
                main=True,
                correlate=True,
            ),
            Column(
                "tail_noise_drop",
                "Tail-noise drop",
                "clean minus tail-noise accuracy",
                ("drop",),
                percent=True,
                higher_is_better=False,
                correlate=True,
            ),
        )
    ),
    schema={
        "type": "object",
        "required": ["accuracy", "clean_accuracy", "drop", "eps", "n"],
        "properties": {
            "accuracy": {"type": "number", "minimum": 0, "maximum": 1},
            "clean_accuracy": {"type": "number", "minimum": 0, "maximum": 1},
            "drop": {"type": "number", "minimum": -1, "maximum": 1},
            "eps": {"type": "number", "exclusiveMinimum": 0},
            "n": {"type": "integer", "minimum": 0},
        },
    },
)
