"""The edit of one append: the parts replaced or added, then one pass writing the zip.

Why one module of this size: it is one class, the edit of one append, whose methods each change
one kind of part of the package (cells, tables, validations, print setup, the run's own sheets)
and share its record of what was replaced.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Mapping
from xml.sax.saxutils import escape
import pandas as pd
from lxml import etree

from ..errors import WorkbookError
from ._xlsx import (
    NS_REL_DOC, REL_TABLE, REL_WORKSHEET, Package, SheetRef, col_index, col_letters, rels_path,
    relative_target,
)
from .create import TABLE_STYLE, table_name
from .schema import HOLDINGS_COLUMNS, HOLDINGS_SHEET, KIND_FORMATS, LAYOUT, SCHEMA, column_kind, column_width
from .scan import SheetScan, _ROOT, _SHEET_DATA, _parse_style_of, _scan_new, scan_sheet
from .cells import _cell, _formula_cell, _grow_table, _set_dimension, _widen_table, status_formula


_CT_TABLE = "application/vnd.openxmlformats-officedocument.spreadsheetml.table+xml"


_CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

# Formats Excel knows by number, so no custom <numFmt> is needed for them.
_FAST_DEFLATE_ABOVE = 256 * 1024


_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9, "0.00%": 10}

class _Edit:
    def __init__(self, pkg: Package):
        self.pkg = pkg
        self.parts: dict[str, bytes] = {}  # replaced or added parts
        self.added: list[str] = []
        self._styles: etree._Element | None = None
        self._xf_for: dict[str, int] = {}

    def current(self, part: str) -> bytes:
        return self.parts[part] if part in self.parts else self.pkg.read(part)

    # -- styles ------------------------------------------------------------------------------
    def style_for_format(self, code: str) -> int:
        """Index of a plain cell format showing ``code``, added to styles.xml when missing."""
        if code in self._xf_for:
            return self._xf_for[code]
        pkg = self.pkg
        if not pkg.styles_part:
            return 0
        if self._styles is None:
            self._styles = pkg.parse(pkg.styles_part)
        root, ns = self._styles, pkg.ns
        fid = _BUILTIN_FORMATS.get(code)
        numfmts = root.find(f"{{{ns}}}numFmts")
        if fid is None:
            if numfmts is None:
                numfmts = etree.Element(f"{{{ns}}}numFmts")
                root.insert(0, numfmts)
            for nf in numfmts:
                if nf.get("formatCode") == code:
                    fid = int(nf.get("numFmtId"))
                    break
            else:
                fid = max([163] + [int(nf.get("numFmtId")) for nf in numfmts]) + 1
                etree.SubElement(numfmts, f"{{{ns}}}numFmt", numFmtId=str(fid), formatCode=code)
                numfmts.set("count", str(len(numfmts)))
        xfs = root.find(f"{{{ns}}}cellXfs")
        for i, xf in enumerate(xfs):
            if (xf.get("numFmtId") == str(fid) and xf.get("fontId", "0") == "0" and xf.get("fillId", "0") == "0"
                    and xf.get("borderId", "0") == "0" and len(xf) == 0):
                idx = i
                break
        else:
            etree.SubElement(xfs, f"{{{ns}}}xf", numFmtId=str(fid), fontId="0", fillId="0", borderId="0",
                             xfId="0", applyNumberFormat="1")
            xfs.set("count", str(len(xfs)))
            idx = len(xfs) - 1
        self.parts[pkg.styles_part] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
        self._xf_for[code] = idx
        return idx

    def dxf(self, fill: str | None, font: str, bold: bool = False) -> int | None:
        """Index of a differential format (what a conditional format applies), added to styles.xml."""
        pkg = self.pkg
        if not pkg.styles_part:
            return None
        if self._styles is None:
            self._styles = pkg.parse(pkg.styles_part)
        root, ns = self._styles, pkg.ns
        dxfs = root.find(f"{{{ns}}}dxfs")
        if dxfs is None:
            dxfs = etree.Element(f"{{{ns}}}dxfs", count="0")
            # schema order: ... cellStyles, dxfs, tableStyles, colors, extLst
            after = root.find(f"{{{ns}}}cellStyles")
            if after is not None:
                after.addnext(dxfs)
            else:
                before = next((root.find(f"{{{ns}}}{t}") for t in ("tableStyles", "colors", "extLst")
                               if root.find(f"{{{ns}}}{t}") is not None), None)
                if before is not None:
                    before.addprevious(dxfs)
                else:
                    root.append(dxfs)
        el = etree.SubElement(dxfs, f"{{{ns}}}dxf")
        font_el = etree.SubElement(el, f"{{{ns}}}font")
        if bold:
            etree.SubElement(font_el, f"{{{ns}}}b")
        etree.SubElement(font_el, f"{{{ns}}}color", rgb=f"FF{font}")
        if fill:
            pattern = etree.SubElement(etree.SubElement(el, f"{{{ns}}}fill"), f"{{{ns}}}patternFill")
            etree.SubElement(pattern, f"{{{ns}}}bgColor", rgb=f"FF{fill}")
        dxfs.set("count", str(len(dxfs)))
        self.parts[pkg.styles_part] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
        return len(dxfs) - 1

    def colour_statuses(self, scan: SheetScan) -> SheetScan:
        """Conditional formats for a Trades sheet that just gained ``status``: the status colours
        and BUY/SELL, as a new workbook has them."""
        from .create import STATUS_COLOURS

        xml, p = scan.xml, scan.prefix.decode()
        rules = []
        if "status" in scan.by_name:
            col = col_letters(scan.by_name["status"])
            for status, (fill, font) in STATUS_COLOURS.items():
                rules.append((col, f'"{status}"', self.dxf(fill, font)))
        if "action" in scan.by_name:
            col = col_letters(scan.by_name["action"])
            rules += [(col, '"BUY"', self.dxf(None, "375623", bold=True)),
                      (col, '"SELL"', self.dxf(None, "C00000", bold=True))]
        rules = [r for r in rules if r[2] is not None]
        if not rules:
            return scan
        priorities = [int(x) for x in re.findall(rb'<(?:[\w.-]+:)?cfRule\b[^>]*\bpriority="(\d+)"', xml)]
        start = max(priorities, default=0) + 1
        blocks = "".join(
            f'<{p}conditionalFormatting sqref="{col}{scan.header_row + 1}:{col}1048576"><{p}cfRule type="cellIs" '
            f'dxfId="{dxf}" priority="{start + k}" operator="equal"><{p}formula>{escape(value)}</{p}formula>'
            f"</{p}cfRule></{p}conditionalFormatting>"
            for k, (col, value, dxf) in enumerate(rules)).encode("utf-8")
        after_data = xml.find(b"</" + scan.prefix + b"sheetData>")
        later = (b"dataValidations", b"hyperlinks", b"printOptions", b"pageMargins", b"pageSetup", b"headerFooter",
                 b"rowBreaks", b"colBreaks", b"customProperties", b"cellWatches", b"ignoredErrors", b"smartTags",
                 b"drawing", b"legacyDrawing", b"legacyDrawingHF", b"picture", b"oleObjects", b"controls",
                 b"webPublishItems", b"tableParts", b"extLst")
        found = [m.start() for m in (re.compile(b"<" + re.escape(scan.prefix) + tag + rb"[\s>/]").search(xml, after_data)
                                     for tag in later) if m]
        at = min(found) if found else xml.rfind(b"</" + scan.prefix + b"worksheet>")
        xml = xml[:at] + blocks + xml[at:]
        self.parts[scan.ref.part] = xml
        return SheetScan(scan.sheet, scan.ref, xml, scan.prefix, scan.header_row, scan.header, scan.last_row,
                         scan.rows, scan.content, scan.self_closing, scan.last_styles, scan.col_styles, scan.tables)

    # -- appending rows ------------------------------------------------------------------------
    def append(self, scan: SheetScan, frame: pd.DataFrame, *, latest_as_of: str | None = None) -> None:
        pkg, p = self.pkg, scan.prefix.decode()
        xml = scan.xml
        by_name = scan.by_name
        missing = [c for c in SCHEMA[scan.sheet] if c not in by_name]
        if missing:
            xml, scan = self._add_columns(scan, missing)
            if scan.sheet == "Trades" and "status" in missing:
                scan = self.colour_statuses(scan)
                xml = scan.xml
            by_name = scan.by_name
        n = len(frame)
        if n == 0 and not missing:
            return
        first = scan.last_row + 1
        last = scan.last_row + n
        styles = {}
        for name, ci in by_name.items():
            st = scan.last_styles.get(ci, scan.col_styles.get(ci, 0))
            kind = column_kind(name)
            if st == 0 and kind not in ("text", "bool") and name in SCHEMA[scan.sheet]:
                st = self.style_for_format(KIND_FORMATS[kind])
            elif kind in ("datetime", "date") and st not in pkg.date_styles:
                # A date column whose cells lost their date format (values pasted over them)
                # would show our dates as serial numbers.
                st = self.style_for_format(KIND_FORMATS[kind])
            styles[ci] = st
        origin = pd.Timestamp("1904-01-01") if pkg.date1904 else pd.Timestamp("1899-12-30")
        cols = sorted(by_name.items(), key=lambda kv: kv[1])
        values = {name: frame[name].tolist() for name, _ in cols if name in frame.columns}
        formula = None
        if scan.sheet == "Trades" and {"status", "executed", "as_of"} <= set(by_name):
            formula = (col_letters(by_name["executed"]), col_letters(by_name["as_of"]))
        pieces = []
        for i in range(n):
            r = first + i
            cells = []
            for name, ci in cols:
                if formula is not None and name == "status":
                    cached = values[name][i] if name in values else None
                    cells.append(_formula_cell(p, f"{col_letters(ci)}{r}", styles[ci],
                                               status_formula(*formula, latest_as_of, r), cached))
                    continue
                cells.append(_cell(p, f"{col_letters(ci)}{r}", styles[ci],
                                   values[name][i] if name in values else None, origin))
            pieces.append(f"<{p}row r=\"{r}\">{''.join(cells)}</{p}row>")
        new_rows = "".join(pieces).encode("utf-8")
        # Rows after the last used one hold no values (formatting only); ours replace those in
        # the rows we fill, the rest stay after ours so rows remain in ascending order.
        tail = [(r, s, e) for r, s, e in scan.rows if r > scan.last_row]
        keep_tail = b"".join(xml[s:e] for r, s, e in tail if r > last)
        cut = tail[0][1] if tail else scan.content[1]
        if scan.self_closing is not None:
            m = scan.self_closing
            xml = (xml[: m.start()] + b"<" + scan.prefix + b"sheetData>" + new_rows + keep_tail
                   + b"</" + scan.prefix + b"sheetData>" + xml[m.end():])
        else:
            xml = xml[:cut] + new_rows + keep_tail + xml[scan.content[1]:]
        max_col = max(by_name.values())
        xml = _set_dimension(xml, scan.prefix, max(last, scan.last_row), max_col)
        self.parts[scan.ref.part] = xml
        for part in scan.tables:
            self.parts[part] = _grow_table(self.current(part), scan.header_row, last)

    def _add_columns(self, scan: SheetScan, missing: list[str]) -> tuple[bytes, SheetScan]:
        """Add header cells for schema columns the sheet lacks, and widen its table over them."""
        xml, p = scan.xml, scan.prefix.decode()
        hr = next((x for x in scan.rows if x[0] == scan.header_row))
        _, s, e = hr
        row_xml = xml[s:e]
        close = row_xml.rfind(b"</" + scan.prefix + b"row>")
        named_max = max(scan.header.keys())
        # New cells go right of every cell of the header row, styled-but-empty ones included:
        # Excel wants a row's cells in column order.
        refs = re.findall(rb'<(?:[\w.-]+:)?c\b[^>]*?\sr="([A-Z]+)\d+"', row_xml)
        old_max = max([named_max] + [col_index(x.decode()) for x in refs])
        header_style = _parse_style_of(row_xml, named_max)
        style_attr = f' s="{header_style}"' if header_style else ""
        cells = []
        new_header = dict(scan.header)
        for k, name in enumerate(missing, start=1):
            ci = old_max + k
            new_header[ci] = name
            cells.append(f"<{p}c r=\"{col_letters(ci)}{scan.header_row}\""
                         f"{style_attr} t=\"inlineStr\">"
                         f"<{p}is><{p}t>{escape(name)}</{p}t></{p}is></{p}c>")
        new_row = re.sub(rb'\sspans="[^"]*"', b"", row_xml[:close]) + "".join(cells).encode() + row_xml[close:]
        xml = xml[:s] + new_row + xml[e:]
        delta = len(new_row) - len(row_xml)
        shift = lambda pos: pos + delta if pos >= e else pos  # noqa: E731
        rows = [(r, shift(a) if a > s else a, shift(b)) for r, a, b in scan.rows]
        content = (scan.content[0], shift(scan.content[1]))
        col_styles = dict(scan.col_styles)
        for k, name in enumerate(missing, start=1):
            kind = column_kind(name)
            if kind not in ("text", "bool"):
                col_styles[old_max + k] = self.style_for_format(KIND_FORMATS[kind])
        for part in scan.tables:
            if old_max == named_max:  # a table can only widen over cells right beside it
                self.parts[part] = _widen_table(self.current(part), scan.header_row, old_max, missing)
        new = SheetScan(scan.sheet, scan.ref, xml, scan.prefix, scan.header_row, new_header, scan.last_row,
                        rows, content, scan.self_closing,
                        scan.last_styles, col_styles, scan.tables)
        return xml, new

    # -- what a new workbook has, brought to an older one -------------------------------------
    _AFTER_PAGE_SETUP = (b"headerFooter", b"rowBreaks", b"colBreaks", b"customProperties", b"cellWatches",
                         b"ignoredErrors", b"smartTags", b"drawing", b"legacyDrawing", b"legacyDrawingHF",
                         b"picture", b"oleObjects", b"controls", b"webPublishItems", b"tableParts", b"extLst")

    def upgrade_sheet(self, scan: SheetScan) -> SheetScan:
        """Give a ledger sheet from an older workbook what a new one has, once, leaving alone
        whatever the analyst set: landscape printing fitted to one page wide (only when the sheet
        has no page setup of its own), the header row printed on every page, and an ``executed``
        dropdown that lets through the README's spellings (only our own TRUE/FALSE list)."""
        xml, prefix = scan.xml, scan.prefix
        pe = re.escape(prefix)
        changed = False
        if re.search(b"<" + pe + rb"pageSetup\b", xml) is None:
            tag = b"<" + prefix + b'pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
            margins = re.search(b"<" + pe + rb"pageMargins\b[^>]*?(?:/>|>.*?</" + pe + rb"pageMargins>)", xml, re.S)
            if margins is not None:
                at = margins.end()
            else:
                after_data = xml.find(b"</" + prefix + b"sheetData>")
                found = [m.start() for m in (re.compile(b"<" + pe + t + rb"[\s>/]").search(xml, after_data)
                                             for t in self._AFTER_PAGE_SETUP) if m]
                at = min(found) if found else xml.rfind(b"</" + prefix + b"worksheet>")
            xml = xml[:at] + tag + xml[at:]
            fit = b"<" + prefix + b'pageSetUpPr fitToPage="1"/>'
            pr = re.search(b"<" + pe + rb"sheetPr\b([^>]*?)(/?)>", xml)
            if pr is None:
                root = _ROOT.search(xml)
                xml = xml[: root.end()] + b"<" + prefix + b"sheetPr>" + fit + b"</" + prefix + b"sheetPr>" + xml[root.end():]
            elif re.search(b"<" + pe + rb"pageSetUpPr\b", xml) is None:
                if pr.group(2):  # <sheetPr .../>
                    xml = (xml[: pr.start()] + b"<" + prefix + b"sheetPr" + pr.group(1) + b">" + fit
                           + b"</" + prefix + b"sheetPr>" + xml[pr.end():])
                else:
                    close = xml.find(b"</" + prefix + b"sheetPr>", pr.end())
                    xml = xml[:close] + fit + xml[close:]
            changed = True
        if scan.sheet == "Trades" and "executed" in scan.by_name:
            col = col_letters(scan.by_name["executed"]).encode()
            ours = re.compile(b"<" + pe + rb'dataValidation\b(?![^>]*errorStyle)([^>]*\bsqref="' + col + rb'\d+:'
                              + col + rb'\d+"[^>]*)>(\s*<' + pe + rb'formula1>"TRUE,FALSE"</' + pe + rb"formula1>)")
            new = ours.sub(lambda m: b"<" + prefix + b'dataValidation errorStyle="information"' + m.group(1) + b">"
                           + m.group(2), xml)
            changed = changed or new != xml
            xml = new
        self.print_titles(scan.ref.name, scan.header_row)
        if not changed:
            return scan
        self.parts[scan.ref.part] = xml
        return scan_sheet(self.pkg, scan.sheet, scan.ref, xml)

    def print_titles(self, sheet: str, header_row: int) -> None:
        """Print the header row on every page of ``sheet`` (``_xlnm.Print_Titles``) unless the
        workbook already names print titles for it."""
        part = self.pkg.workbook_part
        wb = self.current(part)
        names = re.findall(rb'<(?:[A-Za-z_][\w.-]*:)?sheet\b[^>]*?\bname="([^"]*)"', wb)
        wanted = escape(sheet).encode()
        if wanted not in names:
            return
        index = names.index(wanted)
        if re.search(rb'<(?:[A-Za-z_][\w.-]*:)?definedName\b[^>]*name="_xlnm\.Print_Titles"[^>]*localSheetId="'
                     + str(index).encode() + rb'"', wb) or re.search(
                rb'<(?:[A-Za-z_][\w.-]*:)?definedName\b[^>]*localSheetId="' + str(index).encode()
                + rb'"[^>]*name="_xlnm\.Print_Titles"', wb):
            return
        m = re.search(rb"</((?:[A-Za-z_][\w.-]*:)?)sheets>", wb)
        prefix = m.group(1)
        quoted = sheet.replace("'", "''")
        el = (b"<" + prefix + b'definedName name="_xlnm.Print_Titles" localSheetId="' + str(index).encode() + b'">'
              + escape(f"'{quoted}'!${header_row}:${header_row}").encode() + b"</" + prefix + b"definedName>")
        close = re.search(rb"</(?:[A-Za-z_][\w.-]*:)?definedNames>", wb)
        if close is not None:
            wb = wb[: close.start()] + el + wb[close.start():]
        else:
            wb = wb[: m.end()] + b"<" + prefix + b"definedNames>" + el + b"</" + prefix + b"definedNames>" + wb[m.end():]
        self.parts[part] = wb

    # -- the run's own sheet and the workbook's calculation ------------------------------------
    def refresh_statuses(self, scan: SheetScan, statuses: Mapping[int, str]) -> SheetScan:
        """Set the shown value of earlier rows' status formulas (only their ``<v>``)."""
        column = scan.by_name.get("status")
        if column is None:
            return scan
        letters = col_letters(column).encode()
        p = re.escape(scan.prefix)
        pattern = re.compile(rb"(<" + p + rb'c\b[^>]*?\br="' + letters + rb'(\d+)"[^>]*?\bt="str"[^>]*>\s*<' + p
                             + rb"f>[^<]*</" + p + rb"f>\s*<" + p + rb"v>)(pending|superseded|executed)(</" + p + rb"v>)")

        def fix(m: re.Match) -> bytes:
            wanted = statuses.get(int(m.group(2)))
            return m.group(1) + wanted.encode() + m.group(4) if wanted else m.group(0)

        xml = pattern.sub(fix, scan.xml)
        if len(xml) == len(scan.xml) and xml == scan.xml:
            return scan
        # Positions after the header may move by a few bytes: scan again.
        self.parts[scan.ref.part] = xml
        return scan_sheet(self.pkg, scan.sheet, scan.ref, xml)

    def recalculate_on_load(self) -> None:
        """Ask Excel and LibreOffice to recalculate every formula when the file opens
        (``<calcPr fullCalcOnLoad="1"/>``): the Trades status of earlier weeks depends on the
        latest week, which this run just added."""
        part = self.pkg.workbook_part
        wb = self.current(part)
        m = re.search(rb"<((?:[A-Za-z_][\w.-]*:)?)calcPr\b([^>]*?)(/?)>", wb)
        if m is None:
            close = re.search(rb"</((?:[A-Za-z_][\w.-]*:)?)workbook>", wb)
            if close is None:
                return
            # calcPr follows sheets and definedNames; before any later element it is still valid
            # for both applications, but the schema order is safest right after </sheets> or
            # </definedNames>.
            anchor = None
            for tag in (rb"definedNames", rb"sheets"):
                found = re.search(rb"</(?:[A-Za-z_][\w.-]*:)?" + tag + rb">", wb)
                if found:
                    anchor = found.end()
                    break
            if anchor is None:
                return
            prefix = close.group(1)
            self.parts[part] = wb[:anchor] + b"<" + prefix + b'calcPr fullCalcOnLoad="1"/>' + wb[anchor:]
            return
        attrs = m.group(2)
        if b"fullCalcOnLoad" in attrs:
            attrs = re.sub(rb'fullCalcOnLoad="[^"]*"', b'fullCalcOnLoad="1"', attrs)
        else:
            attrs = attrs + b' fullCalcOnLoad="1"'
        self.parts[part] = wb[: m.start()] + b"<" + m.group(1) + b"calcPr" + attrs + m.group(3) + b">" + wb[m.end():]

    def rewrite_holdings(self, frame: pd.DataFrame) -> None:
        """Replace the Holdings sheet's rows with ``frame`` (adding the sheet, first, when missing).
        The sheet is the run's own: what is held now and pending, rewritten whole every week."""
        self.rewrite_own(HOLDINGS_SHEET, HOLDINGS_COLUMNS, frame, first=True)

    def rewrite_own(self, sheet: str, columns: list[str], frame: pd.DataFrame, *, first: bool = False) -> None:
        """Replace the rows of one of the run's own sheets (Holdings, Lots) with ``frame``."""
        pkg = self.pkg
        ref = pkg.sheet(sheet)
        if ref is None:
            scan = self.add_sheet(sheet, columns=columns, first=first)
        else:
            xml = self.current(ref.part)
            m = _SHEET_DATA.search(xml)
            if m is None:
                raise WorkbookError(f"{pkg.path}: sheet {sheet} has no cell data part; the file is "
                                    "damaged. It was left untouched; restore a backup from results/backups")
            tables = [part for rtype, part in pkg.rels(ref.part).values() if rtype == REL_TABLE]
            scan = SheetScan(sheet, ref, xml, m.group(1), 1, dict(enumerate(columns, 1)), 1,
                             [], (m.end(), m.end()), None, {}, {}, tables)
        p = scan.prefix.decode()
        styles = {ci: (self.style_for_format(KIND_FORMATS[column_kind(name)])
                       if column_kind(name) not in ("text", "bool") else 0)
                  for ci, name in enumerate(columns, start=1)}
        origin = pd.Timestamp("1904-01-01") if pkg.date1904 else pd.Timestamp("1899-12-30")
        header = "".join(f'<{p}c r="{col_letters(ci)}1" t="inlineStr"{self._header_style(scan)}>'
                         f"<{p}is><{p}t>{escape(name)}</{p}t></{p}is></{p}c>"
                         for ci, name in enumerate(columns, start=1))
        body = [f'<{p}row r="1">{header}</{p}row>']
        values = {name: (frame[name].tolist() if name in frame.columns else [None] * len(frame)) for name in columns}
        for i in range(len(frame)):
            r = i + 2
            cells = "".join(_cell(p, f"{col_letters(ci)}{r}", styles[ci], values[name][i], origin)
                            for ci, name in enumerate(columns, start=1))
            body.append(f'<{p}row r="{r}">{cells}</{p}row>')
        last = max(2, len(frame) + 1)
        xml = scan.xml
        m = _SHEET_DATA.search(xml)
        if m.group(2):  # <sheetData/>
            xml = xml[: m.start()] + f"<{p}sheetData>{''.join(body)}</{p}sheetData>".encode() + xml[m.end():]
        else:
            end = xml.find(b"</" + scan.prefix + b"sheetData>", m.end())
            xml = xml[: m.end()] + "".join(body).encode("utf-8") + xml[end:]
        xml = _set_dimension(xml, scan.prefix, last, len(columns))
        self.parts[scan.ref.part] = xml
        for part in scan.tables:
            self.parts[part] = _grow_table(self.current(part), 1, last, shrink=True)

    def _header_style(self, scan: SheetScan) -> str:
        style = scan.last_styles.get(-1, 0)
        return f' s="{style}"' if style else ""

    # -- adding a sheet ------------------------------------------------------------------------
    def add_sheet(self, sheet: str, *, columns: list[str] | None = None, first: bool = False) -> SheetScan:
        """Add one of our sheets the workbook lacks (header, frozen pane, widths, formats, table,
        landscape print fitted to the width with the header repeated); ``first`` puts its tab
        first and makes it the sheet the workbook opens on."""
        pkg = self.pkg
        ns = pkg.ns
        columns = list(columns or LAYOUT[sheet])
        k = 1
        while f"xl/worksheets/sheet{k}.xml" in pkg.names or f"xl/worksheets/sheet{k}.xml" in self.parts:
            k += 1
        sheet_part = f"xl/worksheets/sheet{k}.xml"
        table_ids, table_names, table_parts = [], set(), []
        for name in pkg.names | set(self.parts):
            if name.startswith("xl/tables/") and name.endswith(".xml"):
                t = etree.fromstring(self.current(name))
                table_ids.append(int(t.get("id", "0")))
                table_names.add((t.get("displayName") or t.get("name") or "").lower())
                table_parts.append(name)
        tid = max(table_ids, default=0) + 1
        tname = table_name(sheet)
        while tname.lower() in table_names:
            tname += "_1"
        j = tid
        while f"xl/tables/table{j}.xml" in pkg.names or f"xl/tables/table{j}.xml" in self.parts:
            j += 1
        table_part = f"xl/tables/table{j}.xml"
        last = col_letters(len(columns))
        cols_xml = "".join(
            f'<col min="{ci}" max="{ci}" width="{column_width(name)}" customWidth="1"'
            + (f' style="{self.style_for_format(KIND_FORMATS[column_kind(name)])}"'
               if column_kind(name) not in ("text", "bool") else "") + "/>"
            for ci, name in enumerate(columns, start=1))
        header = "".join(f'<c r="{col_letters(ci)}1" t="inlineStr"><is><t>{escape(name)}</t></is></c>'
                         for ci, name in enumerate(columns, start=1))
        validation = ""
        if "executed" in columns:
            col = col_letters(columns.index("executed") + 1)
            validation = (f'<dataValidations count="1"><dataValidation type="list" errorStyle="information" '
                          f'allowBlank="1" showErrorMessage="1" sqref="{col}2:{col}1048576">'
                          f'<formula1>"TRUE,FALSE"</formula1></dataValidation></dataValidations>')
        sheet_xml = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet xmlns="{ns}" xmlns:r="{NS_REL_DOC}"><dimension ref="A1:{last}1"/>'
            f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
            f'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols_xml}</cols>'
            f'<sheetData><row r="1">{header}</row></sheetData>{validation}'
            f'<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
            f'<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
            f'<tableParts count="1"><tablePart r:id="rId1"/></tableParts></worksheet>').encode("utf-8")
        sheet_xml = sheet_xml.replace(b"<dimension ", b'<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><dimension ', 1)
        table_cols = "".join(f'<tableColumn id="{ci}" name="{escape(name)}"/>' for ci, name in enumerate(columns, 1))
        table_xml = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<table xmlns="{ns}" id="{tid}" name="{tname}" displayName="{tname}" ref="A1:{last}2">'
            f'<autoFilter ref="A1:{last}2"/><tableColumns count="{len(columns)}">{table_cols}</tableColumns>'
            f'<tableStyleInfo name="{TABLE_STYLE}" showFirstColumn="0" showLastColumn="0" showRowStripes="1" '
            f'showColumnStripes="0"/></table>').encode("utf-8")
        sheet_rels = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL_TABLE}" Target="{relative_target(sheet_part, table_part)}"/>'
            f'</Relationships>').encode("utf-8")
        self._new_part(sheet_part, sheet_xml)
        self._new_part(table_part, table_xml)
        self._new_part(rels_path(sheet_part), sheet_rels)
        self._content_types({sheet_part: _CT_SHEET, table_part: _CT_TABLE})
        rid = self._workbook_rel(sheet_part)
        self._workbook_sheet(sheet, rid, first=first)
        ref = SheetRef(sheet, 0, rid, sheet_part)
        return _scan_new(self.pkg, sheet, ref, sheet_xml, [table_part], columns)

    def _new_part(self, part: str, data: bytes) -> None:
        self.parts[part] = data
        self.added.append(part)

    def _content_types(self, overrides: dict[str, str]) -> None:
        ct = self.current("[Content_Types].xml")
        add = "".join(f'<Override PartName="/{part}" ContentType="{ctype}"/>' for part, ctype in overrides.items())
        i = ct.rfind(b"</Types>")
        self.parts["[Content_Types].xml"] = ct[:i] + add.encode() + ct[i:]

    def _workbook_rel(self, sheet_part: str) -> str:
        rp = rels_path(self.pkg.workbook_part)
        rels = self.current(rp)
        ids = set(re.findall(rb'Id="([^"]+)"', rels))
        n = 1
        while f"rId{n}".encode() in ids:
            n += 1
        rid = f"rId{n}"
        target = relative_target(self.pkg.workbook_part, sheet_part)
        add = f'<Relationship Id="{rid}" Type="{REL_WORKSHEET}" Target="{target}"/>'.encode()
        i = rels.rfind(b"</Relationships>")
        self.parts[rp] = rels[:i] + add + rels[i:]
        return rid

    def _workbook_sheet(self, sheet: str, rid: str, *, first: bool = False) -> None:
        part = self.pkg.workbook_part
        wb = self.current(part)
        m = re.search(rb"</((?:[A-Za-z_][\w.-]*:)?)sheets>", wb)
        if m is None:
            raise WorkbookError(f"{self.pkg.path}: workbook.xml lists no sheets; the file is damaged")
        ids = [int(x) for x in re.findall(rb'sheetId="(\d+)"', wb)]
        prefix = m.group(1).decode()
        el = (f'<{prefix}sheet name="{escape(sheet)}" sheetId="{max(ids, default=0) + 1}" '
              f'r:id="{rid}" xmlns:r="{NS_REL_DOC}"/>').encode()
        if not first:
            self.parts[part] = wb[: m.start()] + el + wb[m.start():]
            return
        opening = re.search(rb"<((?:[A-Za-z_][\w.-]*:)?)sheets>", wb)
        wb = wb[: opening.end()] + el + wb[opening.end():]
        # Open on it: the first tab, active. Print areas and local names count sheets by
        # position, so they move up by one.
        wb = re.sub(rb'(<(?:[A-Za-z_][\w.-]*:)?workbookView\b[^>]*?)\sactiveTab="\d+"', rb"\1", wb)
        wb = re.sub(rb'(<(?:[A-Za-z_][\w.-]*:)?workbookView\b[^>]*?)(\s*/?>)', rb'\1 activeTab="0"\2', wb, count=1)
        wb = re.sub(rb'(<(?:[A-Za-z_][\w.-]*:)?definedName\b[^>]*?\slocalSheetId=")(\d+)"',
                    lambda mm: mm.group(1) + str(int(mm.group(2)) + 1).encode() + b'"', wb)
        wb = re.sub(rb'(<(?:[A-Za-z_][\w.-]*:)?workbookView\b[^>]*?)\sfirstSheet="\d+"', rb"\1", wb)
        self.parts[part] = wb

    # -- output ------------------------------------------------------------------------------
    def write(self) -> bytes:
        out = io.BytesIO()
        zin = self.pkg.zip
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = self.parts[info.filename] if info.filename in self.parts else zin.read(info.filename)
                zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                zi.compress_type = info.compress_type
                zi.external_attr = info.external_attr
                zi.create_system = info.create_system
                # A sheet we rewrote can be megabytes: the fastest deflate level keeps the append
                # quick (about 25% larger than level 6); Excel recompresses when it saves.
                level = 1 if info.filename in self.parts and len(data) > _FAST_DEFLATE_ABOVE else None
                zout.writestr(zi, data, compresslevel=level)
            for part in self.added:
                zout.writestr(part, self.parts[part], compress_type=zipfile.ZIP_DEFLATED)
        return out.getvalue()
