"""The tables (SQLAlchemy 2 declarative). Every name starts with `hnas_` so that Optuna's own tables can
live in the same database (optuna-dashboard then works on it).

hnas_meta         one row: the schema version that wrote the database
hnas_studies      a search: its name, search space, proxy settings and objectives (all JSON)
hnas_candidates   a layout (canonical string, unique) with its depth and number of attention layers
hnas_evaluations  one proxy run of one candidate: settings, seed, fidelity, status, metrics, cost, device
                  (or a study's copy of an earlier run found in the cache: `cached_from` says which)
hnas_pareto       Pareto-front snapshots of a study: (snapshot number, evaluation) rows
hnas_sweep_points the learning-rate sweep of an evaluation: one row per point (task, lr, steps, score, status)

Adding a table is a compatible change (opening an older database creates it; older code ignores it), so it
does not bump the schema version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Index, MetaData, String, Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 1
"""Bump when the tables change, and teach `db._check_version` to upgrade older databases."""

STATUSES = ("running", "complete", "failed", "pruned")
DEFAULT_FIDELITY = "default"
METRIC_COLUMNS = ("recall", "perplexity", "flops", "params", "state_bytes")
"""Metrics that also get a float column of their own (queryable in SQL); all metrics stay in `metrics`."""

_JSON = JSON(none_as_null=True)


_NAMING = {  # stable constraint names, so that a later migration can name what it changes
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: _JSON,
        list[dict[str, Any]]: _JSON,
        str: String(255),
        float: Float(),
    }


class MetaRow(Base):
    __tablename__ = "hnas_meta"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    schema_version: Mapped[int]
    created_at: Mapped[datetime]


class StudyRow(Base):
    __tablename__ = "hnas_studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime]
    space: Mapped[dict[str, Any]]
    proxy: Mapped[dict[str, Any]]
    objectives: Mapped[list[dict[str, Any]]]  # [{"metric": "recall", "direction": "maximize"}, ...]
    optuna_study_name: Mapped[str | None]


class CandidateRow(Base):
    __tablename__ = "hnas_candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    layout: Mapped[str] = mapped_column(Text, unique=True)  # canonical string, e.g. "(gdn*3,attn)*3"
    n_layers: Mapped[int]
    n_attention: Mapped[int]


class EvaluationRow(Base):
    __tablename__ = "hnas_evaluations"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="status"
        ),
        Index("ix_hnas_evaluations_cache", "candidate_id", "proxy_key", "seed", "status"),
        Index("ix_hnas_evaluations_study_status", "study_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("hnas_studies.id"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("hnas_candidates.id"))
    trial_number: Mapped[int | None]
    proxy_key: Mapped[str] = mapped_column(String(64), index=True)
    proxy: Mapped[dict[str, Any]]
    fidelity: Mapped[str] = mapped_column(String(64), default=DEFAULT_FIDELITY, server_default=DEFAULT_FIDELITY)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any] | None]
    recall: Mapped[float | None]
    perplexity: Mapped[float | None]
    flops: Mapped[float | None]
    params: Mapped[float | None]
    state_bytes: Mapped[float | None]
    device: Mapped[str | None]
    wall_time_s: Mapped[float | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    cached_from: Mapped[int | None] = mapped_column(ForeignKey("hnas_evaluations.id"))
    """Set on a copy of an earlier evaluation (a cache hit adopted by a study): the evaluation copied."""


class ParetoRow(Base):
    __tablename__ = "hnas_pareto"
    __table_args__ = (
        UniqueConstraint("study_id", "snapshot", "evaluation_id"),
        Index("ix_hnas_pareto_study_snapshot", "study_id", "snapshot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("hnas_studies.id"))
    snapshot: Mapped[int]
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("hnas_evaluations.id"))
    created_at: Mapped[datetime]


class SweepPointRow(Base):
    __tablename__ = "hnas_sweep_points"
    __table_args__ = (
        CheckConstraint("status IN ('complete', 'failed')", name="status"),
        Index("ix_hnas_sweep_points_evaluation", "evaluation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("hnas_evaluations.id"))
    task: Mapped[str] = mapped_column(String(32))  # recall | lm
    lr: Mapped[float]
    token_shift: Mapped[int | None]  # the recall recipe's token-shift width
    status: Mapped[str] = mapped_column(String(16))
    steps: Mapped[int]
    score: Mapped[float | None]  # recall: held-out accuracy; lm: validation loss
    loss: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    wall_time_s: Mapped[float | None]
