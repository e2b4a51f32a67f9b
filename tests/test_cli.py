"""The CLI as a user meets it: a real subprocess, exit codes, and no tracebacks for mistakes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from freqbench.checkpoints import CheckpointInfo, save_checkpoint
from freqbench.cli import COMMANDS


def freqbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_help_lists_commands():
    result = freqbench("--help")
    assert result.returncode == 0
    assert "list" in result.stdout and "info" in result.stdout


@pytest.mark.slow
def test_list_with_pattern():
    result = freqbench("list", "architectures", "wrn-*")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["wrn-16-4", "wrn-28-10", "wrn-34-10"]
    assert "fashion-mnist" in freqbench("list", "datasets").stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "suggestion"),
    [(("list", "architecure"), "architectures"), (("list", "datsets"), "datasets")],
)
def test_unknown_name_exit_2_with_suggestion(args, suggestion):
    result = freqbench(*args)
    assert result.returncode == 2
    assert f"Did you mean: {suggestion}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_info_describes_a_checkpoint(tmp_path):
    info = CheckpointInfo.for_dataset("smallcnn", "fashion-mnist", recipe="pgd-at")
    path = save_checkpoint(info.build(), tmp_path / "m.safetensors", info)
    result = freqbench("info", str(path))
    assert result.returncode == 0, result.stderr
    assert "pgd-at" in result.stdout and "435,370" in result.stdout
    missing = freqbench("info", str(tmp_path / "nope.safetensors"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_spectrum_writes_plots_and_prints_slope(tmp_path):
    result = freqbench(
        "spectrum", "--dataset", "synthetic", "--n-examples", "32", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "slope" in result.stdout and "mean R80" in result.stdout
    for name in ("radial_spectrum.png", "frequency_splits.png", "bass.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


_IMPORTS_TORCH = """
import sys
from freqbench.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("TORCH" if "torch" in sys.modules else "NO TORCH")
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["--help"], ["list", "metrics"], ["list", "architectures"], ["list", "datasets"],
     ["list", "recipes"], *[[command, "--help"] for command in COMMANDS]],
    ids=lambda args: " ".join(args),
)  # fmt: skip
def test_help_and_list_do_not_import_torch(args):
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS_TORCH, *args], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "NO TORCH", result.stderr


@pytest.mark.slow
def test_evaluate_help_lists_every_protocol_field():
    from freqbench.protocol import all_fields

    help_text = freqbench("evaluate", "--help").stdout
    for field in all_fields().values():
        assert (field.option in help_text) == field.cli
    assert "--device DEVICE" in help_text and "auto (default" in help_text


@pytest.mark.slow
def test_third_party_import_noise_is_filtered_unless_verbose(tmp_path):
    """Importing timm warns about torch.jit.interface (a torch deprecation, nothing the user
    can act on): freqbench's commands filter it, --verbose shows it."""
    command = [sys.executable, "-m", "freqbench.cli", "evaluate", "--model", "timm:resnet18",
               "--random-init", "--dataset", "synthetic", "--metrics", "filters",
               "--device", "cpu"]  # fmt: skip
    quiet = subprocess.run([*command, "--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    assert "Warning" not in quiet.stderr
    loud = subprocess.run([*command, "--out", str(tmp_path / "b"), "--verbose"],
                          capture_output=True, text=True)  # fmt: skip
    assert loud.returncode == 0, loud.stderr
    assert "FutureWarning: `torch.jit.interface` is deprecated" in loud.stderr


@pytest.mark.slow
def test_robustbench_imports_in_freqbench_s_environment():
    """robustbench 1.1.1 imports `autoattack`, which PyPI ships as pyautoattack: the alias
    freqbench installs makes `import robustbench` work in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", "import robustbench.eval, autoattack.state"],
                          capture_output=True, text=True, cwd="/")  # fmt: skip
    assert done.returncode == 0, done.stderr
