"""The protocol fields every evaluation has, whatever metrics it runs.

They are declared here, beside the metric declarations, so that the metric registry can
check a plugin's own fields against them when it loads (:mod:`freqbench.protocol` resolves
them all).
"""

from __future__ import annotations

from freqbench.metrics.spec import FieldContext, ProtocolField
from freqbench.threat_models import DEFAULT, bounded_names, get_threat_model


def _dataset_eps(context: FieldContext) -> float:
    return get_threat_model(context.resolved["norm"]).eps(context.info)


def _preprocessing(context: FieldContext) -> str | None:
    """The model's own preprocessing of image files, else the dataset's (None: a dataset held
    as tensors, which is used as it is)."""
    if context.info.default_preprocessing is None:
        return None
    return context.options.get("preprocessing") or context.info.default_preprocessing


CORE_FIELDS = (
    ProtocolField(
        "norm", str, "the norm ball the attacks stay in: a bounded threat model",
        default=DEFAULT, choices=bounded_names(), standard="any",
    ),
    ProtocolField(
        "eps", float, "attack radius (default: the dataset's for the norm)", default=_dataset_eps,
        minimum=0, exclusive_minimum=True,
    ),
    ProtocolField(
        "n_examples", int, "first N test images for clean, corruption and frequency metrics",
        default=lambda context: context.n_test, standard="at_least", minimum=1, count=True,
        default_help="the whole test set",
    ),
    ProtocolField("seed", int, "seed of AutoAttack, corruptions and the heat map", default=0, minimum=0),
    ProtocolField("batch_size", int, "images per forward pass", default=500, minimum=1, standard="any"),
    ProtocolField(
        "shards", int, "parts each shardable metric is split into (AutoAttack by images, the "
        "heat map by bases, corruptions by cells); AutoAttack's result depends on the layout",
        default=1, minimum=1, standard="any", neutral=1,
    ),
    ProtocolField(
        "preprocessing", str, "how image files become model inputs (ImageNet): a RobustBench "
        "name (Res256Crop224, BicubicRes256Crop224, Crop288, Res224) or "
        "timm:size=S,crop_pct=P,crop_mode=M,interpolation=I[,fill=R/G/B]", default=_preprocessing,
        standard="any", default_help="the model's published preprocessing, else Res256Crop224",
    ),
)  # fmt: skip
