"""RobustBench's published numbers, as data with provenance.

``robustbench.json`` beside this module is a versioned snapshot of RobustBench's
``model_info/<dataset>/<threat_model>/<Name>.json`` files, each kept as published, with the
repository, commit and licence they came from (``PROVENANCE.md`` beside it says the same in
words). ``scripts/snapshot_robustbench.py`` makes it from a RobustBench clone; nothing here
re-runs or edits a figure. The file is checked whenever it is read (every field's type, and the
SHA-256 of its content that the generator wrote), so a damaged or hand-edited snapshot is a
clear error instead of a wrong number on a board. No torch: reading it takes milliseconds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from freqbench.errors import UnknownNameError, UserError

SNAPSHOT = Path(__file__).with_name("robustbench.json")
FORMAT = 1
GENERATOR = "scripts/snapshot_robustbench.py"

#: What each field of a model_info file holds: robustbench/utils.py:ModelInfo's fields plus
#: "external" and "unreliable", which robustbench/leaderboard/leaderboard.html.j2 reads.
#: Accuracies are strings of percentages, as published. A field not listed here stops the
#: snapshot from loading, so a new upstream field is looked at before it reaches a board.
_FIELDS: dict[str, str] = {
    "link": "text",
    "name": "text",  # the paper's title; the entry's own name is the file's stem
    "authors": "text",
    "venue": "text",
    "architecture": "text",
    "dataset": "text",
    "eps": "text or null",  # "8/255", "0.5", "0.031"; null on the corruption boards
    "footnote": "text or null",
    "additional_data": "flag",
    "unreliable": "flag",
    "number_forward_passes": "count",
    "clean_acc": "percent",
    "autoattack_acc": "percent",
    "external": "percent",
    "corruptions_acc": "percent",
    "corruptions_acc_3d": "percent",
    "corruptions_mce": "number",
    "corruptions_mce_3d": "number",
    "reported": "percent or blank",  # "", "null" or null where the paper reports none
}
_REQUIRED = ("link", "name", "authors", "venue", "architecture", "additional_data")
_REQUIRED += ("number_forward_passes", "clean_acc")
_BLANK = ("", "null", None)
_ROW_KEYS = {"dataset", "threat_model", "name", "blob", "model_info"}
_LICENCE = ("name", "copyright", "text")
_PROVENANCE_KEYS = {"source", "commit", "commit_date", "licence", "generator", "content_sha256"}
_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PublishedEntry:
    """One entry of a RobustBench board as published: its figures are RobustBench's, not re-run.

    ``dataset`` and ``threat_model`` name the board (the file's folder; the file's own
    "dataset" field, kept in ``raw``, is wrong for a few upstream files). ``robust_acc`` is the
    board's headline accuracy, the field ``robust_field`` (AutoAttack's on Linf and L2, the
    corruption accuracy on the corruption boards); ``best_known_acc`` is the one RobustBench
    ranks by: the published external evaluation's where there is one ("external"), else
    ``robust_acc``. Accuracies are percentages.
    """

    dataset: str
    threat_model: str
    name: str
    clean_acc: float
    robust_acc: float
    robust_field: str
    best_known_acc: float
    reported: float | None
    paper: str
    authors: str
    link: str
    venue: str
    architecture: str
    additional_data: bool
    number_forward_passes: int
    eps: str | None
    footnote: str | None
    unreliable: bool | None
    raw: Mapping[str, Any] = field(repr=False, hash=False)


@dataclass(frozen=True)
class Snapshot:
    """A read and checked snapshot: its provenance and its boards by (dataset, threat model)."""

    path: Path
    provenance: Mapping[str, Any]
    boards: Mapping[tuple[str, str], tuple[PublishedEntry, ...]]
    datasets: tuple[str, ...]
    threat_models: tuple[str, ...]

    def entries(
        self, dataset: str | None = None, threat_model: str | None = None
    ) -> list[PublishedEntry]:
        """The entries of one dataset and/or threat model (all when None), sorted by board and
        name; a known pair that RobustBench publishes no board for gives an empty list."""
        if dataset is not None and dataset not in self.datasets:
            raise UnknownNameError("RobustBench dataset", dataset, self.datasets)
        if threat_model is not None and threat_model not in self.threat_models:
            raise UnknownNameError("RobustBench threat model", threat_model, self.threat_models)
        return [
            entry
            for (board_dataset, board_threat), board in sorted(self.boards.items())
            if dataset in (None, board_dataset) and threat_model in (None, board_threat)
            for entry in board
        ]

    def get(self, dataset: str, threat_model: str, name: str) -> PublishedEntry:
        """One entry by name; an unknown one is an error with close matches."""
        board = self.entries(dataset, threat_model)
        if not board:
            boards = ", ".join(f"{d}/{t}" for d, t in sorted(self.boards))
            raise UserError(
                f"RobustBench publishes no {dataset} {threat_model} board in the snapshot "
                f"({self.path.name}); its boards: {boards}"
            )
        for entry in board:
            if entry.name == name:
                return entry
        names = [entry.name for entry in board]
        raise UnknownNameError(f"RobustBench {dataset} {threat_model} entry", name, names)


def published_entries(
    dataset: str | None = None, threat_model: str | None = None
) -> list[PublishedEntry]:
    """The packaged snapshot's entries of one dataset and/or threat model (all when None)."""
    return _packaged().entries(dataset, threat_model)


def get_published(dataset: str, threat_model: str, name: str) -> PublishedEntry:
    """One published entry of the packaged snapshot, e.g. ("cifar10", "Linf", "Standard")."""
    return _packaged().get(dataset, threat_model, name)


def snapshot_provenance() -> dict[str, Any]:
    """Where the packaged snapshot came from: source repository, commit, its date, licence
    (name, copyright, text), the generator and the content's SHA-256."""
    return copy.deepcopy(dict(_packaged().provenance))


def rank_as_robustbench(entries: Iterable[PublishedEntry]) -> list[PublishedEntry]:
    """The entries of one board in RobustBench's leaderboard order.

    RobustBench sorts a board by the first of its threat model's ACC_FIELDS
    (robustbench/utils.py) that an entry has, as a float, highest first:
    robustbench/leaderboard/template.py:generate_leaderboard (its get_key) and
    robustbench/utils.py:list_available_models (utils.get_key). That is "external", then
    "autoattack_acc" on Linf and L2, and the corruption accuracy on the corruption boards; clean
    accuracy plays no part. RobustBench leaves ties in file-system (glob) order, which is not
    defined; here ties go by name, so the order is reproducible.
    """
    entries = list(entries)
    boards = sorted({(entry.dataset, entry.threat_model) for entry in entries})
    if len(boards) > 1:
        names = ", ".join(f"{d}/{t}" for d, t in boards)
        raise UserError(f"rank one RobustBench board at a time; these entries are from {names}")
    return sorted(entries, key=lambda entry: (-entry.best_known_acc, entry.name))


def content_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of a snapshot's content: everything but the digest itself, as canonical JSON."""
    content = dict(data)
    provenance = content.get("provenance")
    if isinstance(provenance, Mapping):
        content["provenance"] = {k: v for k, v in provenance.items() if k != "content_sha256"}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_snapshot(path: str | Path = SNAPSHOT) -> Snapshot:
    """Read and check a snapshot file; anything wrong with it is a UserError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _damaged(path, "the file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"it cannot be read as JSON ({exc})") from None
    return parse_snapshot(data, path)


@lru_cache(maxsize=1)
def _packaged() -> Snapshot:
    return load_snapshot(SNAPSHOT)


def parse_snapshot(data: Any, path: Path) -> Snapshot:
    """Check a snapshot's content (read from ``path``) and build its boards."""
    if not isinstance(data, dict) or set(data) != {"format", "provenance", "threat_models", "rows"}:
        raise _damaged(path, "it is not an object with format, provenance, threat_models, rows")
    if data["format"] != FORMAT:
        raise _damaged(path, f"its format is {data['format']!r}; this freqbench reads {FORMAT}")
    _check_provenance(data["provenance"], path)
    acc_fields = _check_threat_models(data["threat_models"], path)
    if not isinstance(data["rows"], list):
        raise _damaged(path, "'rows' is not a list")
    boards: dict[tuple[str, str], list[PublishedEntry]] = {}
    seen: set[tuple[str, str, str]] = set()
    for index, row in enumerate(data["rows"]):
        entries = _row_entries(row, index, data["threat_models"], acc_fields, path)
        key = (row["dataset"], row["threat_model"], row["name"])
        if key in seen:
            raise _damaged(path, f"row {index} repeats {'/'.join(key)}")
        seen.add(key)
        for entry in entries:
            boards.setdefault((entry.dataset, entry.threat_model), []).append(entry)
    digest = content_digest(data)
    if data["provenance"]["content_sha256"] != digest:
        raise _damaged(path, "its content does not match the SHA-256 in its provenance (edited?)")
    return Snapshot(
        path=path,
        provenance=data["provenance"],
        boards=MappingProxyType(
            {key: tuple(sorted(board, key=lambda e: e.name)) for key, board in boards.items()}
        ),
        datasets=tuple(sorted({row["dataset"] for row in data["rows"]})),
        threat_models=tuple(data["threat_models"]),
    )


def _damaged(path: Path, what: str) -> UserError:
    return UserError(
        f"the RobustBench snapshot {path} is damaged: {what}. Restore it from git, or "
        f"regenerate it with {GENERATOR} (see freqbench/published/PROVENANCE.md)"
    )


def _check_provenance(provenance: Any, path: Path) -> None:
    if not isinstance(provenance, dict) or set(provenance) != _PROVENANCE_KEYS:
        keys = ", ".join(sorted(_PROVENANCE_KEYS))
        raise _damaged(path, f"its provenance is not an object with exactly {keys}")
    if not isinstance(provenance["commit"], str) or not _HEX40.fullmatch(provenance["commit"]):
        raise _damaged(path, f"its provenance commit {provenance['commit']!r} is no git commit")
    try:
        datetime.fromisoformat(provenance["commit_date"])
    except (TypeError, ValueError):
        date = provenance["commit_date"]
        raise _damaged(path, f"its provenance commit_date {date!r} is no ISO date") from None
    licence = provenance["licence"]
    if not (isinstance(licence, dict) and all(isinstance(licence.get(k), str) for k in _LICENCE)):
        raise _damaged(path, f"its provenance licence is not an object with {', '.join(_LICENCE)}")
    for key in ("source", "generator"):
        if not isinstance(provenance[key], str) or not provenance[key]:
            raise _damaged(path, f"its provenance {key} is not a text")
    if not isinstance(provenance["content_sha256"], str) or not _HEX64.fullmatch(
        provenance["content_sha256"]
    ):
        raise _damaged(path, "its provenance content_sha256 is no SHA-256")


def _check_threat_models(table: Any, path: Path) -> dict[str, tuple[str, ...]]:
    """Each threat model's ACC_FIELDS as a tuple (robustbench/utils.py: one field or several)."""
    if not isinstance(table, dict) or not table:
        raise _damaged(path, "'threat_models' is not a non-empty object")
    acc_fields = {}
    for name, card in table.items():
        fields = card.get("acc_fields") if isinstance(card, dict) else None
        fields = (fields,) if isinstance(fields, str) else fields
        if not (
            isinstance(card, dict)
            and set(card) == {"model_info_dir", "acc_fields"}
            and isinstance(card["model_info_dir"], str)
            and isinstance(fields, list | tuple)
            and fields
            and all(_FIELDS.get(f) == "percent" for f in fields)
        ):
            raise _damaged(
                path,
                f"threat model {name!r} is not an object with model_info_dir and acc_fields "
                "(accuracy fields of model_info)",
            )
        acc_fields[name] = tuple(fields)
    return acc_fields


def _row_entries(
    row: Any,
    index: int,
    table: Mapping[str, Mapping[str, Any]],
    acc_fields: Mapping[str, tuple[str, ...]],
    path: Path,
) -> list[PublishedEntry]:
    """A row's entries: one per threat model whose board its folder and fields belong to."""
    if not (
        isinstance(row, dict)
        and set(row) == _ROW_KEYS
        and all(isinstance(row[k], str) and row[k] for k in ("dataset", "threat_model", "name"))
        and isinstance(row["blob"], str)
        and _HEX40.fullmatch(row["blob"])
        and isinstance(row["model_info"], dict)
    ):
        keys = ", ".join(sorted(_ROW_KEYS))
        raise _damaged(path, f"row {index} is not an object with {keys}")
    where = f"row {index} ({row['dataset']}/{row['threat_model']}/{row['name']})"
    info = row["model_info"]
    for key in _REQUIRED:
        if key not in info:
            raise _damaged(path, f"{where} has no {key!r}")
    values = {key: _field_value(key, value, where, path) for key, value in info.items()}
    threats = [
        name
        for name, card in table.items()
        if card["model_info_dir"] == row["threat_model"] and acc_fields[name][-1] in info
    ]
    if not threats:
        raise _damaged(path, f"{where} has the accuracy of no threat model of its folder")
    return [
        PublishedEntry(
            dataset=row["dataset"],
            threat_model=threat,
            name=row["name"],
            clean_acc=values["clean_acc"],
            # the headline is ACC_FIELDS' last field (template.py:generate_leaderboard)
            robust_acc=values[acc_fields[threat][-1]],
            robust_field=acc_fields[threat][-1],
            best_known_acc=next(values[f] for f in acc_fields[threat] if f in values),
            reported=values.get("reported"),
            paper=values["name"],
            authors=values["authors"],
            link=values["link"],
            venue=values["venue"],
            architecture=values["architecture"],
            additional_data=values["additional_data"],
            number_forward_passes=values["number_forward_passes"],
            eps=values.get("eps"),
            footnote=values.get("footnote") or None,
            unreliable=values.get("unreliable"),
            raw=MappingProxyType(info),
        )
        for threat in threats
    ]


def _field_value(key: str, value: Any, where: str, path: Path) -> Any:
    """A model_info field's value, typed (a percentage string becomes a float)."""
    kind = _FIELDS.get(key)
    if kind is None:
        raise _damaged(path, f"{where} has the field {key!r}, unknown to freqbench.published")
    if kind == "percent or blank" and value in _BLANK:
        return None
    ok = {
        "text": isinstance(value, str),
        "text or null": value is None or isinstance(value, str),
        "flag": isinstance(value, bool),
        "count": isinstance(value, int) and not isinstance(value, bool) and value >= 1,
    }.get(kind)
    if ok is not None:
        if not ok:
            raise _damaged(path, f"{where}: {key!r} is {value!r}, not {kind}")
        return value
    number = _number(value)
    if number is None or number < 0 or (kind != "number" and number > 100):
        raise _damaged(path, f"{where}: {key!r} is {value!r}, not a {kind.split()[0]} string")
    return number


def _number(value: Any) -> float | None:
    """A finite number from its published string form, or None."""
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
