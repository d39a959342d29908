"""Drift and trade planning: exact values on tiny inputs and the invariants the trade list keeps."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from etftrader.config import Config
from etftrader.errors import DataError
from etftrader.holdings import Holdings
from etftrader.rebalance import current_weights, drift, plan_rebalance, plan_trades

S = pd.Series


def floor_allocator(weights, prices, total):
    """Independent, obvious allocation for exact tests: floor(weight x total / price)."""
    return np.floor(weights * total / prices.reindex(weights.index)).astype(int)


def holdings(shares: dict, cash: float) -> Holdings:
    return Holdings(shares=S(shares, dtype=float), cash=cash)


def config(**rebalance) -> Config:
    return Config().override(rebalance={"min_trade_value": 0.0, "cost_bps": 0.0, **rebalance})


def test_seed_example_drift_and_decision():
    # The seed writes "|7-5| + |3-5| + |6-5| = 4% -> No rebalancing"; the sum is 2+2+1 = 5%. Its
    # conclusion still holds: rebalancing needs drift to *exceed* the 5% threshold.
    current = S({"ABC": 0.05, "XYZ": 0.05, "DEF": 0.05})
    target = S({"ABC": 0.07, "XYZ": 0.03, "DEF": 0.06})
    assert drift(target, current) == pytest.approx(0.05)
    h = holdings({"ABC": 5.0, "XYZ": 5.0, "DEF": 5.0}, 85.0)  # 5% each of a 100 total at price 1
    plan = plan_rebalance(target, h, S({"ABC": 1.0, "XYZ": 1.0, "DEF": 1.0}), config(), optimizer="mvo",
                          allocator=floor_allocator)
    assert plan.drift == pytest.approx(0.05) and plan.threshold == 0.05 and not plan.rebalance


def test_drift_counts_tickers_leaving_and_entering_the_target():
    current = S({"OLD": 0.5, "KEEP": 0.5})
    target = S({"KEEP": 0.5, "NEW": 0.5})
    assert drift(target, current) == pytest.approx(1.0)


def test_all_cash_has_drift_one():
    w, total = current_weights(S(dtype=float), S({"A": 10.0}), 1000.0)
    assert total == 1000.0 and w.empty
    assert drift(S({"A": 0.6, "B": 0.4}), w) == pytest.approx(1.0)


def test_current_weights_include_cash_in_the_total():
    w, total = current_weights(S({"A": 10.0}), S({"A": 50.0, "B": 1.0}), 500.0)
    assert total == 1000.0 and w.to_dict() == {"A": 0.5}


def test_a_held_ticker_without_price_is_a_clear_error():
    with pytest.raises(DataError, match="no price for held ticker\\(s\\) ZZZ"):
        current_weights(S({"ZZZ": 1.0}), S({"A": 1.0}), 0.0)


def test_plan_trades_exact_values_with_costs():
    trades, skipped, after, cash = plan_trades(
        S({"A": 4.0, "B": 5.0}), S({"A": 10.0}), S({"A": 100.0, "B": 50.0}), 0.0,
        min_trade_value=0.0, cost_bps=10.0, cost_per_share=0.01)
    assert trades[["ticker", "action", "shares", "price", "value"]].values.tolist() == [
        ["A", "SELL", 6.0, 100.0, 600.0], ["B", "BUY", 5.0, 50.0, 250.0]]
    assert trades["est_cost"].tolist() == pytest.approx([0.6 + 0.06, 0.25 + 0.05])
    assert cash == pytest.approx(600 - 250 - 0.96)
    assert after.to_dict() == {"A": 4.0, "B": 5.0}
    assert skipped.empty


def test_buys_are_scaled_back_pro_rata_to_the_cash_there_is():
    trades, skipped, after, cash = plan_trades(
        S({"A": 8.0, "B": 6.0}), S(dtype=float), S({"A": 100.0, "B": 50.0}), 1000.0,
        min_trade_value=0.0, cost_bps=0.0, cost_per_share=0.0)
    # needed 1100 for 1000 cash: factor 10/11 -> floor(7.27)=7 A, floor(5.45)=5 B
    assert trades[["ticker", "shares"]].values.tolist() == [["A", 7.0], ["B", 5.0]]
    assert cash == pytest.approx(50.0)
    assert skipped[["ticker", "shares"]].values.tolist() == [["A", 1.0], ["B", 1.0]]
    assert skipped["reason"].str.contains("scaled back").all()


def test_small_trades_are_skipped_and_reported():
    trades, skipped, after, cash = plan_trades(
        S({"A": 12.0, "B": 30.0}), S({"A": 10.0}), S({"A": 100.0, "B": 20.0}), 1000.0,
        min_trade_value=500.0, cost_bps=0.0, cost_per_share=0.0)
    assert trades[["ticker", "action", "shares"]].values.tolist() == [["B", "BUY", 30.0]]
    assert skipped[["ticker", "action", "shares", "value"]].values.tolist() == [["A", "BUY", 2.0, 200.0]]
    assert "below min_trade_value 500.00" in skipped["reason"].iloc[0]
    assert after.to_dict() == {"A": 10.0, "B": 30.0}
    assert cash == pytest.approx(400.0)


def test_fractional_holdings_are_sold_out_whole():
    trades, _, after, cash = plan_trades(S(dtype=float), S({"A": 10.5}), S({"A": 10.0}), 0.0,
                                         min_trade_value=0.0, cost_bps=0.0, cost_per_share=0.0)
    assert trades[["action", "shares", "value"]].values.tolist() == [["SELL", 10.5, 105.0]]
    assert after.empty and cash == pytest.approx(105.0)


def test_plan_rebalance_first_run_buys_the_target_with_a_cost_reserve():
    cfg = config(cost_bps=10.0)
    plan = plan_rebalance(S({"A": 0.5, "B": 0.5}), Holdings.all_cash(10_000.0), S({"A": 100.0, "B": 30.0}),
                          cfg, optimizer="mvo", allocator=floor_allocator)
    assert plan.drift == pytest.approx(1.0) and plan.rebalance and not plan.forced
    assert plan.threshold == 0.05
    # reserve = 10 bps x drift 1.0 x 10,000 = 10 -> 9,990 investable -> floor(4995/100)=49, floor(4995/30)=166
    assert plan.investable == pytest.approx(9990.0)
    assert plan.target_shares.to_dict() == {"A": 49.0, "B": 166.0}
    assert plan.trades["action"].tolist() == ["BUY", "BUY"]
    spent = 4900 + 166 * 30
    assert plan.cash_after == pytest.approx(10_000 - spent - spent * 10 / 1e4)
    assert plan.cash_after >= 0


def test_plan_rebalance_below_threshold_proposes_nothing():
    h = holdings({"A": 50.0, "B": 50.0}, 0.0)
    prices = S({"A": 10.0, "B": 10.0})
    plan = plan_rebalance(S({"A": 0.52, "B": 0.48}), h, prices, config(), optimizer="minvar",
                          allocator=floor_allocator)
    assert plan.drift == pytest.approx(0.04) and plan.threshold == 0.075
    assert not plan.rebalance and plan.trades.empty
    assert plan.shares_after.to_dict() == {"A": 50.0, "B": 50.0}
    assert plan.cash_after == 0.0
    forced = plan_rebalance(S({"A": 0.52, "B": 0.48}), h, prices, config(no_trade_band=0.0), optimizer="minvar",
                            force=True, allocator=floor_allocator)
    assert forced.rebalance and forced.forced
    assert forced.trades[["ticker", "action", "shares"]].values.tolist() == [["B", "SELL", 2.0], ["A", "BUY", 2.0]]


def test_drift_override_wins_over_the_per_optimizer_threshold():
    h = holdings({"A": 50.0, "B": 50.0}, 0.0)
    plan = plan_rebalance(S({"A": 0.52, "B": 0.48}), h, S({"A": 10.0, "B": 10.0}),
                          config(drift_override=0.03, no_trade_band=0.0), optimizer="minvar", allocator=floor_allocator)
    assert plan.threshold == 0.03 and plan.rebalance


@pytest.mark.parametrize("seed", range(25))
def test_trade_list_invariants_on_random_books(seed):
    rng = np.random.default_rng(seed)
    tickers = [f"T{i:02d}" for i in range(12)]
    prices = S(rng.uniform(5, 400, len(tickers)), index=tickers)
    held = S(rng.integers(0, 60, len(tickers)).astype(float), index=tickers)
    held = held[rng.random(len(tickers)) < 0.6]
    held = held[held > 0]
    chosen = list(rng.choice(tickers, size=6, replace=False))
    weights = S(rng.dirichlet(np.ones(6)), index=sorted(chosen))
    cash = float(rng.uniform(0, 5000))
    cfg = config(min_trade_value=float(rng.choice([0.0, 250.0])), cost_bps=float(rng.uniform(0, 30)),
                 cost_per_share=float(rng.choice([0.0, 0.005])))
    plan = plan_rebalance(weights, holdings(held.to_dict(), cash), prices, cfg, optimizer="mvo",
                          force=True, allocator=floor_allocator)
    t = plan.trades
    actions = t["action"].tolist()
    assert actions == sorted(actions, key=lambda a: a != "SELL"), "sells before buys"
    assert (t["shares"] > 0).all()
    assert (t.loc[t.action == "BUY", "shares"] % 1 == 0).all(), "whole-share buys"
    sold = t[t.action == "SELL"].set_index("ticker")["shares"]
    assert (sold <= held.reindex(sold.index)).all(), "never sell more than is held"
    assert (plan.shares_after >= 0).all()
    assert plan.cash_after >= -1e-9, "never spend more cash than there is"
    assert (t["value"] >= cfg.rebalance.min_trade_value).all()
    assert t["value"].tolist() == pytest.approx((t["shares"] * t["price"]).tolist())
    assert t["est_cost"].tolist() == pytest.approx(
        (cfg.rebalance.cost_bps * t["value"] / 1e4 + cfg.rebalance.cost_per_share * t["shares"]).tolist())
    # Cash and shares add up: before + trades = after.
    flows = np.where(t["action"] == "SELL", t["value"], -t["value"]).sum() - t["est_cost"].sum()
    assert plan.cash_after == pytest.approx(cash + flows)
    book = held.reindex(held.index.union(plan.shares_after.index).union(t["ticker"]), fill_value=0.0)
    for r in t.itertuples():
        book[r.ticker] += r.shares if r.action == "BUY" else -r.shares
    assert book[book > 1e-9].to_dict() == pytest.approx(plan.shares_after.to_dict())


@pytest.mark.parametrize("seed", range(10))
def test_a_plan_given_the_current_weights_is_the_plan_that_computes_them(seed):
    """The week step hands plan_rebalance the current weights it already has: the plan is the
    same, float for float, as one that works them out itself."""
    rng = np.random.default_rng(100 + seed)
    tickers = [f"T{i:02d}" for i in range(12)]
    prices = S(rng.uniform(5, 400, len(tickers)), index=tickers)
    held = S(rng.integers(0, 60, len(tickers)).astype(float), index=tickers)
    held = held[(rng.random(len(tickers)) < 0.6) & (held > 0)]
    weights = S(rng.dirichlet(np.ones(6)), index=sorted(rng.choice(tickers, size=6, replace=False)))
    book = holdings(held.to_dict(), float(rng.uniform(0, 5000)))
    cfg = config(no_trade_band=float(rng.choice([0.0, 0.2])))
    force = bool(seed % 2)
    plans = [plan_rebalance(weights, book, prices, cfg, optimizer="mvo", force=force, allocator=floor_allocator,
                            current=given)
             for given in (None, current_weights(book.shares, prices, book.cash))]
    a, b = plans
    assert (a.drift, a.drift_outside_band, a.rebalance, a.total_value, a.investable, a.cash_after) == \
        (b.drift, b.drift_outside_band, b.rebalance, b.total_value, b.investable, b.cash_after)
    pd.testing.assert_series_equal(a.current_weights, b.current_weights, check_exact=True)
    pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=True)
    pd.testing.assert_series_equal(a.shares_after, b.shares_after, check_exact=True)


def test_prices_today_values_held_tickers_the_quality_step_dropped():
    from etftrader.pipeline import prices_today

    idx = pd.date_range("2021-03-01", periods=3, freq="D", name="date")
    close = pd.DataFrame({"A": [10.0, 11.0, 12.0], "GONE": [5.0, 6.0, np.nan]}, index=idx)
    clean = close[["A"]]
    h = Holdings(shares=S({"GONE": 3.0, "OLD": 2.0}), cash=0.0, last_price=S({"GONE": 4.0, "OLD": 7.5}))
    warnings: list[str] = []
    px = prices_today(close, clean, h, warnings, pd.DataFrame({"ticker": ["GONE"], "reason": ["stale"]}))
    assert px.to_dict() == {"A": 12.0, "GONE": 6.0, "OLD": 7.5}
    assert "GONE is out of the universe this week (stale); valued at its last price 6.00 of 2021-03-02" in warnings[0]
    assert "OLD has no market price" in warnings[1] and "last trade price 7.50" in warnings[1]


def test_plan_rebalance_with_the_real_allocator_on_sample_prices(sample_close):
    """Default allocator (PyPortfolioOpt DiscreteAllocation via optimizers) on real prices."""
    prices = sample_close.loc[:"2021-03-05"].iloc[-1]
    weights = S({"AAPL": 0.3, "MTUM": 0.25, "QUAL": 0.25, "KO": 0.2})
    h = holdings({"AAPL": 100.0, "XOM": 500.0}, 20_000.0)
    no_band = Config().override(rebalance={"no_trade_band": 0.0})  # the band has its own tests
    plan = plan_rebalance(weights, h, prices, no_band, optimizer="mvo", force=True)
    assert plan.trades.iloc[0]["ticker"] == "XOM" and plan.trades.iloc[0]["action"] == "SELL"
    assert plan.trades.iloc[0]["shares"] == 500.0  # leaving the target: sold out
    assert plan.cash_after >= 0
    assert set(plan.shares_after.index) == set(weights.index)
    after_w = plan.shares_after * prices[plan.shares_after.index] / plan.total_value
    assert drift(weights, after_w) < 0.02  # whole shares land close to the target
    # The allocation is PyPortfolioOpt's, sized for total value less the cost reserve.
    from optimizers import allocate_shares

    expected = allocate_shares(weights, prices[weights.index], plan.investable)
    assert plan.target_shares.to_dict() == expected[expected > 0].astype(float).to_dict()


def test_a_plan_without_trades_can_be_changed_without_touching_the_next_one():
    """The empty trade and skipped lists of a week that does not trade share one template; what a
    caller does to one plan's frames must not reach the next plan's."""
    target = S({"ABC": 0.5, "XYZ": 0.5})
    h = holdings({"ABC": 50.0, "XYZ": 50.0}, 0.0)
    prices = S({"ABC": 1.0, "XYZ": 1.0})
    first = plan_rebalance(target, h, prices, config(), optimizer="mvo")
    assert not first.rebalance and first.trades.empty and first.skipped.empty
    first.trades.loc[0] = ["ABC", "BUY", 1.0, 1.0, 1.0, 0.0]
    first.trades["est_cost"] += 5.0
    first.skipped["note"] = "changed"
    second = plan_rebalance(target, h, prices, config(), optimizer="mvo")
    assert second.trades.empty and list(second.trades.columns) == ["ticker", "action", "shares", "price", "value",
                                                                   "est_cost"]
    assert "note" not in second.skipped.columns and second.total_cost == 0.0


@pytest.mark.parametrize("order", [["XYZ", "ABC", "DEF"], ["ABC", "DEF", "XYZ"]])
def test_drift_sums_in_the_order_pandas_aligns(order):
    """drift on plain values is the Series arithmetic's own float, whatever the label order."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        target = S(rng.dirichlet(np.ones(3)), index=order)
        current = S(rng.dirichlet(np.ones(4)) * 0.9, index=["DEF", "ABC", "QQQ", "XYZ"])
        for a, b in ((target, current), (target, target[::-1]), (target, target), (target.iloc[:0], current)):
            union = a.index.union(b.index)
            want = float((a.reindex(union, fill_value=0.0) - b.reindex(union, fill_value=0.0)).abs().sum())
            assert drift(a, b) == want


def test_a_ticker_twice_in_the_prices_or_holdings_is_an_error_not_a_silent_pick():
    target = S({"ABC": 0.5, "XYZ": 0.5})
    twice = S([1.0, 2.0, 1.0], index=["ABC", "ABC", "XYZ"])
    with pytest.raises(ValueError, match="duplicate labels.*ABC"):
        plan_rebalance(target, holdings({"ABC": 50.0, "XYZ": 50.0}, 0.0), twice, config(), optimizer="mvo")
    doubled = Holdings(shares=S([5.0, 5.0], index=["ABC", "ABC"]), cash=0.0)
    with pytest.raises(ValueError, match="duplicate labels.*ABC"):
        plan_rebalance(target, doubled, S({"ABC": 1.0, "XYZ": 1.0}), config(), optimizer="mvo")


def test_nullable_weights_with_a_missing_value_count_as_no_weight():
    target = pd.Series([0.5, 0.5, pd.NA], index=["ABC", "XYZ", "DEF"], dtype="Float64")
    h = holdings({"ABC": 50.0, "XYZ": 50.0}, 0.0)
    plan = plan_rebalance(target, h, S({"ABC": 1.0, "XYZ": 1.0, "DEF": 1.0}), config(), optimizer="mvo")
    assert plan.drift == 0.0 and not plan.rebalance


@pytest.mark.parametrize("seed", range(8))
def test_a_plan_is_the_same_whatever_order_or_extra_tickers_the_prices_come_in(seed):
    """Prices in the target's own order are read as they are (a book holding its whole universe):
    the weights and plan are those of the same prices by ticker in any other order or with more
    tickers, float for float."""
    rng = np.random.default_rng(300 + seed)
    tickers = [f"T{i:02d}" for i in range(40)]
    prices = S(rng.uniform(5, 400, len(tickers)), index=tickers)
    weights = S(np.full(len(tickers), 1 / len(tickers)), index=tickers)
    book = holdings({t: float(rng.integers(1, 80)) for t in tickers}, float(rng.uniform(0, 5000)))
    cfg = config(no_trade_band=float(rng.choice([0.0, 0.3])), cost_bps=3.0)
    shuffled = prices.iloc[rng.permutation(len(tickers))]
    wider = pd.concat([prices, S([50.0, 60.0], index=["ZZ1", "ZZ2"])])
    forced = bool(seed % 2)
    results = []
    for given in (prices, shuffled, wider):
        current = current_weights(book.shares, given, book.cash)
        plan = plan_rebalance(weights, book, given, cfg, optimizer="mvo", force=forced, allocator=floor_allocator)
        results.append((current, plan))
    (c0, p0), *others = results
    for c, p in others:
        pd.testing.assert_series_equal(c[0], c0[0], check_exact=True)
        assert c[1] == c0[1]
        assert (p.drift, p.drift_outside_band, p.rebalance, p.total_value, p.investable, p.cash_after) == \
            (p0.drift, p0.drift_outside_band, p0.rebalance, p0.total_value, p0.investable, p0.cash_after)
        pd.testing.assert_frame_equal(p.trades, p0.trades, check_exact=True)
    bad = prices.copy()
    bad.iloc[3] = 0.0  # a target ticker without a price: the same error by either path
    with pytest.raises(DataError, match="T03"):
        plan_rebalance(weights, holdings({}, 1000.0), bad, cfg, optimizer="mvo", allocator=floor_allocator)
