"""Which metrics a dataset's leaderboard shows: ``leaderboard.toml`` beside its records.

A page is a function of its records and this committed list, never of what happens to be
installed: a plugin's columns, flags and views appear only where the list names the plugin's
metric, so installing a plugin leaves every other page (and ``leaderboard --check``) as it
was. Without the file a board shows the built-in metrics. The file::

    # the metrics whose columns this leaderboard shows, in the order of the registry
    metrics = ["clean", "autoattack", "corruptions", "frequency", "filters", "tail_noise"]
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from freqbench.errors import UnknownNameError, UserError
from freqbench.metrics import MetricSpec, all_metrics, builtin_metrics, get_metric
from freqbench.metrics.registry import expand
from freqbench.paths import LEADERBOARD_FILE

CONFIG_FILE = LEADERBOARD_FILE


def board_metrics(folder: Path) -> list[MetricSpec]:
    """The metrics the board of ``folder`` shows: its ``leaderboard.toml`` list, or the
    built-in metrics when there is none. A listed metric that is not installed, or a file
    that is not such a list, is a UserError that names the file."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return builtin_metrics()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise UserError(f"{path}: not a readable TOML file: {exc}") from None
    names = data.get("metrics")
    extra = sorted(set(data) - {"metrics"})
    if (
        extra
        or not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) for n in names)
    ):
        unknown = f" (unknown keys: {', '.join(extra)})" if extra else ""
        raise UserError(
            f"{path}: must hold one key, metrics = ['clean', ...], a non-empty list of "
            f"metric names{unknown}"
        )
    chosen = set()
    for name in expand(names):
        try:
            chosen.add(get_metric(name).name)
        except UnknownNameError as exc:
            raise UserError(
                f"{path} lists {exc}; a page shows only metrics installed here: install the "
                "metric's plugin, or take it off the list"
            ) from None
    return [spec for spec in all_metrics() if spec.name in chosen]
