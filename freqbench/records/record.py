"""Records as the read side sees them: checked on load, one row per model in a folder."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqbench.errors import UnknownNameError, UserError
from freqbench.records.artifacts import with_artifacts
from freqbench.records.checks import review
from freqbench.records.files import (
    dataset_folders,
    dataset_records_folder,
    read_json,
    record_files,
)
from freqbench.records.format import model_identity


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

    def block(self, metric: str) -> dict[str, Any] | None:
        return self.get("metrics", metric)

    def artifact(self, key: str) -> Path | None:
        """The artifact file when the record names one and it exists beside the record."""
        name = self.get("artifacts", key)
        if not name or self.path is None:
            return None
        file = self.path.parent / name
        return file if file.is_file() else None


def load_record(path: str | Path) -> Record:
    """Read and check one record (migrated when in the first format); a UserError names the
    file and every problem."""
    path = Path(path)
    checked = with_artifacts(review(read_json(path)), path.parent)
    if checked.problems:
        raise UserError(f"{path}: " + "; ".join(checked.problems))
    return Record(checked.data, path)


def load_records(folder: str | Path, *, empty_ok: bool = False) -> list[Record]:
    """Every record in ``folder``, checked one by one and against each other; an empty or
    missing folder is a UserError unless ``empty_ok`` (a board that shows published rows)."""
    folder = Path(folder)
    files = record_files(folder)
    if not files and empty_ok:
        return []
    if not files:
        why = "does not exist" if not folder.is_dir() else "holds no records (*.json)"
        raise UserError(
            f"{folder} {why}: evaluate a model into it with `freqbench evaluate --model MODEL "
            f"--out {folder}` (or publish one to leaderboards/ with `freqbench submit "
            "model_zoo/<dataset>/<name>.toml`)"
        )
    records = [load_record(f) for f in files]
    twice = duplicate_problems(records)
    if twice:
        raise UserError("; ".join(f"{record.path}: {problem}" for record, problem in twice))
    return records


def load_dataset_records(
    records_dir: str | Path, dataset: str, *, empty_ok: bool = False
) -> list[Record]:
    """The records of ``dataset`` under ``records_dir``, in either layout
    (:func:`~freqbench.records.files.dataset_records_folder`); records of other datasets
    lying beside them are left aside, and a folder with none of ``dataset``'s says which it
    has."""
    folder = dataset_records_folder(records_dir, dataset)
    known = [f.name for f in dataset_folders(records_dir)]
    if not folder.exists() and known and not empty_ok:  # a typo of a dataset folder's name
        raise UnknownNameError(f"dataset with records in {records_dir}", dataset, known)
    records = load_records(folder, empty_ok=empty_ok)
    if folder.name == dataset and folder != Path(records_dir):
        return records
    chosen = [r for r in records if r.dataset == dataset]
    if not chosen and not empty_ok:
        others = sorted({r.dataset for r in records})
        raise UserError(
            f"{folder} holds records of {', '.join(others)}, none of {dataset}: pass "
            f"--dataset {others[0]}" + ("" if len(others) == 1 else " (or another of those)")
        )
    return chosen


def duplicate_problems(records: list[Record]) -> list[tuple[Record, str]]:
    """Records that describe one model (weights and transform) at one norm: a page would rank
    it twice. Each such record, with a line naming the others."""
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for record in records:
        model = record.get("model")
        if isinstance(model, dict) and model.get("checkpoint_sha256"):
            groups[(*model_identity(model), record.get("protocol", "norm"))].append(record)
    found = []
    for same in groups.values():
        for record in same[1:] if len(same) > 1 else ():
            first = same[0]
            found.append(
                (
                    record,
                    f"holds the same checkpoint (sha256 {first.get('model', 'checkpoint_sha256')}"
                    f"{', same transform' if first.get('model', 'transform') else ''}) at the same "
                    f"norm as {first.name}.json: a leaderboard ranks each model once; remove one",
                )
            )
    return found
