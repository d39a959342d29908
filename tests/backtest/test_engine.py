"""The walk-forward engine on the bundled real sample: same steps as weekly, no look-ahead, costs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from etftrader.backtest import EQUAL_WEIGHT, earliest_start, rebalance_dates, run_backtest
from etftrader.config import Config
from etftrader.errors import ConfigError
from etftrader.metrics import performance_metrics
from etftrader.prices import SAMPLE_BENCHMARK_LABEL

POSITIONS = 5  # as in conftest.py


# --------------------------------------------------------------------------- schedule


def test_decision_day_is_the_last_trading_day_of_each_week():
    # 2021-04-02 was Good Friday (no trading): that week decides on Thursday 2021-04-01.
    days = pd.bdate_range("2021-03-29", "2021-04-16").drop(pd.Timestamp("2021-04-02"))
    got = rebalance_dates(days)
    assert list(got) == [pd.Timestamp("2021-04-01"), pd.Timestamp("2021-04-09"), pd.Timestamp("2021-04-16")]
    # a week cut by `end` decides on its last day <= end; start drops earlier weeks
    got = rebalance_dates(days, start=pd.Timestamp("2021-04-05"), end=pd.Timestamp("2021-04-14"))
    assert list(got) == [pd.Timestamp("2021-04-09"), pd.Timestamp("2021-04-14")]


def test_earliest_start_needs_the_factor_lookbacks(sample_data):
    config = Config()
    first = earliest_start(sample_data.close.index, config)
    assert first == sample_data.close.index[config.factors.min_history - 1]
    assert earliest_start(sample_data.close.index[:100], config) is None


# --------------------------------------------------------------------------- the weekly steps


def test_targets_equal_build_target_on_the_same_data(short_run, sample_data, sample_config):
    """The first week's target (all cash) is what build_target gives on the prices up to that day.

    Later weeks depend on what each book holds (the selection buffer and the turnover penalty);
    test_turnover.py replays the weekly command week by week against the backtest for those.
    """
    from etftrader.pipeline import build_target
    from etftrader.prices import check_quality

    days = short_run.schedule[[0]]
    for day in days:
        truncated = dataclasses.replace(sample_data, close=sample_data.close.loc[:day],
                                        benchmark=sample_data.benchmark.loc[:day])
        quality = check_quality(truncated, sample_config.data,
                                min_history=sample_config.factors.min_history, as_of=day.date())
        for optimizer in ("mvo", "minvar", "rankbased"):
            want = build_target(quality.prices, sample_config, positions=POSITIONS, optimizer=optimizer)
            got = short_run.targets.query("strategy == @optimizer and date == @day").set_index("ticker")["weight"]
            pd.testing.assert_series_equal(got.sort_index(), want.result.weights.sort_index(),
                                           check_names=False, rtol=0, atol=1e-12)
        ew = short_run.targets.query("strategy == @EQUAL_WEIGHT and date == @day")
        assert sorted(ew["ticker"]) == sorted(quality.kept)
        assert np.allclose(ew["weight"], 1 / len(quality.kept))


def test_build_target_with_precomputed_scores_is_the_same_target(sample_data, sample_config):
    """The backtest scores each week once and passes ``scores=`` to every optimizer: same result."""
    from etftrader.pipeline import build_target, score_prices
    from etftrader.prices import check_quality

    day = pd.Timestamp("2021-06-30")
    truncated = dataclasses.replace(sample_data, close=sample_data.close.loc[:day],
                                    benchmark=sample_data.benchmark.loc[:day])
    quality = check_quality(truncated, sample_config.data,
                            min_history=sample_config.factors.min_history, as_of=day.date())
    scores = score_prices(quality.prices, sample_config)
    for optimizer in ("mvo", "minvar", "rankbased"):
        fresh = build_target(quality.prices, sample_config, positions=POSITIONS, optimizer=optimizer)
        shared = build_target(quality.prices, sample_config, positions=POSITIONS, optimizer=optimizer,
                              scores=scores)
        pd.testing.assert_frame_equal(shared.scores, fresh.scores, check_exact=True)
        assert shared.selected == fresh.selected
        pd.testing.assert_series_equal(shared.weights, fresh.weights, check_exact=True)
        assert (shared.result.expected_return, shared.result.method, shared.notes) == \
               (fresh.result.expected_return, fresh.result.method, fresh.notes)


def test_books_balance_every_week(short_run, sample_config):
    """Cash only moves by trades and their costs; the equity curve agrees with the book."""
    capital = sample_config.portfolio.capital
    trades = short_run.trades
    for name in short_run.strategies:
        mine = trades[trades["strategy"] == name]
        signed = np.where(mine["action"] == "BUY", -1.0, 1.0) * mine["value"]
        last = short_run.decisions[short_run.decisions["strategy"] == name].iloc[-1]
        assert last["cash"] == pytest.approx(capital + signed.sum() - mine["cost"].sum(), rel=1e-9)
        assert (last["cash"] >= -1e-6), "never spends cash it does not have"
        decided = short_run.decisions[short_run.decisions["strategy"] == name].set_index("date")["value"]
        assert np.allclose(short_run.equity.loc[decided.index, name], decided, rtol=1e-10)
        # the first week buys from all cash: only the costs separate the value from the capital
        first_costs = mine.loc[mine["date"] == short_run.schedule[0], "cost"].sum()
        assert first_costs > 0
        assert short_run.equity[name].iloc[0] == pytest.approx(capital - first_costs, rel=1e-9)
    # whole shares only, and a holding is never sold below zero (checked by the pipeline too)
    assert (trades["shares"] == trades["shares"].round()).all()


def test_equity_and_metrics_are_keyed_by_the_same_series(short_run, window):
    expected = ["mvo", "minvar", "rankbased", EQUAL_WEIGHT, SAMPLE_BENCHMARK_LABEL]
    assert list(short_run.equity.columns) == expected
    assert list(short_run.metrics) == expected
    assert short_run.equity.index[0] == short_run.schedule[0]
    assert short_run.equity.index[-1] <= window[1]
    for name in expected:
        # 14 weeks: every series carries the "not meaningful" mark besides its figures
        assert short_run.metrics[name]["annualised_figures"].startswith(f"not meaningful: {len(short_run.schedule)} weekly decisions")
        figures = {k: v for k, v in short_run.metrics[name].items() if k not in ("annualised_figures", "fill")}
        assert figures == pytest.approx(
            performance_metrics(short_run.equity[name], traded_value=short_run.trades.loc[
                short_run.trades["strategy"] == name, "value"].sum(), costs=short_run.trades.loc[
                short_run.trades["strategy"] == name, "cost"].sum()), nan_ok=True)


def test_benchmark_is_buy_and_hold_of_the_labelled_index(short_run, sample_data, sample_config):
    index = sample_data.benchmark.reindex(short_run.equity.index)
    want = sample_config.portfolio.capital * index / index.iloc[0]
    assert np.allclose(short_run.equity[SAMPLE_BENCHMARK_LABEL], want, rtol=1e-12)
    assert short_run.metrics[SAMPLE_BENCHMARK_LABEL]["costs"] == 0.0


# --------------------------------------------------------------------------- no look-ahead


def test_changing_prices_after_a_date_changes_nothing_decided_up_to_it(sample_data, sample_config):
    start, end, cutoff = pd.Timestamp("2021-06-01"), pd.Timestamp("2021-08-13"), pd.Timestamp("2021-07-09")
    rng = np.random.default_rng(7)
    close = sample_data.close.copy()
    after = close.index > cutoff
    close.loc[after] = close.loc[after] * rng.uniform(0.5, 1.5, size=(int(after.sum()), close.shape[1]))
    bench = sample_data.benchmark.copy()
    bench.loc[bench.index > cutoff] *= 0.7
    changed = dataclasses.replace(sample_data, close=close, benchmark=bench)

    runs = [run_backtest(d, sample_config, optimizers="mvo", start=start, end=end, positions=POSITIONS)
            for d in (sample_data, changed)]
    before = [r.equity.loc[:cutoff] for r in runs]
    pd.testing.assert_frame_equal(before[0], before[1], check_exact=True)
    trades = [r.trades[r.trades["date"] <= cutoff].reset_index(drop=True) for r in runs]
    pd.testing.assert_frame_equal(trades[0], trades[1], check_exact=True)
    targets = [r.targets[r.targets["date"] <= cutoff].reset_index(drop=True) for r in runs]
    pd.testing.assert_frame_equal(targets[0], targets[1], check_exact=True)
    # ...and the change is visible afterwards, so the comparison above is not vacuous
    assert not runs[0].equity.loc[cutoff:].iloc[1:].equals(runs[1].equity.loc[cutoff:].iloc[1:])


# --------------------------------------------------------------------------- costs


@pytest.fixture(scope="module")
def cost_runs(sample_data, sample_config):
    def run(bps, per_share=0.0):
        config = sample_config.override(rebalance={"cost_bps": bps, "cost_per_share": per_share})
        return run_backtest(sample_data, config, optimizers="rankbased", start=pd.Timestamp("2021-06-01"),
                            end=pd.Timestamp("2021-07-16"), positions=POSITIONS)
    return {"zero": run(0.0), "base": run(5.0), "double": run(10.0), "per_share": run(0.0, 0.01)}


def test_zero_cost_pays_nothing(cost_runs):
    r = cost_runs["zero"]
    assert len(r.trades) > 0
    assert (r.trades["cost"] == 0).all()
    assert all(r.metrics[s]["costs"] == 0 for s in r.strategies)


def test_doubling_cost_bps_raises_costs_paid(cost_runs):
    for name in cost_runs["base"].strategies:
        base, double = cost_runs["base"].metrics[name]["costs"], cost_runs["double"].metrics[name]["costs"]
        assert base > 0
        assert double > 1.5 * base
        assert cost_runs["double"].equity[name].iloc[-1] < cost_runs["zero"].equity[name].iloc[-1]


def test_cost_is_bps_of_value_plus_per_share(cost_runs):
    t = cost_runs["base"].trades
    assert np.allclose(t["cost"], 5.0 * t["value"] / 1e4)
    t = cost_runs["per_share"].trades
    assert np.allclose(t["cost"], 0.01 * t["shares"])


# --------------------------------------------------------------------------- bad inputs


def test_start_after_end_is_a_config_error(sample_data, sample_config):
    with pytest.raises(ConfigError, match="after --end"):
        run_backtest(sample_data, sample_config, start=pd.Timestamp("2021-06-01"), end=pd.Timestamp("2021-01-01"))


def test_start_before_the_lookbacks_names_the_earliest_possible_start(sample_data, sample_config):
    first = earliest_start(sample_data.close.index, sample_config)
    with pytest.raises(ConfigError, match=f"earliest possible start with these prices is {first.date()}"):
        run_backtest(sample_data, sample_config, start=pd.Timestamp("1990-03-01"), end=pd.Timestamp("1992-01-01"))


def test_unknown_optimizer_lists_the_valid_ones(sample_data, sample_config):
    with pytest.raises(ConfigError, match="mvo, minvar, rankbased, hrp, riskparity, cvar, blacklitterman, barbell, all.*'maxsharpe'"):
        run_backtest(sample_data, sample_config, optimizers="maxsharpe")


# --------------------------------------------------------------------------- processes


def test_strategies_in_two_processes_give_the_same_result(short_run, sample_data, sample_config, window):
    parallel = run_backtest(sample_data, sample_config, optimizers="mvo,minvar,rankbased", start=window[0], end=window[1],
                            positions=POSITIONS, workers=2, fill="same_close")
    pd.testing.assert_frame_equal(parallel.equity, short_run.equity, check_exact=True)
    for name in ("trades", "decisions", "targets"):
        pd.testing.assert_frame_equal(getattr(parallel, name), getattr(short_run, name), check_exact=True)
    assert parallel.metrics == short_run.metrics
    assert parallel.timings["workers"] == 2


def test_auto_workers_keep_a_run_too_short_to_repay_processes_in_this_process(sample_data, sample_config):
    # 730 strategy-weeks on 25 tickers: a few seconds, less than starting a process costs
    result = run_backtest(sample_data, sample_config, optimizers="rankbased", start=pd.Timestamp("2016-01-01"),
                          end=pd.Timestamp("2022-12-31"), positions=POSITIONS, workers="auto")
    assert len(result.schedule) * len(result.strategies) > 700
    assert result.timings["workers"] == 1


def test_auto_workers_spread_a_run_estimated_long(short_run, sample_data, sample_config, window, monkeypatch):
    import etftrader.backtest.engine as engine

    monkeypatch.setattr(engine, "STEP_SECONDS", (1.0, 0.0))  # every strategy-week estimated at a second
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 2)  # whatever machine runs the test
    spread = run_backtest(sample_data, sample_config, optimizers="mvo,minvar,rankbased", start=window[0],
                          end=window[1], positions=POSITIONS, workers="auto", fill="same_close")
    assert spread.timings["workers"] == 2
    pd.testing.assert_frame_equal(spread.trades, short_run.trades, check_exact=True)


def test_workers_below_one_is_a_config_error(sample_data, sample_config, window):
    with pytest.raises(ConfigError, match="`workers` must be at least 1, got 0"):
        run_backtest(sample_data, sample_config, start=window[0], end=window[1], workers=0)


def test_default_window_is_the_last_ten_years_the_history_allows(sample_data, sample_config):
    from etftrader.backtest import backtest_window

    index = sample_data.close.index
    start, end = backtest_window(index, sample_config, None, pd.Timestamp("2022-12-28"))
    assert start == pd.Timestamp("2012-12-28")
    first = earliest_start(index, sample_config)
    start, _ = backtest_window(index, sample_config, None, pd.Timestamp("1995-06-30"))
    assert start == first


def test_weeks_with_fewer_usable_tickers_than_positions_are_noted(sample_data, sample_config):
    r = run_backtest(sample_data, sample_config, optimizers="rankbased", start=pd.Timestamp("2021-06-01"),
                     end=pd.Timestamp("2021-06-18"), positions=40)
    rank = r.decisions[r.decisions["strategy"] == "rankbased"]
    assert rank["note"].str.contains("more than the usable universe of 25").all()
    assert any(n.startswith("rankbased: 3 of 3 weeks carry a note") for n in r.notes)
    assert r.targets.query("strategy == 'rankbased'").groupby("date").size().eq(25).all()


def test_a_bad_print_is_not_a_price_for_the_daily_valuation(sample_data, sample_config):
    close = sample_data.close.copy()
    bad_day = pd.Timestamp("2021-06-15")  # a Tuesday between two decisions
    close.loc[bad_day, :] = np.inf
    close.loc[pd.Timestamp("2021-06-16"), :] = 0.0
    broken = dataclasses.replace(sample_data, close=close)
    r = run_backtest(broken, sample_config, optimizers="rankbased", start=pd.Timestamp("2021-06-01"),
                     end=pd.Timestamp("2021-06-18"), positions=POSITIONS)
    values = r.equity["rankbased"]
    assert np.isfinite(values).all()
    # the bad days carry the last good value (the positions did not change in between)
    assert values[bad_day] == values[pd.Timestamp("2021-06-14")]
    assert values[pd.Timestamp("2021-06-16")] == values[pd.Timestamp("2021-06-14")]


def test_decisions_record_the_optimizers_expectations(short_run):
    from etftrader.backtest import expected_vs_realised
    from etftrader.metrics import metrics_table

    d = short_run.decisions
    assert d.loc[d["strategy"] != EQUAL_WEIGHT, "expected_volatility"].gt(0).all()
    assert d.loc[d["strategy"] == EQUAL_WEIGHT, "expected_return"].isna().all()
    table = expected_vs_realised(d, metrics_table(short_run.metrics))
    assert list(table.index) == ["mvo", "minvar", "rankbased"]
    mvo = d[d["strategy"] == "mvo"]
    assert table.loc["mvo", "expected_sharpe"] == pytest.approx(mvo["expected_sharpe"].mean())
    assert table.loc["mvo", "realised_sharpe"] == pytest.approx(short_run.metrics["mvo"]["sharpe"])


def test_optimizer_choices():
    from etftrader.backtest import parse_optimizers

    assert parse_optimizers("all") == ("mvo", "minvar", "rankbased", "hrp", "riskparity", "cvar", "blacklitterman",
                                       "barbell")
    assert parse_optimizers("minvar, mvo") == ("minvar", "mvo")
    assert parse_optimizers(["rankbased", "rankbased"]) == ("rankbased",)
    with pytest.raises(ConfigError, match="got 'all'"):
        parse_optimizers("mvo,all")


def test_report_helpers_on_the_short_run(short_run):
    from etftrader.backtest import activity_table, latest_targets, yearly_returns

    latest = latest_targets(short_run.targets)
    assert list(latest.columns) == sorted(short_run.strategies)
    assert np.allclose(latest.sum(), 1.0)
    activity = activity_table(short_run.decisions)
    assert activity.loc["mvo", "weeks"] == len(short_run.schedule)
    assert activity["costs"].sum() == pytest.approx(short_run.trades["cost"].sum(), abs=0.05)
    years = yearly_returns(short_run.equity)
    first, last = short_run.equity.iloc[0], short_run.equity.iloc[-1]
    assert np.allclose(years.loc[2021], last / first - 1)


def test_week_prices_are_the_last_forward_filled_row(sample_data):
    """The week's prices are each ticker's last close (``frame.ffill().iloc[-1]``), however many
    days a ticker has been missing, on real closes with seeded random gaps, also at the end."""
    from etftrader.holdings import Holdings
    from etftrader.target import prices_today

    rng = np.random.default_rng(5)
    close = sample_data.close.loc["2019-01-01":"2019-12-31"]
    nobody = Holdings.all_cash(0.0)
    dropped = pd.DataFrame(columns=["ticker", "reason"])
    for share in (0.0, 0.1, 0.5, 0.95):
        gappy = close.mask(rng.random(close.shape) < share)
        for rows in (1, 2, 30, len(gappy)):
            part = gappy.iloc[:rows]
            expected = part.ffill().iloc[-1].dropna().sort_index()
            got = prices_today(part, part, nobody, [], dropped)
            pd.testing.assert_series_equal(got, expected[expected > 0], check_exact=True, check_names=False)


@pytest.fixture(scope="module")
def next_close_run(sample_data, sample_config):
    from etftrader.backtest import run_backtest

    return run_backtest(sample_data, sample_config, optimizers="mvo", start=pd.Timestamp("2021-06-01"),
                        end=pd.Timestamp("2021-08-31"), positions=POSITIONS)


def test_next_close_is_the_default_fill_and_it_fills_at_the_next_days_close(next_close_run, sample_data):
    assert next_close_run.settings["fill"] == "next_close"
    assert next_close_run.metrics["mvo"]["fill"] == "next_close"
    trades = next_close_run.trades
    index = sample_data.close.index
    for r in trades.head(20).itertuples():
        fill_day = index[index.get_loc(r.date) + 1]
        assert r.price == pytest.approx(sample_data.close.loc[fill_day, r.ticker], rel=1e-12)
    # the decisions differ from the same-close run only through what the fills left in the book
    decisions = next_close_run.decisions.query("strategy == 'mvo'")
    assert (decisions["cash"] >= -1e-9).all()


def test_next_close_books_balance_and_cash_never_goes_negative(next_close_run, sample_config):
    capital = sample_config.portfolio.capital
    for name in next_close_run.strategies:
        mine = next_close_run.trades.query("strategy == @name")
        signed = np.where(mine["action"] == "BUY", -1.0, 1.0) * mine["value"]
        last = next_close_run.decisions.query("strategy == @name").iloc[-1]
        assert last["cash"] == pytest.approx(capital + signed.sum() - mine["cost"].sum(), rel=1e-9)
        assert (next_close_run.decisions.query("strategy == @name")["cash"] >= -1e-9).all()
        assert next_close_run.equity[name].iloc[0] == pytest.approx(capital)  # nothing bought on day one
    assert any("last decision's trades are not filled" in n for n in next_close_run.notes) or \
        next_close_run.decisions.query("date == @next_close_run.schedule[-1]")["trades"].eq(0).all()


def test_a_held_ticker_the_quality_step_sets_aside_is_valued_with_its_reason(sample_data, sample_config, caplog):
    # XOM's price frozen for three weeks from 2021-06-21 (a stale feed): the quality step drops it
    # ("price unchanged ..."), while the equal-weight book still holds it. The week values it at
    # its last raw price and says why it is out of the universe, with the quality step's reason
    # (the reasons are formatted only for such a week).
    import logging

    close = sample_data.close.copy()
    frozen = (close.index >= "2021-06-21") & (close.index <= "2021-07-12")
    close.loc[frozen, "XOM"] = close.loc[close.index < "2021-06-21", "XOM"].iloc[-1]
    stale = dataclasses.replace(sample_data, close=close)
    with caplog.at_level(logging.INFO, logger="etftrader"):
        result = run_backtest(stale, sample_config, optimizers="mvo", start=pd.Timestamp("2021-06-01"),
                              end=pd.Timestamp("2021-07-16"), positions=POSITIONS)
    said = [r.getMessage() for r in caplog.records if "held ticker XOM is out of the universe" in r.getMessage()]
    assert said and all("price unchanged for" in m and "trading days in a row" in m for m in said), said
    assert all(m.startswith(EQUAL_WEIGHT) for m in said)
    held = result.targets[(result.targets["strategy"] == EQUAL_WEIGHT) & (result.targets["ticker"] == "XOM")]
    assert pd.Timestamp("2021-07-09") not in set(held["date"])  # not in that week's 1/N target
