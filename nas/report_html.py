"""The study report as one self-contained HTML page: inline CSS, PNG figures as data URIs, layout strips as
inline SVG, one small inline script (sorting); nothing is fetched when the page is viewed.

Sections, each with an id and its own accent colour (a bar on its left, which the screenshot test looks for):
settings, fronts (per level, with each front layout's strip), ratio (recall against the linear:full ratio,
grid studies only), calibration, evaluations (every evaluation, sortable).
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from html import escape
from typing import Any

from nas.html_table import key_values, table
from nas.layout_strip import legend_html, strip_svg
from nas.report_calibration_html import calibration_html
from nas.report_js import SORT_JS

SECTIONS = {  # id: (title, accent colour)
    "settings": ("Study settings", "#5b2c83"),
    "fronts": ("Pareto fronts per fidelity level", "#0b6e4f"),
    "ratio": ("Recall against the linear:full ratio, per mixer", "#c2185b"),
    "calibration": ("Calibration: can the proxies be trusted?", "#8d6e00"),
    "evaluations": ("Every evaluation", "#00506b"),
}
EVAL_COLUMNS = ["id", "trial", "level", "seed", "layout", "strip", "status", "recall", "perplexity",
                "bits_per_byte", "flops", "params", "state_bytes", "wall_time_s", "device", "cached_from", "error"]

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1140px; color: #222; background: #fff; }
h1 { font-size: 22px; } h3 { margin: 18px 0 6px; font-size: 15px; }
section { border-left: 14px solid var(--accent); padding: 4px 0 12px 16px; margin: 22px 0; }
section > h2 { font-size: 18px; margin: 4px 0 10px; color: var(--accent); }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
#evaluations-table { font-size: 11px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: middle; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; background: #f3f3f3; user-select: none; }
th[data-dir="asc"]::after { content: " \\25B2"; } th[data-dir="desc"]::after { content: " \\25BC"; }
table.kv th { background: #f7f7f7; width: 180px; } table.kv td { font-family: monospace; word-break: break-all; }
img.figure { max-width: 100%; display: block; margin: 6px 0; }
.scroll { max-height: 640px; overflow: auto; }
.legend { margin: 6px 0; } .swatch { margin-right: 14px; font-size: 13px; white-space: nowrap; }
tr.diff th, tr.diff td { font-weight: bold; background: #fff6d8; }
.note { color: #666; font-style: italic; } svg.strip { display: block; }
"""


def figure_img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="figure" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def render_page(data: Any) -> str:
    """`data` is `nas.report_data.ReportData`."""
    name = data.record.name
    body = {
        "settings": _settings(data),
        "fronts": _fronts(data),
        "ratio": _ratio(data),
        "calibration": calibration_html(data.calibration),
        "evaluations": _evaluations(data),
    }
    sections = "\n".join(
        f'<section id="{sid}" style="--accent: {accent}"><h2>{escape(title)}</h2>\n{body[sid]}\n</section>'
        for sid, (title, accent) in SECTIONS.items()
    )
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    notes = "".join(f'<p class="note">note: {escape(n)}</p>' for n in data.notes)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>hybrid-nas report: '
            f"{escape(name)}</title><style>{CSS}</style></head>\n<body>\n<h1>hybrid-nas study "
            f"<code>{escape(name)}</code></h1><p>{len(data.evaluations)} evaluations; report written {when}.</p>"
            f"{notes}\n{sections}\n<script>{SORT_JS}</script>\n</body></html>\n")


def _settings(data: Any) -> str:
    r = data.record
    counts: dict[str, int] = {}
    for e in data.evaluations:
        counts[e.status] = counts.get(e.status, 0) + 1
    out = [key_values({
        "study": r.name, "created (UTC)": f"{r.created_at:%Y-%m-%d %H:%M:%S}",
        "objectives": ", ".join(f"{o['metric']} ({o['direction']})" for o in r.objectives),
        "space": r.space, "proxy": r.proxy, "optuna study": r.optuna_study_name or "-",
        "evaluations": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none",
    })]
    if data.budgets:
        out.append("<h3>proxy budget per level</h3>")
        out.append(_budgets(data.budgets))
    return "\n".join(out)


def _budgets(budgets: dict[str, dict[str, Any]]) -> str:
    import json

    flat = {lv: (p["budget"] if isinstance(p.get("budget"), dict) else p) for lv, p in budgets.items()}
    keys = list(dict.fromkeys(k for b in flat.values() for k in b))
    head = "".join(f"<th>{escape(lv)}</th>" for lv in flat)
    rows: dict[bool, list[str]] = {True: [], False: []}
    for k in keys:
        shown = [v if isinstance(v, str) else json.dumps(v) for v in (b.get(k) for b in flat.values())]
        diff = len(set(shown)) > 1
        mark = ' class="diff"' if diff else ""
        rows[diff].append(f"<tr{mark}><th>{escape(k)}</th>"
                          + "".join(f"<td>{escape(v)}</td>" for v in shown) + "</tr>")

    def kv(lines: list[str]) -> str:
        return (f'<table class="kv budgets"><thead><tr><th>knob</th>{head}</tr></thead>'
                f'<tbody>{"".join(lines)}</tbody></table>')

    if len(flat) == 1 or not rows[True]:
        return kv(rows[True] + rows[False])
    return (kv(rows[True]) + f"<details><summary>the other {len(rows[False])} knobs (the same at every level)"
            f"</summary>{kv(rows[False])}</details>")


def _fronts(data: Any) -> str:
    from nas.plots import front_figure, to_bytes

    if not data.fronts:
        return '<p class="note">no fronts: fewer than two objectives recorded</p>'
    layouts = [p.layout for pts in data.fronts.values() for p in pts]
    metrics = [a.metric for a in data.axes]
    out = [f"<p>objectives {', '.join(escape(a.label) for a in data.axes)}; points are seed means, error bars "
           "one across-seed std; faint points are dominated.</p>", legend_html(layouts)]
    for level, points in data.fronts.items():
        png = to_bytes(front_figure({level: points}, data.axes), "png")
        out.append(f"<h3>level {escape(level)}</h3>{figure_img(png, f'front at level {level}')}")
        front = sorted((p for p in points if p.on_front), key=lambda p: [-_signed(p, a) for a in data.axes])
        rows = [[p.layout, strip_svg(p.layout), *[p.values[m] for m in metrics],
                 *[p.stds.get(m) for m in metrics], p.seeds] for p in front]
        out.append(table(["layout", "layers", *metrics, *[f"{m} std" for m in metrics], "seeds"], rows, raw=(1,)))
    return "\n".join(out)


def _signed(p: Any, axis: Any) -> float:
    v = p.values[axis.metric]
    return v if axis.direction == "maximize" else -v


def _ratio(data: Any) -> str:
    from nas.plots import ratio_figure, to_bytes

    if not data.ratio:
        return ('<p class="note">not a ratio-by-mixer grid (that needs layouts of one linear mixer each, plus '
                "attention, at two ratios or more; see <code>hybrid-nas grid</code>)</p>")
    png = to_bytes(ratio_figure(data.ratio, "recall"), "png")
    return ("<p>x: the linear:full ratios in order of attention fraction (attention layers / all layers, under "
            "each ratio); one line per linear mixer; error bars one across-seed std.</p>"
            f"{figure_img(png, 'recall against the ratio')}")


def _evaluations(data: Any) -> str:
    rows = []
    for e in data.evaluations:
        rows.append([e.id, e.trial_number, e.fidelity, e.seed, e.layout, strip_svg(e.layout, max_width=96),
                     e.status, e.value("recall"), e.value("perplexity"), e.value("bits_per_byte"), e.value("flops"),
                     e.value("params"), e.value("state_bytes"), e.wall_time_s, e.device, e.cached_from,
                     (e.error or "")[:200] or None])
    if not rows:
        return '<p class="note">no evaluations yet</p>'
    return ('<p>click a column header to sort (again to reverse).</p><div class="scroll">'
            + table(EVAL_COLUMNS, rows, sortable=True, table_id="evaluations-table", raw=(5,)) + "</div>")

