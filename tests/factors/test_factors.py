"""Each factor on tiny hand-built frames with exact values, its NaN policy, its errors, and a
cross-check on the real sample against plain pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from factors import ULCER_FLOOR, low_volatility, momentum, quality, value


def frame(columns: dict[str, list[float]]) -> pd.DataFrame:
    """A price frame of business days, shaped like the price-frame contract."""
    n = len(next(iter(columns.values())))
    index = pd.bdate_range("2021-01-04", periods=n, name="date")
    return pd.DataFrame(columns, index=index, dtype="float64")


# --- momentum ---------------------------------------------------------------------------------

def test_momentum_exact_values_skip_the_last_prices():
    prices = frame({
        "UP": [100.0, 110.0, 121.0, 50.0],     # 121/100 - 1; the crash on the last day is skipped
        "DOWN": [100.0, 90.0, 80.0, 200.0],    # 80/100 - 1
    })
    result = momentum(prices, lookback=3, skip=1)
    assert result.name == "momentum"
    assert list(result.index) == ["UP", "DOWN"]
    assert result["UP"] == pytest.approx(0.21, abs=1e-15)
    assert result["DOWN"] == pytest.approx(-0.2, abs=1e-15)


def test_momentum_without_skip_is_total_return_and_ignores_older_history():
    prices = frame({"A": [1.0, 1000.0, 100.0, 105.0, 103.0, 120.0]})
    # lookback 3: window is the last 4 prices 100 .. 120; the 1 and 1000 before it do not count.
    assert momentum(prices, lookback=3, skip=0)["A"] == pytest.approx(0.2, abs=1e-15)


def test_momentum_is_nan_for_short_or_holed_windows():
    prices = frame({
        "FULL": [100.0, 101.0, 102.0, 103.0],
        "LATE": [np.nan, 100.0, 101.0, 102.0],   # listed inside the window
        "HOLE": [100.0, np.nan, 102.0, 103.0],   # gap the quality step did not fill
        "ZERO": [100.0, 0.0, 102.0, 103.0],      # a zero price is bad data, not -100%
        "STALE": [100.0, 101.0, 102.0, np.nan],  # no price on the as-of day
    })
    result = momentum(prices, lookback=3, skip=1)
    assert result["FULL"] == pytest.approx(0.02)
    assert result[["LATE", "HOLE", "ZERO", "STALE"]].isna().all()
    assert momentum(prices.iloc[:3], lookback=3, skip=1).isna().all()  # history too short


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lookback": 3, "skip": 3}, "`skip` must be smaller than `lookback`"),
        ({"lookback": 0, "skip": 0}, "`lookback` must be an integer >= 1"),
        ({"lookback": 2.5, "skip": 0}, "`lookback` must be an integer"),
        ({"lookback": 3, "skip": -1}, "`skip` must be an integer >= 0"),
    ],
)
def test_momentum_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        momentum(frame({"A": [1.0, 2.0, 3.0, 4.0]}), **kwargs)


def test_factors_reject_what_is_not_a_price_frame():
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        momentum([[1.0, 2.0]])
    unsorted = frame({"A": [1.0, 2.0, 3.0]}).iloc[::-1]
    with pytest.raises(ValueError, match="sorted by date ascending"):
        value(unsorted, lookback=2)
    dupes = pd.concat([frame({"A": [1.0, 2.0]}), frame({"A": [1.0, 2.0]})], axis=1)
    with pytest.raises(ValueError, match="duplicates: A"):
        quality(dupes, lookback=1)
    text = frame({"A": [1.0, 2.0]}).astype(object)
    text.iloc[0, 0] = "n/a"
    with pytest.raises(ValueError, match="must hold numbers"):
        low_volatility(text, lookback=2)


def test_momentum_matches_pandas_shift_on_the_sample(sample_close):
    prices = sample_close.loc[:"2020-12-31"]
    expected = prices.shift(21).iloc[-1] / prices.shift(252).iloc[-1] - 1
    pd.testing.assert_series_equal(momentum(prices), expected.rename("momentum"), rtol=1e-12)


# --- quality ----------------------------------------------------------------------------------

def test_quality_exact_martin_ratio():
    prices = frame({"A": [100.0, 120.0, 90.0, 108.0, 126.0]})
    # running high 100 120 120 120 126 -> drawdowns 0, 0, -0.25, -0.10, 0
    ulcer = math.sqrt((0.25**2 + 0.10**2) / 5)
    annual = 1.26 ** (252 / 4) - 1
    assert quality(prices, lookback=4)["A"] == pytest.approx(annual / ulcer, rel=1e-12)


def test_quality_of_a_falling_etf_is_negative():
    prices = frame({"A": [100.0, 80.0, 80.0, 80.0, 80.0]})
    ulcer = math.sqrt(4 * 0.2**2 / 5)
    expected = (0.8 ** 63 - 1) / ulcer
    result = quality(prices, lookback=4)["A"]
    assert result == pytest.approx(expected, rel=1e-12)
    assert result < 0


def test_quality_floors_the_ulcer_index_of_a_steady_climber():
    # Steady growth from 100 to 110 over exactly one year: annual return 10%, no drawdown at all.
    path = 100.0 * 1.1 ** (np.arange(253) / 252)
    prices = frame({"STEADY": list(path)})
    assert quality(prices)["STEADY"] == pytest.approx(0.10 / ULCER_FLOOR, rel=1e-12)


def test_quality_prefers_shallow_drawdowns_at_equal_return():
    prices = frame({
        "SMOOTH": [100.0, 102.0, 101.0, 104.0, 110.0],
        "ROUGH": [100.0, 130.0, 80.0, 100.0, 110.0],
    })
    result = quality(prices, lookback=4)
    assert result["SMOOTH"] > result["ROUGH"]
    assert quality(frame({"A": [1.0, np.nan, 2.0, 3.0, 4.0]}), lookback=4).isna().all()


# --- value ------------------------------------------------------------------------------------

def test_value_is_the_distance_below_the_window_high():
    prices = frame({
        "BELOW": [200.0, 100.0, 125.0, 100.0],  # the 200 is older than the 2-day window
        "AT_HIGH": [100.0, 90.0, 95.0, 130.0],
        "HALF": [10.0, 40.0, 20.0, 20.0],
    })
    result = value(prices, lookback=2)
    assert result["BELOW"] == pytest.approx(0.2, abs=1e-15)
    assert result["AT_HIGH"] == 0.0
    assert result["HALF"] == pytest.approx(0.5, abs=1e-15)
    assert value(prices, lookback=3)["BELOW"] == pytest.approx(0.5, abs=1e-15)


def test_value_matches_the_rolling_high_on_the_sample(sample_close):
    prices = sample_close.loc[:"2021-06-30"]
    expected = 1 - prices.iloc[-1] / prices.iloc[-253:].max()
    pd.testing.assert_series_equal(value(prices), expected.rename("value"), rtol=1e-12)


# --- low volatility ---------------------------------------------------------------------------

def test_low_volatility_exact_value():
    prices = frame({
        "SWING": [100.0, 110.0, 99.0, 108.9],   # returns +10%, -10%, +10%: sample variance 1/75
        "FLAT": [50.0, 50.0, 50.0, 50.0],
    })
    result = low_volatility(prices, lookback=3)
    assert result.name == "volatility"
    assert result["SWING"] == pytest.approx(-math.sqrt(252 / 75), rel=1e-12)
    assert result["FLAT"] == 0.0
    assert result["FLAT"] > result["SWING"]  # calmer scores higher


def test_low_volatility_needs_two_returns():
    with pytest.raises(ValueError, match="`lookback` must be an integer >= 2"):
        low_volatility(frame({"A": [1.0, 2.0]}), lookback=1)


def test_low_volatility_matches_pandas_std_on_the_sample(sample_close):
    prices = sample_close.loc[:"2019-09-30"]
    expected = -prices.pct_change(fill_method=None).iloc[-60:].std() * math.sqrt(252)
    pd.testing.assert_series_equal(low_volatility(prices), expected.rename("volatility"),
                                   rtol=1e-10)


def test_running_max_is_numpys_accumulate_on_real_windows_and_edges(sample_close):
    """The quality factor's running high (a row at a time, for speed) is
    ``np.maximum.accumulate`` exactly: on every 60th window of the sample, in either layout,
    with NaN inside, and on one row and on none."""
    from factors._returns import running_max

    values = sample_close.to_numpy(dtype="float64")
    cases = [values[end - 253:end] for end in range(253, len(values), 60)]
    cases += [np.asfortranarray(c) for c in cases[:5]]
    holed = cases[3].copy()
    holed[::17, ::3] = np.nan
    cases += [holed, values[:1], values[:0], np.array([[3.0, np.inf], [-np.inf, 2.0], [1.0, 5.0]])]
    for case in cases:
        want = np.maximum.accumulate(case, axis=0)
        got = running_max(case)
        assert got.shape == want.shape
        assert got.tobytes() == want.tobytes()
