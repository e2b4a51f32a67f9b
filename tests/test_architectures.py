from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from freqbench.architectures import create_model, list_architectures
from freqbench.errors import UnknownNameError, UserError

SHAPES = {"smallcnn": (1, 28), "resnet18": (3, 32), "preact-resnet18": (3, 32)}


@pytest.mark.parametrize("name", list_architectures())
def test_every_architecture_builds_and_runs(name):
    channels, size = SHAPES.get(name, (3, 32))
    model = create_model(name, num_classes=7, in_channels=channels, image_size=size).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, size, size))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "published"), [("resnet18", 11.17e6), ("wrn-28-10", 36.5e6)])
def test_parameter_counts_match_published(name, published):
    n = sum(p.numel() for p in create_model(name).parameters())
    assert abs(n - published) / published < 0.01


def test_normalization_is_inside_the_model():
    model = create_model("smallcnn", 10, 1, image_size=28, mean=[0.25], std=[0.5]).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), model.net((x - 0.25) / 0.5))
    assert "normalize.mean" in model.state_dict()


def test_timm_models_and_unknown_names():
    model = create_model("timm:resnet10t", num_classes=5, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 32, 32)).shape == (1, 5)
    with pytest.raises(UnknownNameError, match="resnet18"):
        create_model("resnet81")
    with pytest.raises(UserError, match="robustbench:<dataset>"):
        create_model("robustbench:cifar10/Standard")


def test_one_reading_of_timm_names_with_tags():
    from freqbench.architectures.external import (
        check_timm_name,
        parse_timm_name,
        timm_record_name,
    )

    for spelling in ("timm:resnet50@a1_in1k", "timm:resnet50.a1_in1k", "resnet50@a1_in1k"):
        assert parse_timm_name(spelling) == ("resnet50", "a1_in1k")
        assert check_timm_name(spelling) == "resnet50.a1_in1k"
        assert timm_record_name(spelling) == "resnet50-a1_in1k"
    assert parse_timm_name("timm:resnet50") == ("resnet50", None)
    assert check_timm_name("timm:resnet50") == "resnet50"
    for bad in ("timm:resnet50@", "timm:@a1_in1k", "timm:resnet50.", "timm:resnet50.a1@b"):
        with pytest.raises(UserError, match="not a timm model name"):
            parse_timm_name(bad)
    with pytest.raises(
        UnknownNameError, match=r"pretrained tag of timm:resnet50 'a1_in1l'.*a1_in1k"
    ):
        check_timm_name("timm:resnet50@a1_in1l")
    with pytest.raises(UnknownNameError, match=r"timm model 'resnet05'.*resnet50"):
        check_timm_name("timm:resnet05@a1_in1k")


@pytest.mark.parametrize(
    "ref", ["timm:test_vit@r160_in1k", "timm:test_vit.r160_in1k", "timm:test_vit"]
)
def test_random_init_of_a_timm_model_takes_its_own_pretrained_cfg_normalization(ref):
    """test_vit's pretrained_cfg has mean and std (0.5, 0.5, 0.5), not ImageNet's: the random
    model is timm's (seed 0) behind that normalization, and the record says so. A tag is
    accepted as everywhere a timm name is."""
    import timm

    from freqbench.loading import ModelRef, load_model_ref

    loaded = load_model_ref(ModelRef(ref, random_init=True), "imagenet")
    torch.manual_seed(0)  # freqbench's --random-init seed
    reference = timm.create_model("test_vit.r160_in1k", num_classes=1000).eval()
    assert reference.pretrained_cfg["mean"] == (0.5, 0.5, 0.5) == reference.pretrained_cfg["std"]
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), reference((x - 0.5) / 0.5))
    assert loaded.transform == {"normalization": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    assert loaded.name == (
        "test_vit-random" if ref == "timm:test_vit" else "test_vit-r160_in1k-random"
    )
    assert loaded.architecture == ref and loaded.weights == "random"


def test_random_init_of_a_timm_model_with_an_unknown_tag_is_refused():
    from freqbench.loading import ModelRef, load_model_ref

    with pytest.raises(
        UnknownNameError, match=r"pretrained tag of timm:test_vit 'r160_in1'.*r160_in1k"
    ):
        load_model_ref(ModelRef("timm:test_vit@r160_in1", random_init=True), "imagenet")


@pytest.mark.slow
def test_robustbench_model_loads_offline_with_its_own_code(tmp_path):
    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.model_zoo.cifar10 import linf

    reference = linf["Standard"]["model"]().eval()  # a WRN-28-10, as robustbench builds it
    target = tmp_path / "cifar10" / "Linf" / "Standard.pt"
    target.parent.mkdir(parents=True)
    torch.save({"state_dict": reference.state_dict()}, target)
    model = create_model("robustbench:cifar10/Linf/Standard", model_dir=str(tmp_path))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    with pytest.raises(UnknownNameError, match="Standard"):
        create_model("robustbench:cifar10/Linf/Standrd", model_dir=str(tmp_path))


def _hub_cache_with(tmp_path, repo: str, state: dict) -> None:
    """A Hugging Face cache holding ``repo``'s weights as ``hf_hub_download`` leaves them."""
    from safetensors.torch import save_file

    commit = "0" * 40
    folder = tmp_path / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / "model.safetensors")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)


def test_timm_pretrained_loads_from_a_local_hub_cache(tmp_path, monkeypatch):
    """timm's own download path, offline: the weights a user placed in the hub cache are the
    weights evaluated, inside the normalization they were trained with."""
    import timm
    from huggingface_hub import constants

    from freqbench.architectures.external import timm_pretrained

    torch.manual_seed(0)
    published = timm.create_model("test_efficientnet", num_classes=1000).eval()
    _hub_cache_with(tmp_path, "timm/test_efficientnet.r160_in1k", published.state_dict())
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    model = timm_pretrained("timm:test_efficientnet@r160_in1k", 1000, 3).eval()
    mean = torch.tensor(published.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(published.pretrained_cfg["std"]).view(1, 3, 1, 1)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), published((x - mean) / std), atol=1e-5)

    with pytest.raises(UserError, match="classify 1000 classes, the dataset has 10"):
        timm_pretrained("timm:test_efficientnet@r160_in1k", 10, 3)
    with pytest.raises(UserError, match="could not get the pretrained weights") as missing:
        timm_pretrained("timm:test_vit@r160_in1k", 1000, 3)
    assert "not installed" not in str(missing.value)


@pytest.mark.slow
def test_the_timm_names_snapshot_is_the_installed_timm_s():
    """Names are checked before timm is imported, from a snapshot of the pinned release
    (scripts/snapshot_timm_names.py): it must list exactly what the installed timm knows."""
    import json
    from importlib.metadata import version

    from freqbench.architectures.external import TIMM_NAMES

    snapshot = json.loads(TIMM_NAMES.read_text())
    if snapshot["timm"] != version("timm"):
        pytest.skip(f"timm {version('timm')} installed, the snapshot is of {snapshot['timm']}")
    # timm's own names, in a fresh interpreter: importing robustbench registers more with timm
    listed = subprocess.run(
        [sys.executable, "-c", "import json, timm; print(json.dumps([timm.list_models(), "
         "timm.list_pretrained()]))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    models, pretrained = json.loads(listed.stdout)
    assert snapshot["models"] == sorted(models)
    assert snapshot["pretrained"] == sorted(pretrained)
