"""Byte-level language-modelling data: tokenizer, train/validation split, windows, and metrics.

Tokenizer ``"bytes-utf8"``: the UTF-8 bytes of the text, vocabulary 256, no special tokens. With it, loss
per token is loss per byte, so ``bits_per_byte(mean_nll)`` compares with models using other tokenizers.

Split (:class:`LMData`): validation is a fixed contiguous tail of the corpus, the last ``val_fraction``
(default 5%) of its bytes, moved forward to start on a line; training is everything before it. The two never
share a byte. For the built-in corpora the tail is other text than training, not a sample of it: for
``shakespeare`` it is (almost exactly) Romeo and Juliet plus Timon of Athens, for ``austen`` the last ~40% of
Persuasion.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch

TOKENIZER_NAME = "bytes-utf8"


class ByteTokenizer:
    """UTF-8 bytes as tokens (``vocab_size == 256``)."""

    name = TOKENIZER_NAME
    vocab_size = 256

    def encode(self, text: str) -> torch.Tensor:
        """``str -> (n_bytes,) uint8`` tensor."""
        data = text.encode("utf-8")
        if not data:
            return torch.empty(0, dtype=torch.uint8)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Token ids (any integer dtype, values 0..255) -> str; invalid UTF-8 becomes U+FFFD."""
        values = ids.reshape(-1).tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return bytes(values).decode("utf-8", errors="replace")


class LMData:
    """A tokenized corpus split into train and validation, served as ``(B, seq_len + 1)`` int64 windows
    (inputs ``w[:, :-1]``, next-token targets ``w[:, 1:]``).

    * :meth:`sample` / :meth:`train_batches`: windows at uniform random offsets inside the train part,
      drawn from the given ``torch.Generator`` (so a seed fixes the whole training stream).
    * :meth:`val_batches`: fixed windows at stride ``seq_len`` over the validation part, so each validation
      target is scored exactly once (neighbouring windows share only their boundary input token);
      ``max_windows`` keeps an evenly spaced, deterministic subset.
    """

    def __init__(
        self,
        text: str | torch.Tensor,
        *,
        seq_len: int,
        val_fraction: float = 0.05,
        tokenizer: ByteTokenizer | None = None,
    ) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.tokenizer = tokenizer or ByteTokenizer()
        tokens = self.tokenizer.encode(text) if isinstance(text, str) else text.reshape(-1)
        self.seq_len = seq_len
        self.split_index = _split_point(tokens, val_fraction)
        self.train = tokens[: self.split_index]
        self.val = tokens[self.split_index :]
        for part, size in (("train", self.train.numel()), ("validation", self.val.numel())):
            if size < seq_len + 1:
                raise ValueError(
                    f"LM {part} split has {size} tokens, fewer than seq_len + 1 = {seq_len + 1}: "
                    "use a longer corpus, a shorter seq_len or another val_fraction"
                )

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name

    @property
    def num_val_windows(self) -> int:
        return (self.val.numel() - 1) // self.seq_len

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """One batch of random training windows, ``(batch_size, seq_len + 1)`` int64."""
        span = self.seq_len + 1
        starts = torch.randint(0, self.train.numel() - span + 1, (batch_size,), generator=generator)
        index = starts[:, None] + torch.arange(span)[None, :]  # (B, T+1)
        return self.train[index].long()

    def train_batches(
        self, batch_size: int, generator: torch.Generator, num_batches: int | None = None
    ) -> Iterator[torch.Tensor]:
        """Random training windows, ``num_batches`` batches (forever when None)."""
        count = 0
        while num_batches is None or count < num_batches:
            yield self.sample(batch_size, generator)
            count += 1

    def val_starts(self, max_windows: int | None = None) -> torch.Tensor:
        """Offsets (into the validation part) of the validation windows, in order."""
        n = self.num_val_windows
        if max_windows is not None and max_windows < n:
            chosen = torch.linspace(0, n - 1, steps=max(1, max_windows)).round().long().unique()
        else:
            chosen = torch.arange(n)
        return chosen * self.seq_len

    def val_batches(self, batch_size: int, max_windows: int | None = None) -> Iterator[torch.Tensor]:
        """Fixed validation windows, ``(b, seq_len + 1)`` int64 batches (the last one may be smaller)."""
        starts = self.val_starts(max_windows)
        offsets = torch.arange(self.seq_len + 1)
        for i in range(0, starts.numel(), batch_size):
            index = starts[i : i + batch_size, None] + offsets[None, :]
            yield self.val[index].long()


def _split_point(tokens: torch.Tensor, val_fraction: float) -> int:
    """Start of the validation tail: the first line start at or after ``cut = (1 - val_fraction) * n``
    (or ``cut`` itself when no line starts within the first half of the tail)."""
    n = tokens.numel()
    cut = int(round(n * (1.0 - val_fraction)))
    newlines = (tokens[max(cut - 1, 0) :] == ord("\n")).nonzero()
    if newlines.numel():
        line_start = max(cut - 1, 0) + int(newlines[0]) + 1
        if line_start - cut <= (n - cut) // 2:  # do not let a missing newline eat the validation tail
            return line_start
    return cut


def perplexity_from_loss(mean_nll_nats: float) -> float:
    """``exp(mean negative log-likelihood per token, in nats)``; ``inf`` when it overflows."""
    try:
        return math.exp(float(mean_nll_nats))
    except OverflowError:
        return math.inf


def bits_per_byte(mean_nll_nats_per_byte: float) -> float:
    """Mean NLL per byte in nats -> bits per byte (for the byte tokenizer, per-token loss is per-byte loss)."""
    return float(mean_nll_nats_per_byte) / math.log(2.0)
