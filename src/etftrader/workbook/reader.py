"""Reading the ledger: stream each sheet's XML into a DataFrame with the schema's dtypes.

Values are read as a person or a spreadsheet application leaves them: numbers typed as text,
booleans written as ``TRUE``/``yes``/``x``/``1`` or as LibreOffice's ``=TRUE()`` formulas, dates as
serial numbers or text. A value that cannot mean what its column needs stops the run with the
sheet, the cell and the value named (in the sheets that decide holdings: Trades and CashFlows).

Why one module of this size: the fast regex scan of a sheet, the lxml parser it falls back to and
the cell decoding both share (``_decoded``) belong together: a fix to how a cell reads must
reach both parsers, and here it does by construction.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
from lxml import etree

from ..errors import WorkbookError
from ._xlsx import Package, col_index, col_letters
from .schema import KIND_DTYPES, REQUIRED_COLUMNS, ROW_COLUMN, SCHEMA, SHEETS, column_kind

__all__ = ["Ledger", "read_ledger", "empty_frame", "Formula", "CellError"]

# Sheets whose values decide what the analyst holds: a value we cannot read there must stop the
# run (guessing would mis-state holdings); elsewhere it is read as missing.
STRICT_SHEETS = frozenset({"Trades", "CashFlows"})

_TRUE = frozenset({"true", "yes", "y", "x", "1", "1.0"})
_FALSE = frozenset({"false", "no", "n", "0", "0.0", ""})
# How many leading rows may sit above the header (a title the analyst typed, say).
_HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True)
class Formula:
    """A formula cell saved without a cached value (``text`` without the leading ``=``)."""

    text: str


@dataclass(frozen=True)
class CellError:
    """An error value such as ``#N/A`` or ``#REF!``."""

    text: str


@dataclass(frozen=True)
class Ledger:
    """The workbook's sheets as frames, one row per Excel row, in sheet order.

    Each frame has the sheet's schema columns (in :data:`SCHEMA` order, with the schema dtypes),
    then any columns the analyst added (as read), then ``_row``: the Excel row number, so later
    errors can name a cell. Rows whose cells are all empty are left out.
    """

    positions: pd.DataFrame
    trades: pd.DataFrame
    performance: pd.DataFrame
    metadata: pd.DataFrame
    cashflows: pd.DataFrame
    path: Path | None = None
    exists: bool = False
    sheets_present: tuple[str, ...] = field(default=())

    def sheet(self, name: str) -> pd.DataFrame:
        """The frame of a sheet by its workbook name (``"Trades"`` -> :attr:`trades`)."""
        return getattr(self, _ATTR[name])


_ATTR = {"Positions": "positions", "Trades": "trades", "Performance": "performance",
         "Metadata": "metadata", "CashFlows": "cashflows"}


def empty_frame(sheet: str) -> pd.DataFrame:
    """A frame with no rows and the sheet's schema columns and dtypes (plus ``_row``)."""
    cols = {name: pd.Series(dtype=KIND_DTYPES[column_kind(name)]) for name in SCHEMA[sheet]}
    cols[ROW_COLUMN] = pd.Series(dtype="int64")
    return pd.DataFrame(cols)


def read_ledger(path: str | Path, *, sheets: Iterable[str] | None = None) -> Ledger:
    """Read the tracking workbook.

    Parameters
    ----------
    path : str or Path
        The workbook. A missing file reads as an empty ledger (first run).
    sheets : iterable of str, optional
        Sheets to parse (default all five); the others come back empty, which saves time on a
        long history (the weekly run needs Trades, CashFlows and Metadata, not Positions).

    Returns
    -------
    Ledger

    Raises
    ------
    WorkbookError
        The file is not a workbook, is not ours (none of our sheets, or a sheet without its
        seed columns), or a Trades/CashFlows cell holds a value its column cannot take (the
        message names sheet, cell and value).
    """
    path = Path(path)
    wanted = list(SHEETS) if sheets is None else list(sheets)
    unknown = [s for s in wanted if s not in SCHEMA]
    if unknown:
        raise ValueError(f"unknown sheet(s) {unknown}; the ledger has {list(SHEETS)}")
    frames = {s: empty_frame(s) for s in SHEETS}
    if not path.exists():
        return Ledger(**{_ATTR[s]: f for s, f in frames.items()}, path=path, exists=False)
    pkg = Package.open(path)
    present = tuple(s for s in SHEETS if pkg.sheet(s) is not None)
    if not any(s in present for s in ("Positions", "Trades")):
        raise WorkbookError(
            f"{path} is not an etftrader tracking workbook: it has no Positions or Trades sheet "
            f"(sheets: {', '.join(pkg.sheets) or 'none'}). It was left untouched; move it aside "
            f"or pass --workbook with another file name")
    for sheet in wanted:
        ref = pkg.sheet(sheet)
        if ref is not None:
            frames[sheet] = read_sheet(pkg, ref.part, sheet, ref.name)
    return Ledger(**{_ATTR[s]: f for s, f in frames.items()}, path=path, exists=True, sheets_present=present)


# ---------------------------------------------------------------------------------------------
# Streaming a sheet


def iter_rows(pkg: Package, part: str) -> list[tuple[int, dict[int, object]]]:
    """(row number, {column number: value}) for each row of a worksheet part that holds a value.

    Values: float, str, bool, :class:`Formula` (no cached value) or :class:`CellError`; blank
    cells are left out. Cells are found with one regular-expression pass over the part (the
    fast path, for the files Excel, LibreOffice and openpyxl write, whose cells all carry their
    reference); a part with a cell without ``r=`` is streamed through lxml instead.
    """
    data = pkg.read(part)
    fast = _scan_cells(pkg, data)
    if fast is not None:
        return fast
    return list(_iter_rows_lxml(pkg, part, data))


_SHEET_DATA_OPEN = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)sheetData\b[^>]*?(/?)>")



def _cell_pattern(prefix: str) -> re.Pattern:
    """Cells in the usual shape (``r``, ``s``, ``t`` in that order; a ``<v>`` or a plain inline
    string) in the first alternative, read without backtracking; any other cell in the second."""
    p = re.escape(prefix)
    return re.compile(
        rf'<{p}c r="([A-Z]+)(\d+)"(?: s="\d+")?(?: t="(\w+)")?'
        rf"(?:/>|>(?:<{p}v>([^<]*)</{p}v>|<{p}is><{p}t>([^<]*)</{p}t></{p}is>)</{p}c>)"
        rf"|<{p}c\b([^>]*?)(?:/>|>(.*?)</{p}c>)", re.S)


_T_TEXT_S = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?t\b[^>]*?(?:/>|>(.*?)</(?:[A-Za-z_][\w.-]*:)?t>)", re.S)
_V_TEXT_S = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?v\b[^>]*?(?:/>|>(.*?)</(?:[A-Za-z_][\w.-]*:)?v>)", re.S)
_F_TEXT_S = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?f\b[^>]*?(?:/>|>(.*?)</(?:[A-Za-z_][\w.-]*:)?f>)", re.S)
_IS_S = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?is\b")
_R_S = re.compile(r'\sr="\$?([A-Za-z]+)\$?(\d+)"')
_T_S = re.compile(r'\st="(\w+)"')


def _unescape(s: str) -> str:
    return html.unescape(s) if "&" in s else s


def _scan_cells(pkg: Package, data: bytes) -> list[tuple[int, dict[int, object]]] | None:
    m = _SHEET_DATA_OPEN.search(data)
    if m is None:
        raise WorkbookError(f"{pkg.path}: a sheet has no cell data part; the file is damaged. "
                            f"It was left untouched; restore a backup from results/backups")
    if m.group(2):
        return []
    p = m.group(1)
    end = data.find(b"</" + p + b"sheetData>", m.end())
    if end < 0:
        raise WorkbookError(f"{pkg.path}: a sheet is truncated; the file is damaged. "
                            f"It was left untouched; restore a backup from results/backups")
    try:
        text = data[m.end():end].decode("utf-8")
    except UnicodeDecodeError:
        return None  # not UTF-8 (a UTF-16 part): lxml knows the declared encoding
    out: list[tuple[int, dict[int, object]]] = []
    cur_key, cur = None, None
    col_cache: dict[str, int] = {}
    for col, row, t, v, inline, attrs, body in _cell_pattern(p.decode()).findall(text):
        if col:
            if not v and not inline:
                continue
        else:  # the general shape
            if not body:
                continue
            rm = _R_S.search(attrs)
            if rm is None:
                return None
            col, row = rm.group(1).upper(), rm.group(2)
            tm = _T_S.search(attrs)
            t = tm.group(1) if tm else ""
            if _IS_S.search(body):
                t, v, inline = "inlineStr", "", "".join(_T_TEXT_S.findall(body))
                if not inline:
                    continue
            else:
                vm = _V_TEXT_S.search(body)
                v = vm.group(1) if vm else ""
                if not v:
                    fm = _F_TEXT_S.search(body)
                    if fm is None:
                        continue
                    t, inline, v = "formula", _unescape(fm.group(1) or "").strip(), ""
        if row != cur_key:
            cur_key, cur = row, {}
            out.append((int(row), cur))
        ci = col_cache.get(col)
        if ci is None:
            ci = col_cache[col] = col_index(col)
        if t == "formula":
            cur[ci] = Formula(inline)
        elif inline:
            cur[ci] = _unescape(inline)
        else:
            cur[ci] = _decoded(pkg, t, _unescape(v), ci, int(row))
    if any(a[0] >= b[0] for a, b in zip(out, out[1:])):
        merged: dict[int, dict[int, object]] = {}
        for r, cells in out:
            merged.setdefault(r, {}).update(cells)
        out = sorted(merged.items())
    return out


def _iter_rows_lxml(pkg: Package, part: str, data: bytes) -> Iterator[tuple[int, dict[int, object]]]:
    row_tag = f"{{{pkg.ns}}}row"
    last_r = 0
    try:
        for _, row in etree.iterparse(io.BytesIO(data), tag=row_tag, huge_tree=True):
            last_r, cells, _ = iter_row_element(row, pkg, last_r)
            row.clear()
            while row.getprevious() is not None:
                del row.getparent()[0]
            if cells:
                yield last_r, cells
    except etree.XMLSyntaxError as e:
        raise WorkbookError(f"{pkg.path}: sheet part {part} is not valid XML ({e}); the file is damaged. "
                            f"It was left untouched; restore a backup from results/backups") from e


def iter_row_element(row: etree._Element, pkg: Package, prev_r: int) -> tuple[int, dict[int, object], dict[int, int]]:
    """Values and styles of one parsed ``<row>``: (row number, {col: value}, {col: style index})."""
    ns = pkg.ns
    r_attr = row.get("r")
    r = int(r_attr) if r_attr else prev_r + 1
    cells: dict[int, object] = {}
    styles: dict[int, int] = {}
    last_c = 0
    for c in row.iterchildren(f"{{{ns}}}c"):
        ref = c.get("r")
        ci = col_index(ref.rstrip("0123456789").lstrip("$")) if ref else last_c + 1
        last_c = ci
        st = c.get("s")
        if st:
            styles[ci] = int(st)
        t = c.get("t")
        v = f = None
        for child in c:
            local = child.tag.rpartition("}")[2]
            if local == "v":
                v = child.text
            elif local == "f":
                f = child.text or ""
            elif local == "is":
                # An empty inline string is a blank cell, as on the fast path.
                v = "".join(child.itertext(f"{{{ns}}}t")) or None
                t = "inlineStr"
        if v is None:
            if f is not None:
                cells[ci] = Formula(f.strip())
            continue
        cells[ci] = _decoded(pkg, t, v, ci, r)
    return r, cells, styles


def _decoded(pkg: Package, t: str | None, v: str, ci: int, r: int) -> object:
    """A cell's value from its type attribute ``t`` and its (unescaped) text ``v``: the one cell
    decoding both parsers use."""
    if not t or t == "n":
        try:
            return float(v)
        except ValueError:
            return v
    if t == "s":
        try:
            return pkg.shared_strings[int(v)]
        except (IndexError, ValueError) as e:
            raise _missing_shared_string(pkg, f"{col_letters(ci)}{r}", v) from e
    if t == "b":
        return v.strip().lower() in ("1", "true")
    if t == "e":
        return CellError(v)
    return v  # "str" (a formula's text result), "inlineStr", "d" (ISO date text)


def _missing_shared_string(pkg: Package, ref: str, index: object) -> WorkbookError:
    """The error for a cell whose shared-string index points past the table (both parsers)."""
    return WorkbookError(
        f"{pkg.path}: cell {ref} points to shared string {index}, which does not exist; "
        "the file is damaged (restore a backup from results/backups)")


def find_header(rows: list[tuple[int, dict[int, object]]], sheet: str) -> tuple[int, dict[int, str]] | None:
    """The header row among ``rows``: the first holding ``timestamp`` and two more schema names.

    Returns (row number, {column number: name}) or None. Names are stripped; matching schema
    names ignores case, and the schema spelling is returned for them.
    """
    schema = {n.lower(): n for n in SCHEMA[sheet]}
    for r, cells in rows:
        names = {ci: str(v).strip() for ci, v in cells.items() if isinstance(v, str) and v.strip()}
        lowered = [n.lower() for n in names.values()]
        if "timestamp" in lowered and sum(n in schema for n in lowered) >= 3:
            return r, {ci: schema.get(n.lower(), n) for ci, n in names.items()}
    return None


def header_columns(pkg: Package, display_name: str, sheet: str, header_row: int,
                   header: dict[int, str]) -> dict[str, int]:
    """Column number by name; raises when a required column is missing or a schema name repeats.

    Repeated names of the analyst's own columns get ``.2``, ``.3``... as pandas does.
    """
    by_name: dict[str, int] = {}
    for ci, name in sorted(header.items()):
        if name in by_name:
            if name in SCHEMA[sheet]:
                raise WorkbookError(
                    f"{pkg.path}: sheet {display_name} has two '{name}' columns "
                    f"({col_letters(by_name[name])}{header_row} and {col_letters(ci)}{header_row}); "
                    f"rename or delete one and run again")
            k = 2
            while f"{name}.{k}" in by_name:
                k += 1
            name = f"{name}.{k}"
        by_name[name] = ci
    missing = [c for c in REQUIRED_COLUMNS[sheet] if c not in by_name]
    if missing:
        raise WorkbookError(
            f"{pkg.path}: sheet {display_name} has no column {', '.join(repr(c) for c in missing)} in its "
            f"header (row {header_row}); restore the column name and run again")
    return by_name


def read_sheet(pkg: Package, part: str, sheet: str, display_name: str | None = None) -> pd.DataFrame:
    """One sheet as a frame with the schema dtypes, analyst columns, and ``_row``."""
    display_name = display_name or sheet
    rows = iter_rows(pkg, part)
    found = find_header(rows[:_HEADER_SEARCH_ROWS], sheet)
    if found is None:
        raise WorkbookError(
            f"{pkg.path}: sheet {display_name} has no header row with the columns "
            f"{', '.join(SCHEMA[sheet][:4])}, ...; restore the header (row 1) or a backup from results/backups")
    header_row, header = found
    by_name = header_columns(pkg, display_name, sheet, header_row, header)
    # Only header columns count: a value in an unnamed column does not make a row.
    wanted = set(by_name.values())
    body = [(r, c) for r, c in rows
            if r > header_row and any(ci in wanted and not _blank(v) for ci, v in c.items())]
    row_numbers = [r for r, _ in body]
    columns: dict[str, list] = {name: [c.get(ci) for _, c in body] for name, ci in by_name.items()}
    n = len(row_numbers)
    strict = sheet in STRICT_SHEETS
    out: dict[str, pd.Series] = {}
    for name in SCHEMA[sheet]:
        kind = column_kind(name)
        if name not in by_name:
            out[name] = _missing_column(kind, n)
            continue
        ci = by_name[name]
        out[name] = _convert(columns[name], kind, row_numbers, pkg, display_name, name, ci, strict)
    for name in by_name:
        if name not in out:
            out[name] = _analyst_column(columns[name])
    out[ROW_COLUMN] = pd.Series(row_numbers, dtype="int64")
    frame = pd.DataFrame(out)
    frame.index = pd.RangeIndex(n)
    # Where each column is, so a later check (a SELL's `lot`, say) can name the cell it rejects.
    frame.attrs["cells"] = {"sheet": display_name, "file": pkg.path.name,
                            "columns": {name: col_letters(ci) for name, ci in by_name.items()}}
    return frame


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _missing_column(kind: str, n: int) -> pd.Series:
    if kind == "bool":
        return pd.Series([False] * n, dtype="bool")
    return pd.Series([None] * n, dtype=KIND_DTYPES[kind]) if kind != "text" else pd.Series([np.nan] * n, dtype="str")


def _bad(pkg: Package, sheet: str, ci: int, r: int, name: str, value: object, expected: str) -> WorkbookError:
    shown = value.text if isinstance(value, (Formula, CellError)) else value
    hint = ""
    if isinstance(value, Formula):
        shown = "=" + value.text
        hint = " (a formula saved without its result: open and save the file in Excel, or type the value)"
    return WorkbookError(
        f"{sheet}!{col_letters(ci)}{r} ({name}) must be {expected}, got {shown!r}{hint}; "
        f"fix the cell in {pkg.path.name} and run again")


def parse_bool(value: object) -> bool | None:
    """A cell value as a person or a spreadsheet app writes a yes/no; None when it is not one."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return {1.0: True, 0.0: False}.get(value)
    if isinstance(value, Formula):
        text = value.text.strip().lstrip("=").replace(" ", "").upper()
        return {"TRUE()": True, "TRUE": True, "FALSE()": False, "FALSE": False}.get(text)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _convert(values: list, kind: str, rows: list[int], pkg: Package, sheet: str, name: str,
             ci: int, strict: bool) -> pd.Series:
    if kind == "bool":
        # The usual case, our own booleans and blanks, without a call per value.
        if all(v is True or v is False or v is None for v in values):
            return pd.Series([v is True for v in values], dtype="bool")
        out = []
        for v, r in zip(values, rows):
            b = parse_bool(v)
            if b is None:
                raise _bad(pkg, sheet, ci, r, name,
                           v, "TRUE or FALSE (also yes/no, y/n, x, 1/0; blank means FALSE)")
            out.append(b)
        return pd.Series(out, dtype="bool")
    if kind == "text":
        if all(type(v) is str or v is None for v in values):
            return pd.Series([np.nan if v is None else v for v in values], dtype="str")
        return pd.Series([_as_text(v) for v in values], dtype="str")
    if kind in ("datetime", "date"):
        return _to_datetimes(values, kind, rows, pkg, sheet, name, ci, strict)
    try:  # the usual case: numbers and blanks (None -> NaN)
        fast = np.array(values, dtype="float64")
        if not any(isinstance(v, (str, bool)) for v in values):
            return pd.Series(fast, dtype="float64")
    except (TypeError, ValueError):
        pass
    out = np.full(len(values), np.nan)
    for i, (v, r) in enumerate(zip(values, rows)):
        if v is None:
            continue
        if isinstance(v, float):
            out[i] = v
            continue
        if isinstance(v, str):
            text = v.strip().replace(",", "")
            if not text:
                continue
            try:
                pct = text.endswith("%")
                out[i] = float(text.rstrip("%")) / (100.0 if pct else 1.0)
                continue
            except ValueError:
                pass
        if strict:
            raise _bad(pkg, sheet, ci, r, name, v, "a number")
    return pd.Series(out, dtype="float64")


def _as_text(v: object) -> object:
    if v is None:
        return np.nan
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (Formula, CellError)):
        return np.nan if isinstance(v, Formula) else v.text
    return v


def _serial_origin(pkg: Package) -> pd.Timestamp:
    return pd.Timestamp("1904-01-01") if pkg.date1904 else pd.Timestamp("1899-12-30")


def _to_datetimes(values: list, kind: str, rows: list[int], pkg: Package, sheet: str, name: str,
                  ci: int, strict: bool) -> pd.Series:
    serials = np.full(len(values), np.nan)
    texts: dict[int, str] = {}
    if all(type(v) is float or v is None for v in values):  # serial numbers and blanks
        serials = np.array(values, dtype="float64")
        values = []
    for i, v in enumerate(values):
        if isinstance(v, float):
            serials[i] = v
        elif isinstance(v, str) and v.strip():
            texts[i] = v.strip()
        elif v is not None and not (isinstance(v, str)):
            if strict:
                raise _bad(pkg, sheet, ci, rows[i], name, v, "a date")
    # Serial days -> nanoseconds, rounded to the millisecond: a double holds ~1 microsecond of a
    # day serial, so finer digits are noise, not data.
    ms = np.round(serials * 86_400_000.0)
    out = pd.Series(pd.to_datetime(ms, unit="ms", origin=_serial_origin(pkg)), dtype="datetime64[ns]")
    for i, text in texts.items():
        try:
            ts = pd.Timestamp(text)
            out.iloc[i] = ts.tz_localize(None) if ts.tzinfo is not None else ts
        except (ValueError, TypeError):
            if strict:
                raise _bad(pkg, sheet, ci, rows[i], name, text, "a date (yyyy-mm-dd)") from None
    if kind == "date":
        out = out.dt.normalize()
    return out


def _analyst_column(values: list) -> pd.Series:
    """An added column as read: numbers, text, booleans; formulas without a value are missing."""
    cleaned = [None if isinstance(v, Formula) else (v.text if isinstance(v, CellError) else v) for v in values]
    return pd.Series(cleaned, dtype="object")
