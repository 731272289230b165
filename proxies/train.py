"""The proxy training loop: AdamW (fused on CUDA), warmup + cosine schedule, bf16 autocast on CUDA,
gradient clipping, and a hard stop on a non-finite loss."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    steps: int
    lr: float
    weight_decay: float = 0.1
    warmup_frac: float = 0.1
    grad_clip: float = 1.0
    precision: str = "bf16"


def autocast(device: torch.device, precision: str):
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lr_at(step: int, cfg: TrainConfig) -> float:
    warm = max(1, int(cfg.steps * cfg.warmup_frac))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and "embed" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), **kw)


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over positions whose target is not -100."""
    return F.cross_entropy(logits.float().flatten(0, -2), targets.flatten(), ignore_index=-100)


def train(
    model: nn.Module,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    cfg: TrainConfig,
    device: torch.device,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train for `cfg.steps` steps on (inputs, targets) batches; returns the loss every step."""
    model.train()
    opt = make_optimizer(model, cfg, device)
    losses: list[float] = []
    pending: list[torch.Tensor] = []
    for step in range(cfg.steps):
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        with autocast(device, cfg.precision):
            logits = model(x)
        loss = token_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        pending.append(loss.detach())
        # read losses back in groups so the GPU is not synchronised every step
        if len(pending) == 25 or step == cfg.steps - 1:
            values = torch.stack(pending).float().cpu().tolist()
            pending.clear()
            for i, v in enumerate(values):
                if not math.isfinite(v):
                    raise NonFiniteLoss(f"non-finite training loss {v} at step {step - len(values) + 1 + i}")
            losses.extend(values)
            if on_step is not None:
                on_step(step, values[-1])
    return losses


@torch.no_grad()
def eval_batches(
    model: nn.Module,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    precision: str,
) -> tuple[float, int, int]:
    """Summed cross-entropy (nats), number of scored positions and number of correct argmax predictions."""
    model.eval()
    nll = torch.zeros((), dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.long, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with autocast(device, precision):
            logits = model(x)
        logits = logits.float()
        mask = y != -100
        nll += F.cross_entropy(logits.flatten(0, -2), y.flatten(), ignore_index=-100, reduction="sum").double()
        count += mask.sum()
        correct += ((logits.argmax(-1) == y) & mask).sum()
    model.train()
    return float(nll), int(count), int(correct)
