"""Multi-query associative recall (MQAR), as defined by Zoology (Arora et al., arXiv 2312.04927).

One example of length ``seq_len`` (here ``vocab_size=12, num_kv_pairs=2, seq_len=16``,
``random_non_queries=False``)::

    position  0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
    inputs    2  8  4  7  0  0  4  0  0  0  0  0  2  0  0  0
    labels    .  .  .  .  .  .  7  .  .  .  .  .  8  .  .  .      (. = -100, not scored)

* Token 0 is reserved (padding / filler); keys are drawn from ``[1, vocab_size // 2)`` and values from
  ``[vocab_size // 2, vocab_size)``; within one example keys are distinct and values are distinct.
* The ``num_kv_pairs`` key-value pairs come first (``k v k v ...``), repeated ``num_passes`` times
  (``num_passes > 1`` is the JRT variant, arXiv 2407.05483; Zoology's default is 1).
* Every key is then queried once more, in a random order, at position ``context_len + 2 * gap``; the gaps
  are distinct and drawn from ``[0, (seq_len - context_len) // 2)`` with Zoology's power law
  ``p(gap) ~ power_a * (gap + 1) ** (power_a - 1)`` (small ``power_a`` puts most queries right after the
  context; ``power_a = 1`` is uniform), sampled without replacement (successive sampling, done here with
  the Gumbel top-k trick).
* Labels are next-token targets: the label *at the query key's position* is the paired value; every
  other label is -100.
* With ``random_non_queries`` every remaining 0 in the inputs is replaced by a uniform token from
  ``[0, vocab_size)`` (as Zoology does; such filler is never scored).

Generation is vectorised over examples (loops only over ``num_kv_pairs`` or over fixed-size row chunks)
and deterministic given the seed: all randomness comes from one CPU ``torch.Generator``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

IGNORE_INDEX = -100
PAD_TOKEN = 0

# Rows per chunk when a (rows, choices) random matrix is needed; fixed so that results depend on the seed only.
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True, kw_only=True)
class MQARConfig:
    """One MQAR setting. Zoology's grid: vocab 8192, (seq_len, num_kv_pairs) from (64, 4) to (512, 64)."""

    vocab_size: int = 8192
    seq_len: int = 64
    num_kv_pairs: int = 4
    power_a: float = 0.01
    random_non_queries: bool = True
    num_passes: int = 1

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "num_kv_pairs", "num_passes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MQAR: {name} must be a positive integer, got {value!r}")
        if not isinstance(self.power_a, (int, float)) or not math.isfinite(self.power_a) or self.power_a <= 0:
            raise ValueError(f"MQAR: power_a must be a positive finite number, got {self.power_a!r}")
        k = self.num_kv_pairs
        need = self.context_len + 2 * k
        if need > self.seq_len:
            raise ValueError(
                f"MQAR: seq_len={self.seq_len} is too short for num_kv_pairs={k} and num_passes={self.num_passes}: "
                f"needs at least 2*{k}*{self.num_passes} (pairs) + 2*{k} (queries) = {need} positions"
            )
        num_keys = self.vocab_size // 2 - 1
        num_values = self.vocab_size - self.vocab_size // 2
        if num_keys < k or num_values < k:
            raise ValueError(
                f"MQAR: vocab_size={self.vocab_size} leaves {num_keys} key tokens [1, {self.vocab_size // 2}) and "
                f"{num_values} value tokens; num_kv_pairs={k} distinct keys need vocab_size >= {2 * k + 2}"
            )

    @property
    def context_len(self) -> int:
        """Positions taken by the key-value pairs (all passes)."""
        return 2 * self.num_kv_pairs * self.num_passes

    @property
    def num_gaps(self) -> int:
        """Number of possible query slots after the context (queries sit on even offsets)."""
        return (self.seq_len - self.context_len) // 2

    @property
    def key_range(self) -> tuple[int, int]:
        """Half-open token range of keys."""
        return 1, self.vocab_size // 2

    @property
    def value_range(self) -> tuple[int, int]:
        """Half-open token range of values."""
        return self.vocab_size // 2, self.vocab_size

    def gap_probs(self) -> torch.Tensor:
        """Zoology's power law over gaps ``0 .. num_gaps-1`` (float64, sums to 1)."""
        i = torch.arange(1, self.num_gaps + 1, dtype=torch.float64)
        p = self.power_a * i ** (self.power_a - 1)
        return p / p.sum()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MQARConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"MQAR: unknown config keys {unknown}; valid keys are {sorted(known)}")
        return cls(**data)


class MQARData(NamedTuple):
    inputs: torch.Tensor  # (N, seq_len) int64
    labels: torch.Tensor  # (N, seq_len) int64, IGNORE_INDEX where not scored


def _floyd_distinct(num_rows: int, k: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """(num_rows, k) distinct uniform draws from [0, n) in random order (Floyd's algorithm, vectorised over rows)."""
    chosen = torch.empty(num_rows, k, dtype=torch.long)
    for i, j in enumerate(range(n - k, n)):
        t = torch.randint(0, j + 1, (num_rows,), generator=gen)
        taken = (chosen[:, :i] == t[:, None]).any(dim=1)
        chosen[:, i] = torch.where(taken, torch.full_like(t, j), t)
    order = torch.rand(num_rows, k, generator=gen).argsort(dim=1)  # Floyd's order is biased; shuffle it
    return chosen.gather(1, order)


def _gumbel_top_k(num_rows: int, k: int, log_weights: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(num_rows, k) distinct draws from [0, n) by successive sampling with the given weights (Gumbel top-k)."""
    n = log_weights.numel()
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n)
    out = []
    for start in range(0, num_rows, rows_per_chunk):
        rows = min(rows_per_chunk, num_rows - start)
        u = torch.rand(rows, n, generator=gen, dtype=torch.float64).clamp_(min=1e-300)
        keys = log_weights[None, :] - torch.log(-torch.log(u))  # log w + Gumbel(0, 1)
        out.append(keys.topk(k, dim=1).indices)
    return torch.cat(out) if out else torch.empty(0, k, dtype=torch.long)


def sample_distinct(
    num_rows: int, k: int, n: int, gen: torch.Generator, probs: torch.Tensor | None = None
) -> torch.Tensor:
    """Draw ``k`` distinct integers from ``[0, n)`` per row, in random order: uniformly, or by successive
    sampling proportional to ``probs`` (shape ``(n,)``) when given."""
    if k > n:
        raise ValueError(f"cannot draw {k} distinct values from {n}")
    if probs is None and k * k <= 4 * n:
        return _floyd_distinct(num_rows, k, n, gen)
    log_w = torch.zeros(n, dtype=torch.float64) if probs is None else torch.log(probs.to(torch.float64))
    return _gumbel_top_k(num_rows, k, log_w, gen)


def make_mqar(cfg: MQARConfig, num_examples: int, seed: int) -> MQARData:
    """Generate ``num_examples`` MQAR examples; returns ``(inputs, labels)``, both ``(N, seq_len)`` int64."""
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 0:
        raise ValueError(f"MQAR: num_examples must be a non-negative integer, got {num_examples!r}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    n, k = num_examples, cfg.num_kv_pairs
    key_lo, key_hi = cfg.key_range
    val_lo, val_hi = cfg.value_range

    keys = sample_distinct(n, k, key_hi - key_lo, gen) + key_lo  # (N, k)
    values = sample_distinct(n, k, val_hi - val_lo, gen) + val_lo  # (N, k)
    gaps = sample_distinct(n, k, cfg.num_gaps, gen, probs=cfg.gap_probs())  # (N, k)

    kv = torch.stack([keys, values], dim=2).reshape(n, 2 * k)  # (N, 2k): k v k v ...
    inputs = torch.full((n, cfg.seq_len), PAD_TOKEN, dtype=torch.long)
    inputs[:, : cfg.context_len] = kv.repeat(1, cfg.num_passes)
    query_pos = cfg.context_len + 2 * gaps  # (N, k), always < seq_len
    inputs.scatter_(1, query_pos, keys)
    labels = torch.full((n, cfg.seq_len), IGNORE_INDEX, dtype=torch.long)
    labels.scatter_(1, query_pos, values)

    if cfg.random_non_queries:
        filler = inputs == PAD_TOKEN
        inputs[filler] = torch.randint(0, cfg.vocab_size, (int(filler.sum()),), generator=gen)
    return MQARData(inputs, labels)


def heldout_seed(train_seed: int) -> int:
    """A seed for held-out examples, derived from (and, for any practical seed, different from) the training seed."""
    digest = hashlib.sha256(f"hybrid-nas/mqar/heldout/{int(train_seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def make_mqar_heldout(cfg: MQARConfig, num_examples: int, train_seed: int) -> MQARData:
    """Held-out examples for a model trained on ``make_mqar(..., seed=train_seed)``; ``cfg`` may differ from
    the training config (e.g. longer sequences or more pairs, to test extrapolation)."""
    return make_mqar(cfg, num_examples, heldout_seed(train_seed))


def mqar_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of labelled positions (``labels != -100``) whose argmax prediction equals the label.

    ``logits``: ``(..., vocab)`` with ``logits.shape[:-1] == labels.shape``; an integer tensor of the same
    shape as ``labels`` is taken as predictions already.
    """
    if logits.shape == labels.shape and not logits.is_floating_point():
        preds = logits
    elif logits.dim() == labels.dim() + 1 and logits.shape[:-1] == labels.shape:
        preds = logits.argmax(dim=-1)
    else:
        raise ValueError(
            f"mqar_accuracy: logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}; "
            "expected logits (..., vocab) or integer predictions shaped like labels"
        )
    mask = labels != IGNORE_INDEX
    total = int(mask.sum())
    if total == 0:
        raise ValueError("mqar_accuracy: no labelled positions (all labels are -100)")
    return float((preds[mask] == labels[mask]).sum()) / total
