"""Fixtures for the workbook tests: week rows built from the bundled real sample prices."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etftrader.workbook import SCHEMA

#: the modules here that check the layout a new workbook gets today (as_of first)
_NEW_LAYOUT_MODULES = ("test_workspace", "test_layout")


@pytest.fixture(autouse=True)
def classic_layout(request, monkeypatch):
    """The append and read tests here name cells by letter in the classic layout (the schema's
    order, ``timestamp`` first), the one every workbook made before as_of came first still has:
    they test that layout. Columns are found by name, so any layout works (``test_layout``)."""
    if request.module.__name__.rsplit(".", 1)[-1] in _NEW_LAYOUT_MODULES:
        return
    from etftrader.workbook import create, edit

    monkeypatch.setattr(create, "LAYOUT", SCHEMA)
    monkeypatch.setattr(edit, "LAYOUT", SCHEMA)


def week_rows(close: pd.DataFrame, as_of: str, run_id: str, *, tickers=("MTUM", "QUAL", "VLUE", "USMV", "SIZE"),
              executed=None) -> dict[str, pd.DataFrame]:
    """One week's rows for every sheet, priced from the real sample at ``as_of``."""
    day = close.loc[:as_of].index[-1]
    prices = close.loc[day, list(tickers)]
    ts = pd.Timestamp(f"{as_of} 09:30:00")
    weights = pd.Series(1.0 / len(tickers), index=list(tickers))
    shares = np.floor(weights * 100_000 / prices)
    positions = pd.DataFrame({
        "timestamp": ts, "ticker": list(tickers), "weight": weights.values,
        "value": (shares * prices).values, "shares": shares.values, "price": prices.values,
        "factor_score": np.linspace(1.5, -0.5, len(tickers)), "run_id": run_id, "as_of": day,
        "target_weight": weights.values, "current_weight": weights.values,
    })
    trades = pd.DataFrame({
        "timestamp": ts, "ticker": list(tickers), "action": ["BUY"] * len(tickers),
        "shares": shares.values, "price": prices.values, "value": (shares * prices).values,
        "executed": [False] * len(tickers) if executed is None else list(executed),
        "run_id": run_id, "as_of": day, "est_cost": (shares * prices).values * 0.0005, "note": "",
    })
    performance = pd.DataFrame([{
        "timestamp": ts, "total_value": 100_000.0, "num_positions": len(tickers), "expected_return": 0.08,
        "expected_volatility": 0.15, "expected_sharpe": 0.4, "run_id": run_id, "as_of": day, "cash": 1234.5,
        "invested_value": 98_765.5, "pending_value": 0.0, "drift": 0.03, "benchmark": "SPY", "benchmark_close": 300.0,
    }])
    metadata = pd.DataFrame([{
        "timestamp": ts, "rebalanced": True, "optimizer": "mvo", "drift_threshold": 0.05, "capital": 100_000.0,
        "num_positions": len(tickers), "run_id": run_id, "as_of": day, "drift": 0.03, "cash": 1234.5,
        "data_source": "sample", "data_as_of": day, "optimizer_used": "mvo", "fallback_reason": "",
        "dropped_tickers": "", "superseded_run": "", "version": "0.1.0",
    }])
    cashflows = pd.DataFrame([{"timestamp": ts, "type": "DEPOSIT", "amount": 100_000.0, "note": "first run",
                               "run_id": run_id, "as_of": day}])
    return {"Positions": positions, "Trades": trades, "Performance": performance, "Metadata": metadata,
            "CashFlows": cashflows}


def zip_entries(path: Path) -> dict[str, bytes]:
    """Every part of an .xlsx by name, uncompressed."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def replace_part(path: Path, part: str, data: bytes) -> None:
    """Rewrite one zip entry (as a hand edit or another application would)."""
    entries = zip_entries(path)
    entries[part] = data
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in entries.items():
            z.writestr(name, blob)
    path.write_bytes(buf.getvalue())


def sheet_part(path: Path, sheet: str) -> str:
    """Zip path of a sheet, found through workbook.xml and its relationships."""
    from etftrader.workbook._xlsx import Package

    return Package.open(path).sheet(sheet).part


@pytest.fixture()
def make_week(sample_close):
    def _make(as_of: str, run_id: str, **kw):
        return week_rows(sample_close, as_of, run_id, **kw)
    return _make


@pytest.fixture()
def ledger(tmp_path, make_week):
    """A workbook with two weeks appended by append_week; returns (path, backups_dir, weeks)."""
    from etftrader.workbook import append_week

    path = tmp_path / "results" / "portfolio_tracking.xlsx"
    backups = tmp_path / "results" / "backups"
    weeks = [make_week("2021-03-05", "run-1"), make_week("2021-03-12", "run-2", executed=[True, False, True, False, True])]
    for w in weeks:
        append_week(path, w, backups_dir=backups)
    return path, backups, weeks


__all__ = ["SCHEMA", "week_rows", "zip_entries", "replace_part", "sheet_part"]
