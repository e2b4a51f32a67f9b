"""RobustBench's published numbers (freqbench.published): the snapshot against the installed
robustbench's model zoo and against figures read by hand from the upstream files, the checks
that refuse a damaged snapshot, RobustBench's ranking order, and the script that makes it."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from freqbench.errors import UnknownNameError, UserError
from freqbench.published import (
    SNAPSHOT,
    content_digest,
    get_published,
    load_snapshot,
    published_entries,
    rank_as_robustbench,
    snapshot_provenance,
)

COMMIT = "78fcc9e48a07a861268f295a777b975f25155964"  # RobustBench master, 2025-03-31

#: Entries per board in the snapshot of COMMIT (one per model_info file; the corruptions_3d
#: board is ImageNet's corruptions files, which carry corruptions_acc_3d).
SNAPSHOT_COUNTS = {
    ("cifar10", "L2"): 21,
    ("cifar10", "Linf"): 99,
    ("cifar10", "corruptions"): 23,
    ("cifar100", "Linf"): 38,
    ("cifar100", "corruptions"): 13,
    ("imagenet", "Linf"): 30,
    ("imagenet", "corruptions"): 12,
    ("imagenet", "corruptions_3d"): 12,
}

#: Entries with weights in robustbench 1.1.1's model zoo (model_dicts). The rest of the snapshot
#: (cifar10: 23 Linf, 6 corruptions; cifar100: 1 corruptions) is published without weights.
ZOO_COUNTS = {
    ("cifar10", "L2"): 21,
    ("cifar10", "Linf"): 76,
    ("cifar10", "corruptions"): 17,
    ("cifar100", "Linf"): 38,
    ("cifar100", "corruptions"): 12,
    ("imagenet", "Linf"): 30,
    ("imagenet", "corruptions"): 12,
    ("imagenet", "corruptions_3d"): 12,
}

#: Zoo entries without a snapshot row, each with its reason: none at COMMIT.
NO_ROW: dict[tuple[str, str, str], str] = {}


@pytest.fixture(scope="module")
def zoo() -> dict[tuple[str, str], set[str]]:
    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.model_zoo import model_dicts

    boards = {
        (dataset.value, threat.value): set(models)
        for dataset, by_threat in model_dicts.items()
        for threat, models in by_threat.items()
    }
    # robustbench.utils.load_model builds corruptions_3d entries from the corruptions zoo
    boards["imagenet", "corruptions_3d"] = boards["imagenet", "corruptions"]
    return boards


def _names(dataset: str, threat_model: str) -> set[str]:
    return {entry.name for entry in published_entries(dataset, threat_model)}


# (a) the snapshot against the installed model zoo


def test_the_snapshot_s_boards_and_their_sizes():
    counts: dict[tuple[str, str], int] = {}
    for entry in published_entries():
        counts[entry.dataset, entry.threat_model] = (
            counts.get((entry.dataset, entry.threat_model), 0) + 1
        )
    assert counts == SNAPSHOT_COUNTS
    assert published_entries("cifar100", "L2") == []  # RobustBench publishes no such board


def test_every_zoo_entry_with_weights_has_a_snapshot_row(zoo):
    assert {board: len(names) for board, names in zoo.items()} == ZOO_COUNTS
    missing = sorted(
        (dataset, threat, name)
        for (dataset, threat), names in zoo.items()
        for name in names - _names(dataset, threat)
    )
    assert missing == sorted(NO_ROW)
    without_weights = {board: SNAPSHOT_COUNTS[board] - len(zoo[board]) for board in zoo}
    assert without_weights == {
        ("cifar10", "L2"): 0,
        ("cifar10", "Linf"): 23,
        ("cifar10", "corruptions"): 6,
        ("cifar100", "Linf"): 0,
        ("cifar100", "corruptions"): 1,
        ("imagenet", "Linf"): 0,
        ("imagenet", "corruptions"): 0,
        ("imagenet", "corruptions_3d"): 0,
    }


def test_provenance_names_the_commit_its_date_and_the_licence():
    provenance = snapshot_provenance()
    assert provenance["source"] == "https://github.com/RobustBench/robustbench"
    assert provenance["commit"] == COMMIT
    assert provenance["commit_date"] == "2025-03-31T14:30:24+02:00"
    assert provenance["licence"]["name"] == "MIT"
    assert provenance["licence"]["copyright"] == (
        "Copyright (c) 2020 Francesco Croce, Maksym Andriushchenko, Vikash Sehwag"
    )
    assert "Permission is hereby granted, free of charge" in provenance["licence"]["text"]
    provenance["commit"] = "changed"  # a copy: the snapshot keeps its own
    assert snapshot_provenance()["commit"] == COMMIT
    text = (SNAPSHOT.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert f"`{COMMIT}`" in text and "2025-03-31T14:30:24+02:00" in text
    assert "scripts/snapshot_robustbench.py" in text and "Permission is hereby granted" in text
    for (dataset, threat), count in SNAPSHOT_COUNTS.items():
        assert f"| {dataset} | {threat} | {count} | {ZOO_COUNTS[dataset, threat]} |" in text


# (b) figures read by hand from the upstream files at COMMIT


def test_figures_equal_the_upstream_files():
    # model_info/cifar10/Linf/Carmon2019Unlabeled.json
    entry = get_published("cifar10", "Linf", "Carmon2019Unlabeled")
    assert (entry.clean_acc, entry.robust_acc, entry.best_known_acc) == (89.69, 59.53, 59.53)
    assert (entry.reported, entry.robust_field, entry.eps) == (62.5, "autoattack_acc", "8/255")
    assert (entry.architecture, entry.venue, entry.additional_data) == (
        "WideResNet-28-10",
        "NeurIPS 2019",
        True,
    )
    assert entry.paper == "Unlabeled Data Improves Adversarial Robustness"
    assert entry.link == "https://arxiv.org/abs/1905.13736"
    assert (entry.unreliable, entry.footnote, entry.number_forward_passes) == (False, None, 1)
    assert entry.raw["autoattack_acc"] == "59.53"  # as published: a string
    # model_info/cifar10/Linf/Kang2021Stable.json: AutoAttack 71.28, "external" 64.20
    entry = get_published("cifar10", "Linf", "Kang2021Stable")
    assert (entry.clean_acc, entry.robust_acc, entry.best_known_acc) == (93.73, 71.28, 64.20)
    assert entry.unreliable is True
    # model_info/imagenet/corruptions/Hendrycks2020AugMix.json: "reported": "", "eps": null
    entry = get_published("imagenet", "corruptions", "Hendrycks2020AugMix")
    assert (entry.clean_acc, entry.robust_acc, entry.robust_field) == (
        77.34,
        49.33,
        "corruptions_acc",
    )
    assert (entry.reported, entry.eps, entry.unreliable) == (None, None, None)
    entry = get_published("imagenet", "corruptions_3d", "Hendrycks2020AugMix")
    assert (entry.robust_acc, entry.robust_field) == (53.48, "corruptions_acc_3d")
    assert entry.raw["corruptions_mce_3d"] == "64.64"
    # model_info/cifar10/corruptions/Diffenderfer2021Winning_LRR_CARD_Deck.json:
    # "reported": "null" (a string), six forward passes
    entry = get_published("cifar10", "corruptions", "Diffenderfer2021Winning_LRR_CARD_Deck")
    assert (entry.clean_acc, entry.robust_acc, entry.reported) == (96.56, 92.78, None)
    assert entry.number_forward_passes == 6
    # model_info/cifar10/L2/Standard.json
    entry = get_published("cifar10", "L2", "Standard")
    assert (entry.clean_acc, entry.robust_acc, entry.venue, entry.authors) == (
        94.78,
        0.0,
        "N/A",
        "",
    )


def test_unknown_names_get_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean: Carmon2019Unlabeled"):
        get_published("cifar10", "Linf", "Carmon2019Unlabled")
    with pytest.raises(UnknownNameError, match=r"threat model 'linf'.*Did you mean: Linf"):
        published_entries("cifar10", "linf")
    with pytest.raises(UnknownNameError, match=r"dataset 'cifar-10'.*Did you mean: cifar10"):
        get_published("cifar-10", "Linf", "Standard")
    with pytest.raises(UserError, match=r"no cifar100 L2 board.*cifar10/L2, cifar10/Linf"):
        get_published("cifar100", "L2", "Standard")


@pytest.mark.slow
def test_reading_the_snapshot_needs_no_torch():
    code = (
        "import sys, freqbench.published as p; p.published_entries(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# (c) a damaged snapshot is refused, naming the file


def _rows(data: dict, dataset: str, threat: str, name: str) -> dict:
    return next(
        row
        for row in data["rows"]
        if (row["dataset"], row["threat_model"], row["name"]) == (dataset, threat, name)
    )


def _rehash(data: dict) -> None:
    """A damage done consistently: the content digest agrees, so the type checks must catch it."""
    data["provenance"]["content_sha256"] = content_digest(data)


def _set(data, path, value):
    *keys, last = path
    for key in keys:
        data = data[key]
    data[last] = value


CARMON = ("cifar10", "Linf", "Carmon2019Unlabeled")


def _edit(field, value, rehash=True):
    def damage(data):
        _rows(data, *CARMON)["model_info"][field] = value
        if rehash:
            _rehash(data)

    return damage


def _drop(field):
    def damage(data):
        del _rows(data, *CARMON)["model_info"][field]
        _rehash(data)

    return damage


def _provenance(key, value):
    def damage(data):
        if value is None:
            del data["provenance"][key]
        else:
            data["provenance"][key] = value

    return damage


def _repeat_row(data):
    data["rows"].append(copy.deepcopy(_rows(data, *CARMON)))
    _rehash(data)


DAMAGES = {
    "number edited by hand": (
        _edit("clean_acc", "89.70", rehash=False),
        "does not match the SHA-256",
    ),
    "not a number": (_edit("clean_acc", "abc"), r"Carmon2019Unlabeled\): 'clean_acc' is 'abc'"),
    "not a percentage": (_edit("autoattack_acc", "159.53"), "'autoattack_acc' is '159.53'"),
    "flag as text": (_edit("additional_data", "yes"), "'additional_data' is 'yes', not flag"),
    "count as float": (_edit("number_forward_passes", 1.0), "'number_forward_passes' is 1.0"),
    "unknown field": (_edit("robust_acc", "50.0"), "field 'robust_acc', unknown"),
    "headline missing": (_drop("autoattack_acc"), "accuracy of no threat model"),
    "required field missing": (_drop("clean_acc"), "has no 'clean_acc'"),
    "commit missing": (_provenance("commit", None), "provenance is not an object"),
    "commit not a hash": (_provenance("commit", "master"), "commit 'master' is no git commit"),
    "licence missing": (_provenance("licence", "MIT"), "licence is not an object"),
    "row repeated": (_repeat_row, "repeats cifar10/Linf/Carmon2019Unlabeled"),
    "format unknown": (lambda data: _set(data, ["format"], 2), "format is 2"),
    "rows not a list": (lambda data: _set(data, ["rows"], {}), "'rows' is not a list"),
}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_damaged_snapshot_is_refused_naming_the_file(tmp_path, damage):
    change, message = DAMAGES[damage]
    data = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert load_snapshot(SNAPSHOT).provenance["commit"] == COMMIT  # the original loads
    change(data)
    path = tmp_path / "robustbench.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UserError, match=message) as caught:
        load_snapshot(path)
    assert str(path) in str(caught.value)
    assert "scripts/snapshot_robustbench.py" in str(caught.value)


def test_an_unreadable_or_missing_snapshot_is_refused(tmp_path):
    path = tmp_path / "robustbench.json"
    path.write_text(SNAPSHOT.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(UserError, match=f"{path} is damaged: it cannot be read as JSON"):
        load_snapshot(path)
    with pytest.raises(UserError, match="is damaged: the file is missing"):
        load_snapshot(tmp_path / "absent.json")


# (d) RobustBench's ranking order


def _snapshot_file(tmp_path: Path, rows: list[tuple[str, str, str, dict]]) -> Path:
    """A small hand-made snapshot of the given (dataset, threat model, name, figures) rows."""
    data = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    base = _rows(data, *CARMON)["model_info"]
    data["rows"] = [
        {
            "dataset": dataset,
            "threat_model": threat,
            "name": name,
            "blob": "0" * 40,
            "model_info": {**{k: v for k, v in base.items() if k != "autoattack_acc"}, **figures},
        }
        for dataset, threat, name, figures in rows
    ]
    _rehash(data)
    path = tmp_path / "robustbench.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_ranking_follows_the_best_known_robust_accuracy(tmp_path):
    rows = [
        ("cifar10", "Linf", "A", {"autoattack_acc": "50.0", "clean_acc": "90.0"}),
        ("cifar10", "Linf", "B", {"autoattack_acc": "60.0", "external": "40.0"}),
        ("cifar10", "Linf", "C", {"autoattack_acc": "55.0", "clean_acc": "80.0"}),
        ("cifar10", "Linf", "D", {"autoattack_acc": "50.00", "clean_acc": "95.0"}),
        ("cifar10", "Linf", "E", {"autoattack_acc": "10.0"}),
        ("cifar10", "Linf", "F", {"autoattack_acc": "9.5"}),  # above "10.0" as a string
        ("cifar10", "corruptions", "G", {"corruptions_acc": "70.0"}),
    ]
    snapshot = load_snapshot(_snapshot_file(tmp_path, rows))
    board = snapshot.entries("cifar10", "Linf")
    # B ranks by its external 40 (not AutoAttack's 60); A and D tie at 50: by name, whatever
    # their clean accuracy; numbers, not strings: 10.0 before 9.5.
    ranked = [entry.name for entry in rank_as_robustbench(reversed(board))]
    assert ranked == ["C", "A", "D", "B", "E", "F"]
    with pytest.raises(UserError, match="one RobustBench board at a time"):
        rank_as_robustbench(snapshot.entries("cifar10"))


def test_the_top_of_real_boards_is_robustbench_s():
    # README.md at COMMIT, "CIFAR-10 / Linf" and "CIFAR-10 / L2": ranks 1-3. Amini2024MeanSparse
    # has the higher AutoAttack accuracy on both, but RobustBench ranks it by its "external".
    top = [e.name for e in rank_as_robustbench(published_entries("cifar10", "Linf"))[:3]]
    assert top == [
        "Bartoldson2024Adversarial_WRN-94-16",
        "Amini2024MeanSparse_S-WRN-94-16",
        "Bartoldson2024Adversarial_WRN-82-8",
    ]
    top = [e.name for e in rank_as_robustbench(published_entries("cifar10", "L2"))[:3]]
    assert top == [
        "Wang2023Better_WRN-70-16",
        "Amini2024MeanSparse_S-WRN-70-16",
        "Wang2023Better_WRN-28-10",
    ]


# the generator script, on a small RobustBench-like repository


ENUMS = """from enum import Enum


class BenchmarkDataset(Enum):
    cifar_10 = 'cifar10'


class ThreatModel(Enum):
    Linf = "Linf"
    L2 = "L2"
    corruptions = "corruptions"
    corruptions_3d = "corruptions_3d"
"""
UTILS = """ACC_FIELDS = {
    ThreatModel.corruptions: "corruptions_acc",
    ThreatModel.corruptions_3d: "corruptions_acc_3d",
    ThreatModel.L2: ("external", "autoattack_acc"),
    ThreatModel.Linf: ("external", "autoattack_acc")
}
"""
LICENSE = """The code of the RobustBench benchmark is released under the MIT license.
Copyright (c) 2020 Someone

--------------------------------------------------------------------------

MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy.

--------------------------------------------------------------------------
"""
INFO = {
    "link": "https://example.org",
    "name": "A paper",
    "authors": "A. Author",
    "additional_data": False,
    "number_forward_passes": 1,
    "dataset": "cifar10",
    "venue": "N/A",
    "architecture": "ResNet-18",
    "eps": "8/255",
    "clean_acc": "90.5",
    "reported": "",
    "autoattack_acc": "45.25",
}


AUG = """{"link": "https://example.org", "name": "B paper", "authors": "B", "additional_data": true,
"number_forward_passes": 2, "venue": "ICLR 2020", "architecture": "ResNet-50", "eps": null,
"clean_acc": "77.0", "reported": "null", "corruptions_acc": "70.0", "corruptions_acc": "70.0",
"corruptions_acc_3d": "60.0"}"""


def _script():
    path = Path(__file__).resolve().parent.parent / "scripts" / "snapshot_robustbench.py"
    spec = importlib.util.spec_from_file_location("snapshot_robustbench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_script_snapshots_a_commit_not_the_work_tree(tmp_path, monkeypatch):
    repo = tmp_path / "robustbench"
    files = {
        "robustbench/model_zoo/enums.py": ENUMS,
        "robustbench/utils.py": UTILS,
        "LICENSE": LICENSE,
        "model_info/cifar10/Linf/Zed.json": json.dumps(INFO),
        "model_info/cifar10/Linf/Alpha.json": json.dumps({**INFO, "external": "44.0"}),
        # a repeated key with the same value, as upstream has one
        "model_info/cifar10/corruptions/Aug.json": AUG,
        "model_info/cifar10/corruptions/results.csv": "a,b\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "snapshot me")
    commit = _git(repo, "rev-parse", "HEAD")
    (repo / "model_info/cifar10/Linf/Zed.json").write_text("{}", encoding="utf-8")  # uncommitted

    script = _script()
    monkeypatch.setattr(script, "zoo_names", lambda: ("9.9", {("cifar10", "Linf"): {"Zed", "Zoo"}}))
    monkeypatch.setattr(sys, "argv", ["x", str(repo), "--out", str(tmp_path / "out")])
    script.main()

    snapshot = load_snapshot(tmp_path / "out" / "robustbench.json")
    assert snapshot.provenance["commit"] == commit
    assert snapshot.provenance["licence"]["copyright"] == "Copyright (c) 2020 Someone"
    assert list(snapshot.threat_models) == ["corruptions", "corruptions_3d", "Linf"]  # no L2 folder
    zed = snapshot.get("cifar10", "Linf", "Zed")
    assert (zed.clean_acc, zed.robust_acc, zed.reported) == (90.5, 45.25, None)  # committed figures
    ranked = rank_as_robustbench(snapshot.entries("cifar10", "Linf"))
    assert [e.name for e in ranked] == ["Zed", "Alpha"]  # Alpha ranks by its external 44.0
    assert snapshot.get("cifar10", "corruptions_3d", "Aug").robust_acc == 60.0
    data = json.loads((tmp_path / "out" / "robustbench.json").read_text(encoding="utf-8"))
    blobs = {row["name"]: row["blob"] for row in data["rows"]}
    assert blobs["Zed"] == _git(repo, "rev-parse", "HEAD:model_info/cifar10/Linf/Zed.json")
    assert data["rows"][2]["model_info"] == {  # as published, the repeated key once
        "link": "https://example.org",
        "name": "B paper",
        "authors": "B",
        "additional_data": True,
        "number_forward_passes": 2,
        "venue": "ICLR 2020",
        "architecture": "ResNet-50",
        "eps": None,
        "clean_acc": "77.0",
        "reported": "null",
        "corruptions_acc": "70.0",
        "corruptions_acc_3d": "60.0",
    }
    provenance = (tmp_path / "out" / "PROVENANCE.md").read_text(encoding="utf-8")
    assert f"`{commit}`" in provenance
    assert "| cifar10 | Linf | 2 | 1 |" in provenance  # Zed has weights, Alpha none
    assert "Entries of the zoo without a row here: `cifar10/Linf/Zoo`." in provenance
    assert "`model_info/cifar10/corruptions/Aug.json` has 'corruptions_acc' twice" in provenance
    assert "`model_info/cifar10/corruptions/results.csv` is not a model_info JSON" in provenance
