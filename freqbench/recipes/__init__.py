"""Training recipes by name, timm-style: ``register_recipe``, ``get_recipe``, ``list_recipes``.

A recipe turns a batch into a loss (``natural``, ``pgd-at``, ``trades``, ``mart``,
``fgsm-rs``, ``augmix``); each is also registered as ``<name>+bass``, trained with
Balanced Spectrum Sampling. See CONTRIBUTING.md, "Adding a recipe".
"""

from freqbench.recipes.registry import (  # noqa: I001 (the registry must exist before the recipes)
    RecipeSpec,
    TrainingRecipe,
    create_recipe,
    get_recipe,
    list_recipes,
    register_recipe,
)
from freqbench.recipes import augmix, fgsm_rs, mart, natural, pgd_at, trades  # noqa: F401
from freqbench.recipes.base import Recipe, RecipeConfig, RecipeContext, RecipeOutput
from freqbench.recipes.bass import BassRecipe

__all__ = [
    "BassRecipe",
    "Recipe",
    "RecipeConfig",
    "RecipeContext",
    "RecipeOutput",
    "RecipeSpec",
    "TrainingRecipe",
    "create_recipe",
    "get_recipe",
    "list_recipes",
    "register_recipe",
]
