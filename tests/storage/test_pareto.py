"""Pareto fronts: the pure function against a brute-force definition, then the store's snapshots."""

from __future__ import annotations

import math
import random

import pytest

from storage import non_dominated
from tests.storage.helpers import make_study, start


def brute_force(points, directions):
    """Straight from the definition; NaN/None are worse than every number."""

    def rank(value, direction):  # (missing?, value to minimise)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0)
        return (0, value if direction == "minimize" else -value)

    def dominates(a, b):
        ra = [rank(x, d) for x, d in zip(a, directions)]
        rb = [rank(x, d) for x, d in zip(b, directions)]
        return all(x <= y for x, y in zip(ra, rb)) and any(x < y for x, y in zip(ra, rb))

    return [i for i, p in enumerate(points) if not any(dominates(q, p) for j, q in enumerate(points) if j != i)]


@pytest.mark.parametrize("seed", range(60))
def test_matches_brute_force_on_random_points_with_ties(seed):
    rng = random.Random(seed)
    n_objectives = rng.choice([1, 2, 3])
    directions = [rng.choice(["maximize", "minimize"]) for _ in range(n_objectives)]
    values = [0, 1, 2, 3, math.inf, -math.inf, math.nan, None] if seed % 3 == 0 else [0, 1, 2, 3, 4]
    points = [tuple(rng.choice(values) for _ in range(n_objectives)) for _ in range(rng.randint(0, 40))]
    if points:
        points += rng.sample(points, k=min(5, len(points)))  # exact duplicates
    assert non_dominated(points, directions) == brute_force(points, directions)


def test_small_cases():
    both = ["maximize", "minimize"]
    assert non_dominated([], both) == []
    assert non_dominated([(1, 1)], both) == [0]
    assert non_dominated([(1, 1), (1, 1)], both) == [0, 1]  # equal points do not dominate each other
    assert non_dominated([(1, 1), (2, 1), (2, 1)], both) == [1, 2]
    assert non_dominated([(1, 5), (2, 6), (0, 0)], both) == [0, 1, 2]
    assert non_dominated([(1, 5), (1, 6)], both) == [0]  # tie in one objective, better in the other
    assert non_dominated([(math.nan, 0), (0, 0)], both) == [1]
    assert non_dominated([(None, 0), (math.nan, 0)], both) == [0, 1]  # both worst: a tie
    assert non_dominated([(None, 0), (-math.inf, 0)], both) == [1]  # -inf recall still beats missing
    assert non_dominated([(3,), (1,), (3,)], ["MAXIMIZE"]) == [0, 2]


def test_bad_input():
    with pytest.raises(ValueError, match="direction"):
        non_dominated([(1,)], ["up"])
    with pytest.raises(ValueError, match="2 values"):
        non_dominated([(1, 2)], ["maximize"])


# -- snapshots in the store ------------------------------------------------------------------------------------
def test_update_pareto_stores_the_front_of_complete_evaluations(store):
    make_study(store)  # maximize recall, minimize flops
    rng = random.Random(0)
    points = {}
    for i in range(30):
        recall = rng.choice([0.1, 0.2, 0.3, 0.4, math.nan, None])
        flops = rng.choice([1.0, 2.0, 3.0, 4.0])
        metrics = {"flops": flops} if recall is None else {"recall": recall, "flops": flops}
        eid = start(store, seed=i)
        store.finish_evaluation(eid, metrics=metrics)
        points[eid] = (recall, flops)
    # Failed and running evaluations never count, however good they look.
    store.fail_evaluation(start(store, seed=100), error="x")
    start(store, seed=101)

    ids = list(points)
    expected = [ids[i] for i in brute_force(list(points.values()), ["maximize", "minimize"])]
    front = store.update_pareto("demo")
    assert [e.id for e in front] == expected
    assert store.pareto("demo") == front
    assert store.list_studies()[0].n_pareto == len(front)

    # A new evaluation that dominates everything: the stored snapshot stays until the next update.
    best = store.finish_evaluation(start(store, seed=200), metrics={"recall": 1.0, "flops": 0.5})
    assert store.pareto("demo") == front
    assert store.update_pareto("demo") == [best]
    assert store.pareto("demo") == [best]
    assert store.list_studies()[0].n_pareto == 1


def test_pareto_computes_a_snapshot_when_there_is_none(store, raw):
    from sqlalchemy import text

    make_study(store)
    assert store.pareto("demo") == []
    a = store.finish_evaluation(start(store, seed=0), metrics={"recall": 0.5, "flops": 2.0})
    b = store.finish_evaluation(start(store, seed=1), metrics={"recall": 0.5, "flops": 2.0})  # a tie
    store.finish_evaluation(start(store, seed=2), metrics={"recall": 0.4, "flops": 2.0})
    assert [e.id for e in store.pareto("demo")] == [a.id, b.id]
    with raw.connect() as conn:
        rows = conn.execute(text("SELECT snapshot, evaluation_id FROM hnas_pareto ORDER BY evaluation_id")).all()
    assert rows == [(1, a.id), (1, b.id)]
    store.update_pareto("demo")
    with raw.connect() as conn:
        assert conn.execute(text("SELECT MAX(snapshot) FROM hnas_pareto")).scalar() == 2


def test_objectives_on_metrics_without_a_column(store):
    make_study(store, objectives=[{"metric": "mqar_512", "direction": "maximize"},
                                  {"metric": "state_bytes", "direction": "minimize"}])
    a = store.finish_evaluation(start(store, seed=0), metrics={"mqar_512": 0.9, "state_bytes": 100})
    store.finish_evaluation(start(store, seed=1), metrics={"mqar_512": 0.8, "state_bytes": 100})
    c = store.finish_evaluation(start(store, seed=2), metrics={"mqar_512": 0.1, "state_bytes": 10})
    assert [e.id for e in store.update_pareto("demo")] == [a.id, c.id]


def test_dominates_with_and_without_a_tolerance():
    from storage.pareto import dominates

    assert dominates((1.0, 2.0), (1.0, 3.0)) and not dominates((1.0, 3.0), (1.0, 3.0))
    assert not dominates((1.0, 2.0), (2.0, 1.0))
    # beats by more than the tolerance in every coordinate, strictly in one
    assert dominates((1.0, 1.0), (2.0, 2.5), tol=(1.0, 1.0)) and not dominates((1.0, 1.0), (2.0, 2.0), tol=(1.0, 1.0))
    assert not dominates((1.0, 1.0), (1.5, 3.0), tol=(1.0, 0.0))
