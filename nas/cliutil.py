"""Shared CLI plumbing: one-line errors with exit code 2, `--set key=value` parsing, the database option."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import typer

from nas.errors import UsageError, user_error_types

DEFAULT_DB = "sqlite:///hybrid_nas.db"


def db_url(value: str | None) -> str:
    return value or os.environ.get("HYBRID_NAS_DB") or DEFAULT_DB


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user's mistake into `error: <one line>` on stderr and exit code 2; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except user_error_types() as exc:
            fail(" ".join(str(exc).split()) or type(exc).__name__)
        except KeyboardInterrupt:
            typer.echo("interrupted: everything finished so far is stored; run the same command to resume",
                       err=True)
            raise typer.Exit(130)

    return wrapper


def parse_sets(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--set needs key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def split_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]
