"""Training recipes by name, timm-style: ``register_recipe``, ``get_recipe``, ``list_recipes``.

A recipe turns a batch into a loss (``natural``, ``pgd-at``, ``trades``, ``mart``,
``fgsm-rs``, ``augmix``); each is also registered as ``<name>+bass``, trained with
Balanced Spectrum Sampling. See CONTRIBUTING.md, "Adding a recipe".
"""

from freqbench.recipes.registry import (
    BASS_SUFFIX,
    RecipeSpec,
    create_recipe,
    declare_recipe,
    get_recipe,
    list_recipes,
    recipe_source,
    register_recipe,
)

# The built-in recipes: name, class, summary, whether it trains on adversarial examples.
for _name, _target, _summary, _adversarial in (
    ("natural", "natural:Natural", "cross-entropy on clean images", False),
    ("pgd-at", "pgd_at:PGDAT", "PGD adversarial training (Madry et al. 2018): PGD-10, step eps/4, random start", True),
    ("trades", "trades:Trades", "TRADES (Zhang et al. 2019): CE + beta KL(clean || adv), beta 6", True),
    ("mart", "mart:Mart", "MART (Wang et al. 2020): boosted CE on adv + beta KL (1 - p_y), beta 6", True),
    ("fgsm-rs", "fgsm_rs:FGSMRS", "FGSM with random start (Wong et al. 2020): one step of 1.25 eps", True),
    ("augmix", "augmix:AugMix", "AugMix (Hendrycks et al. 2020): width 3, depth 1-3, severity 3, JSD weight 12", False),
):  # fmt: skip
    declare_recipe(_name, f"{__name__}.{_target}", _summary, adversarial=_adversarial)

__all__ = [
    "BASS_SUFFIX",
    "RecipeSpec",
    "create_recipe",
    "declare_recipe",
    "get_recipe",
    "list_recipes",
    "recipe_source",
    "register_recipe",
]
