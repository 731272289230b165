"""What one proxy evaluation reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Metrics:
    recall: float  # MQAR accuracy on held-out examples, value tokens only
    perplexity: float  # validation perplexity on held-out text (per token of `tokenizer`)
    bits_per_byte: float
    flops: float  # forward FLOPs per token at `flops_context` (fvcore with our handles)
    params: int  # parameters of the language-model proxy
    state_bytes: int  # decode-state bytes at `flops_context` (bf16)
    flops_context: int
    mqar_loss: float
    lm_loss: float
    wall_time_s: float
    device: str
    tokenizer: str = "bytes-utf8"
    corpus: str = ""
    seed: int = 0
    recall_lr: float | None = None  # the learning rate that won the recall sweep
    recall_token_shift: int | None = None  # the token-shift width of the winning recall point
    lm_lr: float | None = None  # the learning rate that won the language-modelling sweep
    recall_steps: int | None = None  # steps the winning recall point trained (fewer after an early stop)
    sweep: list[dict[str, Any]] = field(default_factory=list)  # every sweep point: task, lr, steps, score, ...
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
