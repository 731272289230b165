"""Distillation in two stages (LoLCATs / RADLADS / HALO style), each with its own budget knobs.

Stage 1, alignment (`distill_align_steps` at `distill_align_lr`; 0 = lm_steps / lm_lr): the teacher runs frozen
on a batch of corpus windows; at every replaced layer i a forward hook takes the normed hidden states its
attention received and the output it returned; every mixer is trained at once to reproduce its layer's output
from those inputs (mean over layers of the MSE divided by the mean square of the target, so layers of any scale
weigh alike). The mixers never see each other's outputs in this stage: all inputs are the teacher's.

Stage 2, end to end (`distill_kl_steps` at `distill_kl_lr`): the student runs on the windows and is trained on
KL(teacher || student) of the next-token distributions, averaged over positions. Trained: the mixers, or the whole
student with `student_train_all`. Both stages: AdamW, warmup + cosine, gradient clipping (proxies.train's
optimizer and schedule), eager steps on the device, the same batches for a given seed.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from proxies.budget import Budget
from proxies.feeds import WindowFeed
from proxies.teacher.checkpoint import Teacher, decoder_layers
from proxies.teacher.student import Student
from proxies.train import NonFiniteLoss, TrainConfig, autocast, lr_at, make_optimizer

Progress = Callable[[str, int, float], None]
READ_EVERY = 10


def stage_config(budget: Budget, stage: str) -> TrainConfig:
    steps = (budget.distill_align_steps if stage == "align" else budget.distill_kl_steps) or budget.lm_steps
    lr = (budget.distill_align_lr if stage == "align" else budget.distill_kl_lr) or budget.lm_lr
    return TrainConfig(steps=steps, lr=lr, weight_decay=budget.weight_decay, warmup_frac=budget.warmup_frac,
                       precision=budget.precision, task=f"distill {stage}")


class _Captures:
    """Forward hooks on the teacher's attention at the given layers: (input hidden states, output) per layer."""

    def __init__(self, teacher: Teacher, layers: list[int]) -> None:
        self.io: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        mods = decoder_layers(teacher.model)
        self.handles = [mods[i].self_attn.register_forward_hook(self._hook(i), with_kwargs=True) for i in layers]

    def _hook(self, i: int):
        def hook(_m, args, kwargs, out):
            h = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
            self.io[i] = (h.detach(), (out[0] if isinstance(out, tuple) else out).detach())
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _run(params_owner: nn.Module, cfg: TrainConfig, device: torch.device, loss_of: Callable[[int], torch.Tensor],
         phase: str, progress: Progress | None) -> list[float]:
    opt = make_optimizer(params_owner, cfg, device)
    params = [p for p in params_owner.parameters() if p.requires_grad]
    hist: list[torch.Tensor] = []
    losses: list[float] = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        loss = loss_of(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        hist.append(loss.detach())
        if len(hist) == READ_EVERY or step == cfg.steps - 1:
            values = torch.stack(hist).float().cpu().tolist()
            hist.clear()
            for v in values:
                if v != v or v in (float("inf"), float("-inf")):
                    raise NonFiniteLoss(f"{cfg.task}: non-finite loss {v} at step {step} (lr {cfg.lr:g})")
            losses.extend(values)
            if progress is not None:
                progress(phase, step, values[-1])
    return losses


def align_layers(student: Student, teacher: Teacher, train_tokens: torch.Tensor, budget: Budget,
                 device: torch.device, seed: int, progress: Progress | None = None) -> list[float]:
    """Stage 1; returns the loss of every step (empty when no layer is replaced)."""
    if not student.mixers:
        return []
    cfg = stage_config(budget, "align")
    feed = WindowFeed.random(train_tokens, budget.lm_batch, budget.lm_seq_len, cfg.steps, seed, device)
    mixers = nn.ModuleList(student.mixers.values())
    order = list(student.mixers)
    caps = _Captures(teacher, order)

    def loss_of(step: int) -> torch.Tensor:
        x, _ = feed.batch(step)
        with torch.no_grad(), autocast(device, cfg.precision):
            teacher.model(input_ids=x, use_cache=False)
        total = 0.0
        with autocast(device, cfg.precision):
            for i, mixer in zip(order, mixers):
                h, y = caps.io[i]
                y = y.float()
                total = total + F.mse_loss(mixer(h).float(), y) / y.pow(2).mean().clamp_min(1e-8)
        return total / len(order)

    mixers.train()
    try:
        return _run(mixers, cfg, device, loss_of, "align", progress)
    finally:
        caps.close()
        mixers.eval()


def kl_to_teacher(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean over positions of KL(teacher || student) of the next-token distributions (nats)."""
    t = F.log_softmax(teacher_logits.float(), dim=-1)
    s = F.log_softmax(student_logits.float(), dim=-1)
    return (t.exp() * (t - s)).sum(-1).mean()


def distill_end_to_end(student: Student, teacher: Teacher, train_tokens: torch.Tensor, budget: Budget,
                       device: torch.device, seed: int, progress: Progress | None = None) -> list[float]:
    """Stage 2; returns the KL of every step (empty when nothing is trained)."""
    model = student.model
    if budget.student_train_all:
        for p in model.parameters():
            p.requires_grad_(True)
    if not any(p.requires_grad for p in model.parameters()):
        return []
    cfg = stage_config(budget, "kl")
    feed = WindowFeed.random(train_tokens, budget.lm_batch, budget.lm_seq_len, cfg.steps, seed + 1, device)

    def loss_of(step: int) -> torch.Tensor:
        x, _ = feed.batch(step)
        with autocast(device, cfg.precision):
            with torch.no_grad():
                ref = teacher.model(input_ids=x, use_cache=False).logits
            out = model(input_ids=x, use_cache=False).logits
        return kl_to_teacher(out, ref)

    model.train()
    try:
        return _run(model, cfg, device, loss_of, "kl", progress)
    finally:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
