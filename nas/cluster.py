"""Ray cluster plumbing: the runtime environment that carries this project, and the Ray Jobs client.

`hybrid-nas submit` sends `python3 -m nas.cli search --ray ...` to a cluster's job server (the Ray dashboard,
port 8265, which needs `ray[default]`: `pip install 'hybrid-nas[cluster]'`); `search --ray --address` ships
the same runtime environment. Nothing here imports Ray until it is used.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from nas.errors import UsageError

DEFAULT_JOB_ADDRESS = "http://127.0.0.1:8265"
PACKAGES = ("nas", "search_space", "proxies", "kernels", "storage")
EXCLUDES = [
    ".git", ".github", "*.db", "*.db-wal", "*.db-shm", "*.db-journal", ".wheelhouse", ".whl", ".device-cache",
    ".device-out", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".benchmarks", ".mypy_cache", ".ruff_cache", "*.whl", "*.tar.gz",
]
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
EXTRA = "pip install 'hybrid-nas[cluster]' (Ray's job client and server, ray[default])"


def project_root() -> Path | None:
    """The source tree this code runs from (a checkout or an editable install), or None for an installed
    package."""
    root = Path(importlib.import_module("nas").__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "hybrid-nas"' in pyproject.read_text(errors="replace"):
        return root
    return None


def project_runtime_env(env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """A Ray runtime_env carrying this project: the source tree as `working_dir` (without .git, databases,
    wheelhouses, caches), or the installed packages as `py_modules`."""
    root = project_root()
    env: dict[str, Any]
    if root is not None:
        env = {"working_dir": str(root), "excludes": list(EXCLUDES)}
    else:
        env = {"py_modules": [importlib.import_module(p) for p in PACKAGES], "excludes": list(EXCLUDES)}
    if env_vars:
        env["env_vars"] = dict(env_vars)
    return env


def job_address(address: str | None) -> str:
    """The job server's address: --address, else $RAY_API_SERVER_ADDRESS, else an http $RAY_ADDRESS, else the
    local default."""
    if address:
        return address
    for name in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(name, "")
        if value.startswith(("http://", "https://")):
            return value
    return DEFAULT_JOB_ADDRESS


def job_client(address: str | None) -> Any:
    """A connected `JobSubmissionClient`; `UsageError` (one line) when the client is not installed or the
    server cannot be reached."""
    try:
        from ray.job_submission import JobSubmissionClient

        import requests  # noqa: F401 - the client's transport, optional in Ray's minimal install
    except ImportError as exc:
        raise UsageError(f"Ray job submission needs the cluster extra ({exc.name or exc} is missing): {EXTRA}") from None
    import logging

    for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging",
                 "ray._private.runtime_env.working_dir"):  # per-file upload chatter
        logging.getLogger(name).setLevel(logging.ERROR)
    where = job_address(address)
    try:
        return JobSubmissionClient(where)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        text = " ".join(str(exc).split())
        raise UsageError(f"cannot reach the Ray job server at {where} ({text}); start one with "
                         "`ray start --head --dashboard-host 0.0.0.0` (needs ray[default]) or pass --address "
                         "http://HEAD:8265") from None


def job_call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a client call; a server's refusal (unknown job id, ...) becomes one `UsageError` line."""
    try:
        return fn(*args, **kwargs)
    except (RuntimeError, ValueError, ConnectionError) as exc:
        text = " ".join(str(exc).split())
        if len(text) > 300:
            text = text[:297] + "..."
        raise UsageError(f"{what}: {text}") from None
