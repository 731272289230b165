"""The reference CSV that `hybrid-nas calibrate --reference` holds the proxies against."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

from nas.errors import UsageError

def read_reference(path: str | Path, known_metrics: Sequence[str]) -> tuple[dict[str, dict[str, float]], list[str],
                                                                             list[str]]:
    """Read `layout,metric,...` -> ({canonical layout: {metric: value}}, compared columns, ignored columns).

    Layouts are parsed and canonicalised; empty cells are missing values. UsageError on a bad file.
    """
    from search_space.errors import LayoutError
    from search_space.layout import Layout

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read reference CSV {str(p)!r}: {e.strerror if isinstance(e, OSError) else e}") \
            from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as e:
        raise UsageError(f"reference CSV {str(p)!r} is not valid CSV: {e}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise UsageError(f"reference CSV {str(p)!r} is empty; expected a header 'layout,<metric>,...'")
    header = [h.strip() for h in rows[0]]
    if "layout" not in header:
        raise UsageError(f"reference CSV {str(p)!r} has no 'layout' column (header: {','.join(header)})")
    if len(set(header)) != len(header):
        raise UsageError(f"reference CSV {str(p)!r} repeats a column name (header: {','.join(header)})")
    li = header.index("layout")
    others = [h for h in header if h != "layout"]
    columns = [h for h in others if h in known_metrics]
    ignored = [h for h in others if h not in known_metrics]
    if not columns:
        raise UsageError(f"reference CSV {str(p)!r} has no column named after a metric of this study; "
                         f"valid: {', '.join(known_metrics)}")
    out: dict[str, dict[str, float]] = {}
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise UsageError(f"reference CSV {str(p)!r} line {lineno}: {len(r)} cells, the header has {len(header)} "
                             "(quote a layout that holds commas, or write its mixers with spaces: 'gdn attn')")
        try:
            layout = Layout.parse(r[li]).canonical()
        except LayoutError as e:
            raise UsageError(f"reference CSV {str(p)!r} line {lineno}: {e}") from None
        if layout in out:
            raise UsageError(f"reference CSV {str(p)!r} line {lineno}: layout {layout!r} appears twice")
        vals: dict[str, float] = {}
        for h, cell in zip(header, r):
            if h not in columns or not cell.strip():
                continue
            try:
                v = float(cell)
            except ValueError:
                raise UsageError(f"reference CSV {str(p)!r} line {lineno}: {h}={cell.strip()!r} is not a number") \
                    from None
            if math.isnan(v):
                continue
            vals[h] = v
        out[layout] = vals
    if not out:
        raise UsageError(f"reference CSV {str(p)!r} has a header but no rows")
    return out, columns, ignored
