"""Finding things in a worksheet's XML without parsing all of it: the header, the last row, styles, tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from lxml import etree

from ..errors import WorkbookError
from ._xlsx import REL_TABLE, Package, SheetRef, col_letters
from .reader import _HEADER_SEARCH_ROWS, find_header, header_columns, iter_row_element
from .schema import SCHEMA, SHEETS


_SHEET_DATA = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)sheetData\b[^>]*?(/?)>")


_ROOT = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)worksheet\b[^>]*>")

_R_ATTR = re.compile(rb'\sr="(\d+)"')


_HAS_VALUE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:v|f|is)[\s>/]")

# How much of each sheet check_writable reads to find its header.
_HEAD_BYTES = 256 * 1024


@dataclass
class SheetScan:
    """Where things are in one worksheet's XML, found without parsing the whole part."""

    sheet: str
    ref: SheetRef
    xml: bytes
    prefix: bytes
    header_row: int
    header: dict[int, str]  # column number -> name (schema spelling for schema names)
    last_row: int  # highest row holding a value (the header row when there is no data)
    rows: list[tuple[int, int, int]]  # (row number, start, end) of each <row> in the XML
    content: tuple[int, int]  # start and end of sheetData's content
    self_closing: re.Match | None
    last_styles: dict[int, int]  # column -> style of the last data row's cell
    col_styles: dict[int, int]  # column -> default style from <cols>
    tables: list[str] = field(default_factory=list)  # table parts of the sheet

    @property
    def by_name(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ci, name in sorted(self.header.items()):
            out.setdefault(name, ci)
        return out


@dataclass
class Inspection:
    pkg: Package
    scans: dict[str, SheetScan]
    missing: list[str]


def inspect_workbook(data: bytes, path: Path, *, head_only: bool = False) -> Inspection:
    """Check that ``data`` is a ledger we can append to and find what the append needs.

    Raises WorkbookError naming what is wrong: not an xlsx, not ours (neither Positions nor
    Trades), a sheet without a header carrying its seed columns, a table with a totals row.
    ``head_only`` checks just that (reading the start of each sheet), without locating the
    rows an append needs: what :func:`check_writable` asks.
    """
    pkg = Package(data, path)
    present = [s for s in SHEETS if pkg.sheet(s) is not None]
    if "Positions" not in present and "Trades" not in present:
        raise WorkbookError(
            f"{path} is not an etftrader tracking workbook: it has no Positions or Trades sheet "
            f"(sheets: {', '.join(pkg.sheets) or 'none'}). It was left untouched; move it aside "
            f"or pass --workbook with another file name")
    if head_only:
        scans = {s: scan_sheet(pkg, s, pkg.sheet(s), pkg.read_head(pkg.sheet(s).part, _HEAD_BYTES), head_only=True)
                 for s in present}
    else:
        scans = {s: scan_sheet(pkg, s, pkg.sheet(s), pkg.read(pkg.sheet(s).part)) for s in present}
    return Inspection(pkg, scans, [s for s in SHEETS if s not in present])


def scan_sheet(pkg: Package, sheet: str, ref: SheetRef, xml: bytes, *, full: bool = False,
               head_only: bool = False) -> SheetScan:
    """Locate header, rows, last data row and styles of one worksheet part.

    Only the first rows (the header) and the last ones (where rows go) are looked at, so a long
    history costs a few searches rather than a pass over every row; ``full`` numbers every row
    from the top instead, for the rare writer that leaves row numbers out.
    """
    m = _SHEET_DATA.search(xml)
    if m is None:
        raise WorkbookError(f"{pkg.path}: sheet {ref.name} has no cell data part; the file is damaged. "
                            f"It was left untouched; restore a backup from results/backups")
    prefix = m.group(1)
    if m.group(2):
        content = (m.end(), m.end())
        self_closing = m
    else:
        end = xml.find(b"</" + prefix + b"sheetData>", m.end())
        if end < 0 and head_only:
            end = len(xml)  # the start of a long sheet: its last row may be cut, see below
        if end < 0:
            raise WorkbookError(f"{pkg.path}: sheet {ref.name} is truncated; the file is damaged. "
                                f"It was left untouched; restore a backup from results/backups")
        content, self_closing = (m.end(), end), None
    row_re = re.compile(b"<" + re.escape(prefix) + rb"row\b[^>]*?>")
    starts: list[tuple[int, int]] = []
    last_r = 0
    for rm in row_re.finditer(xml, content[0], content[1]):
        ra = _R_ATTR.search(rm.group(0))
        last_r = int(ra.group(1)) if ra else last_r + 1
        starts.append((last_r, rm.start()))
        if not full and len(starts) > _HEADER_SEARCH_ROWS:
            break
    spans = [(r, st, starts[i + 1][1] if i + 1 < len(starts) else content[1]) for i, (r, st) in enumerate(starts)]
    if head_only and content[1] == len(xml) and len(spans) > 1:
        spans = spans[:-1]
    head_rows = spans[:_HEADER_SEARCH_ROWS]
    root = _ROOT.search(xml)
    parsed = _parse_rows(pkg, xml, root, prefix, head_rows) if head_rows else []
    found = find_header([(r, cells) for r, cells, _ in parsed], sheet)
    if found is None:
        raise WorkbookError(
            f"{pkg.path}: sheet {ref.name} has no header row with the columns "
            f"{', '.join(SCHEMA[sheet][:4])}, ...; restore the header (row 1) or a backup from results/backups")
    header_row, header = found
    header_columns(pkg, ref.name, sheet, header_row, header)
    last_row, last_styles = header_row, {}
    tail: list[tuple[int, int, int]] = []
    backward = [] if head_only else reversed(spans) if full else _rows_backward(xml, prefix, content)
    try:
        for r, k, pos in backward:
            if r <= header_row:
                break
            if _HAS_VALUE.search(xml, k, pos):
                last_row = r
                last_styles = _parse_rows(pkg, xml, root, prefix, [(r, k, pos)])[0][2]
                break
            tail.append((r, k, pos))
    except _NoRowNumber:
        return scan_sheet(pkg, sheet, ref, xml, full=True)
    rows = sorted({st: (r, st, e) for r, st, e in head_rows + tail}.values(), key=lambda x: x[1])
    col_styles = _col_styles(xml[: m.start()], prefix)
    tables = [part for rtype, part in pkg.rels(ref.part).values() if rtype == REL_TABLE]
    for part in tables:
        t = pkg.parse(part)
        if int(t.get("totalsRowCount", "0") or 0) > 0:
            raise WorkbookError(
                f"{pkg.path}: the table on sheet {ref.name} shows a Total Row, below which no row can be "
                f"added; turn it off (Table Design > Total Row) and run again")
    return SheetScan(sheet, ref, xml, prefix, header_row, header, last_row, rows, content, self_closing,
                     last_styles, col_styles, tables)


class _NoRowNumber(Exception):
    pass


def _rows_backward(xml: bytes, prefix: bytes, content: tuple[int, int]):
    """Yield (row number, start, end) of the <row> elements from the last one up."""
    open_tag = b"<" + prefix + b"row"
    pos = content[1]
    while True:
        k = xml.rfind(open_tag, content[0], pos)
        if k < 0:
            return
        if xml[k + len(open_tag): k + len(open_tag) + 1] not in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
            pos = k
            continue
        ra = _R_ATTR.search(xml, k, xml.index(b">", k))
        if ra is None:
            raise _NoRowNumber
        yield int(ra.group(1)), k, pos
        pos = k


def _parse_rows(pkg: Package, xml: bytes, root: re.Match, prefix: bytes,
                rows: list[tuple[int, int, int]]) -> list[tuple[int, dict[int, object], dict[int, int]]]:
    """Parse a few <row> elements (with the root's namespace declarations) -> values and styles."""
    frag = root.group(0) + b"".join(xml[s:e] for _, s, e in rows) + b"</" + root.group(1) + b"worksheet>"
    try:
        el = etree.fromstring(frag)
    except etree.XMLSyntaxError as e:
        raise WorkbookError(f"{pkg.path}: a row of a sheet is not valid XML ({e}); the file is damaged. "
                            f"It was left untouched; restore a backup from results/backups") from e
    out = []
    prev = rows[0][0] - 1
    for row in el:
        r, cells, styles = iter_row_element(row, pkg, prev)
        prev = r
        out.append((r, cells, styles))
    return out


def _col_styles(before_data: bytes, prefix: bytes) -> dict[int, int]:
    out: dict[int, int] = {}
    for cm in re.finditer(b"<" + re.escape(prefix) + rb"col\b([^>]*)>", before_data):
        attrs = dict(re.findall(rb'(\w+)="([^"]*)"', cm.group(1)))
        if b"style" in attrs and b"min" in attrs:
            lo, hi = int(attrs[b"min"]), int(attrs.get(b"max", attrs[b"min"]))
            for ci in range(lo, min(hi, lo + 200) + 1):  # whole-sheet <col> ranges: first 200 are enough
                out[ci] = int(attrs[b"style"])
    return out


def _scan_new(pkg: Package, sheet: str, ref: SheetRef, xml: bytes, tables: list[str],
              columns: list[str]) -> SheetScan:
    m = _SHEET_DATA.search(xml)
    end = xml.find(b"</sheetData>", m.end())
    rstart = m.end()
    header = {ci: name for ci, name in enumerate(columns, start=1)}
    col_styles = _col_styles(xml[: m.start()], b"")
    return SheetScan(sheet, ref, xml, b"", 1, header, 1, [(1, rstart, end)], (m.end(), end), None, {},
                     col_styles, tables)


def _parse_style_of(row_xml: bytes, ci: int) -> int:
    m = re.search(rb'<(?:[\w.-]+:)?c\b[^>]*\br="' + col_letters(ci).encode() + rb'\d+"[^>]*>', row_xml)
    if m:
        s = re.search(rb'\ss="(\d+)"', m.group(0))
        if s:
            return int(s.group(1))
    return 0
