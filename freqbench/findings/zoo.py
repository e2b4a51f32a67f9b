"""The zoo's frequency view: do frequency and filter measures track robustness across models?

One page per dataset and threat model, from the records ``freqbench zoo run`` wrote: every
measured entry's frequency and filter numbers (the columns the metrics declare for
correlation) beside its published clean and robust accuracy; the Spearman rank correlation of
each measure with the published robust accuracy, with a bootstrap 95% interval (models
resampled with replacement, percentile interval) and n; scatter plots; and a generated
summary that judges the three papers' claims on the zoo where the measure exists. The robust
accuracy is RobustBench's published figure (AutoAttack's, or the corruption accuracy on the
corruption boards), not re-run.
"""

from __future__ import annotations

import html
import io
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tabulate import tabulate

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.leaderboard.correlation import MIN_MODELS
from freqbench.leaderboard.extract import BoundColumn, columns
from freqbench.leaderboard.published_table import PREFIX
from freqbench.metrics import MetricSpec, builtin_metrics
from freqbench.published import PublishedEntry, published_entries
from freqbench.records import Record

RESAMPLES = 2000
SEED = 0
PAGE, HTML_PAGE, CSV = "ZOO.md", "zoo.html", "zoo.csv"
#: Architecture families, matched in this order against RobustBench's architecture field.
FAMILIES = (
    "WideResNet", "PreActResNet", "ResNeXt", "ResNet", "ConvNeXt", "Swin", "XCiT", "DeiT",
    "ViT", "RaWideResNet", "DenseNet", "VGG",
)  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """A paper's claim, as the sign of a measure's rank correlation with robust accuracy."""

    measure: str  # a correlated column's key (declared by its metric)
    sign: int  # +1: rises with robustness, -1: falls
    source: str
    statement: str


CLAIMS = (
    Claim("hfc", -1, "Wang et al., CVPR 2020",
          "robust models rely less on high-frequency components (accuracy on high-pass images)"),
    Claim("kernel_high_frequency_energy", -1, "Wang et al., CVPR 2020",
          "robust models have smoother first-layer kernels"),
    Claim("tail_share", -1, "Lin et al., NeurIPS 2023",
          "robust models put less of their input-gradient power in the spectrum's tail"),
    Claim("sparsity", -1, "Gavrikov and Keuper, CVPR 2022",
          "robust models' first-layer filters are less sparse"),
    Claim("variance_entropy", 1, "Gavrikov and Keuper, CVPR 2022",
          "robust models' first-layer filters are more diverse (variance entropy)"),
    Claim("orthogonality", 1, "Gavrikov and Keuper, CVPR 2022",
          "robust models' first-layer filters are more orthogonal"),
    Claim("centre_fraction", 1, "Gavrikov and Keuper, CVPR 2022",
          "robust models' first layers act more like 1x1 convolutions (centre fraction)"),
)  # fmt: skip


@dataclass(frozen=True)
class Correlation:
    measure: str
    title: str
    rho: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class ZooView:
    dataset: str
    threat_model: str
    target: str  # the published robust accuracy's field
    models: pd.DataFrame  # one row per measured entry
    correlations: list[Correlation]
    families: list[str]
    extra_data: list[bool]
    measures: list[BoundColumn]


def architecture_family(architecture: str) -> str:
    for family in FAMILIES:
        if family.lower() in architecture.lower().replace(" ", ""):
            return family
    return "other"


def bootstrap_spearman(
    x: Sequence[float | None],
    y: Sequence[float | None],
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[float, float, float, int]:
    """(rho, low, high, n): Spearman's rho over the complete pairs and its percentile 95%
    interval over ``resamples`` resamples of those pairs (``numpy.random.default_rng(seed)
    .integers(0, n, (resamples, n))``); resamples where a side is constant are left out. NaN
    throughout below 3 pairs."""
    a = np.array([np.nan if v is None else v for v in x], dtype=float)
    b = np.array([np.nan if v is None else v for v in y], dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    n = len(a)
    if n < MIN_MODELS:
        return math.nan, math.nan, math.nan, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = float(stats.spearmanr(a, b).statistic)
    picks = np.random.default_rng(seed).integers(0, n, (resamples, n))
    draws = _rank_pearson(stats.rankdata(a[picks], axis=1), stats.rankdata(b[picks], axis=1))
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return rho, math.nan, math.nan, n
    low, high = np.percentile(draws, [2.5, 97.5])
    return rho, float(low), float(high), n


def _rank_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of rank arrays (Spearman's rho, ties averaged); NaN for a
    constant row."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    scale = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (x * y).sum(axis=1) / np.where(scale > 0, scale, 1), np.nan)


def zoo_view(
    records: Sequence[Record],
    dataset: str,
    threat_model: str,
    specs: Sequence[MetricSpec] | None = None,
) -> ZooView:
    """The view of the records of ``dataset``/``threat_model``'s published entries."""
    entries = {e.name: e for e in published_entries(dataset, threat_model)}
    board = f"{PREFIX}{dataset}/{threat_model}/"
    measured: list[tuple[PublishedEntry, Record]] = []
    for record in records:
        source = record.get("model", "source") or ""
        name = source.removeprefix(board)
        if source.startswith(board) and name in entries:
            measured.append((entries[name], record))
    if not measured:
        raise UserError(
            f"no record of a published {dataset} {threat_model} entry: run `freqbench zoo run "
            f"--dataset {dataset} --threat-model {threat_model}` first"
        )
    measured.sort(key=lambda pair: pair[0].name)
    specs = tuple(specs) if specs is not None else tuple(builtin_metrics())
    measures = [
        bound
        for bound in columns(specs)
        if bound.column.correlate and any(bound.value(r) is not None for _, r in measured)
    ]
    target = measured[0][0].robust_field
    rows = []
    for entry, record in measured:
        row = {
            "model": entry.name,
            "architecture": entry.architecture,
            "extra_data": entry.additional_data,
            "published_clean": entry.clean_acc,
            "published_robust": entry.robust_acc,
        }
        row.update({bound.key: bound.shown(record) for bound in measures})
        rows.append(row)
    models = pd.DataFrame(rows)
    robust = models["published_robust"].tolist()
    correlations = []
    for bound in measures:
        rho, low, high, n = bootstrap_spearman(models[bound.key].tolist(), robust)
        correlations.append(Correlation(bound.key, bound.title, rho, low, high, n))
    return ZooView(
        dataset,
        threat_model,
        target,
        models,
        correlations,
        [architecture_family(e.architecture) for e, _ in measured],
        [e.additional_data for e, _ in measured],
        measures,
    )


def verdict(correlation: Correlation | None, sign: int) -> str:
    """supported / contradicted when the interval excludes 0, else not settled."""
    if correlation is None:
        return "not measured"
    if correlation.n < MIN_MODELS:
        return f"too few models (n = {correlation.n}, at least {MIN_MODELS})"
    if math.isnan(correlation.low):
        return "not settled (the measure does not vary)"
    if correlation.low > 0 or correlation.high < 0:
        agrees = (correlation.rho > 0) == (sign > 0)
        return "supported" if agrees else "contradicted"
    return "not settled (the interval holds 0)"


def _number(value: float) -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:+.3f}"
    )


def summary_lines(view: ZooView) -> list[str]:
    """The generated summary: how many models, then each claim's verdict on the zoo."""
    by_key = {c.measure: c for c in view.correlations}
    n = len(view.models)
    lines = [
        f"{n} published {view.dataset} {view.threat_model} entr{'y' if n == 1 else 'ies'} "
        f"measured; each correlation below rests on the models that have both numbers (n). "
        f"Robust accuracy is RobustBench's published {view.target}.",
        "",
    ]
    for claim in CLAIMS:
        c = by_key.get(claim.measure)
        judged = verdict(c, claim.sign)
        if c is None:
            numbers = "its measure was not computed for this zoo"
        else:
            numbers = (
                f"{c.title}: ρ = {_number(c.rho)} [{_number(c.low)}, {_number(c.high)}], n = {c.n}"
            )
        lines.append(f"- {claim.source}: {claim.statement}: **{judged}** ({numbers}).")
    return lines


def page_markdown(view: ZooView, figures: Sequence[str] = ()) -> str:
    """The page: summary, correlations, the models' numbers and the scatter plots."""
    table = [
        [c.title, _number(c.rho), f"[{_number(c.low)}, {_number(c.high)}]", c.n]
        for c in view.correlations
    ]
    parts = [
        f"# The {view.dataset} {view.threat_model} zoo through freqbench's eyes",
        "",
        *summary_lines(view),
        "",
        "## Rank correlations with published robust accuracy",
        "",
        tabulate(table, ["Measure", "ρ", "95% interval (bootstrap)", "n"], tablefmt="github"),
        "",
        f"Spearman's ρ over the models with both numbers; the interval is the 2.5th and 97.5th "
        f"percentile of ρ over {RESAMPLES} bootstrap resamples of those models (seed {SEED}).",
        "",
        "## Models",
        "",
        _models_markdown(view),
        "",
    ]
    if figures:
        parts += ["## Scatter plots", "", *[f"![{f}]({f})" for f in figures], ""]
    return "\n".join(parts)


def _models_markdown(view: ZooView) -> str:
    frame = view.models.copy()
    frame["extra_data"] = frame["extra_data"].map({True: "yes", False: "no"})
    titles = {
        "model": "Model",
        "architecture": "Architecture",
        "extra_data": "Extra data",
        "published_clean": "Clean (published)",
        "published_robust": "Robust (published)",
        **{bound.key: bound.title for bound in view.measures},
    }
    return tabulate(
        frame.rename(columns=titles), headers="keys", tablefmt="github", showindex=False,
        floatfmt=".3f", missingval="–",
    )  # fmt: skip


def page_html(view: ZooView, figures: Sequence[str] = ()) -> str:
    """The same page as plain, self-contained HTML."""
    buffer = io.StringIO()
    view.models.to_html(buffer, index=False, na_rep="–", float_format=lambda v: f"{v:.3f}")
    rows = "".join(
        f"<tr><td>{html.escape(c.title)}</td><td>{_number(c.rho)}</td>"
        f"<td>[{_number(c.low)}, {_number(c.high)}]</td><td>{c.n}</td></tr>"
        for c in view.correlations
    )
    summary = "".join(
        f"<p>{html.escape(line.removeprefix('- ')).replace('**', '')}</p>"
        for line in summary_lines(view)
        if line
    )
    images = "".join(f'<img src="{html.escape(f)}" alt="{html.escape(f)}">' for f in figures)
    title = html.escape(f"The {view.dataset} {view.threat_model} zoo through freqbench's eyes")
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{summary}<h2>Rank correlations with published robust "
        f"accuracy</h2><table><tr><th>Measure</th><th>ρ</th><th>95% interval</th><th>n</th>"
        f"</tr>{rows}</table><h2>Models</h2>{buffer.getvalue()}<h2>Scatter plots</h2>{images}"
        "</body></html>\n"
    )


def write_zoo_page(folder: Path, view: ZooView) -> list[Path]:
    """ZOO.md, zoo.html, zoo.csv and one scatter plot per claim's measure, in ``folder``."""
    from freqbench.plots.zoo import plot_zoo_scatter

    figures = []
    robust = view.models["published_robust"].tolist()
    for claim in CLAIMS:
        if claim.measure not in view.models:
            continue
        title = next(b.title for b in view.measures if b.key == claim.measure)
        name = f"zoo-{re.sub(r'[^a-z0-9]+', '-', claim.measure)}.png"
        plot_zoo_scatter(
            view.models[claim.measure].tolist(), robust, view.families, view.extra_data,
            x_label=title, y_label=f"{view.target} (published, %)",
            title=f"{view.dataset} {view.threat_model}: {claim.source}", path=folder / name,
        )  # fmt: skip
        figures.append(name)
    written = [
        atomic.write_text(folder / PAGE, page_markdown(view, figures)),
        atomic.write_text(folder / HTML_PAGE, page_html(view, figures)),
        atomic.write_text(folder / CSV, view.models.to_csv(index=False)),
    ]
    return written + [folder / f for f in figures]
