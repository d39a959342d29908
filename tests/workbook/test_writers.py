"""Workbooks as other writers store them: prefixed XML, cells or rows without numbers, 1904 dates."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from etftrader.workbook import append_week, read_ledger

from .conftest import replace_part, sheet_part, zip_entries

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _rewrite(path, sheet, fn):
    part = sheet_part(path, sheet)
    replace_part(path, part, fn(zip_entries(path)[part].decode()).encode())


def _prefixed(xml: str) -> str:
    """The sheet with the main namespace on an ``x:`` prefix, as the Open XML SDK writes it."""
    xml = xml.replace(f'xmlns="{MAIN}"', f'xmlns:x="{MAIN}"', 1)
    return re.sub(r"<(/?)([A-Za-z][\w]*)(?=[\s/>])", r"<\1x:\2", xml)


@pytest.mark.parametrize("change", ["prefixed", "cells without r", "rows without r"])
def test_other_writers_read_and_append_the_same(ledger, make_week, change):
    path, backups, _ = ledger
    want = read_ledger(path)
    fn = {
        "prefixed": _prefixed,
        "cells without r": lambda x: re.sub(r'(<c) r="[A-Z]+\d+"', r"\1", x),
        "rows without r": lambda x: re.sub(r'(<row) r="\d+"', r"\1", x),
    }[change]
    for sheet in ("Trades", "Positions"):
        _rewrite(path, sheet, fn)
    got = read_ledger(path)
    pd.testing.assert_frame_equal(got.trades, want.trades)
    pd.testing.assert_frame_equal(got.positions, want.positions)
    append_week(path, make_week("2021-03-19", "run-3"), backups_dir=backups)
    after = read_ledger(path)
    assert after.trades["run_id"].tolist() == ["run-1"] * 5 + ["run-2"] * 5 + ["run-3"] * 5
    assert after.trades["_row"].tolist() == list(range(2, 17))
    pd.testing.assert_frame_equal(after.trades.iloc[:10], want.trades)
    if change == "prefixed":
        assert b"<x:row r=\"16\">" in zip_entries(path)[sheet_part(path, "Trades")]


def test_1904_date_system(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, {}, backups_dir=tmp_path / "b")
    wb_xml = zip_entries(path)["xl/workbook.xml"].decode()
    wb_xml = re.sub(r"<workbookPr\b[^>]*/>", '<workbookPr date1904="1"/>', wb_xml)
    assert 'date1904="1"' in wb_xml
    replace_part(path, "xl/workbook.xml", wb_xml.encode())
    week = make_week("2021-03-05", "r1")
    append_week(path, week, backups_dir=tmp_path / "b")
    got = read_ledger(path).trades
    assert (got["timestamp"] == week["Trades"]["timestamp"]).all()
    serial = re.search(rb'<c r="A2" s="\d+"><v>([^<]+)</v>', zip_entries(path)[sheet_part(path, "Trades")])
    assert float(serial.group(1)) == pytest.approx(44260 + 9.5 / 24 - 1462, abs=1e-9)  # Excel: 2021-03-05 is 44260; 1904 system: 1462 less
