"""Evaluation records (``leaderboards/<dataset>/<name>.json``): reading them and checking them.

A record is what the evaluator writes and the leaderboard reads. Beyond the schema, a record
must be internally consistent: RobustBench's ``model_info`` percentages repeat the metric
fractions, and only filter statistics may be NaN (a statistic with no meaning for a layer).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqbench.architectures import list_architectures
from freqbench.architectures.external import ROBUSTBENCH_PREFIX, TIMM_PREFIX
from freqbench.checkpoints import read_sidecar, sha256_of
from freqbench.data import list_datasets
from freqbench.errors import UnknownNameError, UserError
from freqbench.recipes import list_recipes
from freqbench.schemas import key_path, schema_problems
from freqbench.zoo import (
    GRID_FILE,
    ZooEntry,
    default_root,
    entry_files,
    entry_from_data,
    grid_files,
    read_toml,
)

RECORDS_DIR = "leaderboards"

#: model_info percentage -> the metric fraction it repeats.
_PERCENT_OF = {
    "clean_acc": ("clean", "accuracy"),
    "autoattack_acc": ("autoattack", "robust_accuracy"),
    "corruptions_acc": ("corruptions", "mean"),
}
#: How far a model_info percentage may sit from 100 x its fraction (the evaluator rounds to 2 decimals).
_PERCENT_TOLERANCE = 0.01


def dig(data: Any, *keys: Any) -> Any:
    """``data[k0][k1]...`` or None where any level is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


@dataclass(frozen=True)
class Record:
    """A record's data and its file; artifacts are named relative to the file's folder."""

    data: dict[str, Any]
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def dataset(self) -> str:
        return self.data["dataset"]

    def get(self, *keys: Any) -> Any:
        return dig(self.data, *keys)

    def artifact(self, key: str) -> Path | None:
        """The artifact file when the record names one and it exists beside the record."""
        name = self.get("artifacts", key)
        if not name or self.path is None:
            return None
        file = self.path.parent / name
        return file if file.is_file() else None


def read_json(path: str | Path) -> Any:
    """Parse JSON (NaN allowed); a syntax error names the file, line and column."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def _non_finite(data: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, float) and not math.isfinite(data):
        yield where
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite(value, (*where, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _non_finite(value, (*where, i))


def _consistency_problems(data: dict[str, Any]) -> list[str]:
    problems = []
    for key, other in (("name", ("name",)), ("dataset", ("dataset",))):
        if dig(data, "model_info", key) != data[key]:
            problems.append(
                f"model_info.{key}: '{dig(data, 'model_info', key)}' differs from {key_path(other)}"
            )
    if dig(data, "model_info", "architecture") != dig(data, "model", "architecture"):
        problems.append("model_info.architecture: differs from model.architecture")
    for key, block_key in _PERCENT_OF.items():
        percent, fraction = dig(data, "model_info", key), dig(data, "metrics", *block_key)
        if fraction is None:
            if percent is not None:
                problems.append(
                    f"model_info.{key}: is {percent} but metrics.{block_key[0]} is missing"
                )
        elif percent is None or abs(percent - 100 * fraction) > _PERCENT_TOLERANCE:
            problems.append(
                f"model_info.{key}: is {percent}, but metrics.{'.'.join(block_key)} is {fraction} "
                f"(expected {100 * fraction:.2f})"
            )
    return problems


def _content_problems(data: dict[str, Any]) -> list[str]:
    """NaN and consistency problems of a record that satisfies the schema."""
    problems = [
        f"{key_path(where)}: not a finite number (NaN is allowed only in metrics.filters)"
        for where in _non_finite(data)
        if where[:2] != ("metrics", "filters")
    ]
    return problems + _consistency_problems(data)


def record_problems(data: Any) -> list[str]:
    """Every schema, NaN and consistency problem of a parsed record, as ``key: problem`` lines.

    Content is checked only once the schema holds: it would otherwise repeat the same gaps.
    """
    return schema_problems("record", data) or _content_problems(data)


def load_record(path: str | Path) -> Record:
    """Read and check one record; a UserError names the file and every problem."""
    path = Path(path)
    data = read_json(path)
    problems = record_problems(data)
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return Record(data, path)


def record_files(folder: Path) -> list[Path]:
    """The records of one dataset folder: its JSON files, minus hidden ones (AutoAttack resume
    states, half-written temporary files)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def load_records(folder: str | Path) -> list[Record]:
    """Every record in ``folder``, checked; an empty or missing folder is a UserError."""
    folder = Path(folder)
    files = record_files(folder)
    if not files:
        why = "does not exist" if not folder.is_dir() else "holds no records (*.json)"
        raise UserError(
            f"{folder} {why}: evaluate a model into it first, e.g. `freqbench submit "
            f"model_zoo/{folder.name}/<name>.toml`"
        )
    return [load_record(f) for f in files]


def dataset_folders(records_dir: str | Path) -> list[Path]:
    """The dataset folders of ``records_dir`` that hold at least one record."""
    root = Path(records_dir)
    if not root.is_dir():
        return []
    return [p for p in sorted(root.iterdir()) if p.is_dir() and record_files(p)]


# --- The repository check behind `freqbench validate`: entries, records and the files they name.


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{display_path(self.path)}: {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    problems: list[Problem]
    n_entries: int
    n_records: int
    n_grids: int = 0

    def summary(self) -> str:
        found = f"{len(self.problems)} problem(s)" if self.problems else "no problems"
        entries = f"{self.n_entries} zoo {'entry' if self.n_entries == 1 else 'entries'}"
        records = f"{self.n_records} record{'' if self.n_records == 1 else 's'}"
        grids = (
            f", {self.n_grids} grid file{'' if self.n_grids == 1 else 's'}" if self.n_grids else ""
        )
        return f"checked {entries}{grids} and {records}: {found}"


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it: shorter, and clickable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _walk(path: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(entry, record, grid files) below ``path``, leaving out training configs and sidecars."""
    if not path.exists():
        raise UserError(f"{path} does not exist")
    path = path.resolve()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    tomls = [f for f in files if f.suffix == ".toml" and "configs" not in f.parts[:-1]]
    entries = [f for f in tomls if f.name != GRID_FILE]
    grids = [f for f in tomls if f.name == GRID_FILE]
    records = [
        f
        for f in files
        if f.suffix == ".json"
        and not f.name.startswith(".")
        and "weights" not in f.parts[:-1]
        and not (f.with_suffix(".safetensors").exists() or f.with_suffix(".pt").exists())
    ]
    return entries, records, grids


class _Checker:
    """One validation run: parsed entries by name and file hashes are computed once."""

    def __init__(self, zoo_root: Path):
        self.zoo_root = zoo_root
        self.problems: list[Problem] = []
        self._hashes: dict[Path, str] = {}

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def check_grid(self, path: Path) -> None:
        from freqbench.grid.spec import load_grid  # the grid imports this module

        try:
            load_grid(path)
        except UserError as exc:
            self.add(path, str(exc).removeprefix(str(path)).lstrip(": "))

    def sha256(self, path: Path) -> str:
        key = path.resolve()
        if key not in self._hashes:
            self._hashes[key] = sha256_of(path)
        return self._hashes[key]

    def parse_entry(self, path: Path, report: bool) -> ZooEntry | None:
        try:
            data = read_toml(path)
        except UserError as exc:
            if report:
                self.add(path, str(exc).removeprefix(str(path)).lstrip(": "))
            return None
        problems = schema_problems("zoo_entry", data)
        if problems:
            if report:
                for problem in problems:
                    self.add(path, problem)
            return None
        return entry_from_data(data, path)

    def check_entry(self, entry: ZooEntry) -> None:
        path = entry.path
        if entry.name != path.stem:
            self.add(path, f"name: '{entry.name}' must equal the file stem '{path.stem}'")
        if entry.dataset != path.parent.name:
            self.add(
                path,
                f"dataset: '{entry.dataset}' but the entry lies in folder '{path.parent.name}'",
            )
        if entry.dataset not in list_datasets():
            self.add(
                path, f"dataset: unknown dataset '{entry.dataset}' (see `freqbench list datasets`)"
            )
        external = entry.architecture.startswith((TIMM_PREFIX, ROBUSTBENCH_PREFIX))
        if not external and entry.architecture not in list_architectures():
            self.add(
                path,
                f"architecture: unknown architecture '{entry.architecture}' (see `freqbench list architectures`)",
            )
        if entry.recipe is not None and entry.recipe not in list_recipes():
            self.add(
                path, f"recipe: unknown recipe '{entry.recipe}' (see `freqbench list recipes`)"
            )
        if entry.weights_path is not None:
            self.check_weights(entry)

    def check_weights(self, entry: ZooEntry) -> None:
        path, file = entry.path, entry.weights_path
        if not file.is_file():
            self.add(path, f"weights.path: '{entry.weights['path']}' does not exist")
            return
        actual = self.sha256(file)
        if entry.sha256 and entry.sha256 != actual:
            self.add(
                path, f"weights.sha256: {entry.sha256} but {display_path(file)} hashes to {actual}"
            )
        try:
            info = read_sidecar(file)
        except UserError as exc:
            self.add(path, f"weights: {exc}")
            return
        if info.sha256 and info.sha256 != actual:
            self.add(
                path,
                f"weights: the sidecar's sha256 {info.sha256} does not match {display_path(file)} ({actual})",
            )
        for key in ("architecture", "dataset", "recipe", "bass_mode"):
            said = getattr(info, key)
            if said is not None and said != getattr(entry, key):
                self.add(
                    path,
                    f"{key}: '{getattr(entry, key)}' but the checkpoint's sidecar says '{said}'",
                )

    def expected_sha256(self, entry: ZooEntry) -> str | None:
        if entry.sha256:
            return entry.sha256
        file = entry.weights_path
        return self.sha256(file) if file is not None and file.is_file() else None

    def check_record(self, path: Path, entries: dict[str, ZooEntry]) -> str | None:
        """Check one record file; its name when it parsed, for the duplicate check."""
        try:
            data = read_json(path)
        except UserError as exc:
            self.add(path, str(exc).removeprefix(str(path)).lstrip(": "))
            return None
        schema = schema_problems("record", data)
        for problem in schema or _content_problems(data):
            self.add(path, problem)
        if schema:
            return None
        record = Record(data, path)
        if record.name != path.stem:
            self.add(path, f"name: '{record.name}' must equal the file stem '{path.stem}'")
        if record.dataset != path.parent.name:
            self.add(
                path,
                f"dataset: '{record.dataset}' but the record lies in folder '{path.parent.name}'",
            )
        for key, name in record.data["artifacts"].items():
            if not (path.parent / name).is_file():
                self.add(path, f"artifacts.{key}: '{name}' does not exist beside the record")
        entry = entries.get(record.name)
        if entry is None:
            hint = str(UnknownNameError("zoo entry", record.name, sorted(entries)))
            self.add(path, f"name: no zoo entry in {display_path(self.zoo_root)} ({hint})")
        else:
            self.compare(record, entry)
        return record.name

    def compare(self, record: Record, entry: ZooEntry) -> None:
        """A record must describe the model its entry builds."""
        expected: dict[str, Any] = {
            "dataset": entry.dataset,
            "model.architecture": entry.architecture,
            "model.recipe": entry.recipe,
            "model.bass_mode": entry.bass_mode,
            "model.transform": entry.transform or None,
        }
        sha = self.expected_sha256(entry)
        if sha is not None:
            expected["model.checkpoint_sha256"] = sha
        for label, want in expected.items():
            got = record.get(*label.split("."))
            if got != want:
                self.add(
                    record.path,
                    f"{label}: {json.dumps(got)} but zoo entry {display_path(entry.path)} says {json.dumps(want)}",
                )


def _duplicates(checker: _Checker, names: dict[Path, str], targets: set[Path], kind: str) -> None:
    by_name: dict[str, list[Path]] = {}
    for path, name in names.items():
        by_name.setdefault(name, []).append(path)
    for name, paths in by_name.items():
        for path in paths:
            if len(paths) > 1 and path in targets:
                others = ", ".join(display_path(p) for p in paths if p != path)
                checker.add(path, f"name: '{name}' is also the name of {kind} {others}")


def validate_tree(
    paths: list[Path] | None = None,
    zoo_root: Path | None = None,
    records_dir: Path | None = None,
) -> ValidationReport:
    """Check entries and records (all of the repository's when ``paths`` is empty).

    Cross-references (record -> entry, duplicate names) always look at the whole zoo and
    records folder, so checking one file still catches a clash with the rest.
    """
    zoo_root = (zoo_root if zoo_root is not None else default_root()).resolve()
    records_dir = (records_dir if records_dir is not None else Path(RECORDS_DIR)).resolve()
    all_entry_files = entry_files(zoo_root)
    all_record_files = [f for folder in dataset_folders(records_dir) for f in record_files(folder)]
    if paths:
        found = [_walk(Path(p)) for p in paths]
        entry_targets = sorted({f for entries, _, _ in found for f in entries})
        record_targets = sorted({f for _, records, _ in found for f in records})
        grid_targets = sorted({f for _, _, grids in found for f in grids})
    elif zoo_root.is_dir() or records_dir.is_dir():
        entry_targets, record_targets = all_entry_files, all_record_files
        grid_targets = grid_files(zoo_root)
    else:
        raise UserError(
            f"nothing to validate: neither {zoo_root} nor {records_dir} exists. Run from the "
            "repository root or pass the files and folders to check"
        )
    checker = _Checker(zoo_root)
    targets = set(entry_targets)
    entries: dict[Path, ZooEntry] = {}
    for path in sorted(set(all_entry_files) | targets):
        entry = checker.parse_entry(path, report=path in targets)
        if entry is not None:
            entries[path] = entry
            if path in targets:
                checker.check_entry(entry)
    _duplicates(checker, {p: e.name for p, e in entries.items()}, targets, "zoo entry")
    by_name = {e.name: e for e in entries.values()}
    record_names: dict[Path, str] = {}
    for path in sorted(set(all_record_files) | set(record_targets)):
        if path in record_targets:
            name = checker.check_record(path, by_name)
        else:
            name = dig(_quiet_json(path), "name")
        if isinstance(name, str):
            record_names[path] = name
    _duplicates(checker, record_names, set(record_targets), "record")
    for path in grid_targets:
        checker.check_grid(path)
    return ValidationReport(
        checker.problems, len(entry_targets), len(record_targets), len(grid_targets)
    )


def _quiet_json(path: Path) -> Any:
    """A record outside the checked set: only its name matters, and its own problems are not ours."""
    try:
        return read_json(path)
    except UserError:
        return None
