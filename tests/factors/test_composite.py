"""The composite score: z-score and winsor maths by hand, weights, NaN policy, ordering, and
agreement between the shared-window path and the single-factor functions on the real sample."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from factors import (FACTOR_NAMES, SCORE_COLUMNS, low_volatility, momentum, quality,
                     score_universe, value, zscore)

SEED_WEIGHTS = {"momentum": 0.30, "quality": 0.30, "value": 0.20, "volatility": 0.20}


def test_zscore_by_hand():
    z = zscore(np.array([1.0, 2.0, 3.0, np.nan]))
    np.testing.assert_allclose(z[:3], [-1.0, 0.0, 1.0], atol=1e-15)
    assert np.isnan(z[3])


def test_zscore_winsorizes_an_outlier():
    # 20 zeros and one 10: mean 10/21, sample std (10/21) * sqrt(21), so the outlier's z is
    # 20 / sqrt(21) = 4.36 (clipped to 3) and every zero's is -1 / sqrt(21).
    values = np.array([0.0] * 20 + [10.0])
    z = zscore(values, winsor_z=3.0)
    np.testing.assert_allclose(z[:20], -1 / math.sqrt(21), rtol=1e-12)
    assert z[20] == 3.0
    assert zscore(values, winsor_z=math.inf)[20] == pytest.approx(20 / math.sqrt(21), rel=1e-12)


def test_zscore_without_information_is_zero():
    np.testing.assert_array_equal(zscore(np.array([5.0, 5.0, 5.0])), [0.0, 0.0, 0.0])
    z = zscore(np.array([np.nan, 2.0]))
    assert np.isnan(z[0]) and z[1] == 0.0


def hand_frame() -> pd.DataFrame:
    """Three tickers, five prices; every factor uses lookback 4 (momentum skip 1)."""
    index = pd.bdate_range("2022-01-03", periods=5, name="date")
    return pd.DataFrame(
        {
            "AAA": [100.0, 104.0, 103.0, 108.0, 110.0],
            "BBB": [100.0, 95.0, 99.0, 97.0, 96.0],
            "CCC": [100.0, 120.0, 90.0, 115.0, 118.0],
        },
        index=index,
    )


def test_score_universe_by_hand():
    prices = hand_frame()
    weights = {"momentum": 3, "quality": 3, "value": 2, "volatility": 2}  # normalised to .3 .3 .2 .2
    scores = score_universe(prices, weights=weights, momentum_lookback=4, momentum_skip=1,
                            quality_lookback=4, value_lookback=4, volatility_lookback=4)
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores.index.name == "ticker"

    raw = pd.DataFrame({
        "momentum": momentum(prices, lookback=4, skip=1),
        "quality": quality(prices, lookback=4),
        "value": value(prices, lookback=4),
        "volatility": low_volatility(prices, lookback=4),
    })
    # Raw columns by hand for two of them: momentum = P[-2]/P[0] - 1, value = 1 - last / high.
    assert raw.loc["AAA", "momentum"] == pytest.approx(0.08)
    assert raw.loc["CCC", "value"] == pytest.approx(1 - 118 / 120)
    pd.testing.assert_frame_equal(scores[list(FACTOR_NAMES)], raw.loc[scores.index],
                                  check_names=False)

    # z with scipy (independent), no clipping needed for three values (|z| <= 2 / sqrt(3)).
    z = raw.apply(lambda col: pd.Series(stats.zscore(col, ddof=1), index=col.index))
    for name in FACTOR_NAMES:
        np.testing.assert_allclose(scores[f"{name}_z"], z.loc[scores.index, name], rtol=1e-12)
    composite = 0.3 * z["momentum"] + 0.3 * z["quality"] + 0.2 * z["value"] + 0.2 * z["volatility"]
    np.testing.assert_allclose(scores["composite"], composite.loc[scores.index], rtol=1e-12)
    assert scores["composite"].is_monotonic_decreasing
    assert list(scores.index) == list(composite.sort_values(ascending=False).index)


def test_weights_missing_from_the_mapping_count_as_zero_and_zero_weights_do_not_drop_tickers():
    prices = hand_frame()
    prices["NEW"] = [np.nan, np.nan, 50.0, 51.0, 52.0]  # too young for every 4-day window
    kwargs = dict(momentum_lookback=4, momentum_skip=1, quality_lookback=4, value_lookback=4,
                  volatility_lookback=2)
    only_vol = score_universe(prices, weights={"volatility": 1.0}, **kwargs)
    # NEW has a volatility score (2-day window) but no momentum: with momentum weighing 0 it
    # still gets a composite, which is exactly its volatility z.
    assert np.isnan(only_vol.loc["NEW", "momentum"])
    np.testing.assert_allclose(only_vol["composite"], only_vol["volatility_z"])
    mixed = score_universe(prices, weights={"volatility": 1.0, "momentum": 1.0}, **kwargs)
    assert np.isnan(mixed.loc["NEW", "composite"])
    assert mixed.index[-1] == "NEW"  # NaN sorts last
    # The other tickers' momentum z is computed among those that have momentum.
    assert mixed["momentum_z"].drop("NEW").abs().sum() > 0


def test_ties_are_ordered_by_ticker():
    index = pd.bdate_range("2022-01-03", periods=3, name="date")
    same = [10.0, 11.0, 12.0]
    prices = pd.DataFrame({"ZZZ": same, "AAA": same, "MMM": same}, index=index)
    scores = score_universe(prices, weights={"momentum": 1}, momentum_lookback=2, momentum_skip=0,
                            quality_lookback=2, value_lookback=2, volatility_lookback=2)
    assert list(scores.index) == ["AAA", "MMM", "ZZZ"]
    assert (scores["composite"] == 0).all()


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        ({"momentum": 1, "carry": 1}, ValueError, "unknown factor.*carry; valid: momentum, quality"),
        ({"momentum": -0.5, "value": 1}, ValueError, "`momentum` must be a finite number >= 0"),
        ({"momentum": 0, "value": 0}, ValueError, "positive sum"),
        ({"momentum": float("nan")}, ValueError, "finite number"),
        ([("momentum", 1)], TypeError, "must be a mapping"),
    ],
)
def test_bad_weights_are_refused(weights, error, match):
    with pytest.raises(error, match=match):
        score_universe(hand_frame(), weights=weights, momentum_lookback=4, momentum_skip=1,
                       quality_lookback=4, value_lookback=4, volatility_lookback=4)


def test_bad_lookbacks_and_winsor_are_refused():
    with pytest.raises(ValueError, match="`momentum_skip` must be smaller"):
        score_universe(hand_frame(), weights=SEED_WEIGHTS, momentum_lookback=4, momentum_skip=4)
    with pytest.raises(ValueError, match="`winsor_z` must be a number > 0"):
        score_universe(hand_frame(), weights=SEED_WEIGHTS, winsor_z=0)


def test_sample_scores_agree_with_the_single_factor_functions(sample_close):
    prices = sample_close.loc[:"2021-03-31"]
    scores = score_universe(prices, weights=SEED_WEIGHTS, volatility_lookback=90)
    assert set(scores.index) == set(prices.columns)
    expected = pd.DataFrame({
        "momentum": momentum(prices),
        "quality": quality(prices),
        "value": value(prices),
        "volatility": low_volatility(prices, lookback=90),
    }).loc[scores.index]
    pd.testing.assert_frame_equal(scores[list(FACTOR_NAMES)], expected, check_names=False,
                                  rtol=1e-12)
    z_cols = [f"{n}_z" for n in FACTOR_NAMES]
    assert scores[z_cols].abs().max().max() <= 3.0
    np.testing.assert_allclose(scores[z_cols].mean(), 0.0, atol=0.2)  # clipping moves means a bit
    assert scores["composite"].notna().all()
    assert scores["composite"].is_monotonic_decreasing


def test_only_the_window_matters(sample_close):
    # The backtest calls score_universe on ever longer histories; older prices must not count.
    full = score_universe(sample_close.loc[:"2020-09-30"], weights=SEED_WEIGHTS)
    tail = score_universe(sample_close.loc[:"2020-09-30"].iloc[-253:], weights=SEED_WEIGHTS)
    pd.testing.assert_frame_equal(full, tail)


def test_empty_and_short_frames_give_nan_not_errors(sample_close):
    short = score_universe(sample_close.iloc[:100], weights=SEED_WEIGHTS)
    assert short["composite"].isna().all()
    assert list(short.index) == sorted(sample_close.columns)  # all NaN: ordered by ticker
    empty = score_universe(sample_close.iloc[:, :0], weights=SEED_WEIGHTS)
    assert empty.empty and list(empty.columns) == list(SCORE_COLUMNS)


def test_a_ticker_with_a_bad_price_scores_nan_and_leaves_the_others_as_they_were(sample_close):
    # Defects injected into real prices, each inside the 252-day window: a hole, a zero, an
    # infinity, a negative print, and a history that starts inside the window. Those tickers score
    # NaN on every factor whose window sees the defect, without a warning, and every other ticker's
    # raw factors are what the single-factor functions give on the clean tickers alone.
    import warnings

    prices = sample_close.loc[:"2021-06-30"].copy()
    bad = {prices.columns[1]: "hole", prices.columns[2]: "zero", prices.columns[3]: "inf",
           prices.columns[4]: "negative", prices.columns[5]: "late"}
    where = prices.columns.get_loc
    prices.iloc[-100:-95, where(prices.columns[1])] = np.nan
    prices.iloc[-30, where(prices.columns[2])] = 0.0
    prices.iloc[-200, where(prices.columns[3])] = np.inf
    prices.iloc[-150, where(prices.columns[4])] = -5.0
    prices.iloc[:-120, where(prices.columns[5])] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_universe(prices, weights=SEED_WEIGHTS)
    assert scores.loc[list(bad), ["momentum", "quality", "value", "composite"]].isna().all().all()
    assert np.isnan(scores.loc[prices.columns[2], "volatility"])  # the only defect inside 60 days
    assert scores.loc[[prices.columns[i] for i in (1, 3, 4, 5)], "volatility"].notna().all()
    good = [t for t in prices.columns if t not in bad]
    clean = prices[good]
    expected = pd.DataFrame({"momentum": momentum(clean), "quality": quality(clean), "value": value(clean),
                             "volatility": low_volatility(clean)})
    pd.testing.assert_frame_equal(scores.loc[good, list(FACTOR_NAMES)], expected.loc[good], check_names=False,
                                  rtol=1e-12)
    assert scores.loc[good, "composite"].notna().all()


def test_a_short_quality_window_with_a_hole_and_a_huge_move_scores_nan_without_a_warning(sample_close):
    # A 5-day quality window: a ticker with a hole and a x1e7 print inside it is not scored (NaN),
    # and its end points are not raised to the power 252/5 (that would overflow and warn).
    import warnings

    prices = sample_close.iloc[-300:].copy()
    column = prices.columns.get_loc(prices.columns[0])
    prices.iloc[-3, column] = np.nan
    prices.iloc[-1, column] = prices.iloc[-6, column] * 1e7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = quality(prices, lookback=5)
    assert np.isnan(got.iloc[0]) and got.iloc[1:].notna().all()
