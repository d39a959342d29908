"""The XML of cells, formulas and table ranges the appender writes."""

from __future__ import annotations

import datetime as _dt
import math
import re
from xml.sax.saxutils import escape
import numpy as np
import pandas as pd
from lxml import etree

from ._xlsx import make_range, split_range


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def status_formula(executed: str, as_of: str, latest: str | None, row: int) -> str:
    """The Trades ``status`` formula of one row: executed (TRUE, 1, x, yes...), pending (a trade
    of the latest week) or superseded."""
    x = f"{executed}{row}"
    done = f'OR({x}=TRUE,{x}=1,ISNUMBER(MATCH(LOWER(TRIM({x}&"")),{{"true","yes","y","x","1"}},0)))'
    latest = latest or f"MAX({as_of}:{as_of})"
    return f'IF({done},"executed",IF({as_of}{row}={latest},"pending","superseded"))'


def _set_dimension(xml: bytes, prefix: bytes, last_row: int, max_col: int) -> bytes:
    m = re.search(b"<" + re.escape(prefix) + rb'dimension\s+ref="([^"]*)"', xml)
    if m is None:
        return xml
    try:
        c1, r1, c2, r2 = split_range(m.group(1).decode())
    except ValueError:
        c1, r1, c2, r2 = 1, 1, 1, 1
    ref = make_range(c1, r1, max(c2, max_col), max(r2, last_row)).encode()
    return xml[: m.start(1)] + ref + xml[m.end(1):]


def _grow_table(table_xml: bytes, header_row: int, last_row: int, *, shrink: bool = False) -> bytes:
    """Extend the table (and its autoFilter) down to ``last_row`` when it starts at the header
    (``shrink``: or cut it to ``last_row``, for a sheet rewritten whole)."""
    m = re.search(rb'<(?:[\w.-]+:)?table\b[^>]*?\sref="([^"]*)"', table_xml)
    if m is None:
        return table_xml
    c1, r1, c2, r2 = split_range(m.group(1).decode())
    if r1 != header_row or (r2 >= last_row and not shrink) or r2 == last_row:
        return table_xml
    new_ref = make_range(c1, r1, c2, last_row).encode()
    out = table_xml[: m.start(1)] + new_ref + table_xml[m.end(1):]
    af = re.search(rb'<(?:[\w.-]+:)?autoFilter\b[^>]*?\sref="([^"]*)"', out)
    if af is not None:
        out = out[: af.start(1)] + new_ref + out[af.end(1):]
    return out


def _widen_table(table_xml: bytes, header_row: int, old_max: int, names: list[str]) -> bytes:
    """Add table columns for header cells added right of a table that ends at ``old_max``."""
    root = etree.fromstring(table_xml)
    c1, r1, c2, r2 = split_range(root.get("ref"))
    if r1 != header_row or c2 != old_max:
        return table_xml
    ns = etree.QName(root).namespace
    tcols = root.find(f"{{{ns}}}tableColumns")
    next_id = max([int(tc.get("id", "0")) for tc in tcols] + [0]) + 1
    for k, name in enumerate(names):
        etree.SubElement(tcols, f"{{{ns}}}tableColumn", id=str(next_id + k), name=name)
    tcols.set("count", str(len(tcols)))
    ref = make_range(c1, r1, c2 + len(names), r2)
    root.set("ref", ref)
    af = root.find(f"{{{ns}}}autoFilter")
    if af is not None:
        af.set("ref", ref)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _formula_cell(p: str, ref: str, style: int, formula: str, cached: object) -> str:
    """A text formula with its value as computed when written (shown until recalculated)."""
    s = f' s="{style}"' if style else ""
    value = "" if cached is None or (isinstance(cached, float) and math.isnan(cached)) else str(cached)
    return f'<{p}c r="{ref}"{s} t="str"><{p}f>{escape(formula)}</{p}f><{p}v>{escape(value)}</{p}v></{p}c>'


def _cell(p: str, ref: str, style: int, value: object, origin: pd.Timestamp) -> str:
    s = f' s="{style}"' if style else ""
    if value is None or value is pd.NA or value is pd.NaT:
        return f'<{p}c r="{ref}"{s}/>'
    if isinstance(value, (bool, np.bool_)):
        return f'<{p}c r="{ref}"{s} t="b"><{p}v>{int(bool(value))}</{p}v></{p}c>'
    if isinstance(value, (int, np.integer)):
        return f'<{p}c r="{ref}"{s}><{p}v>{int(value)}</{p}v></{p}c>'
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            return f'<{p}c r="{ref}"{s}/>'
        return f'<{p}c r="{ref}"{s}><{p}v>{f!r}</{p}v></{p}c>'
    if isinstance(value, (_dt.datetime, _dt.date, np.datetime64)):
        ts = pd.Timestamp(value)
        if ts is pd.NaT or pd.isna(ts):
            return f'<{p}c r="{ref}"{s}/>'
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        serial = (ts - origin) / pd.Timedelta(days=1)
        return f'<{p}c r="{ref}"{s}><{p}v>{serial!r}</{p}v></{p}c>'
    text = _XML_ILLEGAL.sub("", value if isinstance(value, str) else str(value))
    if not text:
        return f'<{p}c r="{ref}"{s}/>'
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<{p}c r="{ref}"{s} t="inlineStr"><{p}is><{p}t{space}>{escape(text)}</{p}t></{p}is></{p}c>'
