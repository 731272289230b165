"""The CUDA-graph training engine against eager on the GPU: every registered mixer, the same losses.

Run on a CUDA machine: `python3 -m pytest -m gpu tests/proxies/test_graph_gpu.py`.
"""

import pytest
import torch

from proxies import registry
from proxies.budget import get_budget
from proxies.build import build_model
from proxies.feeds import RoundRobin, TableFeed
from proxies.recall import prepare_recall, train_recall
from proxies.train import TrainConfig, train
from search_space.layout import Layout

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
DEV = torch.device("cuda")
STEPS = 30


def _feed(T: int, V: int, seed: int, steps: int = STEPS) -> TableFeed:
    x = torch.randint(0, V, (256, T + 1), generator=torch.Generator().manual_seed(seed))
    return TableFeed.shuffled(x[:, :-1], x[:, 1:], 16, steps, seed, DEV)


def _losses(layout: str, graph: bool, precision: str, feed, budget_over=None) -> list[float]:
    b = get_budget("quick", {"n_layers": 2, "d_model": 128, "n_heads": 2, **(budget_over or {})})
    model = build_model(Layout.parse(layout), b, 64, seed=0).to(DEV)
    cfg = TrainConfig(steps=STEPS, lr=3e-3, precision=precision, graph=graph)
    return train(model, feed, cfg, DEV).losses


@pytest.mark.parametrize("mixer", sorted(registry.load_all()))
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_graph_matches_eager_for_every_mixer(mixer, precision):
    layout = f"{mixer},attn" if mixer != "attn" else "attn*2"
    eager = _losses(layout, False, precision, _feed(100, 64, 1))
    graph = _losses(layout, True, precision, _feed(100, 64, 1))
    assert len(graph) == len(eager) == STEPS
    tol = 2e-3 if precision == "fp32" else 3e-2
    assert graph == pytest.approx(eager, rel=tol, abs=tol)
    assert graph[-1] < graph[0]  # it trained


@pytest.mark.parametrize("mixer", ["gla", "hgrn2", "gdn", "mamba2"])
def test_graph_with_compiled_cores_matches_eager_chunk(mixer):
    """impl=compile: the chunked forms compiled during the engine's eager warm-up, then captured in the graph."""
    eager = _losses(f"{mixer},attn", False, "bf16", _feed(100, 64, 1), {"impl": "chunk"})
    graph = _losses(f"{mixer},attn", True, "bf16", _feed(100, 64, 1), {"impl": "compile"})
    assert graph == pytest.approx(eager, rel=3e-2, abs=3e-2)
    assert graph[-1] < graph[0]


def test_graph_round_robin_of_shapes_matches_eager():
    """The recall suite's round-robin: one graph per task shape, replayed in turn."""
    def feeds():
        return RoundRobin([_feed(40, 64, 2, STEPS // 2), _feed(80, 64, 3, STEPS // 2)])

    eager = _losses("gla,attn", False, "fp32", feeds())
    graph = _losses("gla,attn", True, "fp32", feeds())
    assert graph == pytest.approx(eager, rel=2e-3, abs=2e-3)


def test_graph_early_stop_and_sweep_point_match_eager():
    b = get_budget("quick", {"n_layers": 2, "mqar_steps": 200, "mqar_train_examples": 4000,
                             "mqar_test_examples": 200, "mqar_seq_len": 64, "mqar_kv_pairs": 4,
                             "recall_target": 0.5, "recall_check_every": 50})
    data = prepare_recall(b, 0)
    runs = {}
    for graph in ("off", "on"):
        bb = get_budget("quick", {**{k: getattr(b, k) for k in ("n_layers", "mqar_steps", "mqar_train_examples",
                                                                 "mqar_test_examples", "mqar_seq_len",
                                                                 "mqar_kv_pairs", "recall_target",
                                                                 "recall_check_every")}, "graph": graph})
        runs[graph] = train_recall(Layout.parse("attn*2"), bb, data, DEV, 0, 3e-3)
    assert runs["on"].steps == runs["off"].steps
    assert runs["on"].score == pytest.approx(runs["off"].score, abs=0.05)
