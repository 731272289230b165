"""The `hybrid-nas` command line (typer). Each command lives in `nas/commands/`."""

from __future__ import annotations

import typer

from nas.commands.bench import bench
from nas.commands.calibrate import calibrate
from nas.commands.cluster import jobs, submit
from nas.commands.evaluate import evaluate
from nas.commands.grid import grid
from nas.commands.mixers import mixers
from nas.commands.report import report
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
app.command()(grid)
app.command()(calibrate)
app.command()(mixers)
app.command()(report)
app.add_typer(bench, name="bench")
app.add_typer(submit, name="submit")
app.add_typer(jobs, name="jobs")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
