"""The workbook as the place to work: the Holdings sheet, a status for every trade, return columns,
clear names, print setup, the dropdown, the file mode; checked with openpyxl and in LibreOffice.

The scenario is three weekly runs through the CLI on the sample (5 positions): all bought in week
1 and marked executed; week 2 forced, only its buys marked; week 3 forced, so the week-2 sell is
superseded and cash is negative.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from etftrader import monitoring as mon
from etftrader import weekview as wv
from etftrader.holdings import holdings_from_ledger
from etftrader.workbook import read_ledger

WEEKS = ("2021-03-05", "2021-03-19", "2021-03-26")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from weekly.helpers import mark_executed, run_cli

    home = tmp_path_factory.mktemp("workspace") / "home"
    book = home / "results" / "portfolio_tracking.xlsx"
    weeks = {}
    for i, day in enumerate(WEEKS):
        code, out, err = run_cli(["weekly", "--as-of", day, "--positions", "5", "--json"]
                                 + (["--force-rebalance"] if i else []), home=home)
        assert code == 0, err
        weeks[day] = json.loads(out)
        trades = read_ledger(book).trades.query("not executed")
        if i == 0:
            mark_executed(book, trades["_row"].tolist())
        elif i == 1:
            assert set(trades["action"]) == {"BUY", "SELL"}
            mark_executed(book, trades.query("action == 'BUY'")["_row"].tolist())
    return home, book, weeks


def test_the_holdings_sheet_is_first_opens_the_workbook_and_holds_what_is_held_now(scenario):
    home, book, weeks = scenario
    last = weeks[WEEKS[-1]]
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames[0] == "Holdings" and wb.active.title == "Holdings"
    rows = list(wb["Holdings"].values)
    header, body = list(rows[0]), [dict(zip(rows[0], r)) for r in rows[1:]]
    assert header[:6] == ["as_of", "ticker", "shares", "price", "value", "weight"]
    ledger = read_ledger(book)
    # what the executed trades add up to: every held ticker once, then cash
    held = holdings_from_ledger(mon.filter_as_of(ledger, WEEKS[-2]))  # before this week's trades
    held_rows = {r["ticker"]: r for r in body if r["ticker"] != "CASH" and r["shares"]}
    assert {t: r["shares"] for t, r in held_rows.items()} == held.shares[held.shares > 0].to_dict()
    cash = body[-1]
    assert cash["ticker"] == "CASH" and cash["value"] == pytest.approx(last["cash_before"], abs=0.01)
    assert cash["status"] == "NEGATIVE CASH" and last["cash_before"] < 0
    assert sum(r["value"] for r in body) == pytest.approx(last["portfolio_value"], abs=0.01)
    # this week's trades, net per ticker, and the target weights
    pending = {t["ticker"]: t for t in last["trades"]}
    for r in body[:-1]:
        if r["ticker"] in pending:
            assert r["pending_action"] == pending[r["ticker"]]["action"]
            assert r["pending_shares"] == pending[r["ticker"]]["shares"]
    target = {t["ticker"]: t["weight"] for t in last["target"]}
    assert {r["ticker"]: r["target_weight"] for r in body[:-1] if r["target_weight"]} == pytest.approx(
        {t: w for t, w in target.items() if w})
    assert all(r["as_of"] == pd.Timestamp(WEEKS[-1]) for r in body)


def test_every_trade_has_a_status_that_moves_on_each_week(scenario):
    home, book, weeks = scenario
    ledger = read_ledger(book)
    expected = wv.trade_status(ledger)
    assert ledger.trades["status"].tolist() == expected["status"].tolist()
    assert set(expected["status"]) == {"executed", "pending", "superseded"}
    ws = openpyxl.load_workbook(book)["Trades"]
    header = [c.value for c in ws[1]]
    formula = ws.cell(row=2, column=header.index("status") + 1).value
    assert formula.startswith("=IF(OR(") and "superseded" in formula and "Performance" in formula


def test_performance_carries_weekly_and_cumulative_returns_and_clear_cash_names(scenario):
    home, book, weeks = scenario
    ledger = read_ledger(book)
    series = mon.performance_series(ledger)
    perf = ledger.performance.set_index("as_of")
    assert perf["week_return"].iloc[1:].tolist() == pytest.approx(series["period_return"].iloc[1:].tolist(), abs=1e-12)
    assert perf["cumulative_return"].tolist() == pytest.approx(series["cumulative_return"].tolist(), abs=1e-12)
    assert perf["benchmark_cumulative"].tolist() == pytest.approx(series["benchmark_cumulative"].tolist(), abs=1e-12)
    assert perf["cash_before_trades"].tolist() == perf["cash"].tolist()
    meta = ledger.metadata
    assert meta["portfolio_value"].tolist() == meta["capital"].tolist()
    assert meta["cash_after_trades"].tolist() == meta["cash"].tolist()


def test_a_new_workbook_prints_landscape_names_its_font_colours_status_and_accepts_the_readmes_spellings(scenario):
    home, book, weeks = scenario
    wb = openpyxl.load_workbook(book)
    for name in ("Positions", "Trades", "Performance", "Metadata", "CashFlows"):
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1, name
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows == "$1:$1", name
        assert ws["A1"].font.name == "Calibri" and ws["A1"].font.bold, name
    from openpyxl.utils import get_column_letter

    def letter(ws, name):
        return get_column_letter([c.value for c in ws[1]].index(name) + 1)

    trades = wb["Trades"]
    assert trades["A1"].value == "as_of"  # the week a row belongs to comes first
    ranges = {str(cf.sqref): [r.formula for r in cf.rules] for cf in trades.conditional_formatting}
    status = [v for k, v in ranges.items() if k.startswith(f"{letter(trades, 'status')}2:")]
    assert sorted(f[0] for f in status[0]) == ['"executed"', '"pending"', '"superseded"']
    assert any(['"BUY"'] in v or ['"SELL"'] in v for k, v in ranges.items()
               if k.startswith(f"{letter(trades, 'action')}2:"))
    perf = wb["Performance"]
    perf_cf = [str(cf.sqref) for cf in perf.conditional_formatting]
    assert any(s.startswith(f"{letter(perf, 'cash')}2:") for s in perf_cf)  # cash below zero is highlighted
    validation = trades.data_validations.dataValidation[0]
    assert validation.errorStyle == "information" and "yes/no, x or 1/0" in validation.error
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "TRUE/FALSE, yes/no, x, 1/0" in readme


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_new_workbook_follows_the_umask_and_an_old_one_keeps_its_mode(tmp_path, make_week):
    from etftrader.workbook import append_week

    path = tmp_path / "w.xlsx"
    old = os.umask(0o027)
    try:
        append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
    path.chmod(0o604)
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    assert path.stat().st_mode & 0o777 == 0o604


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.libreoffice
@pytest.mark.slow
def test_libreoffice_shows_the_holdings_that_holdings_show_prints_and_each_trades_status(scenario, tmp_path,
                                                                                      missing_tool):
    if _soffice() is None:
        missing_tool("LibreOffice (soffice) is not installed")
    home, book, weeks = scenario
    out = tmp_path / "csv"
    # every sheet to its own CSV, as LibreOffice computes and shows it
    subprocess.run([_soffice(), "--headless", "--norestore", f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
                    "--outdir", str(out), str(book)], check=True, capture_output=True, timeout=180)
    with open(next(out.glob("*Holdings*.csv")), encoding="utf-8") as fh:
        sheet = list(csv.DictReader(fh))
    from etftrader.cli import main
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["holdings", "show", "--home", str(home)]) == 0
    text = printed.getvalue()
    shown = {m.group(1): float(m.group(2).replace(",", ""))
             for m in re.finditer(r"^\s+([A-Z]+)\s+([\d,]+) shares", text, flags=re.M)}
    assert {r["ticker"]: float(r["shares"]) for r in sheet if r["ticker"] != "CASH" and r["shares"] not in ("", "0")} \
        == shown
    cash = float(re.search(r"^Cash: (-?[\d,.]+)", text, flags=re.M).group(1).replace(",", ""))
    assert float(sheet[-1]["value"]) == pytest.approx(cash, abs=0.01)
    pending = re.search(r"Pending \(run [^)]+\): (\d+) unexecuted trades", text)
    assert sum(1 for r in sheet if r["pending_action"]) <= int(pending.group(1))
    with open(next(out.glob("*Trades*.csv")), encoding="utf-8") as fh:
        statuses = [r["status"] for r in csv.DictReader(fh)]
    assert statuses == wv.trade_status(read_ledger(book))["status"].tolist()


def test_an_older_workbook_gains_the_status_column_with_its_colours(tmp_path, make_week):
    """A workbook from before ``status`` existed (no column, no colours) gets both on its next week."""
    import io
    import zipfile

    from etftrader.workbook import append_week

    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    ws = wb["Trades"]
    column = [c.value for c in ws[1]].index("status") + 1
    ws.delete_cols(column)
    ws.conditional_formatting = type(ws.conditional_formatting)()
    table = ws.tables["tblTrades"]
    table.ref = f"A1:{openpyxl.utils.get_column_letter(column - 1)}{ws.max_row}"
    table.tableColumns = table.tableColumns[:-1]
    table.autoFilter.ref = table.ref
    wb.save(path)
    assert "status" not in [c.value for c in openpyxl.load_workbook(path)["Trades"][1]]

    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    ws = openpyxl.load_workbook(path)["Trades"]
    header = [c.value for c in ws[1]]
    assert header[-1] == "status"
    letter = openpyxl.utils.get_column_letter(len(header))
    rules = {str(cf.sqref): cf.rules for cf in ws.conditional_formatting}
    status_rules = rules[f"{letter}2:{letter}1048576"]
    assert sorted(r.formula[0] for r in status_rules) == ['"executed"', '"pending"', '"superseded"']
    assert all(r.dxf is not None and r.dxf.fill is not None for r in status_rules)
    action = openpyxl.utils.get_column_letter(header.index("action") + 1)
    assert sorted(r.formula[0] for r in rules[f"{action}2:{action}1048576"]) == ['"BUY"', '"SELL"']
    # the new rows carry the formula; the old ones are left as they were
    assert str(ws.cell(row=len(ws["A"]), column=len(header)).value).startswith("=IF(")
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
        assert z.testzip() is None


def test_an_older_workbook_gets_the_print_setup_and_the_lenient_dropdown_once(tmp_path, make_week):
    """A workbook without page setup, print titles or the information-style dropdown (as older
    versions wrote it) gets them on its next week; one that has its own page setup keeps it."""
    import io
    import zipfile

    from etftrader.workbook import append_week
    from etftrader.workbook._xlsx import Package

    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    pkg = Package.open(path)
    parts = {n: pkg.read(n) for n in pkg.names}
    for name in ("Positions", "Trades", "Performance", "Metadata", "CashFlows"):
        part = pkg.sheet(name).part
        xml = parts[part]
        xml = re.sub(rb"<pageSetup[^>]*/>", b"", xml)
        xml = re.sub(rb"<pageSetUpPr[^>]*/>", b"", xml)
        xml = xml.replace(b' errorStyle="information"', b"")
        if name == "Metadata":  # the analyst's own page setup: portrait, kept
            xml = xml.replace(b"</worksheet>", b'<pageSetup orientation="portrait"/></worksheet>')
            xml = re.sub(rb"(<pageMargins[^>]*/>)(.*?)(<pageSetup orientation=\"portrait\"/>)", rb"\1\3\2", xml,
                         flags=re.S)
        parts[part] = xml
    parts[pkg.workbook_part] = re.sub(rb"<definedNames>.*?</definedNames>", b"", parts[pkg.workbook_part], flags=re.S)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)
    path.write_bytes(buf.getvalue())
    old = openpyxl.load_workbook(path)
    assert old["Trades"].page_setup.orientation is None and not old["Trades"].print_title_rows

    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    for name in ("Positions", "Trades", "Performance", "CashFlows"):
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1, name
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows == "$1:$1", name
    assert wb["Metadata"].page_setup.orientation == "portrait"
    assert wb["Trades"].data_validations.dataValidation[0].errorStyle == "information"
    assert len(read_ledger(path).trades) == 10
    copy = tmp_path / "before.xlsx"
    copy.write_bytes(path.read_bytes())
    append_week(path, make_week("2020-01-24", "r3"), backups_dir=tmp_path / "b")
    sheet = Package.open(path).sheet("Trades").part
    old_xml, new_xml = Package.open(copy).read(sheet), Package.open(path).read(sheet)
    # once: the third week changes nothing after the rows
    assert new_xml[new_xml.rindex(b"</sheetData>"):] == old_xml[old_xml.rindex(b"</sheetData>"):]
