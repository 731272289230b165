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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage import arguments
from storage.convert import evaluation_record, study_record, utc
from storage.db import BUSY_TIMEOUT_S, WRITE_OPTION, connect
from storage.diff import first_difference
from storage.errors import StorageError, one_line
from storage.jsoncodec import from_db, to_db
from storage.keys import proxy_key as make_proxy_key
from storage.pareto import non_dominated
from storage.queries import (SWEEP_FIELDS, candidate_row, evaluations_query, insert_ignoring, metric_values,
                             study_row, sweep_row)
from storage.records import EvaluationRecord, StudyRecord, StudySummary
from storage.schema import (
    DEFAULT_FIDELITY, METRIC_COLUMNS, CandidateRow, EvaluationRow, ParetoRow, StudyRow, SweepPointRow,
)

INTERRUPTED = "interrupted"
_COPIED = ("candidate_id", "proxy_key", "proxy", "fidelity", "seed", "metrics", "device", "wall_time_s",
           *METRIC_COLUMNS)


def open_store(url: str | os.PathLike | None = None, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> "Store":
    """Open (creating the tables when missing) the store at `url`; default `sqlite:///hybrid_nas.db`.

    A path (`os.PathLike`) means a SQLite file. Raise `StorageError` (one line) when the URL is malformed,
    names an unknown database or a driver that is not installed, cannot be connected to, or holds tables
    of a newer hybrid-nas schema (`SchemaVersionError`).
    """
    return Store(connect(url, busy_timeout_s=busy_timeout_s))


class Store:
    """Open one with `storage.open_store(url)`; safe to use from several threads and processes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)

    # -- the store itself -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def sqlalchemy_url(self) -> str:
        """The full URL with its driver resolved and the password kept: hand it to Optuna's RDBStorage
        (`optuna.storages.RDBStorage(store.sqlalchemy_url)`) so that Optuna's tables share this database."""
        return self._engine.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        """The backend: "sqlite" or "postgresql"."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close the pooled connections (the store can still be used; it reconnects)."""
        self._engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

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

    # -- evaluations --------------------------------------------------------------------------------------
    def start_evaluation(
        self,
        *,
        study: str | StudyRecord | None,
        layout: str,
        n_layers: int,
        n_attention: int,
        proxy: dict[str, Any],
        seed: int,
        device: str | None,
        proxy_key: str | None = None,
        fidelity: str = DEFAULT_FIDELITY,
        trial_number: int | None = None,
    ) -> int:
        """Record a `running` evaluation of `layout` (a canonical string) and return its id.

        `study` None records an evaluation outside any study (`hybrid-nas evaluate`). `proxy_key` defaults
        to `storage.proxy_key(proxy)`. The candidate row is shared by every evaluation of the same layout.
        """
        arguments.text(layout, "layout")
        arguments.integer(n_layers, "n_layers", minimum=1)
        arguments.integer(n_attention, "n_attention", minimum=0)
        if n_attention > n_layers:
            raise StorageError(f"n_attention ({n_attention}) is larger than n_layers ({n_layers}) for {layout!r}")
        proxy_db = to_db(arguments.settings(proxy, "proxy"), what="proxy")
        key = make_proxy_key(proxy) if proxy_key is None else arguments.text(proxy_key, "proxy_key")
        arguments.integer(seed, "seed")
        arguments.text(fidelity, "fidelity")
        arguments.integer(trial_number, "trial_number", minimum=0, optional=True)
        arguments.text(device, "device", optional=True)
        name = _study_name(study, optional=True)
        with self._session(f"starting an evaluation of {layout!r}", write=True) as session:
            study_id = None if name is None else study_row(session, name, self.url).id
            candidate = candidate_row(session, layout, n_layers, n_attention)
            row = EvaluationRow(
                study_id=study_id,
                candidate_id=candidate.id,
                trial_number=trial_number,
                proxy_key=key,
                proxy=proxy_db,
                fidelity=fidelity,
                seed=seed,
                status="running",
                device=device,
                started_at=_now(),
            )
            session.add(row)
            session.flush()
            return row.id

    def finish_evaluation(
        self, eval_id: int, *, metrics: dict[str, Any], wall_time_s: float | None = None,
        sweep: Iterable[dict[str, Any]] = (),
    ) -> EvaluationRecord:
        """Mark a running evaluation `complete` with its metrics (any JSON dict; recall, perplexity, flops,
        params and state_bytes, when present, must be numbers and are copied to their own columns) and the
        points of its learning-rate sweep (dicts with task, lr, status, steps, score, loss, error,
        wall_time_s), in the same transaction."""
        values = metric_values(metrics)
        points = [sweep_row(p) for p in sweep]
        return self._close(eval_id, "complete", error=None, wall_time_s=wall_time_s, sweep=points, **values)

    def fail_evaluation(self, eval_id: int, *, error: str, wall_time_s: float | None = None,
                        sweep: Iterable[dict[str, Any]] = ()) -> EvaluationRecord:
        """Mark a running evaluation `failed` with its error text (e.g. the exception's one-line summary) and
        the sweep points it ran (every one failed, or it was cut off)."""
        arguments.text(error, "error")
        points = [sweep_row(p) for p in sweep]
        return self._close(eval_id, "failed", error=error, wall_time_s=wall_time_s, sweep=points)

    def sweep_points(self, eval_id: int) -> list[dict[str, Any]]:
        """The learning-rate sweep of an evaluation (of the one it was copied from, for a cache copy), in order."""
        arguments.integer(eval_id, "evaluation id")
        with self._session(f"reading the sweep of evaluation {eval_id}") as session:
            row = session.get(EvaluationRow, eval_id)
            if row is None:
                raise StorageError(f"no evaluation with id {eval_id} in {self.url}")
            source = row.cached_from if row.cached_from is not None else row.id
            rows = session.scalars(select(SweepPointRow).where(SweepPointRow.evaluation_id == source)
                                   .order_by(SweepPointRow.id)).all()
            return [{k: getattr(r, k) for k in SWEEP_FIELDS} for r in rows]

    def prune_evaluation(
        self, eval_id: int, *, metrics: dict[str, Any] | None = None, wall_time_s: float | None = None
    ) -> EvaluationRecord:
        """Mark a running evaluation `pruned` (stopped early by the search), with the metrics it reached."""
        values = metric_values(metrics or {})
        return self._close(eval_id, "pruned", error=None, wall_time_s=wall_time_s, **values)

    def copy_evaluation(self, source_id: int, *, study: str | StudyRecord, trial_number: int | None = None) -> int:
        """Adopt a complete evaluation (a `lookup` hit, maybe from another study) into `study` as a new
        complete evaluation with the same metrics and `cached_from=source_id`; return the new id."""
        arguments.integer(trial_number, "trial_number", minimum=0, optional=True)
        name = _study_name(study)
        with self._session(f"copying evaluation {source_id} into study {name!r}", write=True) as session:
            study_id = study_row(session, name, self.url).id
            source = session.get(EvaluationRow, source_id)
            if source is None or source.status != "complete":
                state = "does not exist" if source is None else f"is {source.status}"
                raise StorageError(
                    f"cannot copy evaluation {source_id}: it {state}; only complete ones can be copied"
                )
            now = _now()
            copied = {field: getattr(source, field) for field in _COPIED}
            row = EvaluationRow(
                study_id=study_id, trial_number=trial_number, status="complete", started_at=now, finished_at=now,
                cached_from=source.cached_from or source.id, **copied,
            )
            session.add(row)
            session.flush()
            return row.id

    def get_evaluation(self, eval_id: int) -> EvaluationRecord:
        with self._session(f"reading evaluation {eval_id}") as session:
            found = session.execute(evaluations_query().where(EvaluationRow.id == eval_id)).first()
            if found is None:
                raise StorageError(f"no evaluation with id {eval_id} in {self.url}")
            return evaluation_record(*found)

    def lookup(
        self, *, layout: str, proxy_key: str, seed: int, fidelity: str | None = None
    ) -> EvaluationRecord | None:
        """The cache: a complete evaluation of `layout` under the same proxy settings and seed (and
        fidelity, when given), from any study; originals before copies, then the most recent. None if none."""
        with self._session(f"looking up {layout!r}") as session:
            query = evaluations_query().where(
                CandidateRow.layout == layout,
                EvaluationRow.proxy_key == proxy_key,
                EvaluationRow.seed == seed,
                EvaluationRow.status == "complete",
            )
            if fidelity is not None:
                query = query.where(EvaluationRow.fidelity == fidelity)
            query = query.order_by(
                EvaluationRow.cached_from.is_not(None), EvaluationRow.finished_at.desc(), EvaluationRow.id.desc()
            )
            found = session.execute(query.limit(1)).first()
            return None if found is None else evaluation_record(*found)

    def evaluations(
        self, study: str | StudyRecord, *, status: str | Iterable[str] | None = None, fidelity: str | None = None
    ) -> list[EvaluationRecord]:
        """The study's evaluations in the order they were started, optionally only some statuses/fidelity."""
        wanted = arguments.statuses(status)
        name = _study_name(study)
        with self._session(f"reading evaluations of study {name!r}") as session:
            query = evaluations_query().where(EvaluationRow.study_id == study_row(session, name, self.url).id)
            if wanted is not None:
                query = query.where(EvaluationRow.status.in_(wanted))
            if fidelity is not None:
                query = query.where(EvaluationRow.fidelity == fidelity)
            return [evaluation_record(*found) for found in session.execute(query.order_by(EvaluationRow.id))]

    def reconcile(self, study: str | StudyRecord) -> int:
        """Mark the study's evaluations still `running` (their driver crashed) `failed` with error
        "interrupted"; return how many. Call it when a search resumes, before new work starts."""
        name = _study_name(study)
        with self._session(f"reconciling study {name!r}", write=True) as session:
            study_id = study_row(session, name, self.url).id
            result = session.execute(
                update(EvaluationRow)
                .where(EvaluationRow.study_id == study_id, EvaluationRow.status == "running")
                .values(status="failed", error=INTERRUPTED, finished_at=_now())
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)

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

    # -- internals ------------------------------------------------------------------------------------------
    @contextmanager
    def _session(self, what: str, *, write: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back (nothing kept) when it raises."""
        maker = self._write if write else self._read
        try:
            with maker() as session, session.begin():
                yield session
        except sa_exc.DBAPIError as error:
            detail = one_line(error.orig if error.orig is not None else error)
            raise StorageError(f"database error while {what} in {self.url}: {detail:.300}") from error
        except sa_exc.SQLAlchemyError as error:
            raise StorageError(f"database error while {what} in {self.url}: {one_line(error):.300}") from error

    def _close(
        self, eval_id: int, status: str, *, error: str | None, wall_time_s: Any,
        sweep: list[dict[str, Any]] = (), **values: Any
    ) -> EvaluationRecord:
        arguments.integer(eval_id, "evaluation id")
        seconds = arguments.seconds(wall_time_s)
        with self._session(f"marking evaluation {eval_id} {status}", write=True) as session:
            row = session.get(EvaluationRow, eval_id, with_for_update=True)
            if row is None:
                raise StorageError(f"no evaluation with id {eval_id} in {self.url}")
            reopenable = row.status == "running" or (row.status == "failed" and row.error == INTERRUPTED)
            if not reopenable:
                raise StorageError(
                    f"evaluation {eval_id} is already {row.status}; only a running one can be marked {status}"
                )
            row.status = status
            row.error = error
            row.wall_time_s = seconds
            row.finished_at = _now()
            for field, value in values.items():
                setattr(row, field, value)
            session.add_all(SweepPointRow(evaluation_id=eval_id, **p) for p in sweep)
            session.flush()
            found = session.execute(evaluations_query().where(EvaluationRow.id == eval_id)).one()
            return evaluation_record(*found)


def _study_name(study: str | StudyRecord | None, *, optional: bool = False) -> str | None:
    if study is None and optional:
        return None
    if isinstance(study, StudyRecord):
        return study.name
    if isinstance(study, str):
        return arguments.study_name(study)
    raise StorageError(f"study must be a study name or a StudyRecord, got {type(study).__name__}")


def _now() -> datetime:
    return datetime.now(timezone.utc)
