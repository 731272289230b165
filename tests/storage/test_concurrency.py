"""Several processes (Ray workers, parallel drivers) writing into one database at once."""

from __future__ import annotations

import multiprocessing
import queue

from sqlalchemy import text

from tests.storage.helpers import write_worker

N_PROCESSES = 2
N_EVALUATIONS = 60  # per process


def test_processes_write_concurrently_without_locking_errors(db_url, raw):
    # A fresh database: the processes also race to create the tables, the study and the candidates.
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(N_PROCESSES)
    errors = ctx.Queue()
    workers = [
        ctx.Process(target=write_worker, args=(db_url, w, N_EVALUATIONS, barrier, errors))
        for w in range(N_PROCESSES)
    ]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=240)
    reported = []
    while True:
        try:
            reported.append(errors.get(timeout=0.5))
        except queue.Empty:
            break
    assert reported == []
    assert [p.exitcode for p in workers] == [0] * N_PROCESSES

    with raw.connect() as conn:
        count = lambda sql: conn.execute(text(sql)).scalar()  # noqa: E731
        assert count("SELECT COUNT(*) FROM hnas_studies") == 1
        assert count("SELECT COUNT(*) FROM hnas_candidates") == 3
        assert count("SELECT COUNT(*) FROM hnas_evaluations") == N_PROCESSES * N_EVALUATIONS
        assert count("SELECT COUNT(*) FROM hnas_evaluations WHERE status = 'running'") == 0
        assert count("SELECT COUNT(*) FROM hnas_meta") == 1
        # Each update_pareto took its own snapshot number (no two merged into one).
        snapshots = conn.execute(text("SELECT DISTINCT snapshot FROM hnas_pareto ORDER BY snapshot")).scalars().all()
        assert snapshots == list(range(1, N_PROCESSES * (N_EVALUATIONS // 10) + 1))
