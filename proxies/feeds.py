"""Training data as a feed: tensors staged on the device once, and a plan of which rows each step reads.

A feed answers `batch(i)` for its i-th batch, where `i` is a Python int (eager training) or a 0-d long tensor
on the device (a CUDA-graph step, which reads its position from a counter it increments itself), so a step
copies nothing from the host. The whole plan is drawn up front from one CPU generator, so the batches depend
on the seed only and the eager and graph paths read exactly the same examples.

    TableFeed   rows of an example table (MQAR and the recall suite): inputs, labels (N, T), rows (steps, B)
    WindowFeed  windows of a token stream (language modelling): tokens (n,), starts (steps, B), length T
"""

from __future__ import annotations

from typing import Union

import torch

Index = Union[int, torch.Tensor]


def _pick(table: torch.Tensor, i: Index) -> torch.Tensor:
    """Row `i` of a (steps, B) plan, without a host synchronisation when `i` is a device tensor."""
    if isinstance(i, torch.Tensor):
        return table.index_select(0, i.view(1)).squeeze(0)
    return table[i]


def epoch_rows(n_examples: int, batch: int, steps: int, seed: int) -> torch.Tensor:
    """(steps, batch) row indices: shuffled epochs over `n_examples`, each cut into full batches (the tail of an
    epoch that does not fill a batch is dropped), as many epochs as the steps need."""
    if batch > n_examples:
        raise ValueError(f"a batch of {batch} needs at least {batch} training examples, got {n_examples}")
    gen = torch.Generator().manual_seed(seed)
    per_epoch = n_examples // batch
    out = []
    while sum(t.shape[0] for t in out) < steps:
        perm = torch.randperm(n_examples, generator=gen)
        out.append(perm[: per_epoch * batch].view(per_epoch, batch))
    return torch.cat(out)[:steps] if out else torch.empty(0, batch, dtype=torch.long)


class TableFeed:
    """Batches of rows of an example table: inputs and labels `(N, T)`, a plan `rows` of shape `(steps, B)`."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor) -> None:
        self.inputs, self.labels, self.rows = inputs, labels, rows

    @classmethod
    def shuffled(cls, inputs: torch.Tensor, labels: torch.Tensor, batch: int, steps: int, seed: int,
                 device: torch.device) -> "TableFeed":
        rows = epoch_rows(inputs.shape[0], batch, steps, seed)
        small = torch.int32 if device.type == "cuda" else torch.long  # tokens fit in int32; the step widens them
        return cls(inputs.to(device, small), labels.to(device, small), rows.to(device))

    @property
    def steps(self) -> int:
        return self.rows.shape[0]

    def batch(self, i: Index) -> tuple[torch.Tensor, torch.Tensor]:
        r = _pick(self.rows, i)  # (B,)
        return self.inputs.index_select(0, r).long(), self.labels.index_select(0, r).long()  # (B, T) each


class WindowFeed:
    """Batches of windows of a token stream: `starts` `(steps, B)` offsets, windows of `seq_len + 1` tokens
    (inputs are the first `seq_len`, targets the last `seq_len`)."""

    def __init__(self, tokens: torch.Tensor, starts: torch.Tensor, seq_len: int) -> None:
        self.tokens, self.starts, self.seq_len = tokens, starts, seq_len
        self.offsets = torch.arange(seq_len + 1, device=tokens.device)

    @classmethod
    def random(cls, tokens: torch.Tensor, batch: int, seq_len: int, steps: int, seed: int,
               device: torch.device) -> "WindowFeed":
        """Uniform random windows of the stream, drawn step by step from one generator seeded with `seed`."""
        span = seq_len + 1
        if tokens.numel() < span:
            raise ValueError(f"a window of {span} tokens does not fit in {tokens.numel()} training tokens")
        gen = torch.Generator().manual_seed(seed)
        starts = torch.stack([torch.randint(0, tokens.numel() - span + 1, (batch,), generator=gen)
                              for _ in range(steps)]) if steps else torch.empty(0, batch, dtype=torch.long)
        return cls(tokens.to(device), starts.to(device), seq_len)

    @property
    def steps(self) -> int:
        return self.starts.shape[0]

    def batch(self, i: Index) -> tuple[torch.Tensor, torch.Tensor]:
        s = _pick(self.starts, i)  # (B,)
        w = self.tokens[s[:, None] + self.offsets[None, :]].long()  # (B, T + 1)
        return w[:, :-1], w[:, 1:]


class RoundRobin:
    """Several feeds taken in turn, one batch per step: step s reads batch s // n of feed s % n."""

    def __init__(self, feeds: list) -> None:
        if not feeds:
            raise ValueError("RoundRobin needs at least one feed")
        self.feeds = feeds

    def __len__(self) -> int:
        return len(self.feeds)

    def feed_of(self, step: int) -> tuple[int, int]:
        """(which feed, which of its batches) step `step` reads."""
        n = len(self.feeds)
        return step % n, step // n
