"""The proxy training loop: AdamW, warmup + cosine schedule, bf16 autocast on CUDA, gradient clipping, a hard
stop on a non-finite loss, and an optional early stop.

Two engines run the same step on the same batches (`proxies.feeds`):
- eager: one Python step at a time (the CPU path, and the reference);
- graph: on CUDA, the whole step (batch gather, forward, backward, clipping, AdamW with `capturable=True`, the
  learning rate, the loss record) captured once as a CUDA graph per feed and replayed, so a step is one launch
  and never waits for the host. Losses are read back every `READ_EVERY` steps, as in eager.
The two give the same losses up to float reordering (tests/proxies/test_graph_gpu.py).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from kernels.compiled import exclusive
from proxies.feeds import RoundRobin

READ_EVERY = 25  # steps between loss read-backs (and the non-finite check)
WARMUP_STEPS = 2  # eager steps per feed before capture (they initialise the optimizer state)


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
    graph: bool = False  # capture the step as a CUDA graph (CUDA only)
    task: str = "train"  # named in a divergence message


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0  # steps taken (fewer than cfg.steps after an early stop)
    stopped_early: bool = False


Check = Callable[[int], bool]  # called after step s (1-based count of steps done); True stops training


def autocast(device: torch.device, precision: str):
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)  # no weight cache: graph-safe
    return contextlib.nullcontext()


def lr_at(step: int, cfg: TrainConfig) -> float:
    warm = max(1, int(cfg.steps * cfg.warmup_frac))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and "embed" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device,
                   lr: torch.Tensor | None = None) -> torch.optim.Optimizer:
    """AdamW (fused on CUDA). With a tensor `lr` the optimizer is capturable and reads that tensor every step."""
    groups = param_groups(model, cfg.weight_decay)
    kw = {"fused": True} if device.type == "cuda" else {}
    if lr is None:
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), **kw)
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), capturable=True, **kw)
    for group in opt.param_groups:
        group["lr"] = lr  # every group reads the one tensor the graph writes
    return opt


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over positions whose target is not -100."""
    return F.cross_entropy(logits.float().flatten(0, -2), targets.flatten(), ignore_index=-100)


def _as_round_robin(feed) -> RoundRobin:
    return feed if isinstance(feed, RoundRobin) else RoundRobin([feed])


def train(model: nn.Module, feed, cfg: TrainConfig, device: torch.device,
          on_step: Callable[[int, float], None] | None = None,
          check: Check | None = None, check_every: int = 0) -> TrainResult:
    """Train for `cfg.steps` steps on `feed` (a feed or a `RoundRobin` of feeds); returns the loss of every step.

    With `check` and `check_every`, `check(steps_done)` runs after every `check_every` steps (and after the last):
    True stops training there (an early stop)."""
    engine = make_engine(model, feed, cfg, device)
    result = TrainResult()
    for done, values, checking in run_steps(engine, cfg.steps, check_every if check is not None else 0):
        for i, v in enumerate(values):
            if not math.isfinite(v):
                raise NonFiniteLoss(f"{cfg.task}: non-finite training loss {v} at step {done - len(values) + i} "
                                    f"(lr {cfg.lr:g})")
        result.losses.extend(values)
        if on_step is not None:
            on_step(done - 1, values[-1])
        if checking and check(done):
            result.steps, result.stopped_early = done, done < cfg.steps
            return result
    result.steps = cfg.steps
    return result


def run_steps(engine, steps: int, check_every: int = 0):
    """Step `engine` through `steps` steps. After every step that reads losses back (each `READ_EVERY` steps, each
    `check_every` steps when it is > 0, and the last) yield (steps done, the losses since the last read-back,
    whether this is a check); the caller stops early by leaving the loop."""
    pending = 0
    for step in range(steps):
        engine.step(step)
        pending += 1
        done = step + 1
        checking = check_every > 0 and (done % check_every == 0 or done == steps)
        if pending == READ_EVERY or done == steps or checking:
            yield done, engine.losses(done - pending, done), checking
            pending = 0


def make_engine(model: nn.Module, feed, cfg: TrainConfig, device: torch.device) -> "EagerEngine | GraphEngine":
    """The engine that runs `cfg`'s steps: `engine.step(s)` trains step s, `engine.losses(a, b)` reads losses back."""
    feeds = _as_round_robin(feed)
    model.train()
    if cfg.graph:
        if device.type != "cuda":
            raise ValueError("graph training needs a CUDA device")
        return GraphEngine(model, feeds, cfg, device)
    return EagerEngine(model, feeds, cfg, device)


class EagerEngine:
    """One Python step at a time (the CPU path and the reference)."""

    def __init__(self, model: nn.Module, feeds: RoundRobin, cfg: TrainConfig, device: torch.device) -> None:
        self.model, self.feeds, self.cfg, self.device = model, feeds, cfg, device
        self.opt = make_optimizer(model, cfg, device)
        self.hist: list[torch.Tensor] = []

    def step(self, step: int) -> None:
        f, i = self.feeds.feed_of(step)
        x, y = self.feeds.feeds[f].batch(i)
        for group in self.opt.param_groups:
            group["lr"] = lr_at(step, self.cfg)
        with autocast(self.device, self.cfg.precision):
            logits = self.model(x)
        loss = token_loss(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.hist.append(loss.detach())

    def losses(self, a: int, b: int) -> list[float]:
        return torch.stack(self.hist[a:b]).float().cpu().tolist()


class GraphEngine:
    """One CUDA graph per feed; each reads its feed at its own counter and the schedule at the global one."""

    def __init__(self, model: nn.Module, feeds: RoundRobin, cfg: TrainConfig, device: torch.device) -> None:
        self.model, self.feeds, self.cfg, self.device = model, feeds, cfg, device
        self.lr = torch.zeros((), dtype=torch.float32, device=device)
        self.lr_table = torch.tensor([lr_at(s, cfg) for s in range(cfg.steps)], dtype=torch.float32, device=device)
        self.hist = torch.zeros(cfg.steps, dtype=torch.float32, device=device)
        self.t = torch.zeros((), dtype=torch.long, device=device)  # global step
        self.counters = [torch.zeros((), dtype=torch.long, device=device) for _ in feeds.feeds]
        self.opt = make_optimizer(model, cfg, device, lr=self.lr)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.graphs: list[torch.cuda.CUDAGraph] = []
        self.warm = min(cfg.steps, WARMUP_STEPS * len(feeds))

    def _body(self, f: int) -> None:
        t = self.t.view(1)
        x, y = self.feeds.feeds[f].batch(self.counters[f])
        self.lr.copy_(self.lr_table.index_select(0, t).view(()))
        with autocast(self.device, self.cfg.precision):
            logits = self.model(x)
        loss = token_loss(logits, y)
        loss.backward()
        if self.cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip, foreach=True)
        self.opt.step()
        self.hist.index_copy_(0, t, loss.detach().float().view(1))
        self.counters[f].add_(1)
        self.t.add_(1)

    def step(self, step: int) -> None:
        f, _ = self.feeds.feed_of(step)
        if step < self.warm:  # eager, off the default stream as capture requires; real training steps
            eager_off_default(self.device, lambda: self.opt.zero_grad(set_to_none=True), lambda: self._body(f))
            return
        if not self.graphs:
            self.graphs = capture_steps(self.device, len(self.feeds), lambda: self.opt.zero_grad(set_to_none=True),
                                        self._body)
        self.graphs[f].replay()

    def losses(self, a: int, b: int) -> list[float]:
        return self.hist[a:b].cpu().tolist()


def side_stream(device: torch.device) -> torch.cuda.Stream:
    """Where warm-up and capture run: the current stream when it is a side stream of its own (a training side by
    side, `proxies.side_by_side`, must keep all its work there), else a fresh side stream."""
    current = torch.cuda.current_stream(device)
    if current != torch.cuda.default_stream(device):
        return current
    side = torch.cuda.Stream(device)
    side.wait_stream(current)
    return side


def eager_off_default(device: torch.device, zero_grad: Callable[[], None], body: Callable[[], None]) -> None:
    """One eager step on a side stream (a graph's warm-up steps: capture needs them off the default stream), under
    `kernels.compiled.exclusive()`: a compiled form first launched here (its backward too) may synchronise the
    device, which must not happen while a training beside this one captures."""
    side = side_stream(device)
    with exclusive(), torch.cuda.stream(side):
        zero_grad()
        body()
    torch.cuda.current_stream(device).wait_stream(side)


def capture_steps(device: torch.device, n: int, zero_grad: Callable[[], None],
                  body: Callable[[int], None]) -> list[torch.cuda.CUDAGraph]:
    """One CUDA graph of `body(f)` for each feed f < n. capture_begin/end rather than torch.cuda.graph, which
    synchronises the whole device and empties the allocator's cache; thread-local, so trainings beside this one
    keep launching on their own streams; `kernels.compiled.exclusive()` keeps two captures apart, and keeps the
    compiled forms from compiling or first running in other threads during one."""
    graphs = []
    stream = side_stream(device)
    with exclusive(), torch.cuda.stream(stream):
        for f in range(n):
            zero_grad()
            g = torch.cuda.CUDAGraph()
            g.capture_begin(capture_error_mode="thread_local")
            try:
                body(f)
            finally:
                g.capture_end()
            graphs.append(g)
    torch.cuda.current_stream(device).wait_stream(stream)
    return graphs


@torch.no_grad()
def eval_batches(model: nn.Module, batches, device: torch.device, precision: str) -> tuple[float, int, int]:
    """Summed cross-entropy (nats), number of scored positions and number of correct argmax predictions."""
    model.eval()
    nll = torch.zeros((), dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.long, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for x, y in one_shape(batches):
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


def one_shape(batches):
    """The batches, each smaller one after the first filled up to the first's rows with token 0 and ignored
    targets (-100): an evaluation runs its model at one batch shape (one compiled form, one kernel shape fewer)
    and scores exactly the real rows, since rows never mix."""
    rows = None
    for x, y in batches:
        if rows is None:
            rows = x.shape[0]
        elif x.shape[0] < rows:
            fill = rows - x.shape[0]
            x = torch.cat([x, x.new_zeros((fill, *x.shape[1:]))])
            y = torch.cat([y, y.new_full((fill, *y.shape[1:]), -100)])
        yield x, y


def chunks(x: torch.Tensor, y: torch.Tensor, batch: int):
    """(x, y) in consecutive batches of `batch` rows (the last one may be smaller)."""
    for i in range(0, x.shape[0], batch):
        yield x[i : i + batch], y[i : i + batch]
