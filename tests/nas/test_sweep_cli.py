"""The recipe protocol from the CLI: every sweep point stored, the winners in `evaluate --format json`, the sweep
in the cache key, a sweep whose every point diverges stored as failed."""

import json
import math

from proxies.train import NonFiniteLoss
from storage import open_store

TINY = {"n_layers": 2, "d_model": 16, "n_heads": 2, "chunk_size": 8, "window": 8, "mqar_steps": 12,
        "mqar_train_examples": 256, "mqar_test_examples": 64, "lm_steps": 6, "lm_eval_tokens": 2048}


def test_sweep_is_stored_point_by_point_and_evaluate_json_names_the_winners(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    r = cli("evaluate", "attn,gla", "--budget", "smoke", "--db", url, "--format", "json",
            *sum((["--set", f"{k}={v}"] for k, v in TINY.items()), []),
            "--set", "recall_lrs=1e-3,5e-3", "--set", "lm_lrs=2e-3,1e-2")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["recall_lr"] in (1e-3, 5e-3) and out["lm_lr"] in (2e-3, 1e-2)
    assert [(p["task"], p["lr"]) for p in out["sweep"]] == [("recall", 1e-3), ("recall", 5e-3), ("lm", 2e-3),
                                                           ("lm", 1e-2)]
    best = max((p for p in out["sweep"] if p["task"] == "recall"), key=lambda p: p["score"])
    assert out["recall"] == best["score"]
    store = open_store(url)
    (ev,) = _all(store)
    rows = store.sweep_points(ev.id)
    assert [(p["task"], p["lr"], p["status"]) for p in rows] == [("recall", 1e-3, "complete"),
                                                                ("recall", 5e-3, "complete"),
                                                                ("lm", 2e-3, "complete"), ("lm", 1e-2, "complete")]
    assert all(p["steps"] > 0 and math.isfinite(p["score"]) for p in rows)
    again = cli("evaluate", "attn,gla", "--budget", "smoke", "--db", url, "--format", "json",
                *sum((["--set", f"{k}={v}"] for k, v in TINY.items()), []),
                "--set", "recall_lrs=1e-3,5e-3", "--set", "lm_lrs=2e-3,1e-2")
    assert json.loads(again.stdout)["cached"] is True  # the same sweep is the same key
    other = cli("evaluate", "attn,gla", "--budget", "smoke", "--db", url, "--format", "json",
                *sum((["--set", f"{k}={v}"] for k, v in TINY.items()), []), "--set", "recall_lrs=1e-3")
    assert json.loads(other.stdout)["cached"] is False  # another sweep is another key


def _all(store):
    from sqlalchemy import select

    from storage.schema import EvaluationRow

    with store._session("test") as s:
        ids = s.scalars(select(EvaluationRow.id)).all()
    return [store.get_evaluation(i) for i in ids]


def test_a_failed_sweep_stores_its_points(tmp_path, monkeypatch, cli):
    """Every point diverging: exit 1 with the reasons on one line, the evaluation and its points stored failed."""
    import proxies.evaluate

    def diverge(layout, budget, data, device, seed, lr, progress=None, solved_elsewhere=None):
        raise NonFiniteLoss(f"mqar: non-finite training loss nan at step 4 (lr {lr:g})")

    monkeypatch.setattr(proxies.evaluate, "train_recall", diverge)
    url = f"sqlite:///{tmp_path / 'f.db'}"
    r = cli("evaluate", "attn*2", "--budget", "smoke", "--db", url, *sum((["--set", f"{k}={v}"] for k, v in
                                                                          TINY.items()), []),
            "--set", "recall_lrs=1e-3,3e-3")
    assert r.exit_code == 1 and "step 4 (lr 0.001)" in r.stderr and "step 4 (lr 0.003)" in r.stderr
    lines = r.stderr.strip().splitlines()  # progress lines of the LM sweep (it trains beside), then the one error
    assert [line for line in lines if not line.startswith("train ")] == [lines[-1]] and lines[-1].startswith("error:")
    store = open_store(url)
    (ev,) = _all(store)
    assert ev.status == "failed" and "non-finite" in ev.error
    assert [(p["lr"], p["status"]) for p in store.sweep_points(ev.id)] == [(1e-3, "failed"), (3e-3, "failed")]


def test_calibrate_and_pareto_name_the_winning_recipes():
    from types import SimpleNamespace as E

    from nas.calibrate import default_metrics
    from nas.recipes import winning_recipes

    evs = [E(status="complete", fidelity="hi", metrics={"recall_lr": 1e-3, "recall_token_shift": 0, "lm_lr": 2e-3}),
           E(status="complete", fidelity="hi", metrics={"recall_lr": 1e-3, "recall_token_shift": 0, "lm_lr": 4e-3}),
           E(status="complete", fidelity="hi", metrics={"recall_lr": 3e-3, "recall_token_shift": 2, "lm_lr": 2e-3}),
           E(status="failed", fidelity="hi", metrics={}), E(status="complete", fidelity="lo", metrics={})]
    rows = winning_recipes(evs, ["hi", "lo"])
    assert rows[0] == {"level": "hi", "task": "recall", "recipe": "lr 0.001, token shift 0", "evaluations": 2}
    assert {"level": "hi", "task": "lm", "recipe": "lr 0.004", "evaluations": 1} in rows
    assert not [r for r in rows if r["level"] == "lo"]
    # the winners are not per-task recall scores
    assert default_metrics(["recall"], ["recall_lr", "recall_steps", "recall_mqar_64x4", "lm_lr"]) == [
        "recall", "recall_mqar_64x4"]


def test_pareto_over_seeds_shows_the_winning_rates(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = cli("grid", "--study", "g", "--db", url, "--variants", "gla", "--ratios", "pure", "--layers", 2,
            "--budget", "smoke", "--seeds", 2, *sum((["--set", f"{k}={v}"] for k, v in TINY.items() if k != "n_layers"),
                                                    []), "--set", "recall_lrs=1e-3,5e-3")
    assert r.exit_code == 0, r.output
    table = cli("pareto", "--study", "g", "--db", url).stdout
    assert "winning lr" in table and "recall 0.00" in table and "lm 0.01" in table
