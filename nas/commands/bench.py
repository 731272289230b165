"""`hybrid-nas bench kernels|proxy`: print speed tables (and JSON with --json)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from nas.cliutil import handle_errors, parse_sets
from nas.errors import UsageError

bench = typer.Typer(help="Benchmarks that print numbers: kernels and proxy training.", no_args_is_help=True)

QUICK_LAYOUTS = "attn*12;(gdn*3,attn)*3;gdn*12;gla*12"


def _shapes(text: str) -> list[tuple[int, int, int, int]]:
    out = []
    for part in text.split(";"):
        try:
            B, T, H, D = (int(x) for x in part.split(","))
        except ValueError:
            raise UsageError(f"--shapes needs 'B,T,H,D;B,T,H,D...', got {text!r}") from None
        out.append((B, T, H, D))
    return out


@bench.command("kernels")
@handle_errors
def kernels_cmd(
    shapes: str = typer.Option("16,1024,4,64;8,2048,8,128;2,8192,8,128", help="B,T,H,D shapes, ';'-separated."),
    dtype: str = typer.Option("bf16", help="bf16, fp16 or fp32."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
) -> None:
    """Forward+backward of the linear-mixer kernels vs the PyTorch reference, SDPA and flash-linear-attention."""
    import torch

    from proxies.bench import bench_kernels, format_kernel_table

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if dtype not in dtypes:
        raise UsageError(f"unknown dtype {dtype!r}; valid: {', '.join(dtypes)}")
    parsed = _shapes(shapes)
    if not torch.cuda.is_available():
        raise UsageError("bench kernels times CUDA kernels: no CUDA device is visible here")
    rows = bench_kernels(shapes=parsed, dtype=dtypes[dtype])
    typer.echo(json.dumps(rows, indent=2) if as_json else format_kernel_table(rows))


@bench.command("proxy")
@handle_errors
def proxy_cmd(
    layouts: str = typer.Option(QUICK_LAYOUTS, help="Layouts, ';'-separated."),
    budget: str = typer.Option("quick", help="Budget preset whose shapes and width are used."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob."),
    device: str = typer.Option("cuda", help="cpu, cuda or cuda:N."),
    steps: int = typer.Option(20, min=1, help="Timed training steps per layout."),
    task: str = typer.Option("lm", help="Whose training shapes: lm (lm_batch x lm_seq_len) or mqar."),
    engine: str = typer.Option("both", help="eager, graph or both (graph needs CUDA)."),
    workers: int = typer.Option(1, min=1, help="Processes training the same layout side by side on the device."),
    streams: int = typer.Option(1, min=1, help="Trainings of the layout side by side in one process, each on its own "
                                               "CUDA stream (how a sweep's points train)."),
    stack: int = typer.Option(1, min=1, help="Copies of the layout trained as one model with stacked weights "
                                             "(how --set stack_sweep=true trains a sweep's points)."),
    peak_tflops: Optional[float] = typer.Option(None, help="Peak dense bf16 TFLOP/s for MFU (default: datasheet)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
) -> None:
    """Proxy training speed per layout and engine: wall and GPU-busy ms per step, launches, tokens/s, MFU."""
    from nas.driver import check_device
    from proxies.bench import bench_proxy, format_rows
    from proxies.budget import get_budget
    from search_space.layout import Layout

    check_device(device)
    if task not in ("lm", "mqar"):
        raise UsageError(f"unknown task {task!r}; valid: lm, mqar")
    engines = {"eager": (False,), "graph": (True,), "both": (False, True)}
    if engine not in engines:
        raise UsageError(f"unknown engine {engine!r}; valid: {', '.join(engines)}")
    if engine == "graph" and not device.startswith("cuda"):
        raise UsageError("the graph engine needs a CUDA device; use --engine eager on a CPU")
    if sum(n > 1 for n in (workers, streams, stack)) > 1:
        raise UsageError("--workers, --streams and --stack are three ways to share the device; give one of them")
    b = get_budget(budget, parse_sets(set_))
    names = [t for t in (s.strip() for s in layouts.split(";")) if t]
    for name in names:
        Layout.parse(name)
    rows = bench_proxy(names, b, device, steps=steps, graphs=engines[engine], task=task, workers=workers,
                       streams=streams, stack=stack, peak=peak_tflops * 1e12 if peak_tflops else None)
    typer.echo(json.dumps(rows, indent=2) if as_json else format_rows(rows))


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"{what} needs comma-separated numbers, got {text!r}") from None
    if not values or any(not v > 0 for v in values):
        raise UsageError(f"{what} needs positive numbers, got {text!r}")
    return values


def _settings(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            seq, pairs = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise UsageError(f"--settings needs SEQxPAIRS items, e.g. 256x16,512x64; got {part!r}") from None
        if seq < 4 * pairs or pairs < 1:
            raise UsageError(f"--settings {part}: MQAR needs seq >= 4 x pairs and at least one pair")
        out.append((seq, pairs))
    if not out:
        raise UsageError("--settings names no setting")
    return tuple(out)


def _shifts(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--shifts needs comma-separated integers, got {text!r}") from None
    if not values or any(v == 1 or v < 0 for v in values) or len(set(values)) != len(values):
        raise UsageError(f"--shifts needs distinct widths, each 0 (none) or at least 2, got {text!r}")
    return values


@bench.command("recall")
@handle_errors
def recall_cmd(
    mixers: str = typer.Option("", help="Mixers, comma-separated (default: every registered mixer)."),
    settings: str = typer.Option("256x16,512x64", help="MQAR (sequence length)x(key-value pairs), comma-separated."),
    widths: str = typer.Option("128,256", help="d_model values, comma-separated (head size 64)."),
    lrs: str = typer.Option("1e-4,4.6e-4,2.2e-3,1e-2", help="Learning rates of the sweep."),
    shifts: str = typer.Option("0", help="Token-shift widths crossed with the rates (0: none; e.g. 0,2)."),
    steps: int = typer.Option(2000, min=1, help="Training steps per point (early stop at 0.99)."),
    batch: int = typer.Option(64, min=1, help="Examples per step (Zoology trains at 256)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Any other budget knob, e.g. --set short_conv=true "
                                                                 "(the cases set the shapes, sweep and steps)."),
    device: str = typer.Option("cuda", help="cpu, cuda or cuda:N."),
    workers: int = typer.Option(0, min=0, help="Points trained at once, every case's, each in a thread on its own "
                                                "CUDA stream (0: as many as fit side by side on CUDA, 1 on CPU)."),
    seed: int = typer.Option(0, help="Seed of every run."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
) -> None:
    """Zoology's MQAR reproduction: every mixer, two layers, vocab 8192, best of a learning-rate sweep."""
    from nas.driver import check_device
    from proxies import registry
    from proxies.budget import get_budget
    from proxies.zoology import CASE_KNOBS, bench_recall, format_recall

    check_device(device)
    sets = parse_sets(set_)
    for knob in sets:
        if knob in CASE_KNOBS:
            how = f"use {CASE_KNOBS[knob]}" if CASE_KNOBS[knob] else "Zoology's setting is fixed"
            raise UsageError(f"--set {knob}: every case of bench recall sets it ({how})")
    base = get_budget("quick", sets)
    known = list(registry.load_all())
    names = [m.strip() for m in mixers.split(",") if m.strip()] or list(known)
    for m in names:
        if m not in known:
            raise UsageError(f"unknown mixer {m!r}; valid: {', '.join(known)}")
    ws = tuple(int(w) for w in _floats(widths, "--widths"))
    if any(w % 64 for w in ws):
        raise UsageError(f"--widths must be multiples of the head size 64, got {widths!r}")

    def progress(row: dict) -> None:
        acc = ("failed" if row["accuracy"] is None
               else f"{row['accuracy']:.3f} at lr {row['lr']:g}, token shift {row['token_shift']}")
        typer.echo(f"{row['mixer']} {row['seq_len']}x{row['kv_pairs']} d{row['d_model']}: {acc}", err=True)

    recall_shifts = _shifts(shifts)
    rows = bench_recall(names, device=device, steps=steps, lrs=_floats(lrs, "--lrs"), settings=_settings(settings),
                        widths=ws, workers=workers, seed=seed, shifts=recall_shifts, batch=batch, base=base,
                        progress=progress)
    typer.echo(json.dumps(rows, indent=2) if as_json else format_recall(rows))
