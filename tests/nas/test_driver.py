import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import torch

import proxies.evaluate
from nas.driver import LocalSearch, SearchSettings
from nas.objectives import parse_objectives
from proxies.budget import get_budget
from proxies.train import NonFiniteLoss
from search_space import SearchSpace
from storage import open_store
from tests.nas.conftest import TINY

OVERRIDES = dict(item.split("=", 1) for item in TINY[1::2])


def _settings(study, trials=4, sampler="grid"):
    return SearchSettings(
        study=study, space=SearchSpace(n_layers=2, mixers=("gdn", "gla"), ratios=("pure", "1:1")),
        budget=get_budget("smoke", OVERRIDES), objectives=parse_objectives("recall,perplexity,flops"),
        sampler=sampler, trials=trials,
    )


@pytest.mark.parametrize("exc", [NonFiniteLoss("non-finite training loss nan at step 3"),
                                 torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                 RuntimeError("kernel exploded")])
def test_failed_trials_are_recorded_and_the_search_goes_on(tmp_path, monkeypatch, exc):
    real = proxies.evaluate.evaluate

    def flaky(layout, budget, **kw):
        if "gla" in layout.canonical():
            raise exc
        return real(layout, budget, **kw)

    monkeypatch.setattr(proxies.evaluate, "evaluate", flaky)
    url = f"sqlite:///{tmp_path / 'f.db'}"
    store = open_store(url)
    outcomes = LocalSearch(store, _settings("f")).run()
    assert [o.status for o in outcomes].count("failed") == 2
    failed = store.evaluations("f", status="failed")
    assert len(failed) == 2 and all(e.error for e in failed)
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        assert failed[0].error.startswith("out of GPU memory")
    assert len(store.evaluations("f", status="complete")) == 2
    assert all("gla" not in e.layout for e in store.pareto("f"))


def test_ctrl_c_leaves_a_consistent_database_and_the_same_command_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    cmd = [sys.executable, "-m", "nas.cli", "search", "--study", "c", "--db", url, "--trials", "2", "--layers", "2",
           "--sampler", "grid", "--ratios", "pure,1:1", "--set", "mqar_steps=200", "--set", "lm_steps=4",
           "--set", "flops_context=64", "--set", "lm_eval_tokens=512"]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    store = open_store(url)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until a trial is under way
        try:
            if store.evaluations("c", status="running"):
                break
        except Exception:
            pass
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume" in err and "Traceback" not in err
    assert not store.evaluations("c", status="running")
    assert [e.error for e in store.evaluations("c", status="failed")] == ["interrupted"]
    study = optuna.load_study(study_name="c", storage=url)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    # the same command, with a cheaper budget it would refuse; so run it as it was, to the end
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    complete = store.evaluations("c", status="complete")
    assert len(complete) == 2 and len({e.layout for e in complete}) == 2
