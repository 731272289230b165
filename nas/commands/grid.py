"""`hybrid-nas grid`: the ratio-by-mixer grid at several fidelity levels and seeds, optionally as a cascade."""

from __future__ import annotations

import json
import time
from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors, parse_sets, split_list
from nas.errors import UsageError
from nas.grid import GRID_RATIOS
from search_space.names import GRID_VARIANTS
from nas.objectives import DEFAULT_OBJECTIVES, TEACHER_OBJECTIVES, parse_objectives


@handle_errors
def grid(
    study: str = typer.Option(..., help="Study name; the same command resumes it (finished runs are reused)."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL (default sqlite:///hybrid_nas.db, or $HYBRID_NAS_DB)."),
    variants: str = typer.Option(",".join(GRID_VARIANTS), help="Linear mixers, comma-separated."),
    ratios: str = typer.Option(",".join(GRID_RATIOS), help="linear:full ratios (attention evenly spaced), 'pure'."),
    layers: Optional[int] = typer.Option(None, min=1, help="Depth (default: the first level's budget)."),
    attention: bool = typer.Option(True, "--attention/--no-attention", help="Add the pure-attention baseline."),
    budget: str = typer.Option("smoke", help="Budget preset of --levels defined without one (and the default level)."),
    levels: Optional[str] = typer.Option(None, help="Fidelity levels, low to high, e.g. 'smoke,quick' or 'lo,hi' "
                                                    "(default: --budget)."),
    level: Optional[list[str]] = typer.Option(None, "--level", help="Define a level: NAME=[PRESET][:key=value,...], "
                                                                    "e.g. lo=quick:mqar_steps=100,lm_steps=50."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob at every level."),
    seeds: int = typer.Option(1, min=1, help="Runs per layout and level: seed, seed+1, ..."),
    seed: int = typer.Option(0, help="First seed."),
    cascade: bool = typer.Option(False, help="Promote only layouts near the front to the next level."),
    promote: str = typer.Option("noise", help="Promotion rule: noise, noise:K, front, ranks:N (see README)."),
    workers: int = typer.Option(1, min=1, help="Evaluations run concurrently (processes sharing the device)."),
    max_time: float = typer.Option(0.0, min=0.0, help="Start no evaluation after this many seconds (0: no limit); "
                                                      "the same command runs the rest later."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    objectives: Optional[str] = typer.Option(None, help=f"Objectives of the fronts and the cascade (default "
                                                        f"{','.join(DEFAULT_OBJECTIVES)}; with --teacher "
                                                        f"{','.join(TEACHER_OBJECTIVES)})."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the layouts and levels, evaluate nothing."),
    fmt: str = typer.Option("table", "--format", help="table or json (the summary)."),
    teacher: Optional[str] = typer.Option(None, help="A local Hugging Face causal-LM checkpoint: every layout is a "
                                                     "student of it (the depth is the teacher's)."),
) -> None:
    """Evaluate mixer x ratio layouts (plus pure attention) at fidelity levels and seeds; print a summary."""
    from nas.calibrate import build_report, render_report
    from nas.results import Results
    from nas.cascade import parse_rule, render as render_cascade, simulate
    from nas.driver import check_device
    from nas.fidelity import resolve_levels
    from nas.grid import Evaluator, ProgressLines, grid_layouts, run_levels
    from nas.report import aggregate_rows, render_levels
    from storage import open_store

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r}; valid: table, json")
    check_device(device)
    rule = parse_rule(promote)
    objs = parse_objectives(objectives or ",".join(TEACHER_OBJECTIVES if teacher else DEFAULT_OBJECTIVES))
    resolved = resolve_levels(split_list(levels) or [budget], level, budget, parse_sets(set_))
    teacher_key = None
    if teacher:
        from nas.teacher import open_teacher, teacher_depth

        t, teacher_key = open_teacher(teacher)
        layers = teacher_depth(t, layers)
    n_layers = layers or resolved[0][1].n_layers
    layouts = [lay.canonical() for lay in grid_layouts(split_list(variants), split_list(ratios), n_layers, attention)]
    seed_list = [seed + k for k in range(seeds)]
    names = [lv.name for lv, _ in resolved]
    if dry_run:
        for lv, b in resolved:
            typer.echo(f"level {lv.name}: {lv.describe()}")
        for lay in layouts:
            typer.echo(lay)
        typer.echo(f"{len(layouts)} layouts x {len(resolved)} levels x {seeds} seed(s)")
        return
    url = db_url(db)
    store = open_store(url)
    proxy = {"kind": "levels", **({"teacher": teacher_key} if teacher_key else {})}
    store.create_or_resume_study(study, space={"kind": "grid", "n_layers": n_layers}, proxy=proxy, objectives=objs)
    stale = store.reconcile(study)
    if stale:
        typer.echo(f"resumed study {study!r}: {stale} interrupted evaluation(s) marked failed", err=True)
    planned = len(layouts) * seeds * (1 if cascade else len(resolved))
    progress = ProgressLines(planned)
    typer.echo(f"grid {study!r}: {len(layouts)} layouts x {seeds} seed(s) at "
               f"{', '.join(f'{lv.name} ({lv.describe()})' for lv, _ in resolved)}"
               f"{f', cascade (promote {rule})' if cascade else ''}; {workers} worker(s) on {device}", err=True)

    def on_stage(name: str, n: int, total: int) -> None:
        if name != names[0]:
            progress.grow(progress.total + n * seeds)
            typer.echo(f"promoting {n} of {total} layouts to level {name}", err=True)

    start = time.perf_counter()
    evaluator = Evaluator(url, study, device, workers, on_result=progress, max_time_s=max_time or None)
    try:
        results = run_levels(evaluator, store, study, layouts, [(lv.name, b) for lv, b in resolved], seed_list,
                             objs, cascade=rule if cascade else None, on_stage=on_stage, teacher=teacher_key)
    finally:
        evaluator.close()
    wall = time.perf_counter() - start
    if evaluator.skipped or (cascade and evaluator.expired):
        typer.echo(f"time limit of {max_time:g} s reached: {evaluator.skipped} evaluation(s) not started"
                   f"{' (and later levels of the cascade)' if cascade else ''}; the same command runs the rest",
                   err=True)

    done = [e for e in store.evaluations(study, status="complete") if e.layout in set(layouts) and e.fidelity in names]
    rows = aggregate_rows(done, objs)
    report = build_report(study, done, objs, levels=[n for n in names if any(e.fidelity == n for e in done)],
                          rule=rule)
    cascade_report = None
    if cascade:
        res = Results.from_evaluations(done, [o["metric"] for o in objs])
        present = [n for n in names if n in res.values]
        if present:
            cascade_report = simulate(res, present, objs, rule, layouts=[lay for lay in layouts
                                                                          if lay in res.values[present[0]]])
    counts = progress.counts
    if fmt == "json":
        typer.echo(json.dumps({"study": study, "layouts": layouts, "levels": names, "seeds": seed_list,
                               "wall_s": wall, "counts": counts, "skipped": evaluator.skipped, "rows": rows,
                               "calibration": report,
                               "cascade": cascade_report.to_dict() if cascade_report else None}, indent=2))
        return
    typer.echo(f"grid {study!r}: {len(results)} evaluations ({counts.get('complete', 0)} run, "
               f"{counts.get('cached', 0)} cached, {counts.get('failed', 0)} failed) in {wall:.1f} s wall")
    typer.echo(render_levels(rows, "table"))
    typer.echo("")
    if cascade_report is not None:
        typer.echo(render_cascade(cascade_report))
        typer.echo("")
    typer.echo(render_report(report))
