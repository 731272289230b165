"""How far to trust a proxy: rank correlations between fidelity levels, between seeds and against a
reference, the noise floor of each metric (`nas.results`) and the cascade replayed (`nas.cascade`), as one
report and its text rendering. Pure Python, no database, no torch. Statistics: `nas.rankstats`.
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import Any, Sequence

from nas.recipes import RECIPE_METRICS, winning_recipes
from nas.cascade import CascadeReport, PromotionRule, render as render_cascade, simulate
from nas.errors import UsageError
from nas.numbers import stat
from nas.rankstats import kendall, mean, spearman
from nas.results import Results

# -- the calibration report ----------------------------------------------------------------------------------


def correlate(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
    common = sorted(set(a) & set(b))
    x, y = [a[k] for k in common], [b[k] for k in common]
    return {"n": len(common), "spearman": spearman(x, y), "kendall": kendall(x, y)}


def cross_level(res: Results, levels: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Each pair of levels (lower first), each metric: correlation of the layouts' seed means."""
    rows = []
    for a, b in combinations(levels, 2):
        for m in metrics:
            rows.append({"level_a": a, "level_b": b, "metric": m, **correlate(res.means(a, m), res.means(b, m))})
    return rows


def cross_seed(res: Results, levels: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Per level and metric: the mean over seed pairs of the correlation between two seeds' rankings."""
    rows = []
    for level in levels:
        seeds = res.seeds(level)
        pairs = list(combinations(seeds, 2))
        for m in metrics:
            per = []
            for s, t in pairs:
                a = {lay: v[s][m] for lay, v in res.values[level].items() if s in v and m in v[s]}
                b = {lay: v[t][m] for lay, v in res.values[level].items() if t in v and m in v[t]}
                per.append(correlate(a, b))
            rho = [p["spearman"] for p in per if p["spearman"] is not None]
            tau = [p["kendall"] for p in per if p["kendall"] is not None]
            rows.append({
                "level": level, "metric": m, "seed_pairs": len(pairs),
                "n": min((p["n"] for p in per), default=0),
                "spearman": mean(rho) if rho else None, "kendall": mean(tau) if tau else None,
            })
    return rows


def noise_table(res: Results, levels: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        for m in metrics:
            floor, n = res.noise_floor(level, m)
            spread = res.spread(level, m)
            snr = None if floor is None or spread is None or floor == 0 else spread / floor
            rows.append({"level": level, "metric": m, "noise_floor": floor, "layouts_with_seeds": n,
                         "spread": spread, "spread_over_noise": snr})
    return rows


def against_reference(res: Results, levels: Sequence[str], reference: dict[str, dict[str, float]],
                      columns: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        for m in columns:
            ref = {lay: v[m] for lay, v in reference.items() if m in v}
            rows.append({"level": level, "metric": m, **correlate(res.means(level, m), ref)})
    return rows


def _natural(name: str) -> list[Any]:
    """Sort key with numbers compared as numbers: recall_mqar_32x4 before recall_mqar_128x16."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def default_metrics(objectives: Sequence[str], present: Sequence[str]) -> list[str]:
    """The study's objectives, then bits per byte and the per-task recall scores, when stored."""
    out = [m for m in objectives]
    for m in sorted(present, key=_natural):
        if (m.startswith("recall_") or m == "bits_per_byte") and m not in out and m not in RECIPE_METRICS:
            out.append(m)
    return out


# -- the whole report ------------------------------------------------------------------------------------------


def build_report(study: str, evaluations: Sequence[Any], objectives: Sequence[dict[str, str]], *,
                 metrics: Sequence[str] | None = None, levels: Sequence[str] | None = None,
                 reference: tuple[dict[str, dict[str, float]], list[str], list[str]] | None = None,
                 rule: Any = None, layouts: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything `hybrid-nas calibrate` prints, as a dict (see `render_report`)."""
    evaluations = [e for e in evaluations if layouts is None or e.layout in layouts]
    objective_names = [o["metric"] for o in objectives]
    present = sorted({k for e in evaluations if e.status == "complete" for k, v in (e.metrics or {}).items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool)})
    chosen = list(metrics) if metrics else default_metrics(objective_names, present)
    unknown = [m for m in chosen if m not in present and m not in objective_names]
    if metrics and unknown:
        raise UsageError(f"unknown metric(s) {', '.join(unknown)}; stored: {', '.join(present)}")
    res = Results.from_evaluations(evaluations, list(dict.fromkeys([*chosen, *objective_names])))
    if levels:
        missing = [lv for lv in levels if lv not in res.values]
        if missing:
            raise UsageError(f"level(s) {', '.join(missing)} have no complete evaluation in study {study!r}; "
                             f"levels: {', '.join(res.levels) or 'none'}")
        order = list(levels)
    else:
        order = res.levels
    notes = []
    if not order:
        notes.append("no complete evaluations yet")
    per_level = {lv: {"layouts": len(res.layouts(lv)), "seeds": res.seeds(lv), "compute_s": res.cost(lv),
                      "devices": sorted(res.devices.get(lv, set()))} for lv in order}
    if order and all(len(res.seeds(lv)) < 2 for lv in order):
        notes.append("one seed per layout: no noise floor or cross-seed correlation (use --seeds 2 or more)")
    if len(order) < 2:
        notes.append("one fidelity level: no cross-level correlation or cascade (evaluate at --levels a,b)")
    report: dict[str, Any] = {
        "study": study, "levels": order, "metrics": chosen, "per_level": per_level,
        "noise": noise_table(res, order, chosen), "cross_level": cross_level(res, order, chosen),
        "cross_seed": [r for r in cross_seed(res, order, chosen) if r["seed_pairs"]],
        "reference": None, "reference_ignored": [], "cascade": None, "notes": notes,
        "recipes": winning_recipes(evaluations, order),
    }
    if reference is not None:
        ref, columns, ignored = reference
        report["reference"] = against_reference(res, order, ref, columns)
        report["reference_ignored"] = ignored
        report["reference_layouts"] = len(ref)
    if len(order) >= 2 and all(o in res.metrics_present() for o in objective_names):
        rule = rule or PromotionRule("noise", 1.0)
        report["cascade"] = simulate(res, order, objectives, rule).to_dict()
    return report


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [list(header)] + [[stat(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def render_report(report: dict[str, Any]) -> str:
    out = [f"calibration of study {report['study']!r}: levels {', '.join(report['levels']) or '-'} "
           f"(low to high); metrics {', '.join(report['metrics'])}"]
    for lv, info in report["per_level"].items():
        out.append(f"  {lv}: {info['layouts']} layouts, seeds {','.join(map(str, info['seeds']))}, "
                   f"{info['compute_s']:.1f} compute-s on {', '.join(info['devices'])}")
    if report["noise"]:
        out.append("")
        out.append("noise floor (mean over layouts of the across-seed std) and spread (std across layouts of the "
                   "seed means):")
        out += _table(["level", "metric", "noise floor", "spread", "spread/noise", "layouts"],
                      [[r["level"], r["metric"], r["noise_floor"], r["spread"], r["spread_over_noise"],
                        r["layouts_with_seeds"]] for r in report["noise"]])
    if report["cross_seed"]:
        out.append("")
        out.append("between seeds (rank correlation of two seeds' results over layouts, mean over seed pairs):")
        out += _table(["level", "metric", "n", "spearman", "kendall"],
                      [[r["level"], r["metric"], r["n"], r["spearman"], r["kendall"]] for r in report["cross_seed"]])
    if report["cross_level"]:
        out.append("")
        out.append("between levels (rank correlation of the seed means over the layouts both levels have):")
        out += _table(["levels", "metric", "n", "spearman", "kendall"],
                      [[f"{r['level_a']} vs {r['level_b']}", r["metric"], r["n"], r["spearman"], r["kendall"]]
                       for r in report["cross_level"]])
    if report["reference"] is not None:
        out.append("")
        out.append(f"against the reference ({report.get('reference_layouts', 0)} layouts; seed means of each level):")
        out += _table(["level", "metric", "n", "spearman", "kendall"],
                      [[r["level"], r["metric"], r["n"], r["spearman"], r["kendall"]] for r in report["reference"]])
        if report["reference_ignored"]:
            out.append(f"  ignored reference columns (not metrics of this study): "
                       f"{', '.join(report['reference_ignored'])}")
    if report.get("recipes"):
        out.append("")
        out.append("winning recipes (the sweep point each evaluation kept):")
        out += _table(["level", "task", "recipe", "evaluations"],
                      [[r["level"], r["task"], r["recipe"], r["evaluations"]] for r in report["recipes"]])
    if report["cascade"] is not None:
        out.append("")
        out.append("simulated " + render_cascade(CascadeReport.from_dict(report["cascade"])))
    for n in report["notes"]:
        out.append(f"note: {n}")
    return "\n".join(out)
