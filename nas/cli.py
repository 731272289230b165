"""The `hybrid-nas` command line (typer). Each command lives in `nas/commands/`."""

from __future__ import annotations

import typer

from nas.commands.evaluate import evaluate
from nas.commands.results import pareto, studies
from nas.commands.search import search

app = typer.Typer(
    name="hybrid-nas",
    help="Architecture search over hybrid linear/full-attention language-model layouts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(search)
app.command()(evaluate)
app.command()(pareto)
app.command()(studies)


def _register_optional() -> None:
    """Commands added by later modules register here when present."""
    import importlib

    for mod, names in (("nas.commands.mixers", ("mixers",)), ("nas.commands.bench", ("bench",)),
                       ("nas.commands.cluster", ("submit", "jobs")), ("nas.commands.calibrate", ("calibrate",)),
                       ("nas.commands.grid", ("grid",))):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        for name in names:
            obj = getattr(m, name)
            if isinstance(obj, typer.Typer):
                app.add_typer(obj, name=name)
            else:
                app.command(name=name)(obj)


_register_optional()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
