"""The `hybrid-nas` command line (typer). Each command lives in `nas/commands/`."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover
    from click import exceptions as _cx

from nas.commands.bench import bench
from nas.commands.budget import budget
from nas.commands.calibrate import calibrate
from nas.commands.cluster import jobs, submit
from nas.commands.evaluate import evaluate
from nas.commands.grid import grid
from nas.commands.mixers import mixers
from nas.commands.report import report
from nas.commands.results import pareto, studies
from nas.commands.search import search
from nas.commands.teacher import teacher



class OneLineErrors(TyperGroup):
    """A bad option or argument (click's usage errors) ends like every other user mistake: `error: <one line>`
    on stderr and exit code 2, instead of a usage box."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _cx.NoArgsIsHelpError as e:  # `hybrid-nas` alone: the help
            e.show()
            sys.exit(e.exit_code)
        except _cx.ClickException as e:
            ctx = getattr(e, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {' '.join(e.format_message().split())}{where}", err=True)
            sys.exit(e.exit_code)
        except (getattr(_cx, "Abort", KeyboardInterrupt), KeyboardInterrupt):  # not every vendored click has Abort
            typer.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
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
app.command()(budget)
app.command()(report)
app.add_typer(bench, name="bench")
app.add_typer(submit, name="submit")
app.add_typer(jobs, name="jobs")
app.add_typer(teacher, name="teacher")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
