"""The R serialization reader on hand-built XDR bytes (no R and no network needed)."""
from __future__ import annotations

import gzip
import struct
import zlib

import pytest

from proxies.tasks.rdata import (
    INTSXP,
    LGLSXP,
    REALSXP,
    STRSXP,
    VECSXP,
    RDataError,
    read_lazyload_db,
    read_rds,
    unserialize,
)

HAS_ATTR, HAS_TAG = 1 << 9, 1 << 10
UTF8, LATIN1 = 1 << 3, 1 << 2


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def header(version: int = 3) -> bytes:
    out = b"X\n" + i32(version) + i32(0x040201) + i32(0x030500)
    return out + (i32(5) + b"UTF-8" if version == 3 else b"")


def charsxp(s: str | None, enc: int = UTF8) -> bytes:
    if s is None:
        return i32(9) + i32(-1)
    raw = s.encode("latin-1" if enc == LATIN1 else "utf-8")
    return i32(9 | (enc << 12)) + i32(len(raw)) + raw


def strsxp(items: list[str | None], attrs: bytes = b"") -> bytes:
    return i32(16 | (HAS_ATTR if attrs else 0)) + i32(len(items)) + b"".join(charsxp(s) for s in items) + attrs


def symbol(name: str) -> bytes:
    return i32(1) + charsxp(name)


def pairlist(cells: list[tuple[str, bytes]]) -> bytes:
    """Tagged LISTSXP; the second and later uses of a symbol could be REFSXPs, first uses are SYMSXP."""
    out = b""
    for tag, value in cells:
        out += i32(2 | HAS_TAG) + symbol(tag) + value
    return out + i32(254)  # NILVALUE


def test_named_vectors_na_and_encodings():
    names = pairlist([("names", strsxp(["a", "b", "c"]))])
    data = header() + i32(16 | HAS_ATTR) + i32(3) + charsxp("héllo") + charsxp(None) + charsxp("caf\xe9", LATIN1) + names
    obj = unserialize(data)
    assert obj.kind == STRSXP
    assert obj.value == ["héllo", None, "café"]
    assert obj.names() == ["a", "b", "c"]


def test_numeric_vectors_list_and_version_2():
    body = i32(19) + i32(3)
    body += i32(13) + i32(3) + i32(1) + i32(-(2**31)) + i32(3)  # INTSXP with an NA
    body += i32(14) + i32(2) + struct.pack(">2d", 1.5, -2.0)  # REALSXP
    body += i32(10) + i32(2) + i32(1) + i32(0)  # LGLSXP
    obj = unserialize(header(version=2) + body)
    assert obj.kind == VECSXP
    ints, reals, lgls = obj.value
    assert (ints.kind, ints.value) == (INTSXP, [1, None, 3])
    assert (reals.kind, reals.value) == (REALSXP, [1.5, -2.0])
    assert (lgls.kind, lgls.value) == (LGLSXP, [True, False])


def test_symbol_references_and_compact_intseq():
    # list(x = 1:4) where 1:4 is an ALTREP compact_intseq; symbols enter the reference table in reading
    # order (a, compact_intseq, b, base, c, names), so REFSXP 2 is the symbol 'compact_intseq'
    altrep_info = pairlist([("a", symbol("compact_intseq")), ("b", symbol("base")), ("c", i32(13) + i32(1) + i32(13))])
    seq = i32(238) + altrep_info + i32(14) + i32(3) + struct.pack(">3d", 4, 1, 1) + i32(254)
    attrs = i32(2 | HAS_TAG) + symbol("names") + strsxp(["x"])
    attrs += i32(2 | HAS_TAG) + i32((2 << 8) | 255) + strsxp(["by reference"]) + i32(254)
    obj = unserialize(header() + i32(19 | HAS_ATTR) + i32(1) + seq + attrs)
    assert obj.value[0].kind == INTSXP and obj.value[0].value == [1, 2, 3, 4]
    assert obj.names() == ["x"]
    assert obj.attrs["compact_intseq"].value == ["by reference"]


def test_lazyload_db_round_trip():
    objects = {"first": header() + strsxp(["one", "two"]), "second": header() + strsxp(["three"])}
    rdb, where = b"", {}
    for name, payload in objects.items():
        block = struct.pack(">I", len(payload)) + zlib.compress(payload)
        where[name] = (len(rdb), len(block))
        rdb += block
    variables = b"".join(i32(13) + i32(2) + i32(off) + i32(length) for off, length in where.values())
    index = i32(19 | HAS_ATTR) + i32(3)
    index += i32(19 | HAS_ATTR) + i32(2) + variables + pairlist([("names", strsxp(list(where)))])
    index += i32(19) + i32(0) + i32(10) + i32(1) + i32(1)
    index += pairlist([("names", strsxp(["variables", "references", "compressed"]))])
    rdx = gzip.compress(header() + index)
    db = read_lazyload_db(rdx, rdb)
    assert list(db) == ["first", "second"]
    assert db["first"].value == ["one", "two"] and db["second"].value == ["three"]
    assert read_rds(rdx).names() == ["variables", "references", "compressed"]


def test_bad_input_raises():
    with pytest.raises(RDataError, match="format"):
        unserialize(b"A\n1\n")
    with pytest.raises(RDataError, match="ends early"):
        unserialize(header() + i32(16) + i32(5))
    with pytest.raises(RDataError, match="unsupported R object type"):
        unserialize(header() + i32(21))
