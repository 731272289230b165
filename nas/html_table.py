"""Plain HTML tables for the report: escaped cells, numbers formatted for reading, raw values kept in `data-v`
so the page's script sorts numbers as numbers."""

from __future__ import annotations

import math
from html import escape
from typing import Any, Sequence

NUMBER = (int, float)


def number(v: Any, digits: int = 4) -> str:
    """A value for reading: '-' for missing, 4 significant digits, exponents for the very large or small."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.{digits - 1}e}"
        if v.is_integer():
            return str(int(v))
        return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:.1f}"
    return str(v)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, keys: Sequence[str] | None = None,
          sortable: bool = False, table_id: str | None = None, raw: Sequence[int] = ()) -> str:
    """A <table>; columns listed in `raw` hold HTML already (e.g. an SVG strip) and are not escaped."""
    keys = list(keys or header)
    numeric = [bool(rows) and all(isinstance(r[i], NUMBER) or r[i] is None for r in rows)
               and any(isinstance(r[i], NUMBER) for r in rows) for i in range(len(header))]
    ths = "".join(
        f'<th data-key="{escape(k)}" data-type="{"num" if n else "text"}">{escape(h)}</th>'
        for h, k, n in zip(header, keys, numeric)
    )
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if i in raw:
                cells.append(f"<td>{v}</td>")
                continue
            data = "" if v is None else (repr(float(v)) if numeric[i] else str(v))
            cls = ' class="n"' if numeric[i] else ""
            cells.append(f'<td{cls} data-v="{escape(data)}">{escape(number(v))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    attrs = (f' id="{escape(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    return f"<table{attrs}><thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(items: dict[str, Any]) -> str:
    """A two-column table of settings; nested values shown as compact JSON."""
    import json

    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(v if isinstance(v, str) else json.dumps(v, sort_keys=True))}"
        f"</td></tr>"
        for k, v in items.items()
    )
    return f'<table class="kv">{rows}</table>'
