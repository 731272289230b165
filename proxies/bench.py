"""Proxy training speed: per layout and engine (eager, CUDA graph), wall ms per step, GPU-busy ms per step and
kernel launches per step (from the profiler), tokens per second and model FLOPs utilisation.

MFU = 3 x (analytic forward FLOPs per token at the training length) x tokens/s / peak FLOP/s (forward plus a
backward of twice its cost, the usual accounting; no recomputation counted). `workers > 1` runs that many
processes training the same layout side by side on one device, `streams > 1` that many trainings in one
process, each in its own thread on its own CUDA stream (how a sweep's points train: `proxies.side_by_side`);
both report the aggregate throughput (`ms_per_step` is then the wall time of one step of all of them);
`stack > 1` trains that many copies as one model with stacked weights (`proxies.stacked`, how `stack_sweep`
trains a sweep), one step for all of them.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import replace

import torch

from proxies.budget import Budget
from proxies.build import build_model, runnable
from proxies.feeds import TableFeed
from proxies.train import TrainConfig, make_engine
from search_space.layout import Layout

# Dense bf16 peaks from the vendors' datasheets (FLOP/s), used only for MFU.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
PROFILED_STEPS = 5
LAUNCH_CALLS = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx", "cudaGraphLaunch",
                "cudaMemcpyAsync", "cudaMemsetAsync")


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def _sync(device: torch.device) -> None:
    """Wait for this thread's stream (a device-wide wait is not allowed while a training beside it captures)."""
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()


def task_shape(budget: Budget, task: str) -> tuple[int, int, int]:
    """(batch, sequence length, vocabulary) of a task's training step: "lm" or "mqar"."""
    if task == "mqar":
        return budget.mqar_batch, budget.mqar_seq_len, budget.mqar_vocab
    return budget.lm_batch, budget.lm_seq_len, 256


def bench_proxy(layouts: list[str], budget: Budget, device: str, *, steps: int = 20, warmup: int = 3,
                graphs: tuple[bool, ...] = (False, True), task: str = "lm", workers: int = 1, streams: int = 1,
                stack: int = 1, peak: float | None = None) -> list[dict]:
    """Time `steps` training steps (after `warmup`) of each layout at the task's shapes, once per engine."""
    dev = torch.device(device)
    peak = peak if peak is not None else peak_flops(dev)
    rows = []
    for text in layouts:
        for graph in graphs:
            if graph and dev.type != "cuda":
                continue
            b = replace(budget, graph="on" if graph else "off")
            if workers > 1:
                rows.append(_bench_workers(text, b, device, steps, warmup, task, workers, peak))
            elif streams > 1:
                rows.append(_bench_streams(text, b, device, steps, warmup, task, streams, peak))
            elif stack > 1:
                rows.append(_bench_stacked(text, b, device, steps, warmup, task, stack, peak))
            else:
                rows.append(_bench_one(text, b, device, steps, warmup, task, peak, profile=True))
    return rows


def _random_feed(budget: Budget, task: str, total: int, dev: torch.device) -> TableFeed:
    """Random tokens at the task's training shapes, `total` batches."""
    B, T, V = task_shape(budget, task)
    x = torch.randint(0, V, (max(2 * B, 256), T + 1), generator=torch.Generator().manual_seed(0))
    return TableFeed.shuffled(x[:, :-1], x[:, 1:], B, total, 0, dev)


class _Run:
    """A model, its engine and a feed of random tokens at the task's shapes, ready to step."""

    def __init__(self, layout: Layout, budget: Budget, dev: torch.device, total: int, task: str) -> None:
        self.model = build_model(layout, budget, task_shape(budget, task)[2], seed=0).to(dev)
        feed = _random_feed(budget, task, total, dev)
        cfg = TrainConfig(steps=total, lr=1e-4, precision=budget.precision, graph=budget.uses_graph(str(dev)))
        self.engine = make_engine(runnable(self.model, budget), feed, cfg, dev)
        self.step_no, self.dev = 0, dev

    def run(self, n: int) -> float:
        """Seconds per step over `n` steps."""
        _sync(self.dev)
        t0 = time.perf_counter()
        for _ in range(n):
            self.engine.step(self.step_no)
            self.step_no += 1
        _sync(self.dev)
        return (time.perf_counter() - t0) / n


def _gpu_profile(run: _Run, n: int) -> tuple[float | None, float | None]:
    """(GPU-busy ms per step: the union of device activity intervals, launch API calls per step)."""
    if run.dev.type != "cuda":
        return None, None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run.run(n)
    intervals, launches = [], 0
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            intervals.append((e.time_range.start, e.time_range.end))
        elif e.name in LAUNCH_CALLS:
            launches += 1
    busy, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            busy += b - max(a, end)
            end = b
    return busy / 1e3 / n, launches / n


def _bench_one(text: str, budget: Budget, device: str, steps: int, warmup: int, task: str, peak: float | None,
               profile: bool) -> dict:
    dev = torch.device(device)
    layout = Layout.parse(text)
    run = _Run(layout, budget, dev, warmup + steps + PROFILED_STEPS + 2, task)
    run.run(max(warmup, 3))  # past the graph's eager warmup and capture
    sec = run.run(steps)
    busy, launches = _gpu_profile(run, PROFILED_STEPS) if profile else (None, None)
    return _row(layout, budget, dev, task, run.model, sec, busy, launches, peak, workers=1)


def _row(layout: Layout, budget: Budget, dev: torch.device, task: str, model: torch.nn.Module, sec: float, busy,
         launches, peak: float | None, workers: int, side_by_side: str = "none") -> dict:
    B, T, _ = task_shape(budget, task)
    tps = workers * B * T / sec
    fwd = model.flops_per_token(T)
    return {
        "layout": layout.canonical(), "device": str(dev), "task": task, "batch": B, "seq_len": T,
        "d_model": budget.d_model, "params": model.num_params(), "graph": budget.uses_graph(str(dev)),
        "workers": workers, "side_by_side": side_by_side, "ms_per_step": sec * 1e3, "gpu_busy_ms": busy,
        "launches_per_step": launches,
        "tokens_per_s": tps, "train_flops_per_token": 3 * fwd, "mfu": (3 * fwd * tps / peak) if peak else None,
        "impl": budget.impl, "precision": budget.precision, "torch_compile": budget.torch_compile,
    }


def _worker(args) -> float:
    text, budget, device, steps, warmup, task, barrier = args
    dev = torch.device(device)
    run = _Run(Layout.parse(text), budget, dev, warmup + steps + 4, task)
    run.run(max(warmup, 3))
    barrier.wait()
    return run.run(steps)


def _bench_workers(text: str, budget: Budget, device: str, steps: int, warmup: int, task: str, workers: int,
                   peak: float | None) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(workers)
        with ctx.Pool(workers) as pool:
            secs = pool.map(_worker, [(text, budget, device, steps, warmup, task, barrier)] * workers)
    layout = Layout.parse(text)
    model = build_model(layout, budget, task_shape(budget, task)[2], seed=0)  # the workers' model, for its sizes
    return _row(layout, budget, torch.device(device), task, model, max(secs), None, None, peak, workers=workers,
                side_by_side="processes")


def _bench_streams(text: str, budget: Budget, device: str, steps: int, warmup: int, task: str, streams: int,
                   peak: float | None) -> dict:
    """`streams` trainings of the layout as jobs of one side-by-side runner (`proxies.side_by_side`: a thread and
    a CUDA stream each), timed from when all are warm until all have finished their steps."""
    import threading

    from proxies.side_by_side import MAX_STREAMS, side_by_side

    dev = torch.device(device)
    layout = Layout.parse(text)
    n = min(streams, MAX_STREAMS)  # every job must be running for the barrier to open
    marks: list[float] = []
    barrier = threading.Barrier(n, action=lambda: marks.append(time.perf_counter()))

    def job() -> _Run:
        try:
            run = _Run(layout, budget, dev, warmup + steps + 4, task)
            run.run(max(warmup, 3))
            barrier.wait()  # everyone warm: the timed steps overlap
            run.run(steps)  # ends waiting for this job's stream
            barrier.wait()
            return run
        except threading.BrokenBarrierError:
            raise
        except Exception:
            barrier.abort()  # the others stop waiting for this one
            raise

    outcomes = side_by_side(dev, n)([job] * n)
    for o in outcomes:  # the job that failed first, not the ones it released from the barrier
        if o.error is not None and not isinstance(o.error, threading.BrokenBarrierError):
            raise o.error
    sec = (marks[1] - marks[0]) / steps
    return _row(layout, budget, dev, task, outcomes[0].value.model, sec, None, None, peak, workers=n,
                side_by_side="streams")


class _StackedRun(_Run):
    """`stack` copies of the layout as one stacked model (`proxies.stacked`) and its engine."""

    def __init__(self, layout: Layout, budget: Budget, dev: torch.device, total: int, task: str, stack: int) -> None:
        from proxies.feeds import RoundRobin
        from proxies.stacked import StackedEngine, StackedModel, stackable

        self.model = build_model(layout, stackable(budget), task_shape(budget, task)[2], seed=0).to(dev)
        feed = _random_feed(budget, task, total, dev)
        cfg = TrainConfig(steps=total, lr=0.0, precision=budget.precision, graph=budget.uses_graph(str(dev)))
        stacked = StackedModel(self.model, stack)
        stacked.train()
        self.engine = StackedEngine(stacked, RoundRobin([feed]), cfg, [1e-4] * stack, dev, None)
        self.step_no, self.dev = 0, dev


def _bench_stacked(text: str, budget: Budget, device: str, steps: int, warmup: int, task: str, stack: int,
                   peak: float | None) -> dict:
    dev = torch.device(device)
    layout = Layout.parse(text)
    run = _StackedRun(layout, budget, dev, warmup + steps + PROFILED_STEPS + 2, task, stack)
    run.run(max(warmup, 3))
    sec = run.run(steps)
    busy, launches = _gpu_profile(run, PROFILED_STEPS)
    return _row(layout, budget, dev, task, run.model, sec, busy, launches, peak, workers=stack,
                side_by_side="stacked")


def bench_kernels(**kw) -> list[dict]:
    """The kernels' own benchmark (`kernels.bench`), reached through proxies as the import rule asks."""
    from kernels.bench import bench_kernels as run

    return run(**kw)


def format_kernel_table(rows: list[dict]) -> str:
    from kernels.bench import format_table

    return format_table(rows)


def format_rows(rows: list[dict]) -> str:
    head = (f"{'layout':22s} {'engine':6s} {'wk':>3s} {'B':>3s} {'T':>5s} {'ms/step':>8s} {'busy ms':>8s} "
            f"{'launch':>7s} {'tokens/s':>10s} {'MFU':>6s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        mfu = f"{100 * r['mfu']:5.1f}%" if r["mfu"] is not None else "     -"
        busy = f"{r['gpu_busy_ms']:8.2f}" if r["gpu_busy_ms"] is not None else "       -"
        launches = f"{r['launches_per_step']:7.0f}" if r["launches_per_step"] is not None else "      -"
        engine = "graph" if r["graph"] else "eager"
        tag = {"streams": "s", "processes": "p", "stacked": "k"}.get(r.get("side_by_side", "none"), "")
        lines.append(f"{r['layout']:22s} {engine:6s} {str(r['workers']) + tag:>3s} {r['batch']:3d} {r['seq_len']:5d} "
                     f"{r['ms_per_step']:8.2f} {busy} {launches} {r['tokens_per_s']:10.0f} {mfu}")
    return "\n".join(lines)
