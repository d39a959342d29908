"""The sample source (skfolio's bundled real data) and the file source (CSV / parquet, wide / long)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from etftrader.config import DataConfig
from etftrader.errors import DataError
from etftrader.prices import SAMPLE_BENCHMARK_LABEL, load_market_series, load_prices, read_price_file

from .conftest import FakeYahoo, synthetic_closes

SAMPLE = DataConfig(source="sample")


# --------------------------------------------------------------------------- sample


def test_sample_is_skfolio_data_unchanged(home, sample_close):
    data = load_prices(SAMPLE, home)
    pd.testing.assert_frame_equal(data.close, sample_close, check_freq=False)
    assert data.volume is None
    assert data.source == "sample"
    assert data.failed == {}


def test_sample_benchmark_is_the_sp500_index_labelled_as_a_stand_in(home):
    from skfolio.datasets import load_sp500_index

    data = load_prices(SAMPLE, home, as_of=date(2022, 6, 30))
    assert data.benchmark.name == SAMPLE_BENCHMARK_LABEL == "S&P 500 price index (no div.)"
    assert any("no dividends (about 1.8% a year" in n for n in data.notes)
    reference = load_sp500_index().iloc[:, 0]
    reference = reference[reference.index <= "2022-06-30"]
    np.testing.assert_allclose(data.benchmark.to_numpy(), reference.to_numpy())


def test_sample_notes_say_it_is_a_demo_universe(home):
    data = load_prices(SAMPLE, home)
    assert any("demo universe" in n for n in data.notes)
    assert all(n.isascii() for n in data.notes)


def test_sample_as_of_truncates_and_tickers_subset(home):
    data = load_prices(SAMPLE, home, tickers=["mtum", "QUAL", "NOTTHERE"], as_of=date(2020, 3, 15))
    assert list(data.close.columns) == ["MTUM", "QUAL"]
    assert data.close.index[-1] == pd.Timestamp("2020-03-13")
    assert data.close.index[0] == pd.Timestamp("2014-01-02")  # no all-NaN rows before the ETFs
    assert data.failed == {"NOTTHERE": "not in the sample"}


def test_sample_before_any_data_is_a_clear_error(home):
    with pytest.raises(DataError, match="no prices on or before 1980-01-01"):
        load_prices(SAMPLE, home, as_of=date(1980, 1, 1))


# --------------------------------------------------------------------------- file


@pytest.fixture()
def closes():
    return synthetic_closes(["SPY", "QQQ", "GLD"], start="2024-01-01", end="2024-03-29")


def _file_config(path, **kw) -> DataConfig:
    return DataConfig(source="file", prices_file=str(path), **kw)


def test_wide_csv_round_trip(home, tmp_path, closes):
    path = tmp_path / "prices.csv"
    closes.rename_axis("Date").to_csv(path)
    data = load_prices(_file_config(path), home)
    # SPY is the configured benchmark: it comes back as the benchmark, not as a tradable column.
    np.testing.assert_allclose(data.close[["QQQ", "GLD"]].to_numpy(), closes[["QQQ", "GLD"]].to_numpy())
    np.testing.assert_allclose(data.benchmark.to_numpy(), closes["SPY"].to_numpy())
    assert list(data.close.columns) == ["GLD", "QQQ"]
    assert data.close.index.name == "date"
    assert data.benchmark.name == "SPY"
    assert data.volume is None


def test_wide_csv_written_by_pandas_without_an_index_name(tmp_path, closes):
    path = tmp_path / "prices.csv"
    closes.to_csv(path)  # first header cell is empty
    close, _ = read_price_file(path)
    assert close.shape == closes.shape


def test_long_csv_with_volume_and_case_insensitive_headers(home, tmp_path, closes):
    long = closes.stack().rename("Adj Close").reset_index()
    long.columns = ["DATE", "Symbol", "Adj Close"]
    long["Volume"] = 2_000_000
    long["Close"] = long["Adj Close"] * 1.5  # the raw close must lose to the adjusted one
    path = tmp_path / "long.csv"
    long.sample(frac=1.0, random_state=3).to_csv(path, index=False)  # any row order
    data = load_prices(_file_config(path), home)
    np.testing.assert_allclose(data.close[["QQQ", "GLD"]].to_numpy(), closes[["QQQ", "GLD"]].to_numpy())
    np.testing.assert_allclose(data.benchmark.to_numpy(), closes["SPY"].to_numpy())
    assert (data.volume == 2_000_000).all().all() and "SPY" not in data.volume


def test_long_csv_price_column_alias(tmp_path, closes):
    long = closes.stack().rename("price").reset_index()
    long.columns = ["date", "ticker", "price"]
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    close, volume = read_price_file(path)
    assert close.shape == closes.shape and volume is None


def test_parquet_wide_with_datetime_index_and_long(tmp_path, closes):
    wide = tmp_path / "wide.parquet"
    closes.to_parquet(wide)
    close, _ = read_price_file(wide)
    np.testing.assert_allclose(close[["SPY", "QQQ", "GLD"]].to_numpy(), closes.to_numpy())
    long = tmp_path / "long.parquet"
    closes.stack().rename("close").rename_axis(["date", "ticker"]).reset_index().to_parquet(long)
    close2, _ = read_price_file(long)
    pd.testing.assert_frame_equal(close, close2)


def test_file_without_benchmark_column_says_so(home, tmp_path, closes):
    path = tmp_path / "prices.csv"
    closes.drop(columns="SPY").rename_axis("date").to_csv(path)
    data = load_prices(_file_config(path), home)
    assert data.benchmark is None
    assert any("no SPY column" in n for n in data.notes)


def test_infinite_value_in_a_file_is_kept_for_the_quality_step(tmp_path, closes):
    frame = closes.copy()
    frame.iloc[5, 0] = np.inf
    path = tmp_path / "prices.csv"
    frame.rename_axis("date").to_csv(path)
    close, _ = read_price_file(path)
    assert np.isinf(close["SPY"]).sum() == 1


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name, text, message", [
    ("p.csv", "when,SPY\n2024-01-02,1\n", r"p\.csv has no date column; expected a column named `date` \(got: when, SPY\)"),
    ("p.csv", "date,SPY\n2024-01-02,1\n2024-13-45,2\n", r"cannot read 1 date\(s\), e\.g\. line 3 has '2024-13-45'; use YYYY-MM-DD dates"),
    ("p.csv", "date,SPY,QQQ\n2024-01-02,1,2\n2024-01-03,1,abc\n", r"not numbers, e\.g\. QQQ on 2024-01-03 is 'abc'"),
    ("p.csv", "date,SPY\n2024-01-02,1\n2024-01-02,2\n", r"duplicate dates \(1\), e\.g\. 2024-01-02"),
    ("p.csv", "date,SPY\n2024-01-02 09:30,1\n2024-01-02 16:00,2\n", r"duplicate dates \(1\), e\.g\. 2024-01-02"),
    ("p.csv", "date,ticker,close\n2024-01-02,SPY,1\n2024-01-02,spy,2\n", r"duplicate dates: SPY appears more than once on 2024-01-02"),
    ("p.csv", "date,ticker,close\n2024-01-02,SPY,1\n2024-01-03,SPY,x1\n", r"not numbers, e\.g\. SPY on 2024-01-03 is 'x1'"),
    ("p.csv", "date,ticker,volume\n2024-01-02,SPY,1\n", r"looks long .* no price column"),
    ("p.csv", "date,ticker,close\n2024-01-02,SPY,1\n2024-01-03,,2\n", r"line 3 has no ticker"),
    ("p.csv", "", r"p\.csv is empty"),
    ("p.csv", "date,SPY\n", r"p\.csv has no data rows"),
    ("p.xlsx", "whatever", r"unknown extension '\.xlsx'; expected \.csv or \.parquet"),
    ("p.parquet", "not parquet at all", r"p\.parquet cannot be read"),
])
def test_bad_files_give_one_clear_error_naming_the_file(tmp_path, name, text, message):
    path = _write(tmp_path, name, text)
    with pytest.raises(DataError, match=message) as err:
        read_price_file(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_missing_setting(home, tmp_path):
    with pytest.raises(DataError, match="does not exist; check --prices"):
        load_prices(_file_config(tmp_path / "nope.csv"), home)
    with pytest.raises(DataError, match="--source file needs a price file"):
        load_prices(DataConfig(source="file"), home)


# --------------------------------------------------------------------------- market series


def test_market_series_sample_has_only_the_stand_in_benchmark(home):
    market = load_market_series(SAMPLE, home, as_of=date(2021, 12, 31))
    assert list(market.columns) == [SAMPLE_BENCHMARK_LABEL]
    assert market.index.name == "date"
    assert market.index[-1] == pd.Timestamp("2021-12-31")


def test_market_series_yfinance_with_vix(yf_config, home, fake_yahoo):
    market = load_market_series(yf_config, home, as_of=date(2024, 6, 28), fetcher=fake_yahoo,
                                sleep=lambda s: None)
    assert list(market.columns) == ["SPY", "VIX"]
    assert sorted(fake_yahoo.calls[0]["tickers"]) == ["SPY", "^VIX"]


def test_market_series_missing_vix_never_fails(yf_config, home):
    fake = FakeYahoo(closes=synthetic_closes(["SPY"], start="2023-06-01"))
    market = load_market_series(yf_config, home, as_of=date(2024, 6, 28), fetcher=fake, sleep=lambda s: None)
    assert list(market.columns) == ["SPY"]
    assert any("VIX not available" in n for n in market.attrs["notes"])


def test_market_series_offline_is_empty_not_an_error(yf_config, home, fake_yahoo):
    fake_yahoo.offline = True
    market = load_market_series(yf_config, home, as_of=date(2024, 6, 28), fetcher=fake_yahoo,
                                sleep=lambda s: None)
    assert market.empty
    assert any("could not reach Yahoo Finance" in n for n in market.attrs["notes"])


def test_market_series_file_without_benchmark_is_empty(home, tmp_path, closes):
    path = tmp_path / "prices.csv"
    closes.drop(columns="SPY").rename_axis("date").to_csv(path)
    market = load_market_series(_file_config(path), home)
    assert market.empty and market.index.name == "date"


def test_relative_price_file_is_found_under_the_home_folder(home, closes, tmp_path, monkeypatch):
    closes.rename_axis("date").to_csv(home.root / "vendor.csv")
    monkeypatch.chdir(tmp_path)  # a scheduled run starts somewhere else
    data = load_prices(_file_config("vendor.csv"), home)
    assert data.close.shape == (len(closes), closes.shape[1] - 1)  # SPY is the benchmark


def test_the_sample_is_skfolios_data_as_its_public_loaders_give_it():
    """The sample is read without importing skfolio (fast start); its prices must be exactly what
    skfolio's own loaders return: every close of the 25 series and the index, on every date."""
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset, load_sp500_index

    from etftrader.prices.sample import load_sample

    data = load_sample()
    theirs = pd.concat([load_factors_dataset(), load_sp500_dataset()], axis=1, sort=True)
    assert sorted(data.close.columns) == sorted(theirs.columns)
    for ticker in theirs.columns:
        want = theirs[ticker].dropna()
        got = data.close[ticker].dropna()
        assert got.index.equals(pd.DatetimeIndex(want.index)) and np.array_equal(got.to_numpy(), want.to_numpy()), ticker
    index = load_sp500_index().iloc[:, 0].dropna()
    assert np.array_equal(data.benchmark.dropna().to_numpy(), index.to_numpy())
    assert data.benchmark.dropna().index.equals(pd.DatetimeIndex(index.index))
