"""The one plugin registry (freqbench.registry.Registry): the skeleton every kind is built on.

One kind is declared here as a new one would be (a Registry with its entry-point group), and
plugins are "installed" the way pip declares them: a dist-info with entry_points.txt on the
path. Then `freqbench list` is checked to name the providing package for every kind.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from freqbench import architectures
from freqbench.errors import PluginError, UnknownNameError
from freqbench.metrics import registry as metric_registry
from freqbench.recipes import registry as recipe_registry
from freqbench.registry import Registry


def _install(site: Path, package: str, group: str, entry: str, text: str) -> None:
    module = package.replace("-", "_")
    (site / f"{module}.py").write_text(text)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")


@pytest.fixture()
def site(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("pkg_")]:
        del sys.modules[name]


def _colours() -> Registry[str]:
    """A new kind, declared as a dataset or threat-model registry is."""
    colours: Registry[str] = Registry(
        "colour",
        "freqbench.test_colours",
        adopt=lambda name, loaded: [(name, str(loaded))],
        check=lambda name, item, others: ["its hex is taken"] if item in others else [],
        name_form=r"^[a-z]+$",
        name_rule="lowercase letters",
    )
    colours.register("red", "#f00", builtin=True)
    colours.register("green", "#0f0", builtin=True)
    return colours


def test_a_new_kind_finds_lists_and_suggests():
    colours = _colours()
    assert colours.get("red") == "#f00" and "green" in colours
    assert colours.names() == ["green", "red"] and colours.names("g*") == ["green"]
    with pytest.raises(UnknownNameError, match=r"unknown colour 'rde'\. Did you mean: red"):
        colours.get("rde")
    with pytest.raises(ValueError, match="colour 'red' is already registered"):
        colours.register("red", "#e00")
    with pytest.raises(ValueError, match="its name 'Blue' must be lowercase letters"):
        colours.register("Blue", "#00f")
    with pytest.raises(ValueError, match="colour 'crimson': its hex is taken"):
        colours.register("crimson", "#f00")
    assert colours.source("red") is None and colours.is_builtin("red")


def test_plugins_of_a_new_kind_load_with_the_built_ins_checks_and_their_package(site):
    group = "freqbench.test_colours"
    _install(site, "pkg-blue", group, "blue = pkg_blue:HEX", "HEX = '#00f'\n")
    _install(site, "pkg-clash", group, "red = pkg_clash:HEX", "HEX = '#e00'\n")
    _install(site, "pkg-form", group, "Navy = pkg_form:HEX", "HEX = '#008'\n")
    _install(site, "pkg-exit", group, "exits = pkg_exit:HEX", "import sys\nsys.exit(4)\n")
    colours = _colours()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert colours.names() == ["blue", "green", "red"]
        assert colours.fresh().names() == ["blue", "green", "red"]  # loads its plugins again
    messages = " | ".join(str(w.message) for w in caught)
    assert len(caught) == 6, messages
    assert "package pkg-clash 0.1) is left out: ValueError: colour 'red' is already" in messages
    assert "package pkg-exit 0.1) is left out: SystemExit: 4" in messages
    assert "package pkg-form 0.1) is left out: ValueError: its name 'Navy'" in messages
    assert colours.source("blue") == "pkg-blue 0.1" and not colours.is_builtin("blue")
    failed = r"colour 'blue' \(plugin package pkg-blue 0.1\) raised RuntimeError: no such hue"
    with pytest.raises(PluginError, match=failed), colours.guard("blue"):
        raise RuntimeError("no such hue")


def test_list_names_the_providing_package_of_every_kind(site, monkeypatch, capsys):
    from freqbench.cli import main

    _install(site, "pkg-arch", "freqbench.architectures", "tiny = pkg_arch:build",
             "def build(num_classes, in_channels, image_size):\n    '''a tiny net'''\n")  # fmt: skip
    _install(site, "pkg-recipe", "freqbench.recipes", "slow = pkg_recipe:R",
             "from freqbench.recipes.natural import Natural\n"
             "class R(Natural):\n    name = 'slow'\n    summary = 'natural, slowly'\n")  # fmt: skip
    _install(site, "pkg-metric", "freqbench.metrics", "odd = pkg_metric:SPEC",
             "from freqbench.metrics import MetricSpec\n"
             "SPEC = MetricSpec(name='odd', description='an odd metric', version='1',"
             " compute='pkg_metric:compute', images=None)\n")  # fmt: skip
    monkeypatch.setattr(architectures, "ARCHITECTURES", architectures.ARCHITECTURES.fresh())
    monkeypatch.setattr(recipe_registry, "RECIPES", recipe_registry.RECIPES.fresh())
    monkeypatch.setattr(metric_registry, "METRICS", metric_registry.METRICS.fresh())
    for kind, line in [
        ("architectures", "tiny  a tiny net (plugin pkg-arch 0.1)"),
        ("recipes", "slow+bass  natural, slowly, with BaSS (Lin et al. 2023) (plugin pkg-recipe 0.1)"),
        ("metrics", "odd  an odd metric (version 1, plugin pkg-metric 0.1)"),
    ]:  # fmt: skip
        assert main(["list", kind, line.split()[0]]) == 0
        assert capsys.readouterr().out.strip() == line


def test_every_built_in_block_schema_is_a_json_schema():
    """The registry checks a plugin's block schema when it loads; freqbench's own are checked
    here, so that naming a metric needs no jsonschema."""
    from jsonschema import Draft202012Validator

    from freqbench.metrics import all_metrics

    for spec in all_metrics():
        Draft202012Validator.check_schema(spec.block_schema())
