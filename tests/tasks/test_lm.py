from __future__ import annotations

import math

import pytest
import torch

from proxies.tasks.lm import TOKENIZER_NAME, ByteTokenizer, LMData, bits_per_byte, perplexity_from_loss


def _two_part_text() -> str:
    """95 lines of 'x' then 5 lines of 'y': the 5% validation tail is exactly the 'y' lines."""
    return ("x" * 99 + "\n") * 95 + ("y" * 99 + "\n") * 5


def test_byte_tokenizer_round_trip():
    tok = ByteTokenizer()
    assert tok.name == TOKENIZER_NAME == "bytes-utf8" and tok.vocab_size == 256
    for text in ("hello world\n", "héllo — 世界 🙂", ""):
        ids = tok.encode(text)
        assert ids.dtype == torch.uint8 and ids.numel() == len(text.encode("utf-8"))
        assert tok.decode(ids) == text
        assert tok.decode(ids.tolist()) == text
    assert tok.decode([0xE4, 0xB8]) == "\ufffd"  # a cut multi-byte character decodes, it does not raise


def test_split_is_a_disjoint_contiguous_tail_on_a_line_start():
    data = LMData(_two_part_text(), seq_len=16)
    tok = data.tokenizer
    assert data.split_index == 9500
    assert data.train.numel() + data.val.numel() == 10_000
    assert set(tok.decode(data.train)) == {"x", "\n"} and set(tok.decode(data.val)) == {"y", "\n"}
    # the cut moves forward to the next line start
    shifted = LMData("ab\n" * 10 + "c" * 7 + "\n" + "d\n" * 5, seq_len=2, val_fraction=0.3)
    assert shifted.tokenizer.decode(shifted.val).startswith(("c", "d"))
    assert shifted.tokenizer.decode(shifted.train[-1:]) == "\n"


def test_train_windows_random_contiguous_and_seeded():
    text = "".join(f"line {i:05d}\n" for i in range(2000))
    data = LMData(text, seq_len=32)
    train_text = data.tokenizer.decode(data.train)
    gen = torch.Generator().manual_seed(0)
    batch = data.sample(8, gen)
    assert batch.shape == (8, 33) and batch.dtype == torch.long
    for row in batch:
        assert data.tokenizer.decode(row) in train_text
    again = data.sample(8, torch.Generator().manual_seed(0))
    assert torch.equal(batch, again)
    assert not torch.equal(batch, data.sample(8, gen))
    batches = list(data.train_batches(4, torch.Generator().manual_seed(1), num_batches=3))
    assert len(batches) == 3 and all(b.shape == (4, 33) for b in batches)


def test_train_and_validation_windows_never_mix():
    data = LMData(_two_part_text(), seq_len=16)
    gen = torch.Generator().manual_seed(0)
    for batch in data.train_batches(64, gen, num_batches=20):
        assert not bool((batch == ord("y")).any())
    for batch in data.val_batches(7):
        assert not bool((batch == ord("x")).any())


def test_validation_windows_are_fixed_and_cover_every_target_once():
    data = LMData(_two_part_text(), seq_len=16)
    windows = torch.cat(list(data.val_batches(7)))
    assert windows.shape == (data.num_val_windows, 17)
    assert data.num_val_windows == (500 - 1) // 16
    assert torch.equal(windows[:-1, -1], windows[1:, 0])  # stride T: neighbours share only a boundary token
    targets = windows[:, 1:].reshape(-1)
    assert torch.equal(targets, data.val[1 : 1 + targets.numel()].long())
    assert torch.equal(windows, torch.cat(list(data.val_batches(100))))  # same windows whatever the batch size
    some = torch.cat(list(data.val_batches(4, max_windows=5)))
    assert some.shape == (5, 17)
    assert data.val_starts(5)[0] == 0 and data.val_starts(5)[-1] == (data.num_val_windows - 1) * 16


def test_lm_data_errors():
    with pytest.raises(ValueError, match="validation split has"):
        LMData("short text\n" * 10, seq_len=64)
    with pytest.raises(ValueError, match="val_fraction"):
        LMData(_two_part_text(), seq_len=8, val_fraction=1.0)


def test_metrics():
    assert perplexity_from_loss(0.0) == 1.0
    assert perplexity_from_loss(math.log(10.0)) == pytest.approx(10.0)
    assert perplexity_from_loss(1e6) == math.inf
    assert bits_per_byte(math.log(2.0)) == pytest.approx(1.0)
    assert bits_per_byte(math.log(256.0)) == pytest.approx(8.0)  # uniform over bytes


def test_real_corpus_split(corpus_cache):
    from proxies.tasks.corpus import load_corpus

    data = LMData(load_corpus("shakespeare", cache_dir=corpus_cache), seq_len=256)
    total = data.train.numel() + data.val.numel()
    assert 0.049 < data.val.numel() / total < 0.051
    assert data.num_val_windows > 900
    assert data.sample(2, torch.Generator().manual_seed(0)).shape == (2, 257)
