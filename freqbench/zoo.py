"""The model zoo: ``model_zoo/<dataset>/<name>.toml`` says how to build a model and where its weights are.

An entry is the unit a submission adds and a record refers to by name. Weights come from a
checkpoint beside the entry (``path``), a download checked against its sha256 (``url``) or
RobustBench's own zoo (``robustbench``); an optional transform (kernel smoothing) is applied
after loading, so a smoothed model is an entry of its own without new weights. Training
configs live in ``model_zoo/<dataset>/configs/`` and grid files (``grid.toml``, see
:mod:`freqbench.grid`) beside the entries; neither is an entry.
"""

from __future__ import annotations

import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench import atomic
from freqbench.architectures.external import ROBUSTBENCH_PREFIX
from freqbench.atomic import sha256_of
from freqbench.errors import UnknownNameError, UserError
from freqbench.paths import GRID_FILE, ZOO_DIR
from freqbench.schemas import schema_problems

if TYPE_CHECKING:  # finding and reading entries stays torch-free (names are checked early)
    from torch import nn

    from freqbench.checkpoints import CheckpointInfo

DOWNLOAD_TIMEOUT_S = 60


def default_root() -> Path:
    """``model_zoo`` of the current folder when it exists (kept relative, as records quote entry
    paths), else the one beside the package (an editable checkout)."""
    here = Path(ZOO_DIR)
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / ZOO_DIR


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "freqbench" / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    """One ``model_zoo/<dataset>/<name>.toml`` file, as read."""

    name: str
    dataset: str
    architecture: str
    path: Path
    weights: dict[str, str]
    recipe: str | None = None
    bass_mode: str | None = None
    transform: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def weights_path(self) -> Path | None:
        """The checkpoint file of a ``path`` entry, resolved against the entry's folder."""
        relative = self.weights.get("path")
        return self.path.parent / relative if relative else None

    @property
    def sha256(self) -> str | None:
        return self.weights.get("sha256")

    def load_model(
        self, device: str = "cpu", cache_dir: Path | None = None
    ) -> tuple[nn.Module, CheckpointInfo | None]:
        """The model in eval mode with its transform applied, and its sidecar (None for RobustBench)."""
        from freqbench.architectures import create_model
        from freqbench.checkpoints import load_checkpoint
        from freqbench.spectral import smooth_kernels

        info: CheckpointInfo | None = None
        if "robustbench" in self.weights:
            model = create_model(ROBUSTBENCH_PREFIX + self.weights["robustbench"])
        else:
            if "url" in self.weights:
                file = download(self.weights["url"], self.weights["sha256"], cache_dir)
                where = f"the weights downloaded from {self.weights['url']}"
            else:
                file = self._checked_local_weights()
                where = f"weights.path '{self.weights['path']}'"
            try:
                model, info = load_checkpoint(file)
            except UserError as exc:
                raise UserError(f"{self.path}: {where}: {exc}") from None
            self._check_sidecar(info)
        smooth = self.transform.get("smooth_kernels")
        if smooth:
            model = smooth_kernels(model, smooth["rho"], smooth["layers"])
        return model.to(device).eval(), info

    def _checked_local_weights(self) -> Path:
        file = self.weights_path
        assert file is not None  # the schema admits exactly one of path, url, robustbench
        if not file.is_file():
            raise UserError(f"{self.path}: weights.path '{self.weights['path']}' does not exist")
        if self.sha256 and sha256_of(file) != self.sha256:
            raise UserError(f"{self.path}: {file} does not match weights.sha256")
        return file

    def _check_sidecar(self, info: CheckpointInfo) -> None:
        """A checkpoint built for another architecture or dataset means the entry is wrong."""
        for key in ("architecture", "dataset"):
            if getattr(info, key) != getattr(self, key):
                raise UserError(
                    f"{self.path}: {key} is '{getattr(self, key)}' but the checkpoint's sidecar "
                    f"says '{getattr(info, key)}'"
                )


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file and, through tomllib, the line."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def entry_from_data(data: dict[str, Any], path: Path) -> ZooEntry:
    """Build an entry from parsed TOML, or a UserError naming the file and every bad key."""
    problems = schema_problems("zoo_entry", data)
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return ZooEntry(
        name=data["name"],
        dataset=data["dataset"],
        architecture=data["architecture"],
        path=Path(path),
        weights=dict(data["weights"]),
        recipe=data.get("recipe"),
        bass_mode=data.get("bass_mode"),
        transform=_with_defaults(data.get("transform", {})),
        training=data.get("training", {}),
        metadata=data.get("metadata", {}),
    )


def _with_defaults(transform: dict[str, Any]) -> dict[str, Any]:
    """Spell out what an omitted option means, so the record states the transform in full."""
    smooth = transform.get("smooth_kernels")
    if smooth is None:
        return transform
    return {**transform, "smooth_kernels": {"layers": "first", **smooth}}


def load_entry(path: str | Path) -> ZooEntry:
    path = Path(path)
    return entry_from_data(read_toml(path), path)


def entry_files(root: Path) -> list[Path]:
    """Every ``<root>/<dataset>/*.toml`` but grid files; ``configs/`` is one level deeper, so skipped."""
    if not root.is_dir():
        return []
    return sorted(f for f in root.glob("*/*.toml") if f.name != GRID_FILE)


def grid_files(root: Path) -> list[Path]:
    return sorted(root.glob(f"*/{GRID_FILE}")) if root.is_dir() else []


def list_entries(root: str | Path | None = None, dataset: str | None = None) -> list[ZooEntry]:
    """All entries under ``root`` (default: :func:`default_root`), optionally of one dataset."""
    root = Path(root) if root is not None else default_root()
    files = entry_files(root)
    if dataset is not None:
        files = [f for f in files if f.parent.name == dataset]
    return [load_entry(f) for f in files]


def find_entry(name: str, root: str | Path | None = None) -> ZooEntry:
    """The entry called ``name``; only its own file is parsed, so a broken neighbour cannot block it."""
    root = Path(root) if root is not None else default_root()
    files = entry_files(root)
    matches = [f for f in files if f.stem == name]
    if not matches:
        from freqbench.architectures import list_architectures

        if name in list_architectures():
            raise UserError(
                f"{name} is an architecture, not a zoo entry or a checkpoint: pass --weights "
                "PATH (a state dict of it) or --random-init, with --dataset"
            )
        raise UnknownNameError("zoo entry", name, sorted({f.stem for f in files}))
    if len(matches) > 1:
        raise UserError(
            f"zoo entry name '{name}' is used by {len(matches)} files "
            f"({', '.join(map(str, matches))}): names must be unique across the zoo"
        )
    entry = load_entry(matches[0])
    if entry.name != name:
        raise UserError(f"{matches[0]}: name is '{entry.name}' but must equal the file stem")
    return entry


def sidecar_url(url: str) -> str:
    return url.removesuffix(".safetensors") + ".json"


def _fetch(url: str, target: Path) -> None:
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            atomic.atomic_path(target) as tmp,
            open(tmp, "wb") as out,
        ):
            while block := response.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"could not download {url}: {reason}. Without network, place the file at {target}"
        ) from None


def download(url: str, sha256: str, cache_dir: Path | None = None) -> Path:
    """Fetch weights and sidecar into ``<cache>/<sha256>.safetensors`` (+ ``.json``), hash checked.

    A cached file whose hash matches is reused; one that does not is fetched again.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    weights = cache / f"{sha256}.safetensors"
    if not (weights.is_file() and sha256_of(weights) == sha256):
        _fetch(url, weights)
        actual = sha256_of(weights)
        if actual != sha256:
            weights.unlink()
            raise UserError(f"{url}: sha256 is {actual}, but the entry says {sha256}")
    sidecar = weights.with_suffix(".json")
    if not sidecar.is_file():
        _fetch(sidecar_url(url), sidecar)
    return weights
