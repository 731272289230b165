"""The language-modelling proxy's data: a corpus prepared once per process, batches and validation windows."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterator

import torch

from proxies.tasks.corpus import CorpusError, load_corpus
from proxies.tasks.lm import ByteTokenizer, bits_per_byte, perplexity_from_loss


@dataclass(frozen=True)
class LMCorpus:
    name: str
    tokens: torch.Tensor  # (n,) uint8 byte tokens of the whole corpus
    vocab_size: int = 256
    tokenizer: str = ByteTokenizer.name

    def perplexity(self, loss: float) -> float:
        return perplexity_from_loss(loss)

    def bits_per_byte(self, loss: float) -> float:
        return bits_per_byte(loss)


@functools.lru_cache(maxsize=4)
def prepare_lm(corpus: str) -> LMCorpus:
    return LMCorpus(corpus, ByteTokenizer().encode(load_corpus(corpus)))


def check_lm_corpus(corpus: str, seq_len: int) -> LMCorpus:
    """The prepared corpus, when it holds one training window and one validation window of `seq_len` tokens;
    else `CorpusError` (a user error: the CLI prints one line and exits 2) naming the budget fields."""
    prepared = prepare_lm(corpus)
    try:
        lm_split(prepared, seq_len)
    except ValueError as e:
        detail = " ".join(str(e).split(":")[0].split())
        raise CorpusError(f"budget field corpus = {corpus!r} is too short for lm_seq_len = {seq_len} "
                          f"({prepared.tokens.numel()} byte tokens; {detail}): use a longer corpus or a smaller "
                          "lm_seq_len") from None
    return prepared


@functools.lru_cache(maxsize=8)
def lm_split(corpus: LMCorpus, seq_len: int):
    """The corpus split into training tokens and a held-out validation tail (`proxies.tasks.lm.LMData`)."""
    from proxies.tasks.lm import LMData

    return LMData(corpus.tokens, seq_len=seq_len)


def lm_eval_batches(corpus: LMCorpus, batch: int, seq_len: int, max_tokens: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for w in lm_split(corpus, seq_len).val_batches(batch, max_windows=max(1, max_tokens // seq_len)):
        yield w[:, :-1], w[:, 1:]
