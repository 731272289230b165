"""Trainings side by side (proxies.side_by_side): the same scores as one after another, failures kept per job,
the knob out of the cache key. On CPU the jobs run as threads without streams; the GPU test is
tests/proxies/test_side_by_side_gpu.py."""

import threading

import pytest
import torch

from proxies.budget import BudgetError, get_budget
from proxies.evaluate import evaluate
from proxies.side_by_side import in_turn, side_by_side, width_for
from proxies.sweep import Sweep, SweepFailed, run_sweeps
from proxies.train import NonFiniteLoss

TINY = {"n_layers": 2, "d_model": 16, "n_heads": 2, "chunk_size": 8, "window": 8, "mqar_steps": 12,
        "mqar_train_examples": 256, "mqar_test_examples": 64, "lm_steps": 6, "lm_eval_tokens": 2048,
        "recall_lrs": (1e-3, 3e-3), "recall_shifts": (0, 2), "lm_lrs": (1e-3, 4e-3)}


def _metrics(side: int):
    b = get_budget("smoke", {**TINY, "side_by_side": side})
    return evaluate("gla,attn", b, device="cpu", seed=3)


def test_an_evaluation_side_by_side_scores_what_one_after_another_scores():
    one, many = _metrics(1), _metrics(6)
    assert many.recall == pytest.approx(one.recall, abs=1e-9)
    assert many.perplexity == pytest.approx(one.perplexity, rel=1e-6)
    assert (many.recall_lr, many.recall_token_shift, many.lm_lr) == (one.recall_lr, one.recall_token_shift, one.lm_lr)
    a = [(p["task"], p["lr"], p["token_shift"], p["steps"], p["score"]) for p in one.sweep]
    b = [(p["task"], p["lr"], p["token_shift"], p["steps"], p["score"]) for p in many.sweep]
    assert len(a) == 6 and [x[:4] for x in a] == [x[:4] for x in b]  # same points, same order
    assert [x[4] for x in b] == pytest.approx([x[4] for x in a], rel=1e-6, abs=1e-9)


def test_the_runner_really_runs_jobs_at_once_and_keeps_their_order():
    barrier = threading.Barrier(3, timeout=30)  # would time out if the jobs ran one after another

    def job(i):
        return lambda: (barrier.wait(), i)[1]

    outcomes = side_by_side("cpu", 3)([job(i) for i in range(3)])
    assert [o.value for o in outcomes] == [0, 1, 2] and all(o.error is None for o in outcomes)
    assert width_for("cpu", 0) == 1 and width_for("cpu", 4) == 4 and width_for("cuda", 0) == 32


def _fit(lr, shift):
    if lr > 1e-2:
        raise NonFiniteLoss(f"recall: non-finite training loss nan at step 3 (lr {lr:g})")
    return lr


def test_a_diverged_point_beside_others_is_failed_and_never_wins():
    sweeps = [Sweep("recall", [(1e-3, 0), (1e-1, 0), (3e-3, 2)], _fit, lambda r: (r * 100, 1.0, 5), maximize=True),
              Sweep("lm", [(2e-3, None), (5e-1, None)], _fit, lambda r: (r, r, 5), maximize=False)]
    recall, lm = run_sweeps(sweeps, side_by_side("cpu", 5))
    assert [p.status for p in recall.points] == ["complete", "failed", "complete"]
    assert recall.best_lr == 3e-3 and recall.best_shift == 2 and lm.best_lr == 2e-3
    assert "non-finite" in recall.points[1].error and lm.points[1].status == "failed"
    with pytest.raises(SweepFailed) as info:
        run_sweeps([Sweep("lm", [(1e-1, None), (2e-1, None)], _fit, lambda r: (r, r, 1), maximize=False)],
                   side_by_side("cpu", 2))
    assert len(info.value.points) == 2 and all(p.status == "failed" for p in info.value.points)


def test_any_other_error_is_raised_after_every_job_finished():
    done = []

    def bad():
        raise ValueError("a real bug")

    def good():
        done.append(1)
        return 1.0

    sweep = Sweep("recall", [(1e-3, 0), (2e-3, 0)], lambda lr, _: bad() if lr == 1e-3 else good(),
                  lambda r: (r, r, 1), maximize=True)
    for runner in (in_turn, side_by_side("cpu", 2)):
        with pytest.raises(ValueError, match="a real bug"):
            run_sweeps([sweep], runner)
    assert len(done) == 2


def test_side_by_side_keys_nothing_and_is_checked():
    b = get_budget("quick")
    assert "side_by_side" not in b.key_dict()
    assert get_budget("quick", {"side_by_side": 3}).key_dict() == b.key_dict()
    for bad in ("-1", "x", "33"):
        with pytest.raises(BudgetError, match="side_by_side"):
            get_budget("quick", {"side_by_side": bad})
