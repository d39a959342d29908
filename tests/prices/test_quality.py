"""Data-quality rules: each one fires on a broken ticker and keeps a healthy one."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest

from etftrader.config import DataConfig
from etftrader.prices import PriceData, check_quality
from etftrader.prices.quality import HEALTH_COLUMNS, fill_short_gaps

from .conftest import synthetic_closes

MIN_HISTORY = 100
CONFIG = DataConfig(source="file", max_ffill_days=5, max_missing_fraction=0.10, stale_days=10,
                    max_daily_move=0.45, min_dollar_volume=100_000.0)


@pytest.fixture()
def frame() -> pd.DataFrame:
    """300 business days of two healthy tickers and a spare column to break."""
    closes = synthetic_closes(["GOOD", "OTHER", "BAD"], start="2023-01-02", end="2024-02-23", seed=11)
    closes.index.name = "date"
    return closes


def _check(close, volume=None, failed=None, as_of=None, config=CONFIG):
    data = PriceData(close=close, volume=volume, source="file", failed=failed or {})
    return check_quality(data, config, min_history=MIN_HISTORY, as_of=as_of)


def _row(report, ticker):
    return report.health.set_index("ticker").loc[ticker]


def _assert_fires(report, rule, ticker="BAD"):
    row = _row(report, ticker)
    assert row["status"] == "dropped", row["reason"]
    assert row["rule"] == rule
    assert ticker not in report.kept and ticker not in report.prices.columns
    assert "GOOD" in report.kept  # the healthy ticker next to it is kept


def _assert_kept(report, ticker="BAD"):
    row = _row(report, ticker)
    assert row["status"] == "kept", row["reason"]
    assert ticker in report.prices.columns


def test_healthy_frame_keeps_everything(frame):
    report = _check(frame)
    assert report.kept == ["BAD", "GOOD", "OTHER"]
    assert report.dropped.empty
    assert report.counts_by_rule().empty
    pd.testing.assert_frame_equal(report.prices, frame[["BAD", "GOOD", "OTHER"]])


def test_not_delivered_tickers_are_reported(frame):
    report = _check(frame, failed={"GONE": "no data from Yahoo Finance (delisted)"})
    row = _row(report, "GONE")
    assert (row["status"], row["rule"]) == ("dropped", "not_delivered")
    assert "delisted" in row["reason"]


def test_no_data(frame):
    frame["BAD"] = np.nan
    _assert_fires(_check(frame), "no_data")


def test_no_recent_data_fires_after_the_limit_and_not_before(frame):
    broken = frame.copy()
    broken.iloc[-8:, broken.columns.get_loc("BAD")] = np.nan
    report = _check(broken)
    _assert_fires(report, "no_recent_data")
    assert "business days before the as-of date" in _row(report, "BAD")["reason"]
    ok = frame.copy()
    ok.iloc[-3:, ok.columns.get_loc("BAD")] = np.nan  # a holiday weekend's worth
    report = _check(ok)
    _assert_kept(report)
    assert report.prices["BAD"].iloc[-1] == frame["BAD"].iloc[-4]  # last price carried to as_of


def test_no_recent_data_uses_as_of_beyond_the_data(frame):
    late = frame.index[-1] + pd.Timedelta(days=30)
    report = _check(frame, as_of=late.date())
    assert set(report.dropped["rule"]) == {"no_recent_data"}
    report = _check(frame, as_of=(frame.index[-1] + pd.Timedelta(days=3)).date())  # a weekend later
    assert report.dropped.empty


def test_short_history_boundary(frame):
    short = frame.copy()
    short.iloc[: len(frame) - MIN_HISTORY + 1, short.columns.get_loc("BAD")] = np.nan  # 99 days
    report = _check(short)
    _assert_fires(report, "short_history")
    assert "99 trading days of history, needs 100" in _row(report, "BAD")["reason"]
    exact = frame.copy()
    exact.iloc[: len(frame) - MIN_HISTORY, exact.columns.get_loc("BAD")] = np.nan  # exactly 100
    _assert_kept(_check(exact))


@pytest.mark.parametrize("bad_value", [np.inf, -np.inf, 0.0, -5.0])
def test_bad_price_in_the_window(frame, bad_value):
    frame.iloc[-20, frame.columns.get_loc("BAD")] = bad_value
    _assert_fires(_check(frame), "bad_price")


def test_bad_price_older_than_the_window_is_masked_and_counted_not_used(frame):
    frame.iloc[5, frame.columns.get_loc("BAD")] = np.inf
    report = _check(frame)
    _assert_kept(report)
    assert _row(report, "BAD")["bad_values"] == 1
    assert np.isfinite(report.prices.to_numpy()[~np.isnan(report.prices.to_numpy())]).all()


def test_missing_days_over_the_limit(frame):
    col = frame.columns.get_loc("BAD")
    many = frame.copy()
    many.iloc[-MIN_HISTORY::5, col] = np.nan  # 20% of the window, single-day gaps
    report = _check(many)
    _assert_fires(report, "missing_days")
    assert _row(report, "BAD")["missing_fraction"] == pytest.approx(0.20)
    few = frame.copy()
    few.iloc[-MIN_HISTORY::20, col] = np.nan  # 5%
    report = _check(few)
    _assert_kept(report)
    assert _row(report, "BAD")["filled_days"] == 5
    assert report.prices["BAD"].notna().all()


def test_stale_prices(frame):
    col = frame.columns.get_loc("BAD")
    stale = frame.copy()
    stale.iloc[-40:-29, col] = stale.iloc[-41, col]  # 11 equal closes after the 41st-last: 11 flat days
    report = _check(stale)
    _assert_fires(report, "stale")
    assert _row(report, "BAD")["longest_flat_run"] == 11
    fine = frame.copy()
    fine.iloc[-40:-31, col] = fine.iloc[-41, col]  # 9 flat days
    report = _check(fine)
    _assert_kept(report)
    assert _row(report, "BAD")["longest_flat_run"] == 9


def test_split_like_jump(frame):
    col = frame.columns.get_loc("BAD")
    split = frame.copy()
    split.iloc[-30:, col] = split.iloc[-30:, col] / 2.0  # a 2:1 split the feed did not adjust
    report = _check(split)
    _assert_fires(report, "jump")
    row = _row(report, "BAD")
    assert row["max_move_date"] == frame.index[-30]
    assert "looks like an unadjusted split" in row["reason"]
    move = frame.copy()
    move.iloc[-30:, col] = move.iloc[-30:, col] * 1.30  # a big but plausible move
    _assert_kept(_check(move))


def test_thin_liquidity_only_when_volume_is_known(frame):
    volume = pd.DataFrame(1_000_000.0, index=frame.index, columns=frame.columns)
    volume["BAD"] = 10.0  # ~ 10 shares * ~$50 a day
    volume["OTHER"] = np.nan  # unknown volume: the rule cannot judge it
    report = _check(frame, volume=volume)
    _assert_fires(report, "illiquid")
    _assert_kept(report, "OTHER")
    assert np.isnan(_row(report, "OTHER")["median_dollar_volume"])
    volume["BAD"] = 1_000_000.0
    _assert_kept(_check(frame, volume=volume))


def test_several_rules_are_listed_first_one_is_the_rule(frame):
    col = frame.columns.get_loc("BAD")
    frame.iloc[-30:, col] = frame.iloc[-30:, col] / 2.0
    frame.iloc[-20, col] = np.inf
    row = _row(_check(frame), "BAD")
    assert row["rule"] == "bad_price"
    assert "infinite" in row["reason"] and "split" in row["reason"]


def test_fill_short_gaps_fills_whole_short_gaps_only():
    frame = pd.DataFrame({"A": [1.0, np.nan, np.nan, 2.0, *[np.nan] * 7, 3.0, np.nan]})
    filled = fill_short_gaps(frame, 5)["A"].tolist()
    assert filled[:4] == [1.0, 1.0, 1.0, 2.0]
    assert all(np.isnan(v) for v in filled[4:11])  # a 7-day gap is not partly invented
    assert filled[11:] == [3.0, 3.0]
    # pandas' ffill(limit=5) would have filled 5 of the 7: the difference is the point
    assert frame.ffill(limit=5)["A"].iloc[4:9].notna().all()


def test_health_is_one_row_per_ticker_sorted_and_csv_friendly(frame, tmp_path):
    frame.iloc[-30:, frame.columns.get_loc("BAD")] /= 2.0
    report = _check(frame, failed={"AAA": "not delivered"})
    health = report.health
    assert list(health.columns) == list(HEALTH_COLUMNS)
    assert health["ticker"].tolist() == ["AAA", "BAD", "GOOD", "OTHER"]
    assert report.dropped.columns.tolist() == ["ticker", "rule", "reason"]
    path = report.to_csv(tmp_path / "results" / "health.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert back["ticker"].tolist() == ["AAA", "BAD", "GOOD", "OTHER"]
    assert back.loc[back["ticker"] == "GOOD", "last_date"].item() == frame.index[-1].date().isoformat()
    assert [p.name for p in path.parent.iterdir()] == ["health.csv"]  # no temp file left


def test_as_of_truncates_before_checking(frame):
    as_of = frame.index[-50].date()
    report = _check(frame, as_of=as_of)
    assert report.prices.index[-1] == pd.Timestamp(as_of)
    assert report.as_of == pd.Timestamp(as_of)


# --------------------------------------------------------------------------- real sample data


def test_sample_statistics_match_an_independent_pandas_computation(sample_close):
    """Cross-check the vectorised metrics against plain per-column pandas on the real sample."""
    data = PriceData(close=sample_close, source="sample")
    as_of = date(2021, 12, 31)
    report = check_quality(data, CONFIG, min_history=253, as_of=as_of)
    health = report.health.set_index("ticker")
    upto = sample_close.loc[:"2021-12-31"]
    upto = upto.loc[upto.notna().any(axis=1)]
    for ticker in ["AAPL", "MTUM", "XOM"]:
        s = upto[ticker]
        assert health.loc[ticker, "observations"] == s.notna().sum()
        assert health.loc[ticker, "first_date"] == s.first_valid_index()
        window = s.iloc[-253:].dropna()
        rets = window.pct_change().dropna()
        assert health.loc[ticker, "max_abs_return"] == pytest.approx(rets.abs().max())
        flat = (rets == 0).astype(int)
        longest = int(flat.groupby((flat == 0).cumsum()).sum().max())
        assert health.loc[ticker, "longest_flat_run"] == longest
    assert report.kept == sorted(sample_close.columns)


def test_sample_early_as_of_drops_the_young_etfs_for_short_history(sample_close):
    data = PriceData(close=sample_close, source="sample")
    report = check_quality(data, CONFIG, min_history=253, as_of=date(2014, 9, 30))
    dropped = report.dropped.set_index("ticker")["rule"]
    assert dropped.to_dict() == {t: "short_history" for t in ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]}


@pytest.mark.parametrize("blank_rows", [False, True])
def test_scores_of_the_clean_prices_do_not_depend_on_how_the_frame_was_built(sample_close, blank_rows):
    """The clean frame is built without a copy; the factor scores computed on it must be those of a
    plain copy of the same prices to the last bit (a reduction's summation order follows the
    layout of the values). Real closes, also with all-NaN rows dropped."""
    from etftrader.config import Config
    from etftrader.target import score_prices

    close = sample_close.loc["2018-01-01":"2021-12-31"].copy()
    if blank_rows:
        close.iloc[5:7] = np.nan
    report = check_quality(PriceData(close=close, source="sample"), DataConfig(source="sample"), min_history=253)
    expected = close.loc[~close.isna().all(axis=1), report.kept].copy()
    np.testing.assert_array_equal(report.prices.to_numpy(), expected.to_numpy())
    got, want = score_prices(report.prices, Config()), score_prices(expected, Config())
    assert got["composite"].notna().sum() == len(report.kept)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def _fill_reference(values: np.ndarray, limit: int) -> np.ndarray:
    """Gap filling written the plain way, cell by cell, to check the vectorised one."""
    out = values.copy()
    n, k = values.shape
    for j in range(k):
        i = 0
        while i < n:
            if not np.isnan(values[i, j]):
                i += 1
                continue
            end = i
            while end < n and np.isnan(values[end, j]):
                end += 1
            if i > 0 and end - i <= limit:
                out[i:end, j] = values[i - 1, j]
            i = end
    return out


def test_gap_filling_matches_a_cell_by_cell_reference():
    """Seeded random frames with gaps everywhere (leading, inside, trailing, whole columns)."""
    rng = np.random.default_rng(42)
    for _ in range(500):
        n, k = int(rng.integers(1, 30)), int(rng.integers(1, 5))
        values = rng.uniform(1, 2, size=(n, k))
        values[rng.random((n, k)) < rng.random()] = np.nan
        limit = int(rng.integers(0, 5))
        frame = pd.DataFrame(values)
        got = fill_short_gaps(frame, limit).to_numpy()
        want = _fill_reference(values, limit) if limit > 0 else values
        np.testing.assert_array_equal(got, want)


# --- QualityHistory: check_quality at every date of a history, reproduced exactly -------------


def _assert_same_report(got, want, day):
    assert got.kept == want.kept, day
    pd.testing.assert_frame_equal(got.health, want.health, check_exact=True, obj=f"health {day}")
    pd.testing.assert_frame_equal(got.dropped, want.dropped, check_exact=True, obj=f"dropped {day}")
    pd.testing.assert_frame_equal(got.prices, want.prices, check_exact=True, obj=f"prices {day}")
    # Scores summed over these prices must not depend on which path built them (layout).
    if len(got.kept) and len(got.prices) >= 300:
        from etftrader.config import Config
        from etftrader.target import score_prices

        pd.testing.assert_frame_equal(score_prices(got.prices, Config()), score_prices(want.prices, Config()),
                                      check_exact=True, obj=f"scores {day}")
    assert (got.as_of, got.ffill_limit, got.min_history, got.notes) == \
        (want.as_of, want.ffill_limit, want.min_history, want.notes), day


def _assert_history_matches(data, config, min_history, days):
    from etftrader.prices.quality import QualityHistory

    history = QualityHistory(data, config, min_history=min_history)
    assert history.last_dropped() is None  # no date asked yet
    for day in days:
        want = check_quality(data, config, min_history=min_history, as_of=day.date())
        _assert_same_report(history.at(day.date()), want, day.date())
        # the backtest's lighter report: no health table, the same prices and the same drops
        light = history.at(day.date(), health=False)
        assert light.kept == want.kept, day
        pd.testing.assert_frame_equal(light.dropped, want.dropped, check_exact=True, obj=f"light dropped {day}")
        pd.testing.assert_frame_equal(light.prices, want.prices, check_exact=True, obj=f"light prices {day}")
        assert (light.as_of, light.ffill_limit, light.min_history, light.notes) == \
            (want.as_of, want.ffill_limit, want.min_history, want.notes), day
        # ... and the backtest's loop: the drops built only when asked for, the same frame
        lazy = history.at(day.date(), health=False, dropped=False)
        assert lazy.dropped is None and lazy.kept == want.kept, day
        pd.testing.assert_frame_equal(history.last_dropped(), want.dropped, check_exact=True,
                                      obj=f"lazy dropped {day}")
        full = history.at(day.date(), dropped=False)  # with the health table too: None, and on demand
        assert full.dropped is None and full.health is not None, day
        pd.testing.assert_frame_equal(history.last_dropped(), want.dropped, check_exact=True,
                                      obj=f"on demand, with health {day}")


def _defective_frame():
    """Hand-made defects around short, long and still-open gaps, so the fill at a date depends on
    whether a gap is closed yet."""
    index = pd.bdate_range("2021-01-04", periods=120, name="date")
    rng = np.random.default_rng(5)
    base = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(index), 11)), axis=0))
    close = pd.DataFrame(base, index=index, columns=[f"T{i}" for i in range(11)])
    close.iloc[30:33, 0] = np.nan       # short gap (filled once closed and while open)
    close.iloc[60:70, 0] = np.nan       # long gap: filled while open for <= 3 days, never once long
    close.iloc[100:103, 1] = np.nan     # short gap
    close.iloc[104:110, 1] = np.nan     # gap longer than the limit
    close.iloc[:40, 2] = np.nan         # late starter (short history for a while)
    close.iloc[90:, 3] = np.nan         # stops trading: open gap, then no recent data
    close.iloc[50, 4] = 0.0             # bad prices: zero, negative, infinite
    close.iloc[51, 4] = -3.0
    close.iloc[80, 4] = np.inf
    close.iloc[20:35, 5] = close.iloc[20, 5]  # stale run
    close.iloc[70:, 6] = close.iloc[70:, 6] * 3.0  # unadjusted split
    close.iloc[[10, 11, 75], :] = np.nan  # holidays: rows with no price at all
    close.iloc[::7, 7] = np.nan         # scattered missing days
    close.iloc[45, 8] *= 100.0          # bad prints: one day x100, then two days /3 next to a gap
    close.iloc[84:86, 8] /= 3.0
    close.iloc[86, 8] = np.nan
    close.iloc[112, 8] *= 2.0           # ... and one on the next-to-last day, found out on the last
    close.iloc[60:, 9] *= 1.6           # a real move that holds
    close.iloc[95:, 9] *= 1.7           # ... and another, with a gap in its first sessions
    close.iloc[96, 9] = np.nan
    close.iloc[50:, 10] *= 0.5          # a -50% spike that comes back: not a split
    close.iloc[51:, 10] *= 2.0
    volume = pd.DataFrame(2e5, index=index, columns=close.columns)
    volume.iloc[:, 7] = np.nan
    volume.iloc[40:, 5] = 100.0         # becomes illiquid
    return PriceData(close=close, volume=volume, source="file", failed={"GONE": "delisted"})


def test_quality_history_matches_check_quality_every_day_on_hand_made_defects():
    data = _defective_frame()
    config = DataConfig(source="file", max_ffill_days=3, max_missing_fraction=0.10, stale_days=10,
                        max_daily_move=0.45, min_dollar_volume=100_000.0)
    # every calendar day, weekends and all-NaN rows included
    days = pd.date_range(data.close.index[0] - pd.Timedelta(days=3), data.close.index[-1] + pd.Timedelta(days=3))
    _assert_history_matches(data, config, 20, days)


def test_quality_history_drops_and_restores_the_rows_only_a_leaving_ticker_priced():
    """Rows priced by one ticker alone (it trades on days the others do not) belong to the prices
    while it is kept, leave them when the quality step sets it aside (stale) and come back with it."""
    days = pd.bdate_range("2021-01-04", periods=150)
    extra = pd.DatetimeIndex(["2021-02-06", "2021-03-13", "2021-04-17", "2021-06-12"])  # Saturdays
    index = days.union(extra).rename("date")
    rng = np.random.default_rng(9)
    close = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(index), 4)), axis=0)),
                         index=index, columns=["A", "B", "C", "X"])
    close.loc[extra, ["A", "B", "C"]] = np.nan  # only X trades on the Saturdays
    stale = (index >= "2021-04-01") & (index < "2021-04-26")
    close.loc[stale, "X"] = close.loc[index[stale][0], "X"]  # X stops moving: set aside, then back
    data = PriceData(close=close, volume=pd.DataFrame(2e5, index=index, columns=close.columns), source="file")
    config = DataConfig(source="file", max_ffill_days=0, max_missing_fraction=0.2, stale_days=10,
                        max_daily_move=0.45, min_dollar_volume=100_000.0)
    reports = {day: check_quality(data, config, min_history=40, as_of=day.date()) for day in index[40:]}
    assert any("X" not in r.kept for r in reports.values()) and "X" in reports[index[-1]].kept
    assert any(pd.Timestamp("2021-02-06") not in r.prices.index for r in reports.values() if "X" not in r.kept)
    _assert_history_matches(data, config, 40, index[40:])


def test_quality_history_matches_check_quality_when_a_row_without_prices_is_out_of_order():
    """A date out of order only on a row with no price at all (the rows with prices are in order):
    every day's report is still check_quality's, not an error."""
    data = _defective_frame()
    close = data.close.copy()
    close.iloc[40] = np.nan
    order = list(range(20)) + [40] + [i for i in range(20, len(close)) if i != 40]
    data = dataclasses.replace(data, close=close.iloc[order], volume=data.volume.iloc[order])
    config = DataConfig(source="file", max_ffill_days=3, max_missing_fraction=0.10, stale_days=10,
                        max_daily_move=0.45, min_dollar_volume=100_000.0)
    _assert_history_matches(data, config, 20, close.index[[10, 25, 60, 100, 119]])


def test_quality_history_matches_check_quality_on_generated_universe():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "generate_universe.py"
    spec = importlib.util.spec_from_file_location("bench_generate_universe", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    universe = module.generate(n_tickers=40, years=2, seed=11)
    assert universe.defects  # planted gaps, stale runs, jumps... must be there to be matched
    data = PriceData(close=universe.close, volume=universe.volume, source="file")
    config = DataConfig(source="file")
    index = universe.close.index
    # every fifth day, and every day of a stretch of weeks
    _assert_history_matches(data, config, 126, index[100::5].union(index[300:330]))


def test_quality_history_matches_check_quality_on_sample(sample_close):
    data = PriceData(close=sample_close, source="sample")
    config = DataConfig(source="sample")
    # every 25th day of the sample, plus its last fortnight (trailing dates matter most)
    days = sample_close.index[200::25].union(sample_close.index[-10:])
    _assert_history_matches(data, config, 253, days)


def test_liquidity_verdicts_at_the_limit_are_the_same_in_the_backtests_light_report(sample_close):
    """The backtest's report decides the liquidity rule without a median where the count of
    numbers below the limit settles it; at the limit itself it must still agree with
    check_quality: a median equal to the limit (kept), an even count whose two middle numbers
    straddle it (their mean decides, either way), an odd count one number either side of half."""
    from etftrader.prices.quality import QualityHistory

    limit = 1_000_000.0
    close = sample_close.iloc[-300:, :6].copy()
    window = close.iloc[-40:]
    dollars = {  # the last 40 days' dollar volume of each column
        0: [limit] * 40,                                  # median at the limit: kept
        1: [0.5 * limit] * 20 + [1.4 * limit] * 20,       # straddles: mean 0.95 limit, dropped
        2: [0.5 * limit] * 20 + [1.6 * limit] * 20,       # straddles: mean 1.05 limit, kept
        3: [0.5 * limit] * 20 + [2.0 * limit] * 19 + [np.nan],   # odd: 20 of 39 below, dropped
        4: [0.5 * limit] * 19 + [2.0 * limit] * 20 + [np.nan],   # odd: 19 of 39 below, kept
        5: [0.5 * limit] * 21 + [2.0 * limit] * 19,       # more than half below: dropped
    }
    volume = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    for j, d in dollars.items():
        volume.iloc[-40:, j] = np.asarray(d) / window.iloc[:, j].to_numpy()
    data = PriceData(close=close, volume=volume, source="file")
    config = DataConfig(source="file", min_dollar_volume=limit)
    history = QualityHistory(data, config, min_history=40)
    day = close.index[-1].date()
    want = check_quality(data, config, min_history=40, as_of=day)
    got = history.at(day, health=False)
    assert got.kept == want.kept
    pd.testing.assert_frame_equal(got.dropped, want.dropped, check_exact=True)
    illiquid = set(want.dropped.loc[want.dropped["rule"] == "illiquid", "ticker"])
    assert illiquid == {close.columns[j] for j in (1, 3, 5)}


def test_median_dollar_volume_is_numpys_nanmedian_of_the_window_bit_for_bit(sample_close):
    """The liquidity rule's figure on real closes with volumes that have gaps (20% NaN) and ties:
    numpy's nanmedian of close x volume over the lookback window, to the last bit."""
    rng = np.random.default_rng(17)
    close = sample_close.loc["2019-01-01":"2021-12-31"]
    volume = pd.DataFrame(np.round(np.exp(rng.normal(12, 3, close.shape)), -3), index=close.index,
                          columns=close.columns).mask(rng.random(close.shape) < 0.2)
    volume.iloc[:-60, 3] = np.nan  # few numbers: 60 in the window (even), then 59 (odd)
    volume.iloc[:-59, 4] = np.nan
    report = check_quality(PriceData(close=close, volume=volume, source="file"),
                           DataConfig(source="file", min_dollar_volume=0.0), min_history=253)
    got = report.health.set_index("ticker")["median_dollar_volume"].reindex(close.columns).to_numpy()
    want = np.nanmedian((close * volume).iloc[-253:].to_numpy(), axis=0)
    assert got.tobytes() == want.tobytes()
def test_bad_print_is_repaired_and_the_ticker_kept(frame):
    col = frame.columns.get_loc("BAD")
    spiked = frame.copy()
    spiked.iloc[-20, col] *= 100.0  # a close multiplied by 100, for one day
    on_the_day = _check(spiked, as_of=frame.index[-20].date())
    _assert_fires(on_the_day, "jump")
    assert "one-day move of +99" in _row(on_the_day, "BAD")["reason"]
    assert "not yet told apart" in _row(on_the_day, "BAD")["reason"]
    report = _check(spiked)
    _assert_kept(report)
    row = _row(report, "BAD")
    assert row["repaired_values"] == 1 and row["bad_values"] == 0
    assert row["max_abs_return"] < 0.1  # the print is gone from the returns
    assert report.prices["BAD"].iloc[-20] == frame["BAD"].iloc[-21]  # filled like a one-day gap
    pd.testing.assert_series_equal(report.prices["BAD"].drop(frame.index[-20]),
                                   frame["BAD"].drop(frame.index[-20]))


def test_real_move_is_dropped_only_until_it_holds(frame):
    col = frame.columns.get_loc("BAD")
    moved = frame.copy()
    moved.iloc[-10:, col] *= 1.6  # +60% in a day, and it stays
    for held, day in enumerate(frame.index[-10:-8], start=1):
        report = _check(moved, as_of=day.date())
        _assert_fires(report, "jump")
        assert f"has held {held} of 3 sessions" in _row(report, "BAD")["reason"]
    for day in (frame.index[-8], frame.index[-1]):
        report = _check(moved, as_of=day.date())
        _assert_kept(report)
    pd.testing.assert_series_equal(report.prices["BAD"], moved["BAD"])  # the move is in the prices
    assert _row(report, "BAD")["repaired_values"] == 0


def test_partial_pullback_after_a_real_move_is_not_a_bad_print(frame):
    # AMD on 2016-04-22: +52%, then -13.5% the next day, still far above the old level
    col = frame.columns.get_loc("BAD")
    moved = frame.copy()
    moved.iloc[-10, col] *= 1.52
    moved.iloc[-9:, col] *= 1.52 * 0.865
    report = _check(moved)
    _assert_kept(report)
    assert _row(report, "BAD")["repaired_values"] == 0
    pd.testing.assert_series_equal(report.prices["BAD"], moved["BAD"])


def test_reverse_split_and_unit_change_are_split_like(frame):
    col = frame.columns.get_loc("BAD")
    for factor, words in ((10.0, "1:10 reverse split"), (0.01, "100:1 split")):
        shifted = frame.copy()
        shifted.iloc[-60:, col] *= factor
        report = _check(shifted)
        _assert_fires(report, "jump")
        assert words in _row(report, "BAD")["reason"]
        assert "looks like an unadjusted split" in _row(report, "BAD")["reason"]


def test_split_like_dip_that_comes_back_is_not_a_split(frame):
    # with a threshold above 50% the guard lets a -50% day through; it comes back the next day
    # (+100%, a ratio near 2): neither day is a shift that holds
    col = frame.columns.get_loc("BAD")
    dipped = frame.copy()
    dipped.iloc[-40, col] *= 0.5
    loose = dataclasses.replace(CONFIG, max_daily_move=0.6)
    _assert_kept(_check(dipped, config=loose))


def test_jump_verdicts_do_not_depend_on_the_threshold_once_a_move_has_held(frame):
    col = frame.columns.get_loc("BAD")
    moved = frame.copy()
    moved.iloc[-30:, col] *= 1.55
    for limit in (0.2, 0.45, 0.6):
        config = dataclasses.replace(CONFIG, max_daily_move=limit)
        report = _check(moved, config=config)
        _assert_kept(report)
        pd.testing.assert_frame_equal(report.prices, _check(moved).prices)


def test_amd_earnings_day_is_excluded_for_one_week_not_a_year(sample_close):
    data = PriceData(close=sample_close, source="sample")
    config = DataConfig(source="sample")
    friday = check_quality(data, config, min_history=253, as_of=date(2016, 4, 22))
    row = friday.health.set_index("ticker").loc["AMD"]
    assert row["rule"] == "jump"
    assert "one-day move of +52% on 2016-04-22" in row["reason"] and "held 1 of 3" in row["reason"]
    for day in (date(2016, 4, 29), date(2016, 11, 4), date(2017, 4, 21)):
        report = check_quality(data, config, min_history=253, as_of=day)
        assert "AMD" in report.kept, day
        assert report.prices.loc["2016-04-22", "AMD"] == sample_close.loc["2016-04-22", "AMD"]


def test_quality_history_on_object_labels_gives_the_same_report_with_object_labels():
    """The backtest hands QualityHistory object ticker labels (etftrader.labels): the same
    prices, kept and dropped tickers as check_quality, with the labels of the caller's kind."""
    import dataclasses

    from etftrader.labels import object_labels
    from etftrader.prices.quality import QualityHistory

    data = _defective_frame()
    labelled = dataclasses.replace(data, close=object_labels(data.close), volume=object_labels(data.volume))
    assert labelled.close.columns.dtype == object
    config = DataConfig(source="file", max_ffill_days=3, max_missing_fraction=0.10, stale_days=10,
                        max_daily_move=0.45, min_dollar_volume=100_000.0)
    history = QualityHistory(labelled, config, min_history=20)
    for day in data.close.index[25::5]:
        want = check_quality(data, config, min_history=20, as_of=day.date())
        for got in (history.at(day.date()), history.at(day.date(), health=False)):
            assert got.kept == want.kept, day
            assert got.prices.columns.dtype == object and got.prices.columns.tolist() == want.kept
            np.testing.assert_array_equal(got.prices.to_numpy(), want.prices.to_numpy())
            assert got.prices.index.equals(want.prices.index)
            pd.testing.assert_frame_equal(got.dropped, want.dropped, check_exact=True)


def test_the_quality_steps_prices_are_usable_as_they_are_and_score_the_same_read_in_place(sample_close):
    """The backtest scores the quality step's closes in place (``usable=True``: no copy with the
    unusable prices set to NaN), because they hold only positive finite closes and NaN. On the
    real sample with every kind of bad print injected -- a zero, a negative close, an infinity,
    a x100 print, a hole short enough to fill and one too long, a late start -- that holds for
    check_quality and for QualityHistory on every week, and the scores read in place are the
    copied window's to the last bit."""
    from etftrader.config import Config
    from etftrader.prices.quality import QualityHistory
    from etftrader.target import score_prices

    close = sample_close.loc["2016-01-01":"2019-12-31"].copy()
    col = close.columns.get_loc
    close.iloc[300, col("XOM")] = 0.0
    close.iloc[420, col("KO")] = -5.0
    close.iloc[500, col("MTUM")] = np.inf
    close.iloc[610, col("JNJ")] *= 100.0
    close.iloc[700:703, col("PG")] = np.nan  # short: filled
    close.iloc[720:760, col("MRK")] = np.nan  # long: left, the ticker dropped while it lasts
    close.iloc[:400, col("QUAL")] = np.nan  # a late start
    config = Config()
    data = PriceData(close=close, source="file")
    history = QualityHistory(data, config.data, min_history=config.factors.min_history)
    weeks = close.index[config.factors.min_history::5]
    checked = 0
    for i, day in enumerate(weeks):
        for report in (history.at(day.date(), health=False, dropped=False),
                       check_quality(data, config.data, min_history=config.factors.min_history, as_of=day.date())
                       if i % 10 == 0 else None):
            if report is None:
                continue
            values = report.prices.to_numpy()
            assert values.dtype == np.float64
            assert not ((values <= 0) | np.isinf(values)).any()
            in_place = score_prices(report.prices, config, usable=True)
            copied = score_prices(report.prices, config)
            assert in_place.index.equals(copied.index)
            assert in_place.to_numpy().tobytes() == copied.to_numpy().tobytes()
            checked += 1
    assert checked > 150
