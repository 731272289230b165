"""Shared settings and small helpers for the storage tests (importable by spawned worker processes)."""

from __future__ import annotations

import storage

SPACE = {"n_layers": 12, "mixers": ["gdn", "gla", "attn"], "ratio": [0.0, 0.5]}
PROXY = {"steps": 200, "lr": 0.001, "tasks": {"mqar": {"seq": 256, "kv": 16}}}
OBJECTIVES = [{"metric": "recall", "direction": "maximize"}, {"metric": "flops", "direction": "minimize"}]


def make_study(store: storage.Store, name: str = "demo", **changes) -> storage.StudyRecord:
    settings = {"space": SPACE, "proxy": PROXY, "objectives": OBJECTIVES, **changes}
    return store.create_or_resume_study(name, **settings)


def start(store: storage.Store, study: str | None = "demo", layout: str = "(gdn*3,attn)*3", **changes) -> int:
    counts = {"(gdn*3,attn)*3": (12, 3), "gla*8": (8, 0), "gdn,attn,gdn*2": (4, 1)}
    n_layers, n_attention = counts.get(layout, (4, 1))
    args = dict(
        study=study, layout=layout, n_layers=n_layers, n_attention=n_attention, proxy=PROXY, seed=0,
        device="cpu", trial_number=None,
    )
    args.update(changes)
    return store.start_evaluation(**args)


LAYOUTS = ["(gdn*3,attn)*3", "gla*8", "gdn,attn,gdn*2"]


def write_worker(url: str, worker: int, n: int, barrier, errors) -> None:
    """One process of the concurrency test: open the store (racing to create the tables), then start,
    finish and fail evaluations and take Pareto snapshots as fast as it can. Errors go to `errors`."""
    try:
        barrier.wait(timeout=60)
        store = storage.open_store(url)
        make_study(store)  # both processes race to create the same study
        for i in range(n):
            layout = LAYOUTS[i % len(LAYOUTS)]  # shared candidates: racing inserts of one layout
            eid = start(store, layout=layout, seed=worker * 10_000 + i, trial_number=i)
            if i % 7 == 3:
                store.fail_evaluation(eid, error="synthetic failure")
            else:
                store.finish_evaluation(eid, metrics={"recall": (i % 10) / 10, "flops": float(i % 5)},
                                        wall_time_s=0.0)
            if i % 10 == 9:
                store.update_pareto("demo")
            store.lookup(layout=layout, proxy_key=storage.proxy_key(PROXY), seed=i)
        store.close()
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        errors.put(f"worker {worker}: {type(error).__name__}: {error}")
