"""Several trainings side by side in one process: each job in its own thread, on CUDA on its own stream.

A proxy model is small (the `quick` preset's 12 layers at d_model 128 fill a fraction of an H200's SMs), so one
training leaves most of the GPU idle even as a CUDA graph. Processes sharing a GPU take turns (time slicing),
but kernels of one process on different streams run at the same time. A learning-rate sweep's points are
independent trainings, so they run as threads, each replaying its own graphs on its own stream; the host work
per step is one graph launch, so the threads barely contend for the interpreter.

What makes it safe:
- every worker thread owns one CUDA stream that no other thread uses: PyTorch hands out streams from a small
  pool round-robin, so the runner draws them up front and keeps distinct ones (at most `MAX_STREAMS` threads);
  a training warms up, captures and replays on its thread's stream (`proxies.train`), so no kernel of one job
  can land in another job's graph capture;
- graph capture is serialised and thread-local (`proxies.train`), and neither it nor its warm-up steps overlap a
  compiled form (`impl=compile`) compiling or first running in another thread (`kernels.compiled.exclusive`),
  model construction is seeded under a lock (`proxies.build`), autocast and the current stream are per thread;
- CUDA libraries PyTorch loads lazily on first use (the linear-algebra one) are loaded before the threads start.
A job's result does not depend on what runs beside it (tests/proxies/test_side_by_side.py holds them equal on
CPU, tests/proxies/test_side_by_side_gpu.py on the GPU host).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import torch

R = TypeVar("R")
Job = Callable[[], R]
Done = Callable[[int, "Outcome"], None]  # told each job's index and outcome as it finishes, in the job's thread
MAX_STREAMS = 32  # threads at once on CUDA: distinct streams PyTorch's pool gives (32 per priority)
_thread = threading.local()  # the stream a worker thread owns


@dataclass
class Outcome(Generic[R]):
    """What one job gave: its value or the exception it raised, and its wall time (overlapping others')."""

    value: R | None
    error: BaseException | None
    wall_time_s: float


def _run(job: Job) -> Outcome:
    t0 = time.perf_counter()
    try:
        stream = getattr(_thread, "stream", None)
        if stream is not None:
            with torch.cuda.stream(stream):
                value = job()
            stream.synchronize()
        else:
            value = job()
    except Exception as exc:  # handed back: the caller decides which failures are results (a diverged point)
        return Outcome(None, exc, time.perf_counter() - t0)
    return Outcome(value, None, time.perf_counter() - t0)


def _finish(i: int, outcome: Outcome, on_done: Done | None) -> Outcome:
    if on_done is not None:
        on_done(i, outcome)
    return outcome


def in_turn(jobs: list[Job], on_done: Done | None = None) -> list[Outcome]:
    """Run the jobs one after another (the CPU default, and the reference)."""
    return [_finish(i, _run(job), on_done) for i, job in enumerate(jobs)]


def distinct_streams(device: torch.device, n: int) -> list[torch.cuda.Stream]:
    """Up to `min(n, MAX_STREAMS)` CUDA streams that are pairwise distinct (PyTorch's pool repeats itself after 32
    per priority; the high-priority pool fills in if another thread drew from the normal one meanwhile)."""
    n = min(n, MAX_STREAMS)
    seen: dict[int, torch.cuda.Stream] = {}
    for priority in (0, -1):
        for _ in range(MAX_STREAMS):
            if len(seen) >= n:
                break
            s = torch.cuda.Stream(device, priority=priority)
            seen.setdefault(s.cuda_stream, s)
    return list(seen.values())[:n]


def load_lazy_libraries(device: torch.device) -> None:
    """Load, in this thread, the CUDA libraries PyTorch opens on first use, whose loading is not thread-safe."""
    a = torch.eye(2, device=device)
    torch.linalg.solve_triangular(a, a, upper=False, unitriangular=True)
    (a @ a).sum().item()


def width_for(device: torch.device | str, requested: int) -> int:
    """How many jobs run at once: `requested` if positive, else every job on CUDA and one at a time elsewhere."""
    if requested > 0:
        return requested
    return MAX_STREAMS if torch.device(device).type == "cuda" else 1


def side_by_side(device: torch.device | str, width: int = 0,
                 on_done: Done | None = None) -> Callable[[list[Job]], list[Outcome]]:
    """A runner: at most `width` jobs at once (0: see `width_for`), each in a thread of its own; outcomes in job
    order, and `on_done(index, outcome)` as each job finishes."""
    dev = torch.device(device)

    def run(jobs: list[Job]) -> list[Outcome]:
        n = min(len(jobs), width_for(dev, width))
        if n <= 1:
            return in_turn(jobs, on_done)
        init = None
        if dev.type == "cuda":
            load_lazy_libraries(dev)
            streams = distinct_streams(dev, n)
            n = len(streams)
            for s in streams:
                s.wait_stream(torch.cuda.current_stream(dev))
            lock = threading.Lock()

            def own_stream() -> None:
                with lock:
                    _thread.stream = streams.pop()

            init = own_stream
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="hnas-side", initializer=init) as pool:
            return list(pool.map(lambda ij: _finish(ij[0], _run(ij[1]), on_done), enumerate(jobs)))

    return run
