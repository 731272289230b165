"""The `hybrid-nas` command line (typer). Each command lives in `nas/commands/`."""

from __future__ import annotations

import typer

from nas.commands.bench import bench
from nas.commands.calibrate import calibrate
from nas.commands.cluster import jobs, submit
from nas.commands.evaluate import evaluate
from nas.commands.grid import grid
from nas.commands.mixers import mixers
from nas.commands.results import pareto, studies
from nas.commands.search import search

app = typer.Typer(
    name="hybrid-nas",
    help="Architecture search over hybrid linear/full-attention language-model layouts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hybrid-nas {version()}")
        raise typer.Exit(0)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("hybrid-nas")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


@app.callback()
def _main(_v: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                  help="Print the version and exit.")) -> None:
    """Architecture search over hybrid linear/full-attention language-model layouts."""


app.command()(search)
app.command()(evaluate)
app.command()(pareto)
app.command()(studies)
app.command()(grid)
app.command()(calibrate)
app.command()(mixers)
app.add_typer(bench, name="bench")
app.add_typer(submit, name="submit")
app.add_typer(jobs, name="jobs")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
