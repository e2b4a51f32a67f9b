"""One broken plugin never stops the rest: hostile metric plugins, at load and at compute.

Each plugin is a module in a temporary folder with the entry point pip would write for it
(an ``entry_points.txt`` in a ``.dist-info``), loaded by a fresh registry. A plugin that
collides with what is registered, declares nonsense or raises anything while it loads is
left out with one warning that names its package; every built-in metric and the good plugin
still work. A plugin whose compute fails, or returns what a record cannot hold, fails its
own block: the other blocks are written, the printout says which block failed and why, and
the exit code is 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from freqbench.cli import build_parser, main, reserved_option_names
from freqbench.metrics import registry
from freqbench.protocol import all_fields
from freqbench.records import checks, record_problems
from freqbench.registry import reserve_option_names

BUILTIN = [
    "clean",
    "autoattack",
    "corruptions",
    "band_split",
    "long_tail",
    "gradient_spectrum",
    "fourier_heatmap",
    "filters",
]
#: Every built-in metric, those run only when named (release files only) included.
LISTED = [*BUILTIN[:3], "corruptions_3d", *BUILTIN[3:]]

HEADER = """\
from freqbench.metrics import Artifact, Column, MetricResult, MetricSpec, Presentation, ProtocolField

def compute(model, data, **options):
    return {"accuracy": 0.5, "n": len(data)}

SCHEMA = {"type": "object", "required": ["accuracy", "n"],
          "properties": {"accuracy": {"type": "number", "minimum": 0, "maximum": 1},
                         "n": {"type": "integer", "minimum": 0}}}
"""


def spec(name: str, **fields: str) -> str:
    """A plugin module's SPEC, with ``fields`` (source text) added or replaced."""
    arguments = {
        "name": repr(name),
        "description": repr("a plugin"),
        "version": repr("1"),
        "compute": "compute",
        "reads": '("n_examples",)',
        "presentation": f'Presentation(columns=(Column("{name}", "{name} acc.", "an accuracy", ("accuracy",), percent=True),))',
        "schema": "SCHEMA",
        **fields,
    }
    return "SPEC = MetricSpec(" + ", ".join(f"{k}={v}" for k, v in arguments.items()) + ")\n"


@pytest.fixture()
def site(monkeypatch, tmp_path):
    """A fresh registry that loads the plugins declared in ``tmp_path``."""
    monkeypatch.setattr(registry, "METRICS", registry.METRICS.fresh())
    monkeypatch.syspath_prepend(str(tmp_path))
    reserve_option_names(reserved_option_names)  # as every command does first
    checks.record_schema.cache_clear()
    checks._record_validator.cache_clear()
    yield tmp_path
    checks.record_schema.cache_clear()
    checks._record_validator.cache_clear()
    for name in [m for m in sys.modules if m.startswith("hostile_")]:
        del sys.modules[name]


def install(site: Path, package: str, module_text: str, entry: str | None = None) -> None:
    """A plugin package: its module, and the entry point pip would declare for it."""
    module = package.replace("-", "_")
    (site / f"{module}.py").write_text(module_text)
    info = site / f"{module}-0.1.dist-info"  # as pip names it: no dash in the name part
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[freqbench.metrics]\n{entry or package.removeprefix('hostile-')} = {module}:SPEC\n"
    )


@dataclass(frozen=True)
class LoadCase:
    id: str
    module: str  # the plugin module's text
    why: str  # words of the warning


LOAD_CASES = [
    LoadCase("import-error", "import no_such_module_here\n", "ModuleNotFoundError"),
    LoadCase("sys-exit", "import sys\nsys.exit(3)\n", "SystemExit: 3"),
    LoadCase("keyboard-interrupt", "raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    LoadCase("not-a-spec", "SPEC = 42\n", "not a MetricSpec"),
    LoadCase("builtin-name", HEADER + spec("clean"), "metric 'clean' is already registered"),
    LoadCase("column-key-clean", HEADER + spec("x", presentation='Presentation(columns=(Column("clean", "C", "c", ("accuracy",)),))'),
             "column key 'clean' is taken"),
    LoadCase("model-info-key", HEADER + spec("x", presentation='Presentation(columns=(Column("x", "X", "x", ("accuracy",), model_info="clean_acc"),))'),
             "model_info key 'clean_acc' is taken"),
    LoadCase("field-eps", HEADER + spec("x", reads='("n_examples", "eps")', fields='(ProtocolField("eps", float, "e"),)'),
             "protocol field 'eps' is declared already"),
    LoadCase("field-heatmap", HEADER + spec("x", reads='("n_examples", "heatmap_eps")', fields='(ProtocolField("heatmap_eps", float, "e"),)'),
             "protocol field 'heatmap_eps' is declared already"),
    LoadCase("field-out", HEADER + spec("x", reads='("n_examples", "out")', fields='(ProtocolField("out", str, "o"),)'),
             "would take the option --out"),
    # Options that a hand-kept list once missed: every evaluate then died in argparse.
    LoadCase("field-cache-dir", HEADER + spec("x", reads='("n_examples", "cache_dir")', fields='(ProtocolField("cache_dir", str, "o"),)'),
             "would take the option --cache-dir"),
    LoadCase("field-input-normalization", HEADER + spec("x", reads='("n_examples", "input_normalization")', fields='(ProtocolField("input_normalization", str, "o"),)'),
             "would take the option --input-normalization"),
    LoadCase("field-epochs", HEADER + spec("x", reads='("n_examples", "epochs")', fields='(ProtocolField("epochs", int, "o"),)'),
             "would take the option --epochs"),
    LoadCase("reads-undeclared", HEADER + spec("x", reads='("n_examples", "nowhere")'), "undeclared protocol field 'nowhere'"),
    LoadCase("schema-not-a-schema", HEADER + spec("x", schema='{"type": 5}'), "not a JSON Schema"),
    LoadCase("artifact-json", HEADER + spec("x", artifacts='(Artifact("a", "data.json", "a", print),)'),
             "must not end in json"),
    LoadCase("images-unread", HEADER + spec("x", reads="()"), "images field 'n_examples' is not read"),
]  # fmt: skip


def test_every_option_of_every_command_is_reserved():
    """Read from the parsers themselves: no protocol field may take a command's option."""
    reserved, fields = reserved_option_names(), {f.option for f in all_fields().values()}
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    seen = 0
    for name, command in commands.items():
        for action in command._actions:
            for option in action.option_strings:
                if option in fields:
                    continue
                seen += 1
                assert option.lstrip("-").replace("-", "_") in reserved, (name, option)
    assert seen > 80  # every command's options, not a few
    assert {"cache_dir", "input_normalization", "out", "records_dir", "epochs"} <= reserved
    assert {"run", "command", "verbose"} <= reserved  # the parsers' own names of the namespace


def test_a_plugin_loaded_before_the_cli_reserved_its_options_is_left_out_then(site):
    reserve_option_names(frozenset)  # a library user's process: no command line yet
    install(site, "hostile-late", HEADER + spec("late", reads='("n_examples", "out")',
                                                fields='(ProtocolField("out", str, "o"),)'))  # fmt: skip
    assert "late" in registry.list_metrics()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reserve_option_names(reserved_option_names)
    assert "late" not in registry.list_metrics()
    (message,) = [str(w.message) for w in caught]
    assert "package hostile-late 0.1" in message and "would take the option --out" in message


@pytest.mark.parametrize("case", LOAD_CASES, ids=lambda c: c.id)
def test_a_plugin_that_fails_a_check_or_its_import_is_left_out_with_one_warning(site, case):
    install(site, "hostile-bad", case.module)
    install(site, "hostile-good", HEADER + spec("good"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = registry.list_metrics()
    assert names == [*LISTED, "good"]
    messages = [str(w.message) for w in caught if "freqbench: metric plugin" in str(w.message)]
    assert len(messages) == 1, [str(w.message) for w in caught]
    assert "package hostile-bad 0.1" in messages[0] and "left out" in messages[0]
    assert case.why in messages[0], messages[0]


def test_two_plugins_with_one_column_key_keep_the_first(site):
    install(
        site,
        "hostile-a",
        HEADER
        + spec(
            "a", presentation='Presentation(columns=(Column("shared", "S", "s", ("accuracy",)),))'
        ),
    )
    install(
        site,
        "hostile-b",
        HEADER
        + spec(
            "b", presentation='Presentation(columns=(Column("shared", "S", "s", ("accuracy",)),))'
        ),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = registry.list_metrics()
    assert names == [*LISTED, "a"]
    assert any("column key 'shared' is taken" in str(w.message) for w in caught)


@pytest.mark.slow
def test_every_command_works_beside_a_plugin_that_exits_at_import(site):
    """As a user sees it: a real process, the warning on stderr as one line."""
    install(site, "hostile-exit", "import sys\nsys.exit(3)\n")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{root}"}
    for args in (["list", "metrics"], ["leaderboard", "--check"], ["evaluate", "--help"]):
        done = subprocess.run([sys.executable, "-m", "freqbench.cli", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.count("freqbench: metric plugin 'exit'") == 1, done.stderr
        assert "package hostile-exit 0.1) is left out: SystemExit: 3" in done.stderr
        if args == ["list", "metrics"]:
            listed = [line.split()[0] for line in done.stdout.splitlines()]
            assert listed == [*LISTED, "frequency"]  # the metrics, then the group


COMPUTES = {
    "raises": "raise ValueError('boom')",
    "exits": "import sys; sys.exit(0)",
    "numpy-scalar": "import numpy; return numpy.float64(0.5)",
    "a-list": "return [0.5]",
    "none": "return None",
    "nan": "return {'accuracy': float('nan'), 'n': len(data)}",
    "infinite": "return {'accuracy': float('inf'), 'n': len(data)}",
    "too-many-numbers": "return {'accuracy': 0.5, 'n': len(data), 'all': [0.5] * 3_000_000}",
    "breaks-its-schema": "return {'accuracy': 5.0, 'n': len(data)}",
    "an-object": "return {'accuracy': object(), 'n': len(data)}",
}
WHY = {
    "raises": "failed: ValueError: boom (hostile_compute.py:",
    "exits": "failed: SystemExit: 0",
    "numpy-scalar": "returned a float64",
    "a-list": "returned a list",
    "none": "returned None",
    "nan": "x.accuracy: not a finite number",
    "infinite": "x.accuracy: not a finite number",
    "too-many-numbers": "more than 262,144",
    "breaks-its-schema": "breaks its own schema: accuracy: 5.0 is greater than the maximum of 1",
    "an-object": "x.accuracy: a object is not a JSON number",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(COMPUTES), ids=str)
def test_a_plugin_that_fails_at_compute_fails_its_block_only(
    case, site, synthetic_checkpoint, tmp_path, capsys
):
    body = textwrap.indent(COMPUTES[case], "    ")
    install(site, "hostile-compute", HEADER + f"def compute(model, data):\n{body}\n" + spec("x"),
            entry="x")  # fmt: skip
    out_dir = tmp_path / "records"
    code = main(["evaluate", "--model", str(synthetic_checkpoint), "--metrics", "clean,x,filters",
                 "--n-examples", "16", "--out", str(out_dir), "--name", "m", "--device", "cpu"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    failed = next(line for line in out.splitlines() if line.startswith("FAILED x:"))
    assert "metric x (plugin hostile-compute 0.1)" in failed
    assert WHY[case] in failed, failed
    assert "1 block failed; the other blocks were kept" in out
    record = json.loads((out_dir / "m.json").read_text())
    assert list(record["metrics"]) == ["clean", "filters"]
    assert record_problems(record) == []


def test_numpy_numbers_inside_a_result_are_plain_json_in_the_record(
    site, synthetic_checkpoint, tmp_path, capsys
):
    install(site, "hostile-numpy", HEADER + textwrap.dedent("""\
        def compute(model, data):
            import numpy
            return {"accuracy": numpy.float32(0.5), "n": numpy.int64(len(data))}
        """) + spec("x"), entry="x")  # fmt: skip
    code = main(["evaluate", "--model", str(synthetic_checkpoint), "--metrics", "x",
                 "--n-examples", "16", "--out", str(tmp_path), "--name", "m", "--device", "cpu"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["x"] == {
        "accuracy": 0.5,
        "n": 16,
    }
