"""proxy_key and the JSON codec."""

from __future__ import annotations

import math

import pytest

from storage import StorageError, proxy_key
from storage.jsoncodec import canonical_json, from_db, to_db


def test_proxy_key_is_16_hex_digits_of_sha256_of_canonical_json():
    import hashlib

    settings = {"steps": 200, "lr": 0.001}
    key = proxy_key(settings)
    assert key == hashlib.sha256(b'{"lr":0.001,"steps":200}').hexdigest()[:16]
    assert len(key) == 16 and int(key, 16) >= 0


def test_proxy_key_ignores_spelling_but_not_meaning():
    base = proxy_key({"a": 1, "b": [1, 2], "c": {"x": 0.5}})
    assert proxy_key({"c": {"x": 0.5}, "b": (1, 2), "a": 1.0}) == base
    assert proxy_key({"a": 2, "b": [1, 2], "c": {"x": 0.5}}) != base
    assert proxy_key({"a": 1, "b": [2, 1], "c": {"x": 0.5}}) != base
    assert proxy_key({"a": True}) != proxy_key({"a": 1})
    assert proxy_key({"a": "1"}) != proxy_key({"a": 1})


def test_proxy_key_refuses_what_is_not_json():
    with pytest.raises(StorageError, match="proxy.x"):
        proxy_key({"x": object()})
    with pytest.raises(StorageError, match="must be a dict"):
        proxy_key([1, 2])


def test_codec_round_trip():
    value = {"a": math.inf, "b": [-math.inf, 1, (2, 3)], "c": None, "d": "text", "e": math.nan}
    stored = to_db(value)
    assert stored["a"] == "Infinity" and stored["b"] == ["-Infinity", 1, [2, 3]] and stored["e"] == "NaN"
    back = from_db(stored)
    assert back["a"] == math.inf and back["b"] == [-math.inf, 1, [2, 3]] and math.isnan(back["e"])
    assert canonical_json({"b": 1.0, "a": [2.5]}) == '{"a":[2.5],"b":1}'


def test_codec_accepts_scalar_like_objects():
    class Scalar:  # stands in for numpy.float32 / a 0-d tensor, without importing either
        def item(self):
            return 0.25

    assert to_db({"x": Scalar()}) == {"x": 0.25}
