"""The repository check behind ``freqbench validate``: zoo entries, records, grid files and
the files they name, each against the others (a record must describe the model its entry
builds; names are unique)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqbench.architectures import list_architectures
from freqbench.architectures.external import ROBUSTBENCH_PREFIX, TIMM_PREFIX
from freqbench.atomic import sha256_of
from freqbench.checkpoints import read_sidecar
from freqbench.data import list_datasets
from freqbench.errors import UnknownNameError, UserError
from freqbench.grid.spec import load_grid
from freqbench.leaderboard import CONFIG_FILE, board_metrics
from freqbench.metrics import all_metrics
from freqbench.paths import GRID_FILE, RECORDS_DIR, display_path
from freqbench.recipes import list_recipes
from freqbench.records import (
    Record,
    dataset_folders,
    dig,
    duplicate_problems,
    read_json,
    record_files,
    review,
    with_artifacts,
)
from freqbench.schemas import schema_problems
from freqbench.zoo import (
    ZooEntry,
    default_root,
    entry_files,
    entry_from_data,
    grid_files,
    read_toml,
)


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


def _walk(path: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(entry, record, grid files) below ``path``, leaving out training configs and sidecars."""
    if not path.exists():
        raise UserError(f"{path} does not exist")
    path = path.resolve()
    found = [path] if not path.is_dir() else sorted(path.rglob("*"))
    files = [p for p in found if p.is_file()]
    tomls = [f for f in files if f.suffix == ".toml" and "configs" not in f.parts[:-1]]
    entries = [f for f in tomls if f.name not in (GRID_FILE, CONFIG_FILE)]
    grids = [f for f in tomls if f.name == GRID_FILE]
    # Anything named like a record is one, as the leaderboard sees it (a folder or a broken
    # link too: each is reported), but for checkpoint sidecars and the zoo's weights.
    records = [
        f
        for f in found
        if f.suffix == ".json"
        and not f.name.startswith(".")
        and "weights" not in f.parts[:-1]
        and not (f.with_suffix(".safetensors").exists() or f.with_suffix(".pt").exists())
    ]
    return entries, records, grids


class _Checker:
    """One validation run: parsed entries by name and file hashes are computed once."""

    def __init__(self, zoo_root: Path, records_dir: Path):
        self.zoo_root = zoo_root
        self.records_dir = records_dir  # the published records: each must have a zoo entry
        self.problems: list[Problem] = []
        self._hashes: dict[Path, str] = {}

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def check_grid(self, path: Path) -> None:
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

    def check_record(self, path: Path, entries: dict[str, ZooEntry]) -> Record | None:
        """Check one record file; the record when its frame holds, for the duplicate checks."""
        try:
            checked = with_artifacts(review(read_json(path)), path.parent)
        except UserError as exc:
            self.add(path, str(exc).removeprefix(str(path)).lstrip(": "))
            return None
        for problem in checked.problems:
            self.add(path, problem)
        if not checked.usable:
            return None
        record = Record(checked.data, path)
        if record.name != path.stem:
            self.add(path, f"name: '{record.name}' must equal the file stem '{path.stem}'")
        checked_files = {a.key for spec in all_metrics() for a in spec.artifacts}
        for key, name in record.data["artifacts"].items():  # those of plugins not installed
            if key not in checked_files and not (path.parent / name).is_file():
                self.add(path, f"artifacts.{key}: '{name}' does not exist beside the record")
        if self.records_dir not in path.parents:
            return record  # an experiment's record (evaluate --out): it needs no zoo entry
        if record.dataset != path.parent.name:
            self.add(
                path,
                f"dataset: '{record.dataset}' but the record lies in folder '{path.parent.name}'",
            )
        if record.get("model", "weights") == "random":
            self.add(
                path,
                "model.weights: random (--random-init): a leaderboard holds trained models only",
            )
        entry = entries.get(record.name)
        if entry is None:
            hint = str(UnknownNameError("zoo entry", record.name, sorted(entries)))
            self.add(path, f"name: no zoo entry in {display_path(self.zoo_root)} ({hint})")
        else:
            self.compare(record, entry)
        return record

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
    checker = _Checker(zoo_root, records_dir)
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
    records: list[Record] = []
    for path in sorted(set(all_record_files) | set(record_targets)):
        if path in record_targets:
            record = checker.check_record(path, by_name)
            records += [record] if record is not None else []
            name = record.name if record is not None else None
        else:
            name = dig(_quiet_json(path), "name")
        if isinstance(name, str) and records_dir in path.parents:  # names of published ones
            record_names[path] = name
    _duplicates(checker, record_names, set(record_targets), "record")
    for folder in sorted({p.parent for p in record_targets}):
        in_folder = [r for r in records if r.path.parent == folder]
        for record, problem in duplicate_problems(in_folder):
            checker.add(record.path, problem)
        try:
            board_metrics(folder)
        except UserError as exc:
            config = folder / CONFIG_FILE
            checker.add(config, str(exc).removeprefix(str(config)).removeprefix(":").strip())
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
