"""The bundled ETF universe and user universe files."""

from __future__ import annotations

import csv

import pytest

from etftrader.errors import DataError
from etftrader.prices import load_universe
from etftrader.prices.universe import bundled_universe_path

ASSET_CLASSES = {"Equity", "Fixed Income", "Commodity", "Real Estate", "Currency", "Multi-Asset",
                 "Alternative"}


def test_bundled_universe_is_broad_clean_and_unique():
    universe = load_universe(None)
    assert list(universe.columns) == ["ticker", "name", "asset_class", "category"]
    assert len(universe) >= 300
    assert universe["ticker"].is_unique
    assert universe.attrs["notes"] == []  # nothing skipped in our own file
    assert set(universe["asset_class"]) == ASSET_CLASSES
    assert (universe["name"].str.len() > 0).all() and (universe["category"].str.len() > 0).all()
    for ticker in ["SPY", "QQQ", "MTUM", "QUAL", "SIZE", "USMV", "VLUE", "AGG", "TLT", "GLD", "VNQ", "UUP"]:
        assert ticker in set(universe["ticker"])
    # breadth: many categories, bonds and equity both well represented
    assert universe["category"].nunique() >= 30
    assert (universe["asset_class"] == "Fixed Income").sum() >= 60


def test_bundled_file_has_no_formula_like_or_non_ascii_cells():
    with open(bundled_universe_path(), newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["ticker", "name", "asset_class", "category"]
    for row in rows[1:]:
        assert len(row) == 4
        for cell in row:
            assert cell.isascii()
            assert not cell.startswith(("=", "+", "-", "@")), row


def test_user_file_problems_are_reported_not_fatal(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("Symbol,Name\nspy,S&P\n\n QQQ ,Nasdaq\nSPY,dup\n=HYPERLINK(1),x\n-1,y\n",
                    encoding="utf-8-sig")
    universe = load_universe(path)
    assert universe["ticker"].tolist() == ["SPY", "QQQ"]
    notes = " | ".join(universe.attrs["notes"])
    assert "1 blank row(s) (lines 3)" in notes
    assert "1 duplicate ticker(s): SPY" in notes
    assert "2 cell(s) that are not tickers" in notes
    assert (universe["asset_class"] == "").all()  # optional columns filled in


def test_user_file_without_ticker_column_is_a_clear_error(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("fund,weight\nSPY,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"has no `ticker` column \(columns found: fund, weight\)"):
        load_universe(path)


@pytest.mark.parametrize("name, text, message", [
    ("missing.csv", None, "does not exist"),
    ("list.xlsx", "x", "must be a .csv"),
    ("empty.csv", "ticker\n\n", "lists no usable ticker"),
])
def test_user_file_errors(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_universe(path)
