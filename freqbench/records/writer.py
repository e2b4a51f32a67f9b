"""Writing a record's blocks: the record to build on as it is on disk under its lock, and
``--replace``'s set-aside of the record it replaces.

A block is merged into the record *as it is on disk at that moment* (:func:`write_block`,
under :func:`freqbench.records.files.update`'s lock), so concurrent runs on one record keep
each other's blocks. The record on disk is built on when it is the same model's; another
model's record, or one too damaged to read, is refused unless ``replace`` says to start
afresh, and then it is moved with its files to ``.replaced/``: a record is never deleted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freqbench.errors import UserError
from freqbench.records.builder import new_record, owner, stored_model
from freqbench.records.checks import review
from freqbench.records.files import Unreadable, update
from freqbench.records.format import model_identity

#: Where ``--replace`` moves the record it replaces (a hidden folder beside the records).
REPLACED_DIR = ".replaced"


def describe_identity(model: Any) -> str:
    """A model section's identity in words (its checkpoint, else its source; its transform)."""
    if not isinstance(model, dict):
        return "no model section"
    sha = model.get("checkpoint_sha256")
    what = f"sha256 {sha}" if sha else f"source '{model.get('source')}'"
    transform = model.get("transform")
    return what + (f", transform {transform}" if transform else "")


@dataclass
class RecordWriter:
    """Writes the blocks of one model's record at ``path``, each under the record's lock."""

    path: Path
    name: str
    dataset: str
    model: dict[str, Any]  # the record's model section
    replace: bool = False
    set_aside: Path | None = None  # where the record this writer replaced went

    def write(
        self,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        files: dict[str, tuple[Path, Path]] | None = None,
    ) -> dict[str, Any]:
        """Apply ``change`` to the record on disk now (see :meth:`base`) and write it; the
        ``files`` (staged path, final path) are renamed into place under the same lock.
        Returns what was written."""

        def move_files() -> None:  # the files follow their block, under the record's lock
            for staged, final in (files or {}).values():
                os.replace(staged, final)

        return update(self.path, lambda current: change(self.base(current)), move_files)

    def base(self, current: Any) -> dict[str, Any]:
        """The record to build on: the one on disk when it is this model's, else a new one
        (when ``replace`` allows it: the old record and its files are set aside first)."""
        if current is None:
            return new_record(self.model, self.name, self.dataset)
        if isinstance(current, Unreadable):
            if not self.replace:
                raise UserError(f"{current.problem}; pass --replace to evaluate afresh into it")
            self._set_aside(None)
            return new_record(self.model, self.name, self.dataset)
        checked = review(current)
        ours = (
            checked.usable
            and owner(checked.data) == (self.name, self.dataset)
            and model_identity(stored_model(checked.data)) == model_identity(self.model)
        )
        if ours:
            return checked.data
        if not self.replace:
            raise UserError(
                f"{self.path} was replaced meanwhile by the record of another model "
                f"({describe_identity(current.get('model') if isinstance(current, dict) else None)})"
                "; run again with --replace to replace it, or with another --name"
            )
        self._set_aside(current)
        return new_record(self.model, self.name, self.dataset)

    def _set_aside(self, old: Any) -> None:
        """Move the record being replaced, and the files it names beside it (plain file names
        only), to ``<records>/.replaced/<name>-<UTC time>/``: --replace never deletes."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.path.parent / REPLACED_DIR / f"{self.name}-{stamp}"
        for n in range(1, 1000):
            if not folder.exists():
                break
            folder = folder.with_name(f"{self.name}-{stamp}-{n}")
        folder.mkdir(parents=True)
        named = old.get("artifacts") if isinstance(old, dict) else None
        files = [
            self.path.parent / file_name
            for file_name in (named.values() if isinstance(named, dict) else ())
            if isinstance(file_name, str)
            and file_name == Path(file_name).name
            and not file_name.startswith(".")
            and file_name != self.path.name
        ]
        for path in [self.path, *files]:
            if path.exists() or path.is_symlink():
                os.replace(path, folder / path.name)
        self.set_aside = folder
