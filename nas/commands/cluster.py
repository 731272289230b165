"""`hybrid-nas submit` (a search as a Ray Job) and `hybrid-nas jobs list|status|logs|stop`.

    hybrid-nas submit --address http://HEAD:8265 --study big --budget quick --device cuda --trials 64 \\
        --gpus-per-trial 0.25 --max-concurrent 16 --db postgresql://user:pass@db/hnas
    hybrid-nas jobs status raysubmit_XXXX --address http://HEAD:8265

Everything after submit's own options is a `search` option; the job runs `python3 -m nas.cli search --ray ...`
on the cluster with this project as its working_dir. A SQLite database is the file at that (absolute) path on
the head node: use PostgreSQL when the workers run on other machines.
"""

from __future__ import annotations

import shlex
import sys
import time
from datetime import datetime
from typing import Any, Optional

import click
import typer
from typer.core import TyperGroup

from nas.cliutil import db_url, handle_errors, parse_sets
from nas.cluster import TERMINAL, job_call, job_client, project_runtime_env
from nas.errors import UsageError

POLL_S = 1.0


class _PassThrough(TyperGroup):
    """A group without subcommands whose unknown options and arguments reach its callback as `ctx.args`:
    `submit`'s own options are parsed, the rest are the search's."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return click.Command.parse_args(self, ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        return click.Command.invoke(self, ctx)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] [SEARCH OPTIONS]...")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        pass


submit = typer.Typer(
    cls=_PassThrough, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)


@submit.callback(invoke_without_command=True)
@handle_errors
def submit_job(
    ctx: typer.Context,
    address: Optional[str] = typer.Option(
        None, help="The cluster's job server, http://HEAD:8265 (default $RAY_API_SERVER_ADDRESS, else "
                   "http://127.0.0.1:8265)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the job, print its logs; exit 0 only if it succeeded."),
    timeout: float = typer.Option(0, min=0, help="With --wait: give up after this many seconds (0: never)."),
    env: Optional[list[str]] = typer.Option(None, "--env", help="KEY=VALUE in the job's environment (repeatable)."),
    submission_id: Optional[str] = typer.Option(None, help="The job id to use (default: Ray picks one)."),
) -> None:
    """Submit `hybrid-nas search --ray [SEARCH OPTIONS]` to a Ray cluster as a Ray Job; print the job id."""
    args = search_args(list(ctx.args))
    entrypoint = "python3 -m nas.cli search " + shlex.join(args)
    client = job_client(address)
    runtime_env = project_runtime_env(parse_sets(env) if env else None)
    job_id = job_call("submitting the job", client.submit_job, entrypoint=entrypoint, runtime_env=runtime_env,
                      submission_id=submission_id, metadata={"tool": "hybrid-nas"})
    typer.echo(job_id)
    where = f" --address {address}" if address else ""
    if not wait:
        typer.echo(f"submitted: {entrypoint}\nfollow it with: hybrid-nas jobs logs {job_id} --follow{where}", err=True)
        return
    status = follow(client, job_id, timeout=timeout)
    typer.echo(f"job {job_id}: {status}", err=True)
    if status != "SUCCEEDED":
        raise typer.Exit(1)


def search_args(args: list[str]) -> list[str]:
    """Check the search options locally (a typo fails here, not on the cluster), add --ray, and make the
    database one the job can reach: a relative SQLite path becomes absolute."""
    from nas.commands.search import search

    app = typer.Typer()
    app.command()(search)
    command = typer.main.get_command(app)
    try:
        command.make_context("search", list(args), resilient_parsing=False)
    except click.exceptions.Exit:  # --help
        raise UsageError("pass the search's options after submit's; see hybrid-nas search --help") from None
    except click.ClickException as exc:
        raise UsageError(f"search options: {exc.format_message()}") from None
    out, db = [], None
    it = iter(args)
    for a in it:
        if a == "--db":
            db = next(it, None)
        elif a.startswith("--db="):
            db = a.split("=", 1)[1]
        else:
            out.append(a)
    if "--ray" not in out:
        out.insert(0, "--ray")
    return out + ["--db", absolute_db(db_url(db))]


def absolute_db(url: str) -> str:
    from nas.raytune.settings import worker_url
    from storage import parse_url

    full = worker_url(url)
    if parse_url(full).get_backend_name() == "sqlite":
        return full
    return url  # as given: the password stays in the user's words, not re-rendered


def follow(client: Any, job_id: str, *, timeout: float = 0, out: Any = None) -> str:
    """Print the job's logs as they grow until it ends; return its final status."""
    out = out or sys.stdout
    start, shown = time.monotonic(), 0
    while True:
        status = str(job_call(f"reading job {job_id}", client.get_job_status, job_id).value)
        logs = job_call(f"reading the logs of job {job_id}", client.get_job_logs, job_id)
        if len(logs) > shown:
            out.write(logs[shown:])
            out.flush()
            shown = len(logs)
        if status in TERMINAL:
            return status
        if timeout and time.monotonic() - start > timeout:
            raise UsageError(f"job {job_id} is still {status} after {timeout:g} s (it goes on; "
                             f"`hybrid-nas jobs stop {job_id}` stops it)")
        time.sleep(POLL_S)


# -- hybrid-nas jobs ---------------------------------------------------------------------------------------------
jobs = typer.Typer(help="Ray Jobs on a cluster: list, status, logs, stop.", no_args_is_help=True,
                   add_completion=False, pretty_exceptions_enable=False)
ADDRESS = typer.Option(None, help="The job server, http://HEAD:8265 (default $RAY_API_SERVER_ADDRESS, else "
                                  "http://127.0.0.1:8265).")


@jobs.command("list")
@handle_errors
def list_jobs(address: Optional[str] = ADDRESS) -> None:
    """Every job the cluster knows, newest last."""
    client = job_client(address)
    found = job_call("listing jobs", client.list_jobs)
    rows = sorted(found, key=lambda j: j.start_time or 0)
    typer.echo(f"{'job':<32} {'status':<10} {'started':<19} {'ended':<19} entrypoint")
    for j in rows:
        entry = j.entrypoint if len(j.entrypoint) <= 70 else j.entrypoint[:67] + "..."
        typer.echo(f"{(j.submission_id or j.job_id or '?'):<32} {str(j.status.value):<10} {_when(j.start_time):<19} "
                   f"{_when(j.end_time):<19} {entry}")


@jobs.command()
@handle_errors
def status(job_id: str = typer.Argument(..., help="The job id submit printed."),
           address: Optional[str] = ADDRESS) -> None:
    """A job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and the server's message."""
    client = job_client(address)
    info = job_call(f"reading job {job_id}", client.get_job_info, job_id)
    typer.echo(str(info.status.value))
    if info.message:
        typer.echo(info.message, err=True)


@jobs.command()
@handle_errors
def logs(job_id: str = typer.Argument(..., help="The job id submit printed."),
         follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends."),
         address: Optional[str] = ADDRESS) -> None:
    """A job's logs (the search's output)."""
    client = job_client(address)
    if follow_:
        final = follow(client, job_id)
        typer.echo(f"job {job_id}: {final}", err=True)
        return
    typer.echo(job_call(f"reading the logs of job {job_id}", client.get_job_logs, job_id), nl=False)


@jobs.command()
@handle_errors
def stop(job_id: str = typer.Argument(..., help="The job id submit printed."),
         address: Optional[str] = ADDRESS) -> None:
    """Stop a job (the search's driver gets Ctrl-C; what finished is stored, and resubmitting resumes)."""
    client = job_client(address)
    stopped = job_call(f"stopping job {job_id}", client.stop_job, job_id)
    typer.echo(f"job {job_id}: {'stopping' if stopped else 'already ended'}")


def _when(ms: Any) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
