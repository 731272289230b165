"""`hybrid-nas evaluate LAYOUT`: train and score one layout (cached when already evaluated)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors, parse_sets
from nas.errors import UsageError


@handle_errors
def evaluate(
    layout: str = typer.Argument(..., help="Layout, e.g. '(gdn*3,attn)*3' (as `pareto` prints it)."),
    budget: str = typer.Option("smoke", help="Proxy budget preset: smoke, quick, standard."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob, e.g. --set lm_steps=50."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    seed: int = typer.Option(0, help="Seed of the proxy training."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL where the result is stored and looked up."),
    store_result: bool = typer.Option(True, "--store/--no-store", help="Record the evaluation in the database."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    teacher: Optional[str] = typer.Option(None, help="A local Hugging Face causal-LM checkpoint: LAYOUT is a student "
                                                     "of it (attn = keep the teacher's attention at that layer)."),
    show_traceback: bool = typer.Option(False, "--traceback",
                                        help="When the evaluation fails, print its Python traceback after the "
                                             "one-line reason (on standard error)."),
) -> None:
    """Evaluate one layout: MQAR recall, validation perplexity, FLOPs, parameters and decode state."""
    from nas.driver import check_device, evaluate_into
    from nas.progress import EvalProgress
    from proxies.budget import get_budget
    from proxies.evaluate import evaluate as run_evaluate
    from search_space.layout import Layout

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r}; valid: table, json")
    lay = Layout.parse(layout)
    check_device(device)
    b = get_budget(budget, parse_sets(set_))
    from proxies.lm_data import check_lm_corpus

    check_lm_corpus(b.corpus, b.lm_seq_len)  # a bad or too short corpus is the user's mistake: exit 2 before anything is trained or stored
    teacher_key = None
    if teacher:
        from nas.teacher import check_student_layout, open_teacher

        t, teacher_key = open_teacher(teacher)
        check_student_layout(t, lay.n_layers, lay.canonical())
        from proxies.teacher.student import build_student

        build_student(t, lay, b)  # a mixer that cannot take the teacher's shape: exit 2 before training
        from functools import partial

        from proxies.teacher.score import evaluate_student

        run_evaluate = partial(evaluate_student, teacher=t)  # noqa: F811
    progress = EvalProgress({"mqar": b.mqar_steps, "lm": b.lm_steps, "align": b.distill_align_steps or b.lm_steps,
                             "kl": b.distill_kl_steps or b.lm_steps})
    failures: list[BaseException] = []
    with progress:
        if store_result:
            from storage import open_store

            status, metrics, error, _ = evaluate_into(
                open_store(db_url(db)), layout=lay, budget=b, seed=seed, device=device, fidelity="default",
                study=None, trial_number=None, progress=progress, teacher=teacher_key,
                on_failure=failures.append)
            if status == "failed":
                typer.echo(f"error: evaluation of {lay} failed (stored as failed): {_one_line(error)}", err=True)
                _print_traceback(failures[0] if show_traceback else None)
                raise typer.Exit(1)
        else:
            try:
                m = (run_evaluate(lay, budget=b, device=device, seed=seed, progress=progress) if teacher else
                     run_evaluate(lay, b, device=device, seed=seed, progress=progress))
            except Exception as exc:  # a diverged or crashed training: the input was valid, the evaluation failed
                from nas.driver import failure_reason

                typer.echo(f"error: evaluation of {lay} failed: {_one_line(failure_reason(exc))}", err=True)
                _print_traceback(exc if show_traceback else None)
                raise typer.Exit(1) from None
            metrics, status = m.to_dict(), "complete"
            metrics.update(m.extra.get("teacher_scores", {}))
    out = {"layout": lay.canonical(), "budget": b.name, "cached": status == "cached", **metrics}
    if fmt == "json":
        typer.echo(json.dumps(out, indent=2))
        return
    keys = ("layout", "budget", *(("kl", "teacher_perplexity", "teacher_recall") if teacher else ()), "recall",
            "perplexity", "bits_per_byte", "flops", "flops_context", "params",
            "state_bytes", "wall_time_s", "device", "cached")
    w = max(14, *(len(k) for k in keys))
    for k in keys:
        v = out.get(k)
        typer.echo(f"{k:{w}s} {v:.6g}" if isinstance(v, float) else f"{k:{w}s} {v}")


def _print_traceback(exc: BaseException | None) -> None:
    if exc is not None:
        import sys
        import traceback

        traceback.print_exception(exc, file=sys.stderr)


def _one_line(text: str | None) -> str:
    return " ".join(str(text or "").split())
