"""Unit tests of etftrader.monitoring: exact values on tiny hand-built frames, cross-checks
against empyrical, and realistic multi-week ledgers built from the bundled sample."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest

from etftrader import monitoring as mon

from ._ledger import FakeLedger, build_weeks, empty_ledger, ledger_from_weeks, market_frame


def _perf_ledger(values, dates, flows=None, benchmark=None):
    """A ledger with only Performance (and CashFlows) rows."""
    base = empty_ledger()
    perf = pd.DataFrame({
        "timestamp": pd.to_datetime(dates) + pd.Timedelta(hours=9),
        "total_value": values,
        "run_id": [f"r{i}" for i in range(len(values))],
        "as_of": pd.to_datetime(dates),
    })
    if benchmark is not None:
        perf["benchmark"] = "SPY"
        perf["benchmark_close"] = benchmark
    cash = base.cashflows
    if flows:
        cash = pd.DataFrame([{"timestamp": pd.Timestamp(d) + pd.Timedelta(hours=12), "type": k, "amount": a,
                              "note": "", "run_id": None, "as_of": pd.Timestamp(d)} for d, k, a in flows])
    return FakeLedger(base.positions, base.trades, perf, base.metadata, cash)


# ---------------------------------------------------------------- concentration


def test_concentration_by_hand():
    hhi, eff = mon.concentration([0.5, 0.3, 0.2])
    assert hhi == pytest.approx(0.25 + 0.09 + 0.04)
    assert eff == pytest.approx(1 / 0.38)


def test_concentration_normalises_cash_away_and_equal_weights_give_n():
    hhi, eff = mon.concentration([0.1] * 8)  # 80% invested, 20% cash
    assert hhi == pytest.approx(1 / 8)
    assert eff == pytest.approx(8.0)


def test_concentration_of_nothing_is_nan():
    assert all(math.isnan(x) for x in mon.concentration([]))


def test_allocation_slices_top_other_cash():
    w = pd.Series({f"T{i:02d}": 0.06 for i in range(15)})  # 90% invested
    slices = mon.allocation_slices(w, top=10)
    assert list(slices.index[:10]) == [f"T{i:02d}" for i in range(10)]
    assert slices["Other"] == pytest.approx(0.30)
    assert slices["Cash"] == pytest.approx(0.10)
    assert slices.sum() == pytest.approx(1.0)


def test_top_bottom_never_lists_a_position_twice():
    pos = pd.DataFrame({"weight": [0.3, 0.25, 0.2, 0.15, 0.1]}, index=pd.Index(list("ABCDE"), name="ticker"))
    top, bottom = mon.top_bottom(pos, n=5)
    assert top.index.tolist() == ["A", "B", "C"] and bottom.index.tolist() == ["E", "D"]
    big = pd.DataFrame({"weight": np.linspace(0.2, 0.01, 12)}, index=[f"T{i}" for i in range(12)])
    top, bottom = mon.top_bottom(big, n=5)
    assert top.index.tolist() == ["T0", "T1", "T2", "T3", "T4"]
    assert bottom.index.tolist() == ["T11", "T10", "T9", "T8", "T7"]


def test_top_n_exposure():
    w = pd.Series({"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1})
    exp = mon.top_n_exposure(w, ns=(1, 3, 5))
    assert exp.to_dict() == pytest.approx({"Top 1": 0.4, "Top 3": 0.9})


# ---------------------------------------------------------------- performance


def test_drawdown_by_hand():
    dd = mon.drawdown_from_returns(pd.Series([0.10, -0.20, 0.05, 0.30]))
    # wealth 1.1, 0.88, 0.924, 1.2012 ; peak 1.1, 1.1, 1.1, 1.2012
    assert dd.tolist() == pytest.approx([0.0, -0.2, 0.924 / 1.1 - 1, 0.0])


def test_drawdown_counts_a_first_period_loss():
    assert mon.drawdown_from_returns(pd.Series([-0.1, 0.05])).tolist() == pytest.approx([-0.1, 0.945 - 1])


def test_time_weighted_return_excludes_a_deposit_by_hand():
    # 100 -> 110 (+10%), then a deposit of 50 lands before run 3 and the whole is worth 176:
    # the old money made (176 - 50) / 110 - 1 = 14.545...%, not (176/110 - 1) = 60%.
    ledger = _perf_ledger([100.0, 110.0, 176.0], ["2021-01-01", "2021-01-08", "2021-01-15"],
                          flows=[("2021-01-12", "DEPOSIT", 50.0)])
    perf = mon.performance_series(ledger)
    assert math.isnan(perf["period_return"].iloc[0])
    assert perf["net_flow"].tolist() == [0.0, 0.0, 50.0]
    assert perf["period_return"].iloc[1] == pytest.approx(0.10)
    assert perf["period_return"].iloc[2] == pytest.approx(126 / 110 - 1)
    assert perf["cumulative_return"].iloc[-1] == pytest.approx(1.10 * 126 / 110 - 1)  # = 0.26


def test_withdrawal_sign_follows_type_and_initial_capital_is_not_a_flow():
    ledger = _perf_ledger([100.0, 80.0], ["2021-01-01", "2021-01-08"],
                          flows=[("2021-01-01", "DEPOSIT", 100.0), ("2021-01-05", "WITHDRAWAL", 25.0)])
    perf = mon.performance_series(ledger)
    assert perf["net_flow"].tolist() == [0.0, -25.0]
    assert perf["period_return"].iloc[1] == pytest.approx((80 + 25) / 100 - 1)


def test_same_day_reruns_are_not_extra_weeks():
    ledger = _perf_ledger([100.0, 999.0, 105.0], ["2021-01-01", "2021-01-08", "2021-01-08"])
    perf = mon.performance_series(ledger)
    assert len(perf) == 2 and perf["total_value"].iloc[-1] == 105.0


def test_a_run_whose_pending_trades_were_superseded_still_counts_as_its_week():
    ledger = _perf_ledger([100.0, 102.0, 105.0], ["2021-01-01", "2021-01-08", "2021-01-15"])
    meta = pd.DataFrame({"timestamp": ledger.performance["timestamp"], "run_id": ["r0", "r1", "r2"],
                         "as_of": ledger.performance["as_of"], "superseded_run": ["", "r0", "r1"]})
    ledger = FakeLedger(ledger.positions, ledger.trades, ledger.performance, meta, ledger.cashflows)
    perf = mon.performance_series(ledger)
    assert perf["total_value"].tolist() == [100.0, 102.0, 105.0]


def test_benchmark_from_ledger_and_from_market_file():
    dates = ["2021-01-01", "2021-01-08", "2021-01-15"]
    perf = mon.performance_series(_perf_ledger([100.0, 101.0, 99.0], dates, benchmark=[200.0, 210.0, 220.0]))
    assert perf.attrs["benchmark"] == "SPY"
    assert perf["benchmark_cumulative"].tolist() == pytest.approx([0.0, 0.05, 0.10])
    market = pd.DataFrame({"SPY": [50.0, 55.0, 60.0, 66.0], "VIX": [20.0] * 4},
                          index=pd.to_datetime(["2020-12-31", "2021-01-07", "2021-01-13", "2021-01-20"]))
    perf2 = mon.performance_series(_perf_ledger([100.0, 101.0, 99.0], dates), market)
    # as-of lookup: the latest close on or before each run date
    assert perf2["benchmark_close"].tolist() == [50.0, 55.0, 60.0]
    assert perf2.attrs["benchmark"] == "SPY"


def test_metrics_match_empyrical(sample_close):
    weekly = sample_close["MTUM"].resample("W-FRI").last().loc["2019":"2020"]
    values = 1_000_000 * weekly / weekly.iloc[0]
    ledger = _perf_ledger(values.to_numpy(), weekly.index)
    perf = mon.performance_series(ledger)
    m = mon.weekly_metrics(perf)
    r = perf["period_return"].dropna()
    assert m["weeks"] == len(weekly) - 1
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, period="weekly"), rel=1e-10)
    assert m["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r), rel=1e-10)
    assert m["total_return"] == pytest.approx(empyrical.cum_returns_final(r), rel=1e-10)
    assert m["total_return"] == pytest.approx(weekly.iloc[-1] / weekly.iloc[0] - 1, rel=1e-10)
    assert m["annual_volatility"] == pytest.approx(empyrical.annual_volatility(r, period="weekly"), rel=1e-10)
    assert m["annual_return"] == pytest.approx(empyrical.annual_return(r, period="weekly"), rel=1e-10)


def test_first_week_metrics_are_defined_or_nan_never_errors():
    perf = mon.performance_series(_perf_ledger([100.0], ["2021-01-01"]))
    m = mon.weekly_metrics(perf)
    assert m["weeks"] == 0 and m["total_return"] == 0.0 and math.isnan(m["sharpe"])
    table = mon.expected_vs_realised(perf, m)
    assert list(table.index) == ["Return", "Volatility", "Sharpe"]


# ---------------------------------------------------------------- trades and execution


def _trade_ledger():
    base = empty_ledger()
    rows = [
        # run 1: executed buys
        ("r1", "2021-01-01", "AAA", "BUY", 10, 100.0, True),
        ("r1", "2021-01-01", "BBB", "BUY", 5, 200.0, True),
        # run 2: one executed, one left pending -> superseded by run 3
        ("r2", "2021-01-08", "AAA", "SELL", 2, 110.0, True),
        ("r2", "2021-01-08", "CCC", "BUY", 1, 50.0, False),
        # run 3 (latest): two pending, one executed
        ("r3", "2021-01-15", "AAA", "SELL", 3, 120.0, False),
        ("r3", "2021-01-15", "DDD", "BUY", 4, 25.0, False),
        ("r3", "2021-01-15", "BBB", "BUY", 1, 210.0, True),
    ]
    trades = pd.DataFrame([{"timestamp": pd.Timestamp(d) + pd.Timedelta(hours=9), "ticker": t, "action": a,
                            "shares": s, "price": p, "value": s * p, "executed": e, "run_id": r,
                            "as_of": pd.Timestamp(d), "est_cost": 0.0, "note": ""} for r, d, t, a, s, p, e in rows])
    perf = pd.DataFrame({"timestamp": pd.to_datetime(["2021-01-01 09:00", "2021-01-08 09:00", "2021-01-15 09:00"]),
                         "total_value": [2000.0, 2010.0, 2030.0], "run_id": ["r1", "r2", "r3"],
                         "as_of": pd.to_datetime(["2021-01-01", "2021-01-08", "2021-01-15"])})
    return FakeLedger(base.positions, trades, perf, base.metadata, base.cashflows)


def test_pending_trades_are_the_latest_runs_unexecuted_only():
    pending = mon.pending_trades(_trade_ledger())
    assert sorted(pending["ticker"]) == ["AAA", "DDD"]
    assert pending.attrs["total_value"] == pytest.approx(360.0 + 100.0)
    assert pending.attrs["sell_value"] == pytest.approx(360.0)
    assert pending.attrs["buy_value"] == pytest.approx(100.0)


def test_trade_activity_split_and_most_traded():
    ledger = _trade_ledger()
    act = mon.trade_activity(ledger)
    assert act.loc["2021-01-15", ["trades", "buys", "sells", "executed"]].tolist() == [3, 2, 1, 1]
    assert act.loc["2021-01-01", "buy_value"] == pytest.approx(2000.0)
    # executed trades only count as done: 3 buys and 1 sell; 2 buys and 1 sell were not executed
    split = mon.buy_sell_split(ledger)
    assert split.loc["BUY", "trades"] == 3 and split.loc["SELL", "trades"] == 1
    assert split["not_executed"].tolist() == [2, 1]
    assert split["value"].sum() == pytest.approx(mon.trade_sizes(ledger).sum())
    assert mon.trade_sizes(ledger).sum() == pytest.approx(2430.0)
    top = mon.most_traded(ledger, n=2)
    assert top.index.tolist() == ["AAA", "BBB"] and top["trades"].tolist() == [2, 2]
    assert len(mon.executed_trades(ledger)) == 4


def test_trade_history_tells_executed_from_pending_and_superseded_every_week():
    history = mon.trade_history(_trade_ledger())
    assert [f"{d:%Y-%m-%d}" for d in history.index] == ["2021-01-01", "2021-01-08", "2021-01-15"]
    assert history["executed"].tolist() == pytest.approx([2000.0, 220.0, 210.0])
    assert history["superseded"].tolist() == pytest.approx([0.0, 50.0, 0.0])
    assert history["pending"].tolist() == pytest.approx([0.0, 0.0, 460.0])
    assert history["turnover"].tolist() == pytest.approx([1.0, 220.0 / 2010.0, 210.0 / 2030.0])
    assert history["executed_trades"].tolist() == [2, 1, 1] and history["trades"].tolist() == [2, 2, 3]


def test_trade_functions_accept_an_empty_ledger():
    ledger = empty_ledger()
    assert mon.trade_activity(ledger).empty
    assert mon.pending_trades(ledger).attrs["total_value"] == 0.0
    assert mon.buy_sell_split(ledger)["trades"].tolist() == [0, 0]
    assert mon.current_positions(ledger).empty
    assert "no runs yet" in mon.summary_text(ledger)


# ---------------------------------------------------------------- risk


@pytest.mark.parametrize("level, regime", [(12.0, "calm"), (15.0, "normal"), (25.0, "normal"),
                                           (25.1, "stressed"), (float("nan"), "unknown")])
def test_market_regime_thresholds(level, regime):
    assert mon.market_regime(level) == regime


def test_volatility_gauge_prefers_vix_and_labels_the_standin(sample_close):
    market = market_frame(sample_close, end="2021-06-30")
    gauge = mon.volatility_gauge(market)
    assert not gauge.is_standin and gauge.label == "VIX"
    assert gauge.level == pytest.approx(market["VIX"].iloc[-1])
    standin = mon.volatility_gauge(market.drop(columns="VIX"))
    assert standin.is_standin and "stand-in" in standin.label
    bench = market.iloc[:, 0]
    expected = np.log(bench).diff().iloc[-21:].std() * np.sqrt(252) * 100
    assert standin.level == pytest.approx(expected)
    assert standin.market_volatility == pytest.approx(expected / 100)
    assert "market regime **" in standin.describe() and "stand-in" in standin.describe()
    missing = mon.volatility_gauge(None)
    assert math.isnan(missing.level) and "No market file" in missing.note
    assert missing.market_volatility is None and missing.regime == "unknown"


def test_stop_loss_rule_by_hand():
    base = empty_ledger()
    dates = pd.date_range("2021-01-01", periods=10, freq="W-FRI")
    prices = [100, 102, 101, 105, 110, 108, 107, 111, 109, 104.0]
    pos = pd.DataFrame({"timestamp": dates + pd.Timedelta(hours=9), "ticker": "AAA", "weight": 1.0,
                        "value": prices, "shares": 1.0, "price": prices, "factor_score": 0.0,
                        "run_id": [f"r{i}" for i in range(10)], "as_of": dates})
    # a second ticker held only in the last two weeks uses the market's volatility
    pos2 = pd.DataFrame({"timestamp": dates[-2:] + pd.Timedelta(hours=9), "ticker": "BBB", "weight": 0.5,
                         "value": [50.0, 48.0], "shares": 1.0, "price": [50.0, 48.0], "factor_score": 0.0,
                         "run_id": ["r8", "r9"], "as_of": dates[-2:]})
    perf = pd.DataFrame({"timestamp": dates + pd.Timedelta(hours=9), "total_value": 1.0,
                         "run_id": [f"r{i}" for i in range(10)], "as_of": dates})
    ledger = FakeLedger(pd.concat([pos, pos2], ignore_index=True), base.trades, perf, base.metadata, base.cashflows)
    stops = mon.stop_loss_levels(ledger, market_volatility=0.20)
    sigma = pd.Series(prices).pct_change().dropna().std(ddof=1) * math.sqrt(52)
    dist = min(max(2 * sigma * math.sqrt(4 / 52), 0.05), 0.25)
    assert stops.loc["AAA", "peak_price"] == 111.0
    assert stops.loc["AAA", "volatility"] == pytest.approx(sigma)
    assert stops.loc["AAA", "stop_price"] == pytest.approx(111.0 * (1 - dist))
    assert stops.loc["BBB", "peak_price"] == 50.0
    assert stops.loc["BBB", "stop_distance"] == pytest.approx(2 * 0.20 * math.sqrt(4 / 52))
    assert "market" in stops.loc["BBB", "volatility_source"]


# ---------------------------------------------------------------- realistic ledger and summary


def test_realistic_ledger_summary_numbers(sample_close, ledger_12, weeks_12):
    market = market_frame(sample_close, end="2021-04-30")
    perf = mon.performance_series(ledger_12, market)
    assert len(perf) == 12
    assert perf["net_flow"].sum() == pytest.approx(50_000.0)
    assert perf["cumulative_return"].notna().all()
    text = mon.summary_text(ledger_12, market)
    last = weeks_12["performance"][-1].iloc[0]
    assert f"Total value: ${last['total_value']:,.2f}" in text
    assert "Positions: 8" in text
    trades = weeks_12["trades"][-1]
    pending_value = trades.loc[~trades["executed"], "value"].sum()
    assert f"Pending trades: {int((~trades['executed']).sum())} (value ${pending_value:,.2f}" in text
    assert f"Cash: ${last['cash']:,.2f}\n" in text  # nothing pending: one figure
    assert text.isascii()


def test_with_pending_trades_the_summary_gives_cash_now_and_once_they_are_executed(sample_close):
    weeks = build_weeks(sample_close, weeks=9)  # week 9 rebalances and its trades stay pending
    trades = weeks["trades"][-1]
    assert len(trades) >= 2 and not trades["executed"].any() and (trades["action"] == "SELL").any()
    text = mon.summary_text(ledger_from_weeks(weeks))
    cash = weeks["performance"][-1].iloc[0]["cash"]
    after = (cash - trades.loc[trades["action"] == "BUY", "value"].sum()
             + trades.loc[trades["action"] == "SELL", "value"].sum() - trades["est_cost"].sum())
    assert f"Cash: ${cash:,.2f} now; ${after:,.2f} once the pending trades are executed" in text


def test_a_deposit_in_cash_leaves_the_time_weighted_return_unchanged(sample_close):
    # 8 weeks, rebalances in weeks 1 and 5 only: a deposit lands before week 7 and sits in cash.
    # Up to week 7 the time-weighted return must equal that of the same ledger without it; in
    # week 8 the idle cash dilutes the return (as it should): r = V8 / V7 - 1.
    with_flow = ledger_from_weeks(build_weeks(sample_close, weeks=8, deposit_week=6))
    without = ledger_from_weeks(build_weeks(sample_close, weeks=8))
    a = mon.performance_series(with_flow)
    b = mon.performance_series(without)
    assert a["total_value"].iloc[-1] == pytest.approx(b["total_value"].iloc[-1] + 50_000.0)
    assert a["cumulative_return"].iloc[:7].tolist() == pytest.approx(b["cumulative_return"].iloc[:7].tolist(), abs=1e-12)
    assert b["cumulative_return"].iloc[6] != 0.0
    v = a["total_value"]
    assert a["period_return"].iloc[7] == pytest.approx(v.iloc[7] / v.iloc[6] - 1)


def test_as_of_filter_looks_back(ledger_12, weeks_12):
    day = weeks_12["performance"][4]["as_of"].iloc[0]
    past = mon.filter_as_of(ledger_12, day)
    assert len(mon.performance_series(past)) == 5
    assert mon.latest_run(past) == "run005"


def test_a_seed_era_ledger_with_only_the_seed_columns_still_reviews():
    # workbooks from the seed script have no run_id/as_of/benchmark columns: runs are keyed by timestamp
    ts = pd.to_datetime(["2025-10-17 18:22", "2025-10-24 18:30"])
    positions = pd.DataFrame({"timestamp": ts.repeat(2), "ticker": ["AAA", "BBB"] * 2, "weight": [0.6, 0.4, 0.5, 0.5],
                              "value": [600.0, 400.0, 550.0, 550.0], "shares": [6, 4, 5, 5],
                              "price": [100.0, 100.0, 110.0, 110.0], "factor_score": [1.0, 0.5, 1.1, 0.4]})
    trades = pd.DataFrame({"timestamp": [ts[0], ts[1]], "ticker": ["AAA", "BBB"], "action": ["BUY", "BUY"],
                           "shares": [6, 1], "price": [100.0, 110.0], "value": [600.0, 110.0], "executed": [True, False]})
    perf = pd.DataFrame({"timestamp": ts, "total_value": [1000.0, 1100.0], "num_positions": [2, 2],
                         "expected_return": [0.1, 0.1], "expected_volatility": [0.2, 0.2], "expected_sharpe": [0.5, 0.5]})
    ledger = FakeLedger(positions, trades, perf, pd.DataFrame(columns=["timestamp"]), pd.DataFrame(columns=["timestamp", "type", "amount"]))
    assert mon.current_positions(ledger)["weight"].to_dict() == {"AAA": 0.5, "BBB": 0.5}
    assert mon.performance_series(ledger)["period_return"].iloc[1] == pytest.approx(0.10)
    pending = mon.pending_trades(ledger)
    assert pending["ticker"].tolist() == ["BBB"] and pending.attrs["total_value"] == 110.0
    text = mon.summary_text(ledger)
    assert "Total value: $1,100.00" in text and "Total return: 10.00%" in text
