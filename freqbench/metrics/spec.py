"""How a metric describes itself: what it reads, what it reports, and what it writes beside.

A :class:`MetricSpec` is the one place a metric is wired: the evaluator fills its options from
the protocol fields it ``reads``, keys its record block by exactly those fields, checks it
against its ``schema`` and saves its ``artifacts``. How it is shown (the leaderboard's
columns, legends and ranks, the printed headline) is its ``presentation``
(:mod:`freqbench.metrics.presentation`). Modelled on the task and metric
declarations of EleutherAI's lm-evaluation-harness.

Nothing here imports torch: declaring and listing metrics stays instant. ``compute`` may be
a function or the ``"module:function"`` that names it, imported when the metric runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from freqbench.bounds import INT64_MAX, NumberRange
from freqbench.errors import UserError
from freqbench.metrics.presentation import Presentation

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from freqbench.data import DatasetInfo

#: How a record's value of a protocol field compares with the standard protocol's value.
STANDARD_RULES = ("equal", "at_least", "any")
#: What the evaluator computes once per model and image set for every metric that needs it:
#: ``clean_predictions``, the predicted label of each of the first ``n_examples`` test images
#: (a CPU int64 tensor), so that no metric evaluates clean accuracy again.
INPUTS = ("clean_predictions",)


@dataclass(frozen=True)
class FieldContext:
    """What a protocol field's default may depend on: the dataset, the fields resolved before
    it, and the run's options (e.g. ``corruptions_dir``)."""

    info: DatasetInfo
    n_test: int
    resolved: Mapping[str, Any]  # the fields before it, by name
    options: Mapping[str, Any] = field(default_factory=dict)


Default = Any  # a value, or a callable (FieldContext) -> value


@dataclass(frozen=True)
class ProtocolField:
    """One setting of the evaluation protocol. Its value enters the key of every metric block
    that reads it, so changing it re-runs exactly those metrics."""

    name: str
    kind: type  # int, float or str
    help: str
    default: Default = None
    quick: Default = None  # the quick preset's value; None: the default
    standard: str = "equal"  # see STANDARD_RULES
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None  # None: none (INT64_MAX for an int: what torch and TOML hold)
    choices: tuple[str, ...] | None = None
    count: bool = False  # a number of test images: at most the test set, the default capped to it
    cli: bool = True  # `freqbench evaluate` has an option for it
    # The value names a model (loaded with the run's ``load_model`` option): the evaluator
    # loads it before any metric runs, so a wrong reference is said at once.
    model_reference: bool = False
    # The value under which results are those of records made before the field existed: a
    # block key leaves the field out at this value, so adding a field re-runs nothing.
    neutral: Any = None
    # What the default is, in words, where it is computed per dataset (``--help`` shows it).
    default_help: str = ""
    # A departure from the standard protocol that the field's value makes together with the
    # others' (the protocol as a record holds it): its description, or None. Judged beside
    # ``standard``, e.g. release ImageNet-C files resized for a model of another input size.
    deviation: Callable[[Mapping[str, Any]], str | None] | None = None

    def __post_init__(self) -> None:
        if self.standard not in STANDARD_RULES:
            raise ValueError(f"field {self.name}: standard must be one of {STANDARD_RULES}")

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe_default(self) -> str:
        """The default as ``--help`` states it: ``default_help``, or the value and the quick
        preset's value; "" when there is none to state."""
        if self.default_help:
            return self.default_help
        if self.default is None or callable(self.default):
            return ""
        quick = (
            f"; quick: {self.quick}" if self.quick is not None and not callable(self.quick) else ""
        )
        return f"{self.default}{quick}"

    def default_for(self, context: FieldContext, quick: bool = False) -> Any:
        chosen = self.quick if quick and self.quick is not None else self.default
        return chosen(context) if callable(chosen) else chosen

    @property
    def allowed(self) -> NumberRange | None:
        """A numeric field's type and bounds (None for a str field): what ``check`` and the
        field's ``freqbench evaluate`` option accept."""
        if self.kind not in (int, float):
            return None
        maximum = INT64_MAX if self.kind is int and self.maximum is None else self.maximum
        return NumberRange(self.kind, self.minimum, maximum, self.exclusive_minimum)

    def check(self, value: Any) -> Any:
        """The value with its type checked; a UserError says what is wrong and what is allowed."""
        if value is None:
            if self.kind is str and not self.choices:
                return None
            raise UserError(f"{self.option} needs a value")
        if self.allowed is not None:
            return self.allowed.check(value, self.option)
        if not isinstance(value, self.kind):
            raise UserError(f"{self.option} must be {self.kind.__name__}, got {value!r}")
        if self.choices and value not in self.choices:
            raise UserError(
                f"{self.option} must be one of {', '.join(self.choices)}, got '{value}'"
            )
        return value

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": {int: "integer", float: "number", str: "string"}[self.kind],
            "description": self.help,
        }
        if self.kind is str and not self.choices:
            schema["type"] = ["string", "null"]
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


ArtifactWriter = Callable[["np.ndarray", "Path", Mapping[str, Any]], None]


@dataclass(frozen=True)
class Artifact:
    """A file written beside the record from one of the metric's arrays.

    ``write(array, path, context)`` gets the array, the file to write (atomically, e.g. with
    :func:`freqbench.atomic.atomic_path`, so a kill never leaves half a file) and a context
    (``name``: the record's name, ``values``: the metric's block).
    A figure artifact (``caption`` set) is shown on each model's card of the HTML page.
    """

    key: str  # the record's ``artifacts`` key
    suffix: str  # the file is <record name>.<suffix>
    array: str  # the MetricResult array it is made from
    write: ArtifactWriter | str
    caption: str = ""  # card figure caption; empty: not a figure
    alt: str = ""  # alt text, followed by the model's name
    missing: str = ""  # shown on a card when the file is absent
    # An (H, W) array, one value per pixel of the model's input: readers check its shape.
    pixel_map: bool = False


@dataclass(frozen=True)
class Flag:
    """A warning a metric raises about its own result (e.g. AutoAttack's gradient-masking checks):
    leaderboards name it in the row's notes and explain it once in the legend."""

    name: str
    legend: str
    raised: Callable[[Mapping[str, Any]], bool]


Shard = tuple[int, int]  # (index, count): the index-th of count parts


def shard_range(total: int, shard: Shard | None) -> range:
    """The ``shard``'s contiguous part of ``range(total)``: parts differ in size by at most
    one, in order; the whole range without a shard."""
    if shard is None:
        return range(total)
    index, count = shard
    return range(total * index // count, total * (index + 1) // count)


@dataclass
class MetricResult:
    """Plain JSON-ready numbers, plus arrays (e.g. a heat map) that artifacts are made from."""

    values: dict[str, Any]
    arrays: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """A metric's declaration. See the module docstring and CONTRIBUTING.md."""

    name: str
    description: str
    version: str  # bump when the numbers change: records' blocks of older versions re-run
    compute: Callable[..., MetricResult | dict[str, Any]] | str
    reads: tuple[str, ...] = ()  # protocol fields that change its result
    fields: tuple[ProtocolField, ...] = ()  # protocol fields it introduces
    images: str | None = "n_examples"  # the count field: how many first test images it gets
    artifacts: tuple[Artifact, ...] = ()
    schema: Mapping[str, Any] | None = None  # JSON Schema of its block
    # How the pages and printouts show it (its columns, legends, ranks): nothing there
    # changes a number.
    presentation: Presentation = field(default_factory=Presentation)
    # Sharding: ``compute(..., shard=(i, n))`` computes the i-th of n parts, and ``merge``
    # joins the parts (in order) into the result. None: the metric runs as one task.
    merge: Callable[[list[MetricResult]], MetricResult] | None = None
    # With ``merge``: how many units of work there are (images, bases, cells) for the resolved
    # protocol (read by field name) and the dataset; a block is split into at most that many parts.
    units: Callable[[Mapping[str, Any], DatasetInfo], int] | None = None
    # Inputs computed once per model and image set and handed to every metric that names them
    # (see INPUTS): ``compute`` gets them as keyword arguments of the same name.
    needs: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()
    # What a stored block's numbers must satisfy beyond its schema, as a list of problems
    # (e.g. accuracies that are their counts over n: :mod:`freqbench.metrics.counts`); a
    # block with a problem is not reused, and validate and the leaderboard name it.
    check: Callable[[Mapping[str, Any]], list[str]] | None = None
    nan_allowed: bool = False  # NaN marks a number with no meaning (else a record is refused)
    order: int = 1000  # position among metrics: built-ins 10..50, plugins after
    # Run by ``--metrics all`` and shown by a board without leaderboard.toml; False for a
    # metric that needs files only some runs have (ImageNet-3DCC's release): named only.
    by_default: bool = True

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"metric name '{self.name}' must hold letters, digits, - and _ only")
        own = {f.name for f in self.fields}
        if self.images is not None and self.images not in {*self.reads, *own}:
            raise ValueError(f"metric {self.name}: images field '{self.images}' is not read")
        if not own <= set(self.reads):
            raise ValueError(f"metric {self.name}: declared fields must also be in reads")
        if self.merge is not None and self.units is None:
            raise ValueError(f"metric {self.name}: a metric with merge must declare its units")
        unknown = [n for n in self.needs if n not in INPUTS]
        if unknown:
            raise ValueError(
                f"metric {self.name}: needs {unknown}, but the shared inputs are {list(INPUTS)}"
            )

    def block_schema(self) -> dict[str, Any]:
        return dict(self.schema) if self.schema is not None else {"type": "object"}


# Building blocks of metric block schemas.
FRACTION: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
#: An object keyed by a radius or a percentage written as ``f"{r:g}"`` (JSON keys are text).
BY_RADIUS: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": r"^[0-9]+(\.[0-9]+)?$"},
    "minProperties": 1,
}


def percent(value: float | None) -> str:
    """A fraction as the printed summaries show it: ``0.8143`` -> ``81.43%``."""
    return "-" if value is None else f"{100 * value:.2f}%"


def format_eps(eps: float) -> str:
    """eps as papers write it: a short decimal as is (0.1, 1.5, 0.2), and a long one that is
    k/255 as "8/255". RobustBench's ``model_info`` and every page use this one form."""
    text = f"{eps:g}"
    k = eps * 255
    if len(text) > 5 and abs(k - round(k)) < 1e-6 and round(k) >= 1:
        return f"{round(k)}/255"
    return text
