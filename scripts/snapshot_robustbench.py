"""Make freqbench's snapshot of RobustBench's published numbers (a maintenance script, by hand).

    git clone https://github.com/RobustBench/robustbench
    .venv/bin/python scripts/snapshot_robustbench.py robustbench [--rev COMMIT]

PATH is a RobustBench clone or bare git directory. Everything is read from the commit's git
objects, never from a work tree, so the snapshot is exactly that commit: every
``model_info/<dataset>/<threat_model>/<Name>.json`` file as published, the threat models and
the fields RobustBench ranks each by (``ACC_FIELDS`` in robustbench/utils.py,
``ThreatModel`` and ``BenchmarkDataset`` in robustbench/model_zoo/enums.py) and the licence
(LICENSE). It writes freqbench/published/robustbench.json (checked by freqbench.published
before it replaces the old one) and PROVENANCE.md beside it, which also counts the entries
with weights in the installed robustbench's model zoo.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from freqbench import atomic
from freqbench.published import (
    FORMAT,
    GENERATOR,
    PublishedEntry,
    content_digest,
    parse_snapshot,
)

SOURCE = "https://github.com/RobustBench/robustbench"
OUT = Path(__file__).resolve().parent.parent / "freqbench" / "published"
MODEL_INFO = re.compile(r"model_info/([^/]+)/([^/]+)/([^/]+)\.json")


class Repository:
    """A git repository read at one commit through git's plumbing."""

    def __init__(self, path: Path, rev: str):
        self.path = path
        self.commit = self._git("rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
        self.commit_date = self._git("show", "-s", "--format=%cI", self.commit).decode().strip()
        listing = self._git("ls-tree", "-r", "-z", self.commit).decode("utf-8")
        self.blobs = {}  # path -> blob id
        for line in filter(None, listing.split("\0")):
            meta, path_in_repo = line.split("\t", 1)
            _mode, kind, blob = meta.split()
            if kind == "blob":
                self.blobs[path_in_repo] = blob

    def _git(self, *args: str) -> bytes:
        try:
            done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True)
        except FileNotFoundError:
            sys.exit("git is not installed")
        if done.returncode != 0:
            sys.exit(f"git {' '.join(args)} in {self.path}: {done.stderr.decode().strip()}")
        return done.stdout

    def read(self, path_in_repo: str) -> str:
        if path_in_repo not in self.blobs:
            sys.exit(f"{path_in_repo} is not in {self.path} at {self.commit}")
        return self._git("cat-file", "blob", self.blobs[path_in_repo]).decode("utf-8")


def enum_values(source: str, class_name: str) -> dict[str, str]:
    """An Enum class's members -> values, read from its source (``X = "x"`` lines)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {
                item.targets[0].id: ast.literal_eval(item.value)
                for item in node.body
                if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name)
            }
    sys.exit(f"no class {class_name} in robustbench/model_zoo/enums.py")


def acc_fields(source: str, threat_models: dict[str, str]) -> dict[str, str | list[str]]:
    """robustbench/utils.py's ACC_FIELDS: threat model value -> its field or fields."""
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "ACC_FIELDS"
            and isinstance(node.value, ast.Dict)
        ):
            table = {}
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if not (isinstance(key, ast.Attribute) and key.attr in threat_models):
                    sys.exit(f"ACC_FIELDS has a key that is no ThreatModel: {ast.unparse(key)}")
                fields = ast.literal_eval(value)
                table[threat_models[key.attr]] = fields if isinstance(fields, str) else list(fields)
            return table
    sys.exit("no ACC_FIELDS dict in robustbench/utils.py")


def licence(text: str) -> dict[str, str]:
    """The repository's licence: its statement, copyright line and the MIT text."""
    statement = text.strip().splitlines()[0].strip()
    if "MIT license" not in statement:
        sys.exit(f"LICENSE no longer starts with an MIT statement: {statement!r}; look at it")
    copyright_line = next(
        (line.strip() for line in text.splitlines() if line.startswith("Copyright (c)")), None
    )
    mit = re.search(r"^MIT License\n(.*?)\n-{10,}", text, re.MULTILINE | re.DOTALL)
    if copyright_line is None or mit is None or "Permission is hereby granted" not in mit[1]:
        sys.exit("LICENSE has no copyright line or MIT licence text where expected; look at it")
    return {
        "name": "MIT",
        "statement": statement,
        "copyright": copyright_line,
        "text": "MIT License\n\n" + mit[1].strip() + "\n",
    }


def read_model_info(text: str, where: str, notes: list[str]) -> dict[str, Any]:
    """A model_info file as published; a repeated key with the same value is noted, one with
    another value stops the script (json would keep the last silently)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in items:
            if key in found:
                if found[key] != value:
                    sys.exit(f"{where}: {key!r} twice with different values")
                notes.append(f"`{where}` has {key!r} twice (same value; kept once)")
            found[key] = value
        return found

    return json.loads(text, object_pairs_hook=pairs)


def build(repo: Repository, source: str) -> tuple[dict[str, Any], list[str]]:
    """The snapshot's content and the notes on upstream oddities."""
    enums = repo.read("robustbench/model_zoo/enums.py")
    datasets = set(enum_values(enums, "BenchmarkDataset").values())
    fields = acc_fields(repo.read("robustbench/utils.py"), enum_values(enums, "ThreatModel"))
    folders = {match[2] for path in repo.blobs if (match := MODEL_INFO.fullmatch(path))}
    # corruptions_3d lives in corruptions' folder: robustbench/utils.py:update_json and
    # load_model (threat_model.value.replace('_3d', '')).
    threat_models = {
        name: {"model_info_dir": name.replace("_3d", ""), "acc_fields": acc}
        for name, acc in fields.items()
        if name.replace("_3d", "") in folders
    }
    notes = []
    rows = []
    for path, blob in sorted(repo.blobs.items()):
        if not path.startswith("model_info/"):
            continue
        match = MODEL_INFO.fullmatch(path)
        if match is None:
            notes.append(f"`{path}` is not a model_info JSON file: not taken")
            continue
        dataset, folder, name = match.groups()
        if dataset not in datasets or folder not in {
            tm["model_info_dir"] for tm in threat_models.values()
        }:
            sys.exit(f"{path}: {dataset}/{folder} is no BenchmarkDataset/ThreatModel folder")
        info = read_model_info(repo.read(path), path, notes)
        if info.get("reported") == "null":
            notes.append(f'`{path}` has "reported": "null", a string (read as no figure)')
        if info.get("dataset", dataset) != dataset:
            notes.append(f'`{path}` says "dataset": {info["dataset"]!r} (kept as published)')
        rows.append(
            {
                "dataset": dataset,
                "threat_model": folder,
                "name": name,
                "blob": blob,
                "model_info": info,
            }
        )
    rows.sort(key=lambda row: (row["dataset"], row["threat_model"], row["name"]))
    data = {
        "format": FORMAT,
        "provenance": {
            "source": source,
            "commit": repo.commit,
            "commit_date": repo.commit_date,
            "licence": licence(repo.read("LICENSE")),
            "generator": GENERATOR,
            "content_sha256": "",
        },
        "threat_models": threat_models,
        "rows": rows,
    }
    data["provenance"]["content_sha256"] = content_digest(data)
    return data, notes


def render_json(data: dict[str, Any]) -> str:
    """Readable and diffable: the header indented, one row per line."""
    head = {key: value for key, value in data.items() if key != "rows"}
    text = json.dumps(head, indent=2, ensure_ascii=False)
    rows = ",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in data["rows"])
    return text.removesuffix("\n}") + ',\n  "rows": [\n' + rows + "\n  ]\n}\n"


def zoo_names() -> tuple[str, dict[tuple[str, str], set[str]]]:
    """The installed robustbench's version and its model zoo's entry names per board."""
    from importlib.metadata import version

    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.model_zoo import model_dicts

    boards = {
        (dataset.value, threat.value): set(models)
        for dataset, by_threat in model_dicts.items()
        for threat, models in by_threat.items()
    }
    return version("robustbench"), boards


def render_provenance(data: dict[str, Any], entries: list[PublishedEntry], notes: list[str]) -> str:
    """PROVENANCE.md: where the snapshot came from, its boards, its licence, and oddities."""
    provenance = data["provenance"]
    licence_ = provenance["licence"]
    names: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        names.setdefault((entry.dataset, entry.threat_model), set()).add(entry.name)
    robustbench_version, zoo = zoo_names()
    unrecorded = []
    lines = [
        "# RobustBench's published numbers: provenance",
        "",
        "`robustbench.json` in this folder is a snapshot of RobustBench's published model",
        "information: the files `model_info/<dataset>/<threat_model>/<Name>.json` of",
        f"{provenance['source']} at commit `{provenance['commit']}`",
        f"(committed {provenance['commit_date']}), each kept as published (every field, its",
        "value as written, numbers as strings), with its folder's dataset and threat model, its",
        "name (the file's stem) and its git blob id. The figures are RobustBench's: freqbench",
        "shows them as published and never re-runs or edits them. `freqbench.published` reads",
        "the file and checks its types and its SHA-256 (`content_sha256`) on every read, so do",
        "not edit it by hand.",
        "",
        f"Both files were made by `{provenance['generator']}` in freqbench's repository, a",
        "maintenance script run by hand from the repository root:",
        "",
        "    git clone https://github.com/RobustBench/robustbench",
        "    .venv/bin/python scripts/snapshot_robustbench.py robustbench [--rev COMMIT]",
        "",
        "It reads the commit's git objects (never a work tree), the threat models and the fields",
        "RobustBench ranks each board by (`ACC_FIELDS` in `robustbench/utils.py`) and the",
        "licence (`LICENSE`).",
        "",
        "## Boards",
        "",
        f"Entries per board, and how many of them have weights in robustbench {robustbench_version}'s",
        "model zoo (`robustbench.model_zoo.model_dicts`, installed when this file was made; it",
        "loads `corruptions_3d` entries from the `corruptions` zoo). RobustBench ranks a board by",
        "the first of its fields that an entry has, highest first.",
        "",
        "| dataset | threat model | entries | in the zoo | ranked by |",
        "|---|---|---:|---:|---|",
    ]
    for (dataset, threat), board in sorted(names.items()):
        card = data["threat_models"][threat]
        acc = card["acc_fields"]
        in_zoo = zoo.get((dataset, card["model_info_dir"]), set())
        unrecorded += [f"{dataset}/{threat}/{name}" for name in sorted(in_zoo - board)]
        ranked = ", ".join(f"`{f}`" for f in ([acc] if isinstance(acc, str) else acc))
        lines.append(f"| {dataset} | {threat} | {len(board)} | {len(board & in_zoo)} | {ranked} |")
    lines += [
        "",
        "Entries of the zoo without a row here: "
        + (", ".join(f"`{name}`" for name in unrecorded) or "none")
        + ".",
        "",
        "`corruptions_3d` has no folder of its own: its figures (`corruptions_acc_3d`) are in the",
        "`corruptions` files (`robustbench/utils.py:update_json`), so those rows serve both boards.",
        "",
        "## Licence",
        "",
        f'RobustBench\'s `LICENSE`: "{licence_["statement"]}" {licence_["copyright"]}. (Some',
        "model weights are under other licences, listed there; no weights are copied here.)",
        "",
        "```text",
        licence_["copyright"],
        "",
        licence_["text"].rstrip(),
        "```",
        "",
        "## Left out, and upstream oddities kept as published",
        "",
    ]
    lines += [f"- {note}" for note in notes] or ["- none found"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a RobustBench clone or bare git directory")
    parser.add_argument("--rev", default="HEAD", help="the commit to snapshot (default HEAD)")
    parser.add_argument("--source", default=SOURCE, help=f"the repository's URL (default {SOURCE})")
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"the folder to write (default {OUT})"
    )
    args = parser.parse_args()
    data, notes = build(Repository(args.path, args.rev), args.source)
    target = args.out / "robustbench.json"
    text = render_json(data)
    snapshot = parse_snapshot(json.loads(text), target)  # refuse to write what cannot be read
    atomic.write_text(target, text)
    atomic.write_text(
        args.out / "PROVENANCE.md", render_provenance(data, snapshot.entries(), notes)
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    print(f"{target}: {len(data['rows'])} rows from {data['provenance']['commit']} (file {digest})")


if __name__ == "__main__":
    main()
