"""Rows (live ORM objects) -> records (plain, detached, with fresh copies of every dict and list)."""

from __future__ import annotations

from datetime import datetime, timezone

from storage.jsoncodec import from_db
from storage.records import EvaluationRecord, StudyRecord
from storage.schema import CandidateRow, EvaluationRow, StudyRow


def utc(moment: datetime | None) -> datetime | None:
    """Timezone-aware UTC (SQLite hands back naive datetimes; they were written in UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def study_record(row: StudyRow) -> StudyRecord:
    return StudyRecord(
        id=row.id,
        name=row.name,
        created_at=utc(row.created_at),
        space=from_db(row.space),
        proxy=from_db(row.proxy),
        objectives=from_db(row.objectives),
        optuna_study_name=row.optuna_study_name,
    )


def evaluation_record(row: EvaluationRow, candidate: CandidateRow, study_name: str | None) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id,
        study=study_name,
        trial_number=row.trial_number,
        layout=candidate.layout,
        n_layers=candidate.n_layers,
        n_attention=candidate.n_attention,
        proxy_key=row.proxy_key,
        proxy=from_db(row.proxy),
        fidelity=row.fidelity,
        seed=row.seed,
        status=row.status,
        error=row.error,
        metrics=from_db(row.metrics) if row.metrics is not None else {},
        recall=row.recall,
        perplexity=row.perplexity,
        flops=row.flops,
        params=row.params,
        state_bytes=row.state_bytes,
        device=row.device,
        wall_time_s=row.wall_time_s,
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at),
        cached_from=row.cached_from,
    )
