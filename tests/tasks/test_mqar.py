from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from proxies.tasks.mqar import (
    IGNORE_INDEX,
    MQARConfig,
    heldout_seed,
    make_mqar,
    make_mqar_heldout,
    mqar_accuracy,
    sample_distinct,
)


def _check_examples(cfg: MQARConfig, inputs: torch.Tensor, labels: torch.Tensor) -> None:
    """Every structural promise of MQAR, checked example by example."""
    k, ctx = cfg.num_kv_pairs, cfg.context_len
    key_lo, key_hi = cfg.key_range
    val_lo, val_hi = cfg.value_range
    for x, y in zip(inputs.tolist(), labels.tolist()):
        keys, values = x[0 : 2 * k : 2], x[1 : 2 * k : 2]
        assert all(key_lo <= t < key_hi for t in keys)
        assert all(val_lo <= t < val_hi for t in values)
        assert len(set(keys)) == k and len(set(values)) == k
        for p in range(1, cfg.num_passes):
            assert x[p * 2 * k : (p + 1) * 2 * k] == x[: 2 * k]
        pair = dict(zip(keys, values))
        scored = [i for i, t in enumerate(y) if t != IGNORE_INDEX]
        assert len(scored) == k
        for i in scored:
            assert ctx <= i < cfg.seq_len and (i - ctx) % 2 == 0
            assert x[i] in pair and y[i] == pair[x[i]]
        assert sorted(x[i] for i in scored) == sorted(keys)  # each key queried exactly once


def test_shapes_and_dtypes():
    cfg = MQARConfig()
    inputs, labels = make_mqar(cfg, 32, seed=0)
    assert inputs.shape == labels.shape == (32, 64)
    assert inputs.dtype == labels.dtype == torch.long
    assert int(inputs.min()) >= 0 and int(inputs.max()) < cfg.vocab_size


@pytest.mark.parametrize(
    "cfg",
    [
        MQARConfig(),
        MQARConfig(seq_len=128, num_kv_pairs=16),
        MQARConfig(vocab_size=12, seq_len=16, num_kv_pairs=2, random_non_queries=False),
        MQARConfig(vocab_size=256, seq_len=64, num_kv_pairs=8, num_passes=2, power_a=1.0),
        MQARConfig(vocab_size=20, seq_len=36, num_kv_pairs=9),  # every key token used: Gumbel path for keys
    ],
    ids=lambda c: f"v{c.vocab_size}-t{c.seq_len}-k{c.num_kv_pairs}-p{c.num_passes}",
)
def test_structure(cfg: MQARConfig):
    inputs, labels = make_mqar(cfg, 64, seed=3)
    _check_examples(cfg, inputs, labels)


def test_zoology_docstring_example_layout():
    cfg = MQARConfig(vocab_size=12, seq_len=16, num_kv_pairs=2, random_non_queries=False)
    inputs, labels = make_mqar(cfg, 200, seed=0)
    scored = labels != IGNORE_INDEX
    # without random filler, everything that is neither context nor query is the pad token 0
    filler = torch.ones_like(scored)
    filler[:, : cfg.context_len] = False
    filler &= ~scored
    assert bool((inputs[filler] == 0).all())
    assert bool((inputs[:, : cfg.context_len] != 0).all())


def test_random_non_queries_fills_gaps():
    cfg = MQARConfig(seq_len=256, num_kv_pairs=4)
    inputs, labels = make_mqar(cfg, 64, seed=1)
    filler = labels == IGNORE_INDEX
    filler[:, : cfg.context_len] = False
    assert (inputs[filler] == 0).float().mean() < 0.01  # tokens drawn from the whole vocabulary
    assert inputs[filler].unique().numel() > 1000


def test_deterministic_given_seed():
    cfg = MQARConfig(seq_len=128, num_kv_pairs=8)
    a = make_mqar(cfg, 100, seed=7)
    b = make_mqar(cfg, 100, seed=7)
    c = make_mqar(cfg, 100, seed=8)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.inputs, c.inputs)


def test_heldout_uses_another_seed():
    cfg = MQARConfig()
    assert heldout_seed(0) != 0 and heldout_seed(0) == heldout_seed(0) and heldout_seed(0) != heldout_seed(1)
    train = make_mqar(cfg, 200, seed=0)
    test = make_mqar_heldout(cfg, 200, train_seed=0)
    assert torch.equal(test.inputs, make_mqar(cfg, 200, heldout_seed(0)).inputs)
    assert not torch.equal(train.inputs, test.inputs)
    train_ctx = {tuple(r) for r in train.inputs[:, : cfg.context_len].tolist()}
    test_ctx = {tuple(r) for r in test.inputs[:, : cfg.context_len].tolist()}
    assert not train_ctx & test_ctx


def test_gap_probs_are_zoology_power_law():
    cfg = MQARConfig(seq_len=64, num_kv_pairs=4)
    space = (64 - 8) // 2
    i = torch.arange(1, space + 1, dtype=torch.float64)
    expected = 0.01 * i ** (0.01 - 1)
    assert torch.allclose(cfg.gap_probs(), expected / expected.sum())
    assert cfg.num_gaps == space


def _gap_counts(cfg: MQARConfig, n: int) -> torch.Tensor:
    _, labels = make_mqar(cfg, n, seed=0)
    pos = (labels != IGNORE_INDEX).nonzero()[:, 1]
    gaps = (pos - cfg.context_len) // 2
    assert int(gaps.min()) >= 0 and int(gaps.max()) < cfg.num_gaps
    return torch.bincount(gaps, minlength=cfg.num_gaps).double()


def test_query_positions_follow_power_law():
    skewed = _gap_counts(MQARConfig(seq_len=256, num_kv_pairs=4, power_a=0.01), 4000)
    uniform = _gap_counts(MQARConfig(seq_len=256, num_kv_pairs=4, power_a=1.0), 4000)
    n = skewed.numel()
    # power_a = 0.01: early gaps are far more common than late ones
    assert skewed[:10].sum() > 5 * skewed[-10:].sum()
    assert (skewed * torch.arange(n)).sum() / skewed.sum() < 0.7 * (uniform * torch.arange(n)).sum() / uniform.sum()
    # power_a = 1: all gaps equally likely (16000 draws over 124 gaps, ~129 each)
    expected = uniform.sum() / n
    chi2 = float(((uniform - expected) ** 2 / expected).sum())
    assert chi2 < n + 6 * math.sqrt(2 * n)


@pytest.mark.parametrize("n,k", [(4095, 4), (4095, 64), (100, 5), (30, 20), (10, 10)])
def test_sample_distinct_uniform(n: int, k: int):
    gen = torch.Generator().manual_seed(0)
    rows = 20_000
    draws = sample_distinct(rows, k, n, gen)
    assert draws.shape == (rows, k)
    assert int(draws.min()) >= 0 and int(draws.max()) < n
    assert bool((draws.sort(dim=1).values.diff(dim=1) > 0).all())
    if n <= 128:  # each value equally likely in the first slot and overall (chi-square, ~6 sigma)
        for sample in (draws[:, 0], draws[:, -1], draws.reshape(-1)):
            counts = torch.bincount(sample, minlength=n).double()
            expected = counts.sum() / n
            chi2 = float(((counts - expected) ** 2 / expected).sum())
            assert chi2 < n + 6 * math.sqrt(2 * n)


def test_impossible_configs_raise():
    with pytest.raises(ValueError, match="too short"):
        MQARConfig(seq_len=16, num_kv_pairs=5)
    with pytest.raises(ValueError, match="too short"):
        MQARConfig(seq_len=64, num_kv_pairs=8, num_passes=4)
    MQARConfig(seq_len=16, num_kv_pairs=4)  # 4k == seq_len is the tightest legal setting
    with pytest.raises(ValueError, match="vocab_size"):
        MQARConfig(vocab_size=8, seq_len=64, num_kv_pairs=4)
    with pytest.raises(ValueError, match="power_a"):
        MQARConfig(power_a=0.0)
    with pytest.raises(ValueError, match="num_kv_pairs"):
        MQARConfig(num_kv_pairs=0)
    with pytest.raises(ValueError, match="seq_len"):
        MQARConfig(seq_len=True)
    with pytest.raises(ValueError, match="num_examples"):
        make_mqar(MQARConfig(), -1, seed=0)


def test_config_is_keyword_only_frozen_and_serialises():
    with pytest.raises(TypeError):
        MQARConfig(8192)  # type: ignore[misc]
    cfg = MQARConfig(seq_len=128, num_kv_pairs=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seq_len = 4  # type: ignore[misc]
    assert MQARConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        MQARConfig.from_dict({"seq_length": 64})


def test_accuracy_counts_only_labelled_positions():
    cfg = MQARConfig(vocab_size=64, seq_len=32, num_kv_pairs=4)
    inputs, labels = make_mqar(cfg, 10, seed=0)
    perfect = torch.nn.functional.one_hot(labels.clamp(min=0), cfg.vocab_size).float()
    assert mqar_accuracy(perfect, labels) == 1.0
    # wrong everywhere that is not scored: still perfect
    noisy = perfect.clone()
    noisy[labels == IGNORE_INDEX] = torch.randn(int((labels == IGNORE_INDEX).sum()), cfg.vocab_size)
    assert mqar_accuracy(noisy, labels) == 1.0
    # wrong on half of the examples' labelled positions
    half = perfect.clone()
    half[:5] = torch.nn.functional.one_hot(torch.zeros_like(labels[:5]), cfg.vocab_size).float()
    assert mqar_accuracy(half, labels) == pytest.approx(0.5)
    preds = labels.clamp(min=0)
    assert mqar_accuracy(preds, labels) == 1.0  # integer predictions are accepted as-is
    with pytest.raises(ValueError, match="do not match"):
        mqar_accuracy(perfect[:, :-1], labels)
    with pytest.raises(ValueError, match="no labelled"):
        mqar_accuracy(perfect, torch.full_like(labels, IGNORE_INDEX))


def test_large_batch_is_vectorised_and_quick():
    import time

    start = time.perf_counter()
    inputs, _ = make_mqar(MQARConfig(), 20_000, seed=0)
    assert inputs.shape == (20_000, 64)
    assert time.perf_counter() - start < 5.0
