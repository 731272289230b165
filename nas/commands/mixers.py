"""`hybrid-nas mixers`: every registered token mixer, its paper, its cost formulas and its cost at one width."""

from __future__ import annotations

import json
from typing import Any

import typer

from nas.cliutil import handle_errors
from nas.errors import UsageError

FORMATS = ("table", "json")


@handle_errors
def mixers(
    d_model: int = typer.Option(256, help="Model width the numbers are computed at."),
    n_heads: int = typer.Option(4, help="Heads (d_model must be divisible by it)."),
    context: int = typer.Option(4096, help="Context length L for FLOPs per token and decode-state bytes."),
    window: int = typer.Option(128, help="Sliding-window size W of swa."),
    match_width: bool = typer.Option(False, "--match-width/--no-match-width",
                                     help="Size each mixer to attention's per-layer parameters first."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """List the mixers: paper, FLOPs and state formulas, parameters, FLOPs/token and state bytes at a width."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if min(d_model, n_heads, context, window) < 1:
        raise UsageError(f"--d-model, --n-heads, --context and --window must be positive, got "
                         f"{d_model}, {n_heads}, {context}, {window}")
    if d_model % n_heads:
        raise UsageError(f"--d-model {d_model} is not divisible by --n-heads {n_heads}")
    rows = mixer_rows(d_model, n_heads, context, match_width, window)
    if fmt == "json":
        out = {"d_model": d_model, "n_heads": n_heads, "context": context, "window": window, "match_width": match_width,
               "state_dtype_bytes": 2, "mixers": rows}
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(_table(rows, d_model, n_heads, context, match_width, window))


def mixer_rows(d_model: int, n_heads: int, context: int, match_width: bool = False,
               window: int = 128) -> list[dict[str, Any]]:
    """One dict per registered mixer, in the search space's order (attention first)."""
    import torch

    from proxies import registry
    from proxies.mixers.base import MixerConfig
    from proxies.width import match_width as matched
    from search_space.names import ALL_MIXERS

    specs = registry.load_all()
    rows = []
    for name in [n for n in ALL_MIXERS if n in specs]:
        spec = specs[name]
        cfg = MixerConfig(d_model=d_model, n_heads=n_heads, window=window)
        try:
            if match_width:
                cfg = matched(name, cfg)
            with torch.device("meta"):  # analytic costs only: nothing allocated however wide
                module = spec.cls(cfg)
        except ValueError as e:  # a width this mixer cannot take (e.g. an odd rotary head size)
            raise UsageError(f"{name} cannot be built at d_model={d_model}, n_heads={n_heads}: {e}") from None
        rows.append({
            "mixer": name, "linear": spec.linear, "paper": spec.paper,
            "flops_formula": spec.flops_formula, "state_formula": spec.state_formula,
            "params": module.num_params(), "flops_per_token": float(module.flops_per_token(context)),
            "state_bytes": int(module.state_bytes(context, 2)),
            "key_width": getattr(module, "dk", None),
            "value_width": getattr(module, "dv", getattr(module, "inner", None)),
            "head_dim": getattr(module, "P", cfg.dh),
        })
    return rows


def _table(rows: list[dict[str, Any]], d_model: int, n_heads: int, context: int, match_width: bool,
           window: int) -> str:
    cols = ("mixer", "params", "FLOPs/token", "state bytes", "FLOPs formula (per token)", "state formula")
    cells = [list(cols)] + [[r["mixer"], str(r["params"]), f"{r['flops_per_token']:.0f}", str(r["state_bytes"]),
                             r["flops_formula"], r["state_formula"]] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    just = lambda i, c, w: c.rjust(w) if i in (1, 2, 3) else c.ljust(w)  # noqa: E731
    lines = [f"mixers at d_model={d_model}, n_heads={n_heads}, context L={context}, swa window W={window}"
             f"{', widths matched to attn' if match_width else ''} (state in bytes at 2 bytes/element)"]
    lines += ["  ".join(just(i, c, w) for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in cells]
    lines.insert(2, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("papers:")
    name_w = max(len(r["mixer"]) for r in rows)
    lines += [f"  {r['mixer'].ljust(name_w)}  {r['paper']}" for r in rows]
    return "\n".join(lines)
