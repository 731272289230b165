"""Selective copying, after MAD (arXiv 2403.17844; the task comes from the Mamba paper, arXiv 2312.00752):
``num_tokens`` data tokens scattered among blanks must be written out, in order, after a copy token.

One example (``vocab_size=8, num_tokens=3, seq_len=10``, blank 0, copy token 9)::

    position  0  1  2  3  4  5  6  7  8  9
    inputs    0  5  0  2  0  7  9  0  0  0
    labels    .  .  .  .  .  .  5  2  7  .      (. = -100, not scored)

* The first ``seq_len - num_tokens - 1`` positions hold the data tokens (uniform from ``[1, vocab_size)``, with
  repetition, as in MAD) at distinct random positions, in order, and blanks (token 0) elsewhere.
* Then comes ``copy_token`` and blanks. The output at the copy token is the first data token, the output at
  each following blank the next one (MAD's alignment: the model writes from memory, with no teacher forcing).
  Only those ``num_tokens`` positions are labelled; everything else is -100.

Harder settings: more tokens to copy, longer sequences (MAD: up to 96 tokens in 1024 positions).
Generation is vectorised over examples and deterministic given the seed (one CPU ``torch.Generator``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .mqar import IGNORE_INDEX, PAD_TOKEN, MQARData, sample_distinct


@dataclass(frozen=True, kw_only=True)
class SelectiveCopyConfig:
    vocab_size: int = 16  # data tokens [1, vocab_size); 0 is the blank
    seq_len: int = 256
    num_tokens: int = 16
    copy_token: int = 16  # any token outside [0, vocab_size)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "num_tokens", "copy_token"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"selective copy: {name} must be a positive integer, got {value!r}")
        if self.vocab_size < 2:
            raise ValueError("selective copy: vocab_size must be at least 2 (one data token besides the blank)")
        if self.copy_token < self.vocab_size:
            raise ValueError(f"selective copy: copy_token {self.copy_token} collides with data tokens "
                             f"[1, {self.vocab_size})")
        if self.seq_len < 2 * self.num_tokens + 1:
            raise ValueError(f"selective copy: seq_len={self.seq_len} is too short to copy {self.num_tokens} "
                             f"tokens; needs at least {2 * self.num_tokens + 1}")

    @property
    def region(self) -> int:
        """Positions before the copy token."""
        return self.seq_len - self.num_tokens - 1

    @property
    def total_vocab(self) -> int:
        return self.copy_token + 1


def make_selective_copy(cfg: SelectiveCopyConfig, num_examples: int, seed: int) -> MQARData:
    """``num_examples`` examples as ``(inputs, labels)``, both ``(N, seq_len)`` int64."""
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 0:
        raise ValueError(f"selective copy: num_examples must be a non-negative integer, got {num_examples!r}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    n, m, r = num_examples, cfg.num_tokens, cfg.region
    tokens = torch.randint(1, cfg.vocab_size, (n, m), generator=gen)  # (N, m)
    positions = sample_distinct(n, m, r, gen).sort(dim=1).values  # (N, m) increasing
    inputs = torch.full((n, cfg.seq_len), PAD_TOKEN, dtype=torch.long)
    inputs.scatter_(1, positions, tokens)
    inputs[:, r] = cfg.copy_token
    labels = torch.full((n, cfg.seq_len), IGNORE_INDEX, dtype=torch.long)
    labels[:, r : r + m] = tokens
    return MQARData(inputs, labels)
