"""Several trainings side by side in one process: each job in its own thread, on CUDA on its own stream.

A proxy model is small (the `quick` preset's 12 layers at d_model 128 fill a fraction of an H200's SMs), so one
training leaves most of the GPU idle even as a CUDA graph. Processes sharing a GPU take turns (time slicing),
but kernels of one process on different streams run at the same time. A learning-rate sweep's points are
independent trainings, so they run as threads, each replaying its own graphs on its own stream; the host work
per step is one graph launch, so the threads barely contend for the interpreter.

What makes it safe: model construction is seeded under a lock (`proxies.build`), graph capture is serialised
and thread-local (`proxies.train`), autocast and the current stream are per thread. A job's result does not
depend on what runs beside it (tests/proxies/test_side_by_side.py holds them equal on CPU, and on the GPU host).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import torch

R = TypeVar("R")
Job = Callable[[], R]


@dataclass
class Outcome(Generic[R]):
    """What one job gave: its value or the exception it raised, and its wall time (overlapping others')."""

    value: R | None
    error: BaseException | None
    wall_time_s: float


def _run(job: Job, device: torch.device | None) -> Outcome:
    t0 = time.perf_counter()
    try:
        if device is not None and device.type == "cuda":
            stream = torch.cuda.Stream(device)
            stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(stream):
                value = job()
            stream.synchronize()
        else:
            value = job()
    except Exception as exc:  # handed back: the caller decides which failures are results (a diverged point)
        return Outcome(None, exc, time.perf_counter() - t0)
    return Outcome(value, None, time.perf_counter() - t0)


def in_turn(jobs: list[Job]) -> list[Outcome]:
    """Run the jobs one after another (the CPU default, and the reference)."""
    return [_run(job, None) for job in jobs]


def width_for(device: torch.device | str, requested: int) -> int:
    """How many jobs run at once: `requested` if positive, else every job on CUDA and one at a time elsewhere."""
    if requested > 0:
        return requested
    return 1_000_000 if torch.device(device).type == "cuda" else 1


def side_by_side(device: torch.device | str, width: int = 0) -> Callable[[list[Job]], list[Outcome]]:
    """A runner: at most `width` jobs at once (0: see `width_for`), each in a thread of its own; outcomes in job
    order."""
    dev = torch.device(device)

    def run(jobs: list[Job]) -> list[Outcome]:
        n = min(len(jobs), width_for(dev, width))
        if n <= 1:
            return in_turn(jobs)
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="hnas-side") as pool:
            return list(pool.map(lambda job: _run(job, dev), jobs))

    return run
