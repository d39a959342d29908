"""A new ledger is made for Excel: styles, Tables, formats, widths, validation, frozen header."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
import pytest

from etftrader.workbook import SCHEMA, SEED_COLUMNS, SHEETS, append_week, read_ledger

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def test_schema_matches_contracts_doc():
    # The doc is the contract other modules build on: the constants must say the same thing.
    text = CONTRACTS.read_text(encoding="utf-8")
    for sheet in SHEETS:
        m = re.search(rf"^- `{sheet}`: (.+)$", text, flags=re.M)
        assert m, sheet
        seed, _, ours = m.group(1).partition("|")
        names = [c.strip().split(" ")[0] for c in (seed + "," + ours).split(",") if c.strip()]
        assert names == SCHEMA[sheet], sheet


def test_seed_columns_come_first_in_seed_order():
    assert list(SEED_COLUMNS) == ["Positions", "Trades", "Performance", "Metadata"]
    assert SEED_COLUMNS["Trades"] == ["timestamp", "ticker", "action", "shares", "price", "value", "executed"]
    for sheet, seed in SEED_COLUMNS.items():
        assert SCHEMA[sheet][: len(seed)] == seed
        assert len(set(SCHEMA[sheet])) == len(SCHEMA[sheet])


def test_created_workbook_is_made_for_excel(ledger):
    path, _, weeks = ledger
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    for sheet in SHEETS:
        ws = wb[sheet]
        assert [c.value for c in ws[1]] == SCHEMA[sheet]
        assert ws.freeze_panes == "A2"
        assert ws["A1"].font.b
        (name, ref), = ws.tables.items()
        assert name == f"tbl{sheet}"
        assert ws.tables[name].tableStyleInfo.name == "TableStyleMedium2"
        rows = sum(len(w[sheet]) for w in weeks)
        assert ref == f"A1:{openpyxl.utils.get_column_letter(len(SCHEMA[sheet]))}{1 + rows}"
        for col in range(1, len(SCHEMA[sheet]) + 1):
            letter = openpyxl.utils.get_column_letter(col)
            assert ws.column_dimensions[letter].width >= len(SCHEMA[sheet][col - 1])
    pos = wb["Positions"]
    formats = {h.value: pos.cell(row=2, column=h.column).number_format for h in pos[1]}
    assert formats["weight"] == "0.00%"
    assert formats["value"] == "#,##0.00"
    assert formats["price"] == "#,##0.00"
    assert formats["shares"] == "#,##0"
    assert formats["timestamp"] == "yyyy-mm-dd hh:mm:ss"
    assert formats["as_of"] == "yyyy-mm-dd"
    assert pos["A2"].is_date and pos["A2"].value == weeks[0]["Positions"]["timestamp"][0]
    trades = wb["Trades"]
    (dv,) = trades.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"TRUE,FALSE"'
    assert str(dv.sqref) == "G2:G1048576"  # the whole executed column, rows to come included
    assert trades["G2"].value is False and trades["G2"].data_type == "b"


def test_first_append_fills_the_empty_table_row(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-06-05", "r1"), backups_dir=tmp_path / "b")
    ws = openpyxl.load_workbook(path)["Trades"]
    assert ws.max_row == 6  # header + 5 trades, no gap where the table's placeholder row was
    assert ws.tables["tblTrades"].ref == f"A1:{get_column_letter(len(SCHEMA['Trades']))}6"


def test_empty_week_creates_ledger_with_headers_only(tmp_path):
    path = tmp_path / "w.xlsx"
    append_week(path, {}, backups_dir=tmp_path / "b")
    ledger = read_ledger(path)
    assert ledger.exists and all(len(ledger.sheet(s)) == 0 for s in SHEETS)
    assert list(ledger.trades.columns) == SCHEMA["Trades"] + ["_row"]
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)


@pytest.mark.parametrize("sheet", SHEETS)
def test_missing_file_reads_as_empty_frames_with_schema(tmp_path, sheet):
    ledger = read_ledger(tmp_path / "nope.xlsx")
    frame = ledger.sheet(sheet)
    assert not ledger.exists
    assert list(frame.columns) == SCHEMA[sheet] + ["_row"]
    assert len(frame) == 0
    assert str(frame["timestamp"].dtype) == "datetime64[ns]"
    if sheet == "Trades":
        assert frame["executed"].dtype == bool
        assert frame["shares"].dtype == "float64"
