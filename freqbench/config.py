"""Training configs: the :class:`TrainConfig` dataclass, and TOML files that set any of its options.

A TOML file holds the trainer's options at the top level (the CLI's flags, with dashes as
underscores) and the recipe's own options in a ``[recipe_options]`` table::

    recipe = "trades+bass"
    epochs = 10
    [recipe_options]
    beta = 6.0

Unknown keys and values of the wrong type are errors that name the key and the file; so is
invalid TOML, with the line and column tomllib reports.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from freqbench.bounds import FRACTION, INT64_MAX, PROBABILITY, NumberRange
from freqbench.errors import UserError

SCHEDULES = ("cosine", "piecewise")
#: The range of each numeric option (NaN and infinity are refused for every float); the
#: ``train`` command's flags are parsed with the same.
RANGES: dict[str, NumberRange] = {
    "epochs": NumberRange(int, 1, INT64_MAX),
    "batch_size": NumberRange(int, 1, INT64_MAX),
    "lr": NumberRange(float, 0, exclusive_minimum=True),
    "momentum": NumberRange(float, 0, 1, exclusive_maximum=True),
    "weight_decay": NumberRange(float, 0),
    "seed": NumberRange(int, 0, INT64_MAX),
    # A radius; its threat model's bound on the dataset is checked with the run (L2 and L1
    # radii exceed 1).
    "eps": NumberRange(float, 0),
    "bass_p": PROBABILITY,
    "label_shuffle": FRACTION,
    "mixup_alpha": NumberRange(float, 0),
    "max_train_examples": NumberRange(int, 1, INT64_MAX),
    "eval_examples": NumberRange(int, 0, INT64_MAX),
}
T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the output directory aside).

    The defaults suit the default model and data, smallcnn on Fashion-MNIST (one natural
    epoch reaches about 88% test accuracy); CIFAR configs set their own batch size and lr.

    ``threat_model`` is the ball the recipe attacks in and the training log's PGD-10
    evaluates (None: Linf; L2 needs a recipe that supports it, e.g. pgd-at); ``eps``
    defaults to the dataset's radius under it (Linf 8/255 on CIFAR, 0.1 on Fashion-MNIST).
    ``bass_mode`` / ``bass_p`` apply to ``+bass`` recipes only. ``label_shuffle`` is the
    fraction of training labels permuted among themselves and ``mixup_alpha`` the mixup
    Beta parameter (0 = off), the options of Wang et al. (CVPR 2020); labels are shuffled
    once with ``seed``, and mixup acts on each batch before the recipe (and BaSS) sees it.
    ``eval_examples`` is the size of the fixed test slice (the first images) evaluated with
    clean and PGD-10 accuracy after every epoch; 0 skips the evaluation.
    """

    architecture: str = "smallcnn"
    recipe: str = "natural"
    dataset: str = "fashion-mnist"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "piecewise"] = "cosine"
    seed: int = 0
    device: str = "auto"  # CUDA when torch sees a GPU, else the CPU
    eps: float | None = None
    threat_model: str | None = None
    bass_mode: Literal["augment", "dataset"] | None = None
    bass_p: float | None = None
    label_shuffle: float = 0.0
    mixup_alpha: float = 0.0
    data_dir: str | None = None
    max_train_examples: int | None = None
    eval_examples: int = 500
    recipe_options: dict[str, Any] = field(default_factory=dict)
    # Where the config came from, for error messages; not an option.
    source: str = field(
        default="train config", compare=False, repr=False, metadata={"option": False}
    )

    def __post_init__(self) -> None:
        for name, allowed in RANGES.items():
            if getattr(self, name) is not None:
                allowed.check(getattr(self, name), name)
        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule must be one of {SCHEDULES}, got '{self.schedule}'")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated again), e.g. CLI flags over a file."""
        return dataclasses.replace(self, **changes)


def load_config(path: str | Path) -> TrainConfig:
    """Read a TOML training config; errors name the file (and the line, for syntax errors)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    config = from_mapping(TrainConfig, data, str(path))
    return config.replace(source=str(path))


def check_keys(data: Mapping[str, Any], known: Sequence[str], source: str) -> None:
    """A UserError naming the first unknown key of ``data``, a close match and the known keys."""
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UserError(
                f"{source}: unknown key '{key}'.{hint} Known keys: {', '.join(known) or 'none'}"
            )


def from_mapping(cls: type[T], data: Mapping[str, Any], source: str) -> T:
    """Build dataclass ``cls`` from ``data``, checking every key and value type against it."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    known = [f.name for f in fields if f.init and f.metadata.get("option", True)]
    check_keys(data, known, source)
    values = {key: _coerce(value, hints[key], key, source) for key, value in data.items()}
    try:
        return cls(**values)
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """``value`` as type ``hint`` (ints are accepted as floats, never bools as numbers)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        members = [a for a in args if a is not type(None)]
        if value is None:
            return None
        if len(members) == 1:
            return _coerce(value, members[0], key, source)
    if origin is Literal:
        if value in args:
            return value
        raise UserError(f"{source}: key '{key}' must be one of {list(args)}, got {value!r}")
    expected = origin or hint
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool):
        return value
    raise UserError(
        f"{source}: key '{key}' must be of type {getattr(expected, '__name__', expected)}, "
        f"got {value!r} ({type(value).__name__})"
    )
