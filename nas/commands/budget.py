"""`hybrid-nas budget PRESET`: a preset's knobs by section, each with its value and what `--set` may give it."""

from __future__ import annotations

import json
from typing import Optional

import typer

from nas.cliutil import handle_errors, parse_sets
from nas.errors import UsageError

FORMATS = ("table", "json")


@handle_errors
def budget(
    preset: str = typer.Argument("smoke", help="The preset: smoke, quick or standard."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a budget knob, e.g. --set d_model=64."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Show a budget's knobs grouped by section (model, recall, recipe sweep, language modelling, training, cost
    and engine), with their values and valid ranges; `--set` overrides them as in search and evaluate."""
    from proxies.budget import describe_budget, get_budget

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    sections = describe_budget(get_budget(preset, parse_sets(set_)))
    if fmt == "json":
        typer.echo(json.dumps(sections, indent=2, default=list))
        return
    width = max(len(f["field"]) for s in sections for f in s["fields"])
    for i, s in enumerate(sections):
        typer.echo(("\n" if i else "") + f"[{s['section']}] {s['title']}")
        for f in s["fields"]:
            value = _show(f["value"])
            typer.echo(f"  {f['field']:<{width}}  {value:<12}  {f['valid']}")


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value) or "()"
    return str(value) if value != "" else "''"
