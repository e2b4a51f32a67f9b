"""The short table of headline figures printed after an evaluation."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def headline_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    m, p = record["metrics"], record["protocol"]
    rows = []
    if "clean" in m:
        rows.append(("clean accuracy", f"{_pct(m['clean']['accuracy'])}  (n={m['clean']['n']})"))
    if "autoattack" in m:
        a = m["autoattack"]
        flag = "  UNRELIABLE" if a["unreliable"] else ""
        rows.append((
            f"AutoAttack {a['norm']} eps={a['eps']:g}",
            f"{_pct(a['robust_accuracy'])}  (n={a['n']}){flag}",
        ))  # fmt: skip
        broken = ", ".join(f"{k} {v}" for k, v in a["broken_by"].items())
        rows.append(("  points broken by", broken))
    if "corruptions" in m:
        c = m["corruptions"]
        families = ", ".join(f"{k} {_pct(v)}" for k, v in c["per_family"].items())
        rows.append((f"corruptions ({c['source']})", f"{_pct(c['mean'])}  [{families}]"))
    if "frequency" in m:
        f = m["frequency"]
        r = str(f["headline_radius"])
        rows.append(
            (
                f"low-pass / high-pass r={r}",
                f"{_pct(f['low_pass_accuracy'][r])} / {_pct(f['high_pass_accuracy'][r])}",
            )
        )
        lt = f["long_tail"]
        rows.append(
            (
                "head / tail (mean R80)",
                f"{_pct(lt['head_accuracy'])} / {_pct(lt['tail_accuracy'])}  ({lt['mean_r80']:.2f})",
            )
        )
        rows.append(("gradient power in tail", f"{_pct(f['gradient']['tail_share'])}"))
        bands = f["heatmap"]["bands"]
        rows.append(
            (
                "heat map error low/mid/high",
                " / ".join(_pct(bands[b]) for b in ("low", "middle", "high")),
            )
        )
    if "filters" in m:
        first = m["filters"]["first_layer"]
        rows.append((
            "first layer sparsity / ent / orth / centre",
            " / ".join(f"{first[k]:.3f}" for k in ("sparsity", "variance_entropy", "orthogonality", "centre_fraction")),
        ))  # fmt: skip
    rows.append(
        (
            "protocol",
            f"{p['norm']} eps={p['eps']:g}, seed {p['seed']}, {'standard' if p.get('standard') else 'non-standard'}",
        )
    )
    return rows


def headline_table(record: dict[str, Any]) -> str:
    title = f"{record['name']} on {record['dataset']}"
    return title + "\n" + tabulate(headline_rows(record), tablefmt="simple")
