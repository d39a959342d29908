"""Fixtures for the price layer: a fake ``yfinance.download`` that returns frames shaped exactly as
yfinance 1.x builds them (see ``yfinance/multi.py``: per-ticker history frames concatenated with
keys ``names=['Ticker', 'Price']``, levels swapped for ``group_by='column'`` and sorted by Price;
a failed ticker contributes ``utils.empty_df()`` columns including ``Adj Close``; the index is a
tz-naive DatetimeIndex named ``Date``; nothing delivered gives a frame with zero rows).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from etftrader.config import DataConfig
from etftrader.paths import Home

_PRICE_FIELDS = ["Open", "High", "Low", "Close", "Volume"]
_EMPTY_FIELDS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]


def history_frame(close: pd.Series, volume: pd.Series | None = None) -> pd.DataFrame:
    """One ticker's ``Ticker.history(auto_adjust=True, actions=False)`` result (tz already dropped)."""
    vol = volume if volume is not None else pd.Series(1_000_000.0, index=close.index)
    frame = pd.DataFrame({"Open": close * 0.999, "High": close * 1.01, "Low": close * 0.99,
                          "Close": close, "Volume": vol.reindex(close.index)})
    frame.index = pd.DatetimeIndex(close.index.to_numpy(), name="Date").as_unit("s")
    return frame


def yf_download_frame(histories: dict[str, pd.DataFrame], failed: list[str] = ()) -> pd.DataFrame:
    """Assemble a ``yf.download(..., group_by='column')`` result the way yfinance does."""
    dfs: dict[str, pd.DataFrame] = {}
    for ticker, frame in histories.items():
        dfs[ticker.upper()] = frame
    for ticker in failed:
        empty = pd.DataFrame(index=pd.DatetimeIndex([], name="Date", dtype="datetime64[s]"),
                             data={c: np.nan for c in _EMPTY_FIELDS})
        dfs[ticker.upper()] = empty
    idx = None
    for frame in dfs.values():
        if not frame.empty:
            idx = frame.index if idx is None else idx.union(frame.index)
    if idx is None:
        idx = pd.DatetimeIndex([], dtype="datetime64[s]")
    dfs = {k: v.reindex(idx) for k, v in dfs.items()}
    data = pd.concat(list(dfs.values()), axis=1, sort=True, keys=list(dfs.keys()), names=["Ticker", "Price"])
    data.columns = data.columns.swaplevel(0, 1)
    data = data.sort_index(level=0, axis=1)
    return data


def synthetic_closes(tickers, start="2021-01-01", end="2024-06-28", seed=7) -> pd.DataFrame:
    """Seeded geometric random walks on business days, one column per ticker."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, end)
    rets = rng.normal(0.0003, 0.01, size=(len(days), len(tickers)))
    levels = 50.0 + 10.0 * np.arange(len(tickers))
    return pd.DataFrame(levels * np.exp(np.cumsum(rets, axis=0)), index=days, columns=list(tickers))


@dataclass
class FakeYahoo:
    """Stands in for ``yfinance.download``; records every call.

    ``closes`` holds the full history Yahoo "has"; tickers not in it fail like delisted ones.
    ``offline`` returns yfinance's empty frame; ``fail_first`` makes the first n calls fail
    (empty frame, or an exception when ``raise_errors``); ``fail_calls`` fails the calls with these
    numbers (1-based) the same way; ``hang`` makes every call wait until the event is set (a stuck
    connection); ``revise`` multiplies closes on or after a date (Yahoo revising adjusted prices).
    """

    closes: pd.DataFrame
    volumes: pd.DataFrame | None = None
    offline: bool = False
    fail_first: int = 0
    raise_errors: bool = False
    calls: list[dict] = field(default_factory=list)
    revise: tuple[str, float] | None = None
    fail_calls: tuple[int, ...] = ()
    hang: threading.Event | None = None

    def __call__(self, tickers, start=None, end=None, **kwargs):
        tickers = [tickers] if isinstance(tickers, str) else list(tickers)
        self.calls.append({"tickers": list(tickers), "start": start, "end": end, **kwargs})
        if self.hang is not None:
            self.hang.wait(30)
        n = len(self.calls)
        if self.offline or n <= self.fail_first or n in self.fail_calls:
            if self.raise_errors:
                raise ConnectionError("curl: (6) Could not resolve host: query2.finance.yahoo.com")
            print("Failed to get ticker 'X' reason: offline")  # yfinance prints; must not reach the console
            return yf_download_frame({}, failed=tickers)
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        histories, failed = {}, []
        for t in tickers:
            if t not in self.closes.columns:
                failed.append(t)
                continue
            close = self.closes[t]
            close = close[(close.index >= lo) & (close.index < hi)].dropna()
            if self.revise is not None:
                close = close.where(close.index < pd.Timestamp(self.revise[0]), close * self.revise[1])
            if close.empty:
                failed.append(t)
                continue
            vol = self.volumes[t] if self.volumes is not None and t in self.volumes else None
            histories[t] = history_frame(close, vol)
        if failed:  # yfinance logs failures on its own logger (the console, unless we route it)
            logging.getLogger("yfinance").error("%d Failed download: %s", len(failed), failed)
        return yf_download_frame(histories, failed)

    def asked(self):
        """(sorted tickers, start) per call."""
        return [(sorted(c["tickers"]), c["start"]) for c in self.calls]


@pytest.fixture()
def home(tmp_home) -> Home:
    return Home(tmp_home)


@pytest.fixture()
def yf_config() -> DataConfig:
    return DataConfig(source="yfinance", history_days=365, overlap_days=5, download_retries=2)


@pytest.fixture()
def fake_yahoo() -> FakeYahoo:
    closes = synthetic_closes(["SPY", "QQQ", "IWM", "TLT", "GLD", "^VIX"])
    return FakeYahoo(closes=closes)
