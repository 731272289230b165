"""Load (issue 16): many processes write evaluations to one study at once, and one of them is killed (SIGKILL)
mid-stream. Every evaluation a writer saw finished is present once, with its metrics; nothing is half-written
(the killed writer's open evaluation is `running` until the study is reconciled, then `failed`).

PostgreSQL: 8 writers (skipped without HNAS_TEST_POSTGRES_URL). SQLite: 2 writers on one file (WAL).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time

import pytest
from sqlalchemy import create_engine, text

import storage
from tests.storage.helpers import LAYOUTS, make_study, start

WRITERS = {"sqlite": 2, "postgresql": 8}
PER_WRITER = 25


def writer(url: str, worker: int, n: int, log_path: str, barrier) -> None:
    """Start and finish `n` evaluations (n < 0: until killed); after each one the store reports finished,
    append its id to `log_path` (flushed to disk), so the parent knows what must survive."""
    store = storage.open_store(url)
    make_study(store, "load")
    barrier.wait(timeout=60)
    with open(log_path, "a") as log:
        i = 0
        while n < 0 or i < n:
            layout = LAYOUTS[i % len(LAYOUTS)]
            eid = start(store, study="load", layout=layout, seed=worker * 100_000 + i, trial_number=i)
            store.finish_evaluation(eid, metrics={"recall": (i % 10) / 10, "flops": float(i), "writer": worker},
                                    wall_time_s=0.01)
            log.write(json.dumps({"id": eid, "writer": worker, "i": i}) + "\n")
            log.flush()
            os.fsync(log.fileno())
            if i % 5 == 4:
                store.update_pareto("load")
            i += 1
    store.close()


def _logged(path) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_writers_with_one_killed_lose_nothing_finished(backend, empty_db, tmp_path):
    url = empty_db(backend)
    storage.open_store(url).close()  # the schema exists before the race (the race itself: test_concurrency)
    n_writers = WRITERS[backend]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n_writers)
    logs = [str(tmp_path / f"writer{w}.log") for w in range(n_writers)]
    victim = n_writers - 1  # writes until it is killed
    procs = [ctx.Process(target=writer, args=(url, w, -1 if w == victim else PER_WRITER, logs[w], barrier))
             for w in range(n_writers)]
    for p in procs:
        p.start()
    deadline = time.time() + 120
    while len(_logged(logs[victim])) < 5 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(procs[victim].pid, signal.SIGKILL)  # mid-stream: between, or inside, its writes
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0] * (n_writers - 1) + [-signal.SIGKILL]

    finished = [entry for path in logs for entry in _logged(path)]
    assert len(finished) >= (n_writers - 1) * PER_WRITER + 5
    store = storage.open_store(url)
    rows = {e.id: e for e in store.evaluations("load")}
    for entry in finished:  # every evaluation a writer saw finished is there, complete, with its own metrics
        e = rows[entry["id"]]
        assert e.status == "complete" and e.metrics["writer"] == entry["writer"]
        assert e.seed == entry["writer"] * 100_000 + entry["i"] and e.recall == (entry["i"] % 10) / 10
    seeds = [e.seed for e in rows.values()]
    assert len(seeds) == len(set(seeds))  # each once
    unlogged = [e for e in rows.values() if e.id not in {x["id"] for x in finished}]
    assert len(unlogged) <= 1  # at most the victim's last one, caught between its commit and its log line
    assert all(e.status == "running" or (e.status == "complete" and e.metrics) for e in unlogged)
    for e in rows.values():  # nothing half-written
        assert e.status in ("complete", "running")
        assert (e.status == "complete") == (e.finished_at is not None and e.recall is not None)
    running = [e for e in rows.values() if e.status == "running"]
    assert len(running) <= 1 and all(e.seed // 100_000 == victim for e in running)
    assert store.reconcile("load") == len(running)
    assert not store.evaluations("load", status="running")
    engine = create_engine(storage.parse_url(url))
    with engine.connect() as conn:
        count = lambda sql: conn.execute(text(sql)).scalar()  # noqa: E731
        assert count("SELECT COUNT(*) FROM hnas_studies") == 1
        assert count("SELECT COUNT(*) FROM hnas_candidates") == len(LAYOUTS)
    engine.dispose()
    assert {e.layout for e in store.pareto("load")} <= set(LAYOUTS)
    store.close()
