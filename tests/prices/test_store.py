"""The parquet price store: incremental updates, refresh, revisions, corruption, atomic writes."""

from __future__ import annotations

import json
import logging
from datetime import date

import numpy as np
import pandas as pd
import pytest

from etftrader.errors import DataError, SourceUnavailableError
from etftrader.prices import load_prices
from etftrader.prices.store import CachedPrices, PriceStore

from .conftest import synthetic_closes

FIRST = date(2024, 5, 31)
SECOND = date(2024, 6, 28)


def _run(config, home, fake, as_of, tickers=("SPY", "QQQ", "IWM"), **kwargs):
    return load_prices(config, home, tickers=list(tickers), as_of=as_of, fetcher=fake,
                       sleep=lambda s: None, **kwargs)


def _store(home) -> PriceStore:
    return PriceStore(home.price_cache_dir / "yfinance")


def test_second_run_asks_only_for_what_is_missing(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2023-06-01")]  # full history
    fake_yahoo.calls.clear()

    data = _run(yf_config, home, fake_yahoo, SECOND, tickers=("SPY", "QQQ", "IWM", "TLT"))
    # cached tickers from the last cached date minus overlap_days; the new one gets full history
    assert sorted(fake_yahoo.asked()) == sorted([(["IWM", "QQQ", "SPY"], "2024-05-26"),
                                                 (["TLT"], "2023-06-29")])
    assert data.close.index[-1] == pd.Timestamp(SECOND)
    # history from the first run is still there, and nothing is duplicated
    assert data.close.index[0] == pd.Timestamp("2023-06-01")
    assert data.close.index.is_unique
    expected = fake_yahoo.closes.loc["2023-06-01":"2024-06-28", ["IWM", "QQQ", "SPY", "TLT"]].copy()
    expected.loc[:"2023-06-28", "TLT"] = np.nan  # TLT's history starts at SECOND - history_days
    np.testing.assert_allclose(data.close.to_numpy(), expected.to_numpy())


def test_no_download_when_the_cache_already_covers_as_of(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, SECOND)
    fake_yahoo.calls.clear()
    fake_yahoo.offline = True  # would fail if asked
    data = _run(yf_config, home, fake_yahoo, FIRST)
    assert fake_yahoo.calls == []
    assert data.close.index[-1] == pd.Timestamp(FIRST)


def test_revised_overlap_values_replace_cached_ones(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)
    before = _store(home).read().close
    fake_yahoo.revise = ("2024-05-28", 1.01)  # Yahoo re-adjusts the last days
    data = _run(yf_config, home, fake_yahoo, SECOND)
    revised_day = pd.Timestamp("2024-05-29")
    assert data.close.loc[revised_day, "SPY"] == pytest.approx(before.loc[revised_day, "SPY"] * 1.01)
    # outside the overlap nothing changes
    old_day = pd.Timestamp("2024-05-01")
    assert data.close.loc[old_day, "SPY"] == before.loc[old_day, "SPY"]


def test_refresh_downloads_the_whole_history_again(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)
    fake_yahoo.calls.clear()
    _run(yf_config, home, fake_yahoo, SECOND, refresh=True)
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2023-06-29")]


def test_sample_and_file_sources_do_not_touch_the_store(home):
    from etftrader.config import DataConfig

    load_prices(DataConfig(source="sample"), home)
    assert not home.price_cache_dir.exists()


@pytest.mark.parametrize("damage", ["garbage_parquet", "truncated_parquet", "no_manifest", "bad_json"])
def test_a_corrupt_cache_is_rebuilt_with_a_warning(yf_config, home, fake_yahoo, damage, caplog):
    _run(yf_config, home, fake_yahoo, FIRST)
    store = _store(home)
    if damage == "garbage_parquet":
        store.close_path.write_bytes(b"this is not parquet")
    elif damage == "truncated_parquet":
        blob = store.close_path.read_bytes()
        store.close_path.write_bytes(blob[: len(blob) // 2])
    elif damage == "no_manifest":
        store.manifest_path.unlink()
    else:
        store.manifest_path.write_text("{not json", encoding="utf-8")
    fake_yahoo.calls.clear()
    with caplog.at_level(logging.WARNING, logger="etftrader"):
        data = _run(yf_config, home, fake_yahoo, SECOND)
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2023-06-29")]  # full history again
    assert any("rebuilt" in n for n in data.notes)
    assert _store(home).read() is not None  # the rebuilt cache is trusted again


def test_tampered_rows_are_not_mixed_into_good_ones(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)
    store = _store(home)
    close = pd.read_parquet(store.close_path)
    close.iloc[:, 0] = -1.0  # valid parquet, but not what the manifest vouches for
    close.to_parquet(store.close_path)
    assert store.read() is None
    data = _run(yf_config, home, fake_yahoo, SECOND)
    assert (data.close > 0).all().all()


def test_offline_with_a_rebuild_needed_is_a_clear_error(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)
    _store(home).close_path.write_bytes(b"junk")
    fake_yahoo.offline = True
    from etftrader.errors import SourceUnavailableError

    with pytest.raises(SourceUnavailableError, match="could not reach Yahoo Finance"):
        _run(yf_config, home, fake_yahoo, SECOND)


def test_writes_are_atomic_and_leave_no_temp_files(home):
    store = _store(home)
    close = synthetic_closes(["SPY", "QQQ"], start="2024-01-01", end="2024-02-01")
    close.index.name = "date"
    volume = close * 0 + 1e6
    store.write(CachedPrices(close=close, volume=volume))
    store.write(CachedPrices(close=close * 2, volume=volume))
    names = sorted(p.name for p in store.folder.iterdir())
    assert names == ["close.parquet", "manifest.json", "volume.parquet"]
    manifest = json.loads(store.manifest_path.read_text(encoding="utf-8"))
    assert manifest["files"]["close"]["shape"] == list(close.shape)
    back = store.read()
    np.testing.assert_allclose(back.close[["SPY", "QQQ"]].to_numpy(), (close * 2).to_numpy())
    assert list(back.close.columns) == ["QQQ", "SPY"]


def test_unwritable_cache_folder_is_a_data_error(yf_config, home, fake_yahoo):
    home.price_cache_dir.mkdir(parents=True)
    (home.price_cache_dir / "yfinance").write_text("a file where the cache folder should be")
    with pytest.raises(DataError, match="cannot write the price cache"):
        _run(yf_config, home, fake_yahoo, FIRST)


def test_a_ticker_missed_last_time_is_caught_up_not_left_with_a_hole(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, date(2024, 5, 15), tickers=("SPY", "QQQ"))
    _run(yf_config, home, fake_yahoo, FIRST, tickers=("SPY",))  # QQQ not refreshed this time
    fake_yahoo.calls.clear()
    data = _run(yf_config, home, fake_yahoo, SECOND, tickers=("SPY", "QQQ"))
    assert sorted(fake_yahoo.asked()) == [(["QQQ"], "2024-05-10"), (["SPY"], "2024-05-26")]
    window = data.close.loc["2024-05-01":]
    assert window.notna().all().all()  # no hole in QQQ between 2024-05-15 and 2024-05-31


def test_a_delisted_ticker_alone_is_reported_not_taken_for_an_outage(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, SECOND)
    fake_yahoo.calls.clear()
    data = _run(yf_config, home, fake_yahoo, FIRST, tickers=("SPY", "QQQ", "GONE"))
    # only the unknown one is asked for (an all-empty answer is retried: it could be a hiccup)
    assert fake_yahoo.asked() == [(["GONE"], "2023-06-01")] * (yf_config.download_retries + 1)
    assert list(data.failed) == ["GONE"]
    assert list(data.close.columns) == ["QQQ", "SPY"]


def test_a_longer_history_than_cached_is_fetched_once(home, fake_yahoo):
    from dataclasses import replace

    from etftrader.config import DataConfig

    short = DataConfig(source="yfinance", history_days=100, overlap_days=5, download_retries=0)
    _run(short, home, fake_yahoo, SECOND)
    fake_yahoo.calls.clear()
    longer = replace(short, history_days=400)
    data = _run(longer, home, fake_yahoo, SECOND)
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2023-05-25")]
    assert data.close.index[0] == pd.Timestamp("2023-05-25")
    fake_yahoo.calls.clear()
    _run(longer, home, fake_yahoo, date(2024, 7, 5))  # the next week: incremental again
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2024-06-23")]


def test_cached_tickers_are_asked_first_and_an_outage_stops_there(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)
    fake_yahoo.calls.clear()
    fake_yahoo.offline = True
    with pytest.raises(SourceUnavailableError, match="could not reach Yahoo Finance: 0 of 4 tickers"):
        _run(yf_config, home, fake_yahoo, SECOND, tickers=("TLT", "SPY", "QQQ", "IWM"))
    # the new ticker (listed first) is never asked: the cached ones show the outage
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2024-05-26")] * (yf_config.download_retries + 1)
