"""Models from other libraries: any timm model, and RobustBench's zoo loaded by its own code."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.errors import UnknownNameError, UserError

if TYPE_CHECKING:
    from torch import nn

TIMM_PREFIX = "timm:"
#: Seconds one request to the Hugging Face hub may take before it counts as unreachable.
HUB_PROBE_SECONDS = 5
ROBUSTBENCH_PREFIX = "robustbench:"


class UnknownExternalNameError(UnknownNameError):
    """An unknown name of another library's long list: the close matches and how to list
    them, never the list itself."""

    def __init__(self, kind: str, name: str, known: Iterable[str], how_to_list: str):
        super().__init__(kind, name, known)
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        self.args = (f"unknown {kind} '{name}'.{hint} {how_to_list}",)


def parse_timm_name(ref: str) -> tuple[str, str | None]:
    """The architecture and pretrained tag of ``timm:<name>[@<tag>]`` (or timm's own spelling,
    ``timm:<name>.<tag>``): the one reading of a timm name wherever freqbench takes one."""
    body = ref.removeprefix(TIMM_PREFIX)
    name, separator, tag = body.partition("@" if "@" in body else ".")
    if not name or "." in name or (separator and not tag) or "@" in tag:
        raise UserError(
            f"'{ref}' is not a timm model name: write timm:<name> or timm:<name>@<tag>, e.g. "
            "timm:resnet50 or timm:resnet50@a1_in1k"
        )
    return name, tag or None


def timm_record_name(ref: str) -> str:
    """The record name of a timm model: ``<name>`` or ``<name>-<tag>``, however it is spelled."""
    name, tag = parse_timm_name(ref)
    return f"{name}-{tag}" if tag else name


#: timm's model names and pretrained tags, for the pinned release (scripts/snapshot_timm_names.py):
#: a name is checked, with close matches, before torch and timm are imported.
TIMM_NAMES = Path(__file__).with_name("timm_names.json")


@functools.cache
def timm_names() -> tuple[frozenset[str], tuple[str, ...]]:
    """timm's model names and ``<name>.<tag>`` pretrained names: from the snapshot when the
    installed timm is the release it was taken from (no import), else from timm itself."""
    snapshot = json.loads(TIMM_NAMES.read_text(encoding="utf-8"))
    try:
        installed = importlib.metadata.version("timm")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed == snapshot["timm"]:
        return frozenset(snapshot["models"]), tuple(snapshot["pretrained"])
    import timm

    return frozenset(timm.list_models()), tuple(timm.list_pretrained())


def check_timm_name(ref: str) -> str:
    """timm's name (``<name>`` or ``<name>.<tag>``) of a timm model that exists, with a tag
    timm publishes; unknown names and tags get the close matches and how to list them."""
    name, tag = parse_timm_name(ref)
    models, pretrained = timm_names()
    if name not in models:
        pattern = f"*{name[:4]}*" if len(name) >= 4 else "*"
        raise UnknownExternalNameError(
            "timm model",
            name,
            sorted(models),
            f"List timm's models with: python -c \"import timm; print(timm.list_models('{pattern}'))\"",
        )
    if tag is None:
        return name
    tags = [full.partition(".")[2] for full in pretrained if full.partition(".")[0] == name]
    if tag not in tags:
        raise UnknownExternalNameError(
            f"pretrained tag of timm:{name}",
            tag,
            tags,
            f"List them with: python -c \"import timm; print(timm.list_pretrained('{name}.*'))\"",
        )
    return f"{name}.{tag}"


def timm_normalization(net: nn.Module, in_channels: int) -> tuple[tuple[float, ...], ...]:
    """The (mean, std) of a timm model's ``pretrained_cfg``, what its weights are trained with
    and its test transform assumes (ImageNet's for many, (0.5, 0.5, 0.5) for inception_v3, ViT
    augreg, BEiT, ...): the mean over channels for another channel count, else none."""
    mean, std = net.pretrained_cfg.get("mean"), net.pretrained_cfg.get("std")
    if mean is None or std is None or len(mean) != in_channels:
        mean = (sum(mean) / len(mean),) * in_channels if mean else (0.0,) * in_channels
        std = (sum(std) / len(std),) * in_channels if std else (1.0,) * in_channels
    return tuple(mean), tuple(std)


def timm_model(name: str, num_classes: int, in_channels: int) -> nn.Module:
    """A timm architecture with freshly initialised weights (``--weights`` fills them); a tag
    picks its ``pretrained_cfg`` (normalization, test transform)."""
    import timm

    return timm.create_model(
        check_timm_name(name), pretrained=False, num_classes=num_classes, in_chans=in_channels
    )


def timm_pretrained(ref: str, num_classes: int, in_channels: int) -> nn.Module:
    """``timm:<name>[@<tag>]`` with its published weights (timm's own download and cache),
    wrapped with the normalization its weights were trained with."""
    import timm

    from freqbench.architectures.normalize import NormalizedModel

    full = check_timm_name(ref)
    try:
        try:  # from the cache, without a request: a machine without network fails at once
            with _hub_offline():
                net = timm.create_model(full, pretrained=True, in_chans=in_channels)
        except Exception:
            why = _unreachable_hub()  # one request, no retries
            if why is not None:
                raise UserError(_no_weights(ref, why)) from None
            with _hub_quiet():
                net = timm.create_model(full, pretrained=True, in_chans=in_channels)
    except UserError:
        raise
    except Exception as exc:  # an unknown tag, a broken cache, a download cut short
        text = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise UserError(_no_weights(ref, f"{type(exc).__name__}: {text}")) from None
    if net.num_classes != num_classes:
        raise UserError(
            f"the pretrained weights of {ref} classify {net.num_classes} classes, the dataset "
            f"has {num_classes}: fine-tune it and pass your weights with --weights PATH"
        )
    return NormalizedModel(net, *timm_normalization(net, in_channels))


def _no_weights(ref: str, why: str) -> str:
    """What failed, where the weights would go, and the two ways on without them."""
    import torch
    from huggingface_hub.constants import HF_HUB_CACHE

    return (
        f"could not get the pretrained weights of {ref} ({why}). Without network, place them in "
        f"the Hugging Face cache ({HF_HUB_CACHE}) or torch's ({torch.hub.get_dir()}/checkpoints) "
        "as timm downloads them; or load your own weights with --weights PATH, or evaluate "
        "random weights with --random-init"
    )


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """huggingface_hub answers from its cache only (as HF_HUB_OFFLINE=1 does, for this call)."""
    from huggingface_hub import constants

    before, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


@contextlib.contextmanager
def _hub_quiet() -> Iterator[None]:
    """huggingface_hub's retry warnings (a block per retry) kept to freqbench's one line."""
    hub = logging.getLogger("huggingface_hub")
    before = hub.level
    hub.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub.setLevel(before)


def _unreachable_hub() -> str | None:
    """Why the Hugging Face endpoint cannot be reached, from one request of at most
    :data:`HUB_PROBE_SECONDS`; None when it answers."""
    import requests
    from huggingface_hub.constants import ENDPOINT

    try:
        requests.head(ENDPOINT, timeout=HUB_PROBE_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        return f"{ENDPOINT} cannot be reached: {type(exc).__name__}, one attempt"
    return None


def default_model_dir() -> Path:
    return Path(
        os.environ.get("FREQBENCH_MODEL_DIR", Path.home() / ".cache" / "freqbench" / "models")
    )


def parse_robustbench_name(name: str) -> tuple[str, str, str]:
    """``robustbench:cifar10/Linf/Standard`` -> (dataset, threat_model, model name)."""
    parts = name.removeprefix(ROBUSTBENCH_PREFIX).split("/")
    if len(parts) != 3 or not all(parts):
        raise UserError(
            f"'{name}' is not a RobustBench id: write robustbench:<dataset>/<threat_model>/<Name>, "
            "e.g. robustbench:cifar10/Linf/Standard"
        )
    return parts[0], parts[1], parts[2]


def robustbench_weight_files(
    folder: Path, model_name: str, entry: dict[str, Any]
) -> list[tuple[Path, str]]:
    """The files ``robustbench.utils.load_model`` (1.1.1) reads from ``folder``, with their
    Google Drive ids: ``<Name>.pt``, or for an ensemble ``<Name>.pt_m0.pt``, ``<Name>.pt_m1.pt``,
    ... (robustbench appends ``_m<i>.pt`` to the single-model file name)."""
    ids = entry.get("gdrive_id")
    single = folder / f"{model_name}.pt"
    if ids is None:
        return []
    if isinstance(ids, list):
        return [(Path(f"{single}_m{i}.pt"), gid) for i, gid in enumerate(ids)]
    return [(single, ids)]


def hub_loader(dataset: str, threat_model: str, model_name: str) -> str | None:
    """The hub robustbench loads an entry from instead of its own weight files: "timm" for
    the entries timm registers, "torchvision" for ImageNet's Standard ones, else None."""
    import timm

    timm_name = f"{model_name.lower().replace('-', '_')}_{dataset.lower()}_{threat_model.lower()}"
    if timm.is_model(timm_name):
        return "timm"
    if dataset == "imagenet" and "Standard" in model_name:
        return "torchvision"
    return None


def _files_read(
    directory: Path, dataset: str, threat_model: str, model_name: str, zoo: dict[str, Any]
) -> list[tuple[Path, str]]:
    """The weight files ``robustbench.utils.load_model`` reads for an entry of ``zoo`` (none
    for an entry it loads from a hub)."""
    if hub_loader(dataset, threat_model, model_name):
        return []
    folder = directory / dataset / threat_model
    return robustbench_weight_files(folder, model_name, zoo[model_name])


def zoo_weights_table() -> dict[str, dict[str, dict[str, Any]]]:
    """For every entry of the installed robustbench's zoo (``model_dicts``): the weight files
    it reads, relative to the model folder, and where they come from. The board key is
    ``<dataset>/<threat_model>``; ImageNet's corruptions_3d board loads the corruptions
    entries, as robustbench does."""
    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.model_zoo import model_dicts

    table: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset_enum, by_threat in model_dicts.items():
        for threat_enum, zoo in by_threat.items():
            dataset, threat = dataset_enum.value, threat_enum.value
            board = {}
            for model_name in sorted(zoo):
                files = _files_read(Path("."), dataset, threat, model_name, zoo)
                hub = hub_loader(dataset, threat, model_name)
                board[model_name] = {
                    "files": [path.as_posix() for path, _ in files],
                    "source": hub or ("Google Drive" if files else "none"),
                }
            table[f"{dataset}/{threat}"] = board
    if "imagenet/corruptions" in table:
        table["imagenet/corruptions_3d"] = table["imagenet/corruptions"]
    return table


def _download(files: list[tuple[Path, str]], name: str, rb_utils: Any) -> None:
    """Fetch the missing files with robustbench's own downloader (gdown), so that freqbench
    checks them before robustbench reads them."""
    for path, gid in files:
        if path.is_file():
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            rb_utils.download_gdrive_new(gid, path)
            detail = "" if path.is_file() else " (nothing was downloaded)"
        except Exception as exc:  # no network, quota, a moved file: gdown raises many kinds
            detail = f" ({_gist(exc)})"
        if detail:
            raise UserError(
                f"could not download the weights of {name}{detail}. Without network, place "
                f"{_describe(files)} there yourself{_misnamed_hint(files)}"
            ) from None


def _gist(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _describe(files: list[tuple[Path, str]]) -> str:
    paths = [str(path) for path, _ in files]
    if len(paths) == 1:
        return f"the file {paths[0]}"
    return f"the {len(paths)} files of the ensemble, {', '.join(paths)},"


def _misnamed_hint(files: list[tuple[Path, str]]) -> str:
    """Ensemble files named ``<Name>_m0.pt`` are never read: robustbench wants ``<Name>.pt_m0.pt``."""
    if len(files) < 2:
        return ""
    first = files[0][0]
    misnamed = first.parent / first.name.replace(".pt_m", "_m")
    if not misnamed.is_file():
        return ""
    return (
        f"; {misnamed.name} is there, but robustbench names an ensemble's files "
        f"{first.name}, {files[1][0].name}, ...: rename them"
    )


def robustbench_preprocessing(name: str) -> str | None:
    """The preprocessing RobustBench applies to an ImageNet entry's inputs, as a freqbench
    name (None for 32 px datasets, which it feeds as they are). Follows
    ``robustbench.data.get_preprocessing``: a timm-registered entry gets Resize(floor(size /
    crop_pct)) and a centre crop from its timm config (read from timm's registry, where
    robustbench builds the model to read it: the same values for all six such entries,
    without building a second copy of a model the loader builds already), any other the
    zoo's named one."""
    from freqbench.compat import import_robustbench
    from freqbench.data import get_dataset_info, list_datasets

    dataset, threat_model, model_name = parse_robustbench_name(name)
    if dataset not in list_datasets() or get_dataset_info(dataset).default_preprocessing is None:
        return None  # a dataset held as tensors: its files are the model's input
    import_robustbench()
    import timm
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    from freqbench.data.preprocessing import DEFAULT, TimmConfig

    timm_name = f"{model_name.lower().replace('-', '_')}_{dataset}_{threat_model.lower()}"
    if timm.is_model(timm_name):
        cfg = timm.models.get_pretrained_cfg(timm_name)
        return TimmConfig(cfg.input_size[1], cfg.crop_pct, "center", cfg.interpolation).name
    threat = ThreatModel(threat_model.replace("_3d", ""))
    entry = model_dicts[BenchmarkDataset(dataset)][threat].get(model_name, {})
    return entry.get("preprocessing") or DEFAULT  # robustbench's load_imagenet default


def robustbench_model(name: str, model_dir: str | Path | None = None) -> nn.Module:
    """Load with ``robustbench.utils.load_model``: offline when its weight files exist.

    Every file robustbench will ``torch.load`` (``<dir>/<ds>/<tm>/<Name>.pt``, or each
    ``<Name>.pt_m<i>.pt`` of an ensemble) is fetched first if missing and read with
    ``torch.load(weights_only=True)``: a pickle that would run code is refused before
    robustbench ever reads it.
    """
    from freqbench.compat import import_robustbench

    rb_utils = import_robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    from freqbench.weights import holds_tensors, load_torch_file

    dataset, threat_model, model_name = parse_robustbench_name(name)
    try:
        dataset_enum, threat_enum = BenchmarkDataset(dataset), ThreatModel(threat_model)
    except ValueError:
        raise UserError(
            f"unknown RobustBench dataset/threat model '{dataset}/{threat_model}': datasets are "
            f"{[d.value for d in BenchmarkDataset]}, threat models {[t.value for t in ThreatModel]}"
        ) from None
    threat_enum = ThreatModel(threat_enum.value.replace("_3d", ""))  # as robustbench does
    zoo = model_dicts[dataset_enum].get(threat_enum, {})
    if model_name not in zoo:
        raise UnknownExternalNameError(
            "RobustBench model",
            model_name,
            zoo,
            f"RobustBench's {dataset}/{threat_enum.value} zoo has {len(zoo)} models, listed at "
            "https://robustbench.github.io",
        )
    directory = Path(model_dir) if model_dir else default_model_dir()
    files = _files_read(directory, dataset_enum.value, threat_enum.value, model_name, zoo)
    _download(files, name, rb_utils)
    for path, _ in files:
        checkpoint = load_torch_file(path)  # refuses a code-carrying pickle before robustbench
        if not holds_tensors(checkpoint):
            raise UserError(
                f"{path} holds no tensors (found {type(checkpoint).__name__}): it is not the "
                f"weights of {name}. Replace it with the file robustbench publishes"
            )
    try:
        return rb_utils.load_model(model_name, str(directory), dataset, threat_model).eval()
    except Exception as exc:  # robustbench's loader fails with anything from OSError to KeyError
        what = _describe(files) if files else "its weights"
        raise UserError(
            f"could not load {name} from {directory} ({_gist(exc)}): check that {what} "
            "hold robustbench's published weights"
        ) from None
