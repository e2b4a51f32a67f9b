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
import math
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from freqbench.errors import UserError

SCHEDULES = ("cosine", "piecewise")
# Float options: NaN and infinity are refused for every one of them.
_FLOAT_OPTIONS = ("lr", "momentum", "weight_decay", "eps", "bass_p", "label_shuffle", "mixup_alpha")
T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the output directory aside).

    The defaults suit the default model and data, smallcnn on Fashion-MNIST (one natural
    epoch reaches about 88% test accuracy); CIFAR configs set their own batch size and lr.

    ``eps`` defaults to the dataset's Linf budget (8/255 on CIFAR, 0.1 on Fashion-MNIST);
    it sets the recipe's attack and the PGD-10 evaluation in the training log.
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
        for name in _FLOAT_OPTIONS:
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"{name} must be a finite number, got {value}")
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got '{self.schedule}'"),
            (self.eps is None or self.eps >= 0, f"eps must be >= 0, got {self.eps}"),
            (0 <= self.label_shuffle <= 1, f"label_shuffle must be a fraction in [0, 1], got {self.label_shuffle}"),
            (self.mixup_alpha >= 0, f"mixup_alpha must be >= 0 (0 = off), got {self.mixup_alpha}"),
            (self.max_train_examples is None or self.max_train_examples >= 1,
             f"max_train_examples must be >= 1, got {self.max_train_examples}"),
            (self.eval_examples >= 0, f"eval_examples must be >= 0, got {self.eval_examples}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise UserError(message)

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
