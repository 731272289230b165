"""The ratio-by-mixer grid (as in arXiv 2507.06457: six linear mixers x five linear:full ratios, plus pure
attention), evaluated at one or more fidelity levels and seeds, serially or by a pool of processes that
share one database (and one GPU), with an optional promotion cascade.

Attention layers are evenly spaced, each at the end of its period (`search_space.ratio.evenly_spaced`):
24 layers at 3:1 put attention at 3, 7, ..., 23. Every evaluation goes through `nas.driver.evaluate_into`,
so a layout already evaluated under the same level, settings and seed is reused, not trained again.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from nas.errors import UsageError
from nas.numbers import score
from proxies.budget import Budget
from search_space.layout import Layout
from search_space.names import ATTENTION, LINEAR_MIXERS
from search_space.ratio import attention_count, evenly_spaced
from search_space.space import SearchSpace

GRID_RATIOS = ("24:1", "12:1", "6:1", "3:1", "pure")


def grid_layouts(variants: Sequence[str], ratios: Sequence[str], n_layers: int,
                 include_attention: bool = True) -> list[Layout]:
    """Every variant at every ratio (evenly spaced attention), then pure attention; duplicates dropped."""
    if not variants:
        raise UsageError(f"no variants given; valid: {', '.join(LINEAR_MIXERS)}")
    if not ratios:
        raise UsageError("no ratios given, e.g. --ratios 12:1,3:1,pure")
    # the search space's own checks: layer count, known and distinct linear mixers, well-formed ratios
    space = SearchSpace(n_layers=n_layers, mixers=tuple(variants), placement="periodic", ratios=tuple(ratios))
    canon = list(space.ratios)
    out: dict[Layout, None] = {}
    for v in variants:
        for r in canon:
            att = set(evenly_spaced(n_layers, attention_count(n_layers, r)))
            out.setdefault(Layout(tuple(ATTENTION if i in att else v for i in range(n_layers))))
    if include_attention:
        out.setdefault(Layout((ATTENTION,) * n_layers))
    return list(out)


@dataclass(frozen=True)
class Job:
    layout: str
    level: str
    budget: dict[str, Any]
    seed: int
    teacher: dict[str, Any] | None = None  # {"path", "hash"}: the layout is a student of this teacher


@dataclass
class JobResult:
    job: Job
    status: str  # complete | cached | failed
    metrics: dict[str, Any]
    error: str | None
    wall_s: float


# -- evaluation, in this process or in a pool ----------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def worker_devices(device: str, workers: int, visible_gpus: int) -> list[str]:
    """The device of each pool worker: plain `cuda` spread round-robin over the visible GPUs (cuda:0, cuda:1, ...,
    as `CUDA_VISIBLE_DEVICES` numbers them); `cpu` or an explicit `cuda:N` is every worker's device."""
    if device != "cuda" or visible_gpus <= 1:
        return [device] * workers
    return [f"cuda:{i % visible_gpus}" for i in range(workers)]


def visible_gpus(device: str) -> int:
    if not device.startswith("cuda"):
        return 0
    import torch

    return torch.cuda.device_count()


def _init_worker(url: str, threads: int | None, devices=None) -> None:
    from storage import open_store

    if threads is not None:  # pool workers share the cores
        import torch

        torch.set_num_threads(max(1, threads))
    if devices is not None:  # each worker takes the next device of the round-robin, once
        _WORKER["device"] = devices.get()
    _WORKER["store"] = open_store(url)


def _run_job(job: Job, device: str, study: str) -> JobResult:
    from nas.driver import evaluate_into

    store = _WORKER["store"]
    device = _WORKER.get("device", device)
    status, metrics, error, wall = evaluate_into(
        store, layout=Layout.parse(job.layout), budget=Budget.from_dict(job.budget), seed=job.seed, device=device,
        fidelity=job.level, study=study, trial_number=None, teacher=job.teacher,
    )
    keep = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    return JobResult(job, status, keep, error, wall)


class Evaluator:
    """Runs jobs serially (workers <= 1) or in a pool of spawned processes; `on_result` sees each as it ends."""

    def __init__(self, url: str, study: str, device: str, workers: int = 1,
                 on_result: Callable[[JobResult], None] | None = None, max_time_s: float | None = None) -> None:
        self.url, self.study, self.device, self.workers = url, study, device, max(1, workers)
        self.on_result = on_result
        self.deadline = None if not max_time_s else time.perf_counter() + max_time_s
        self.skipped = 0  # jobs not started because the time limit was reached
        self._pool = None
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        if self.workers == 1:
            _init_worker(url, None)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("spawn")
            devices = ctx.Queue()
            for d in worker_devices(device, self.workers, visible_gpus(device)):
                devices.put(d)
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(url, threads, devices))

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Run `jobs`; once the time limit has passed, jobs not yet started are skipped (counted in `skipped`)."""
        results = []
        if self._pool is None:
            for i, job in enumerate(jobs):
                if self.expired:
                    self.skipped += len(jobs) - i
                    break
                results.append(self._done(_run_job(job, self.device, self.study)))
            return results
        from concurrent.futures import as_completed

        futures = [self._pool.submit(_run_job, job, self.device, self.study) for job in jobs]
        stopped = False
        try:
            for f in as_completed(futures):
                if f.cancelled():
                    continue
                results.append(self._done(f.result()))
                if not stopped and self.expired:
                    stopped = True
                    self.skipped += sum(1 for g in futures if g.cancel())
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return results

    def _done(self, r: JobResult) -> JobResult:
        if self.on_result is not None:
            self.on_result(r)
        return r

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# -- levels, seeds and the cascade ---------------------------------------------------------------------------


def jobs_for(layouts: Sequence[str], level: str, budget: Budget, seeds: Sequence[int],
             teacher: dict[str, Any] | None = None) -> list[Job]:
    b = budget.to_dict()
    return [Job(lay, level, b, s, teacher) for lay in layouts for s in seeds]


def run_levels(evaluator: Evaluator, store: Any, study: str, layouts: Sequence[str],
               levels: Sequence[tuple[str, Budget]], seeds: Sequence[int], objectives: list[dict[str, str]],
               cascade: Any = None, on_stage: Callable[[str, int, int], None] | None = None,
               teacher: dict[str, Any] | None = None) -> list[JobResult]:
    """Evaluate `layouts` at every level and seed; with `cascade` (a PromotionRule), only the layouts the
    rule promotes from one level go on to the next."""
    from nas.results import Results
    from nas.cascade import objective_points, promote

    if cascade is None:  # every level at once: the pool stays busy across level boundaries
        jobs = [j for name, b in levels for j in jobs_for(layouts, name, b, seeds, teacher)]
        return evaluator.run(jobs)
    results: list[JobResult] = []
    current = list(layouts)
    metrics = [o["metric"] for o in objectives]
    directions = [o["direction"] for o in objectives]
    for i, (name, b) in enumerate(levels):
        if on_stage is not None:
            on_stage(name, len(current), len(layouts))
        results += evaluator.run(jobs_for(current, name, b, seeds, teacher))
        if i == len(levels) - 1 or evaluator.expired:
            break
        res = Results.from_evaluations(store.evaluations(study, status="complete", fidelity=name), metrics)
        points = objective_points(res, name, metrics, current)
        noise = [res.noise_floor(name, m)[0] for m in metrics]
        current = promote(points, directions, noise, cascade)
    return results


def cascade_after_search(store: Any, url: str, study: str, levels: Sequence[tuple[Any, Budget]],
                         seeds: Sequence[int], objectives: list[dict[str, str]], rule: Any, device: str) -> Any:
    """After a search at the first level: promote its layouts level by level (the first level's runs are
    cache hits) and return the cascade's report (`nas.cascade.CascadeReport`)."""
    from nas.results import Results
    from nas.cascade import simulate

    first = levels[0][0].name
    layouts = list(dict.fromkeys(e.layout for e in store.evaluations(study, status="complete", fidelity=first)))
    progress = ProgressLines(len(layouts) * len(seeds))

    def on_stage(name: str, n: int, total: int) -> None:
        if name != first:
            progress.grow(progress.total + n * len(seeds))
            print(f"promoting {n} of {total} layouts to level {name}", file=sys.stderr, flush=True)

    evaluator = Evaluator(url, study, device, 1, on_result=progress)
    try:
        run_levels(evaluator, store, study, layouts, [(lv.name, b) for lv, b in levels], seeds, objectives,
                   cascade=rule, on_stage=on_stage)
    finally:
        evaluator.close()
    names = [lv.name for lv, _ in levels]
    done = [e for e in store.evaluations(study, status="complete") if e.fidelity in names]
    res = Results.from_evaluations(done, [o["metric"] for o in objectives])
    return simulate(res, names, objectives, rule, layouts=[lay for lay in layouts if lay in res.values.get(first, {})])


# -- progress lines -----------------------------------------------------------------------------------------


class ProgressLines:
    """One line per finished evaluation on stderr: count, level, seed, layout, scores, time, ETA."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.stream = stream or sys.stderr
        self.counts = {"complete": 0, "cached": 0, "failed": 0}

    def grow(self, total: int) -> None:
        self.total = total

    def __call__(self, r: JobResult) -> None:
        self.done += 1
        self.counts[r.status] = self.counts.get(r.status, 0) + 1
        j = r.job
        if r.status == "failed":
            what = f"FAILED ({r.error})"
        else:
            m = r.metrics
            what = ", ".join(f"{k} {score(m[k])}" for k in ("recall", "perplexity", "flops") if k in m)
            what += " (cached)" if r.status == "cached" else f" in {r.wall_s:.1f} s"
        elapsed = time.perf_counter() - self.t0
        left = (elapsed / self.done) * (self.total - self.done) if self.done else 0.0
        print(f"[{self.done}/{self.total}] {j.level} seed {j.seed} {j.layout}: {what} | {elapsed:.0f} s, "
              f"~{left:.0f} s left", file=self.stream, flush=True)

