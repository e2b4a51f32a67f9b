"""Models from other libraries: any timm model, and RobustBench's zoo loaded by its own code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.errors import UnknownNameError, UserError

if TYPE_CHECKING:
    from torch import nn

TIMM_PREFIX = "timm:"
ROBUSTBENCH_PREFIX = "robustbench:"


def timm_model(name: str, num_classes: int, in_channels: int) -> nn.Module:
    import timm

    timm_name = name.removeprefix(TIMM_PREFIX)
    if not timm.is_model(timm_name):
        raise UnknownNameError("timm model", timm_name, timm.list_models())
    return timm.create_model(
        timm_name, pretrained=False, num_classes=num_classes, in_chans=in_channels
    )


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


def robustbench_model(name: str, model_dir: str | Path | None = None) -> nn.Module:
    """Load with ``robustbench.utils.load_model``: offline when ``<dir>/<ds>/<tm>/<Name>.pt`` exists.

    The file is first opened with ``torch.load(weights_only=True)``, so a pickle that would run
    code is refused before robustbench (which relies on torch's default) ever reads it.
    """
    from freqbench.compat import import_robustbench

    rb_utils = import_robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    dataset, threat_model, model_name = parse_robustbench_name(name)
    try:
        dataset_enum, threat_enum = BenchmarkDataset(dataset), ThreatModel(threat_model)
    except ValueError:
        raise UserError(
            f"unknown RobustBench dataset/threat model '{dataset}/{threat_model}': datasets are "
            f"{[d.value for d in BenchmarkDataset]}, threat models {[t.value for t in ThreatModel]}"
        ) from None
    zoo = model_dicts[dataset_enum].get(threat_enum, {})
    if model_name not in zoo:
        raise UnknownNameError("RobustBench model", model_name, zoo)
    directory = Path(model_dir) if model_dir else default_model_dir()
    weights = directory / dataset / threat_model / f"{model_name}.pt"
    if weights.is_file():
        from freqbench.checkpoints import load_state_dict

        load_state_dict(weights)  # refuses a code-carrying pickle before robustbench reads it
    try:
        return rb_utils.load_model(model_name, str(directory), dataset, threat_model).eval()
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"could not load {name} from {directory}: {exc}. Without network, place the weights at "
            f"{directory / dataset / threat_model / (model_name + '.pt')}"
        ) from None
