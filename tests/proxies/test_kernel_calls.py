"""The kernel calls of a budget's proxies, generated from the presets (the device check's cases)."""

import torch

from proxies import ops, registry
from proxies.budget import get_budget
from proxies.kernel_calls import batch_shapes, kernel_calls


def test_batch_shapes_are_the_loops_shapes():
    b = get_budget("quick")
    shapes = batch_shapes(b, lm_windows=100)
    assert shapes[(64, 128)] == "recall training" and shapes[(128, 128)].startswith("recall")
    assert shapes[(32, 512)] == "lm training" and shapes[(32, 512)]
    # smaller last batches are filled up to the full batch (proxies.train.one_shape): no shape of their own
    assert (1000 % 128, 128) not in shapes and (100 % 32, 512) not in shapes
    assert set(shapes) == {(64, 128), (128, 128), (32, 512)}
    ladder = batch_shapes(get_budget("smoke", {"recall_suite": "ladder"}))
    assert {T for _, T in ladder} >= {24, 48, 96, 64}  # every task's length, and the LM's


def test_every_linear_mixer_at_every_loop_and_the_routing_rule():
    b = get_budget("smoke")
    calls = kernel_calls(b, lm_windows=5)
    linear = {n for n, s in registry.load_all().items() if s.linear and n != "swa"}
    assert {m for c in calls for m in c["mixers"]} == linear
    for c in calls:
        assert c["triton"] == ops.triton_shapes_ok(c["K"], c["V"], c["op"] == "gla" and c["gate"] == "head")
        assert c["B"] in {32, 64, 16, 5} and c["T"] in {24, 64}
    gdn = [c for c in calls if c["mixers"] == ["gdn"]]
    assert all(c["op"] == "delta_rule" and c["gate"] == "head" and (c["H"], c["K"]) == (2, 16) for c in gdn)
    assert not any(c["triton"] for c in calls if "hgrn" in c["mixers"])  # heads of size 1: the chunk form
    quick = kernel_calls(get_budget("quick"), mixers=["gla"], lm_windows=256)
    assert {(c["B"], c["T"], c["H"], c["K"], c["V"], c["gate"]) for c in quick} == {
        (64, 128, 2, 32, 64, "channel"), (128, 128, 2, 32, 64, "channel"), (32, 512, 2, 32, 64, "channel")}


def test_recording_returns_zeros_only_inside_the_context():
    q = torch.randn(2, 5, 3, 4)
    v = torch.randn(2, 5, 3, 6)
    calls = []
    with ops.recording_calls(calls):
        out = ops.gla(q, q, v, torch.zeros(2, 5, 3))
    assert torch.equal(out, torch.zeros_like(v)) and calls[0]["gate"] == "head" and calls[0]["V"] == 6
    assert not torch.equal(ops.gla(q, q, v, torch.zeros(2, 5, 3)), torch.zeros_like(v)) and len(calls) == 1
