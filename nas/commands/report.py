"""`hybrid-nas report`: one self-contained HTML page of a study (fronts, layouts, evaluations, calibration)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nas.cliutil import db_url, handle_errors
from nas.errors import UsageError

PAGE = "report.html"


@handle_errors
def report(
    study: str = typer.Option(..., help="Study name (see `hybrid-nas studies`)."),
    out: str = typer.Option(..., help=f"Directory to write {PAGE} into (created if missing)."),
    db: Optional[str] = typer.Option(None, help="SQLAlchemy URL (default sqlite:///hybrid_nas.db)."),
) -> None:
    """Write DIR/report.html: fronts per level, layout strips, every evaluation, calibration, settings."""
    from nas.report_data import gather
    from nas.report_html import render_page
    from storage import open_store

    data = gather(open_store(db_url(db)), study)  # a missing study fails before anything is created
    target = _target(Path(out))
    try:
        target.write_text(render_page(data), encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {str(target)!r}: {e.strerror or e}") from None
    typer.echo(f"wrote {target} ({len(data.evaluations)} evaluations, {len(data.fronts)} level(s)); open it in "
               "a browser", err=True)


def _target(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; give a directory to write {PAGE} into")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create directory {str(out)!r}: {e.strerror or e}") from None
    return out / PAGE
