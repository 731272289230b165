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
    reference: bool = typer.Option(False, "--reference",
                                   help="Each mixer as its reference has it (no short convolution in gla, retnet, "
                                        "hgrn2, hgrn; mamba2's and hgrn2's output norms) instead of as the proxies "
                                        "build it."),
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
    options = architecture(reference)
    rows = mixer_rows(d_model, n_heads, context, match_width, window, options)
    if fmt == "json":
        out = {"d_model": d_model, "n_heads": n_heads, "context": context, "window": window, "match_width": match_width,
               "architecture": options, "state_dtype_bytes": 2, "mixers": rows}
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(_table(rows, d_model, n_heads, context, match_width, window, options))


def architecture(reference: bool) -> dict[str, Any]:
    """The knobs that change the mixers: the budgets' defaults (what a search trains and costs), or the
    references' forms (`MixerConfig`'s defaults)."""
    from dataclasses import fields

    from proxies.budget import Budget
    from proxies.mixers.base import MixerConfig

    knobs = ("short_conv", "mamba2_norm", "hgrn2_norm", "retnet_decays")
    source = {f.name: f.default for f in fields(MixerConfig if reference else Budget)}
    return {k: source[k] for k in knobs}


def mixer_rows(d_model: int, n_heads: int, context: int, match_width: bool = False,
               window: int = 128, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One dict per registered mixer, in the search space's order (attention first), built with `options` (the
    architecture knobs of `MixerConfig`; none: the references' forms)."""
    import torch

    from proxies import registry
    from proxies.mixers.base import MixerConfig
    from proxies.width import match_width as matched
    from search_space.names import ALL_MIXERS

    specs = registry.load_all()
    rows = []
    for name in [n for n in ALL_MIXERS if n in specs]:
        spec = specs[name]
        cfg = MixerConfig(d_model=d_model, n_heads=n_heads, window=window, **(options or {}))
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
           window: int, options: dict[str, Any]) -> str:
    cols = ("mixer", "params", "FLOPs/token", "state bytes", "FLOPs formula (per token)", "state formula")
    cells = [list(cols)] + [[r["mixer"], str(r["params"]), f"{r['flops_per_token']:.0f}", str(r["state_bytes"]),
                             r["flops_formula"], r["state_formula"]] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    just = lambda i, c, w: c.rjust(w) if i in (1, 2, 3) else c.ljust(w)  # noqa: E731
    lines = [f"mixers at d_model={d_model}, n_heads={n_heads}, context L={context}, swa window W={window}"
             f"{', widths matched to attn' if match_width else ''} (state in bytes at 2 bytes/element)"]
    lines += ["  ".join(just(i, c, w) for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in cells]
    lines.insert(2, "  ".join("-" * w for w in widths))
    if options["short_conv"]:
        lines.append("gla, retnet, hgrn2, hgrn with short convolutions (the proxies' default; not in their formulas: "
                     "+ 2 W FLOPs, W - 1 state per convolved channel)")
    off = [m for m in ("mamba2", "hgrn2") if not options[f"{m}_norm"]]
    if off:
        lines.append(f"{' and '.join(off)} without the norm before the output projection (the proxies' default)")
    spread = options["retnet_decays"] == "spread"
    if spread:
        lines.append("retnet's decays spread over the span of the paper's 8 heads at any head count (the proxies' "
                     "default; costs unchanged)")
    if not options["short_conv"] and not off and not spread:
        lines.append("every mixer as its reference has it (--reference)")
    lines.append("")
    lines.append("papers:")
    name_w = max(len(r["mixer"]) for r in rows)
    lines += [f"  {r['mixer'].ljust(name_w)}  {r['paper']}" for r in rows]
    return "\n".join(lines)
