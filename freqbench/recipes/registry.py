"""Recipes by name: ``register_recipe`` adds ``<name>`` and ``<name>+bass`` in one go."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from freqbench.config import from_mapping
from freqbench.errors import UserError
from freqbench.recipes.base import Recipe, RecipeConfig, RecipeContext
from freqbench.recipes.bass import BASS_SUFFIX, BassRecipe
from freqbench.registry import Registry

TrainingRecipe = Recipe | BassRecipe


@dataclass(frozen=True)
class RecipeSpec:
    """A registered name: the recipe class, and whether BaSS wraps it."""

    name: str
    recipe_class: type[Recipe]
    bass: bool

    @property
    def description(self) -> str:
        summary = self.recipe_class.summary
        return f"{summary}, with BaSS (Lin et al. 2023)" if self.bass else summary


_RECIPES: Registry[RecipeSpec] = Registry("recipe")


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: register ``cls.name`` and its BaSS variant ``cls.name + '+bass'``."""
    _RECIPES.register(cls.name, RecipeSpec(cls.name, cls, bass=False))
    _RECIPES.register(cls.name + BASS_SUFFIX, RecipeSpec(cls.name + BASS_SUFFIX, cls, bass=True))
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
    spec = get_recipe(name)
    if eps < 0:
        raise UserError(f"eps must be >= 0, got {eps}")
    config_class = spec.recipe_class.config_class
    if isinstance(options, RecipeConfig):
        config = options
    else:
        config = from_mapping(config_class, options or {}, source)
    recipe = spec.recipe_class(config.resolve(RecipeContext(eps, architecture)), eps)
    if spec.bass:
        return BassRecipe(recipe, mode=bass_mode or "augment", p=bass_p)
    if bass_mode is not None or bass_p is not None:
        raise UserError(
            f"bass_mode and bass_p apply only to BaSS recipes; use recipe '{name}{BASS_SUFFIX}'"
        )
    return recipe
