"""The recipe protocol on CPU: feeds, the sweep's best-of rule, early stop, storage of every point, cache keys."""

import json

import pytest
import torch

from nas.driver import proxy_settings
from proxies.budget import BudgetError, get_budget
from proxies.evaluate import evaluate
from proxies.feeds import RoundRobin, TableFeed, WindowFeed, epoch_rows
from proxies.lm_data import lm_split, prepare_lm
from proxies.recall import prepare_recall, train_recall
from proxies.sweep import SweepFailed, run_sweep
from proxies.train import NonFiniteLoss, TrainConfig, train
from search_space.layout import Layout

CPU = torch.device("cpu")
TINY = {"n_layers": 2, "d_model": 16, "n_heads": 2, "chunk_size": 8, "window": 8, "mqar_steps": 12,
        "mqar_train_examples": 256, "mqar_test_examples": 64, "lm_steps": 6, "lm_eval_tokens": 2048}


def test_epoch_rows_are_shuffled_full_batches_epoch_after_epoch():
    rows = epoch_rows(10, 3, 7, seed=1)
    assert rows.shape == (7, 3)
    first = rows[:3].flatten().tolist()  # one epoch: 3 full batches of distinct rows, the tail dropped
    assert len(set(first)) == 9 and all(0 <= r < 10 for r in first)
    assert torch.equal(rows, epoch_rows(10, 3, 7, seed=1)) and not torch.equal(rows, epoch_rows(10, 3, 7, seed=2))
    with pytest.raises(ValueError, match="batch of 11"):
        epoch_rows(10, 11, 1, seed=0)


def test_feeds_index_by_int_and_by_device_counter_alike():
    x = torch.arange(40).view(10, 4)
    feed = TableFeed.shuffled(x, -x, 2, 5, 0, CPU)
    for i in range(5):
        a, b = feed.batch(i)
        c, d = feed.batch(torch.tensor(i))
        assert torch.equal(a, c) and torch.equal(b, d) and torch.equal(b, -a)
    tokens = torch.arange(100, dtype=torch.uint8)
    w = WindowFeed.random(tokens, 3, 8, 4, 0, CPU)
    xb, yb = w.batch(torch.tensor(2))
    assert xb.shape == (3, 8) and torch.equal(xb[:, 1:], yb[:, :-1])  # targets are the next tokens


def test_window_feed_draws_what_lm_data_samples():
    """The staged plan reads the same windows the old per-step sampler drew (the same seed, same stream)."""
    split = lm_split(prepare_lm("shakespeare"), 32)
    feed = WindowFeed.random(split.train, 4, 32, 3, 7, CPU)
    gen = torch.Generator().manual_seed(7)
    for i in range(3):
        w = split.sample(4, gen)
        x, y = feed.batch(i)
        assert torch.equal(x, w[:, :-1]) and torch.equal(y, w[:, 1:])


def test_round_robin_takes_feeds_in_turn():
    rr = RoundRobin([object(), object(), object()])
    assert [rr.feed_of(s) for s in range(5)] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1)]
    with pytest.raises(ValueError):
        RoundRobin([])


def _points(recipes, outcome):
    return run_sweep("recall", recipes, outcome, lambda r: r, maximize=True)


def test_a_diverged_point_is_kept_as_failed_and_never_wins():
    def fit(lr, shift):
        if lr > 1e-2:
            raise NonFiniteLoss(f"mqar: non-finite training loss nan at step 3 (lr {lr:g})")
        return (0.5 if lr == 1e-3 else 0.9, 1.0, 10)

    result = _points([(1e-3, 0), (3e-3, 0), (1.0, 0)], fit)
    assert result.best_lr == 3e-3 and result.best == (0.9, 1.0, 10)
    failed = [p for p in result.points if p.status == "failed"]
    assert len(failed) == 1 and failed[0].lr == 1.0 and "step 3" in failed[0].error and failed[0].score is None


def test_every_point_diverging_fails_with_each_reason():
    def fit(lr, shift):
        raise NonFiniteLoss(f"nan at lr {lr:g}")

    with pytest.raises(SweepFailed) as e:
        _points([(1e-3, 0), (3e-3, 2)], fit)
    assert "nan at lr 0.001" in str(e.value) and "nan at lr 0.003" in str(e.value)
    assert [p.token_shift for p in e.value.points] == [0, 2]


def test_ties_in_accuracy_go_to_the_lower_loss_and_lm_keeps_the_lowest_loss():
    scores = {1e-3: (1.0, 0.2, 5), 3e-3: (1.0, 0.1, 5)}
    assert _points([(1e-3, 0), (3e-3, 0)], lambda lr, s: scores[lr]).best_lr == 3e-3
    lm = run_sweep("lm", [(1e-3, None), (3e-3, None)], lambda lr, s: {1e-3: 2.0, 3e-3: 2.5}[lr],
                   lambda r: (r, r, 6), maximize=False)
    assert lm.best_lr == 1e-3


def test_budget_sweep_knobs_parse_validate_and_key_the_cache():
    b = get_budget("smoke", {"recall_lrs": "1e-3,3e-3", "recall_shifts": "0,2", "lm_lrs": "1e-3/2e-3"})
    assert b.recall_lrs == (1e-3, 3e-3) and b.recall_shifts == (0, 2) and b.lm_lrs == (1e-3, 2e-3)
    assert b.recall_recipes() == [(1e-3, 0), (3e-3, 0), (1e-3, 2), (3e-3, 2)]
    base = get_budget("smoke")
    assert base.recall_recipes() == [(base.mqar_lr, 0)] and base.sweep("lm") == (base.lm_lr,)
    # the default sweep (one point) keeps today's cache key; any sweep changes it
    assert "recall_lrs" not in proxy_settings(base)["budget"]
    assert proxy_settings(b) != proxy_settings(base)
    assert proxy_settings(b)["budget"]["recall_lrs"] == (1e-3, 3e-3)
    assert type(base).from_dict(json.loads(json.dumps(b.to_dict()))) == b  # lists come back as tuples
    for bad, msg in (({"recall_lrs": "1e-3,1e-3"}, "twice"), ({"lm_lrs": "0"}, "lm_lrs"),
                     ({"recall_shifts": "1"}, "recall_shifts"), ({"recall_target": "1.5"}, "recall_target"),
                     ({"graph": "maybe"}, "graph"), ({"recall_lrs": "fast"}, "recall_lrs")):
        with pytest.raises(BudgetError, match=msg):
            get_budget("smoke", bad)


def test_early_stop_stops_when_validation_reaches_the_target():
    b = get_budget("smoke", {**TINY, "mqar_steps": 40, "recall_target": 1e-9, "recall_check_every": 10})
    run = train_recall(Layout.parse("attn*2"), b, prepare_recall(b, 0), CPU, 0, 3e-3)
    assert run.stopped_early and run.steps == 10  # any accuracy reaches a target of ~0 at the first check
    b = get_budget("smoke", {**TINY, "mqar_steps": 40, "recall_target": 1.0, "recall_check_every": 10})
    run = train_recall(Layout.parse("attn*2"), b, prepare_recall(b, 0), CPU, 0, 3e-3)
    assert not run.stopped_early and run.steps == 40


def test_train_checks_on_schedule_and_names_the_task_on_divergence():
    x = torch.randint(0, 16, (64, 9), generator=torch.Generator().manual_seed(0))
    from proxies.build import build_model

    b = get_budget("smoke", TINY)
    model = build_model(Layout.parse("attn"), b, 16, seed=0)
    seen = []
    res = train(model, TableFeed.shuffled(x[:, :-1], x[:, 1:], 8, 7, 0, CPU), TrainConfig(steps=7, lr=1e-3), CPU,
                check=lambda done: seen.append(done) or False, check_every=3)
    assert seen == [3, 6, 7] and res.steps == 7 and len(res.losses) == 7
    with pytest.raises(NonFiniteLoss, match=r"mqar: non-finite training loss .* at step \d+ \(lr 1e\+30\)"):
        train(model, TableFeed.shuffled(x[:, :-1], x[:, 1:], 8, 3, 0, CPU),
              TrainConfig(steps=3, lr=1e30, task="mqar", grad_clip=0.0, warmup_frac=0.0), CPU)


def test_one_point_sweep_is_the_plain_training(tmp_path):
    """Without sweep knobs an evaluation trains each task once at its budget rate: the recall score is the one
    point's score and the winners are the budget's rates."""
    b = get_budget("smoke", TINY)
    m = evaluate("gla,attn", b, seed=3)
    point = train_recall(Layout.parse("gla,attn"), b, prepare_recall(b, 3), CPU, 3, b.mqar_lr)
    assert m.recall == point.score and m.recall_lr == b.mqar_lr and m.lm_lr == b.lm_lr
    assert [p["task"] for p in m.sweep] == ["recall", "lm"] and m.recall_token_shift == 0


def _tiny_recall(target: float):
    b = get_budget("smoke", {**TINY, "recall_target": target, "recall_check_every": 4})
    return b, prepare_recall(b, 0)


def test_a_solved_sweep_stops_every_point_at_its_next_check():
    import threading

    b, data = _tiny_recall(0.99)  # out of reach in 12 steps
    alone = train_recall(Layout.parse("attn*2"), b, data, CPU, 0, 3e-3)
    assert alone.steps == 12 and not alone.stopped_early
    solved = threading.Event()
    solved.set()  # another point of the sweep has reached the target
    stopped = train_recall(Layout.parse("attn*2"), b, data, CPU, 0, 3e-3, solved_elsewhere=solved)
    assert stopped.steps == 4 and stopped.stopped_early


def test_the_point_that_reaches_the_target_tells_the_others():
    import threading

    b, data = _tiny_recall(1e-4)  # reached at the first check
    solved = threading.Event()
    r = train_recall(Layout.parse("attn*2"), b, data, CPU, 0, 3e-3, solved_elsewhere=solved)
    assert r.steps == 4 and r.score >= 1e-4 and solved.is_set()


def test_evaluate_shares_one_event_across_its_recall_points_only_with_recall_stop_sweep(monkeypatch):
    import proxies.evaluate as ev

    seen = []
    real = ev.train_recall

    def spy(*args, **kw):
        seen.append(kw.get("solved_elsewhere"))
        return real(*args, **kw)

    monkeypatch.setattr(ev, "train_recall", spy)
    over = {**TINY, "recall_lrs": (1e-3, 3e-3), "recall_target": 0.99, "side_by_side": 1}
    ev.evaluate("attn*2", get_budget("smoke", {**over, "recall_stop_sweep": True}), device="cpu")
    assert len(seen) == 2 and seen[0] is not None and seen[0] is seen[1]
    seen.clear()
    ev.evaluate("attn*2", get_budget("smoke", over), device="cpu")
    assert seen == [None, None]


def test_recall_stop_sweep_is_in_the_key_only_when_on():
    assert "recall_stop_sweep" not in get_budget("smoke").key_dict()
    assert get_budget("quick").key_dict()["recall_stop_sweep"] is True
    with pytest.raises(BudgetError, match="recall_stop_sweep"):
        get_budget("quick", {"recall_stop_sweep": "maybe"})
