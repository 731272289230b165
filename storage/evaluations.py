"""The evaluations half of the store: start, finish, fail, prune, copy, read, look up (the cache) and reconcile.

Statuses: an evaluation starts `running`, and ends `complete` (metrics), `failed` (error text) or
`pruned` (stopped early by the search). `reconcile` turns what a crashed driver left `running` into
`failed` with error "interrupted"; such an evaluation may still be finished by a worker that survived.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update

from storage import arguments
from storage.base import INTERRUPTED, StoreBase
from storage.base import now as _now
from storage.base import study_name as _study_name
from storage.convert import evaluation_record
from storage.errors import StorageError
from storage.jsoncodec import to_db
from storage.keys import proxy_key as make_proxy_key
from storage.queries import SWEEP_FIELDS, candidate_row, evaluations_query, metric_values, study_row, sweep_row
from storage.records import EvaluationRecord, StudyRecord
from storage.schema import DEFAULT_FIDELITY, METRIC_COLUMNS, CandidateRow, EvaluationRow, SweepPointRow

_COPIED = ("candidate_id", "proxy_key", "proxy", "fidelity", "seed", "metrics", "device", "wall_time_s",
           *METRIC_COLUMNS)


class EvaluationMethods(StoreBase):
    """The methods of `storage.store.Store` on evaluations (each one transaction)."""

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

    # -- internals ------------------------------------------------------------------------------------------
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
