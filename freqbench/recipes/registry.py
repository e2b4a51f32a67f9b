"""Recipes by name: each registration adds ``<name>`` and ``<name>+bass`` in one go.

Built-in recipes are declared by ``"module:Class"`` and imported when one is built, so
listing recipes imports no torch; :func:`register_recipe` registers a class directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freqbench.config import from_mapping
from freqbench.errors import UserError
from freqbench.registry import Registry, load_object

if TYPE_CHECKING:
    from freqbench.recipes.base import Recipe, RecipeConfig
    from freqbench.recipes.bass import TrainingRecipe

BASS_SUFFIX = "+bass"


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


_RECIPES: Registry[RecipeSpec] = Registry("recipe")


def declare_recipe(
    name: str, target: type[Recipe] | str, summary: str, *, adversarial: bool = False
) -> None:
    """Register ``name`` and ``name+bass``; ``target`` is the class or ``"module:Class"``;
    ``adversarial``: it trains on adversarial examples."""
    _RECIPES.register(name, RecipeSpec(name, target, summary, False, adversarial))
    _RECIPES.register(
        name + BASS_SUFFIX, RecipeSpec(name + BASS_SUFFIX, target, summary, True, adversarial)
    )


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: register ``cls.name`` and its BaSS variant, described by ``cls.summary``
    (``cls.adversarial``: it trains on adversarial examples)."""
    declare_recipe(cls.name, cls, cls.summary, adversarial=getattr(cls, "adversarial", False))
    return cls


def get_recipe(name: str) -> RecipeSpec:
    return _RECIPES.get(name)


def list_recipes(pattern: str | None = None) -> list[str]:
    return _RECIPES.names(pattern)


def create_recipe(
    name: str,
    *,
    eps: float,
    architecture: str = "",
    options: Mapping[str, Any] | RecipeConfig | None = None,
    bass_mode: str | None = None,
    bass_p: float | None = None,
    source: str = "recipe options",
) -> TrainingRecipe:
    """Build a recipe with its defaults resolved for ``eps`` and ``architecture``.

    ``options`` overrides fields of the recipe's config (a mapping is type-checked, and
    ``source`` names where it came from in error messages). ``bass_mode`` ("augment" or
    "dataset") and ``bass_p`` are accepted only by ``+bass`` recipes.
    """
    from freqbench.recipes.base import RecipeConfig, RecipeContext
    from freqbench.recipes.bass import BassRecipe

    spec = get_recipe(name)
    if eps < 0:
        raise UserError(f"eps must be >= 0, got {eps}")
    recipe_class = spec.recipe_class
    if isinstance(options, RecipeConfig):
        config = options
    else:
        config = from_mapping(recipe_class.config_class, options or {}, source)
    recipe = recipe_class(config.resolve(RecipeContext(eps, architecture)), eps)
    if spec.bass:
        return BassRecipe(recipe, mode=bass_mode or "augment", p=bass_p)
    if bass_mode is not None or bass_p is not None:
        raise UserError(
            f"bass_mode and bass_p apply only to BaSS recipes; use recipe '{name}{BASS_SUFFIX}'"
        )
    return recipe
