"""K trainings of one model as one: stacked weights, one step for all K points of a sweep.

A sweep trains the same layout from the same initial weights at K recipes. Trained one by one (or side by side
on streams, `proxies.side_by_side`) each point launches every kernel of the step itself; at proxy sizes those
kernels are small and the step's time is their count (docs/engine.md). Here the K copies' parameters are stacked
along a leading dimension and the model runs once under `torch.func.vmap` over them (`functional_call`), so every
op is launched once for all K points on K times the work. Every point sees the same batches (a sweep's data
depend on the seed only), has its own learning rate, its own gradient clipping, its own AdamW state, and can be
frozen on its own (an early stop, a divergence): the same training as K separate runs of `proxies.train` up to
float reordering (tests/proxies/test_stacked.py). Attention inside a stacked model is written out
(`proxies.ops.masked_attention`) instead of SDPA: vmap-batched, CUDA's memory-efficient kernel fails in its backward.

A point may train only part of a parameter (`masks`): the recall sweep stacks points of different token-shift
widths into one model with the widest shift, each point's shift taps outside its own width frozen at their zero
start, which is exactly the narrower (or absent) shift.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from proxies import ops
from proxies.budget import Budget
from proxies.feeds import RoundRobin
from proxies.train import (WARMUP_STEPS, TrainConfig, autocast, capture_steps, eager_off_default, lr_at,
                           one_shape, run_steps)

BETAS = (0.9, 0.95)  # proxies.train.make_optimizer's
EPS = 1e-8


class StackedModel(nn.Module):
    """K copies of `model`, each a slice of one stacked tensor per parameter (`params[name]`: (K, *shape))."""

    def __init__(self, model: nn.Module, k: int) -> None:
        super().__init__()
        self.base = model  # its own parameters are never read: the stacked ones replace them in `forward`
        self.k = k
        self.params = nn.ParameterDict({
            _key(n): nn.Parameter(p.detach().unsqueeze(0).repeat(k, *([1] * p.dim())))
            for n, p in model.named_parameters()})
        self.names = {_key(n): n for n, _ in model.named_parameters()}

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens shared by every point -> (K, B, T, vocab)."""
        def one(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, params, (x,))

        stacked = {self.names[k]: p for k, p in self.params.items()}
        with ops.stacking():
            return vmap(one, in_dims=(0, None), randomness="same")(stacked, tokens)

    def point(self, i: int) -> nn.Module:
        """Point i as a plain model (a copy of the base with the point's weights)."""
        out = copy.deepcopy(self.base)
        with torch.no_grad():
            state = {self.names[k]: p[i].detach().clone() for k, p in self.params.items()}
            out.load_state_dict(state, strict=False)
        return out


def stackable(budget: Budget) -> Budget:
    """The budget a stacked model is built at: `impl=auto` means the chunked forms (the Triton kernels have no
    vmap batching rule; `proxies.budget_rules` refuses the other implementations that cannot run under vmap)."""
    return replace(budget, impl="chunk") if budget.impl == "auto" else budget


def _key(name: str) -> str:
    return name.replace(".", "/")  # ParameterDict keys may not hold dots


def point_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(K, B, T, V) logits, (B, T) targets -> (K,) mean cross-entropy over positions whose target is not -100."""
    K, V = logits.shape[0], logits.shape[-1]
    flat = targets.flatten()
    ce = F.cross_entropy(logits.float().reshape(-1, V), flat.repeat(K), ignore_index=-100, reduction="none")
    keep = (flat != -100).float()
    return (ce.view(K, -1) * keep).sum(1) / keep.sum().clamp_min(1)


class StackedAdamW:
    """AdamW over stacked parameters with a learning rate per point ((K,) tensor, read at every step, so a graph
    can capture the step), the same update as `torch.optim.AdamW` (decoupled weight decay on parameters of two or
    more dimensions outside the embedding, as `proxies.train.param_groups` decides), and gradient clipping per
    point. A point whose learning rate is 0 does not move."""

    def __init__(self, model: StackedModel, weight_decay: float, grad_clip: float, lr: torch.Tensor,
                 masks: dict[str, torch.Tensor] | None = None) -> None:
        self.grad_clip, self.lr = grad_clip, lr
        self.params = list(model.params.items())
        self.decay = {k: weight_decay if p.dim() >= 3 and "embed" not in model.names[k] else 0.0
                      for k, p in self.params}
        self.masks = {_key(n): m for n, m in (masks or {}).items()}
        self.m = {k: torch.zeros_like(p) for k, p in self.params}
        self.v = {k: torch.zeros_like(p) for k, p in self.params}
        self.t = torch.zeros((), dtype=torch.float32, device=lr.device)

    def zero_grad(self) -> None:
        for _, p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = {}
        for k, p in self.params:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            grads[k] = g * self.masks[k] if k in self.masks else g
        if self.grad_clip:
            sq = sum(g.pow(2).flatten(1).sum(1) for g in grads.values())  # (K,)
            coef = (self.grad_clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
            grads = {k: g * _per_point(coef, g) for k, g in grads.items()}
        self.t.add_(1)
        bc1 = 1 - BETAS[0] ** self.t
        bc2_sqrt = (1 - BETAS[1] ** self.t).sqrt()
        for k, p in self.params:
            lr = _per_point(self.lr, p)
            if self.decay[k]:
                p.mul_(1 - lr * self.decay[k])
            m, v, g = self.m[k], self.v[k], grads[k]
            m.lerp_(g, 1 - BETAS[0])
            v.mul_(BETAS[1]).addcmul_(g, g, value=1 - BETAS[1])
            p.sub_(lr / bc1 * m / (v.sqrt() / bc2_sqrt + EPS))


def _per_point(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x.view(-1, *([1] * (like.dim() - 1)))


@dataclass
class StackedResult:
    losses: list[list[float]] = field(default_factory=list)  # per point, every step it trained
    steps: list[int] = field(default_factory=list)  # steps each point trained
    stopped_early: list[bool] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)  # a divergence, per point (None: trained)


Check = Callable[[int], list[bool]]  # after s steps: which points have reached their goal (they stop there)


class StackedEngine:
    """Eager or CUDA-graph steps of a stacked model (the graph as in `proxies.train.GraphEngine`)."""

    def __init__(self, model: StackedModel, feeds: RoundRobin, cfg: TrainConfig, lrs: list[float],
                 device: torch.device, masks: dict[str, torch.Tensor] | None) -> None:
        self.model, self.feeds, self.cfg, self.device = model, feeds, cfg, device
        unit = TrainConfig(steps=cfg.steps, lr=1.0, warmup_frac=cfg.warmup_frac)
        self.schedule = torch.tensor([lr_at(s, unit) for s in range(cfg.steps)], dtype=torch.float32, device=device)
        self.base_lr = torch.tensor(lrs, dtype=torch.float32, device=device)
        self.active = torch.ones(len(lrs), dtype=torch.float32, device=device)  # 0: frozen
        self.lr = torch.zeros(len(lrs), dtype=torch.float32, device=device)
        self.opt = StackedAdamW(model, cfg.weight_decay, cfg.grad_clip, self.lr, masks)
        self.hist = torch.zeros(cfg.steps, len(lrs), dtype=torch.float32, device=device)
        self.t = torch.zeros((), dtype=torch.long, device=device)
        self.counters = [torch.zeros((), dtype=torch.long, device=device) for _ in feeds.feeds]
        self.graphs: list[torch.cuda.CUDAGraph] = []
        self.warm = min(cfg.steps, WARMUP_STEPS * len(feeds)) if cfg.graph else cfg.steps

    def _body(self, f: int) -> None:
        t = self.t.view(1)
        x, y = self.feeds.feeds[f].batch(self.counters[f])
        self.lr.copy_(self.base_lr * self.active * self.schedule.index_select(0, t))
        with autocast(self.device, self.cfg.precision):
            logits = self.model(x)
        losses = point_losses(logits, y)
        losses.sum().backward()
        self.opt.step()
        self.hist.index_copy_(0, t, losses.detach().float().view(1, -1))
        self.counters[f].add_(1)
        self.t.add_(1)

    def step(self, step: int) -> None:
        f, _ = self.feeds.feed_of(step)
        if step < self.warm:  # eager: every step on a CPU, the warm-up steps before a graph's capture
            if self.cfg.graph:
                eager_off_default(self.device, self.opt.zero_grad, lambda: self._body(f))
            else:
                self.opt.zero_grad()
                self._body(f)
            return
        if not self.graphs:
            self.graphs = capture_steps(self.device, len(self.feeds), self.opt.zero_grad, self._body)
        self.graphs[f].replay()

    def freeze(self, points: list[int]) -> None:
        for i in points:
            self.active[i] = 0.0

    def losses(self, a: int, b: int) -> list[list[float]]:
        return self.hist[a:b].cpu().tolist()


def train_stacked(model: StackedModel, feed, cfg: TrainConfig, lrs: list[float], device: torch.device,
                  masks: dict[str, torch.Tensor] | None = None, check: Check | None = None, check_every: int = 0,
                  stop_all: bool = False, on_step: Callable[[int, list[float]], None] | None = None) -> StackedResult:
    """Train the K points of `model` at learning rates `lrs` for `cfg.steps` steps (`cfg.lr` is not read).

    A point whose loss turns non-finite is frozen and reported failed; `check(steps_done)` (every `check_every`
    steps and after the last) names the points that reached their goal: each stops there, or, with `stop_all`,
    every point stops once one has. Training ends when no point is left."""
    feeds = feed if isinstance(feed, RoundRobin) else RoundRobin([feed])
    model.train()
    engine = StackedEngine(model, feeds, cfg, list(lrs), device, masks)
    k = len(lrs)
    res = StackedResult(losses=[[] for _ in range(k)], steps=[cfg.steps] * k, stopped_early=[False] * k,
                        errors=[None] * k)
    live = set(range(k))
    for done, rows, checking in run_steps(engine, cfg.steps, check_every if check is not None else 0):
        for i in sorted(live):
            values = [r[i] for r in rows]
            bad = next((j for j, v in enumerate(values) if not math.isfinite(v)), None)
            if bad is not None:
                res.errors[i] = (f"{cfg.task}: non-finite training loss {values[bad]} at step "
                                 f"{done - len(values) + bad} (lr {lrs[i]:g})")
                res.steps[i] = done - len(values) + bad + 1
                live.discard(i)
                engine.freeze([i])
                values = values[:bad + 1]
            res.losses[i].extend(values)
        if on_step is not None:
            on_step(done - 1, rows[-1])
        if checking and live:
            reached = [i for i, ok in enumerate(check(done)) if ok and i in live]
            stopping = sorted(live) if (reached and stop_all) else reached
            for i in stopping:
                res.steps[i], res.stopped_early[i] = done, done < cfg.steps
                live.discard(i)
            engine.freeze(stopping)
        if not live:
            break
    return res


@torch.no_grad()
def eval_stacked(model: StackedModel, batches, device: torch.device, precision: str) -> list[tuple[float, int, int]]:
    """Per point: summed cross-entropy (nats), scored positions and correct argmax predictions (as
    `proxies.train.eval_batches` gives for one model)."""
    model.eval()
    k = model.k
    nll = torch.zeros(k, dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.long, device=device)
    correct = torch.zeros(k, dtype=torch.long, device=device)
    for x, y in one_shape(batches):
        x, y = x.to(device), y.to(device)
        with autocast(device, precision):
            logits = model(x)
        logits = logits.float()
        mask = y != -100
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.flatten().repeat(k), ignore_index=-100,
                             reduction="none")
        nll += ce.view(k, -1).sum(1).double()
        count += mask.sum()
        correct += ((logits.argmax(-1) == y) & mask).flatten(1).sum(1)
    model.train()
    return [(float(nll[i]), int(count), int(correct[i])) for i in range(k)]
