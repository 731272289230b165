"""The report's calibration section: the numbers of `nas.calibrate.build_report` (computed there, not here)
as HTML tables: per-level counts, noise floors, cross-seed and cross-level rank correlations, the cascade."""

from __future__ import annotations

from html import escape
from typing import Any

from nas.html_table import number, table


def calibration_html(rep: dict[str, Any]) -> str:
    out = []
    if rep.get("per_level"):
        out.append("<h3>levels</h3>")
        out.append(table(["level", "layouts", "seeds", "compute s", "devices"],
                         [[lv, i["layouts"], ",".join(map(str, i["seeds"])), i["compute_s"], ", ".join(i["devices"])]
                          for lv, i in rep["per_level"].items()]))
    if rep.get("noise"):
        out.append("<h3>noise floors</h3><p>noise floor: mean over layouts of the across-seed std; spread: std "
                   "across layouts of the seed means; spread/noise &gt; 1 says layouts differ by more than seed "
                   "noise.</p>")
        out.append(table(["level", "metric", "noise floor", "spread", "spread/noise", "layouts with seeds"],
                         [[r["level"], r["metric"], r["noise_floor"], r["spread"], r["spread_over_noise"],
                           r["layouts_with_seeds"]] for r in rep["noise"]]))
    if rep.get("cross_seed"):
        out.append("<h3>cross-seed rank correlation</h3><p>two seeds' results ranked over the layouts, mean over "
                   "seed pairs.</p>")
        out.append(table(["level", "metric", "n", "seed pairs", "spearman", "kendall"],
                         [[r["level"], r["metric"], r["n"], r["seed_pairs"], r["spearman"], r["kendall"]]
                          for r in rep["cross_seed"]]))
    if rep.get("cross_level"):
        out.append("<h3>cross-level rank correlation</h3><p>seed means over the layouts both levels have.</p>")
        out.append(table(["levels", "metric", "n", "spearman", "kendall"],
                         [[f"{r['level_a']} vs {r['level_b']}", r["metric"], r["n"], r["spearman"], r["kendall"]]
                          for r in rep["cross_level"]]))
    if rep.get("cascade"):
        out.append(_cascade(rep["cascade"]))
    for n in rep.get("notes", []):
        out.append(f'<p class="note">note: {escape(n)}</p>')
    return "\n".join(out) or '<p class="note">nothing to calibrate yet</p>'


def _cascade(c: dict[str, Any]) -> str:
    rows = [[s["level"], s["evaluated"], s["promoted"], s["cost_s"],
             ", ".join(f"{m} ±{number(t)}" for m, t in s["tolerance"].items())] for s in c["stages"]]
    frac = c.get("saved_frac")
    saved = f"{number(c['saved_s'])} s" + (f" ({100 * frac:.0f}%)" if frac is not None else "")
    if c.get("front_changed") is None:
        verdict = "final front vs the full top-level front: not available (not every layout has top-level results)"
    elif c["front_changed"]:
        verdict = f"final front CHANGED: missed {', '.join(c.get('missed_from_full_front') or []) or '-'}"
    else:
        verdict = f"final front unchanged: the same {len(c['final_front'])} layouts as the full top-level front"
    est = " (partly estimated)" if c.get("full_cost_estimated") else ""
    return (f"<h3>cascade savings (replayed, rule {escape(str(c['rule']))})</h3>"
            + table(["level", "evaluated", "promoted / front", "compute s", "noise floor"], rows)
            + f"<p>compute: {number(c['cost_s'])} s against {number(c['full_cost_s'])} s for every layout at every "
              f"level{est}; saved {escape(saved)}. {escape(verdict)}.</p>")
