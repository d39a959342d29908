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
from etftrader.prices.store import Asked, CachedPrices, PriceStore, merge_prices

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


# --------------------------------------------------------------------------- request log


def _file_states(store: PriceStore) -> dict:
    """(bytes, mtime_ns) of each cache file: equal before and after means it was not rewritten."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in (store.close_path, store.volume_path, store.manifest_path)}


def _with_dead_ticker(fake_yahoo, name="DEAD", last="2024-03-01"):
    fake_yahoo.closes[name] = fake_yahoo.closes["SPY"] * 0.5
    fake_yahoo.closes.loc[pd.Timestamp(last) + pd.Timedelta(days=1):, name] = np.nan


def test_a_delisted_ticker_is_asked_from_its_own_last_ask_and_drags_nobody_back(yf_config, home, fake_yahoo):
    _with_dead_ticker(fake_yahoo)  # last price 2024-03-01
    tickers = ("SPY", "QQQ", "DEAD", "NEVER")  # NEVER: Yahoo never had it
    _run(yf_config, home, fake_yahoo, date(2024, 5, 15), tickers=tickers)
    fake_yahoo.calls.clear()
    _run(yf_config, home, fake_yahoo, FIRST, tickers=tickers)
    # one group from the last ask minus overlap_days: not from DEAD's 2024-03-01, and NEVER is
    # not asked for the full history again
    assert fake_yahoo.asked() == [(["DEAD", "NEVER", "QQQ", "SPY"], "2024-05-10")]
    fake_yahoo.calls.clear()
    data = _run(yf_config, home, fake_yahoo, SECOND, tickers=tickers)
    assert fake_yahoo.asked() == [(["DEAD", "NEVER", "QQQ", "SPY"], "2024-05-26")]
    # what the log says: asked up to SECOND; DEAD last delivered in the first (full) request
    asked = _store(home).read().asked
    assert asked["SPY"] == Asked(through=SECOND, delivered=SECOND)
    assert asked["DEAD"] == Asked(through=SECOND, delivered=date(2024, 5, 15))
    assert asked["NEVER"] == Asked(through=SECOND, delivered=None)
    # the cached DEAD history is kept, and NEVER is reported
    assert data.close["DEAD"].last_valid_index() == pd.Timestamp("2024-03-01")
    assert list(data.failed) == ["NEVER"]


def test_a_relisted_ticker_is_noticed(yf_config, home, fake_yahoo):
    _with_dead_ticker(fake_yahoo, last="2024-03-01")
    _run(yf_config, home, fake_yahoo, FIRST, tickers=("SPY", "DEAD"))
    fake_yahoo.closes.loc["2024-06-03":, "DEAD"] = 99.0  # trading again
    fake_yahoo.calls.clear()
    data = _run(yf_config, home, fake_yahoo, SECOND, tickers=("SPY", "DEAD"))
    assert fake_yahoo.asked() == [(["DEAD", "SPY"], "2024-05-26")]
    assert data.close.loc["2024-06-03":, "DEAD"].eq(99.0).all()
    assert _store(home).read().asked["DEAD"].delivered_last_time


def test_a_same_day_rerun_asks_nothing_and_writes_nothing(yf_config, home, fake_yahoo):
    _with_dead_ticker(fake_yahoo)
    tickers = ("SPY", "QQQ", "DEAD", "NEVER")
    first = _run(yf_config, home, fake_yahoo, SECOND, tickers=tickers)
    before = _file_states(_store(home))
    fake_yahoo.calls.clear()
    fake_yahoo.offline = True  # would fail if asked
    again = _run(yf_config, home, fake_yahoo, SECOND, tickers=tickers)
    assert fake_yahoo.calls == []
    assert _file_states(_store(home)) == before
    pd.testing.assert_frame_equal(again.close, first.close)
    assert again.failed == first.failed


def test_refresh_on_the_same_day_asks_everything_again(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, SECOND)
    fake_yahoo.calls.clear()
    _run(yf_config, home, fake_yahoo, SECOND, refresh=True)
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2023-06-29")]


def test_nothing_new_leaves_the_parquet_files_untouched(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)  # a Friday
    store = _store(home)
    before = _file_states(store)
    fake_yahoo.calls.clear()
    data = _run(yf_config, home, fake_yahoo, date(2024, 6, 1))  # Saturday: no new session
    assert fake_yahoo.asked() == [(["IWM", "QQQ", "SPY"], "2024-05-26")]
    after = _file_states(store)
    assert after["close.parquet"] == before["close.parquet"]
    assert after["volume.parquet"] == before["volume.parquet"]
    # only the request log moved on, and the files it vouches for still check out
    assert store.read().asked["SPY"] == Asked(through=date(2024, 6, 1), delivered=date(2024, 6, 1))
    assert data.close.index[-1] == pd.Timestamp(FIRST)
    fake_yahoo.calls.clear()
    _run(yf_config, home, fake_yahoo, date(2024, 6, 1))
    assert fake_yahoo.calls == []
    assert _file_states(store) == after


def test_a_failed_chunk_is_asked_again_from_its_older_start(yf_config, home, fake_yahoo, monkeypatch):
    from etftrader.prices import yahoo as sources  # the yfinance boundary

    monkeypatch.setattr(sources, "CHUNK_SIZE", 2)
    tickers = ("SPY", "QQQ", "IWM")
    _run(yf_config, home, fake_yahoo, date(2024, 5, 15), tickers=tickers)
    fake_yahoo.calls.clear()
    fake_yahoo.fail_calls = (2, 3)  # the second chunk ([IWM]) stays empty this time
    data = _run(yf_config, home, fake_yahoo, FIRST, tickers=tickers)
    assert [c["tickers"] for c in fake_yahoo.calls] == [["SPY", "QQQ"], ["IWM"], ["IWM"]]
    assert data.close["IWM"].last_valid_index() == pd.Timestamp("2024-05-15")  # the cached part
    fake_yahoo.calls.clear()
    fake_yahoo.fail_calls = ()
    data = _run(yf_config, home, fake_yahoo, SECOND, tickers=tickers)
    assert fake_yahoo.asked() == [(["QQQ", "SPY"], "2024-05-26"), (["IWM"], "2024-05-10")]
    assert data.close.loc["2024-05-01":].notna().all().all()  # IWM has no hole


def test_a_cache_without_request_log_falls_back_to_last_prices(yf_config, home, fake_yahoo):
    _with_dead_ticker(fake_yahoo)
    _run(yf_config, home, fake_yahoo, FIRST, tickers=("SPY", "QQQ", "DEAD"))
    store = _store(home)
    manifest = json.loads(store.manifest_path.read_text(encoding="utf-8"))
    del manifest["requests"]  # as written before the log existed
    store.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    fake_yahoo.calls.clear()
    _run(yf_config, home, fake_yahoo, date(2024, 6, 14), tickers=("SPY", "QQQ", "DEAD"))
    # DEAD from its own last price, in its own request after the current ones
    assert fake_yahoo.asked() == [(["QQQ", "SPY"], "2024-05-26"), (["DEAD"], "2024-02-25")]
    fake_yahoo.calls.clear()
    _run(yf_config, home, fake_yahoo, SECOND, tickers=("SPY", "QQQ", "DEAD"))
    assert fake_yahoo.asked() == [(["DEAD", "QQQ", "SPY"], "2024-06-09")]  # the log took over


def test_a_read_is_reused_while_the_files_are_unchanged(yf_config, home, fake_yahoo):
    _run(yf_config, home, fake_yahoo, FIRST)
    store = _store(home)
    first = store.read()
    assert PriceStore(store.folder).read() is first  # a second load_prices in the run: no parsing
    close = pd.read_parquet(store.close_path)
    close.to_parquet(store.close_path)  # same bytes in a new file: read and checked again
    again = store.read()
    assert again is not first
    pd.testing.assert_frame_equal(again.close, first.close)
    close.iloc[0, 0] = 1.0
    close.to_parquet(store.close_path)  # changed behind the store's back: not trusted
    assert store.read() is None


# --------------------------------------------------------------------------- merge


def test_merge_fresh_values_win_and_nan_never_erases():
    old = synthetic_closes(["AAA", "BBB"], start="2024-01-01", end="2024-01-10")
    new = old.loc["2024-01-08":].copy() * 1.01
    new.loc["2024-01-09", "AAA"] = np.nan  # Yahoo sent nothing that day: keep the cached price
    new.loc[pd.Timestamp("2024-01-11"), ["AAA", "BBB"]] = [1.0, 2.0]  # a new day
    new["CCC"] = 5.0  # a new ticker
    merged = merge_prices(old, new)
    assert merged.loc["2024-01-08", "AAA"] == new.loc["2024-01-08", "AAA"]  # revised
    assert merged.loc["2024-01-09", "AAA"] == old.loc["2024-01-09", "AAA"]
    assert merged.loc["2024-01-02", "BBB"] == old.loc["2024-01-02", "BBB"]  # outside the overlap
    assert merged.loc["2024-01-11"].tolist() == [1.0, 2.0, 5.0]
    assert merged.loc[:"2024-01-05", "CCC"].isna().all()  # no history before it appeared


def test_merge_matches_pandas_combine_first_on_random_gaps():
    rng = np.random.default_rng(11)
    tickers = [f"T{i:02d}" for i in range(30)]
    old = synthetic_closes(tickers, start="2023-01-01", end="2024-01-31", seed=3)
    old = old.mask(rng.random(old.shape) < 0.1)
    new = synthetic_closes(tickers[5:] + ["NEW1", "NEW2"], start="2024-01-20", end="2024-02-15", seed=4)
    new = new.mask(rng.random(new.shape) < 0.2)
    merged = merge_prices(old, new)
    expected = new.combine_first(old).sort_index().sort_index(axis=1)  # the rule, column by column
    np.testing.assert_array_equal(merged.to_numpy(), expected.to_numpy())
    assert list(merged.columns) == list(expected.columns)
    assert merged.index.equals(expected.index) and merged.index.name == "date"


def test_merge_returns_the_cached_frame_itself_when_nothing_changed():
    old = synthetic_closes(["AAA", "BBB"], start="2024-01-01", end="2024-01-10")
    same = old.loc["2024-01-05":].copy()
    same.iloc[0, 0] = np.nan  # a gap in the answer is no change either
    assert merge_prices(old, same) is old
    assert merge_prices(old, old.iloc[:0]) is old
    changed = same.copy()
    changed.iloc[-1, 1] *= 1.001
    assert merge_prices(old, changed) is not old
