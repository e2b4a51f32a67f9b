"""A grid file: which models to train and evaluate, with one training budget for all of them.

``model_zoo/<dataset>/grid.toml`` crosses an architecture with a list of recipes, each
trained plain and with BaSS under the same ``[training]`` options (so a BaSS delta compares
like with like), and adds kernel-smoothed copies of trained rows (no training)::

    dataset = "fashion-mnist"
    architecture = "smallcnn"
    recipes = ["natural", "pgd-at"]     # run order
    bass = [false, true]
    reference = "natural"               # filter-shift reference (its plain row)

    [training]                          # TrainConfig options, shared by every row
    epochs = 1

    [recipe_options.pgd-at]             # applies to pgd-at and pgd-at+bass alike
    steps = 5

    [[smoothed]]
    of = "natural"
    rho = 0.25

Every mistake (unknown key, recipe, option; a smoothed row of a recipe not in the grid) is a
:class:`~freqbench.errors.UserError` naming the file, found before anything is trained.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqbench.config import TrainConfig, check_keys, from_mapping
from freqbench.errors import UnknownNameError, UserError
from freqbench.recipes import get_recipe
from freqbench.training import resolve
from freqbench.zoo import read_toml

GRID_KEYS = (
    "dataset", "architecture", "recipes", "bass", "reference", "protocol",
    "training", "recipe_options", "smoothed", "metadata",
)  # fmt: skip
SMOOTHED_KEYS = ("of", "rho", "layers")
# Set by the grid itself, per row; a [training] table may not override them.
ROW_OPTIONS = ("architecture", "dataset", "recipe", "recipe_options")
PROTOCOLS = ("standard", "quick")  # quick: a cheap trial; its records are non-standard


@dataclass(frozen=True)
class GridRow:
    """One model of the grid: trained with ``config``, or a smoothed copy of row ``source``."""

    name: str
    recipe: str
    config: TrainConfig | None = None
    source: str | None = None
    smooth: dict[str, Any] | None = None
    reference: str | None = None

    @property
    def trained(self) -> bool:
        return self.config is not None


@dataclass(frozen=True)
class GridSpec:
    path: Path
    dataset: str
    architecture: str
    protocol: str
    rows: tuple[GridRow, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str | None:
        """The row every other row's filter shift is measured against."""
        return next((row.reference for row in self.rows if row.reference), None)

    def row(self, name: str) -> GridRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise UnknownNameError("grid row", name, [r.name for r in self.rows])


def row_name(architecture: str, recipe: str) -> str:
    """``smallcnn`` + ``pgd-at+bass`` -> ``smallcnn-pgd-at-bass`` (zoo names are file names)."""
    return f"{architecture}-{recipe.replace('+', '-')}"


def smoothed_name(architecture: str, recipe: str, rho: float) -> str:
    return f"{row_name(architecture, recipe)}-smooth{rho:g}"


def _not_listed(key: str, name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"{key} names '{name}', which is not one of this grid's recipes ({', '.join(choices)}).{hint}"


def _require(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise UserError(f"{where}: missing key '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise UserError(f"{where}: '{key}' must be of type {kind.__name__}, got {value!r}")
    return value


def _recipes(data: dict[str, Any], where: str) -> list[str]:
    recipes = _require(data, "recipes", list, where)
    if not recipes or not all(isinstance(r, str) for r in recipes):
        raise UserError(f"{where}: 'recipes' must be a non-empty list of recipe names")
    for recipe in recipes:
        if recipe.endswith("+bass"):
            raise UserError(
                f"{where}: list plain recipes ('{recipe.removesuffix('+bass')}') and set "
                "bass = [false, true]; the grid makes the +bass twins"
            )
        try:
            get_recipe(recipe)
        except UserError as exc:  # unknown names come with suggestions
            raise UserError(f"{where}: {exc}") from None
    if len(set(recipes)) != len(recipes):
        raise UserError(f"{where}: 'recipes' lists a recipe twice")
    return recipes


def _bass(data: dict[str, Any], where: str) -> list[bool]:
    bass = data.get("bass", [False])
    if not isinstance(bass, list) or not bass or not all(isinstance(b, bool) for b in bass):
        raise UserError(f"{where}: 'bass' must be a list of true/false, e.g. [false, true]")
    return sorted(set(bass))


def _training_options(data: dict[str, Any], where: str) -> dict[str, Any]:
    training = data.get("training", {})
    for key in ROW_OPTIONS:
        if key in training:
            raise UserError(
                f"{where}: [training] may not set '{key}': the grid sets it per row "
                "(top-level keys and [recipe_options.<recipe>])"
            )
    return training


def _smoothed_rows(
    data: dict[str, Any],
    architecture: str,
    trained: dict[str, GridRow],
    reference: str | None,
    where: str,
) -> list[GridRow]:
    rows = []
    for i, item in enumerate(data.get("smoothed", [])):
        at = f"{where}: [[smoothed]] #{i + 1}"
        check_keys(item, SMOOTHED_KEYS, at)
        of = _require(item, "of", str, at)
        source = trained.get(row_name(architecture, of))
        if source is None:
            raise UserError(f"{at}: {_not_listed('of', of, [r.recipe for r in trained.values()])}")
        rho = item.get("rho")
        if isinstance(rho, bool) or not isinstance(rho, int | float) or rho <= 0:
            raise UserError(f"{at}: 'rho' must be a number > 0 (the Gaussian's sigma), got {rho!r}")
        layers = item.get("layers", "first")
        if layers not in ("first", "all") and not (
            isinstance(layers, list) and layers and all(isinstance(n, str) for n in layers)
        ):
            raise UserError(
                f'{at}: \'layers\' must be "first", "all" or a list of module names, got {layers!r}'
            )
        smooth = {"rho": float(rho), "layers": layers}
        rows.append(
            GridRow(
                name=smoothed_name(architecture, of, rho),
                recipe=source.recipe,
                source=source.name,
                smooth=smooth,
                reference=reference,
            )
        )
    return rows


def load_grid(path: str | Path) -> GridSpec:
    """Read and check a grid file: every row's training config is resolved (nothing loaded)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"grid file {path} does not exist")
    data = read_toml(path)
    where = str(path)
    check_keys(data, GRID_KEYS, where)
    dataset = _require(data, "dataset", str, where)
    architecture = _require(data, "architecture", str, where)
    protocol = data.get("protocol", "standard")
    if protocol not in PROTOCOLS:
        raise UserError(f"{where}: 'protocol' must be one of {list(PROTOCOLS)}, got {protocol!r}")
    recipes = _recipes(data, where)
    recipe_options = data.get("recipe_options", {})
    for recipe in recipe_options:
        if recipe not in recipes:
            raise UserError(
                f"{where}: {_not_listed(f'[recipe_options.{recipe}]', recipe, recipes)}"
            )
    reference = data.get("reference")
    if reference is not None and reference not in recipes:
        raise UserError(f"{where}: {_not_listed('reference', reference, recipes)}")
    reference_name = row_name(architecture, reference) if reference else None

    training = _training_options(data, where)
    trained: dict[str, GridRow] = {}
    for recipe in recipes:
        for with_bass in _bass(data, where):
            full = f"{recipe}+bass" if with_bass else recipe
            options = {
                **training,
                "architecture": architecture,
                "dataset": dataset,
                "recipe": full,
                "recipe_options": recipe_options.get(recipe, {}),
            }
            config = from_mapping(TrainConfig, options, f"{where} (row {full})")
            try:  # recipe options, architecture and device are checked here
                resolve(config)
            except UserError as exc:
                raise UserError(f"{where} (row {full}): {exc}") from None
            name = row_name(architecture, full)
            trained[name] = GridRow(
                name=name,
                recipe=full,
                config=config.replace(source=where),
                reference=reference_name if name != reference_name else None,
            )
    if reference_name is not None and reference_name not in trained:
        raise UserError(
            f"{where}: the reference row {reference_name} is not trained by this grid; "
            "include false in 'bass' (the reference is the plain row of its recipe)"
        )
    smoothed = _smoothed_rows(data, architecture, trained, reference_name, where)
    # Run order: each recipe's rows, then the smoothed copies of them.
    rows = [
        row
        for trained_row in trained.values()
        for row in [trained_row, *(s for s in smoothed if s.source == trained_row.name)]
    ]
    names = [r.name for r in rows]
    if len(set(names)) != len(names):
        raise UserError(f"{where}: two rows share a name; smoothed rows need distinct rho values")
    return GridSpec(
        path=path,
        dataset=dataset,
        architecture=architecture,
        protocol=protocol,
        rows=tuple(rows),
        metadata=dict(data.get("metadata", {})),
    )
