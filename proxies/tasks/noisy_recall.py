"""Noisy in-context recall, after MAD (Poli et al., "Mechanistic Design and Scaling of Hybrid Architectures",
arXiv 2403.17844): key-value pairs whose keys come back later in the same sequence, interleaved with pairs of
noise tokens the model must learn to ignore.

One example (``vocab_size=16, num_keys=2, seq_len=12``; keys ``[1, 8)``, values ``[8, 16)``, noise ``[16, 20)``)::

    slot        0       1       2       3       4       5
    inputs    3  9   17 16    5 12    3  9   18 19    5 12
    labels    .  .    .  .    .  .    9  .    .  .   12  .      (. = -100, not scored)

* The sequence is ``seq_len // 2`` slots of two tokens (an odd ``seq_len`` ends with one pad token).
* Each example draws ``num_keys`` distinct keys from ``[1, vocab_size // 2)`` and a distinct value for each
  from ``[vocab_size // 2, vocab_size)``; the mapping is fixed within the example and fresh across examples.
* Each slot is, with probability ``frac_noise``, two tokens drawn uniformly from the noise vocabulary
  ``[vocab_size, vocab_size + noise_vocab)``; otherwise it is a key (uniform among the example's keys) and its
  value. The first slot is never noise, and the last slot repeats the first slot's key, so every example has
  at least one scored position.
* Labels are next-token targets, MAD's multi-query form: the label at a key's position is its value if that
  key already appeared in an earlier (non-noise) slot of the example; every other label is -100. The first
  occurrence of a key cannot be predicted and is not scored; noise is never scored.

Harder settings: more noise (MAD's grid goes to ``frac_noise=0.8``), more keys, longer sequences.
Generation is vectorised over examples and deterministic given the seed (one CPU ``torch.Generator``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .mqar import IGNORE_INDEX, PAD_TOKEN, MQARData, sample_distinct


@dataclass(frozen=True, kw_only=True)
class NoisyRecallConfig:
    vocab_size: int = 32  # data tokens: keys [1, V/2), values [V/2, V); 0 is pad
    seq_len: int = 128
    num_keys: int = 8
    frac_noise: float = 0.4
    noise_vocab: int = 16  # noise tokens [V, V + noise_vocab)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "num_keys", "noise_vocab"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"noisy recall: {name} must be a positive integer, got {value!r}")
        f = self.frac_noise
        if not isinstance(f, (int, float)) or not math.isfinite(f) or not 0 <= f < 1:
            raise ValueError(f"noisy recall: frac_noise must be in [0, 1), got {f!r}")
        if self.num_slots < 2:
            raise ValueError(f"noisy recall: seq_len={self.seq_len} leaves fewer than 2 key-value slots")
        if self.vocab_size // 2 - 1 < self.num_keys or self.vocab_size - self.vocab_size // 2 < self.num_keys:
            raise ValueError(
                f"noisy recall: vocab_size={self.vocab_size} has too few key/value tokens for num_keys="
                f"{self.num_keys}; needs vocab_size >= {2 * self.num_keys + 2}"
            )

    @property
    def num_slots(self) -> int:
        return self.seq_len // 2

    @property
    def total_vocab(self) -> int:
        """Tokens a model must embed: data tokens and noise tokens."""
        return self.vocab_size + self.noise_vocab


def make_noisy_recall(cfg: NoisyRecallConfig, num_examples: int, seed: int) -> MQARData:
    """``num_examples`` examples as ``(inputs, labels)``, both ``(N, seq_len)`` int64."""
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 0:
        raise ValueError(f"noisy recall: num_examples must be a non-negative integer, got {num_examples!r}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    n, k, p, v = num_examples, cfg.num_keys, cfg.num_slots, cfg.vocab_size
    keys = sample_distinct(n, k, v // 2 - 1, gen) + 1  # (N, k)
    values = sample_distinct(n, k, v - v // 2, gen) + v // 2  # (N, k)
    which = torch.randint(0, k, (n, p), generator=gen)  # (N, P) which key each slot holds
    which[:, -1] = which[:, 0]
    noise = torch.rand(n, p, generator=gen) < cfg.frac_noise  # (N, P)
    noise[:, 0] = False
    noise[:, -1] = False
    noise_tokens = torch.randint(v, v + cfg.noise_vocab, (n, p, 2), generator=gen)

    key_tok, val_tok = keys.gather(1, which), values.gather(1, which)  # (N, P)
    pairs = torch.stack([key_tok, val_tok], dim=2)  # (N, P, 2)
    pairs[noise] = noise_tokens[noise]
    inputs = torch.full((n, cfg.seq_len), PAD_TOKEN, dtype=torch.long)
    inputs[:, : 2 * p] = pairs.reshape(n, 2 * p)

    # a slot is scored when its key was shown in an earlier non-noise slot
    shown = torch.nn.functional.one_hot(which, k) * (~noise).unsqueeze(-1).long()  # (N, P, k)
    before = shown.cumsum(dim=1) - shown  # occurrences strictly before each slot
    scored = (before.gather(2, which.unsqueeze(-1)).squeeze(-1) > 0) & ~noise  # (N, P)
    slot_labels = torch.where(scored, val_tok, torch.full_like(val_tok, IGNORE_INDEX))
    labels = torch.full((n, cfg.seq_len), IGNORE_INDEX, dtype=torch.long)
    labels[:, 0 : 2 * p : 2] = slot_labels
    return MQARData(inputs, labels)
