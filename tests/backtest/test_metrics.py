"""Performance figures: empyrical's numbers, cross-checked against closed forms to 1e-8."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from etftrader.metrics import METRIC_NAMES, drawdown, performance_metrics, turnover


def _closed_form(values: pd.Series, rf_annual: float = 0.0) -> dict[str, float]:
    """The textbook definitions, written out with numpy (independent of empyrical)."""
    v = values.to_numpy(dtype=float)
    r = v[1:] / v[:-1] - 1.0
    rf = rf_annual / 252
    years = len(r) / 252
    cagr = (v[-1] / v[0]) ** (1 / years) - 1
    vol = r.std(ddof=1) * math.sqrt(252)
    excess = r - rf
    sharpe = excess.mean() / excess.std(ddof=1) * math.sqrt(252)
    downside = math.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)) * math.sqrt(252)
    sortino = excess.mean() * 252 / downside
    wealth = np.concatenate([[1.0], np.cumprod(1 + r)])
    max_dd = (wealth / np.maximum.accumulate(wealth) - 1).min()
    return {"cagr": cagr, "volatility": vol, "sharpe": sharpe, "sortino": sortino,
            "max_drawdown": max_dd, "calmar": cagr / abs(max_dd)}


@pytest.fixture(scope="module")
def index_values(sample_data) -> pd.Series:
    """Two years of the real S&P 500 index from the sample, as a value series."""
    return sample_data.benchmark.loc["2019-01-01":"2020-12-31"].dropna()


@pytest.mark.parametrize("rf", [0.0, 0.02])
def test_metrics_match_closed_forms_on_real_prices(index_values, rf):
    got = performance_metrics(index_values, risk_free_rate=rf)
    want = _closed_form(index_values, rf)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-8, abs=1e-10), name
    # 2020 holds the Covid crash: the drawdown is real and deep, so the test is not vacuous.
    assert got["max_drawdown"] < -0.30


def test_metrics_match_empyrical_directly(index_values):
    import empyrical

    r = index_values.pct_change().dropna()
    got = performance_metrics(index_values)
    assert got["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r), abs=1e-12)
    assert got["calmar"] == pytest.approx(empyrical.calmar_ratio(r), abs=1e-12)


def test_metrics_keys_and_trading_figures():
    values = pd.Series([100.0, 110.0, 99.0, 120.0],
                       index=pd.bdate_range("2021-01-04", periods=4))
    got = performance_metrics(values, traded_value=50.0, costs=1.25)
    assert tuple(got) == METRIC_NAMES
    assert got["costs"] == 1.25
    # one-way turnover: 0.5 x 50 traded / mean value 107.25 / (3 / 252) years
    assert got["turnover"] == pytest.approx(0.5 * 50 / 107.25 / (3 / 252), rel=1e-12)


def test_turnover_of_a_single_purchase_from_cash_is_half_a_round_trip():
    values = pd.Series(1000.0, index=pd.bdate_range("2021-01-01", periods=253))
    assert turnover(1000.0, values) == pytest.approx(0.5)
    assert math.isnan(turnover(1000.0, values.iloc[:1]))


def test_too_short_series_gives_nan_not_an_error():
    got = performance_metrics(pd.Series([1.0, 1.1], index=pd.bdate_range("2021-01-04", periods=2)))
    assert math.isnan(got["sharpe"]) and math.isnan(got["cagr"])


def test_drawdown_hand_values():
    dd = drawdown(pd.Series([100.0, 120.0, 90.0, 130.0]))
    assert dd.tolist() == pytest.approx([0.0, 0.0, -0.25, 0.0])
