"""The yfinance source through a fake ``yf.download`` shaped like yfinance 1.x (no network)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date

import numpy as np
import pandas as pd
import pytest

from etftrader.config import DataConfig
from etftrader.errors import SourceUnavailableError
from etftrader.paths import Home
from etftrader.ops.doctor import YAHOO_URL
from etftrader.prices import load_prices
from etftrader.prices import yahoo as sources  # the yfinance boundary
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


def test_an_outage_stops_at_the_first_empty_chunk(yf_config, home):
    """Six chunks, nothing ever delivered: only the first chunk is asked, with its retries."""
    tickers = [f"T{i:03d}" for i in range(CHUNK_SIZE * 5 + 40)]
    fake = FakeYahoo(closes=synthetic_closes(["SPY"]), offline=True)
    waits = []
    with pytest.raises(SourceUnavailableError) as err:
        _load(yf_config, home, fake, tickers=tickers, waits=waits)
    assert str(err.value) == (f"could not reach Yahoo Finance: 0 of {len(tickers) + 1} tickers downloaded; "
                              "check the network or use --source file")
    assert len(fake.calls) == yf_config.download_retries + 1
    assert all(c["tickers"] == tickers[:CHUNK_SIZE] for c in fake.calls)
    backoff = sources.RETRY_BACKOFF_SECONDS
    assert sum(waits) == sum(backoff * 2 ** k for k in range(yf_config.download_retries)) == 6.0


def test_a_partial_outage_reports_the_chunk_by_name_and_proceeds(yf_config, home, caplog):
    tickers = [f"T{i:03d}" for i in range(CHUNK_SIZE * 2 + 10)]
    fake = FakeYahoo(closes=synthetic_closes([*tickers, "SPY"], start="2023-06-01"))
    fake.fail_calls = (2, 3)  # the second chunk stays empty as long as it is retried
    waits = []
    with caplog.at_level(logging.WARNING, logger="etftrader"):
        data = _load(yf_config, home, fake, tickers=tickers, waits=waits)
    second = tickers[CHUNK_SIZE:2 * CHUNK_SIZE]
    # asked twice (EMPTY_CHUNK_ATTEMPTS), not download_retries + 1 times, then the third chunk
    assert [c["tickers"] for c in fake.calls] == [tickers[:CHUNK_SIZE], second, second,
                                                  [*tickers[2 * CHUNK_SIZE:], "SPY"]]
    assert waits == [2.0]
    assert sorted(data.failed) == second
    assert data.failed[second[0]] == "empty response from Yahoo Finance after 2 attempt(s)"
    assert data.close.shape[1] == len(tickers) - CHUNK_SIZE
    assert f"{CHUNK_SIZE} ticker(s) not delivered by Yahoo Finance: T100, T101" in caplog.text


def test_a_chunk_of_unknown_tickers_is_asked_at_most_twice(yf_config, home):
    known = ["SPY", *(f"K{i:03d}" for i in range(CHUNK_SIZE - 1))]  # the benchmark is among them
    unknown = [f"ZZ{i:02d}" for i in range(CHUNK_SIZE)]
    fake = FakeYahoo(closes=synthetic_closes(known, start="2023-06-01"))
    waits = []
    data = _load(yf_config, home, fake, tickers=[*known, *unknown], waits=waits)
    assert [len(c["tickers"]) for c in fake.calls] == [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE]
    assert waits == [2.0]
    assert set(data.failed) == set(unknown)


def test_unreachable_yahoo_fails_before_any_download(yf_config, home, fake_yahoo):
    asked = []

    def probe(url, timeout):
        asked.append((url, timeout))
        raise OSError("[Errno -3] Temporary failure in name resolution")

    with pytest.raises(SourceUnavailableError, match="^could not reach Yahoo Finance: 0 of 3 tickers"):
        _load(yf_config, home, fake_yahoo, probe=probe)
    assert fake_yahoo.calls == []
    assert asked == [(YAHOO_URL, sources.PROBE_SECONDS)]


def test_a_stuck_probe_is_given_up_after_its_time_limit(yf_config, home, fake_yahoo, monkeypatch):
    monkeypatch.setattr(sources, "PROBE_SECONDS", 0.2)
    release = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(SourceUnavailableError):
            _load(yf_config, home, fake_yahoo, probe=lambda url, timeout: release.wait(30))
    finally:
        release.set()
    assert time.monotonic() - started < 3.0  # 0.2 s plus the 1 s grace, never the 30 s wait
    assert fake_yahoo.calls == []


def test_any_http_answer_counts_as_reachable(yf_config, home, fake_yahoo):
    data = _load(yf_config, home, fake_yahoo, probe=lambda url, timeout: "HTTP 429")
    assert list(data.close.columns) == ["IWM", "QQQ", "SPY"]


def test_the_real_probe_runs_only_with_the_real_download(yf_config, home, fake_yahoo, monkeypatch):
    asked = []
    monkeypatch.setattr(sources, "_probe_yahoo", lambda url, timeout: asked.append(timeout) or "HTTP 200")
    _load(yf_config, home, fake_yahoo)  # an injected fetcher: no probe
    assert asked == []
    monkeypatch.setattr(sources, "_yfinance_download", fake_yahoo)
    load_prices(yf_config, home, tickers=["SPY"], as_of=AS_OF, refresh=True, sleep=lambda s: None)
    assert asked == [sources.PROBE_SECONDS]


def test_a_stuck_download_try_ends_at_download_timeout(home, fake_yahoo):
    config = DataConfig(source="yfinance", history_days=365, download_timeout=0.2, download_retries=1)
    fake_yahoo.hang = threading.Event()
    waits = []
    started = time.monotonic()
    try:
        with pytest.raises(SourceUnavailableError):
            _load(config, home, fake_yahoo, waits=waits)
    finally:
        fake_yahoo.hang.set()
    assert time.monotonic() - started < 2.0  # two tries of 0.2 s (sleep is injected)
    assert len(fake_yahoo.calls) == 2 and waits == [2.0]


def test_a_timed_out_chunk_says_so_by_ticker(home, monkeypatch):
    monkeypatch.setattr(sources, "CHUNK_SIZE", 3)  # small chunks: the good one is far inside the limit
    tickers = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    config = DataConfig(source="yfinance", history_days=365, download_timeout=0.5, download_retries=1)
    fake = FakeYahoo(closes=synthetic_closes([*tickers, "SPY"], start="2023-06-01"))
    release = threading.Event()

    def stuck_on_the_last_chunk(chunk, **kwargs):
        if "SPY" in chunk:
            release.wait(30)
        return fake(chunk, **kwargs)

    try:
        data = _load(config, home, stuck_on_the_last_chunk, tickers=tickers)
    finally:
        release.set()
    assert data.failed == {t: "no answer from Yahoo Finance within download_timeout = 0.5 s after 2 attempt(s)"
                           for t in ("DDD", "EEE")}
    assert list(data.close.columns) == ["AAA", "BBB", "CCC"]


def test_yfinance_own_retries_are_switched_off(monkeypatch):
    import yfinance as yf

    seen = []
    monkeypatch.setattr(yf, "download", lambda *a, **k: seen.append(yf.config.network.retries) or pd.DataFrame())
    before = yf.config.network.retries
    yf.config.network.retries = 3  # as a user's own script might leave it
    try:
        sources._yfinance_download(["SPY"], timeout=1.0)
    finally:
        yf.config.network.retries = before
    assert seen == [0]


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


def test_parse_numbers_sent_as_text_the_same_as_numbers():
    """The float fast path and the per-column conversion agree; text that is no number becomes NaN."""
    closes = synthetic_closes(["SPY", "QQQ"], start="2024-01-01", end="2024-01-31")
    raw = yf_download_frame({t: history_frame(closes[t]) for t in closes})
    assert all(dtype == np.float64 for dtype in raw.dtypes)
    fast, fast_volume = parse_yfinance_frame(raw, ["SPY", "QQQ"])
    text = raw.astype(object)
    text.iloc[3, text.columns.get_loc(("Close", "SPY"))] = "n/a"
    slow, slow_volume = parse_yfinance_frame(text, ["SPY", "QQQ"])
    expected = fast.copy()
    expected.iloc[3, expected.columns.get_loc("SPY")] = np.nan
    pd.testing.assert_frame_equal(slow, expected)
    pd.testing.assert_frame_equal(slow_volume, fast_volume)
    np.testing.assert_allclose(fast["QQQ"].to_numpy(), closes["QQQ"].to_numpy())


def test_with_vix_rides_along_in_the_same_download_and_is_returned_apart(yf_config, home, fake_yahoo):
    data = _load(yf_config, home, fake_yahoo, with_vix=True)
    assert len(fake_yahoo.calls) == 1 and "^VIX" in fake_yahoo.calls[0]["tickers"]
    assert "^VIX" not in data.close.columns and "^VIX" not in data.failed
    assert data.vix is not None and data.vix.name == "VIX"
    np.testing.assert_allclose(data.vix.to_numpy(), fake_yahoo.closes["^VIX"].loc[data.vix.index].to_numpy())
    # Without the flag nothing is asked for the VIX and none is returned.
    plain = _load(yf_config, Home(home.root / "other"), fake_yahoo)
    assert "^VIX" not in fake_yahoo.calls[-1]["tickers"] and plain.vix is None


def test_a_missing_vix_is_neither_a_failure_nor_an_error(yf_config, home, fake_yahoo):
    fake_yahoo.closes = fake_yahoo.closes.drop(columns="^VIX")
    data = _load(yf_config, home, fake_yahoo, with_vix=True)
    assert data.vix is None and "^VIX" not in data.failed
    assert sorted(data.close.columns) == ["IWM", "QQQ", "SPY"]


# ---------------------------------------------------------------------------------------------
# HTTP 429: yfinance raises YFRateLimitError, or logs it per ticker and returns an empty frame


def _cached_files(home: Home) -> list:
    folder = home.price_cache_dir
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize("how", ["raises", "logs"])
def test_a_rate_limit_is_an_outage_stopped_at_once_with_nothing_written(home, yf_config, fake_yahoo, how):
    from yfinance.exceptions import YFRateLimitError

    calls = []

    def limited(tickers, **kwargs):
        calls.append(tickers)
        if how == "raises":
            raise YFRateLimitError()
        tickers = [tickers] if isinstance(tickers, str) else list(tickers)
        logging.getLogger("yfinance").error("%d Failed download:\n%s: YFRateLimitError('Too Many Requests. "
                                            "Rate limited. Try after a while.')", len(tickers), tickers)
        return yf_download_frame({}, failed=tickers)

    waited = []
    with pytest.raises(SourceUnavailableError, match=r"rate-limiting this machine \(HTTP 429"):
        load_prices(yf_config, home, tickers=["SPY", "QQQ"], as_of=AS_OF, fetcher=limited, sleep=waited.append)
    assert len(calls) == 1 and waited == []  # no retries, no backoff: bounded at one call
    assert _cached_files(home) == []
    assert SourceUnavailableError.exit_code == 4


def test_a_rate_limit_after_a_good_chunk_writes_no_half_update(home, yf_config, fake_yahoo):
    from yfinance.exceptions import YFRateLimitError

    tickers = [f"T{i:03d}" for i in range(CHUNK_SIZE + 5)]
    fake = FakeYahoo(closes=synthetic_closes(tickers))

    def second_limited(chunk, **kwargs):
        if len(fake.calls) >= 1:
            raise YFRateLimitError()
        return fake(chunk, **kwargs)

    with pytest.raises(SourceUnavailableError, match="rate-limiting"):
        load_prices(yf_config, home, tickers=tickers, as_of=AS_OF, fetcher=second_limited, sleep=lambda s: None)
    assert _cached_files(home) == []
