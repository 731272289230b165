"""Printing results: the Pareto front (or any evaluations) as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import typer

from nas.errors import UsageError
from nas.numbers import cell

FORMATS = ("table", "json", "csv")
COLUMNS = ("layout", "recall", "perplexity", "flops", "params", "state_bytes", "trial", "seed", "fidelity",
           "wall_time_s", "evaluation")


def row_of(e: Any) -> dict[str, Any]:
    row = {
        "layout": e.layout, "recall": e.value("recall"), "perplexity": e.value("perplexity"),
        "flops": e.value("flops"), "params": _int(e.value("params")), "state_bytes": _int(e.value("state_bytes")),
        "trial": e.trial_number, "seed": e.seed, "fidelity": e.fidelity, "wall_time_s": e.wall_time_s,
        "evaluation": e.id, "bits_per_byte": e.value("bits_per_byte"), "device": e.device,
        **{k: e.metrics[k] for k in ("recall_lr", "recall_token_shift", "lm_lr") if k in (e.metrics or {})},
    }
    if e.value("kl") is not None:  # a student of a teacher (search --teacher): its KL to the teacher
        row["kl"] = e.value("kl")
    return row


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()) if rows else list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "table":
        return _table(rows)
    raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


def _table(rows: list[dict[str, Any]]) -> str:
    cols = ["layout", "recall", "perplexity", "flops", "params", "state_bytes", "trial"]
    if any(r.get("kl") is not None for r in rows):
        cols.insert(1, "kl")
    # the winning recipe, where the rows differ in it (a study without a sweep has one recipe: no column)
    cols += [c for c in ("recall_lr", "recall_token_shift", "lm_lr")
             if len({r.get(c) for r in rows if r.get(c) is not None}) > 1]
    cells = [cols] + [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if not rows:
        lines.append("(no completed evaluations)")
    return "\n".join(lines)


def print_front(store: Any, study: str, fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    record = store.get_study(study)
    done = store.evaluations(study, status="complete")
    if _several_runs(done):  # several fidelity levels or seeds: one front per level, over seed means
        typer.echo(render_levels(aggregate_rows(done, record.objectives), fmt))
        return
    front = store.pareto(study)
    rows = sorted((row_of(e) for e in front), key=lambda r: (-(r["recall"] or 0), r["perplexity"] or 0))
    typer.echo(render(rows, fmt))


# -- several fidelity levels and seeds ---------------------------------------------------------------------
AGGREGATED = ("recall", "perplexity", "bits_per_byte", "flops", "params", "state_bytes")


def _several_runs(evaluations: list[Any]) -> bool:
    levels = {e.fidelity for e in evaluations}
    runs = {(e.fidelity, e.layout, e.seed) for e in evaluations}
    return len(levels) > 1 or len(runs) > len({(e.fidelity, e.layout) for e in evaluations})


def aggregate_rows(evaluations: list[Any], objectives: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One row per (level, layout): the seed mean of each metric, its across-seed std (`<metric>_std`), the
    seeds, and `front` (on the level's Pareto front of the seed means under the study's objectives)."""
    from nas.results import Results
    from nas.cascade import front, objective_points

    metrics = list(dict.fromkeys([*AGGREGATED, *(o["metric"] for o in objectives)]))
    res = Results.from_evaluations(evaluations, metrics)
    names = [o["metric"] for o in objectives]
    directions = [o["direction"] for o in objectives]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (level, layout) -> its complete runs' metrics
    for e in evaluations:
        if e.status == "complete":
            runs.setdefault((e.fidelity, e.layout), []).append(e.metrics or {})
    rows = []
    for level in res.levels:
        on_front = set(front(objective_points(res, level, names), directions))
        stds = {m: res.stds(level, m) for m in metrics}
        means = {m: res.means(level, m) for m in metrics}
        for layout in res.layouts(level):
            row: dict[str, Any] = {"layout": layout, "fidelity": level, "seeds": len(res.values[level][layout]),
                                   "front": layout in on_front}
            for m in metrics:
                row[m] = means[m].get(layout)
                row[f"{m}_std"] = stds[m].get(layout)
            for m in ("params", "state_bytes"):
                row[m] = _int(row[m])
            costs = res.costs[level][layout].values()
            row["wall_time_s"] = sum(costs) / len(costs)
            row["recipes"] = _recipes(runs.get((level, layout), []))
            rows.append(row)
    return rows


def _recipes(runs: list[dict[str, Any]]) -> str:
    """The winning recall and LM learning rates over a layout's runs, e.g. "recall 0.001/0.003, lm 0.002"."""
    parts = []
    for task, key in (("recall", "recall_lr"), ("lm", "lm_lr")):
        lrs = sorted({m[key] for m in runs if isinstance(m.get(key), (int, float))})
        if lrs:
            parts.append(f"{task} {'/'.join(f'{v:g}' for v in lrs)}")
    return ", ".join(parts)


def render_levels(rows: list[dict[str, Any]], fmt: str, only_front: bool = True) -> str:
    """The front of each level (or every row), seed means with their std."""
    shown = [r for r in rows if r["front"] or not only_front]
    order = {lv: i for i, lv in enumerate(dict.fromkeys(r["fidelity"] for r in rows))}
    shown.sort(key=lambda r: (order[r["fidelity"]], -(r["recall"] or 0), r["perplexity"] or 0))
    if fmt != "table":
        return render(shown, fmt)
    out = []
    for level in dict.fromkeys(r["fidelity"] for r in rows):
        part = [r for r in shown if r["fidelity"] == level]
        seeds = sorted({r["seeds"] for r in rows if r["fidelity"] == level})
        out.append(f"level {level} ({'front' if only_front else 'all'}; seed mean ± std over "
                   f"{'/'.join(map(str, seeds))} seed(s)):")
        cols = ["layout", "recall", "perplexity", "flops", "params", "seeds", "winning lr"]
        cells = [cols] + [[r["layout"], _pm(r, "recall"), _pm(r, "perplexity"), cell(r["flops"]),
                           cell(r["params"]), str(r["seeds"]), r.get("recipes") or "-"] for r in part]
        widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                 for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        out.append("\n".join(lines))
    return "\n\n".join(out) if out else "(no completed evaluations)"


def _pm(row: dict[str, Any], metric: str) -> str:
    v, s = row.get(metric), row.get(f"{metric}_std")
    return cell(v) if s is None else f"{cell(v)}±{s:.2g}"
