"""append_week keeps everything the analyst did and touches only the parts it owns."""

from __future__ import annotations

import re

import openpyxl
from openpyxl.utils import get_column_letter
import pandas as pd
import pytest
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment

from etftrader.workbook import SCHEMA, SHEETS, append_week, read_ledger

from .conftest import replace_part, sheet_part, zip_entries


def _table_parts(path) -> dict[str, str]:
    from etftrader.workbook._xlsx import Package

    pkg = Package.open(path)
    return {name: [p for t, p in pkg.rels(ref.part).values() if t.endswith("/table")] for name, ref in pkg.sheets.items()}


def _analyst_session(path):
    """What an analyst does in Excel, done through openpyxl: edits, a comment, a chart, a sheet."""
    wb = openpyxl.load_workbook(path)
    trades = wb["Trades"]
    trades["G3"] = True  # marks a trade executed
    trades["D3"] = 7  # a partial fill
    trades["G3"].comment = Comment("filled 7 of 20 at the open", "analyst")
    notes = wb.create_sheet("My notes")
    notes["A1"] = "=SUM(Performance!B2:B3)"
    notes["A2"] = "rebalance reviewed"
    perf = wb["Performance"]
    chart = BarChart()
    chart.add_data(Reference(perf, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    perf.add_chart(chart, "T2")
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import PatternFill

    wb["Positions"].conditional_formatting.add(
        "C2:C1000", CellIsRule(operator="greaterThan", formula=["0.1"], fill=PatternFill("solid", fgColor="FFC7CE")))
    wb.save(path)


def test_append_keeps_rows_edits_sheets_and_unowned_parts_byte_identical(ledger, make_week):
    path, backups, weeks = ledger
    _analyst_session(path)
    before = zip_entries(path)
    owned = {sheet_part(path, s) for s in SHEETS} | {p for s in SHEETS for p in _table_parts(path)[s]}
    assert any("chart" in n for n in before) and any("comments" in n for n in before)

    append_week(path, make_week("2021-03-19", "run-3"), backups_dir=backups)

    after = zip_entries(path)
    assert set(after) == set(before)
    for name, blob in before.items():
        if name not in owned:
            assert after[name] == blob, f"{name} changed"
    # Owned sheets: everything before the new rows is unchanged but for the <dimension> ref.
    for s in SHEETS:
        part = sheet_part(path, s)
        old = re.sub(rb'<dimension ref="[^"]*"', b"", before[part])
        new = re.sub(rb'<dimension ref="[^"]*"', b"", after[part])
        head = old[: old.rindex(b"</sheetData>")]
        assert new.startswith(head), s
        assert new[new.rindex(b"</sheetData>"):] == old[old.rindex(b"</sheetData>"):], s  # validations, formats...
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [*SHEETS, "My notes"]
    assert wb["My notes"]["A1"].value == "=SUM(Performance!B2:B3)"
    assert wb["Trades"]["G3"].comment.text == "filled 7 of 20 at the open"
    assert len(wb["Performance"]._charts) == 1
    assert [str(cf.sqref) for cf in wb["Positions"].conditional_formatting] == ["C2:C1000"]
    got = read_ledger(path)
    assert len(got.trades) == 15 and got.trades["run_id"].tolist() == ["run-1"] * 5 + ["run-2"] * 5 + ["run-3"] * 5
    assert got.trades.loc[1, "shares"] == 7 and bool(got.trades.loc[1, "executed"]) is True
    assert wb["Trades"].tables["tblTrades"].ref == f"A1:{get_column_letter(len(SCHEMA['Trades']))}16"


def test_table_ref_grows_each_week(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    for k, day in enumerate(["2019-01-04", "2019-01-11", "2019-01-18"], start=1):
        append_week(path, make_week(day, f"r{k}"), backups_dir=tmp_path / "b")
        wb = openpyxl.load_workbook(path)
        assert wb["Positions"].tables["tblPositions"].ref == f"A1:K{1 + 5 * k}"
        assert wb["Metadata"].tables["tblMetadata"].ref == f"A1:T{1 + k}"
        auto = re.search(rb'<autoFilter ref="([^"]+)"', zip_entries(path)[_table_parts(path)["Trades"][0]])
        assert auto.group(1).decode() == f"A1:{get_column_letter(len(SCHEMA['Trades']))}{1 + 5 * k}"


@pytest.mark.parametrize("text", ["=1+1", "+A1", "-2+3", "@SUM(A1:A2)", "=HYPERLINK(\"http://x\")", " lead & <tag> "])
def test_formula_like_text_stays_text(tmp_path, make_week, text):
    path = tmp_path / "w.xlsx"
    week = make_week("2020-01-10", "r1")
    week["Positions"].loc[0, "ticker"] = text
    append_week(path, week, backups_dir=tmp_path / "b")
    cell = openpyxl.load_workbook(path)["Positions"]["B2"]
    assert cell.data_type == "s" and cell.value == text
    assert b"<f>" not in zip_entries(path)[sheet_part(path, "Positions")]
    assert read_ledger(path).positions["ticker"].iloc[0] == text


def test_columns_found_by_name_after_analyst_reorders_and_inserts(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    # Rebuild Trades with columns moved and an analyst column in the middle.
    wb = openpyxl.load_workbook(path)
    old = wb["Trades"]
    data = [[c.value for c in row] for row in old.iter_rows()]
    order = ["ticker", "my_comment", "executed", "timestamp", "action", "shares", "price", "value",
             "run_id", "as_of", "est_cost", "note", "status", *SCHEMA["Trades"][12:]]
    del wb["Trades"]
    ws = wb.create_sheet("Trades", 1)
    ws.append(order)
    for row in data[1:]:
        rec = dict(zip(data[0], row))
        ws.append([rec.get(c, "ok") for c in order])
    wb.save(path)
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    ws = openpyxl.load_workbook(path)["Trades"]
    header = [c.value for c in ws[1]]
    assert header == order
    last = {h: ws.cell(row=11, column=i + 1).value for i, h in enumerate(header)}
    assert last["ticker"] == "SIZE" and last["action"] == "BUY" and last["executed"] is False
    assert last["my_comment"] is None and last["run_id"] == "r2"
    got = read_ledger(path).trades
    assert got["my_comment"].tolist() == ["ok"] * 5 + [None] * 5
    assert got["ticker"].tolist()[-5:] == ["MTUM", "QUAL", "VLUE", "USMV", "SIZE"]


def test_sorted_rows_and_trailing_formatted_rows(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    ws = wb["Positions"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    for i, row in enumerate(sorted(rows, key=lambda r: r[1]), start=2):  # analyst sorts by ticker
        for j, v in enumerate(row, start=1):
            ws.cell(row=i, column=j, value=v)
    ws["C40"].number_format = "0.0%"  # a formatted, empty row far below the data
    ws["C8"].number_format = "0.0%"  # and one right below it
    wb.save(path)
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    got = read_ledger(path).positions
    assert got["_row"].tolist() == list(range(2, 12))
    assert sorted(got["ticker"][:5]) == got["ticker"][:5].tolist()
    assert got["run_id"].tolist() == ["r1"] * 5 + ["r2"] * 5
    ws = openpyxl.load_workbook(path)["Positions"]
    assert ws["C40"].number_format == "0.0%"  # kept, after our rows


def test_missing_sheet_is_added(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    week = make_week("2020-01-10", "r1")
    append_week(path, {k: v for k, v in week.items() if k != "CashFlows"}, backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    del wb["CashFlows"]  # an older workbook, from before cash flows were recorded
    wb.save(path)
    before = zip_entries(path)
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    ws = wb["CashFlows"]
    assert [c.value for c in ws[1]] == SCHEMA["CashFlows"]
    assert ws.freeze_panes == "A2" and ws.tables[next(iter(ws.tables))].ref == "A1:F2"
    assert ws["A2"].number_format == "yyyy-mm-dd hh:mm:ss" and ws["C2"].number_format == "#,##0.00"
    assert read_ledger(path).cashflows["amount"].tolist() == [100_000.0]
    after = zip_entries(path)
    # Adding a sheet edits the workbook's structure parts (and styles for number formats) only.
    owned = {sheet_part(path, s) for s in SHEETS} | {p for s in SHEETS for p in _table_parts(path)[s]}
    structure = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "xl/styles.xml"}
    assert {n for n in before if before[n] != after.get(n)} <= owned | structure
    assert set(after) - set(before) == {sheet_part(path, "CashFlows"), *_table_parts(path)["CashFlows"],
                                        "xl/worksheets/_rels/" + sheet_part(path, "CashFlows").rsplit("/", 1)[1] + ".rels"}


def test_seed_era_workbook_gains_our_columns(tmp_path, make_week):
    """A workbook as the seed's script wrote it (pandas, seed columns only, no tables)."""
    path = tmp_path / "w.xlsx"
    week = make_week("2020-01-10", "r0")
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for sheet in ["Positions", "Trades", "Performance", "Metadata"]:
            from etftrader.workbook import SEED_COLUMNS
            week[sheet][SEED_COLUMNS[sheet]].to_excel(xw, sheet_name=sheet, index=False)
    append_week(path, make_week("2020-01-17", "r1"), backups_dir=tmp_path / "b")
    got = read_ledger(path)
    assert got.trades["run_id"].fillna("-").tolist() == ["-"] * 5 + ["r1"] * 5
    assert got.trades["ticker"].tolist()[:5] == got.trades["ticker"].tolist()[5:]
    assert got.cashflows["run_id"].tolist() == ["r1"]
    ws = openpyxl.load_workbook(path)["Positions"]
    assert [c.value for c in ws[1]] == SCHEMA["Positions"]
    assert ws["I7"].number_format == "yyyy-mm-dd"  # as_of, a column the seed did not have
    assert ws["A7"].is_date


def test_table_widened_when_columns_added(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    # Drop the columns after est_cost ('note', 'status', ...) from header and table, as if the
    # workbook came from an older version with ten.
    later = SCHEMA["Trades"][10:]
    last = get_column_letter(len(SCHEMA["Trades"]))
    part = sheet_part(path, "Trades")
    xml = zip_entries(path)[part].decode()
    xml = re.sub(r'<c r="[K-S]\d+"[^>]*?(?:/>|>.*?</c>)', "", xml)
    replace_part(path, part, xml.encode())
    tpart = _table_parts(path)["Trades"][0]
    t = zip_entries(path)[tpart].decode()
    for i, name in enumerate(later, start=11):
        t = t.replace(f'<tableColumn id="{i}" name="{name}"/>', "")
    t = t.replace(f'count="{len(SCHEMA["Trades"])}"', 'count="10"').replace(f"A1:{last}6", "A1:J6")
    replace_part(path, tpart, t.encode())
    assert [c.name for c in openpyxl.load_workbook(path)["Trades"].tables["tblTrades"].tableColumns][-1] == "est_cost"
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    table = wb["Trades"].tables["tblTrades"]
    assert table.ref == f"A1:{last}11" and [c.name for c in table.tableColumns][10:] == later
    assert wb["Trades"]["K1"].value == "note" and wb["Trades"]["L1"].value == "status"


def test_extra_sheet_or_column_is_a_programming_error(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    with pytest.raises(ValueError, match="unknown sheet 'Trade'"):
        append_week(path, {"Trade": pd.DataFrame()}, backups_dir=tmp_path / "b")
    week = make_week("2020-01-10", "r1")
    week["Trades"]["colour"] = "red"
    with pytest.raises(ValueError, match=r"no column\(s\) \['colour'\]"):
        append_week(path, week, backups_dir=tmp_path / "b")
    assert not path.exists()


def test_missing_columns_are_blank(tmp_path):
    path = tmp_path / "w.xlsx"
    append_week(path, {"Trades": pd.DataFrame({"ticker": ["SPY"], "action": ["SELL"], "shares": [3]})},
                backups_dir=tmp_path / "b")
    t = read_ledger(path).trades
    assert t["ticker"].tolist() == ["SPY"] and t["executed"].tolist() == [False]
    assert t["timestamp"].isna().all() and t["price"].isna().all()


def test_added_header_cells_go_right_of_styled_empty_ones(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    part = sheet_part(path, "Trades")
    xml = zip_entries(path)[part].decode()
    xml = re.sub(r'<c r="K\d+"[^>]*?(?:/>|>.*?</c>)', "", xml)  # an older workbook without 'note'...
    xml = xml.replace("</row>", '<c r="U1" s="7"/></row>', 1)  # ...whose header row is formatted further right
    replace_part(path, part, xml.encode())
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    header = re.search(r"<row r=\"1\".*?</row>", zip_entries(path)[part].decode()).group(0)
    cols = re.findall(r'<c r="([A-Z]+)1"', header)
    assert cols == sorted(cols, key=lambda c: (len(c), c)) and cols[-1] == "V"  # cells stay in column order
    ws = openpyxl.load_workbook(path)["Trades"]
    assert ws["V1"].value == "note" and ws["V7"].value is None
    assert read_ledger(path).trades["run_id"].tolist() == ["r1"] * 5 + ["r2"] * 5


def test_dates_keep_a_date_format_when_the_column_lost_it(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    for row in wb["Trades"].iter_rows(min_row=2):
        row[0].number_format = "General"  # pasted as values: timestamps show as serial numbers
    wb.save(path)
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    ws = openpyxl.load_workbook(path)["Trades"]
    assert ws["A6"].number_format == "General"  # the analyst's cells are left alone
    assert ws["A7"].number_format == "yyyy-mm-dd hh:mm:ss" and ws["A7"].is_date
    assert ws["D7"].number_format == "#,##0"
