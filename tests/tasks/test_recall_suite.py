from __future__ import annotations

import pytest
import torch

from proxies.budget import BudgetError, get_budget
from proxies.tasks.mqar import IGNORE_INDEX
from proxies.tasks.noisy_recall import NoisyRecallConfig, make_noisy_recall
from proxies.tasks.recall_suite import (
    NOISE_VOCAB,
    RecallSuiteError,
    build_suite,
    ladder_levels,
    parse_ladder,
    suite_vocab,
)
from proxies.tasks.selective_copy import SelectiveCopyConfig, make_selective_copy

# -- noisy recall ----------------------------------------------------------------------------------------------


def _check_noisy(cfg: NoisyRecallConfig, x: torch.Tensor, y: torch.Tensor) -> None:
    v = cfg.vocab_size
    for row, lab in zip(x.tolist(), y.tolist()):
        mapping: dict[int, int] = {}
        for s in range(cfg.num_slots):
            a, b = row[2 * s], row[2 * s + 1]
            assert lab[2 * s + 1] == IGNORE_INDEX  # values' own positions are never scored
            if a >= v:  # a noise slot: both tokens noise, nothing scored
                assert v <= b < v + cfg.noise_vocab
                assert lab[2 * s] == IGNORE_INDEX
                continue
            assert 1 <= a < v // 2 and v // 2 <= b < v
            if a in mapping:
                assert mapping[a] == b  # the mapping is fixed within an example
                assert lab[2 * s] == b  # a repeated key is scored with its value
            else:
                assert lab[2 * s] == IGNORE_INDEX  # a first occurrence is not
                mapping[a] = b
        assert len(mapping) <= cfg.num_keys
        assert row[0] < v and row[-2 if cfg.seq_len % 2 == 0 else -3] == row[0]  # last slot repeats the first key
        assert any(t != IGNORE_INDEX for t in lab)
        if cfg.seq_len % 2:
            assert row[-1] == 0 and lab[-1] == IGNORE_INDEX


@pytest.mark.parametrize("cfg", [NoisyRecallConfig(), NoisyRecallConfig(vocab_size=20, seq_len=33, num_keys=9,
                                                                        frac_noise=0.7, noise_vocab=4)])
def test_noisy_recall_structure(cfg):
    x, y = make_noisy_recall(cfg, 64, seed=3)
    assert x.shape == y.shape == (64, cfg.seq_len) and x.dtype == y.dtype == torch.long
    assert int(x.max()) < cfg.total_vocab
    _check_noisy(cfg, x, y)


def test_noisy_recall_is_deterministic_and_noisy():
    cfg = NoisyRecallConfig(seq_len=256, frac_noise=0.5)
    a, b, c = (make_noisy_recall(cfg, 200, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.inputs, c.inputs)
    noise = (a.inputs[:, 0::2] >= cfg.vocab_size).float().mean().item()
    assert 0.4 < noise < 0.6  # about frac_noise of the slots (two of them are never noise)
    assert make_noisy_recall(cfg, 0, seed=0).inputs.shape == (0, 256)


@pytest.mark.parametrize("kw", [dict(frac_noise=1.0), dict(seq_len=3), dict(num_keys=20, vocab_size=32),
                                dict(noise_vocab=0)])
def test_noisy_recall_rejects_bad_configs(kw):
    with pytest.raises(ValueError):
        NoisyRecallConfig(**kw)


# -- selective copying -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [SelectiveCopyConfig(), SelectiveCopyConfig(vocab_size=8, seq_len=7, num_tokens=3,
                                                                            copy_token=9)])
def test_selective_copy_structure(cfg):
    x, y = make_selective_copy(cfg, 50, seed=0)
    assert x.shape == y.shape == (50, cfg.seq_len)
    r, m = cfg.region, cfg.num_tokens
    for row, lab in zip(x.tolist(), y.tolist()):
        data = [t for t in row[:r] if t != 0]
        assert len(data) == m and all(1 <= t < cfg.vocab_size for t in data)
        assert row[r] == cfg.copy_token and all(t == 0 for t in row[r + 1 :])
        assert lab[r : r + m] == data  # written out in order, starting at the copy token
        assert all(t == IGNORE_INDEX for t in lab[:r] + lab[r + m :])  # labels only where scored


def test_selective_copy_is_deterministic():
    cfg = SelectiveCopyConfig()
    a, b, c = (make_selective_copy(cfg, 20, seed=s) for s in (5, 5, 6))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.inputs, c.inputs)


@pytest.mark.parametrize("kw", [dict(seq_len=32, num_tokens=16), dict(copy_token=3), dict(vocab_size=1)])
def test_selective_copy_rejects_bad_configs(kw):
    with pytest.raises(ValueError):
        SelectiveCopyConfig(**kw)


# -- the suite ---------------------------------------------------------------------------------------------------


def test_default_budget_keeps_single_mqar():
    for name in ("smoke", "quick", "standard"):
        assert get_budget(name).recall_suite == "mqar"


@pytest.mark.parametrize("preset", ["smoke", "quick", "standard"])
def test_suite_has_harder_levels_by_construction(preset):
    b = get_budget(preset, {"recall_suite": "ladder"})
    tasks = build_suite(b)
    names = [t.name for t in tasks]
    assert names[-2:] == ["noisy", "selcopy"] and len(set(names)) == len(names)
    mqar = [t.config for t in tasks if t.kind == "mqar"]
    assert (mqar[0].seq_len, mqar[0].num_kv_pairs) == (b.mqar_seq_len, b.mqar_kv_pairs)  # the base setting
    assert len(mqar) == 3  # and two strictly harder ones: longer sequences, more pairs
    for easy, hard in zip(mqar, mqar[1:]):
        assert hard.seq_len > easy.seq_len and hard.num_kv_pairs > easy.num_kv_pairs
    vocab = suite_vocab(b)
    for t in tasks:
        x, y = t.make(8, t.data_seed(0, "test"))
        assert x.shape == (8, t.seq_len) and int(x.max()) < vocab and (y != IGNORE_INDEX).any()
        assert t.data_seed(0, "train") != t.data_seed(0, "test") != t.data_seed(1, "test")


def test_ladder_parsing_and_errors():
    assert parse_ladder("64x4, 128x16") == [(64, 4), (128, 16)]
    b = get_budget("smoke", {"recall_suite": "ladder", "recall_ladder": "24x4,24x4,48x8", "recall_tasks": ""})
    assert ladder_levels(b) == [(24, 4), (48, 8)] and [t.name for t in build_suite(b)] == ["mqar_24x4", "mqar_48x8"]
    with pytest.raises(RecallSuiteError):
        parse_ladder("64by4")
    for bad in ({"recall_ladder": "64x4,16x8"}, {"recall_tasks": "fuzzy"}, {"recall_suite": "zoo"},
                {"recall_noise": 1.5}):
        with pytest.raises(BudgetError):
            get_budget("smoke", {"recall_suite": "ladder", **bad})
    assert suite_vocab(get_budget("smoke")) == 32 + NOISE_VOCAB + 1


def test_evaluate_reports_per_task_scores_and_their_mean():
    from proxies.evaluate import evaluate

    b = get_budget("smoke", {"recall_suite": "ladder", "recall_ladder": "24x4,48x8", "mqar_steps": 4,
                             "mqar_batch": 8, "lm_steps": 2, "lm_batch": 4, "lm_eval_tokens": 256,
                             "mqar_train_examples": 64, "mqar_test_examples": 16, "flops_context": 64})
    m = evaluate("gla,attn", b, seed=0)
    tasks = m.extra["recall_tasks"]
    assert set(tasks) == {t.metric for t in build_suite(b)}
    assert all(0.0 <= v <= 1.0 for v in tasks.values())
    assert m.recall == pytest.approx(sum(tasks.values()) / len(tasks))
