"""The yfinance source through a fake ``yf.download`` shaped like yfinance 1.x (no network)."""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd
import pytest

from etftrader.errors import SourceUnavailableError
from etftrader.prices import load_prices
from etftrader.prices.sources import CHUNK_SIZE, parse_yfinance_frame

from .conftest import FakeYahoo, history_frame, synthetic_closes, yf_download_frame

AS_OF = date(2024, 6, 28)


def _load(config, home, fake, tickers=("SPY", "QQQ", "IWM"), waits=None, **kwargs):
    waits = [] if waits is None else waits
    return load_prices(config, home, tickers=list(tickers), as_of=kwargs.pop("as_of", AS_OF),
                       fetcher=fake, sleep=waits.append, **kwargs)


def _assert_price_frame(frame: pd.DataFrame) -> None:
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "date"
    assert frame.index.tz is None
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert list(frame.columns) == sorted(frame.columns)
    assert all(isinstance(c, str) and c == c.upper() for c in frame.columns)
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert not frame.isna().all(axis=1).any()


def test_parse_many_tickers_takes_close_and_volume_levels():
    closes = synthetic_closes(["SPY", "QQQ"], start="2024-01-01", end="2024-01-31")
    raw = yf_download_frame({t: history_frame(closes[t]) for t in closes})
    close, volume = parse_yfinance_frame(raw, ["SPY", "QQQ"])
    _assert_price_frame(close)
    np.testing.assert_allclose(close["SPY"].to_numpy(), closes["SPY"].to_numpy())
    assert (volume == 1_000_000.0).all().all()
    assert volume.shape == close.shape


def test_parse_one_ticker_multiindex_and_flat_columns_give_the_same_frame():
    closes = synthetic_closes(["SPY"], start="2024-01-01", end="2024-01-31")
    multi = yf_download_frame({"SPY": history_frame(closes["SPY"])})
    assert isinstance(multi.columns, pd.MultiIndex) and multi.columns.names == ["Price", "Ticker"]
    flat = multi.droplevel(1, axis=1)  # what multi_level_index=False / old yfinance returns
    a, _ = parse_yfinance_frame(multi, ["SPY"])
    b, _ = parse_yfinance_frame(flat, ["SPY"])
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["SPY"]


def test_parse_empty_frame_gives_empty_frames():
    close, volume = parse_yfinance_frame(yf_download_frame({}, failed=["SPY"]), ["SPY"])
    assert close.empty and volume.empty


def test_download_returns_the_price_frame_contract_and_the_benchmark(yf_config, home, fake_yahoo):
    data = _load(yf_config, home, fake_yahoo, tickers=["qqq", "IWM"])
    _assert_price_frame(data.close)
    assert list(data.close.columns) == ["IWM", "QQQ"]  # SPY fetched as benchmark, not added
    assert data.benchmark.name == "SPY"
    assert data.close.index[-1] == pd.Timestamp(AS_OF)
    assert data.source == "yfinance"
    assert data.volume.shape == data.close.shape
    # the fake's closes come back unchanged
    np.testing.assert_allclose(data.close["QQQ"].to_numpy(),
                               fake_yahoo.closes["QQQ"].loc[data.close.index].to_numpy())
    assert sorted(fake_yahoo.calls[0]["tickers"]) == ["IWM", "QQQ", "SPY"]


def test_download_passes_the_documented_yfinance_arguments(yf_config, home, fake_yahoo):
    _load(yf_config, home, fake_yahoo)
    call = fake_yahoo.calls[0]
    assert call["auto_adjust"] is True
    assert call["actions"] is False
    assert call["threads"] is True
    assert call["progress"] is False
    assert call["group_by"] == "column"
    assert call["timeout"] == yf_config.download_timeout
    assert call["start"] == "2023-06-29"  # as_of - history_days (365)
    assert call["end"] == "2024-06-29"  # yfinance's end is exclusive


def test_offline_empty_frame_is_one_clear_error(yf_config, home, fake_yahoo):
    fake_yahoo.offline = True
    waits = []
    with pytest.raises(SourceUnavailableError) as err:
        _load(yf_config, home, fake_yahoo, waits=waits)
    assert str(err.value) == ("could not reach Yahoo Finance: 0 of 3 tickers downloaded; "
                              "check the network or use --source file")
    assert len(fake_yahoo.calls) == yf_config.download_retries + 1  # bounded
    assert waits == [2.0, 4.0]  # exponential backoff, injected sleep


def test_transient_failures_are_retried_then_succeed(yf_config, home, fake_yahoo):
    fake_yahoo.fail_first = 2
    fake_yahoo.raise_errors = True
    waits = []
    data = _load(yf_config, home, fake_yahoo, waits=waits)
    assert len(fake_yahoo.calls) == 3
    assert waits == [2.0, 4.0]
    assert list(data.close.columns) == ["IWM", "QQQ", "SPY"]


def test_unknown_tickers_are_reported_by_name_and_the_rest_proceed(yf_config, home, fake_yahoo):
    data = _load(yf_config, home, fake_yahoo, tickers=["SPY", "QQQ", "DELISTED1", "XYZQ"])
    assert set(data.failed) == {"DELISTED1", "XYZQ"}
    assert "delisted" in data.failed["DELISTED1"]
    assert list(data.close.columns) == ["QQQ", "SPY"]
    assert len(fake_yahoo.calls) == 1  # a per-ticker failure is not a reason to retry


def test_many_tickers_are_downloaded_in_chunks_with_progress(yf_config, home, caplog):
    tickers = [f"T{i:03d}" for i in range(CHUNK_SIZE * 2 + 30)]
    fake = FakeYahoo(closes=synthetic_closes([*tickers, "SPY"], start="2023-06-01"))
    with caplog.at_level(logging.INFO, logger="etftrader"):
        data = _load(yf_config, home, fake, tickers=tickers)
    sizes = [len(c["tickers"]) for c in fake.calls]
    assert sizes == [CHUNK_SIZE, CHUNK_SIZE, 31]
    assert data.close.shape[1] == len(tickers)
    # not a terminal: progress goes to the log, per chunk
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("downloading prices:")]
    assert steps[-1] == "downloading prices: 231/231"


def test_a_chunk_that_stays_empty_fails_only_its_tickers(yf_config, home):
    tickers = [f"T{i:03d}" for i in range(CHUNK_SIZE + 10)]
    fake = FakeYahoo(closes=synthetic_closes([*tickers, "SPY"], start="2023-06-01"))
    fake.fail_first = yf_config.download_retries + 1  # the whole first chunk is rate-limited
    data = _load(yf_config, home, fake, tickers=tickers)
    assert len(data.failed) == CHUNK_SIZE
    assert all("empty response" in r for r in data.failed.values())
    assert data.close.shape[1] == 10


def test_yfinance_noise_stays_out_of_the_console(yf_config, home, fake_yahoo, capsys, caplog):
    fake_yahoo.fail_first = 1
    with caplog.at_level(logging.DEBUG, logger="etftrader"):
        _load(yf_config, home, fake_yahoo, tickers=["SPY", "NOPE"])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert any("yfinance:" in r.getMessage() for r in caplog.records)


def test_nan_last_row_and_inf_are_kept_for_the_quality_step(yf_config, home):
    closes = synthetic_closes(["SPY", "QQQ", "IWM"], start="2023-06-01")
    closes.iloc[-1, closes.columns.get_loc("QQQ")] = np.nan
    closes.iloc[-1, closes.columns.get_loc("IWM")] = np.nan
    closes.iloc[-1, closes.columns.get_loc("SPY")] = np.nan  # a NaN last row for everyone
    closes.iloc[-10, closes.columns.get_loc("IWM")] = np.inf
    data = _load(yf_config, home, FakeYahoo(closes=closes))
    assert data.close.index[-1] == closes.index[-2]  # the all-NaN row is dropped
    assert np.isinf(data.close["IWM"]).sum() == 1  # not silently turned into NaN


def test_default_universe_is_the_bundled_list(yf_config, home):
    from etftrader.prices import load_universe

    universe = load_universe(None)["ticker"].tolist()
    fake = FakeYahoo(closes=synthetic_closes(["SPY", "QQQ", "GLD"], start="2023-06-01"))
    data = load_prices(yf_config, home, as_of=AS_OF, fetcher=fake, sleep=lambda s: None)
    asked = [t for c in fake.calls for t in c["tickers"]]
    assert set(asked) == set(universe)  # SPY (the benchmark) is in the bundled list already
    assert list(data.close.columns) == ["GLD", "QQQ", "SPY"]
    assert len(data.failed) == len(universe) - 3
