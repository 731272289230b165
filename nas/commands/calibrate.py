"""`hybrid-nas calibrate`: how far the proxies of a study can be trusted.

Spearman and Kendall rank correlations of each metric between fidelity levels, between seeds and against a
reference CSV of the user's own (large-scale) results; the noise floor of each metric; and a replay of the
promotion cascade on the stored results (compute saved, and whether the final front changed).
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors, split_list
from nas.errors import UsageError


@handle_errors
def calibrate(
    study: str = typer.Option(..., help="Study name (see `hybrid-nas studies`)."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL (default sqlite:///hybrid_nas.db)."),
    reference: Optional[str] = typer.Option(
        None, help="CSV of reference results: a 'layout' column, then metric columns (e.g. recall,perplexity)."),
    metrics: Optional[str] = typer.Option(
        None, help="Metrics to correlate (default: the study's objectives, per-task recall, bits_per_byte)."),
    levels: Optional[str] = typer.Option(None, help="Fidelity levels in order, low to high (default: all, "
                                                    "in the order first evaluated)."),
    promote: str = typer.Option("noise", help="Promotion rule of the replayed cascade: noise, noise:K, front, "
                                              "ranks:N."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Rank correlations between fidelity levels, seeds and a reference; noise floors; the cascade replayed."""
    from nas.calibrate import build_report, render_report
    from nas.reference import read_reference
    from nas.cascade import parse_rule
    from storage import open_store

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r}; valid: table, json")
    rule = parse_rule(promote)
    store = open_store(db_url(db))
    record = store.get_study(study)
    evaluations = store.evaluations(study, status="complete")
    ref = None
    if reference is not None:
        known = sorted({k for e in evaluations for k, v in (e.metrics or {}).items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)} | set(record.metrics))
        ref = read_reference(reference, known)
    report = build_report(study, evaluations, record.objectives, metrics=split_list(metrics) or None,
                          levels=split_list(levels) or None, reference=ref, rule=rule)
    if fmt == "json":
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(render_report(report))
