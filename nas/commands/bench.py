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

    from kernels.bench import bench_kernels, format_table

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if dtype not in dtypes:
        raise UsageError(f"unknown dtype {dtype!r}; valid: {', '.join(dtypes)}")
    parsed = _shapes(shapes)
    if not torch.cuda.is_available():
        raise UsageError("bench kernels times CUDA kernels: no CUDA device is visible here")
    rows = bench_kernels(shapes=parsed, dtype=dtypes[dtype])
    typer.echo(json.dumps(rows, indent=2) if as_json else format_table(rows))


@bench.command("proxy")
@handle_errors
def proxy_cmd(
    layouts: str = typer.Option(QUICK_LAYOUTS, help="Layouts, ';'-separated."),
    budget: str = typer.Option("quick", help="Budget preset whose LM shapes and width are used."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob."),
    device: str = typer.Option("cuda", help="cpu, cuda or cuda:N."),
    steps: int = typer.Option(20, min=1, help="Timed training steps per layout."),
    peak_tflops: Optional[float] = typer.Option(None, help="Peak dense bf16 TFLOP/s for MFU (default: datasheet)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
) -> None:
    """Proxy training tokens per second and model FLOPs utilisation."""
    from nas.driver import check_device
    from proxies.bench import bench_proxy, format_rows
    from proxies.budget import get_budget
    from search_space.layout import Layout

    check_device(device)
    b = get_budget(budget, parse_sets(set_))
    names = [t for t in (s.strip() for s in layouts.split(";")) if t]
    for name in names:
        Layout.parse(name)
    rows = bench_proxy(names, b, device, steps=steps, peak=peak_tflops * 1e12 if peak_tflops else None)
    typer.echo(json.dumps(rows, indent=2) if as_json else format_rows(rows))
