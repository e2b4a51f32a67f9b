"""Which published RobustBench entries have weights, and whether they are on this machine.

``robustbench_zoo.json`` beside this module lists, for every entry of the robustbench release
it names, the weight files ``robustbench.utils.load_model`` reads (relative to the model
folder, ``<dataset>/<threat_model>/<Name>.pt``) and where they come from (Google Drive, or
timm's or torchvision's hub). It is written by ``scripts/snapshot_robustbench_zoo.py`` and
checked against the installed robustbench by the tests, so ``freqbench zoo list`` can say
what is local without importing torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from freqbench.errors import UserError

ZOO_FILE = Path(__file__).with_name("robustbench_zoo.json")


@dataclass(frozen=True)
class ZooWeights:
    """Where robustbench loads one entry from: ``files`` below the model folder (none when a
    hub provides the model) and ``source`` ("Google Drive", "timm", "torchvision")."""

    files: tuple[str, ...]
    source: str

    def local(self, model_dir: Path) -> bool | None:
        """Whether every file is in ``model_dir`` (None: a hub provides it, no file to find)."""
        if not self.files:
            return None
        return all((model_dir / file).is_file() for file in self.files)


def zoo_weights(dataset: str, threat_model: str, name: str) -> ZooWeights | None:
    """The entry's weights in robustbench's zoo; None when robustbench publishes none."""
    entry = _table()["boards"].get(f"{dataset}/{threat_model}", {}).get(name)
    if entry is None:
        return None
    return ZooWeights(tuple(entry["files"]), entry["source"])


def zoo_release() -> str:
    """The robustbench release the table was written from."""
    return _table()["robustbench"]


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    try:
        data = json.loads(ZOO_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{ZOO_FILE} cannot be read ({exc}): reinstall freqbench") from None
    boards = data.get("boards") if isinstance(data, dict) else None
    if not isinstance(boards, dict) or not isinstance(data.get("robustbench"), str):
        raise UserError(f"{ZOO_FILE} is damaged: reinstall freqbench")
    for board in boards.values():
        for entry in board.values():
            files, source = entry.get("files"), entry.get("source")
            if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
                raise UserError(f"{ZOO_FILE} is damaged: reinstall freqbench")
            if not isinstance(source, str):
                raise UserError(f"{ZOO_FILE} is damaged: reinstall freqbench")
    return data
