"""`hybrid-nas search`: run (or resume) a multi-objective search and print its Pareto front."""

from __future__ import annotations

import time
from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors, parse_sets, split_list
from nas.errors import UsageError
from nas.objectives import DEFAULT_OBJECTIVES, TEACHER_OBJECTIVES, parse_objectives
from nas.samplers import SAMPLERS


@handle_errors
def search(
    study: str = typer.Option("default", help="Study name; the same command resumes it."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL (default sqlite:///hybrid_nas.db, or $HYBRID_NAS_DB)."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    budget: str = typer.Option("smoke", help="Proxy budget preset: smoke, quick, standard."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob, e.g. --set d_model=64."),
    trials: int = typer.Option(8, min=1, help="Finished trials the study should have."),
    sampler: str = typer.Option("tpe", help=f"Optuna sampler: {', '.join(SAMPLERS)}; with --ray also tune-random, "
                                            "tune-grid (Tune's own, over the native space)."),
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
    objectives: Optional[str] = typer.Option(None, help=f"Objectives, e.g. recall,perplexity,flops (default "
                                                        f"{','.join(DEFAULT_OBJECTIVES)}; with --teacher "
                                                        f"{','.join(TEACHER_OBJECTIVES)})."),
    fmt: str = typer.Option("table", "--format", help="How to print the front at the end: table, json, csv."),
    seeds: int = typer.Option(1, min=1, help="Runs per layout (seed, seed+1, ...); the objectives are seed means."),
    cascade: Optional[str] = typer.Option(None, help="Fidelity levels low to high, e.g. 'smoke,quick': search at "
                                                     "the first, promote layouts near the front to the next."),
    level: Optional[list[str]] = typer.Option(None, "--level", help="Define a fidelity level: "
                                                                    "NAME=[PRESET][:key=value,...]."),
    promote: str = typer.Option("noise", help="Cascade promotion rule: noise, noise:K, front, ranks:N."),
    ray: bool = typer.Option(False, "--ray", help="Run the trials on Ray Tune, several at a time (a local Ray, "
                                                  "or the cluster of --address)."),
    address: Optional[str] = typer.Option(None, help="--ray: join this Ray cluster (default $RAY_ADDRESS, else a "
                                                     "new local Ray)."),
    gpus_per_trial: Optional[float] = typer.Option(None, min=0, help="--ray: GPUs per trial, fractions allowed "
                                                                     "(default 1 with --device cuda, else 0)."),
    cpus_per_trial: float = typer.Option(1.0, min=0, help="--ray: CPUs per trial."),
    max_concurrent: int = typer.Option(4, min=1, help="--ray: most trials running at a time."),
    max_retries: int = typer.Option(2, min=0, help="--ray: retries of a trial whose worker died; then it is "
                                                   "recorded failed with the reason."),
    resume: bool = typer.Option(False, "--resume", help="Resume the study, which must exist (the same command "
                                                        "without --resume resumes it too)."),
    teacher: Optional[str] = typer.Option(None, help="A local Hugging Face causal-LM checkpoint: search which of its "
                                                     "layers keep attention and which mixer replaces the others "
                                                     "(the depth is the teacher's)."),
) -> None:
    """Search hybrid layouts with Optuna; every result and the Pareto front go to the database."""
    from nas.driver import LocalSearch, SearchSettings, check_device
    from nas.progress import SearchProgress
    from nas.report import print_front
    from proxies.budget import get_budget
    from search_space.space import DEFAULT_RATIOS, SearchSpace
    from storage import open_store

    valid = SAMPLERS + (("tune-random", "tune-grid") if ray else ())
    if sampler not in valid:
        raise UsageError(f"unknown sampler {sampler!r}; valid: {', '.join(valid)}")
    if not ray:  # a Ray search's driver may have no GPU: RaySearch checks the cluster instead
        check_device(device)
    levels = None
    if cascade:  # the search runs at the first level; nas.grid.cascade_after_search does the rest
        from nas.cascade import parse_rule
        from nas.fidelity import resolve_levels

        rule = parse_rule(promote)
        levels = resolve_levels(split_list(cascade), level, budget, parse_sets(set_))
        b = levels[0][1]
    elif level:
        raise UsageError("--level defines a level for --cascade; give --cascade too")
    else:
        b = get_budget(budget, parse_sets(set_))
    teacher_key = None
    if teacher:
        from nas.teacher import open_teacher, teacher_depth

        if ray or cascade:
            raise UsageError("--teacher runs on the local search only (leave out --ray and --cascade)")
        t, teacher_key = open_teacher(teacher)
        layers = teacher_depth(t, layers)
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
    if att and space.placement != "fixed":
        raise UsageError(f"--attention-layers is for --placement fixed (this search is {space.placement})")
    objs = parse_objectives(objectives or ",".join(TEACHER_OBJECTIVES if teacher else DEFAULT_OBJECTIVES))
    from proxies.lm_data import check_lm_corpus

    for _, level_budget in levels or [(None, b)]:
        check_lm_corpus(level_budget.corpus, level_budget.lm_seq_len)  # a bad or too short corpus ends the command here, before anything is stored
    url = db_url(db)
    store = open_store(url)
    settings = SearchSettings(study=study, space=space, budget=b, objectives=objs, sampler=sampler, trials=trials,
                              seed=seed, device=device, seeds=seeds,
                              fidelity=levels[0][0].name if levels else "default", teacher=teacher_key)
    if resume:
        store.get_study(study)  # a missing study: exit 2, naming the existing ones
    if ray:
        from nas.raytune.driver import RaySearch
        from nas.raytune.settings import RaySettings

        gpus = gpus_per_trial if gpus_per_trial is not None else (1.0 if device.startswith("cuda") else 0.0)
        runner = RaySearch(store, settings, RaySettings(
            address=address, gpus_per_trial=gpus, cpus_per_trial=cpus_per_trial, max_concurrent=max_concurrent,
            max_retries=max_retries))
    else:
        runner = LocalSearch(store, settings)
    if runner.reconciled:
        typer.echo(f"resumed study {study!r}: {runner.reconciled} interrupted evaluation(s) marked failed", err=True)
    notes = space.ratio_notes()
    if notes:  # a ratio the depth cannot hold exactly: say what runs instead
        typer.echo(f"note: at {space.n_layers} layers, ratio {'; '.join(notes)}", err=True)
    if getattr(runner, "requeued", 0):
        typer.echo(f"resumed study {study!r}: {runner.requeued} interrupted layout(s) queued to run again", err=True)
    if runner.target_trials() < trials:
        typer.echo(f"note: the search space holds {runner.target_trials()} layouts; the study stops there "
                   f"(--trials {trials})", err=True)
    start = time.perf_counter()
    with SearchProgress(runner.finished_trials(), runner.target_trials(), objs) as progress:
        outcomes = runner.run(on_trial=progress.update)
    if getattr(runner, "exhausted", None):
        typer.echo(f"note: {runner.exhausted}", err=True)
    counts = {s.name: s for s in store.list_studies()}.get(study)
    n_complete, n_failed = (counts.n_complete, counts.n_failed) if counts else (0, 0)
    typer.echo(f"study {study!r}: {runner.finished_trials()} trials finished, {len(outcomes)} this run "
               f"({time.perf_counter() - start:.1f} s); evaluations stored: {n_complete} complete, {n_failed} failed; "
               "Pareto front:", err=True)
    if levels and len(levels) > 1:
        from nas.cascade import render as render_cascade
        from nas.grid import cascade_after_search

        report = cascade_after_search(store, url, study, levels, [seed + k for k in range(seeds)], objs, rule, device)
        typer.echo(render_cascade(report), err=True)
    print_front(store, study, fmt)
    ran_ok = [o for o in outcomes if o.status != "failed"]
    if (outcomes and not ran_ok) or n_complete == 0:
        failed = [o for o in outcomes if o.status == "failed"]
        reason = f"; first reason: {' '.join(str(failed[0].error).split())}" if failed else ""
        typer.echo(f"error: no trial of study {study!r} succeeded"
                   f"{f' this run ({len(failed)} failed)' if outcomes else ''}{reason}", err=True)
        raise typer.Exit(1)
