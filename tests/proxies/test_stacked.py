"""The stacked engine (`proxies.stacked`): K points trained as one model with stacked weights are the same K
trainings as `proxies.train` runs one by one (losses, weights, evaluation), for every mixer; masks, freezing,
early stops and divergences act on their point alone."""

import pytest
import torch

from proxies import registry
from proxies.budget import get_budget
from proxies.build import build_model
from proxies.feeds import TableFeed
from proxies.ops import stacking
from proxies.stacked import StackedModel, eval_stacked, train_stacked
from proxies.train import TrainConfig, chunks, eval_batches, train
from search_space.layout import Layout

CPU = torch.device("cpu")
LRS = [1e-3, 3e-3, 1e-2]
STEPS = 10


def _data(seed=0):
    return torch.randint(0, 32, (256, 20), generator=torch.Generator().manual_seed(seed))


def _feed(x):
    return TableFeed.shuffled(x[:, :-1], x[:, 1:], 16, STEPS, 0, CPU)


def _model(layout, **over):
    return build_model(Layout.parse(layout), get_budget("smoke", over), 32, 0)


@pytest.mark.parametrize("mixer", sorted(registry.load_all()))
def test_stacked_points_train_as_separate_runs(mixer):
    x = _data()
    layout = f"{mixer},attn"
    separate = []
    for lr in LRS:
        m = _model(layout)
        with stacking():  # attention by the stacked models' formula, so that the runs agree to float reordering
            separate.append((train(m, _feed(x), TrainConfig(steps=STEPS, lr=lr, precision="fp32"), CPU).losses, m))
    stacked = StackedModel(_model(layout), len(LRS))
    res = train_stacked(stacked, _feed(x), TrainConfig(steps=STEPS, lr=0.0, precision="fp32"), LRS, CPU)
    assert res.steps == [STEPS] * 3 and res.errors == [None] * 3
    for i, (losses, m) in enumerate(separate):
        assert res.losses[i] == pytest.approx(losses, rel=1e-5, abs=1e-5)
        for name, p in m.named_parameters():
            torch.testing.assert_close(stacked.point(i).get_parameter(name), p, rtol=1e-4, atol=1e-5)
    assert res.losses[2][-1] != pytest.approx(res.losses[0][-1], abs=1e-6)  # the rates really differ
    batches = list(chunks(x[:64, :-1], x[:64, 1:], 32))
    for i, (_, m) in enumerate(separate):
        nll, count, correct = eval_batches(m, batches, CPU, "fp32")
        got = eval_stacked(stacked, batches, CPU, "fp32")[i]
        assert got[1] == count and got[2] == correct and got[0] == pytest.approx(nll, rel=1e-5)


def test_masked_taps_are_the_narrower_shift_and_frozen_points_do_not_move():
    """Points of token-shift width 0 and 2 in one model with a width-2 shift: the width-0 point's shift taps stay
    zero (its masks), which is the model without a shift; a point frozen by its check keeps its weights."""
    x = _data(1)
    plain = _model("gla,attn")
    losses0 = train(plain, _feed(x), TrainConfig(steps=STEPS, lr=3e-3, precision="fp32"), CPU).losses
    shifted = _model("gla,attn", token_shift=2)
    losses2 = train(shifted, _feed(x), TrainConfig(steps=STEPS, lr=3e-3, precision="fp32"), CPU).losses
    stacked = StackedModel(_model("gla,attn", token_shift=2), 2)
    masks = {f"blocks.{b}.shift.weight": torch.tensor([0.0, 1.0]).view(2, 1, 1) for b in range(2)}
    res = train_stacked(stacked, _feed(x), TrainConfig(steps=STEPS, lr=0.0, precision="fp32"), [3e-3, 3e-3], CPU,
                        masks=masks)
    assert res.losses[0] == pytest.approx(losses0, rel=1e-5, abs=1e-5)
    assert res.losses[1] == pytest.approx(losses2, rel=1e-5, abs=1e-5)
    assert not stacked.point(0).blocks[0].shift.weight.any() and stacked.point(1).blocks[0].shift.weight.any()

    stacked = StackedModel(_model("gla,attn"), 2)
    seen = {}

    def check(done):  # point 1 reaches its goal at step 4
        seen[done] = stacked.point(1).state_dict()
        return [False, done >= 4]

    res = train_stacked(stacked, _feed(x), TrainConfig(steps=STEPS, lr=0.0, precision="fp32"), [3e-3, 3e-3], CPU,
                        check=check, check_every=2)
    assert res.steps == [STEPS, 4] and res.stopped_early == [False, True]
    assert len(res.losses[1]) == 4 and len(res.losses[0]) == STEPS
    for name, p in stacked.point(1).state_dict().items():
        assert torch.equal(p, seen[4][name])
    stacked = StackedModel(_model("gla,attn"), 3)
    res = train_stacked(stacked, _feed(x), TrainConfig(steps=STEPS, lr=0.0, precision="fp32"), [1e-3] * 3, CPU,
                        check=lambda done: [done >= 6, False, False], check_every=2, stop_all=True)
    assert res.steps == [6, 6, 6] and res.stopped_early == [True] * 3


def test_a_diverging_point_fails_alone():
    x = _data(2)
    stacked = StackedModel(_model("gdn,attn"), 2)
    res = train_stacked(stacked, _feed(x), TrainConfig(steps=STEPS, lr=0.0, precision="fp32"), [3e-3, 1e30], CPU)
    assert res.errors[0] is None and "non-finite training loss" in res.errors[1] and "lr 1e+30" in res.errors[1]
    assert all(torch.isfinite(torch.tensor(res.losses[0])))
    assert res.steps[1] < STEPS and len(res.losses[0]) == STEPS
    assert all(torch.isfinite(p).all() for p in stacked.point(0).parameters())


def test_points_never_touch_each_other():
    """A point trains bit for bit the same alone (K = 1) as beside others, at any rate. (Against `proxies.train`
    the rates in float32 arithmetic differ by rounding, which Adam amplifies at high rates over many steps, as
    between the graph and eager engines; the tests above stay where it is not amplified.)"""
    x = _data(3)
    alone = StackedModel(_model("hgrn2,attn"), 1)
    a = train_stacked(alone, _feed(x), TrainConfig(steps=STEPS, lr=0.0, precision="fp32"), [1e-2], CPU)
    beside = StackedModel(_model("hgrn2,attn"), 3)
    b = train_stacked(beside, _feed(x), TrainConfig(steps=STEPS, lr=0.0, precision="fp32"), [1e-3, 1e-2, 5e-2], CPU)
    assert a.losses[0] == b.losses[1]
    for (name, p), q in zip(alone.point(0).named_parameters(), beside.point(1).parameters()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("T, window", [(13, None), (17, 5)])
def test_the_written_out_attention_of_stacked_models_matches_the_reference(T, window):
    from proxies.ops import attention_reference, masked_attention

    g = torch.Generator().manual_seed(T)
    q, k, v = (torch.randn(2, T, 3, 8, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    grads = {}
    for name, fn in (("ref", attention_reference), ("masked", masked_attention)):
        o = fn(q, k, v, window)
        grads[name] = (o, *torch.autograd.grad((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum(),
                                               (q, k, v)))
    for got, want in zip(grads["masked"], grads["ref"]):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("layout", ["attn,gla", "swa,gdn"])
def test_a_stacked_model_does_not_hand_attention_to_sdpa(layout, monkeypatch):
    """vmap-batched SDPA fails in CUDA's memory-efficient backward; stacked models compute attention themselves."""
    model = _model(layout)
    x = _data()[:4, :-1]
    want = model(x)

    def refuse(*a, **k):
        raise AssertionError("SDPA called by a stacked model")

    monkeypatch.setattr("proxies.ops.F.scaled_dot_product_attention", refuse)
    got = StackedModel(model, 2)(x)
    torch.testing.assert_close(got[0], want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got[1], want, rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError, match="SDPA called"):
        model(x)  # the plain model still takes SDPA


def test_a_smaller_last_evaluation_batch_is_filled_up_and_scores_the_same():
    from proxies.train import one_shape

    model = _model("gla,attn")
    x = _data(3)[:71]
    inputs, targets = x[:, :-1], x[:, 1:].clone()
    targets[::3, :5] = -100  # some positions not scored, as in the MQAR task
    shapes = [b[0].shape[0] for b in one_shape(chunks(inputs, targets, 32))]
    assert shapes == [32, 32, 32]  # 71 rows: the last batch of 7 filled up to 32
    whole = eval_batches(model, [(inputs, targets)], CPU, "fp32")
    parts = eval_batches(model, chunks(inputs, targets, 32), CPU, "fp32")
    assert parts[1:] == whole[1:] and parts[0] == pytest.approx(whole[0], rel=1e-6)
    stacked = eval_stacked(StackedModel(model, 2), chunks(inputs, targets, 32), CPU, "fp32")
    assert all(s[1:] == whole[1:] and s[0] == pytest.approx(whole[0], rel=1e-5) for s in stacked)
