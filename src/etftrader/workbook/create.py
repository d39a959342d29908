"""Creating a new tracking workbook made for Excel, with openpyxl.

Only the empty shell is built here: the five sheets with a styled, frozen header row, one Excel
Table per sheet, a number format and width per column (kept as the column's default style, where
the appender finds it), and a TRUE/FALSE dropdown on ``Trades.executed``. Rows are always written
by :mod:`.append`, for a new workbook as for an old one, so there is one way rows get in.
"""

from __future__ import annotations

import io
from typing import Iterable

from .schema import KIND_FORMATS, SCHEMA, SHEETS, column_kind, column_width

__all__ = ["new_workbook_bytes", "TABLE_STYLE", "table_name"]

TABLE_STYLE = "TableStyleMedium2"
HEADER_FILL = "1F4E78"
HEADER_FONT = "FFFFFF"


def table_name(sheet: str) -> str:
    """Name of a sheet's Excel Table (``tblTrades``): what the analyst sees in formulas."""
    return f"tbl{sheet}"


def new_workbook_bytes(sheets: Iterable[str] = SHEETS) -> bytes:
    """The ``.xlsx`` bytes of an empty ledger with the given sheets, in :data:`SHEETS` order."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.table import Table, TableStyleInfo

    wb = Workbook()
    wb.remove(wb.active)
    header_font = Font(bold=True, color=HEADER_FONT)
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    header_align = Alignment(horizontal="center", vertical="center", wrap_text=False)
    for sheet in [s for s in SHEETS if s in set(sheets)]:
        ws = wb.create_sheet(sheet)
        columns = SCHEMA[sheet]
        for ci, name in enumerate(columns, start=1):
            cell = ws.cell(row=1, column=ci, value=name)
            cell.font, cell.fill, cell.alignment = header_font, header_fill, header_align
            letter = get_column_letter(ci)
            dim = ws.column_dimensions[letter]
            dim.width = column_width(name)
            kind = column_kind(name)
            # The column's default style carries the number format, so rows appended at the zip
            # level (and values the analyst types) get it without touching any cell here.
            dim.number_format = KIND_FORMATS[kind]
            if kind == "bool":
                dim.alignment = Alignment(horizontal="center")
        ws.freeze_panes = "A2"
        last = get_column_letter(len(columns))
        # Excel wants a table to have at least one data row; row 2 is that empty row until the
        # first append fills it.
        table = Table(displayName=table_name(sheet), ref=f"A1:{last}2")
        table.tableStyleInfo = TableStyleInfo(name=TABLE_STYLE, showRowStripes=True,
                                              showColumnStripes=False, showFirstColumn=False,
                                              showLastColumn=False)
        ws.add_table(table)
        if "executed" in columns:
            col = get_column_letter(columns.index("executed") + 1)
            dv = DataValidation(type="list", formula1='"TRUE,FALSE"', allow_blank=True,
                                showErrorMessage=True, errorTitle="executed",
                                error="Choose TRUE once the trade is done, FALSE (or blank) if not.",
                                promptTitle="executed", prompt="TRUE after you executed this trade",
                                showInputMessage=True)
            dv.add(f"{col}2:{col}1048576")
            ws.add_data_validation(dv)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
