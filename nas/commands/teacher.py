"""`hybrid-nas teacher train DIR` and `hybrid-nas teacher sensitivity --study S`: the teacher side of a search inside a pretrained Transformer."""

from __future__ import annotations

import json
from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors, parse_sets
from nas.errors import UsageError

teacher = typer.Typer(help="A pretrained Transformer as the starting point: train a small one, rank its layers.",
                      no_args_is_help=True)


@teacher.command("train")
@handle_errors
def train_cmd(
    directory: str = typer.Argument(..., help="Where the checkpoint is saved (save_pretrained)."),
    budget: str = typer.Option("smoke", help="Sizes and training: d_model, n_layers, n_heads, lm_seq_len, "
                                             "lm_steps, lm_batch, lm_lr of this preset (smoke, quick, standard)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob, e.g. --set lm_steps=500."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    seed: int = typer.Option(0, help="Seed of the initialisation and the batches."),
) -> None:
    """Train a small Llama-style teacher on the corpus (byte tokens) and save it as a Hugging Face checkpoint."""
    from nas.driver import check_device
    from nas.progress import EvalProgress
    from proxies.budget import get_budget
    from proxies.lm_data import prepare_lm
    from proxies.teacher.checkpoint import require_transformers
    from proxies.teacher.make import train_teacher

    check_device(device)
    b = get_budget(budget, parse_sets(set_))
    prepare_lm(b.corpus)
    require_transformers()
    with EvalProgress({"teacher": b.lm_steps}) as progress:
        meta = train_teacher(directory, b, device=device, seed=seed,
                             on_step=lambda s, loss: progress("teacher", s, loss))
    typer.echo(f"teacher saved to {directory}: {b.n_layers} layers, d_model {b.d_model}, {b.n_heads} heads, "
               f"context {meta['context']}, {meta['params']} parameters, {meta['steps']} steps in "
               f"{meta['wall_time_s']:.1f} s; validation perplexity {meta['val_perplexity']:.4g} "
               f"({meta['val_bits_per_byte']:.4g} bits per byte)")


@teacher.command("sensitivity")
@handle_errors
def sensitivity_cmd(
    study: str = typer.Option(..., help="A study made by `search --teacher`: its teacher and budget are used."),
    mixer: Optional[str] = typer.Option(None, help="The mixer that replaces a layer (default: the study's first)."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL of the study's database."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    seed: int = typer.Option(0, help="Seed of the distillation."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Replace one layer at a time, rank layers by the KL increase, and say whether the study's search beat
    "keep the k most sensitive layers as attention" at every k it tried."""
    from nas.driver import check_device, evaluate_into
    from nas.sensitivity import compare, rank, run_sensitivity
    from nas.teacher import open_teacher
    from proxies.budget import Budget
    from proxies.registry import get as get_mixer
    from storage import open_store

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r}; valid: table, json")
    check_device(device)
    store = open_store(db_url(db))
    record = store.get_study(study)
    stored = record.proxy.get("teacher")
    if not stored:
        raise UsageError(f"study {study!r} has no teacher (it was not made by `search --teacher`)")
    t, key = open_teacher(stored["path"])
    if key["hash"] != stored["hash"]:
        raise UsageError(f"the teacher at {stored['path']} changed since study {study!r} was made "
                         f"(hash {key['hash']}, stored {stored['hash']})")
    name = mixer or (record.space.get("mixers") or ["gla"])[0]
    get_mixer(name)  # an unknown mixer: exit 2 naming the valid ones
    if name == "attn":
        raise UsageError("--mixer attn: choose the mixer that replaces a layer's attention (e.g. gla, gdn)")
    budget = Budget.from_dict(record.proxy["budget"])
    fidelity = record.proxy.get("fidelity", "default")
    n = t.shape.n_layers

    def evaluate(layout):
        return evaluate_into(store, layout=layout, budget=budget, seed=seed, device=device, fidelity=fidelity,
                             study=study, trial_number=None, teacher=key)

    scores = run_sensitivity(evaluate, n, name)
    ranking = rank(scores)
    comparisons = compare(evaluate, store.evaluations(study, status="complete"), ranking, n, name)
    store.update_pareto(study)
    if fmt == "json":
        typer.echo(json.dumps({"study": study, "mixer": name, "ranking": ranking,
                               "layers": [s.__dict__ for s in scores],
                               "comparisons": [{**c.__dict__, "beat": c.beat} for c in comparisons]}, indent=2))
        return
    typer.echo(f"sensitivity of study {study!r} ({name} replacing one layer at a time; kl to the teacher):")
    for s in sorted(scores, key=lambda s: ranking.index(s.layer)):
        v = "failed" if s.value is None else f"{s.value:.4g}"
        typer.echo(f"  layer {s.layer:3d}  kl {v:>10s}  {s.layout}")
    typer.echo(f"most sensitive first: {','.join(map(str, ranking))}")
    for c in comparisons:
        typer.echo(c.line())
