"""`hybrid-nas pareto` and `hybrid-nas studies`: query what the database remembers."""

from __future__ import annotations

from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors
from nas.errors import UsageError


@handle_errors
def pareto(
    study: str = typer.Option(..., help="Study name (see `hybrid-nas studies`)."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL (default sqlite:///hybrid_nas.db)."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    all_: bool = typer.Option(False, "--all", help="Every completed evaluation, not only the front."),
    plot: Optional[str] = typer.Option(None, help="Draw the fronts to this file instead (.png or .svg)."),
    axes: Optional[str] = typer.Option(None, help="Metrics of --plot, e.g. recall,flops (default: objectives)."),
) -> None:
    """Print the Pareto front of a study (layouts as `evaluate` accepts them), or draw it with --plot."""
    from nas.report import FORMATS, print_front, render, row_of
    from storage import open_store

    if plot is not None:
        from nas.cliutil import split_list
        from nas.front_plot import check_target, plot_front

        if all_ or fmt != "table":
            raise UsageError("--plot draws every evaluation already; --format and --all go with the printed table")
        check_target(plot)
        typer.echo(plot_front(open_store(db_url(db)), study, plot, split_list(axes) or None), err=True)
        return
    if axes is not None:
        raise UsageError("--axes goes with --plot")

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    store = open_store(db_url(db))
    if all_:
        store.get_study(study)
        rows = [row_of(e) for e in store.evaluations(study, status="complete")]
        typer.echo(render(rows, fmt))
        return
    print_front(store, study, fmt)


@handle_errors
def studies(
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL (default sqlite:///hybrid_nas.db)."),
) -> None:
    """List the studies in the database."""
    from storage import open_store

    rows = open_store(db_url(db)).list_studies()
    if not rows:
        typer.echo("no studies yet; start one with `hybrid-nas search --study NAME`")
        return
    typer.echo(f"{'study':24s} {'created (UTC)':19s} {'complete':>8s} {'failed':>6s} {'running':>7s} {'pareto':>6s}")
    for s in rows:
        typer.echo(f"{s.name:24s} {s.created_at:%Y-%m-%d %H:%M:%S} {s.n_complete:8d} {s.n_failed:6d} "
                   f"{s.n_running:7d} {s.n_pareto:6d}")

