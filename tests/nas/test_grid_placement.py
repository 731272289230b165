"""Grid workers on a host of several GPUs: plain `cuda` is spread round-robin over the visible GPUs, once per
worker process; anything else is every worker's device."""

import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor

import nas.grid as grid
from nas.grid import worker_devices


def test_round_robin_over_visible_gpus():
    assert worker_devices("cuda", 4, 2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert worker_devices("cuda", 3, 8) == ["cuda:0", "cuda:1", "cuda:2"]
    assert worker_devices("cuda", 3, 1) == ["cuda"] * 3  # one GPU: nothing to spread
    assert worker_devices("cuda:1", 2, 4) == ["cuda:1", "cuda:1"]  # an explicit GPU pins every worker
    assert worker_devices("cpu", 2, 0) == ["cpu", "cpu"]


def test_visible_gpus_follows_cuda_visible_devices(monkeypatch):
    import torch

    assert grid.visible_gpus("cpu") == 0
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert grid.visible_gpus("cuda") == 3


def _device_of_this_worker(_):
    time.sleep(0.05)
    return grid._WORKER["device"]


def test_each_pool_worker_takes_one_device_of_the_round_robin(tmp_path):
    ctx = mp.get_context("spawn")
    devices = ctx.Queue()
    for d in worker_devices("cuda", 2, 2):
        devices.put(d)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=grid._init_worker, initargs=(url, 1, devices)) as pool:
        seen = list(pool.map(_device_of_this_worker, range(16)))
    assert set(seen) == {"cuda:0", "cuda:1"}  # both workers ran, each on its own GPU
