"""A small reader for R's serialization format and lazy-load databases (enough to pull text out of R data).

R packages keep their data sets in ``data/Rdata.rdb`` / ``data/Rdata.rdx``: the ``.rdx`` is a gzip-ed,
serialized list ``(variables = list(name = c(offset, length), ...), references, compressed)`` and each
object in the ``.rdb`` sits at ``offset``: a 4-byte big-endian uncompressed length followed by zlib data
(or, for other compression types, a type byte ``'Z'``/``'2'``/``'X'``/``'0'`` then the payload).

The payload is R serialization, version 2 or 3, XDR (big-endian) binary: a header, then items; each item
starts with a 32-bit ``flags`` word (low 8 bits: the SEXP type; bit 8: is-object; bit 9: has attributes;
bit 10: has tag; bits 12+: "levels", which for a CHARSXP holds the encoding). Vectors, pairlists, symbols,
environments, references, and ALTREP compact sequences / wrappers are understood; closures, byte code and
other exotic types raise ``RDataError``.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

# SEXP types
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP, STRSXP, DOTSXP = 9, 10, 13, 14, 15, 16, 17
VECSXP, EXPRSXP, RAWSXP, S4SXP = 19, 20, 24, 25
# pseudo-types used only in the stream
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP = 255, 254, 253, 252, 251
BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP, PERSISTSXP = 250, 249, 248, 247
EMPTYENV_SXP, BASEENV_SXP, ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 242, 241, 240, 239, 238

_NA_INT = -(2**31)
_LATIN1_MASK, _UTF8_MASK = 1 << 2, 1 << 3


class RDataError(ValueError):
    """The bytes are not R serialization this reader understands."""


@dataclass
class RObject:
    """An R value: ``kind`` is the SEXP type; ``value`` a Python list for vectors (``None`` for NA),
    a list of ``(tag, value)`` for pairlists, a str for symbols; ``attrs`` maps attribute names to RObjects."""

    kind: int
    value: Any = None
    attrs: dict[str, "RObject"] = field(default_factory=dict)

    def names(self) -> list[str | None]:
        names = self.attrs.get("names")
        return list(names.value) if names is not None else []


_NULL = RObject(NILSXP)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.buf = memoryview(data)
        self.pos = 0
        self.refs: list[RObject] = []

    # -- primitives --------------------------------------------------------------------------------
    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise RDataError("R data ends early (truncated or not XDR serialization)")
        out = self.buf[self.pos : self.pos + n].tobytes()
        self.pos += n
        return out

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> int:
        n = self.int()
        if n == -1:  # long vector: two more ints
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    # -- header ------------------------------------------------------------------------------------
    def header(self) -> None:
        fmt = self.take(2)
        if fmt != b"X\n":
            raise RDataError(f"unsupported R serialization format {fmt!r} (only XDR binary 'X\\n' is read)")
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal reader R version
        if version == 3:
            self.take(self.int())  # native encoding name
        elif version != 2:
            raise RDataError(f"unsupported R serialization version {version}")

    # -- items -------------------------------------------------------------------------------------
    def item(self) -> RObject:
        return self.with_flags(self.int())

    def with_flags(self, flags: int) -> RObject:
        kind = flags & 0xFF
        has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))
        levels = flags >> 12

        if kind == NILVALUE_SXP:
            return _NULL
        if kind in (GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP, BASENAMESPACE_SXP):
            return RObject(ENVSXP)
        if kind in (UNBOUNDVALUE_SXP, MISSINGARG_SXP):
            return RObject(kind)
        if kind == REFSXP:
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == PERSISTSXP or kind in (NAMESPACESXP, PACKAGESXP):
            self.int()  # always 0
            obj = RObject(kind, [self.item().value for _ in range(self.int())])
            self.refs.append(obj)
            return obj
        if kind == SYMSXP:
            obj = RObject(SYMSXP, self.item().value)
            self.refs.append(obj)
            return obj
        if kind == ENVSXP:
            obj = RObject(ENVSXP)
            self.refs.append(obj)
            self.int()  # locked
            enclos, frame, hashtab = self.item(), self.item(), self.item()
            obj.value = {"enclos": enclos, "frame": frame, "hashtab": hashtab}
            self._set_attrs(obj, self.item())
            return obj
        if kind in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
            return self.pairlist(flags)
        if kind == ALTREP_SXP:
            return self.altrep()
        if kind == CHARSXP:
            return RObject(CHARSXP, self.charsxp(levels))

        if kind in (LGLSXP, INTSXP):
            n = self.length()
            vals = struct.unpack(f">{n}i", self.take(4 * n))
            obj = RObject(kind, [None if v == _NA_INT else (bool(v) if kind == LGLSXP else v) for v in vals])
        elif kind == REALSXP:
            n = self.length()
            obj = RObject(kind, list(struct.unpack(f">{n}d", self.take(8 * n))))
        elif kind == CPLXSXP:
            n = self.length()
            parts = struct.unpack(f">{2 * n}d", self.take(16 * n))
            obj = RObject(kind, [complex(parts[i], parts[i + 1]) for i in range(0, 2 * n, 2)])
        elif kind == RAWSXP:
            obj = RObject(kind, self.take(self.length()))
        elif kind == STRSXP:
            n = self.length()
            out = []
            for _ in range(n):
                f = self.int()
                if f & 0xFF != CHARSXP:
                    raise RDataError(f"STRSXP element has type {f & 0xFF}, expected CHARSXP")
                out.append(self.charsxp(f >> 12))
            obj = RObject(kind, out)
        elif kind in (VECSXP, EXPRSXP):
            obj = RObject(kind, [self.item() for _ in range(self.length())])
        elif kind == S4SXP:
            obj = RObject(kind)
        else:
            raise RDataError(f"unsupported R object type {kind}")
        if has_attr:
            self._set_attrs(obj, self.item())
        return obj

    def charsxp(self, levels: int) -> str | None:
        n = self.int()
        if n == -1:
            return None  # NA_character_
        raw = self.take(n)
        return raw.decode("latin-1") if levels & _LATIN1_MASK else raw.decode("utf-8", errors="replace")

    def pairlist(self, flags: int) -> RObject:
        """LISTSXP-like cells, read iteratively along the CDR chain."""
        first_kind = flags & 0xFF
        cells: list[tuple[str | None, RObject]] = []
        attrs: RObject | None = None
        while True:
            kind = flags & 0xFF
            if kind not in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
                tail = self.with_flags(flags)
                if tail.kind != NILSXP:
                    cells.append((None, tail))  # dotted pair: keep the tail as a last, untagged cell
                break
            has_attr = bool(flags & (1 << 9)) or kind in (ATTRLANGSXP, ATTRLISTSXP)
            cell_attrs = self.item() if has_attr else None
            if attrs is None:
                attrs = cell_attrs
            tag = self.item().value if flags & (1 << 10) else None
            cells.append((tag, self.item()))
            flags = self.int()
        obj = RObject(LANGSXP if first_kind in (LANGSXP, ATTRLANGSXP) else first_kind, cells)
        if attrs is not None:
            self._set_attrs(obj, attrs)
        return obj

    def altrep(self) -> RObject:
        info, state, attr = self.item(), self.item(), self.item()
        cls = info.value[0][1].value if info.kind == LISTSXP and info.value else None
        if cls in ("compact_intseq", "compact_realseq"):
            n, start, step = state.value[:3]  # REALSXP (length, first, increment)
            seq = [start + i * step for i in range(int(n))]
            if cls == "compact_intseq":
                obj = RObject(INTSXP, [int(v) for v in seq])
            else:
                obj = RObject(REALSXP, seq)
        elif cls and cls.startswith("wrap_"):
            obj = state.value[0]
        elif cls == "deferred_string":
            arg = state.value[0][1] if state.kind == LISTSXP else state  # CONS(arg, info)
            obj = RObject(STRSXP, [_r_str(v) for v in arg.value])
        else:
            raise RDataError(f"unsupported ALTREP class {cls!r}")
        self._set_attrs(obj, attr)
        return obj

    @staticmethod
    def _set_attrs(obj: RObject, attrs: RObject) -> None:
        if attrs.kind in (LISTSXP, ATTRLISTSXP):
            obj.attrs = {tag: value for tag, value in attrs.value if tag is not None}


def _r_str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def unserialize(data: bytes) -> RObject:
    """Read one serialized R object (the bytes after decompression, starting with ``X\\n``)."""
    reader = _Reader(data)
    reader.header()
    return reader.item()


def read_rds(data: bytes) -> RObject:
    """Read an ``.rds``/``.rdx`` file's bytes (gzip, bzip2, xz or uncompressed)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif data[:3] == b"BZh":
        data = bz2.decompress(data)
    elif data[:6] == b"\xfd7zXZ\x00":
        data = lzma.decompress(data)
    return unserialize(data)


def _lazyload_block(rdb: bytes, offset: int, length: int) -> bytes:
    block = rdb[offset : offset + length]
    if len(block) < 5:
        raise RDataError(f"lazy-load block at {offset} is too short")
    expected = struct.unpack(">I", block[:4])[0]
    try:
        out = zlib.decompress(block[4:])
    except zlib.error:
        kind, payload = block[4:5], block[5:]
        decoders = {b"Z": zlib.decompress, b"2": bz2.decompress, b"X": lzma.decompress, b"0": bytes}
        if kind not in decoders:
            raise RDataError(f"lazy-load block at {offset}: unknown compression") from None
        out = decoders[kind](payload)
    if len(out) != expected:
        raise RDataError(f"lazy-load block at {offset}: {len(out)} bytes, header says {expected}")
    return out


def read_lazyload_db(rdx: bytes, rdb: bytes) -> dict[str, RObject]:
    """All variables of a lazy-load database (``Rdata.rdx`` + ``Rdata.rdb`` bytes), by name, in index order."""
    index = read_rds(rdx)
    fields = dict(zip(index.names(), index.value))
    variables = fields.get("variables")
    if variables is None or variables.kind != VECSXP:
        raise RDataError("lazy-load index has no 'variables' list")
    out: dict[str, RObject] = {}
    for name, where in zip(variables.names(), variables.value):
        offset, length = where.value[:2]
        out[name] = unserialize(_lazyload_block(rdb, int(offset), int(length)))
    return out
