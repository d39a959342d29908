"""The backtest's tearsheet: its figures against sums written out here, and the report in a browser."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from etftrader import tearsheet as ts


def _equity():
    days = pd.bdate_range("2019-01-01", "2020-12-31")
    rng = np.random.default_rng(7)
    a = 100 * np.cumprod(1 + rng.normal(0.0005, 0.01, len(days)))
    b = 100 * np.cumprod(1 + rng.normal(0.0003, 0.012, len(days)))
    return pd.DataFrame({"mvo": a, "equal_weight": b}, index=days)


def test_monthly_returns_compound_the_days_of_each_month():
    equity = _equity()
    table = ts.monthly_returns(equity)["mvo"]
    month_end = equity["mvo"].resample("ME").last()
    by_hand = month_end / month_end.shift(1) - 1
    assert table.loc[2019, "Mar"] == pytest.approx(by_hand.loc["2019-03-31"], rel=1e-12)
    assert table.loc[2020, "Dec"] == pytest.approx(by_hand.loc["2020-12-31"], rel=1e-12)
    first = equity["mvo"].loc["2019-01"]
    assert table.loc[2019, "Jan"] == pytest.approx(first.iloc[-1] / first.iloc[0] - 1, rel=1e-12)


def test_rolling_sharpe_and_volatility_are_the_trailing_years():
    equity = _equity()
    sharpe, vol = ts.rolling_figures(equity)
    r = equity["mvo"].pct_change().iloc[1:]
    window = r.iloc[-252:]
    assert vol["mvo"].iloc[-1] == pytest.approx(window.std(ddof=1) * math.sqrt(252), rel=1e-9)
    assert sharpe["mvo"].iloc[-1] == pytest.approx(window.mean() / window.std(ddof=1) * math.sqrt(252), rel=1e-9)
    assert sharpe["mvo"].dropna().index[0] == r.index[251]  # a full year of returns first


def test_worst_drawdowns_are_found_peak_to_recovery():
    days = pd.bdate_range("2021-01-01", periods=12)
    values = pd.Series([100, 110, 99, 88, 110, 120, 114, 120, 125, 100, 90, 95], index=days, dtype=float)
    table = ts.worst_drawdowns(values, n=5)
    assert table["depth"].tolist() == pytest.approx([90 / 125 - 1, 88 / 110 - 1, 114 / 120 - 1])
    first = table.iloc[0]
    assert first["peak"] == days[8] and first["trough"] == days[10] and pd.isna(first["recovered"])
    second = table.iloc[1]
    assert (second["peak"], second["trough"], second["recovered"]) == (days[1], days[3], days[4])
    assert second["days"] == (days[4] - days[1]).days


def test_the_conclusion_says_whether_equal_weight_kept_up():
    run = {"optimizers": ["mvo", "minvar"], "benchmark": "SPY", "weeks": 200}
    metrics = pd.DataFrame({"sharpe": [1.01, 0.90, 0.99, 0.6], "turnover": [1.05, 1.2, 0.13, 0.0]},
                           index=["mvo", "minvar", "equal_weight", "SPY"])
    text = ts.conclusion(metrics, run)
    assert text.startswith("Equal weight matched the best optimizer (mvo): a Sharpe ratio of 0.99 against 1.01")
    assert "12% of its turnover" in text and "SPY had 0.60" in text
    metrics.loc["mvo", "sharpe"] = 1.4
    text = ts.conclusion(metrics, {**run, "weeks": 30})
    assert text.startswith("mvo had the best Sharpe ratio, 1.40 against equal weight's 0.99")
    assert "8.1 times as much" in text and "not meaningful" in text


@pytest.mark.slow
def test_the_backtest_report_is_a_tearsheet_a_browser_opens_offline(tmp_path, browser):
    import contextlib
    import io

    from etftrader.cli import main

    out = tmp_path / "bt"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["backtest", "--source", "sample", "--start", "2020-01-01", "--end", "2021-12-31",
                     "--optimizer", "mvo,minvar", "--positions", "6", "--home", str(tmp_path), "--out", str(out)])
    assert code == 0
    shown, asked = browser(out / "validation_report.html", tmp_path / "browser")
    assert asked == []
    assert len(shown["images"]) >= 8 and all(i["ok"] for i in shown["images"]), shown["images"]
    text = shown["text"]
    for heading in ("In one sentence", "Monthly returns", "Rolling one-year Sharpe ratio and volatility",
                    "Excess return over the benchmark", "The five worst drawdowns of each series",
                    "Drawdowns, one panel per series", "Weights over time", "Turnover and costs over time"):
        assert heading in text, heading
    assert "had the best Sharpe ratio" in text or "Equal weight matched the best optimizer" in text
    assert text.index("In one sentence") < text.index("Results")


def test_a_series_that_never_falls_has_no_drawdown_rows():
    flat = pd.Series(100.0, index=pd.bdate_range("2021-01-01", periods=30))
    table = ts.worst_drawdowns(flat)
    assert table.empty and str(table["peak"].dtype).startswith("datetime64")
    rising = pd.Series(np.arange(1.0, 31.0), index=flat.index)
    assert ts.worst_drawdowns(rising).empty
