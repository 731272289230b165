"""Keys that make equal settings meet in the database."""

from __future__ import annotations

import hashlib
from typing import Any

from storage.errors import StorageError
from storage.jsoncodec import canonical_json

PROXY_KEY_LENGTH = 16


def proxy_key(settings: dict[str, Any]) -> str:
    """The first 16 hex digits of the sha256 of the canonical JSON of `settings`.

    Key order does not matter, nor 1 vs 1.0, nor tuple vs list; any other difference gives another key.
    """
    if not isinstance(settings, dict):
        raise StorageError(f"proxy settings must be a dict, got {type(settings).__name__}")
    text = canonical_json(settings, what="proxy")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:PROXY_KEY_LENGTH]
