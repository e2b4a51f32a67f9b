"""Findings: do the claims of Wang et al., Lin et al. and Gavrikov and Keuper hold in the records?

``write_findings`` reads a dataset's records, assigns them roles from the grid file (which row
is the natural model, which are adversarially trained, which are BaSS twins), checks every
claim in :mod:`.claims` and writes ``leaderboards/<dataset>/FINDINGS.md``.
"""

from __future__ import annotations

from pathlib import Path

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.findings.claims import ADVERSARIAL_RECIPES, CLAIMS, Finding, Roles, check_claims
from freqbench.findings.report import render_findings
from freqbench.grid.spec import GridSpec, row_name
from freqbench.grid.status import GridPaths, finished_record
from freqbench.metrics import get_metric
from freqbench.paths import display_path
from freqbench.records import dataset_records_folder

FINDINGS = "FINDINGS.md"
#: The metrics the claims read: a row counts once these blocks are done (installed plugins
#: do not change which records the findings use).
CLAIM_METRICS = ("clean", "autoattack", "corruptions", "band_split", "gradient_spectrum", "filters")

__all__ = [
    "CLAIMS",
    "FINDINGS",
    "Finding",
    "Roles",
    "check_claims",
    "findings_text",
    "roles_from_grid",
    "write_findings",
]


def roles_from_grid(spec: GridSpec) -> Roles:
    names = {row.name for row in spec.rows}
    natural = row_name(spec.architecture, "natural")
    if natural not in names:
        raise UserError(f"{spec.path}: the findings need a natural row; add 'natural' to recipes")
    plain = {row.recipe: row.name for row in spec.rows if row.trained}
    return Roles(
        natural=natural,
        adversarial=tuple(plain[r] for r in ADVERSARIAL_RECIPES if r in plain),
        smoothed=tuple((row.name, row.smooth["rho"]) for row in spec.rows if row.smooth),
        bass_twins={r: (plain[r], plain[f"{r}+bass"]) for r in plain if f"{r}+bass" in plain},
    )


def _setup(spec: GridSpec, records: dict[str, dict], command: str) -> list[str]:
    config = next(row.config for row in spec.rows if row.config is not None)
    attacks: dict[tuple[int, float], list[str]] = {}  # (steps, step size): recipes, grid order
    for row in spec.rows:
        options = row.config.recipe_options if row.config is not None else {}
        recipe = row.recipe.removesuffix("+bass")
        key = (options.get("steps"), options.get("step_size"))
        if key[0] and recipe not in attacks.setdefault(key, []):
            attacks[key].append(recipe)
    attack_text = "; ".join(
        f"{', '.join(recipes)} with a {steps}-step attack of step {size:g}"
        for (steps, size), recipes in attacks.items()
    )
    done = [row.name for row in spec.rows if row.name in records]
    missing = [row.name for row in spec.rows if row.name not in records]
    hardware = spec.metadata.get("hardware")
    lines = [
        f"Models: {spec.architecture} on {spec.dataset}, one training seed ({config.seed}) per "
        f"recipe, from `{display_path(spec.path)}`: {config.epochs} epoch{'' if config.epochs == 1 else 's'} at batch "
        f"{config.batch_size}, SGD lr {config.lr:g} ({config.schedule}){'; ' + attack_text if attack_text else ''}. "
        f"One architecture and short training{f' on {hardware}' if hardware else ''}: the models are far from converged, "
        "so an effect the papers report after long training (on CIFAR and ImageNet) may not have "
        "formed yet; a verdict here is about these models, not about the papers.",
        f"Records: {len(done)} of the grid's {len(spec.rows)} rows are evaluated"
        + (f"; not yet: {', '.join(f'`{m}`' for m in missing)}." if missing else "."),
    ]
    if done:
        protocol = records[done[0]]["protocol"]
        lines.append(
            f"Evaluation: clean, corruption, frequency and filter metrics on {protocol['n_examples']} "
            f"test images; AutoAttack ({protocol['norm']}, eps {protocol['eps']:g}, standard version) "
            f"on the first {protocol['autoattack_n_examples']} and the Fourier heat map on the first "
            f"{protocol['heatmap_n_examples']}. Filter shift is measured against `{spec.reference}`."
        )  # fmt: skip
    lines.append(f"Regenerate with `{command}`.")
    return lines


def findings_text(spec: GridSpec, records_dir: Path) -> tuple[str, list[Finding]]:
    """FINDINGS.md of the grid's rows whose records count as their results (see grid.status)."""
    paths = GridPaths(Path(records_dir), folder=dataset_records_folder(records_dir, spec.dataset))
    needed = [get_metric(name) for name in CLAIM_METRICS]
    found = {row.name: finished_record(spec, paths, row, needed) for row in spec.rows}
    records = {name: record for name, record in found.items() if record is not None}
    findings = check_claims(records, roles_from_grid(spec))
    command = f"freqbench findings --dataset {spec.dataset}"
    text = render_findings(spec.dataset, findings, _setup(spec, records, command), command)
    return text, findings


def findings_path(records_dir: Path, dataset: str) -> Path:
    """Beside the dataset's records, in either layout (``dataset_records_folder``)."""
    return dataset_records_folder(records_dir, dataset) / FINDINGS


def write_findings(spec: GridSpec, records_dir: Path) -> Path:
    text, _ = findings_text(spec, records_dir)
    return atomic.write_text(findings_path(records_dir, spec.dataset), text)
