"""The SQL the store's methods share: the evaluation query, a portable INSERT ... ON CONFLICT, the candidate and
study rows, and the stored form of an evaluation's metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import arguments
from storage.errors import StorageError, StudyNotFound
from storage.jsoncodec import from_db, to_db
from storage.schema import METRIC_COLUMNS, CandidateRow, EvaluationRow, StudyRow

MAX_LISTED = 20  # studies named in a StudyNotFound message


def evaluations_query():
    """SELECT evaluation, its candidate, its study name (None outside a study)."""
    return (
        select(EvaluationRow, CandidateRow, StudyRow.name)
        .join(CandidateRow, CandidateRow.id == EvaluationRow.candidate_id)
        .outerjoin(StudyRow, StudyRow.id == EvaluationRow.study_id)
    )


def insert_ignoring(session: Session, model):
    """INSERT supporting ON CONFLICT DO NOTHING, on both backends."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def candidate_row(session: Session, layout: str, n_layers: int, n_attention: int) -> CandidateRow:
    """The layout's candidate row, inserted when new; StorageError when its stored counts differ."""
    insert = insert_ignoring(session, CandidateRow).values(layout=layout, n_layers=n_layers, n_attention=n_attention)
    session.execute(insert.on_conflict_do_nothing(index_elements=["layout"]))
    row = session.scalars(select(CandidateRow).where(CandidateRow.layout == layout)).one()
    if (row.n_layers, row.n_attention) != (n_layers, n_attention):
        raise StorageError(
            f"layout {layout!r} is stored with {row.n_layers} layers and {row.n_attention} attention layers, "
            f"not {n_layers} and {n_attention}; pass the canonical layout string and its own counts"
        )
    return row


def study_row(session: Session, name: str, url: str, *, lock: bool = False) -> StudyRow:
    """The study's row (locked for update with `lock`); StudyNotFound naming the existing studies."""
    query = select(StudyRow).where(StudyRow.name == name)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        names = session.scalars(select(StudyRow.name).order_by(StudyRow.created_at, StudyRow.id)).all()
        if not names:
            known = "there are no studies yet"
        else:
            shown = ", ".join(repr(n) for n in names[:MAX_LISTED])
            more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            known = f"existing studies: {shown}{more}"
        raise StudyNotFound(f"no study named {name!r} in {url}; {known}")
    return row


def metric_values(metrics: dict[str, Any]) -> dict[str, Any]:
    """The JSON metrics and the first-class metric columns of an evaluation row."""
    arguments.settings(metrics, "metrics")
    stored = to_db(metrics, what="metrics")
    plain = from_db(stored)
    columns = {name: arguments.metric_number(plain.get(name), f"metric {name!r}") for name in METRIC_COLUMNS}
    return {"metrics": stored, **columns}


SWEEP_FIELDS = ("task", "lr", "token_shift", "status", "steps", "score", "loss", "error", "wall_time_s")


def sweep_row(point: dict[str, Any]) -> dict[str, Any]:
    """A sweep point checked and reduced to the table's columns."""
    if not isinstance(point, dict):
        raise StorageError(f"a sweep point must be a dict, got {type(point).__name__}")
    arguments.text(point.get("task"), "sweep task")
    if point.get("status") not in ("complete", "failed"):
        raise StorageError(f"sweep point status must be complete or failed, got {point.get('status')!r}")
    lr = arguments.metric_number(point.get("lr"), "sweep lr")
    if lr is None or not lr > 0:
        raise StorageError(f"sweep lr must be a positive number, got {point.get('lr')!r}")
    row = {"task": point["task"], "lr": lr, "status": point["status"],
           "token_shift": arguments.integer(point.get("token_shift"), "sweep token_shift", minimum=0, optional=True),
           "steps": arguments.integer(point.get("steps", 0), "sweep steps", minimum=0),
           "score": arguments.metric_number(point.get("score"), "sweep score"),
           "loss": arguments.metric_number(point.get("loss"), "sweep loss"),
           "error": arguments.text(point.get("error"), "sweep error", optional=True),
           "wall_time_s": arguments.seconds(point.get("wall_time_s"))}
    return row
