"""The commands the documentation shows parse as written: every `freqbench ...` line of every
bash block of README.md, CONTRIBUTING.md and docs/ goes through the real command-line parser
(placeholders filled in), and an evaluation never names a published leaderboard's folder as
its --out. Those that only read what the repository holds (listings, the committed boards and
zoo table, validate) also run; the first hour's block runs at a tiny budget
(tests/test_first_hour.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from freqbench.cli import build_parser
from freqbench.errors import UserError
from freqbench.evaluate import check_unpublished

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
#: What a placeholder stands for when the line is parsed.
PLACEHOLDERS = {
    "<root>": "/data/imagenet",
    "<name>": "smallcnn-natural",
    "<ImageNet-C dir>": "/data/imagenet-c",
    "<dataset>": "fashion-mnist",
}


def _commands(path: Path) -> list[tuple[str, list[str]]]:
    """(where, argv) of each `freqbench` line of the file's bash blocks, continued lines joined
    and comments off; ``a|b`` alternatives take the first and ``[OPTIONAL]`` parts are left out."""
    text = path.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if not line.startswith("freqbench "):
                continue
            for placeholder, value in PLACEHOLDERS.items():
                line = line.replace(placeholder, value)
            line = re.sub(r"\[[A-Z]+\]", "", line)
            words = [w.split("|")[0] for w in shlex.split(line)[1:]]
            found.append((f"{path.name}: {line}", words))
    return found


COMMANDS = [command for path in DOCS for command in _commands(path)]


def test_the_docs_show_commands_of_every_kind():
    kinds = {argv[0] for _, argv in COMMANDS}
    assert {"train", "evaluate", "leaderboard", "submit", "grid", "findings", "validate"} <= kinds


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_each_documented_command_parses_as_written(where, argv):
    args = build_parser(argv).parse_args(argv)
    if argv[0] == "evaluate" and args.out is not None:
        try:
            check_unpublished(REPO / args.out)
        except UserError as exc:
            pytest.fail(f"{where}: {exc}")


def _runnable_here(argv: list[str]) -> bool:
    """A documented command that reads only what the repository holds (listings, the
    committed boards, the zoo's table) and writes nothing: it is run, not just parsed."""
    if "--write" in argv or not (
        argv[0] in {"list", "validate", "leaderboard"} or argv[:2] == ["zoo", "list"]
    ):
        return False
    paths = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--records-dir"]
    paths += [a for a in argv[1:] if a.endswith(".json")]
    return all((REPO / p).exists() for p in paths)


RUNNABLE = [(where, argv) for where, argv in COMMANDS if _runnable_here(argv)]


def test_the_docs_show_commands_that_run_here():
    assert {argv[0] for _, argv in RUNNABLE} >= {"list", "validate", "leaderboard", "zoo"}


@pytest.mark.parametrize(("where", "argv"), RUNNABLE, ids=[w for w, _ in RUNNABLE])
def test_each_documented_command_that_reads_the_repository_runs(where, argv, monkeypatch, capsys):
    from freqbench.cli import main

    monkeypatch.chdir(REPO)
    assert main(argv) == 0, f"{where}: {capsys.readouterr().err}"
