"""Creating a new tracking workbook made for Excel, with openpyxl.

Only the empty shell is built here: the five sheets with a styled, frozen header row, one Excel
Table per sheet, a number format and width per column (kept as the column's default style, where
the appender finds it), and a TRUE/FALSE dropdown on ``Trades.executed``. Rows are always written
by :mod:`.append`, for a new workbook as for an old one, so there is one way rows get in.
"""

from __future__ import annotations

import io
from typing import Iterable

from .schema import KIND_FORMATS, LAYOUT, SHEETS, column_kind, column_width

__all__ = ["new_workbook_bytes", "TABLE_STYLE", "table_name"]

TABLE_STYLE = "TableStyleMedium2"
HEADER_FILL = "1F4E78"
HEADER_FONT = "FFFFFF"
#: a font every spreadsheet application has (an unnamed one renders as a serif in LibreOffice)
FONT_NAME = "Calibri"
#: conditional fills: (fill, font) colours per Trades status
STATUS_COLOURS = {"pending": ("FFF2CC", "7F6000"), "superseded": ("E7E6E6", "7F7F7F"),
                  "executed": ("E2EFDA", "375623")}
#: the text of the ``executed`` dropdown's note: what the reader accepts (README, "The ledger")
EXECUTED_ACCEPTS = "TRUE/FALSE, yes/no, x or 1/0"


def table_name(sheet: str) -> str:
    """Name of a sheet's Excel Table (``tblTrades``): what the analyst sees in formulas."""
    return f"tbl{sheet}"


def new_workbook_bytes(sheets: Iterable[str] = SHEETS) -> bytes:
    """The ``.xlsx`` bytes of an empty ledger with the given sheets, in :data:`SHEETS` order."""
    from openpyxl import Workbook
    from openpyxl.formatting.rule import CellIsRule, FormulaRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.properties import PageSetupProperties
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.table import Table, TableStyleInfo

    wb = Workbook()
    wb.remove(wb.active)
    header_font = Font(name=FONT_NAME, bold=True, color=HEADER_FONT)
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    header_align = Alignment(horizontal="center", vertical="center", wrap_text=False)
    for sheet in [s for s in SHEETS if s in set(sheets)]:
        ws = wb.create_sheet(sheet)
        columns = LAYOUT[sheet]
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
        # Printed: landscape, fitted to one page wide, the header on every page.
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.print_title_rows = "1:1"
        letters = {name: get_column_letter(ci) for ci, name in enumerate(columns, start=1)}
        if "status" in letters:
            col = letters["status"]
            for status, (fill, font) in STATUS_COLOURS.items():
                ws.conditional_formatting.add(f"{col}2:{col}1048576", CellIsRule(
                    operator="equal", formula=[f'"{status}"'], fill=PatternFill("solid", fgColor=fill),
                    font=Font(color=font)))
        if "action" in letters:
            col = letters["action"]
            ws.conditional_formatting.add(f"{col}2:{col}1048576", CellIsRule(
                operator="equal", formula=['"BUY"'], font=Font(bold=True, color="375623")))
            ws.conditional_formatting.add(f"{col}2:{col}1048576", CellIsRule(
                operator="equal", formula=['"SELL"'], font=Font(bold=True, color="C00000")))
        for name in ("cash", "cash_before_trades", "cash_after_trades"):
            if name in letters:
                col = letters[name]
                ws.conditional_formatting.add(f"{col}2:{col}1048576", FormulaRule(
                    formula=[f"AND(ISNUMBER({col}2),{col}2<0)"], fill=PatternFill("solid", fgColor="FFC7CE"),
                    font=Font(bold=True, color="9C0006")))
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
            # An "information" alert: the dropdown offers TRUE/FALSE but lets through everything the
            # reader accepts (the README's yes, x, 1 ...), with a note saying so.
            dv = DataValidation(type="list", formula1='"TRUE,FALSE"', allow_blank=True,
                                showErrorMessage=True, errorStyle="information", errorTitle="executed",
                                error=f"etftrader reads {EXECUTED_ACCEPTS}: TRUE once the trade is done, "
                                      "FALSE (or blank) if not.",
                                promptTitle="executed", prompt=f"TRUE after you executed this trade ({EXECUTED_ACCEPTS})",
                                showInputMessage=True)
            dv.add(f"{col}2:{col}1048576")
            ws.add_data_validation(dv)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
