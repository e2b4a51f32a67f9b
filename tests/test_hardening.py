"""Bad inputs as a user meets them: exit code 2, one clear line, no traceback, nothing written.

Each row of :data:`CASES` builds its inputs in the test's temporary folder (tiny ones: the
synthetic dataset, hand-made IDX files, an untrained smallcnn), runs the command in-process
(a real subprocess where the row says so), and checks the exit code, the words of the error
line, the absence of a traceback, and that no file or folder appeared or changed anywhere
under the temporary folder. Then: a run killed before its first saved state restarts, a
diverging run stops, killed writes' temporary files are cleaned, every generated file gets
the same mode, and Markdown cells stay cells.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import stat
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from freqbench import atomic
from freqbench.checkpoints import CheckpointInfo, save_checkpoint
from freqbench.cli import main
from freqbench.config import TrainConfig
from freqbench.errors import UserError
from freqbench.training import resolve, train

ROOT = Path(__file__).resolve().parent.parent
MARKER = "pwned"  # what a code-carrying pickle would write


class _RunsCode:
    """Unpickling this runs a shell command that writes a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo {MARKER} > {self.marker}",))


# --- the inputs --------------------------------------------------------------------------


class Workspace:
    """The temporary folder of one row and helpers that make bad inputs in it."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, checkpoint: Path):
        self.root, self.monkeypatch, self.synthetic = root, monkeypatch, checkpoint
        self.marker = root / "marker"  # must never appear: checked after every row

    def path(self, name: str) -> Path:
        return self.root / name

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def file(self, name: str, data: bytes = b"x") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def checkpoint(
        self, name: str, dataset: str = "synthetic", channels: int | None = None
    ) -> Path:
        """An untrained smallcnn saved with its sidecar (``channels`` overrides the dataset's)."""
        info = CheckpointInfo.for_dataset("smallcnn", dataset, recipe="natural")
        if channels is not None:
            info.in_channels, info.mean, info.std = channels, [0.5] * channels, [0.25] * channels
        return save_checkpoint(info.build(), self.root / name, info)

    def damaged(self, name: str, data: bytes | Callable[[bytes], bytes]) -> Path:
        """A checkpoint whose weights file is replaced by ``data`` (or ``data(original)``);
        its sidecar keeps no sha256, so the damage reaches the reader."""
        path = self.checkpoint(name)
        original = path.read_bytes()
        path.write_bytes(data(original) if callable(data) else data)
        sidecar = path.with_suffix(".json")
        sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "sha256": None}))
        return path

    def pt(self, name: str, data: bytes | None = None, obj: object = None) -> Path:
        """A .pt checkpoint beside a synthetic sidecar: ``data`` bytes, or ``obj`` saved."""
        path = self.root / name
        if data is None:
            torch.save(obj, path)
        else:
            path.write_bytes(data)
        sidecar = json.loads(self.synthetic.with_suffix(".json").read_text())
        path.with_suffix(".json").write_text(json.dumps({**sidecar, "sha256": None}))
        return path

    def malicious_pickle(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump({"state_dict": _RunsCode(self.marker)}, f)
        return path

    def fmnist(self, name: str = "fmnist", n_test: int = 8, **files: bytes) -> Path:
        """Fashion-MNIST IDX files (gzip) with ``n_test`` test images; ``files`` replaces
        some by name (e.g. ``t10k_labels=...``)."""
        folder = self.folder(name)
        rng = np.random.default_rng(0)
        default = {
            "train_images": idx(rng.integers(0, 256, (8, 28, 28))),
            "train_labels": idx(np.arange(8) % 10),
            "t10k_images": idx(np.zeros((n_test, 28, 28))),
            "t10k_labels": idx(np.arange(n_test) % 10),
        }
        for key, data in {**default, **files}.items():
            split, kind = key.split("_")
            (folder / f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz").write_bytes(
                data
            )
        return folder

    def unwritable(self, name: str = "readonly") -> Path:
        """A folder nobody may write into: its mode is 0555 and, as root ignores modes, the
        calls that create files or folders in it are refused here too."""
        folder = self.folder(name)
        folder.chmod(0o555)
        self.monkeypatch.setattr(os, "mkdir", _denied(os.mkdir, folder))
        self.monkeypatch.setattr(os, "open", _denied(os.open, folder, writes_only=True))
        real_access = os.access
        self.monkeypatch.setattr(
            os,
            "access",
            lambda path, mode, *a, **k: (
                False
                if _inside(path, folder) and mode & os.W_OK
                else real_access(path, mode, *a, **k)
            ),
        )
        return folder

    def robustbench_dir(self) -> Path:
        folder = self.folder("models")
        self.monkeypatch.setenv("FREQBENCH_MODEL_DIR", str(folder))
        return self.folder("models/cifar10/Linf")


def _inside(path, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(folder)
    except TypeError:  # a file descriptor
        return False


def _denied(function, folder: Path, writes_only: bool = False):
    def call(path, *args, **kwargs):
        flags = args[0] if args else kwargs.get("flags", 0)
        writing = not writes_only or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and _inside(path, folder):
            raise PermissionError(13, "Permission denied", str(path))
        return function(path, *args, **kwargs)

    return call


def idx(array: np.ndarray, cut: int = 0) -> bytes:
    """A gzip-compressed IDX file of uint8 ``array``; ``cut`` drops that many bytes from the
    end of the uncompressed file (its header still announces the whole array)."""
    dims = array.shape
    raw = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    raw += np.asarray(array, dtype=np.uint8).tobytes()
    return gzip.compress(raw[: len(raw) - cut], mtime=0)


def evaluate_args(model: str | Path, *extra: str) -> list[str]:
    return ["evaluate", "--model", str(model), "--metrics", "clean", "--out", "records", *extra]


def train_args(out: str | Path, *extra: str, dataset: str = "synthetic") -> list[str]:
    args = ["train", "--dataset", dataset, "--epochs", "1", "--batch-size", "32"]
    args += ["--max-train-examples", "64", "--eval-examples", "4", "--device", "cpu"]
    return [*args, "--no-progress", "--out", str(out), *extra]


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Workspace], list[str]]  # makes the inputs, returns the command line
    expect: tuple[str, ...]  # words of the error line (case-insensitive)
    subprocess: bool = False  # run as a real process (exit code, stderr as the user sees it)
    xfail: str | None = None


def _robustbench_ensemble(ws: Workspace, bad: Callable[[Path], object]) -> list[str]:
    """Chen2020Adversarial, an ensemble of three: robustbench reads <Name>.pt_m0.pt ... _m2.pt."""
    folder = ws.robustbench_dir()
    for i in range(3):
        torch.save(
            {"state_dict": {"w": torch.zeros(1)}}, folder / f"Chen2020Adversarial.pt_m{i}.pt"
        )
    bad(folder)
    return ["evaluate", "--model", "robustbench:cifar10/Linf/Chen2020Adversarial"]


def _offline(ws: Workspace) -> None:
    from freqbench.compat import import_robustbench

    def no_network(gdrive_id, path):
        raise ConnectionError("no network")

    ws.monkeypatch.setattr(import_robustbench(), "download_gdrive_new", no_network)


def _misnamed_ensemble(ws: Workspace) -> list[str]:
    _offline(ws)
    folder = ws.robustbench_dir()
    for i in range(3):
        torch.save({"w": torch.zeros(1)}, folder / f"Chen2020Adversarial_m{i}.pt")
    return ["evaluate", "--model", "robustbench:cifar10/Linf/Chen2020Adversarial"]


def _zoo_download(ws: Workspace) -> list[str]:
    """A zoo entry with url= whose cached download is truncated (its sha256 matches it)."""
    original = ws.synthetic.read_bytes()
    data = original[: len(original) // 2]
    sha = hashlib.sha256(data).hexdigest()
    ws.monkeypatch.setenv("HOME", str(ws.folder("home")))
    cache = ws.folder("home/.cache/freqbench/zoo")
    (cache / f"{sha}.safetensors").write_bytes(data)
    sidecar = json.loads(ws.synthetic.with_suffix(".json").read_text())
    (cache / f"{sha}.json").write_text(json.dumps({**sidecar, "sha256": None}))
    ws.file(
        "model_zoo/synthetic/remote.toml",
        b'name = "remote"\ndataset = "synthetic"\narchitecture = "smallcnn"\n[weights]\n'
        b'url = "https://example.invalid/remote.safetensors"\nsha256 = "' + sha.encode() + b'"\n',
    )
    return evaluate_args("remote")


def _fmnist_eval(ws: Workspace, *extra: str, **files: bytes) -> list[str]:
    model = ws.checkpoint("fm.safetensors", "fashion-mnist")
    return evaluate_args(model, "--data-dir", str(ws.fmnist(**files)), *extra)


def _fmnist_train(ws: Workspace, **files: bytes) -> list[str]:
    return train_args("run", "--data-dir", str(ws.fmnist(**files)), dataset="fashion-mnist")


def _ray_env(ws: Workspace, address: str) -> list[str]:
    ws.monkeypatch.setenv("RAY_ADDRESS", address)
    return evaluate_args(ws.synthetic, "--executor", "ray")


def _mismatched_weights(ws: Workspace) -> list[str]:
    """A state dict of another network: two keys smallcnn lacks, one of the wrong shape."""
    state = {"conv.weight": torch.zeros(3), "fc.weight": torch.zeros(2),
             "features.0.weight": torch.zeros(7)}  # fmt: skip
    torch.save(state, ws.path("other.pt"))
    return ["evaluate", "--model", "smallcnn", "--dataset", "synthetic", "--weights",
            str(ws.path("other.pt"))]  # fmt: skip


def _symlink_loop(path: Path) -> Path:
    path.symlink_to(path.name)
    return path


CASES = [
    # Damaged checkpoints: info, evaluate --model, a zoo entry's download, RobustBench files.
    Case("info-empty-safetensors", lambda ws: ["info", str(ws.damaged("m.safetensors", b""))],
         ("is empty", "not a safetensors file")),
    Case("info-truncated-safetensors",
         lambda ws: ["info", str(ws.damaged("m.safetensors", lambda b: b[: len(b) // 2]))],
         ("truncated or corrupted", "safetensors"), subprocess=True),
    Case("evaluate-random-bytes-safetensors",
         lambda ws: evaluate_args(ws.damaged("m.safetensors", np.random.default_rng(0).bytes(4096))),
         ("not a readable safetensors file",)),
    Case("evaluate-huge-header-safetensors",
         lambda ws: evaluate_args(ws.damaged("m.safetensors", struct.pack("<Q", 2**62) + b"{}")),
         ("not a readable safetensors file", "header")),
    Case("info-truncated-pt", lambda ws: ["info", str(_truncated_pt(ws))],
         ("truncated or corrupted", "pytorch")),
    Case("evaluate-empty-pt", lambda ws: evaluate_args(ws.pt("m.pt", b"")), ("is empty",)),
    Case("evaluate-text-pt", lambda ws: evaluate_args(ws.pt("m.pt", b"hello\n")),
         ("not a readable pytorch file",)),
    Case("evaluate-random-bytes-pt",
         lambda ws: evaluate_args(ws.pt("m.pt", b"\x80\x02" + np.random.default_rng(0).bytes(999))),
         ("refusing to load", "or it is not a pytorch file")),
    Case("info-code-carrying-pt",
         lambda ws: ["info", str(ws.pt("m.pt", ws.malicious_pickle(ws.path("m.pt")).read_bytes()))],
         ("refusing to load", "could run code", "safetensors")),
    Case("info-missing-checkpoint", lambda ws: ["info", str(ws.path("nope.safetensors"))],
         ("does not exist",)),
    Case("evaluate-missing-model", lambda ws: evaluate_args(ws.path("runs/x/model.safetensors")),
         ("does not exist", "runs/x/model.safetensors")),
    Case("evaluate-missing-reference",
         lambda ws: ["evaluate", "--model", str(ws.synthetic), "--metrics", "filters", "--out",
                     str(ws.folder("records")), "--reference", str(ws.path("natural.safetensors"))],
         ("natural.safetensors does not exist",)),
    # With every metric, the reference is checked before the others run and write the record;
    # the --out folder is made at the first write, so none is left behind.
    Case("evaluate-all-missing-reference",
         lambda ws: ["evaluate", "--model", str(ws.synthetic), "--n-examples", "8", "--out",
                     str(ws.path("new-records")), "--reference", str(ws.path("natural.safetensors"))],
         ("natural.safetensors does not exist",)),
    Case("zoo-url-truncated-download", _zoo_download,
         ("remote.toml", "downloaded from", "truncated or corrupted")),
    Case("robustbench-ensemble-code-carrying-m0",
         lambda ws: _robustbench_ensemble(
             ws, lambda d: ws.malicious_pickle(d / "Chen2020Adversarial.pt_m0.pt")),
         ("refusing to load", "Chen2020Adversarial.pt_m0.pt", "could run code")),
    Case("robustbench-ensemble-non-tensor-m1",
         lambda ws: _robustbench_ensemble(
             ws, lambda d: torch.save([1, 2, 3], d / "Chen2020Adversarial.pt_m1.pt")),
         ("Chen2020Adversarial.pt_m1.pt holds no tensors",)),
    Case("robustbench-ensemble-text-m2",
         lambda ws: _robustbench_ensemble(
             ws, lambda d: (d / "Chen2020Adversarial.pt_m2.pt").write_text("not weights")),
         ("Chen2020Adversarial.pt_m2.pt is not a readable pytorch file", "neither")),
    Case("robustbench-ensemble-misnamed-offline", _misnamed_ensemble,
         ("could not download", "Chen2020Adversarial.pt_m0.pt", "rename them")),
    Case("evaluate-unknown-timm-model",
         lambda ws: ["evaluate", "--model", "timm:resnet1", "--dataset", "synthetic"],
         ("unknown timm model 'resnet1'", "did you mean: resnet18", "timm.list_models")),
    # Outputs that cannot be written.
    Case("train-out-under-a-file", lambda ws: train_args(ws.file("taken") / "run"),
         ("taken is a file, not a folder", "--out")),
    Case("train-out-unwritable", lambda ws: train_args(ws.unwritable() / "run"),
         ("not writable", "--out")),
    Case("evaluate-out-under-a-file",
         lambda ws: [*evaluate_args(ws.synthetic)[:-2], "--out", str(ws.file("taken") / "records")],
         ("taken/records", "not a folder")),
    Case("evaluate-out-unwritable",
         lambda ws: [*evaluate_args(ws.synthetic)[:-2], "--out", str(ws.unwritable())],
         ("cannot write", "permission denied")),
    Case("leaderboard-out-under-a-file",
         lambda ws: ["leaderboard", "--dataset", "fashion-mnist", "--records-dir",
                     str(ROOT / "leaderboards"), "--out", str(ws.file("taken") / "board.md")],
         ("taken is a file, not a folder",)),
    Case("leaderboard-out-unwritable",
         lambda ws: ["leaderboard", "--dataset", "fashion-mnist", "--records-dir",
                     str(ROOT / "leaderboards"), "--out", str(ws.unwritable() / "board.md")],
         ("cannot write", "permission denied")),
    # Data folders and IDX files.
    Case("train-data-dir-missing",
         lambda ws: train_args("run", "--data-dir", str(ws.path("no-such-data")),
                               dataset="fashion-mnist"),
         ("--data-dir", "no-such-data does not exist")),
    Case("evaluate-data-dir-missing",
         lambda ws: evaluate_args(ws.checkpoint("fm.safetensors", "fashion-mnist"), "--data-dir",
                                  str(ws.path("no-such-data"))),
         ("--data-dir", "no-such-data does not exist")),
    Case("train-idx-not-gzip",
         lambda ws: _fmnist_train(ws, train_images=b"\x00\x00\x08\x03 plain, not gzip"),
         ("train-images-idx3-ubyte.gz is not gzip-compressed",)),
    Case("train-idx-truncated-gzip",
         lambda ws: _fmnist_train(ws, train_labels=idx(np.arange(8) % 10)[:-12]),
         ("train-labels-idx1-ubyte.gz is a damaged gzip file", "truncated")),
    Case("evaluate-idx-truncated-data",
         lambda ws: _fmnist_eval(ws, t10k_images=idx(np.zeros((8, 28, 28)), cut=100)),
         ("t10k-images-idx3-ubyte.gz is truncated or corrupted", "header announces 8x28x28")),
    Case("evaluate-idx-images-labels-mismatch",
         lambda ws: _fmnist_eval(ws, t10k_labels=idx(np.arange(10) % 10)),
         ("8 images", "10 labels", "do not belong together")),
    Case("train-idx-label-out-of-range",
         lambda ws: _fmnist_train(ws, train_labels=idx(np.full(8, 12))),
         ("holds the label 12", "0 to 9")),
    Case("evaluate-idx-wrong-image-size",
         lambda ws: _fmnist_eval(ws, t10k_images=idx(np.zeros((8, 32, 32)))),
         ("t10k-images-idx3-ubyte.gz", "not fashion-mnist images")),
    # Training options that are nonsense.
    Case("train-lr-inf", lambda ws: train_args("run", "--lr", "inf"),
         ("argument --lr: must be a finite number > 0, got 'inf'",)),
    Case("train-eps-nan", lambda ws: train_args("run", "--eps", "nan"),
         ("argument --eps: must be a finite number >= 0, got 'nan'",)),
    Case("train-lr-1e9-diverges", lambda ws: train_args("run", "--lr", "1e9"),
         ("training diverged in epoch 1", "step 2 of 2", "no model was written", "lower --lr")),
    # Evaluation options (checked by the evaluator and the protocol).
    Case("evaluate-eps-nan", lambda ws: evaluate_args(ws.synthetic, "--eps", "nan"), ("eps",)),
    Case("evaluate-eps-inf", lambda ws: evaluate_args(ws.synthetic, "--eps", "inf"), ("eps",)),
    Case("evaluate-eps-0", lambda ws: evaluate_args(ws.synthetic, "--eps", "0"), ("eps",)),
    Case("evaluate-eps-1e9", lambda ws: evaluate_args(ws.synthetic, "--eps", "1e9"),
         ("--eps 1e+09", "larger than any")),
    Case("evaluate-seed-negative", lambda ws: evaluate_args(ws.synthetic, "--seed", "-1"),
         ("seed",)),
    Case("evaluate-autoattack-n-examples-over-test-set",
         lambda ws: evaluate_args(ws.checkpoint("fm.safetensors", "fashion-mnist"),
                                  "--autoattack-n-examples", "20000"),
         ("--autoattack-n-examples 20000", "10000")),
    Case("evaluate-name-escapes-folder",
         lambda ws: evaluate_args(ws.synthetic, "--name", "../../escaped"),
         ("record name '../../escaped'", "--name")),
    Case("evaluate-name-absolute", lambda ws: evaluate_args(ws.synthetic, "--name", "/abs/path"),
         ("record name '/abs/path'", "--name")),
    Case("evaluate-name-html", lambda ws: evaluate_args(ws.synthetic, "--name", "<script>x"),
         ("record name '<script>x'", "--name")),
    # Where the work runs: malformed Ray addresses fail before Ray starts.
    Case("evaluate-ray-address-garbage",
         lambda ws: evaluate_args(ws.synthetic, "--executor", "ray", "--ray-address", "garbage"),
         ("--ray-address garbage is not a ray cluster address", "host:port")),
    Case("evaluate-ray-address-port-not-a-number",
         lambda ws: evaluate_args(ws.synthetic, "--executor", "ray", "--ray-address", "127.0.0.1:abc"),
         ("--ray-address 127.0.0.1:abc is not a ray cluster address",)),
    Case("evaluate-ray-address-env-three-parts", lambda ws: _ray_env(ws, "a:b:c"),
         ("ray_address=a:b:c is not a ray cluster address",)),
    Case("evaluate-ray-client-without-its-extra",
         lambda ws: evaluate_args(ws.synthetic, "--executor", "ray", "--ray-address", "ray://127.0.0.1:10001"),
         ('pip install "ray[client]"',)),
    Case("evaluate-threads-zero", lambda ws: evaluate_args(ws.synthetic, "--threads", "0"),
         ("argument --threads: must be an integer in [1, 8192], got '0'",)),
    # State dicts that do not fit, and links that lead nowhere.
    Case("evaluate-weights-that-do-not-fit", _mismatched_weights,
         ("does not fit architecture 'smallcnn'", "11 missing keys: features.0.bias",
          "(11 in all)", "2 unexpected keys: conv.weight, fc.weight",
          "1 misshapen key: features.0.weight (file (7,), model (16, 3, 3, 3))")),
    Case("evaluate-weights-symlink-loop",
         lambda ws: ["evaluate", "--model", "smallcnn", "--dataset", "synthetic", "--weights",
                     str(_symlink_loop(ws.path("loop.pt")))],
         ("loop.pt is a symbolic link that loops",)),
    Case("evaluate-3-channel-model-on-1-channel-data",
         lambda ws: evaluate_args(ws.checkpoint("rgb.safetensors", "fashion-mnist", channels=3),
                                  "--data-dir", str(ws.fmnist(n_test=10000))),
         ("cannot take fashion-mnist images of shape (1, 28, 28)", "(N, 3, H, W)")),
]  # fmt: skip


def _truncated_pt(ws: Workspace) -> Path:
    path = ws.pt("m.pt", obj={"w": torch.zeros(256)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _snapshot(root: Path) -> dict[str, tuple[int, int, int] | None]:
    """Every file and folder under ``root`` by relative path: a file's (mode, size, mtime); a
    folder only as present (its mtime moves when something is made in it and removed)."""
    found: dict[str, tuple[int, int, int] | None] = {}
    for path in root.rglob("*"):
        info = path.lstat()
        key = str(path.relative_to(root))
        is_dir = stat.S_ISDIR(info.st_mode)
        found[key] = None if is_dir else (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def _run(args: list[str], real_process: bool, capsys) -> tuple[int, str]:
    if real_process:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "freqbench.cli", *args],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        return done.returncode, done.stderr
    code = main(args)
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """An untrained smallcnn on the synthetic dataset: every row needs a model, none a good one."""
    info = CheckpointInfo.for_dataset("smallcnn", "synthetic", recipe="natural")
    return save_checkpoint(
        info.build(), tmp_path_factory.mktemp("ckpt") / "model.safetensors", info
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail else c
        for c in CASES
    ],
    ids=lambda c: c.id,
)
def test_bad_input_is_one_clear_error_and_writes_nothing(
    case: Case, tmp_path, monkeypatch, capsys, untrained_checkpoint
):
    monkeypatch.chdir(tmp_path)  # default outputs (records, runs) would land here too
    ws = Workspace(tmp_path, monkeypatch, untrained_checkpoint)
    args = case.setup(ws)
    before = _snapshot(tmp_path)
    try:
        code, stderr = _run(args, case.subprocess, capsys)
    finally:
        for folder in tmp_path.rglob("*"):
            if folder.is_dir() and not folder.stat().st_mode & stat.S_IWUSR:
                folder.chmod(0o755)  # let pytest clean up
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if ": error: " in line]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(f"freqbench {args[0]}: error: "), line
    for words in case.expect:
        assert words.lower() in line.lower(), f"{words!r} not in {line!r}"
    assert code == 2, stderr
    assert _snapshot(tmp_path) == before
    assert not ws.marker.exists(), "a pickle ran code"


# --- killed, diverged and leftover runs --------------------------------------------------

TINY = TrainConfig(  # what train_args asks for
    dataset="synthetic", epochs=1, batch_size=32, max_train_examples=64, eval_examples=4,
    device="cpu",
)  # fmt: skip


def _killed_in_first_epoch(run: Path, config: TrainConfig = TINY) -> None:
    """What a run killed in its first epoch leaves: config.json, and the temporary file of a
    state save cut short; no state.pt, no model."""
    run.mkdir()
    atomic.write_json(run / "config.json", resolve(config).as_dict())
    (run / ".state.pt.dead0001.tmp").write_bytes(b"PK\x03\x04 half a state")


@pytest.mark.slow
def test_resume_restarts_a_run_killed_before_its_first_saved_state(tmp_path, capsys):
    _killed_in_first_epoch(tmp_path / "run")
    result = train(TINY, tmp_path / "run", resume=True, progress=False)  # as grid and demo do
    assert "starting it again from epoch 1" in capsys.readouterr().err
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == [
        "config.json",
        "model.json",
        "model.safetensors",
        "state.pt",
        "train_log.jsonl",
    ]
    assert [r["epoch"] for r in map(json.loads, result.log.read_text().splitlines())] == [1]


@pytest.mark.slow
def test_cli_resume_restarts_and_a_different_config_is_refused(tmp_path, capsys):
    _killed_in_first_epoch(tmp_path / "other", TINY.replace(seed=5))
    assert main(train_args(tmp_path / "other", "--resume")) == 2
    assert "config differs" in capsys.readouterr().err
    assert (tmp_path / "other" / "config.json").is_file()  # nothing deleted
    _killed_in_first_epoch(tmp_path / "run")
    assert main(train_args(tmp_path / "run", "--resume")) == 0
    assert "starting it again" in capsys.readouterr().err
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_divergence_stops_the_run_and_writes_no_model(tmp_path, monkeypatch):
    with pytest.raises(
        UserError, match=r"diverged in epoch 1, step \d+ of 2 .*the loss is (nan|inf)"
    ):
        train(TINY.replace(lr=1e9), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # the run saved nothing worth keeping

    # Weights that the last step of an epoch made NaN: no loss saw them, the check after it does.
    step = torch.optim.SGD.step

    def poisoned(self, *args, **kwargs):
        result = step(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][0].fill_(float("nan"))
        return result

    monkeypatch.setattr(torch.optim.SGD, "step", poisoned)
    with pytest.raises(UserError, match=r"weights became NaN or infinite at step 1 of 1"):
        train(TINY.replace(max_train_examples=32), tmp_path / "last", progress=False)
    assert not (tmp_path / "last").exists()


def test_a_killed_writes_temporary_file_is_cleaned_by_the_next_write(tmp_path):
    import fcntl

    target = tmp_path / "page.md"
    dead = tmp_path / ".page.md.dead0001.tmp"
    dead.write_text("half")
    live = tmp_path / ".page.md.live0001.tmp"
    live.write_text("being written")
    with open(live) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a writer still at work holds its file
        atomic.write_text(target, "page\n")
        assert not dead.exists() and live.exists()
    assert target.read_text() == "page\n"
    other = tmp_path / ".other.md.dead0001.tmp"
    other.write_text("another file's")
    atomic.write_text(target, "again\n")
    assert other.exists() and not live.exists()  # released: a leftover now


@pytest.mark.slow
def test_every_generated_file_gets_the_same_mode(tmp_path):
    old = os.umask(0o022)
    try:
        info = CheckpointInfo.for_dataset("smallcnn", "synthetic")
        model = info.build()
        files = [
            save_checkpoint(model, tmp_path / "m.safetensors", info),
            tmp_path / "m.json",
            atomic.write_text(tmp_path / "page.md", "x"),
            _first_conv_grid(model, tmp_path / "f.png"),
        ]
    finally:
        os.umask(old)
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {"0o644"}


def _first_conv_grid(model: torch.nn.Module, path: Path) -> Path:
    from freqbench.plots.filters import plot_filter_grid

    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    return plot_filter_grid(conv.weight.detach().numpy(), "conv", path)


# --- Markdown cells ----------------------------------------------------------------------


def test_markdown_cells_stay_cells_and_plain_text():
    import pandas as pd

    from freqbench.leaderboard.markdown import escape, table_markdown
    from freqbench.leaderboard.table import Column, Table

    venues = [
        "ICLR\r2024",
        "a\r\nb\nc\u2028d\x0be\x85f",
        "![pixel](https://evil.invalid/p.png)",
        "[click](https://evil.invalid)",
        "a | b <img src=x>",
    ]
    table = Table(
        "main",
        "t",
        [Column("model", "Model", "text"), Column("venue", "Venue", "text")],
        pd.DataFrame({"model": [f"m{i}" for i in range(len(venues))], "venue": venues}),
    )
    lines = table_markdown(table).splitlines()
    assert len(lines) == 2 + len(venues)  # header, rule, one line per row
    assert all(line.count("|") - line.count("\\|") == 3 for line in lines)
    text = "\n".join(lines)
    assert "](" not in text.replace("\\](", "") and "<img" not in text
    assert escape("![x](y)") == "!\\[x\\](y)" and escape("ICLR\r2024") == "ICLR 2024"
