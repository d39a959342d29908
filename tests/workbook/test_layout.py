"""A new workbook puts ``as_of`` first in every sheet; reading and appending work on it as on the
classic layout, because every column is found by its header's name."""

from __future__ import annotations

import datetime

import openpyxl
import pandas as pd

from etftrader.workbook import SCHEMA, SHEETS, append_week, read_ledger
from etftrader.workbook.schema import LAYOUT


def test_a_new_workbook_puts_as_of_first_and_reads_back_in_schema_order(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    append_week(path, make_week("2020-01-10", "r1"), backups_dir=tmp_path / "b")
    append_week(path, make_week("2020-01-17", "r2"), backups_dir=tmp_path / "b")
    wb = openpyxl.load_workbook(path)
    for sheet in SHEETS:
        header = [c.value for c in wb[sheet][1]]
        assert header == LAYOUT[sheet] and header[0] == "as_of", sheet
        assert sorted(header) == sorted(SCHEMA[sheet]), sheet
    ledger = read_ledger(path)
    assert list(ledger.trades.columns) == SCHEMA["Trades"] + ["_row"]
    assert ledger.trades["run_id"].tolist() == ["r1"] * 5 + ["r2"] * 5
    assert (ledger.positions["as_of"] == pd.Timestamp("2020-01-17")).sum() == 5
    # the Trades as_of cells are dates, in column A
    assert isinstance(wb["Trades"]["A2"].value, datetime.datetime) and wb["Trades"]["A2"].is_date
