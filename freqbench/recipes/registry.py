"""Recipes by name: each registration adds ``<name>`` and ``<name>+bass`` in one go.

Built-in recipes are declared by ``"module:Class"`` and imported when one is built, so
listing recipes imports no torch; :func:`register_recipe` registers a class directly.
Installed packages add recipes through the entry-point group ``freqbench.recipes``, whose
value names a :class:`~freqbench.recipes.base.Recipe` subclass; :data:`RECIPES` (a
:class:`freqbench.registry.Registry`) checks each as it loads (a new name, a summary, a
config class) and leaves one that fails out with one warning naming its package. A plugin
recipe that fails while it trains is one clear error naming its package (the trainer checks
each loss: :mod:`freqbench.training.loop`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freqbench.config import from_mapping
from freqbench.errors import UserError
from freqbench.registry import Registry, load_object
from freqbench.threat_models import DEFAULT, get_threat_model, threat_models

if TYPE_CHECKING:
    from freqbench.recipes.base import Recipe, RecipeConfig
    from freqbench.recipes.bass_training import TrainingRecipe

BASS_SUFFIX = "+bass"
ENTRY_POINT_GROUP = "freqbench.recipes"


@dataclass(frozen=True)
class RecipeSpec:
    """A registered name: the recipe class (or where it lives), and whether BaSS wraps it."""

    name: str
    target: type[Recipe] | str  # the class, or "module:Class"
    summary: str
    bass: bool
    adversarial: bool = False  # trains on adversarial examples (robust accuracy is expected)

    @property
    def recipe_class(self) -> type[Recipe]:
        return load_object(self.target) if isinstance(self.target, str) else self.target

    @property
    def description(self) -> str:
        return f"{self.summary}, with BaSS (Lin et al. 2023)" if self.bass else self.summary


def _adopt(entry_name: str, cls: Any) -> list[tuple[str, RecipeSpec]]:
    """An entry point's Recipe class, checked, as its two names."""
    from freqbench.recipes.base import Recipe, RecipeConfig

    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise TypeError(f"it names a {type(cls).__name__}, not a Recipe subclass")
    if not isinstance(getattr(cls, "name", None), str):
        raise TypeError("it has no name (a class attribute: the recipe's name)")
    if not isinstance(getattr(cls, "summary", None), str):
        raise TypeError("it has no summary (a class attribute: one line for `list recipes`)")
    config = getattr(cls, "config_class", None)
    if not (isinstance(config, type) and issubclass(config, RecipeConfig)):
        raise TypeError("its config_class is not a RecipeConfig subclass")
    return _twins(cls.name, cls, cls.summary, getattr(cls, "adversarial", False))


def _twins(
    name: str, target: type[Recipe] | str, summary: str, adversarial: bool
) -> list[tuple[str, RecipeSpec]]:
    """``name`` and ``name+bass``."""
    return [
        (name, RecipeSpec(name, target, summary, False, adversarial)),
        (name + BASS_SUFFIX, RecipeSpec(name + BASS_SUFFIX, target, summary, True, adversarial)),
    ]


RECIPES: Registry[RecipeSpec] = Registry(
    "recipe",
    ENTRY_POINT_GROUP,
    adopt=_adopt,
    name_form=rf"^[a-z0-9][a-z0-9_-]*({re.escape(BASS_SUFFIX)})?$",
    name_rule=f"lowercase letters, digits, - and _ (freqbench adds '{BASS_SUFFIX}' for the BaSS twin)",
)


def declare_recipe(
    name: str, target: type[Recipe] | str, summary: str, *, adversarial: bool = False
) -> None:
    """Register the built-in ``name`` and ``name+bass``; ``target`` is the class or
    ``"module:Class"``; ``adversarial``: it trains on adversarial examples."""
    for twin, spec in _twins(name, target, summary, adversarial):
        RECIPES.register(twin, spec, builtin=True)


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: register ``cls.name`` and its BaSS variant, described by ``cls.summary``
    (``cls.adversarial``: it trains on adversarial examples)."""
    for twin, spec in _twins(cls.name, cls, cls.summary, getattr(cls, "adversarial", False)):
        RECIPES.register(twin, spec)
    return cls


def get_recipe(name: str) -> RecipeSpec:
    return RECIPES.get(name)


def list_recipes(pattern: str | None = None) -> list[str]:
    return RECIPES.names(pattern)


def recipe_source(name: str) -> str | None:
    """The package (name and version) a plugin recipe came from; None for a built-in one."""
    return RECIPES.source(name)


def _ball_names(balls: tuple[float, ...]) -> str:
    names = [card.name for card in threat_models() if card.p in balls]
    return " or ".join(names)


def create_recipe(
    name: str,
    *,
    eps: float,
    architecture: str = "",
    options: Mapping[str, Any] | RecipeConfig | None = None,
    bass_mode: str | None = None,
    bass_p: float | None = None,
    source: str = "recipe options",
    threat_model: str = DEFAULT,
) -> TrainingRecipe:
    """Build a recipe with its defaults resolved for ``eps`` and ``architecture``, attacking
    (when it is adversarial) in the ball of ``threat_model``; a recipe whose attack does not
    support that ball is refused here, before anything trains.

    ``options`` overrides fields of the recipe's config (a mapping is type-checked, and
    ``source`` names where it came from in error messages). ``bass_mode`` ("augment" or
    "dataset") and ``bass_p`` are accepted only by ``+bass`` recipes.
    """
    from freqbench.recipes.base import RecipeConfig, RecipeContext
    from freqbench.recipes.bass_training import BassRecipe

    spec = get_recipe(name)
    if eps < 0:
        raise UserError(f"eps must be >= 0, got {eps}")
    recipe_class = spec.recipe_class
    if isinstance(options, RecipeConfig):
        config = options
    else:
        config = from_mapping(recipe_class.config_class, options or {}, source)
    card = get_threat_model(threat_model)
    if spec.adversarial and card.p not in recipe_class.balls:
        able = [
            n for n in list_recipes()
            if get_recipe(n).adversarial and card.p in get_recipe(n).recipe_class.balls
        ]  # fmt: skip
        raise UserError(
            f"recipe '{name}' attacks in the {_ball_names(recipe_class.balls)} ball only, not "
            f"in threat model {card.name}'s: train {card.name} with "
            f"{', '.join(able) or 'no built-in recipe'}, or pick another threat model"
        )
    with RECIPES.guard(spec.name):
        recipe = recipe_class(config.resolve(RecipeContext(eps, architecture)), eps)
    recipe.ball_p = card.p
    if spec.bass:
        return BassRecipe(recipe, mode=bass_mode or "augment", p=bass_p)
    if bass_mode is not None or bass_p is not None:
        raise UserError(
            f"bass_mode and bass_p apply only to BaSS recipes; use recipe '{name}{BASS_SUFFIX}'"
        )
    return recipe
