"""Training recipes by name, timm-style: ``register_recipe``, ``get_recipe``, ``list_recipes``.

A recipe turns a batch into a loss (``natural``, ``pgd-at``, ``trades``, ``mart``,
``fgsm-rs``, ``augmix``); each is also registered as ``<name>+bass``, trained with
Balanced Spectrum Sampling. See CONTRIBUTING.md, "Adding a recipe".
"""

# Importing a recipe module registers it (and its +bass variant).
from freqbench.recipes import augmix, fgsm_rs, mart, natural, pgd_at, trades  # noqa: F401
from freqbench.recipes.base import Recipe, RecipeConfig, RecipeContext, RecipeOutput
from freqbench.recipes.bass import BassRecipe
from freqbench.recipes.registry import (
    RecipeSpec,
    TrainingRecipe,
    create_recipe,
    get_recipe,
    list_recipes,
    register_recipe,
)

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
