"""Recipes and architectures from installed packages, as metrics come: the example recipe
(adversarial logit pairing) trains and evaluates with its BaSS twin, its loss matches a hand
computation, and hostile recipe and architecture plugins are left out with one warning each
while everything else works."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from freqbench import architectures
from freqbench.recipes import registry as recipe_registry
from tests.test_plugins import freqbench, install_example

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "alp-recipe"
TINY_TRAIN = ["--dataset", "synthetic", "--epochs", "1", "--batch-size", "32",
              "--max-train-examples", "64", "--eval-examples", "16", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    return install_example(EXAMPLE, tmp_path_factory.mktemp("site"))


@pytest.mark.slow
def test_the_example_recipe_and_its_bass_twin_train_and_evaluate(installed, tmp_path):
    listed = freqbench(installed, "list", "recipes", "alp*")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["alp", "alp+bass"]
    assert all(line.endswith("(plugin freqbench-alp 0.1.0)") for line in listed.stdout.splitlines())
    run = tmp_path / "alp-bass"
    trained = freqbench(installed, "train", "--arch", "smallcnn", "--recipe", "alp+bass",
                        *TINY_TRAIN, "--no-progress", "--out", str(run))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    sidecar = json.loads((run / "model.json").read_text())
    assert sidecar["recipe"] == "alp+bass" and sidecar["bass_mode"] == "augment"
    assert sidecar["config"]["recipe_options"]["pairing"] == 0.5  # the plugin's default
    evaluated = freqbench(installed, "evaluate", "--model", str(run / "model.safetensors"),
                          "--metrics", "clean,autoattack", "--n-examples", "16",
                          "--autoattack-n-examples", "4", "--eps", "0.25", "--device", "cpu",
                          "--out", str(tmp_path / "records"))  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    record = json.loads((tmp_path / "records" / "alp-bass.json").read_text())
    assert record["model"]["recipe"] == "alp+bass" and "autoattack" in record["metrics"]


def test_the_alp_loss_is_the_papers(installed, monkeypatch):
    """0.5 CE(clean) + 0.5 CE(adversarial) + pairing x mean squared L2 distance of the logits,
    against a numpy computation on a linear model with a given adversarial batch."""
    monkeypatch.syspath_prepend(str(installed))
    import freqbench_alp

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x, x_adv, y = torch.rand(5, 3, 2, 2), torch.rand(5, 3, 2, 2), torch.tensor([0, 1, 2, 1, 0])
    monkeypatch.setattr(freqbench_alp, "pgd_cross_entropy", lambda *a, **k: x_adv)
    recipe = freqbench_alp.ALP(freqbench_alp.ALPConfig(pairing=0.3, step_size=0.1), eps=0.1)
    loss = float(recipe.loss(model, x, y, None).loss)

    w, b = (p.detach().double().numpy() for p in model[1].parameters())

    def logits(images):
        return images.reshape(5, -1).double().numpy() @ w.T + b

    def cross_entropy(z):
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(5), y.numpy()]))

    clean, adv = logits(x), logits(x_adv)
    expected = 0.5 * cross_entropy(clean) + 0.5 * cross_entropy(adv)
    expected += 0.3 * float(np.mean(((clean - adv) ** 2).sum(1)))
    assert loss == pytest.approx(expected, rel=1e-5)


# --- hostile plugins ---------------------------------------------------------------------


@pytest.fixture()
def site(monkeypatch, tmp_path):
    """Fresh recipe and architecture registries that load the plugins declared in tmp_path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(recipe_registry, "RECIPES", recipe_registry.RECIPES.fresh())
    monkeypatch.setattr(architectures, "ARCHITECTURES", architectures.ARCHITECTURES.fresh())
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("hostile_")]:
        del sys.modules[name]


def _install(site: Path, package: str, group: str, entry: str, text: str) -> None:
    module = package.replace("-", "_")
    (site / f"{module}.py").write_text(text)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")


RECIPE = """\
from dataclasses import dataclass
from freqbench.recipes.base import Recipe, RecipeConfig

@dataclass(frozen=True)
class Config(RecipeConfig):
    pass

class R(Recipe):
    name = {name!r}
    summary = "a test recipe"
    config_class = Config
    def loss(self, model, x, y, generator):
        raise NotImplementedError
"""


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (RECIPE.format(name="natural"), "recipe 'natural' is already registered"),
        (RECIPE.format(name="Bad Name"), "must be lowercase letters"),
        (RECIPE.format(name="x+bass"), "must be lowercase letters"),
        ("import sys\nsys.exit(2)\n", "SystemExit: 2"),
        ("R = 42\n", "not a Recipe subclass"),
        (RECIPE.format(name="nosummary").replace('    summary = "a test recipe"\n', ""),
         "it has no summary"),
    ],
)  # fmt: skip
def test_a_hostile_recipe_plugin_is_left_out_with_one_warning(site, text, why):
    _install(site, "hostile-recipe", "freqbench.recipes", "r = hostile_recipe:R", text)
    _install(site, "hostile-good", "freqbench.recipes", "good = hostile_good:R",
             RECIPE.format(name="good"))  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = recipe_registry.list_recipes()
    assert "good" in names and "good+bass" in names and "natural" in names
    messages = [str(w.message) for w in caught if "recipe plugin" in str(w.message)]
    assert len(messages) == 1 and "package hostile-recipe 0.1" in messages[0], messages
    assert why in messages[0]
    assert recipe_registry.recipe_source("good+bass") == "hostile-good 0.1"


ARCHITECTURE = """\
from torch import nn


def build(num_classes, in_channels, image_size):
    '''a linear classifier on the pixels'''
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))
"""


def test_an_architecture_plugin_builds_and_a_clashing_one_is_left_out(site):
    _install(site, "hostile-linear", "freqbench.architectures", "linear = hostile_linear:build",
             ARCHITECTURE)  # fmt: skip
    _install(site, "hostile-clash", "freqbench.architectures", "smallcnn = hostile_clash:build",
             ARCHITECTURE.replace("hostile_linear", "hostile_clash"))  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = architectures.list_architectures()
    assert "linear" in names and "smallcnn" in names
    messages = [str(w.message) for w in caught if "architecture plugin" in str(w.message)]
    assert len(messages) == 1 and "package hostile-clash 0.1" in messages[0]
    assert architectures.describe_architecture("linear") == "a linear classifier on the pixels"
    assert architectures.architecture_source("linear") == "hostile-linear 0.1"
    assert architectures.architecture_source("smallcnn") is None
    model = architectures.create_model("linear", 10, 3, image_size=8)
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 10)


# --- plugins that misbehave at use: one line naming the package, nothing written ----------


BUILDERS = {
    "raises": ("raise RuntimeError('no such layer')", 1, "raised RuntimeError: no such layer"),
    "returns-a-str": ("return 'resnet'", 1, "returned a str, not a torch.nn.Module"),
    "returns-none": ("return None", 1, "returned None, not a torch.nn.Module"),
    "returns-a-lambda": ("return lambda x: x", 1, "returned a function, not a torch.nn.Module"),
    "calls-sys-exit": ("import sys; sys.exit(7)", 1, "called sys.exit(7)"),
    "too-large": ("return nn.Linear(10**6, 10**6)", 2, "could not allocate memory"),
}


@pytest.mark.parametrize("case", list(BUILDERS))
def test_an_architecture_plugin_that_fails_to_build_is_one_line(case, site, tmp_path, capsys):
    from freqbench.cli import main

    body, code, words = BUILDERS[case]
    _install(site, "hostile-arch", "freqbench.architectures", "broken = hostile_arch:build",
             f"from torch import nn\n\ndef build(num_classes, in_channels, image_size):\n    {body}\n")  # fmt: skip
    records, run = tmp_path / "records", tmp_path / "run"
    commands = (
        ["evaluate", "--model", "broken", "--random-init", "--dataset", "synthetic",
         "--metrics", "clean", "--n-examples", "8", "--device", "cpu", "--out", str(records)],
        ["train", "--arch", "broken", "--recipe", "natural", *TINY_TRAIN, "--no-progress",
         "--out", str(run)],
    )  # fmt: skip
    for argv in commands:
        assert main(argv) == code
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert "architecture 'broken' (plugin package hostile-arch 0.1)" in err and words in err
    assert not records.exists() and not run.exists()


LOSSES = {
    "raises": ("raise ValueError('bad batch')", "raised ValueError: bad batch"),
    "returns-none": ("return None", "returned None from loss(), not a RecipeOutput"),
    "not-a-scalar": (
        "return RecipeOutput(F.cross_entropy(model(x), y, reduction='none'), model(x))",
        "its loss is a tensor of shape (32,), not a scalar tensor",
    ),
    "no-gradient": (
        "return RecipeOutput(torch.tensor(1.0), model(x).detach())",
        "its loss has no gradient",
    ),
    "not-finite": (
        "return RecipeOutput(model(x).sum() * float('nan'), model(x))",
        "its loss is nan at the first step",
    ),
    "calls-sys-exit": ("import sys; sys.exit(6)", "called sys.exit(6)"),
}


@pytest.mark.parametrize("case", list(LOSSES))
def test_a_recipe_plugin_whose_loss_breaks_the_contract_is_one_line(case, site, tmp_path, capsys):
    from freqbench.cli import main

    body, words = LOSSES[case]
    text = RECIPE.format(name="broken").replace("raise NotImplementedError", body)
    header = "import torch\nimport torch.nn.functional as F\nfrom freqbench.recipes.base import RecipeOutput\n"
    _install(site, "hostile-loss", "freqbench.recipes", "r = hostile_loss:R", header + text)
    run = tmp_path / "run"
    argv = ["train", "--arch", "smallcnn", "--recipe", "broken", *TINY_TRAIN, "--no-progress",
            "--out", str(run)]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "recipe 'broken' (plugin package hostile-loss 0.1)" in err and words in err
    assert not run.exists()
