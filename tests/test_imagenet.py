"""ImageNet without the real data: a small ImageFolder of the first images RobustBench lists,
written here (RGB, greyscale and CMYK JPEGs, a PNG named .JPEG, sizes above and below the
crop), read through freqbench's stream and compared pixel for pixel with robustbench's and
timm's own transforms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.data import load_dataset
from freqbench.data.imagenet import robustbench_subset
from freqbench.data.preprocessing import ROBUSTBENCH, build_transform, timm_config
from freqbench.errors import UnknownNameError, UserError

N_IMAGES = 8
MODES = ["RGB", "L", "CMYK", "RGB"]  # the 4th is saved as PNG under a .JPEG name
SIZES = [
    (300, 400),
    (180, 500),
    (256, 256),
    (120, 90),
    (333, 297),
    (500, 375),
    (224, 224),
    (64, 640),
]


def _helper(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("robustbench")
    return Path(next(iter(spec.submodule_search_locations))) / "helper_files" / name


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for k, name in enumerate(robustbench_subset()[:N_IMAGES]):
        path = root / "val" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = SIZES[k]
        smooth = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        pixels = np.kron(smooth, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]  # JPEG-like content
        image = Image.fromarray(pixels).convert(MODES[k % len(MODES)])
        image.save(path, format="PNG" if k == 3 else "JPEG", quality=90)
    return root


def _files(root: Path) -> list[Path]:
    return [root / "val" / name for name in robustbench_subset()[:N_IMAGES]]


def test_the_standard_set_is_robustbench_s_list_in_its_order_with_its_labels(imagenet_root):
    lines = _helper("imagenet_test_image_ids.txt").read_text().split()
    classes = json.loads(_helper("imagenet_class_to_id_map.json").read_text())
    data = load_dataset("imagenet", n_examples=N_IMAGES, data_dir=imagenet_root)
    assert [f"{p.parent.name}/{p.name}" for p in data.files] == lines[:N_IMAGES]
    assert data.labels.tolist() == [classes[line.split("/")[0]] for line in lines[:N_IMAGES]]
    assert len(load_dataset("imagenet", data_dir=imagenet_root)) == 5000
    assert (
        load_dataset("imagenet", n_examples=2, data_dir=imagenet_root / "val").files
        == data.files[:2]
    )
    assert sorted(classes.values()) == list(range(1000))


@pytest.mark.parametrize("name", sorted(ROBUSTBENCH))
def test_named_preprocessing_equals_robustbench_s_own_transform(imagenet_root, name):
    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.data import PREPROCESSINGS
    from robustbench.loaders import pil_loader

    ours = build_transform(name)
    for path in _files(imagenet_root):
        assert torch.equal(
            ours(Image.open(path).convert("RGB")), PREPROCESSINGS[name](pil_loader(path))
        )


@pytest.mark.parametrize(
    "timm_name", ["resnet18", "resnet10t", "vit_tiny_patch16_224", "convnext_atto"]
)
def test_timm_preprocessing_equals_timm_s_own_transform_before_normalisation(
    imagenet_root, timm_name
):
    import timm
    from timm.data import create_transform, resolve_data_config

    net = timm.create_model(timm_name, pretrained=False)
    config = resolve_data_config({}, model=net, use_test_size=True)
    theirs = create_transform(**config)  # with normalization: ours leaves it to the model
    mean, std = (
        torch.tensor(config["mean"])[:, None, None],
        torch.tensor(config["std"])[:, None, None],
    )
    ours = build_transform(timm_config(config).name)
    for path in _files(imagenet_root):
        image = Image.open(path).convert("RGB")
        x = ours(image)
        assert x.min() >= 0 and x.max() <= 1
        assert torch.allclose((x - mean) / std, theirs(image), atol=1e-5)


@pytest.mark.parametrize(
    ("mean", "std"),
    [
        ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # inception_v3, ViT augreg, BEiT
        ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet's
        ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),  # EVA-02
    ],
)
def test_a_border_crop_pads_with_timm_s_fill_of_the_model_s_mean(mean, std):
    """crop_mode=border fits the long side and pads the short one with the model's mean
    colour, round(255 * mean), as timm's create_transform does: checked on a real photograph
    (a frost picture, 3:2) against timm's own transform with that mean and std."""
    from timm.data import create_transform

    from freqbench.corruptions.photographs import DIRECTORY
    from freqbench.data.preprocessing import check_preprocessing

    photo = Image.open(DIRECTORY / "frost4.jpg").convert("RGB")
    assert photo.width != photo.height
    name = check_preprocessing(
        "timm:size=224,crop_pct=1,crop_mode=border,interpolation=bicubic", mean
    )
    fill = [round(255 * v) for v in mean]
    assert name.endswith(f",fill={fill[0]}/{fill[1]}/{fill[2]}")
    ours = build_transform(name)(photo)
    theirs = create_transform(
        input_size=(3, 224, 224), crop_pct=1.0, crop_mode="border", interpolation="bicubic",
        mean=mean, std=std,
    )(photo)  # fmt: skip
    column = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    torch.testing.assert_close((ours - column[0]) / column[1], theirs, atol=1e-5, rtol=0)
    padded = ours[:, 0] if photo.width > photo.height else ours[:, :, 0]  # first row / column
    assert torch.equal(
        padded, torch.tensor(fill, dtype=torch.float32)[:, None].expand_as(padded) / 255
    )
    assert check_preprocessing(f"{name.rsplit(',', 1)[0]},fill=1/2/3").endswith("fill=1/2/3")
    for bad in ("fill=1/2", "fill=1/2/256", "fill=a/b/c"):
        with pytest.raises(UserError, match=r"fill(=R/G/B,| is 3 numbers)"):
            check_preprocessing(f"{name.rsplit(',', 1)[0]},{bad}")
    with pytest.raises(UserError, match="with crop_mode=border only"):
        check_preprocessing(
            "timm:size=224,crop_pct=1,crop_mode=center,interpolation=bicubic,fill=1/2/3"
        )


def test_a_border_crop_named_without_its_fill_takes_the_model_s_mean(
    imagenet_root, tmp_path, monkeypatch
):
    """--preprocessing timm:...,crop_mode=border on test_vit (mean 0.5, as its pretrained_cfg
    says): the record names the fill its images were padded with, 128/128/128."""
    from freqbench.cli import main

    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")
    border = "timm:size=160,crop_pct=1,crop_mode=border,interpolation=bicubic"
    assert main([
        "evaluate", "--model", "timm:test_vit", "--random-init", "--dataset", "imagenet",
        "--data-dir", str(imagenet_root), "--n-examples", "2", "--metrics", "clean",
        "--preprocessing", border, "--out", str(tmp_path),
    ]) == 0  # fmt: skip
    record = json.loads((tmp_path / "test_vit-random.json").read_text())
    assert record["protocol"]["preprocessing"] == f"{border},fill=128/128/128"


def test_a_robustbench_timm_entry_gets_the_transform_robustbench_gives_it(imagenet_root):
    from freqbench.architectures.external import robustbench_preprocessing
    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.data import get_timm_model_preprocessing
    from robustbench.loaders import pil_loader

    name = robustbench_preprocessing("robustbench:imagenet/Linf/Debenedetti2022Light_XCiT-S12")
    theirs = get_timm_model_preprocessing("debenedetti2022light_xcit_s12_imagenet_linf")
    for path in _files(imagenet_root)[:3]:
        assert torch.equal(build_transform(name)(pil_loader(path)), theirs(pil_loader(path)))
    assert (
        robustbench_preprocessing("robustbench:imagenet/Linf/Singh2023Revisiting_ViT-S-ConvStem")
        == "BicubicRes256Crop224"
    )
    assert robustbench_preprocessing("robustbench:cifar10/Linf/Standard") is None


def test_batches_are_decoded_by_workers_in_order_and_take_decodes_only_its_range(
    imagenet_root, monkeypatch
):
    from freqbench.data import stream

    data = load_dataset("imagenet", n_examples=N_IMAGES, data_dir=imagenet_root)
    transform = build_transform("Res256Crop224")
    expected = torch.stack([transform(Image.open(p).convert("RGB")) for p in _files(imagenet_root)])
    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "2")
    batches = list(data.batches(3))
    assert [len(y) for _, y in batches] == [3, 3, 2]
    assert torch.equal(torch.cat([x for x, _ in batches]), expected)
    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")  # in-process: decodes can be counted
    decoded = []
    original = stream._Files.__getitem__
    monkeypatch.setattr(
        stream._Files, "__getitem__", lambda self, i: decoded.append(i) or original(self, i)
    )
    part = data.take(5, 7)
    assert len(decoded) == 2 and torch.equal(part.images, expected[5:7])
    assert torch.equal(part.labels, data.labels[5:7])
    with pytest.raises(UserError, match="streamed from image files"):
        data.images  # noqa: B018


def test_a_partial_folder_is_labelled_by_the_class_map_not_by_the_folders_present(tmp_path):
    """robustbench's ImageFolder numbers the wnid folders it finds (0, 1, 2 here); a model's
    classes are the class map's (0, 467, 999), and so are freqbench's labels."""
    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.loaders import CustomDatasetFolder

    classes = json.loads(_helper("imagenet_class_to_id_map.json").read_text())
    wnids = ["n01440764", "n02927161", "n15075141"]  # first, middle and last of the map
    for wnid in wnids:
        (tmp_path / "val" / wnid).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "val" / wnid / "ILSVRC2012_val_1.JPEG")
    data = load_dataset("imagenet-val", data_dir=tmp_path)
    _, folder_numbers = CustomDatasetFolder._find_classes(None, str(tmp_path / "val"))
    assert [folder_numbers[w] for w in wnids] == [0, 1, 2]  # robustbench's numbering
    assert data.labels.tolist() == [classes[w] for w in wnids] == [0, 467, 999]


def test_missing_and_damaged_files_and_wrong_layouts_are_named(imagenet_root, tmp_path):
    with pytest.raises(
        UserError, match=r"1 of the 9 imagenet images .* missing.*ILSVRC2012_val"
    ) as missing:
        load_dataset("imagenet", n_examples=N_IMAGES + 1, data_dir=imagenet_root)
    # the way on with a partial folder: the first images of RobustBench's list that are here
    assert f"of which the first {N_IMAGES} are here (--n-examples {N_IMAGES})" in str(missing.value)
    with pytest.raises(UserError, match=r"no ImageNet validation folder.*image-net\.org"):
        load_dataset("imagenet", n_examples=2, data_dir=tmp_path)
    shared = tmp_path / "shared"  # a data folder of several datasets: imagenet/val in it
    (shared / "imagenet").mkdir(parents=True)
    (shared / "imagenet" / "val").symlink_to(imagenet_root / "val")
    assert len(load_dataset("imagenet", n_examples=2, data_dir=shared)) == 2
    (tmp_path / "val" / "cats").mkdir(parents=True)
    (tmp_path / "val" / "cats" / "a.jpg").write_bytes(b"not an image")
    with pytest.raises(UserError, match="not ImageNet wnids: cats"):
        load_dataset("imagenet-val", data_dir=tmp_path)
    broken = tmp_path / "broken"
    (broken / "val" / "n01440764").mkdir(parents=True)
    (broken / "val" / "n01440764" / "x.JPEG").write_bytes(b"\xff\xd8 truncated")
    data = load_dataset("imagenet-val", data_dir=broken)
    assert data.labels.tolist() == [0]
    with pytest.raises(UserError, match=r"cannot decode .*x\.JPEG"):
        list(data.batches(1))


def test_preprocessing_names_are_checked():
    with pytest.raises(UnknownNameError, match="Res256Crop224"):
        build_transform("Res265Crop224")
    with pytest.raises(UserError, match="crop_mode one of center"):
        build_transform("timm:size=224,crop_pct=0.9,crop_mode=middle,interpolation=bicubic")
    with pytest.raises(UserError, match="applies to datasets read from image files"):
        load_dataset("synthetic", preprocessing="Res224")


def freqbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
        env={**__import__("os").environ, "FREQBENCH_DATA_WORKERS": "0"}, timeout=300,
    )  # fmt: skip


#: Every metric of the card, on few images: a heat map of the 3 x 3 lowest frequencies, the
#: 75 ImageNet-C cells of the first image (made once, then read from the session's cache).
SMALL_CARD = (
    "--heatmap-n-examples", "2", "--heatmap-band-limit", "1", "--corruptions-n-examples", "1",
)  # fmt: skip


def _timm_card(
    name: str, root: Path, out: Path, n: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict, dict]:
    """``freqbench evaluate`` of ``timm:<name>`` (random weights) with the small card on the
    first ``n`` images, run in this process; its record, and timm's own model and the data
    config timm's validate.py resolves."""
    import timm
    from timm.data import resolve_data_config

    from freqbench.cli import main

    monkeypatch.chdir(out)
    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")
    assert main([
        "evaluate", "--model", f"timm:{name}", "--random-init", "--dataset", "imagenet",
        "--data-dir", str(root), "--n-examples", str(n), "--autoattack-n-examples", "1",
        *SMALL_CARD, "--heatmap-n-examples", str(min(n, 2)), "--out", str(out),
    ]) == 0  # fmt: skip
    torch.manual_seed(0)  # freqbench's --random-init seed
    net = timm.create_model(name, pretrained=False, num_classes=1000).eval()
    config = resolve_data_config({}, model=net, use_test_size=True)  # as timm's validate.py
    record = json.loads((out / f"{name}-random.json").read_text())
    assert record["protocol"]["preprocessing"] == timm_config(config).name
    assert len(record["metrics"]) == 8  # the whole card
    return record, {"net": net, "config": config}


@pytest.mark.slow
def test_a_timm_model_evaluates_on_imagenet_with_its_own_preprocessing(
    imagenet_root, tmp_path, monkeypatch
):
    """The whole card on the synthetic folder; the clean predictions equal timm's own
    pipeline's (timm's transform with its normalization, the same random weights) image for
    image."""
    from timm.data import create_transform

    record, timm_side = _timm_card("resnet10t", imagenet_root, tmp_path, 4, monkeypatch)
    net, transform = timm_side["net"], create_transform(**timm_side["config"])
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in _files(imagenet_root)[:4]])
    with torch.no_grad():
        predicted = net(x).argmax(1)
    labels = load_dataset("imagenet", n_examples=4, data_dir=imagenet_root).labels
    assert record["protocol"]["eps"] == pytest.approx(4 / 255)
    clean = record["metrics"]["clean"]
    assert clean["predicted_classes"] == torch.bincount(predicted, minlength=1000).tolist()
    assert clean["accuracy"] == float((predicted == labels).float().mean())
    assert record["metrics"]["autoattack"]["n"] == 1
    assert set(record["metrics"]["band_split"]["low_pass_accuracy"]) == {"28", "56", "84", "112"}
    assert record["metrics"]["filters"]["first_layer"]["k"] == 3  # resnet10t's 3x3 stem
    corruptions = record["metrics"]["corruptions"]
    assert (corruptions["source"], corruptions["n"]) == ("generated", 1) and "mce" in corruptions
    heat = record["metrics"]["fourier_heatmap"]
    assert (heat["eps"], heat["n"], heat["band_limit"]) == (15.7, 2, 1)  # ImageNet's eps
    assert set(heat["bands"].values()) == {None}  # 3 x 3 holds no band whole (low: d < 37)
    heatmap = np.load(tmp_path / "resnet10t-random.heatmap.npy")
    assert heatmap.shape == (224, 224)
    assert (~np.isnan(heatmap)).sum() == 9 and not np.isnan(heatmap[111:114, 111:114]).any()


@pytest.mark.slow
def test_timm_resnet50_runs_the_whole_card(imagenet_root, tmp_path, monkeypatch):
    """The issue's own command, on one image: every block, timm's resnet50 test transform
    (its timm config: 288 px), its 7x7 stem in the filter statistics."""
    record, _ = _timm_card("resnet50", imagenet_root, tmp_path, 1, monkeypatch)
    assert record["metrics"]["filters"]["first_layer"]["k"] == 7


@pytest.mark.slow
def test_a_robustbench_imagenet_entry_loads_from_its_files_and_uses_its_preprocessing(
    imagenet_root, tmp_path, monkeypatch, capsys
):
    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.data import PREPROCESSINGS
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    entry = model_dicts[BenchmarkDataset.imagenet][ThreatModel.Linf]["Salman2020Do_R18"]
    torch.manual_seed(1)
    reference = entry["model"]().eval()
    folder = tmp_path / "models" / "imagenet" / "Linf"
    folder.mkdir(parents=True)
    torch.save(reference.model.state_dict(), folder / "Salman2020Do_R18.pt")  # robustbench's layout
    monkeypatch.setenv("FREQBENCH_MODEL_DIR", str(tmp_path / "models"))
    board = tmp_path / "boards" / "imagenet"
    done = freqbench(
        "evaluate", "--model", "robustbench:imagenet/Linf/Salman2020Do_R18", "--dataset",
        "imagenet", "--data-dir", str(imagenet_root), "--n-examples", "4",
        "--autoattack-n-examples", "2", *SMALL_CARD, "--out", str(board), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(next(board.glob("*.json")).read_text())
    x = torch.stack(
        [
            PREPROCESSINGS["Res256Crop224"](Image.open(p).convert("RGB"))
            for p in _files(imagenet_root)[:4]
        ]
    )
    with torch.no_grad():
        predicted = reference(x).argmax(1)
    assert record["protocol"]["preprocessing"] == "Res256Crop224"
    assert (
        record["metrics"]["clean"]["predicted_classes"]
        == torch.bincount(predicted, minlength=1000).tolist()
    )
    assert len(record["metrics"]) == 8  # the whole card
    assert record["metrics"]["filters"]["first_layer"]["k"] == 7  # ResNet-18's 7x7 stem
    # The corruption view of an ImageNet board shows the mCE (no Fashion-MNIST page does).
    from freqbench.cli import main

    assert main([
        "leaderboard", "--dataset", "imagenet", "--records-dir", str(board.parent),
        "--threat-model", "corruptions", "--table", "unranked",
    ]) == 0  # fmt: skip
    page, mce = capsys.readouterr().out, record["metrics"]["corruptions"]["mce"]
    assert "mCE" in page and f"{100 * mce:.2f}" in page


@pytest.mark.slow
def test_imagenet_data_errors_reach_the_cli_as_one_line(tmp_path):
    done = freqbench(
        "evaluate", "--model", "timm:resnet10t", "--random-init", "--dataset", "imagenet",
        "--data-dir", str(tmp_path), "--n-examples", "2", "--metrics", "clean", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no ImageNet validation folder" in done.stderr and "Traceback" not in done.stderr


class _BrightIsClass979(torch.nn.Module):
    """Predicts class 979 for an image brighter than mid-grey, class 0 otherwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = (x.mean(dim=(1, 2, 3)) > 0.5).float()
        logits = torch.zeros(len(x), 1000)
        logits[:, 979], logits[:, 0] = bright, 1 - bright
        return logits


def test_imagenet_c_release_files_are_read_per_cell_for_the_same_images(imagenet_root, tmp_path):
    """Each cell's accuracy from ImageNet-C's layout; image 0 (class 979) is written bright in
    some cells and dark in others, so every cell's count is known by hand."""
    from freqbench.corruptions.params import CORRUPTIONS, SEVERITIES
    from freqbench.metrics.builtin.corruptions import corruption_accuracy

    data = load_dataset("imagenet", n_examples=2, data_dir=imagenet_root)
    assert data.labels.tolist()[0] == 979
    rng = np.random.default_rng(1)
    expected = {}
    for name in CORRUPTIONS:
        for severity in SEVERITIES:
            bright = bool(rng.integers(2))
            for k, path in enumerate(data.files):
                target = (
                    tmp_path / "ImageNet-C" / name / str(severity) / path.parent.name / path.name
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                value = 230 if (k == 0 and bright) else 20
                Image.fromarray(np.full((224, 224, 3), value, np.uint8)).save(target, "JPEG")
            expected[name, severity] = (1 if bright else 0) / 2  # image 1 (class 441): never
    block = corruption_accuracy(_BrightIsClass979(), data, corruptions_dir=tmp_path, progress=False)
    cells = block.values["cells"]
    for (name, severity), accuracy in expected.items():
        assert cells[name][severity - 1] == accuracy
    assert block.values["source"] == "files"
    assert block.values["mean"] == pytest.approx(sum(expected.values()) / 75)
    (
        tmp_path / "ImageNet-C" / "fog" / "3" / data.files[1].parent.name / data.files[1].name
    ).unlink()
    with pytest.raises(UserError, match=r"1 of the 2 imagenet images .* missing.*fog/3"):
        corruption_accuracy(_BrightIsClass979(), data, corruptions_dir=tmp_path, progress=False)
    with pytest.raises(UserError, match="release layout"):
        corruption_accuracy(
            _BrightIsClass979(), data, corruptions_dir=imagenet_root, progress=False
        )


def _release_folder(root: Path, files: tuple[Path, ...]) -> Path:
    """ImageNet-C's release layout for ``files``: a 224 x 224 JPEG per cell and image, each
    its own pattern (so that a resize is seen)."""
    from freqbench.corruptions.params import CORRUPTIONS, SEVERITIES

    rng = np.random.default_rng(2)
    for name in CORRUPTIONS:
        for severity in SEVERITIES:
            for path in files:
                target = root / "ImageNet-C" / name / str(severity) / path.parent.name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                blocks = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
                pixels = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
                Image.fromarray(pixels).save(target, "JPEG", quality=90)
    return root


class _TakesOnly(torch.nn.Module):
    """Predicts class 0, for inputs of one size only (as a ViT's patch embedding asserts), and
    keeps what it is given."""

    def __init__(self, side: int):
        super().__init__()
        self.side, self.seen = side, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (self.side, self.side), f"input {tuple(x.shape)}"
        self.seen.append(x.clone())
        return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 1000).float()


@pytest.mark.parametrize(
    ("preprocessing", "side", "interpolation"),
    [
        ("timm:size=160,crop_pct=0.875,crop_mode=center,interpolation=bicubic", 160, "bicubic"),
        ("Crop288", 288, "bilinear"),  # RobustBench's, for its 288 px entries
    ],
)
def test_release_imagenet_c_is_resized_for_a_model_of_another_size(
    imagenet_root, tmp_path, monkeypatch, preprocessing, side, interpolation
):
    """The 224 px release JPEGs resized whole to the model's size with its own interpolation
    (PIL's, as torchvision's Resize does it), never fed at 224 to a model that takes another
    size; the block says so."""
    from freqbench.metrics.builtin.corruptions import CELLS, corruption_accuracy

    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")  # 75 cells: no worker processes each

    data = load_dataset(
        "imagenet", n_examples=2, data_dir=imagenet_root, preprocessing=preprocessing
    )
    release = _release_folder(tmp_path, data.files)
    model = _TakesOnly(side)
    block = corruption_accuracy(model, data, corruptions_dir=release, progress=False)
    assert block.values["release_resized"] == {
        "from": 224,
        "to": side,
        "interpolation": interpolation,
    }
    assert block.values["source"] == "files" and len(model.seen) == len(CELLS)
    pil = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[interpolation]
    for (name, severity), batch in list(zip(CELLS, model.seen, strict=True))[::7]:
        for k, path in enumerate(data.files):
            jpeg = release / "ImageNet-C" / name / str(severity) / path.parent.name / path.name
            resized = np.asarray(Image.open(jpeg).convert("RGB").resize((side, side), pil))
            expected = torch.from_numpy(resized.transpose(2, 0, 1).copy()).float() / 255
            torch.testing.assert_close(batch[k], expected, atol=1e-6, rtol=0)
    at_224 = load_dataset("imagenet", n_examples=2, data_dir=imagenet_root)  # Res256Crop224
    plain = corruption_accuracy(
        _TakesOnly(224), at_224, corruptions_dir=release, progress=False, shard=(0, 75)
    )
    assert "release_resized" not in plain.values


def test_a_160_px_timm_model_on_release_imagenet_c_is_a_non_standard_record(
    imagenet_root, tmp_path, monkeypatch, capsys
):
    """The issue's case: timm's test_vit takes 160 px (its patch embedding asserts it) and
    failed with an AssertionError on the 224 px release; now its record holds the resize,
    and its protocol is not standard, saying why."""
    from freqbench.cli import main
    from freqbench.protocol import deviations

    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")
    data = load_dataset("imagenet", n_examples=1, data_dir=imagenet_root)
    release = _release_folder(tmp_path / "release", data.files)
    out = tmp_path / "records"
    assert main([
        "evaluate", "--model", "timm:test_vit", "--random-init", "--dataset", "imagenet",
        "--data-dir", str(imagenet_root), "--n-examples", "1", "--metrics", "corruptions",
        "--corruptions-dir", str(release), "--out", str(out),
    ]) == 0, capsys.readouterr().err  # fmt: skip
    assert "resized 224 -> 160 px bicubic" in capsys.readouterr().out
    record = json.loads((out / "test_vit-random.json").read_text())
    block = record["metrics"]["corruptions"]
    assert block["release_resized"] == {"from": 224, "to": 160, "interpolation": "bicubic"}
    assert record["protocol"]["standard"] is False
    found = deviations("imagenet", record["protocol"], ["corruptions"])
    assert (
        "corruptions_source files resized from 224 to 160 px (bicubic): the standard reads"
        in "; ".join(found)
    )
    at_224 = {**record["protocol"], "preprocessing": "Res256Crop224"}
    assert not any("resized" in d for d in deviations("imagenet", at_224, ["corruptions"]))
    generated = {**record["protocol"], "corruptions_source": "generated"}
    assert not any("resized" in d for d in deviations("imagenet", generated, ["corruptions"]))


class _Recording(torch.nn.Module):
    """Predicts class 0 and keeps every batch it is given."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        logits = torch.zeros(len(x), 1000)
        logits[:, 0] = 1
        return logits


@pytest.mark.slow
def test_generated_imagenet_c_is_made_as_the_release_was_and_made_once(
    imagenet_root, tmp_path, monkeypatch
):
    """Without --corruptions-dir, ImageNet-C is made from the same files as make_imagenet_c.py
    made the release: Resize(256) + CenterCrop(224), the corruption, np.uint8, a JPEG of
    quality 85 (optimize=True), read back as a 224 x 224 image. Checked by hand for contrast
    (no randomness); a second evaluation reads every cell from the cache."""
    from torchvision import transforms

    from freqbench.corruptions.params import ALEXNET_ERRORS, CORRUPTIONS, SEVERITIES
    from freqbench.metrics.builtin import corruptions as metric

    data = load_dataset("imagenet", n_examples=2, data_dir=imagenet_root)
    model = _Recording()
    block = metric.corruption_accuracy(model, data, cache_dir=tmp_path, progress=False)
    seen = dict(zip(metric.CELLS, model.seen, strict=True))  # one batch per cell

    crop = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    for k, path in enumerate(data.files):
        pixels = np.asarray(crop(Image.open(path).convert("RGB"))) / 255.0
        means = pixels.mean(axis=(0, 1), keepdims=True)
        contrasted = np.clip((pixels - means) * 0.3 + means, 0, 1) * 255  # severity 2
        buffer = __import__("io").BytesIO()
        Image.fromarray(np.uint8(contrasted)).save(buffer, "JPEG", quality=85, optimize=True)
        expected = np.asarray(Image.open(buffer)).transpose(2, 0, 1) / np.float32(255)
        torch.testing.assert_close(seen["contrast", 2][k], torch.from_numpy(expected))
    assert all(batch.shape == (2, 3, 224, 224) for batch in model.seen)

    # class 0 is right for neither image (979, 441): every cell 0%, the mCE 1 / AlexNet's
    values = block.values
    assert values["source"] == "generated" and values["mean"] == 0
    assert values["generator"] == "freqbench-imagenet-c/2"  # snow with the 8-bit steps
    assert values["mce"] == pytest.approx(np.mean([1 / ALEXNET_ERRORS[c] for c in CORRUPTIONS]))

    def no_generation(*args, **kwargs):
        raise AssertionError("a cached cell was generated again")

    monkeypatch.setattr("freqbench.corruptions.corrupt", no_generation)
    again = _Recording()
    metric.corruption_accuracy(again, data, cache_dir=tmp_path, progress=False)
    assert len(again.seen) == len(CORRUPTIONS) * len(SEVERITIES)
    for before, after in zip(model.seen, again.seen, strict=True):
        assert torch.equal(before, after)


def test_generated_imagenet_c_chunks_draw_their_own_streams_and_are_shared(
    imagenet_root, tmp_path, monkeypatch
):
    """Chunk k of a cell draws from stream k, and a chunk is kept under its own files, so an
    image set that starts with the same images reads it back."""
    import io

    from freqbench.cache import ArrayCache
    from freqbench.corruptions import corrupt
    from freqbench.data import generated_imagenet_c as generated

    monkeypatch.setattr(generated, "IMAGENET_C_CHUNK", 1)
    cache, cell = ArrayCache(tmp_path), [("gaussian_noise", 3)]
    two = load_dataset("imagenet", n_examples=2, data_dir=imagenet_root)
    made = [images for _, _, images, _ in generated.generated_imagenet_c(two, 0, cell, cache)]
    assert len(made) == 2  # one chunk per image
    clean = load_dataset(
        "imagenet", n_examples=2, data_dir=imagenet_root, preprocessing="Res256Crop224"
    ).take(0, 2)
    for k in range(2):
        noisy = corrupt(clean.images[k : k + 1], "gaussian_noise", 3, 0, "imagenet", stream=k)
        pixels = (noisy[0].numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=85, optimize=True)
        expected = np.asarray(Image.open(buffer)).transpose(2, 0, 1) / np.float32(255)
        torch.testing.assert_close(made[k][0], torch.from_numpy(expected))
    assert not torch.equal(made[0], made[1])

    def no_generation(*args, **kwargs):
        raise AssertionError("a cached chunk was generated again")

    monkeypatch.setattr("freqbench.corruptions.corrupt", no_generation)
    one = load_dataset("imagenet", n_examples=1, data_dir=imagenet_root)
    [(_, _, again, _)] = generated.generated_imagenet_c(one, 0, cell, cache)
    assert torch.equal(again, made[0])


def test_a_cached_imagenet_c_chunk_whose_offsets_do_not_split_it_is_made_again(
    imagenet_root, tmp_path, monkeypatch
):
    """A chunk of another length (its sidecar's key, sha256, shape and dtype all agreeing)
    is checked before its files are cut out of it: a miss, one warning, made again."""
    from freqbench.cache import ArrayCache
    from freqbench.data import generated_imagenet_c as generated

    monkeypatch.setattr(generated, "IMAGENET_C_CHUNK", 2)
    cache, cell = ArrayCache(tmp_path), [("contrast", 1)]
    two = load_dataset("imagenet", n_examples=2, data_dir=imagenet_root)
    [(_, _, made, _)] = generated.generated_imagenet_c(two, 0, cell, cache)
    [entry] = cache.entries()
    stored = cache.get(entry.key)
    offsets = stored[:24].view(np.int64)
    cut = np.concatenate([np.array([0, offsets[1]], np.int64).view(np.uint8), stored[24:]])
    cache.put(entry.key, cut, entry.what)  # the offsets of one file over the bytes of two
    with pytest.warns(UserWarning, match="offsets do not split it into 2 JPEG files"):
        [(_, _, again, _)] = generated.generated_imagenet_c(two, 0, cell, cache)
    assert torch.equal(again, made)
    assert np.array_equal(cache.get(entry.key), stored)  # stored again as it was made


def test_imagenet_c_made_by_the_float_snow_generator_is_neither_read_nor_trusted(
    imagenet_root, tmp_path
):
    """Generator 1 kept snow's layer in float: a chunk it cached is not read back (the key
    names generator 2), and a block it made, which names no generator, is flagged."""
    from freqbench.cache import ArrayCache, content_key
    from freqbench.data import generated_imagenet_c as generated
    from freqbench.metrics import get_metric

    data = load_dataset("imagenet", n_examples=1, data_dir=imagenet_root)
    cache, cell = ArrayCache(tmp_path), [("snow", 2)]
    old_key = content_key({
        "kind": "imagenet-c-chunk", "generator": "freqbench-imagenet-c/1",
        "images": data.content_sha256(0, 100), "seed": 0, "corruption": "snow", "severity": 2,
        "chunk": 100, "stream": 0,
    })  # fmt: skip
    black = Image.new("RGB", (224, 224))
    buffer = __import__("io").BytesIO()
    black.save(buffer, "JPEG", quality=85)
    jpeg = np.frombuffer(buffer.getvalue(), np.uint8)
    offsets = np.array([0, len(jpeg)], np.int64)
    cache.put(old_key, np.concatenate([offsets.view(np.uint8), jpeg]), "generator 1's chunk")
    [(_, _, made, _)] = generated.generated_imagenet_c(data, 0, cell, cache)
    assert made.mean() > 0.2  # snow on a photo, not generator 1's black chunk read back

    [flag] = [f for f in get_metric("corruptions").flags if f.name == "float snow"]
    block = {"source": "generated", "mce": 0.9, "n": 1}
    assert flag.raised(block) and not flag.raised({**block, "generator": "freqbench-imagenet-c/2"})
    assert not flag.raised({"source": "generated", "n": 1})  # CIFAR's generator: no mCE
    assert not flag.raised({**block, "source": "files"})
