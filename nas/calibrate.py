"""How far to trust a proxy: rank correlations between fidelity levels, between seeds and against a
reference, and the noise floor of each metric. Pure Python, no database, no torch.

* `spearman` is Pearson's correlation of average ranks (ties share the mean of their ranks).
* `kendall` is Kendall's tau-b: (concordant - discordant) / sqrt((n0 - t_x)(n0 - t_y)), with n0 = n(n-1)/2
  pairs and t_x, t_y the pairs tied in x, in y; a pair tied in either is neither concordant nor discordant.
  Both return None when undefined (fewer than 2 points, or a constant side).
* The noise floor of a metric at a level is the mean, over layouts with at least two seeds, of the
  across-seed sample standard deviation (ddof=1); the spread is the standard deviation across layouts of
  their seed means. spread / noise floor > 1 says layouts differ by more than seed noise.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Sequence

from nas.errors import UsageError

# -- rank correlation ------------------------------------------------------------------------------------


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n != len(y):
        raise ValueError(f"pearson: {n} and {len(y)} values")
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} and {len(y)} values")
    return pearson(average_ranks(x), average_ranks(y))


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (handles ties in either variable)."""
    n = len(x)
    if n != len(y):
        raise ValueError(f"kendall: {n} and {len(y)} values")
    if n < 2:
        return None
    concordant = discordant = tied_x = tied_y = 0
    for i, j in combinations(range(n), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0:
            tied_x += 1
        if dy == 0:
            tied_y += 1
        if dx != 0 and dy != 0:
            if (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - tied_x) * (n0 - tied_y))
    if denom == 0:
        return None
    return max(-1.0, min(1.0, (concordant - discordant) / denom))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def sample_std(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


# -- results as a table -------------------------------------------------------------------------------------


def cost_of(e: Any) -> float:
    """Compute seconds of an evaluation (a cache copy carries the original's time in its metrics)."""
    v = e.metrics.get("wall_time_s") if isinstance(e.metrics, dict) else None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return float(v)
    return float(e.wall_time_s or 0.0)


@dataclass
class Results:
    """Complete evaluations indexed as values[level][layout][seed][metric], plus their costs and devices."""

    values: dict[str, dict[str, dict[int, dict[str, float]]]] = field(default_factory=dict)
    costs: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    devices: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_evaluations(cls, evaluations: Iterable[Any], metrics: Sequence[str]) -> "Results":
        r = cls()
        for e in evaluations:
            if e.status != "complete":
                continue
            seeds = r.values.setdefault(e.fidelity, {}).setdefault(e.layout, {})
            if e.seed in seeds:  # the first complete run of (level, layout, seed) counts
                continue
            seeds[e.seed] = {m: v for m in metrics if (v := e.value(m)) is not None}
            r.costs.setdefault(e.fidelity, {}).setdefault(e.layout, {})[e.seed] = cost_of(e)
            r.devices.setdefault(e.fidelity, set()).add(e.device or "?")
        return r

    @property
    def levels(self) -> list[str]:
        """Levels in the order they were first evaluated (a grid and a cascade go low to high)."""
        return list(self.values)

    def layouts(self, level: str) -> list[str]:
        return list(self.values.get(level, {}))

    def seeds(self, level: str) -> list[int]:
        return sorted({s for lay in self.values.get(level, {}).values() for s in lay})

    def runs(self, level: str, layout: str, metric: str) -> list[float]:
        return [m[metric] for _, m in sorted(self.values[level][layout].items()) if metric in m]

    def means(self, level: str, metric: str) -> dict[str, float]:
        """Seed mean of `metric` per layout at `level` (layouts missing it are left out)."""
        out = {}
        for layout in self.values.get(level, {}):
            runs = self.runs(level, layout, metric)
            if runs:
                out[layout] = mean(runs)
        return out

    def stds(self, level: str, metric: str) -> dict[str, float]:
        out = {}
        for layout in self.values.get(level, {}):
            s = sample_std(self.runs(level, layout, metric))
            if s is not None:
                out[layout] = s
        return out

    def noise_floor(self, level: str, metric: str) -> tuple[float | None, int]:
        """(mean across layouts of the across-seed std, number of layouts with >= 2 seeds)."""
        stds = self.stds(level, metric)
        return (mean(list(stds.values())) if stds else None), len(stds)

    def spread(self, level: str, metric: str) -> float | None:
        return sample_std(list(self.means(level, metric).values()))

    def cost(self, level: str) -> float:
        return sum(s for lay in self.costs.get(level, {}).values() for s in lay.values())

    def metrics_present(self) -> list[str]:
        seen: dict[str, None] = {}
        for level in self.values.values():
            for lay in level.values():
                for m in lay.values():
                    for k in m:
                        seen.setdefault(k)
        return list(seen)


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


# -- the reference CSV ----------------------------------------------------------------------------------------


def read_reference(path: str | Path, known_metrics: Sequence[str]) -> tuple[dict[str, dict[str, float]], list[str],
                                                                             list[str]]:
    """Read `layout,metric,...` -> ({canonical layout: {metric: value}}, compared columns, ignored columns).

    Layouts are parsed and canonicalised; empty cells are missing values. UsageError on a bad file.
    """
    from search_space.errors import LayoutError
    from search_space.layout import Layout

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read reference CSV {str(p)!r}: {e.strerror if isinstance(e, OSError) else e}") \
            from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as e:
        raise UsageError(f"reference CSV {str(p)!r} is not valid CSV: {e}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise UsageError(f"reference CSV {str(p)!r} is empty; expected a header 'layout,<metric>,...'")
    header = [h.strip() for h in rows[0]]
    if "layout" not in header:
        raise UsageError(f"reference CSV {str(p)!r} has no 'layout' column (header: {','.join(header)})")
    if len(set(header)) != len(header):
        raise UsageError(f"reference CSV {str(p)!r} repeats a column name (header: {','.join(header)})")
    li = header.index("layout")
    others = [h for h in header if h != "layout"]
    columns = [h for h in others if h in known_metrics]
    ignored = [h for h in others if h not in known_metrics]
    if not columns:
        raise UsageError(f"reference CSV {str(p)!r} has no column named after a metric of this study; "
                         f"valid: {', '.join(known_metrics)}")
    out: dict[str, dict[str, float]] = {}
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise UsageError(f"reference CSV {str(p)!r} line {lineno}: {len(r)} cells, the header has {len(header)} "
                             "(quote a layout that holds commas, or write its mixers with spaces: 'gdn attn')")
        try:
            layout = Layout.parse(r[li]).canonical()
        except LayoutError as e:
            raise UsageError(f"reference CSV {str(p)!r} line {lineno}: {e}") from None
        if layout in out:
            raise UsageError(f"reference CSV {str(p)!r} line {lineno}: layout {layout!r} appears twice")
        vals: dict[str, float] = {}
        for h, cell in zip(header, r):
            if h not in columns or not cell.strip():
                continue
            try:
                v = float(cell)
            except ValueError:
                raise UsageError(f"reference CSV {str(p)!r} line {lineno}: {h}={cell.strip()!r} is not a number") \
                    from None
            if math.isnan(v):
                continue
            vals[h] = v
        out[layout] = vals
    if not out:
        raise UsageError(f"reference CSV {str(p)!r} has a header but no rows")
    return out, columns, ignored


def _natural(name: str) -> list[Any]:
    """Sort key with numbers compared as numbers: recall_mqar_32x4 before recall_mqar_128x16."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def default_metrics(objectives: Sequence[str], present: Sequence[str]) -> list[str]:
    """The study's objectives, then bits per byte and the per-task recall scores, when stored."""
    out = [m for m in objectives]
    for m in sorted(present, key=_natural):
        if (m.startswith("recall_") or m == "bits_per_byte") and m not in out:
            out.append(m)
    return out


# -- the whole report ------------------------------------------------------------------------------------------


def build_report(study: str, evaluations: Sequence[Any], objectives: Sequence[dict[str, str]], *,
                 metrics: Sequence[str] | None = None, levels: Sequence[str] | None = None,
                 reference: tuple[dict[str, dict[str, float]], list[str], list[str]] | None = None,
                 rule: Any = None, layouts: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything `hybrid-nas calibrate` prints, as a dict (see `render_report`)."""
    from nas.cascade import PromotionRule, simulate

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


def _f(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [list(header)] + [[_f(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def render_report(report: dict[str, Any]) -> str:
    from nas.cascade import CascadeReport, Stage, render as render_cascade

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
    if report["cascade"] is not None:
        c = report["cascade"]
        stages = [Stage(s["level"], [""] * s["evaluated"], s["promoted_layouts"], s["tolerance"], s["cost_s"],
                        s["missing"]) for s in c["stages"]]
        cr = CascadeReport(c["levels"], c["rule"], stages, c["cost_s"], c["full_cost_s"], c["full_cost_estimated"],
                           c["final_front"], c["full_front"], c["layouts"])
        out.append("")
        out.append("simulated " + render_cascade(cr))
    for n in report["notes"]:
        out.append(f"note: {n}")
    return "\n".join(out)
