"""What a search on Ray is given: resources per trial, retries, where Tune keeps its folders, and the database
URL and device as every worker must see them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from nas.errors import UsageError
from nas.samplers import SAMPLERS

TUNE_SAMPLERS = ("tune-random", "tune-grid")
RAY_SAMPLERS = (*SAMPLERS, *TUNE_SAMPLERS)
PID_DIR_ENV = "HYBRID_NAS_RAY_PID_DIR"  # each trial attempt writes trial-<n>-pid-<pid> there (tests kill it)
OBJECT_STORE_ENV = "HYBRID_NAS_RAY_OBJECT_STORE_MB"  # the local Ray's object store (default 512 MB)
NUM_CPUS_ENV = "HYBRID_NAS_RAY_NUM_CPUS"  # CPUs of the local Ray (default: all)
NUM_GPUS_ENV = "HYBRID_NAS_RAY_NUM_GPUS"  # GPUs of the local Ray (default: what Ray detects)
TUNE_DIR_ENV = "HYBRID_NAS_TUNE_DIR"  # where Tune keeps its experiment folders (default ~/ray_results)
DEFAULT_OBJECT_STORE_MB = 512
POLL_S = 0.5


@dataclass(kw_only=True)
class RaySettings:
    address: str | None = None  # join this cluster; None: $RAY_ADDRESS (inside a Ray job), else a local Ray
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    max_concurrent: int = 4
    max_retries: int = 2  # retries of a trial whose worker died; then it is recorded failed
    storage_path: str | None = None  # Tune's experiment folders (default $HYBRID_NAS_TUNE_DIR or ~/ray_results)

    def check(self, device: str) -> None:
        if self.max_concurrent < 1:
            raise UsageError(f"--max-concurrent must be at least 1, got {self.max_concurrent}")
        if self.max_retries < 0:
            raise UsageError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.cpus_per_trial < 0 or self.gpus_per_trial < 0:
            raise UsageError("--cpus-per-trial and --gpus-per-trial must be 0 or more")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise UsageError(f"--gpus-per-trial above 1 must be a whole number, got {self.gpus_per_trial:g}")
        cuda = device.startswith("cuda")
        if cuda and self.gpus_per_trial == 0:
            raise UsageError("--device cuda with --ray needs --gpus-per-trial above 0 (e.g. 1 or 0.25)")
        if not cuda and self.gpus_per_trial > 0:
            raise UsageError(f"--gpus-per-trial {self.gpus_per_trial:g} needs --device cuda (got --device {device})")
        if self.cpus_per_trial == 0 and self.gpus_per_trial == 0:
            raise UsageError("a trial needs some resource: --cpus-per-trial or --gpus-per-trial above 0")


def worker_url(url: str) -> str:
    """The database URL as every process of the cluster must see it: a relative SQLite path made absolute
    (Tune runs each trial in its own folder); in-memory SQLite refused."""
    from storage import parse_url

    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return parsed.render_as_string(hide_password=False)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("uri"):
        raise UsageError(f"--ray needs a database the workers can open too, not {url!r}; use a SQLite file or "
                         "PostgreSQL")
    return parsed.set(database=os.path.abspath(database)).render_as_string(hide_password=False)


def check_ray_device(device: str) -> str:
    """A device string for Ray workers: cpu or cuda (each worker sees only its own GPUs, as cuda:0)."""
    if device == "cpu":
        return device
    if device == "cuda" or re.fullmatch(r"cuda:\d+", device):
        return "cuda"
    raise UsageError(f"unknown device {device!r}; valid: cpu, cuda")
