"""Printing results: the Pareto front (or any evaluations) as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import typer

from nas.errors import UsageError

FORMATS = ("table", "json", "csv")
COLUMNS = ("layout", "recall", "perplexity", "flops", "params", "state_bytes", "trial", "seed", "fidelity",
           "wall_time_s", "evaluation")


def row_of(e: Any) -> dict[str, Any]:
    return {
        "layout": e.layout, "recall": e.value("recall"), "perplexity": e.value("perplexity"),
        "flops": e.value("flops"), "params": _int(e.value("params")), "state_bytes": _int(e.value("state_bytes")),
        "trial": e.trial_number, "seed": e.seed, "fidelity": e.fidelity, "wall_time_s": e.wall_time_s,
        "evaluation": e.id, "bits_per_byte": e.value("bits_per_byte"), "device": e.device,
    }


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


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def _table(rows: list[dict[str, Any]]) -> str:
    cols = ["layout", "recall", "perplexity", "flops", "params", "state_bytes", "trial"]
    cells = [cols] + [[_cell(r.get(c)) for c in cols] for r in rows]
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
    front = store.pareto(study)
    rows = sorted((row_of(e) for e in front), key=lambda r: (-(r["recall"] or 0), r["perplexity"] or 0))
    typer.echo(render(rows, fmt))
