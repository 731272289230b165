"""Shared fixtures for the task tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the real corpora are downloaded once: $HYBRID_NAS_CACHE if set, else a session temp dir."""
    env = os.environ.get("HYBRID_NAS_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("hybrid-nas-cache")
