"""The stacked engine on the GPU: its CUDA-graph steps against its eager steps and against the same points trained
one by one as graphs (`proxies.train`), and a stacked evaluation against the one-by-one one.

Run on a CUDA machine: `python3 -m pytest -o addopts="" -m gpu tests/proxies/test_stacked_gpu.py`.
"""

import pytest
import torch

from proxies.budget import get_budget
from proxies.build import build_model
from proxies.evaluate import evaluate
from proxies.feeds import TableFeed
from proxies.stacked import StackedModel, train_stacked
from proxies.train import TrainConfig, train
from search_space.layout import Layout

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
DEV = torch.device("cuda")
STEPS = 30
LRS = [1e-3, 3e-3, 1e-2]


def _feed():
    x = torch.randint(0, 64, (256, 101), generator=torch.Generator().manual_seed(1))
    return TableFeed.shuffled(x[:, :-1], x[:, 1:], 16, STEPS, 0, DEV)


def _model(layout):
    b = get_budget("quick", {"n_layers": 2, "impl": "chunk"})
    return build_model(Layout.parse(layout), b, 64, seed=0).to(DEV)


@pytest.mark.parametrize("layout", ["gla,attn", "gdn,attn", "mamba2,attn", "hgrn2,attn", "attn*2"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_stacked_graph_matches_stacked_eager_and_separate_graphs(layout, precision):
    runs = {}
    for graph in (False, True):
        cfg = TrainConfig(steps=STEPS, lr=0.0, precision=precision, graph=graph)
        runs[graph] = train_stacked(StackedModel(_model(layout), len(LRS)), _feed(), cfg, LRS, DEV).losses
    tol = 2e-3 if precision == "fp32" else 3e-2
    for i, lr in enumerate(LRS):
        assert runs[True][i] == pytest.approx(runs[False][i], rel=tol, abs=tol)
        one = train(_model(layout), _feed(), TrainConfig(steps=STEPS, lr=lr, precision=precision, graph=True), DEV)
        assert runs[True][i] == pytest.approx(one.losses, rel=tol, abs=tol)
    assert runs[True][1][-1] < runs[True][1][0]  # it trained


def test_a_stacked_evaluation_picks_what_the_one_by_one_evaluation_picks():
    over = {"n_layers": 2, "mqar_steps": 300, "lm_steps": 60, "recall_lrs": "1e-3,3e-3", "recall_shifts": "0,2",
            "lm_lrs": "1e-3,3e-3", "precision": "fp32", "recall_stop_sweep": "false", "impl": "chunk"}
    plain = evaluate("gdn,attn", get_budget("quick", over), device="cuda")
    stacked = evaluate("gdn,attn", get_budget("quick", {**over, "stack_sweep": "true"}), device="cuda")
    for a, b in zip(stacked.sweep, plain.sweep):
        assert (a["task"], a["lr"], a["token_shift"], a["status"]) == (b["task"], b["lr"], b["token_shift"], b["status"])
        assert a["loss"] == pytest.approx(b["loss"], rel=2e-2)
    assert stacked.lm_lr == plain.lm_lr
