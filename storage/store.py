"""The store: studies, candidates, evaluations and Pareto snapshots, over any SQLAlchemy backend.

Every method is one transaction: it happens entirely or not at all, and a failure (raised as
`StorageError` for database trouble and caller mistakes) leaves everything stored before it untouched.
Methods return plain frozen records (storage.records), never live ORM objects.

Statuses: an evaluation starts `running`, and ends `complete` (metrics), `failed` (error text) or
`pruned` (stopped early by the search). `reconcile` turns what a crashed driver left `running` into
`failed` with error "interrupted"; such an evaluation may still be finished by a worker that survived.
"""

from __future__ import annotations

import os

from sqlalchemy import func, select

from storage import arguments
from storage.base import INTERRUPTED
from storage.base import now as _now
from storage.base import study_name as _study_name
from storage.convert import evaluation_record, study_record, utc
from storage.db import BUSY_TIMEOUT_S, connect
from storage.diff import first_difference
from storage.errors import StorageError
from storage.evaluations import EvaluationMethods
from storage.jsoncodec import from_db, to_db
from storage.pareto import non_dominated
from storage.queries import evaluations_query, insert_ignoring, study_row
from storage.records import EvaluationRecord, StudyRecord, StudySummary
from storage.schema import EvaluationRow, ParetoRow, StudyRow

__all__ = ["INTERRUPTED", "Store", "open_store"]


def open_store(url: str | os.PathLike | None = None, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> "Store":
    """Open (creating the tables when missing) the store at `url`; default `sqlite:///hybrid_nas.db`.

    A path (`os.PathLike`) means a SQLite file. Raise `StorageError` (one line) when the URL is malformed,
    names an unknown database or a driver that is not installed, cannot be connected to, or holds tables
    of a newer hybrid-nas schema (`SchemaVersionError`).
    """
    return Store(connect(url, busy_timeout_s=busy_timeout_s))


class Store(EvaluationMethods):
    """Open one with `storage.open_store(url)`; safe to use from several threads and processes.

    The engine and sessions are `storage.base.StoreBase`'s, the evaluation methods `storage.evaluations`'; the
    studies and the Pareto fronts are here."""

    def __reduce__(self):
        """Pickling (Ray, multiprocessing) sends the URL; the receiving process opens its own store."""
        return (open_store, (self.sqlalchemy_url,))

    # -- studies ------------------------------------------------------------------------------------------
    def create_or_resume_study(
        self,
        name: str,
        *,
        space: dict[str, Any],
        proxy: dict[str, Any],
        objectives: list[dict[str, str]],
        optuna_study_name: str | None = None,
    ) -> StudyRecord:
        """Create the study, or return the stored one when its space, proxy and objectives are the same.

        Different settings raise `StorageError` naming the first difference. `optuna_study_name` defaults
        to `name` on creation; given explicitly, it must match the stored one on resume.
        """
        arguments.study_name(name)
        given = {
            "space": to_db(arguments.settings(space, "space"), what="space"),
            "proxy": to_db(arguments.settings(proxy, "proxy"), what="proxy"),
            "objectives": arguments.objectives(objectives),
        }
        arguments.text(optuna_study_name, "optuna_study_name", optional=True)
        with self._session(f"creating or resuming study {name!r}", write=True) as session:
            insert = insert_ignoring(session, StudyRow).values(
                name=name, created_at=_now(), optuna_study_name=optuna_study_name or name, **given
            )
            session.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
            row = session.scalars(select(StudyRow).where(StudyRow.name == name)).one()
            for field, value in given.items():
                difference = first_difference(from_db(getattr(row, field)), from_db(value), field)
                if difference:
                    raise StorageError(
                        f"study {name!r} already exists with different settings ({difference}); resume it "
                        "with its stored settings or choose a new study name"
                    )
            if optuna_study_name is not None and optuna_study_name != row.optuna_study_name:
                raise StorageError(
                    f"study {name!r} already exists with Optuna study {row.optuna_study_name!r}, "
                    f"not {optuna_study_name!r}"
                )
            return study_record(row)

    def get_study(self, name: str) -> StudyRecord:
        """The study called `name`; `StudyNotFound` (listing the existing names) when there is none."""
        arguments.study_name(name)
        with self._session(f"reading study {name!r}") as session:
            return study_record(study_row(session, name, self.url))

    def list_studies(self) -> list[StudySummary]:
        """Every study, oldest first, with its counts of complete/failed/running evaluations and front size."""
        with self._session("listing studies") as session:
            studies = session.scalars(select(StudyRow).order_by(StudyRow.created_at, StudyRow.id)).all()
            counts: dict[tuple[int, str], int] = {}
            for study_id, status, n in session.execute(
                select(EvaluationRow.study_id, EvaluationRow.status, func.count())
                .where(EvaluationRow.study_id.is_not(None))
                .group_by(EvaluationRow.study_id, EvaluationRow.status)
            ):
                counts[(study_id, status)] = n
            latest = (
                select(ParetoRow.study_id, func.max(ParetoRow.snapshot).label("snapshot"))
                .group_by(ParetoRow.study_id)
                .subquery()
            )
            fronts = dict(
                session.execute(
                    select(ParetoRow.study_id, func.count())
                    .join(latest, (ParetoRow.study_id == latest.c.study_id)
                          & (ParetoRow.snapshot == latest.c.snapshot))
                    .group_by(ParetoRow.study_id)
                ).all()
            )
            return [
                StudySummary(
                    name=s.name,
                    created_at=utc(s.created_at),
                    n_complete=counts.get((s.id, "complete"), 0),
                    n_failed=counts.get((s.id, "failed"), 0),
                    n_running=counts.get((s.id, "running"), 0),
                    n_pareto=fronts.get(s.id, 0),
                )
                for s in studies
            ]

    # -- Pareto fronts -------------------------------------------------------------------------------------
    def update_pareto(self, study: str | StudyRecord) -> list[EvaluationRecord]:
        """Compute the non-dominated set of the study's complete evaluations under its objectives, store it
        as a new snapshot and return it (by evaluation id). A missing, NaN or non-numeric metric is the worst."""
        name = _study_name(study)
        with self._session(f"updating the Pareto front of study {name!r}", write=True) as session:
            # Lock the study row: concurrent updates of one study take their snapshot numbers in turn.
            row = study_row(session, name, self.url, lock=True)
            record = study_record(row)
            done = [
                evaluation_record(*found)
                for found in session.execute(
                    evaluations_query()
                    .where(EvaluationRow.study_id == row.id, EvaluationRow.status == "complete")
                    .order_by(EvaluationRow.id)
                )
            ]
            points = [tuple(e.value(metric) for metric in record.metrics) for e in done]
            front = [done[i] for i in non_dominated(points, record.directions)]
            last = session.scalar(select(func.max(ParetoRow.snapshot)).where(ParetoRow.study_id == row.id))
            now = _now()
            session.add_all(
                ParetoRow(study_id=row.id, snapshot=(last or 0) + 1, evaluation_id=e.id, created_at=now)
                for e in front
            )
            return front

    def pareto(self, study: str | StudyRecord) -> list[EvaluationRecord]:
        """The latest stored Pareto snapshot of the study (by evaluation id); computes one if none exists."""
        name = _study_name(study)
        with self._session(f"reading the Pareto front of study {name!r}") as session:
            study_id = study_row(session, name, self.url).id
            last = session.scalar(select(func.max(ParetoRow.snapshot)).where(ParetoRow.study_id == study_id))
            if last is not None:
                query = (
                    evaluations_query()
                    .join(ParetoRow, ParetoRow.evaluation_id == EvaluationRow.id)
                    .where(ParetoRow.study_id == study_id, ParetoRow.snapshot == last)
                    .order_by(EvaluationRow.id)
                )
                return [evaluation_record(*found) for found in session.execute(query)]
        return self.update_pareto(name)
