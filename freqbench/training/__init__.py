"""Training: ``train(TrainConfig(...), out_dir) -> TrainResult`` runs any registered recipe.

The trainer owns loops, schedules, devices, logging and checkpoints; recipes
(:mod:`freqbench.recipes`) only turn a batch into a loss.
"""

from freqbench.config import TrainConfig, load_config
from freqbench.training.data import mixup, shuffle_labels
from freqbench.training.loop import TrainResult, evaluate, train
from freqbench.training.schedule import learning_rate
from freqbench.training.setup import RunSpec, resolve

__all__ = [
    "RunSpec",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "learning_rate",
    "load_config",
    "mixup",
    "resolve",
    "shuffle_labels",
    "train",
]
