"""Turn what a user names on the command line into a model ready for evaluation.

A model reference is a checkpoint path, a model-zoo entry name, ``timm:<name>`` or
``robustbench:<dataset>/<threat_model>/<Name>``. A model trained in BaSS ``dataset`` mode
(Lin et al.'s "-B" paradigm) is wrapped so that it applies BaSS to its own input: every
metric, attacks included, then sees the model as it was meant to be used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freqbench.architectures import create_model
from freqbench.architectures.external import (
    ROBUSTBENCH_PREFIX,
    TIMM_PREFIX,
    parse_robustbench_name,
    timm_normalization,
    timm_record_name,
)
from freqbench.checkpoints import load_checkpoint
from freqbench.data import base_dataset, get_dataset_info
from freqbench.errors import UserError


class BalancedInput(nn.Module):
    """Applies BaSS to every input before the wrapped model (models trained on "-B" data)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from freqbench.spectral import bass

        return self.model(bass(x))


#: Where a model's weights came from, as records state it.
WEIGHTS = ("checkpoint", "pretrained", "file", "random", "robustbench")
RANDOM_SEED = 0  # --random-init weights are drawn from this seed: every process gets the same


@dataclass(frozen=True)
class ModelRef:
    """What to evaluate: a reference (checkpoint path, zoo entry, ``timm:<name>[@<tag>]``,
    ``robustbench:<ds>/<tm>/<Name>``) or an architecture with ``weights`` (a state dict file)
    or ``random_init``."""

    ref: str
    weights: str | None = None
    random_init: bool = False
    # The normalization the weights expect (:func:`parse_normalization`); None: the dataset's.
    normalization: str | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and self.random_init:
            raise UserError("--weights and --random-init exclude each other: pass one")
        if self.normalization is not None and self.weights is None:
            raise UserError(
                "--input-normalization applies to --weights only: a checkpoint or zoo entry "
                "carries its own"
            )


@dataclass
class LoadedModel:
    model: nn.Module | None  # None: described from its files, not loaded (describe_model_ref)
    name: str
    source: str
    dataset: str | None  # what it was trained on, when known
    architecture: str
    recipe: str | None = None
    bass_mode: str | None = None
    sha256: str | None = None
    transform: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    weights: str = "checkpoint"  # one of WEIGHTS
    training: dict[str, Any] | None = None  # the resolved training config, when known
    parameter_count: int | None = None  # known without the model (counted on the meta device)
    # The test-time preprocessing of image files the model was published with (a name of
    # :mod:`freqbench.data.preprocessing`); None: the dataset's default.
    preprocessing: str | None = None

    @property
    def parameters(self) -> int:
        if self.parameter_count is not None:
            return self.parameter_count
        return sum(p.numel() for p in self.model.parameters())


def _checkpoint_name(path: Path) -> str:
    return path.parent.name if path.stem == "model" else path.stem


def load_model_ref(ref: str | ModelRef, dataset: str | None, device: str = "cpu") -> LoadedModel:
    """Resolve ``ref``; ``dataset`` (the evaluation dataset) is checked against the model's."""
    ref = ref if isinstance(ref, ModelRef) else ModelRef(ref)
    if ref.weights is not None or ref.random_init:
        loaded = _architecture(ref, dataset)
    elif ref.ref.startswith(ROBUSTBENCH_PREFIX):
        from freqbench.architectures.external import robustbench_preprocessing

        rb_dataset = parse_robustbench_name(ref.ref)[0]
        loaded = LoadedModel(
            create_model(ref.ref), ref.ref.removeprefix(ROBUSTBENCH_PREFIX).replace("/", "-"),
            ref.ref, rb_dataset, ref.ref,
            weights="robustbench", preprocessing=robustbench_preprocessing(ref.ref),
        )  # fmt: skip
    elif ref.ref.startswith(TIMM_PREFIX):
        loaded = _pretrained(ref.ref, _dataset_for(ref.ref, dataset))
    elif Path(ref.ref).suffix in (".safetensors", ".pt", ".pth") or Path(ref.ref).is_file():
        model, info = load_checkpoint(ref.ref)
        loaded = LoadedModel(
            model, _checkpoint_name(Path(ref.ref)), str(ref.ref), info.dataset,
            info.architecture, info.recipe, info.bass_mode, info.sha256,
            training=info.config or None,
        )  # fmt: skip
    else:
        loaded = _load_zoo_entry(ref.ref)
    _check_dataset(loaded, dataset)
    if loaded.preprocessing is None and loaded.architecture.startswith(TIMM_PREFIX):
        loaded.preprocessing = timm_preprocessing(loaded.model)
    if loaded.bass_mode == "dataset":
        loaded.model = BalancedInput(loaded.model)
    loaded.model = loaded.model.to(device).eval()
    if torch.device(device).type == "cpu":
        # oneDNN runs smallcnn's forward pass about 2x faster on channels-last weights (about
        # 1.0-1.1x for resnet18 and for backward passes); logits agree to float rounding.
        # Measured by benchmarks/bench_layout.py.
        loaded.model = loaded.model.to(memory_format=torch.channels_last)
    return loaded


def describe_model_ref(
    ref: str | ModelRef, dataset: str | None, device: str = "cpu"
) -> LoadedModel:
    """What a record says of a model, without loading its weights where its checkpoint's
    sidecar says enough (a checkpoint file, a zoo entry with local weights): its parameters
    are counted on torch's meta device, which allocates nothing. The driver of a remote
    executor plans from this, and the workers load the weights. Any other reference (timm,
    RobustBench, --weights, --random-init) is loaded, on ``device``."""
    from freqbench.checkpoints import read_sidecar

    ref = ref if isinstance(ref, ModelRef) else ModelRef(ref)
    path, entry = Path(ref.ref), None
    plain = ref.weights is None and not ref.random_init
    external = ref.ref.startswith((TIMM_PREFIX, ROBUSTBENCH_PREFIX))
    if plain and not external and not path.is_file():
        from freqbench.zoo import find_entry

        try:
            entry = find_entry(ref.ref)
        except UserError:
            entry = None
        local = entry is not None and set(entry.weights) >= {"path"} and "url" not in entry.weights
        path = entry.weights_path if local else path
    if not plain or external or path is None or not path.is_file():
        return load_model_ref(ref, dataset, device)
    info = read_sidecar(path)
    with torch.device("meta"):
        count = sum(p.numel() for p in info.build().parameters())
    loaded = LoadedModel(
        None,
        entry.name if entry else _checkpoint_name(path),
        str(entry.path) if entry else str(ref.ref),
        info.dataset,
        info.architecture,
        info.recipe,
        info.bass_mode,
        info.sha256,
        (entry.transform or None) if entry else None,
        dict(entry.metadata) if entry else {},
        training=info.config or None,
        parameter_count=count,
    )
    _check_dataset(loaded, dataset)
    return loaded


def timm_preprocessing(model: nn.Module) -> str | None:
    """The test transform timm resolves for a timm model (wrapped in freqbench's normalization
    or not) as its ``validate.py`` does (the test input size and crop), as a preprocessing
    name; None for a model timm did not build."""
    from timm.data import resolve_data_config

    from freqbench.data.preprocessing import timm_config

    net = getattr(model, "net", model)
    if getattr(net, "pretrained_cfg", None) is None:
        return None
    return timm_config(resolve_data_config({}, model=net, use_test_size=True)).name


def input_mean(model: nn.Module | None) -> tuple[float, ...] | None:
    """The per-channel mean a model normalizes its [0, 1] inputs with, where it says: its
    freqbench normalization, else a timm model's ``pretrained_cfg``; None where unknown (a
    model not loaded, RobustBench's own modules). A timm border crop pads with its colour."""
    from freqbench.architectures.normalize import Normalize

    for module in model.modules() if model is not None else ():
        if isinstance(module, Normalize):
            return tuple(module.mean.flatten().tolist())
        cfg = getattr(module, "pretrained_cfg", None)
        if isinstance(cfg, dict) and cfg.get("mean"):
            return tuple(cfg["mean"])
    return None


def _dataset_for(ref: str, dataset: str | None) -> str:
    if dataset is None:
        raise UserError(f"{ref} is built for a dataset: pass --dataset")
    return dataset


def _build(architecture: str, dataset: str) -> nn.Module:
    info = get_dataset_info(dataset)
    return create_model(
        architecture, info.num_classes, info.channels, image_size=info.image_size[0],
        mean=info.mean, std=info.std,
    )  # fmt: skip


def _architecture(ref: ModelRef, dataset: str | None) -> LoadedModel:
    """A registered or timm architecture with a user's weights, or with random ones."""
    from freqbench.architectures import list_architectures

    if not ref.ref.startswith(TIMM_PREFIX) and ref.ref not in list_architectures():
        from freqbench.errors import UnknownNameError

        raise UnknownNameError("architecture", ref.ref, list_architectures())
    dataset = _dataset_for(ref.ref, dataset)
    timm = ref.ref.startswith(TIMM_PREFIX)
    short = timm_record_name(ref.ref) if timm else ref.ref
    if ref.random_init:
        with torch.random.fork_rng():
            torch.manual_seed(RANDOM_SEED)
            model = _build(ref.ref, dataset)
        transform = None
        if timm:  # the normalization of its pretrained_cfg, as its published weights have it
            mean, std = timm_normalization(model.net, get_dataset_info(dataset).channels)
            model.normalize.mean.copy_(torch.tensor(mean).view(1, -1, 1, 1))
            model.normalize.std.copy_(torch.tensor(std).view(1, -1, 1, 1))
            transform = {"normalization": {"mean": list(mean), "std": list(std)}}
        source = f"{ref.ref} (random init, seed {RANDOM_SEED})"
        return LoadedModel(
            model, f"{short}-random", source, dataset, ref.ref, transform=transform,
            weights="random",
        )  # fmt: skip
    from freqbench.atomic import sha256_of
    from freqbench.weights import fit_state_dict, load_state_dict

    model = _build(ref.ref, dataset)
    state = load_state_dict(ref.weights)
    inner = model.net  # the architecture inside freqbench's normalization wrapper
    wrapped = any(k.startswith("net.") for k in state)
    fit_state_dict(
        model if wrapped else inner, state,
        f"{ref.weights} does not fit architecture '{ref.ref}' for {dataset}",
    )  # fmt: skip
    transform = None
    if ref.normalization is not None:
        if wrapped:
            raise UserError(
                f"{ref.weights} holds freqbench's whole model, its normalization included: "
                "leave out --input-normalization"
            )
        mean, std = parse_normalization(ref.normalization, get_dataset_info(dataset).channels)
        model.normalize.mean.copy_(torch.tensor(mean).view(1, -1, 1, 1))
        model.normalize.std.copy_(torch.tensor(std).view(1, -1, 1, 1))
        transform = {"normalization": {"mean": mean, "std": std}}
    path = Path(ref.weights)
    return LoadedModel(
        model, _checkpoint_name(path), f"{ref.ref} with weights {path}", dataset, ref.ref,
        sha256=sha256_of(path), transform=transform, weights="file",
    )  # fmt: skip


def parse_normalization(text: str, channels: int) -> tuple[list[float], list[float]]:
    """``none`` (the weights take pixels in [0, 1]: mean 0, std 1) or ``MEAN/STD`` with one
    comma-separated number per channel (``0.485,0.456,0.406/0.229,0.224,0.225``)."""
    if text == "none":
        return [0.0] * channels, [1.0] * channels
    usage = (
        f"--input-normalization must be none or MEAN/STD with {channels} comma-separated "
        f"number(s) each (e.g. {'/'.join([','.join(['0.5'] * channels)] * 2)}), got '{text}'"
    )
    parts = text.split("/")
    try:
        mean, std = ([float(v) for v in part.split(",")] for part in parts)
    except ValueError:
        raise UserError(usage) from None
    if (
        len(mean) != channels
        or len(std) != channels
        or any(not math.isfinite(v) for v in (*mean, *std))
    ):
        raise UserError(usage)
    if any(s <= 0 for s in std):
        raise UserError(f"--input-normalization: std values must be > 0, got {std}")
    return mean, std


def _pretrained(ref: str, dataset: str) -> LoadedModel:
    """A timm model with its published pretrained weights (``timm:<name>@<tag>`` for a tag)."""
    from freqbench.architectures.external import timm_pretrained

    info = get_dataset_info(dataset)
    model = timm_pretrained(ref, info.num_classes, info.channels)
    return LoadedModel(model, timm_record_name(ref), ref, None, ref, weights="pretrained")


def _load_zoo_entry(name: str) -> LoadedModel:
    from freqbench.zoo import find_entry

    entry = find_entry(name)  # an architecture's name alone: says how to give it weights
    model, info = entry.load_model()
    return LoadedModel(
        model,
        entry.name,
        str(entry.path),
        entry.dataset,
        entry.architecture,
        entry.recipe,
        entry.bass_mode,
        info.sha256 if info is not None else None,
        entry.transform or None,
        dict(entry.metadata),
        weights="robustbench" if info is None else "checkpoint",
        training=(info.config or None) if info is not None else None,
    )


def _check_dataset(loaded: LoadedModel, dataset: str | None) -> None:
    if dataset is None or loaded.dataset is None:
        return
    if loaded.bass_mode == "dataset" and base_dataset(dataset) != dataset:
        raise UserError(
            f"{loaded.name} applies BaSS to its inputs itself (trained in BaSS dataset mode): "
            f"evaluate it on {base_dataset(dataset)}, not {dataset}"
        )
    if base_dataset(dataset) != base_dataset(loaded.dataset):
        raise UserError(
            f"{loaded.source} was trained on {loaded.dataset}, not {dataset}: pass --dataset "
            f"{loaded.dataset} or another model"
        )
