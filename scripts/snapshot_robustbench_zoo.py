"""Write which RobustBench entries the installed robustbench can load, and from where (by hand).

    .venv/bin/python scripts/snapshot_robustbench_zoo.py

robustbench's model zoo (``robustbench.model_zoo.model_dicts``) knows which published entries
have weights and where ``robustbench.utils.load_model`` reads them: files it fetches from
Google Drive into ``<model_dir>/<dataset>/<threat_model>/`` (one per model, or one per member
of an ensemble), or timm's and torchvision's own hubs. Reading that needs torch and takes
seconds, so ``freqbench zoo list`` reads this file instead: freqbench/published/
robustbench_zoo.json, written atomically and checked by tests/test_zoo_run.py against
the installed robustbench.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

from freqbench import atomic
from freqbench.architectures.external import zoo_weights_table
from freqbench.published.zoo import ZOO_FILE


def main() -> None:
    table = zoo_weights_table()
    data = {"robustbench": importlib.metadata.version("robustbench"), "boards": table}
    atomic.write_text(ZOO_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")
    count = sum(len(board) for board in table.values())
    print(f"wrote {Path(ZOO_FILE).name}: {count} entries in {len(table)} boards")


if __name__ == "__main__":
    main()
