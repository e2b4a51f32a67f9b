"""Write freqbench/architectures/timm_names.json: the installed timm's model names and
pretrained tags, so that a timm name can be checked (with close matches) before torch and
timm are imported. Run it by hand after changing timm's pin in pyproject.toml:

    .venv/bin/python scripts/snapshot_timm_names.py

tests/test_architectures.py checks the file against the installed timm.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import timm

TARGET = Path(__file__).resolve().parent.parent / "freqbench" / "architectures" / "timm_names.json"


def main() -> None:
    names = {
        "timm": version("timm"),
        "models": sorted(timm.list_models()),
        "pretrained": sorted(timm.list_pretrained()),
    }
    TARGET.write_text(json.dumps(names, indent=0, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {TARGET}: {len(names['models'])} models, {len(names['pretrained'])} pretrained")


if __name__ == "__main__":
    main()
