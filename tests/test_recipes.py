"""Recipes: attacks, loss formulas written out by hand, AugMix ops against PIL, BaSS wrapper."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from freqbench.architectures import create_model
from freqbench.data import make_synthetic
from freqbench.errors import UnknownNameError, UserError
from freqbench.recipes import augmix as am
from freqbench.recipes import create_recipe, get_recipe, list_recipes
from freqbench.recipes.attacks import cross_entropy_objective, fgsm_rs, pgd_linf, trades_kl_attack
from freqbench.recipes.losses import augmix_loss, jsd_consistency, mart_loss, trades_loss
from freqbench.spectral import bass

BASES = ("natural", "pgd-at", "trades", "mart", "fgsm-rs", "augmix")

# Two examples, three classes; sample 0 is right with a close runner-up, sample 1 is wrong.
LOGITS_CLEAN = torch.tensor([[2.0, 0.5, -1.0], [0.2, 0.1, 1.5]])
LOGITS_ADV = torch.tensor([[0.8, 1.1, -0.4], [-0.3, 0.9, 1.0]])
LOGITS_VIEW = torch.tensor([[1.0, 0.0, 0.3], [0.5, -0.2, 0.7]])
Y = torch.tensor([0, 1])


def softmax_by_hand(z: torch.Tensor) -> list[list[float]]:
    rows = []
    for row in z.tolist():
        exps = [math.exp(v) for v in row]
        rows.append([e / sum(exps) for e in exps])
    return rows


def kl_by_hand(p: list[float], q: list[float]) -> float:
    return sum(pk * math.log(pk / qk) for pk, qk in zip(p, q, strict=True))


def tiny_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))


def test_registry_has_every_recipe_and_its_bass_variant():
    names = set(list_recipes())
    assert {*BASES, *(f"{b}+bass" for b in BASES)} <= names
    assert all(f"{n}+bass" in names for n in names if not n.endswith("+bass"))
    assert list_recipes("*+bass") == sorted(f"{b}+bass" for b in BASES)
    assert get_recipe("trades+bass").bass and not get_recipe("trades").bass


def test_unknown_recipe_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"Did you mean: trades.*freqbench list recipes"):
        get_recipe("trade")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "trades", "eps": -0.1}, "eps must be >= 0"),
        ({"name": "trades", "eps": 0.1, "bass_mode": "augment"}, "use recipe 'trades\\+bass'"),
        ({"name": "trades", "eps": 0.1, "bass_p": 0.3}, "apply only to BaSS recipes"),
        ({"name": "trades+bass", "eps": 0.1, "bass_mode": "dataset", "bass_p": 0.3}, "augment"),
        ({"name": "trades+bass", "eps": 0.1, "bass_p": 1.5}, "probability"),
        ({"name": "trades+bass", "eps": 0.1, "bass_mode": "always"}, "bass_mode must be"),
        ({"name": "trades", "eps": 0.1, "options": {"bta": 6}}, "unknown key 'bta'.*'beta'"),
        (
            {"name": "trades", "eps": 0.1, "options": {"steps": "ten"}},
            "'steps' must be of type int",
        ),
        ({"name": "augmix", "eps": 0.1, "options": {"severity": 11}}, "severity"),
    ],
)
def test_bad_recipe_options(kwargs, message):
    with pytest.raises(UserError, match=message):
        create_recipe(**kwargs)


def test_defaults_follow_the_papers():
    trades = create_recipe("trades", eps=0.1)
    assert trades.config.beta == 6 and trades.config.steps == 10
    assert trades.config.step_size == pytest.approx(0.025) and trades.config.bn_eval_attack
    assert create_recipe("mart", eps=0.1, architecture="resnet18").config.beta == 5
    assert create_recipe("mart", eps=0.1, architecture="smallcnn").config.beta == 6
    assert create_recipe("fgsm-rs", eps=8 / 255).config.alpha == pytest.approx(1.25 * 8 / 255)
    assert not create_recipe("pgd-at", eps=0.1).config.bn_eval_attack
    augmix = create_recipe("augmix", eps=0.1).config
    assert (augmix.width, augmix.depth, augmix.severity, augmix.jsd_weight) == (3, None, 3, 12)
    wrapped = create_recipe("pgd-at+bass", eps=0.1)
    assert (wrapped.bass_mode, wrapped.p) == ("augment", 0.5)


# ----------------------------------------------------------------------------- attacks


def test_pgd_stays_in_the_ball_and_raises_the_loss():
    model = tiny_model()
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    x[:, :, 0] = 0.0  # pixels at the edges of [0, 1] must stay inside it
    x[:, :, 1] = 1.0
    y = torch.arange(16) % 5
    eps = 8 / 255
    g = torch.Generator().manual_seed(1)
    x_adv = pgd_linf(
        model, x, cross_entropy_objective(y), eps=eps, step_size=eps / 4, steps=10, generator=g
    )
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        clean, adv = (F.cross_entropy(model(v), y, reduction="none") for v in (x, x_adv))
    assert (adv >= clean - 1e-6).all() and adv.mean() > clean.mean()
    assert all(p.grad is None for p in model.parameters())
    for other in (
        trades_kl_attack(model, x, eps=eps, step_size=eps / 4, steps=3, generator=g),
        fgsm_rs(model, x, y, eps=eps, alpha=1.25 * eps, generator=g),
    ):
        assert (other - x).abs().max() <= eps + 1e-6 and other.min() >= 0 and other.max() <= 1


def test_trades_attacks_in_eval_mode_and_restores_training_mode():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = tiny_model()

        def forward(self, x):
            seen.append(self.training)
            return self.net(x)

    model = Spy().train()
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    create_recipe("trades", eps=0.1, options={"steps": 2}).loss(model, x, y, None)
    # one clean pass to fix p(x), two attack steps, then the two training passes
    assert seen == [False, False, False, True, True] and model.training


# ----------------------------------------------------------------------------- loss formulas


def test_trades_loss_matches_the_formula():
    beta = 6.0
    p_clean, p_adv = softmax_by_hand(LOGITS_CLEAN), softmax_by_hand(LOGITS_ADV)
    ce = -(math.log(p_clean[0][0]) + math.log(p_clean[1][1])) / 2
    kl = (kl_by_hand(p_clean[0], p_adv[0]) + kl_by_hand(p_clean[1], p_adv[1])) / 2
    expected = ce + beta * kl
    assert trades_loss(LOGITS_CLEAN, LOGITS_ADV, Y, beta).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_mart_loss_matches_the_formula():
    beta = 6.0
    p_clean, p_adv = softmax_by_hand(LOGITS_CLEAN), softmax_by_hand(LOGITS_ADV)
    terms = []
    for i, label in enumerate(Y.tolist()):
        runner_up = max(p for k, p in enumerate(p_adv[i]) if k != label)
        bce = -math.log(p_adv[i][label]) - math.log(1 - runner_up)
        weighted_kl = kl_by_hand(p_clean[i], p_adv[i]) * (1 - p_clean[i][label])
        terms.append((bce, weighted_kl))
    expected = sum(b for b, _ in terms) / 2 + beta * sum(k for _, k in terms) / 2
    assert mart_loss(LOGITS_CLEAN, LOGITS_ADV, Y, beta).item() == pytest.approx(expected, rel=1e-5)


def test_augmix_loss_matches_the_formula():
    weight = 12.0
    dists = [softmax_by_hand(z) for z in (LOGITS_CLEAN, LOGITS_ADV, LOGITS_VIEW)]
    jsd = 0.0
    for i in range(2):
        mixture = [sum(d[i][k] for d in dists) / 3 for k in range(3)]
        jsd += sum(kl_by_hand(d[i], mixture) for d in dists) / 3 / 2
    ce = -(math.log(dists[0][0][0]) + math.log(dists[0][1][1])) / 2
    got = augmix_loss(LOGITS_CLEAN, [LOGITS_ADV, LOGITS_VIEW], Y, weight).item()
    assert got == pytest.approx(ce + weight * jsd, rel=1e-5)


def test_jsd_is_zero_when_all_views_are_the_same_image():
    model = tiny_model()
    x = torch.rand(4, 3, 8, 8)
    logits = [model(x) for _ in range(3)]
    assert jsd_consistency(logits).item() == pytest.approx(0.0, abs=1e-7)
    assert jsd_consistency([logits[0], logits[1], model(1 - x)]).item() > 1e-4


# ----------------------------------------------------------------------------- AugMix ops


def _pil_reference(images: np.ndarray, op) -> torch.Tensor:
    out = [np.array(op(Image.fromarray(image))) for image in images]
    return torch.from_numpy(np.stack(out)).float().div(255).unsqueeze(1)


def test_augmix_ops_match_pil():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    images[1] = images[1] // 4 + 60  # low contrast, for autocontrast and equalize
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    u, plus = torch.full((3,), 2.5), torch.ones(3)
    shift = int(2.5 * (28 / 3) / 10)
    cases = {
        am.equalize: (ImageOps.equalize, 0.0),
        am.posterize: (lambda im: ImageOps.posterize(im, 4 - int(2.5 * 4 / 10)), 0.0),
        am.solarize: (lambda im: ImageOps.solarize(im, 256 - int(2.5 * 256 / 10)), 1e-6),
        am.autocontrast: (ImageOps.autocontrast, 1 / 255),  # PIL rounds to 8 bits
        am.translate_x: (
            lambda im: im.transform((28, 28), Image.AFFINE, (1, 0, shift, 0, 1, 0)),
            1e-5,
        ),
    }
    for op, (reference, tolerance) in cases.items():
        difference = (op(x, u, plus) - _pil_reference(images, reference)).abs().max()
        assert difference <= tolerance, op.__name__


@pytest.mark.parametrize("shape", [(4, 1, 28, 28), (4, 3, 32, 32)])
def test_augment_and_mix_is_a_seeded_image_batch(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    config = am.AugMixConfig(all_ops=True)
    views = [am.augment_and_mix(x, config, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(views[0], views[1]) and views[0].shape == x.shape
    assert views[0].min() >= 0 and views[0].max() <= 1
    assert (views[0] - x).abs().flatten(1).amax(1).min() > 0  # every image changed


# ----------------------------------------------------------------------------- training steps


@pytest.mark.parametrize("name", list_recipes())
def test_each_recipe_lowers_its_loss_in_three_steps(name):
    data = make_synthetic(16, size=28, channels=1, seed=0, split="train")
    torch.manual_seed(0)
    model = create_model("smallcnn", 10, 1, image_size=28, mean=(0.5,), std=(0.25,))
    recipe = create_recipe(name, eps=0.1, architecture="smallcnn")

    def fixed_loss() -> float:  # same batch, same attack/augmentation draws
        generator = torch.Generator().manual_seed(1)
        return recipe.loss(model, data.images, data.labels, generator).loss.item()

    before = fixed_loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        out = recipe.loss(model, data.images, data.labels, generator)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    after = fixed_loss()
    assert math.isfinite(before) and math.isfinite(after)
    assert after < before
    assert out.logits.shape == (16, 10)


class _Recorder(nn.Module):
    """A model that keeps the batches it is given."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.scale * x.flatten(1)[:, :10]


@pytest.mark.parametrize(("p", "low", "high"), [(0.0, 0, 0), (1.0, 64, 64), (0.5, 20, 44)])
def test_bass_augment_changes_images_with_probability_p(p, low, high):
    x = make_synthetic(64, size=28, channels=1).images
    y = torch.zeros(64, dtype=torch.long)
    counts = []
    for _ in range(2):
        model = _Recorder()
        recipe = create_recipe("natural+bass", eps=0.1, bass_p=p)
        recipe.loss(model, x, y, torch.Generator().manual_seed(7))
        (seen,) = model.inputs
        changed = (seen != x).flatten(1).any(1)
        if changed.any():
            assert torch.equal(seen[changed], bass(x[changed]))
        counts.append(int(changed.sum()))
    assert counts[0] == counts[1] and low <= counts[0] <= high


def test_bass_dataset_mode_leaves_the_batch_to_the_trainer():
    x = make_synthetic(8, size=28, channels=1).images
    model = _Recorder()
    recipe = create_recipe("natural+bass", eps=0.1, bass_mode="dataset")
    recipe.loss(model, x, torch.zeros(8, dtype=torch.long), torch.Generator())
    assert torch.equal(model.inputs[0], x) and recipe.bass_mode == "dataset" and recipe.p is None


def test_augmix_bass_builds_one_view_from_the_bass_image(monkeypatch):
    sources = []
    monkeypatch.setattr(am, "augment_and_mix", lambda x, config, g: sources.append(x) or x)
    x = make_synthetic(4, size=28, channels=1).images
    recipe = create_recipe("augmix+bass", eps=0.1, bass_p=1.0)
    recipe.loss(_Recorder(), x, torch.zeros(4, dtype=torch.long), torch.Generator())
    assert torch.equal(sources[0], x) and torch.equal(sources[1], bass(x))


@pytest.mark.parametrize("name", [n for n in list_recipes() if not n.endswith("+bass")])
def test_a_built_in_recipe_class_says_what_its_table_row_says(name):
    """The table lets `list recipes` skip importing torch; the class is what a plugin copies."""
    spec = get_recipe(name)
    assert spec.recipe_class.name == name
    assert spec.recipe_class.adversarial == spec.adversarial
