"""`hybrid-nas search`: run (or resume) a multi-objective search and print its Pareto front."""

from __future__ import annotations

import time
from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors, parse_sets, split_list
from nas.errors import UsageError
from nas.objectives import DEFAULT_OBJECTIVES, parse_objectives
from nas.samplers import SAMPLERS


@handle_errors
def search(
    study: str = typer.Option("default", help="Study name; the same command resumes it."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL (default sqlite:///hybrid_nas.db, or $HYBRID_NAS_DB)."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    budget: str = typer.Option("smoke", help="Proxy budget preset: smoke, quick, standard."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob, e.g. --set d_model=64."),
    trials: int = typer.Option(8, min=1, help="Finished trials the study should have."),
    sampler: str = typer.Option("tpe", help=f"Optuna sampler: {', '.join(SAMPLERS)}."),
    seed: int = typer.Option(0, help="Seed of the sampler and of every proxy training."),
    layers: Optional[int] = typer.Option(None, min=1, help="Number of layers (default: the budget's)."),
    mixers: str = typer.Option("gdn,gla", help="Linear mixers the search may use, comma-separated."),
    placement: str = typer.Option("periodic", help="free, periodic (r:1, evenly spaced) or fixed."),
    ratios: Optional[str] = typer.Option(None, help="Periodic ratios linear:full, e.g. 'pure,7:1,3:1,1:1'."),
    attention_layers: Optional[str] = typer.Option(None, help="Fixed placement: attention layer indices, e.g. '3,7,11'."),
    min_attention: int = typer.Option(0, min=0, help="Fewest attention layers."),
    max_attention: Optional[int] = typer.Option(None, min=0, help="Most attention layers."),
    min_ratio: Optional[float] = typer.Option(None, help="Smallest linear:full ratio."),
    max_ratio: Optional[float] = typer.Option(None, help="Largest linear:full ratio."),
    mix_linear: bool = typer.Option(False, help="Let one layout mix several linear mixer kinds."),
    include_attention: bool = typer.Option(False, help="Also offer the pure-attention baseline."),
    objectives: str = typer.Option(",".join(DEFAULT_OBJECTIVES), help="Objectives, e.g. recall,perplexity,flops."),
    fmt: str = typer.Option("table", "--format", help="How to print the front at the end: table, json, csv."),
) -> None:
    """Search hybrid layouts with Optuna; every result and the Pareto front go to the database."""
    from nas.driver import LocalSearch, SearchSettings, check_device
    from nas.progress import SearchProgress
    from nas.report import print_front
    from proxies.budget import get_budget
    from search_space.space import DEFAULT_RATIOS, SearchSpace
    from storage import open_store

    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    check_device(device)
    b = get_budget(budget, parse_sets(set_))
    try:
        att = tuple(int(i) for i in split_list(attention_layers))
    except ValueError:
        raise UsageError(f"--attention-layers needs comma-separated integers, got {attention_layers!r}") from None
    space = SearchSpace(
        n_layers=layers or b.n_layers, mixers=tuple(split_list(mixers)), placement=placement,
        ratios=tuple(split_list(ratios)) if ratios else DEFAULT_RATIOS, attention_layers=att,
        min_attention=min_attention, max_attention=max_attention, min_ratio=min_ratio, max_ratio=max_ratio,
        mix_linear=mix_linear, include_pure_attention=include_attention,
    )
    objs = parse_objectives(objectives)
    url = db_url(db)
    store = open_store(url)
    settings = SearchSettings(study=study, space=space, budget=b, objectives=objs, sampler=sampler, trials=trials,
                              seed=seed, device=device)
    runner = LocalSearch(store, settings)
    if runner.reconciled:
        typer.echo(f"resumed study {study!r}: {runner.reconciled} interrupted evaluation(s) marked failed", err=True)
    start = time.perf_counter()
    with SearchProgress(runner.finished_trials(), runner.target_trials(), objs) as progress:
        runner.run(on_trial=progress.update)
    typer.echo(f"study {study!r}: {runner.finished_trials()} trials finished ({time.perf_counter() - start:.1f} s "
               f"this run); Pareto front:", err=True)
    print_front(store, study, fmt)
