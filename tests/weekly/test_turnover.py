"""Turnover controls (issue 11): selection buffer, turnover penalty, no-trade band, one week step.

Edges on tiny hand-built cases; the penalty against an independent cvxpy solve of the same problem
on the bundled sample; and the weekly command replayed week by week against the backtest, to the
share, with every control on.
"""

from __future__ import annotations

import json

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

from etftrader.config import Config
from etftrader.holdings import Holdings
from etftrader.rebalance import plan_rebalance
from etftrader.workbook import read_ledger
from optimizers import Kept, optimize, select_top, select_with_buffer

from .helpers import mark_executed, run_cli

S = pd.Series


# ---------------------------------------------------------------------------------------------
# Selection buffer


SCORES = S({t: float(10 - i) for i, t in enumerate("ABCDEFGHIJ")})  # A best ... J worst


def test_buffer_keeps_a_held_ticker_at_rank_n_plus_buffer_and_drops_it_one_below():
    selected, kept = select_with_buffer(SCORES, 3, held=["F"], buffer=3)  # F is rank 6 = 3 + 3
    assert selected == ["A", "B", "F"] and kept == [Kept("F", 6, 6)]
    selected, kept = select_with_buffer(SCORES, 3, held=["G"], buffer=3)  # G is rank 7
    assert selected == ["A", "B", "C"] and kept == []


def test_a_new_ticker_enters_only_from_the_top_n():
    # D (rank 4 = N + 1) is not held: it never enters, even with places free and a buffer.
    selected, _ = select_with_buffer(SCORES, 3, held=[], buffer=5)
    assert selected == ["A", "B", "C"]
    selected, kept = select_with_buffer(SCORES, 3, held=["E", "F"], buffer=3)
    assert selected == ["A", "E", "F"] and [k.ticker for k in kept] == ["E", "F"]


def test_buffer_zero_is_the_plain_top_n():
    for held in ([], ["J"], ["D", "E"]):
        assert select_with_buffer(SCORES, 4, held=held, buffer=0) == (select_top(SCORES, 4), [])


def test_more_held_inside_the_buffer_than_positions_keeps_the_best_ranked():
    selected, _ = select_with_buffer(SCORES, 2, held=["C", "D", "E"], buffer=4)
    assert selected == ["C", "D"]


# ---------------------------------------------------------------------------------------------
# Turnover penalty


@pytest.fixture(scope="module")
def sample_week(sample_close):
    """Eight sample tickers' closes up to 2021-06-30 and their composite scores."""
    from factors import score_universe

    prices = sample_close.loc[:"2021-06-30"].dropna(axis=1, how="any").iloc[-400:]
    scores = score_universe(prices, weights={"momentum": .25, "quality": .25, "value": .25, "volatility": .25},
                            momentum_lookback=252, momentum_skip=21, quality_lookback=252,
                            value_lookback=252, volatility_lookback=60, winsor_z=3.0)["composite"]
    chosen = select_top(scores, 8)
    return prices[chosen], scores[chosen]


def _independent(method, prices, scores, current, k, *, risk_aversion=1.5):
    """The penalised problem written out in cvxpy from the same inputs the optimizer uses."""
    from optimizers.base import shrunk_covariance, weight_bounds
    from optimizers.expected_returns import expected_returns_from_scores

    cov, _ = shrunk_covariance(prices, 252)
    mu = expected_returns_from_scores(scores, cov, information_coefficient=0.05, risk_aversion=risk_aversion,
                                      risk_free_rate=0.0)
    lower, upper, _ = weight_bounds(len(scores), 0.15, 0.02)
    w = cp.Variable(len(scores))
    sigma = cp.psd_wrap(cov.to_numpy())
    risk = cp.quad_form(w, sigma)
    cost = k * cp.norm1(w - current)
    objective = (-(mu.to_numpy() @ w) + 0.5 * risk_aversion * risk if method == "mvo" else risk) + cost
    # Solved tightly: at Clarabel's default tolerances the weights can sit 7e-5 from the optimum.
    cp.Problem(cp.Minimize(objective), [cp.sum(w) == 1, w >= lower, w <= upper]).solve(
        solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return w.value


@pytest.mark.parametrize("method", ["mvo", "minvar"])
def test_penalised_weights_match_an_independent_solve(sample_week, method):
    prices, scores = sample_week
    free = optimize(method, prices, scores).weights
    current = S(np.roll(free.to_numpy(), 3), index=free.index) * 0.97  # 3% cash
    for k in (0.01, 0.05, 0.2):
        got = optimize(method, prices, scores, current_weights=current, turnover_penalty=k).weights
        want = _independent(method, prices, scores, current.to_numpy(), k)
        # Our weights are the optimum rounded to 5 decimals: half a step plus solver tolerance.
        assert np.abs(got.to_numpy() - want).max() <= 5e-6 + 1e-6
        assert got.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("method", ["mvo", "minvar"])
def test_turnover_falls_as_the_penalty_grows(sample_week, method):
    prices, scores = sample_week
    free = optimize(method, prices, scores).weights
    current = S(np.roll(free.to_numpy(), 2), index=free.index)
    moves = [float((optimize(method, prices, scores, current_weights=current, turnover_penalty=k).weights
                    - current).abs().sum()) for k in (0.0, 0.002, 0.01, 0.05, 0.5)]
    assert all(a >= b - 1e-6 for a, b in zip(moves, moves[1:])), moves
    assert moves[0] > 0.2 and moves[-1] < 1e-4  # no penalty moves a lot; a large one holds still


def test_penalised_rank_weights_match_an_independent_solve(sample_week):
    from optimizers.base import weight_bounds
    from optimizers.rank_based import rank_weights

    prices, scores = sample_week
    lower, upper, _ = weight_bounds(len(scores), 0.15, 0.02)
    ideal = rank_weights(scores, bounds=(lower, upper))
    current = np.roll(ideal, 1) * 0.98
    assert np.allclose(optimize("rankbased", prices, scores).weights, ideal)
    for k in (0.002, 0.01, 0.05):
        got = optimize("rankbased", prices, scores, current_weights=S(current, index=scores.index),
                       turnover_penalty=k).weights.to_numpy()
        w = cp.Variable(len(ideal))
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w - ideal) + k * cp.norm1(w - current)),
                   [cp.sum(w) == 1, w >= lower, w <= upper]).solve(solver="SCS", eps=1e-9)
        assert np.abs(got - w.value).max() <= 1e-5
        assert np.abs(got - current).sum() <= np.abs(ideal - current).sum() + 1e-9


# ---------------------------------------------------------------------------------------------
# No-trade band


def _holdings(shares, cash):
    return Holdings(shares=S(shares, dtype=float, name="shares"), cash=float(cash),
                    pending=Holdings.all_cash(0.0).pending, superseded=Holdings.all_cash(0.0).superseded)


def _config(**rebalance):
    return Config().override(rebalance={"min_trade_value": 0.0, "cost_bps": 0.0, **rebalance})


def whole(weights, prices, value):
    return np.floor(weights * value / prices)


def test_a_position_inside_the_band_is_not_traded_one_outside_is():
    # The band is relative to the target: 5% of 0.41 is 0.0205, so A at 0.40 (target 0.41) is inside;
    # B at 0.40 (target 0.35: 0.05 off, band 0.0175) is outside; C is new.
    held = _holdings({"A": 40.0, "B": 40.0}, 200.0)
    prices = S({"A": 10.0, "B": 10.0, "C": 10.0})
    target = S({"A": 0.41, "B": 0.35, "C": 0.24})
    plan = plan_rebalance(target, held, prices, _config(no_trade_band=0.05, drift_override=0.01),
                          optimizer="mvo", allocator=whole)
    traded = dict(zip(plan.trades["ticker"], plan.trades["action"]))
    assert "A" not in traded and traded == {"B": "SELL", "C": "BUY"}
    assert plan.shares_after["A"] == 40.0
    assert plan.banded["ticker"].tolist() == ["A"] and plan.banded["value"].iloc[0] == pytest.approx(10.0)
    # Without the band, A is traded to its target too.
    plain = plan_rebalance(target, held, prices, _config(no_trade_band=0.0, drift_override=0.01),
                           optimizer="mvo", allocator=whole)
    assert "A" in set(plain.trades["ticker"])


def test_deviations_inside_the_band_do_not_trigger_a_rebalance():
    # Four positions each 1.5 points off a 25% target: drift 6% > 5%, all of it inside a 10% band
    # (2.5 points); with a 5% band (1.25 points) all of it counts.
    held = _holdings({"A": 265.0, "B": 235.0, "C": 265.0, "D": 235.0}, 0.0)
    prices = S({t: 1.0 for t in "ABCD"})
    target = S({t: 0.25 for t in "ABCD"})
    plan = plan_rebalance(target, held, prices, _config(no_trade_band=0.1), optimizer="mvo", allocator=whole)
    assert plan.drift == pytest.approx(0.06) and plan.drift_outside_band == pytest.approx(0.0)
    assert not plan.rebalance
    narrow = plan_rebalance(target, held, prices, _config(no_trade_band=0.05), optimizer="mvo", allocator=whole)
    assert narrow.rebalance and narrow.drift_outside_band == pytest.approx(0.06)
    off = plan_rebalance(target, held, prices, _config(turnover_control=False), optimizer="mvo", allocator=whole)
    assert off.rebalance and off.drift_outside_band == pytest.approx(0.06)


# ---------------------------------------------------------------------------------------------
# Settings, through the CLI


@pytest.mark.parametrize("args, message", [
    (["--buffer", "-1"], "`selection_buffer` must be a whole number of ranks >= 0, got -1"),
    (["--band", "1.5"], "`no_trade_band` must be a share of the target weight between 0 and 1, got 1.5"),
    (["--turnover-penalty", "-0.1"], "`turnover_penalty` must be a finite number >= 0"),
    (["--turnover-penalty", "nan"], "`turnover_penalty` must be a finite number >= 0"),
])
@pytest.mark.parametrize("command", ["weekly", "backtest"])
def test_bad_control_settings_are_one_line_exit_2(tmp_path, command, args, message):
    base = (["weekly", "--as-of", "2021-06-04", "--positions", "5"] if command == "weekly" else
            ["backtest", "--source", "sample", "--start", "2021-06-01", "--end", "2021-06-30", "--positions", "5",
             "--no-notebook", "--out", str(tmp_path / "out")])
    code, out, err = run_cli([*base, *args], home=tmp_path / "home")
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "home" / "results" / "portfolio_tracking.xlsx").exists()


def test_bad_control_settings_in_the_config_file_are_named(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text("[rebalance]\nselection_buffer = 2.5\n", encoding="utf-8")
    code, _, err = run_cli(["weekly", "--as-of", "2021-06-04", "--positions", "5"], home=home)
    assert code == 2 and "`rebalance.selection_buffer` must be int, got 2.5" in err


# ---------------------------------------------------------------------------------------------
# One step: the weekly command and the backtest decide the same weeks, to the share


# 8 positions: with fewer, the 15% cap forces equal weights and the penalty has nothing to move.
WEEKS = ["2021-06-04", "2021-06-11", "2021-06-18", "2021-06-25", "2021-07-02", "2021-07-09"]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["mvo", "rankbased", "cvar", "hrp", "blacklitterman", "barbell"])
def test_weekly_runs_and_the_backtest_make_identical_decisions_with_every_control_on(tmp_path, optimizer):
    from etftrader.backtest import run_backtest
    from etftrader.paths import Home
    from etftrader.prices import load_prices
    from etftrader.week import PENALISED

    config = Config().override(data={"source": "sample"}, portfolio={"positions": 8})
    assert config.rebalance.turnover_control and config.rebalance.penalty > 0
    # same_close: the analyst here trades at the prices the run proposed, as that fill rule does.
    result = run_backtest(load_prices(config.data, Home(tmp_path / "bt")), config, optimizers=optimizer,
                          start=pd.Timestamp(WEEKS[0]), end=pd.Timestamp(WEEKS[-1]), positions=8,
                          fill="same_close")
    assert [str(d.date()) for d in result.schedule] == WEEKS

    home = tmp_path / "home"
    book = home / "results" / "portfolio_tracking.xlsx"
    kinds = set()
    for day in WEEKS:
        code, out, err = run_cli(["weekly", "--as-of", day, "--positions", "8", "--optimizer", optimizer, "--json"],
                                 home=home)
        assert code == 0, err
        week = json.loads(out)
        kinds |= {c["kind"] for c in week["turnover_controls"]}
        when = pd.Timestamp(day)
        bt_trades = result.trades.query("strategy == @optimizer and date == @when")
        assert [[t["ticker"], t["action"], t["shares"]] for t in week["trades"]] == \
            bt_trades[["ticker", "action", "shares"]].values.tolist(), day
        bt_target = result.targets.query("strategy == @optimizer and date == @when")
        assert {t["ticker"]: t["weight"] for t in week["target"]} == \
            pytest.approx(dict(zip(bt_target["ticker"], bt_target["weight"])), abs=1e-9), day
        decision = result.decisions.query("strategy == @optimizer and date == @when").iloc[0]
        assert week["rebalanced"] == bool(decision["rebalanced"]) and week["cash"] == pytest.approx(decision["cash"], abs=1e-6)
        open_rows = read_ledger(book).trades.query("not executed")["_row"].tolist()
        if open_rows:  # the backtest fills every proposed trade: so does the analyst here
            mark_executed(book, open_rows)
    # the controls did act in these weeks (hrp has no objective to carry the penalty; the barbell's
    # core carries it, but the week does not measure how far it moved the target)
    assert ({"buffer_kept", "turnover_penalty"} if optimizer in PENALISED else {"buffer_kept"}) <= kinds
    meta = read_ledger(book).metadata
    assert meta["turnover_controls"].str.contains("inside the buffer").any()


def test_turnover_control_false_reproduces_the_plain_rule(tmp_path):
    """Controls off: the target ignores what is held (the behaviour before the controls)."""
    home = tmp_path / "home"
    code, out, _ = run_cli(["weekly", "--as-of", "2021-06-04", "--positions", "5", "--json"], home=home)
    book = home / "results" / "portfolio_tracking.xlsx"
    mark_executed(book, read_ledger(book).trades["_row"].tolist())
    code, on, _ = run_cli(["weekly", "--as-of", "2021-06-25", "--positions", "5", "--json"], home=home)
    code, off, _ = run_cli(["weekly", "--as-of", "2021-06-25", "--positions", "5", "--json",
                            "--no-turnover-control"], home=home)
    fresh = tmp_path / "fresh"
    code, plain, _ = run_cli(["weekly", "--as-of", "2021-06-25", "--positions", "5", "--json"], home=fresh)
    weights = lambda j: {t["ticker"]: t["weight"] for t in json.loads(j)["target"]}  # noqa: E731
    assert weights(off) == pytest.approx(weights(plain), abs=1e-12)
    assert json.loads(off)["turnover_controls"] == []
    assert weights(on) != pytest.approx(weights(plain), abs=1e-6)
    assert read_ledger(book).metadata["turnover_controls"].iloc[-1] == "off (turnover_control = false)"


def test_the_weeks_band_and_liquidity_notes_say_what_its_plan_lists(sample_close):
    """The week's notes are read off the plan's rows: their tickers and values are the frames'."""
    import dataclasses
    from datetime import date

    from etftrader.prices import PriceData, check_quality
    from etftrader.week import decide_week

    close = sample_close.loc[:"2021-06-11"]
    volume = pd.DataFrame(1e7, index=close.index, columns=close.columns)
    volume["AAPL"] = 1_000.0  # a thin name: at most 100 shares a week
    data = PriceData(close=close, volume=volume, source="file")
    config = Config().override(rebalance={"force": True})

    def week(day, holdings):
        quality = check_quality(data, config.data, min_history=config.factors.min_history, as_of=day)
        up_to = pd.Timestamp(day)
        return decide_week(quality.prices, data.close.loc[:up_to], holdings, config, optimizer="mvo", positions=8,
                           dropped=quality.dropped, volume=data.volume.loc[:up_to])

    first = week(date(2021, 6, 4), Holdings.all_cash(1_000_000.0))
    cut = first.plan.skipped[first.plan.skipped["reason"].str.startswith("liquidity cap")]
    liquidity = [n for n in first.notes if n.kind == "liquidity_cap"]
    assert cut["ticker"].tolist() == ["AAPL"] and len(liquidity) == 1
    assert liquidity[0].data == {"tickers": ["AAPL"], "value": float(cut["value"].sum())}

    held = dataclasses.replace(Holdings.all_cash(first.plan.cash_after), shares=first.plan.shares_after)
    second = week(date(2021, 6, 11), held)
    band = [n for n in second.notes if n.kind == "no_trade_band"]
    assert len(second.plan.banded) and len(band) == 1  # a week later most positions are inside the band
    assert band[0].data["tickers"] == second.plan.banded["ticker"].tolist()
    assert band[0].data["value"] == float(second.plan.banded["value"].sum())


def _closes_on(sample_close: pd.DataFrame, end: int) -> pd.Series:
    """The sample's closes on row ``end - 1``, by ticker (str labels, in ticker order)."""
    prices = sample_close.iloc[end - 1].dropna().astype(float)
    prices.index = prices.index.astype(str)
    return prices.sort_index()


def test_a_book_whose_target_is_what_it_holds_plans_as_any_other(sample_close):
    # An equal-weight book's target tickers are most weeks exactly the ones it holds: the plan
    # reads its drift and band off the aligned weights. They are the general path's to the bit:
    # drift() over the union, and the band's definition, on real prices and random holdings
    # (some of them with no shares left).
    from etftrader.costs import cost_model
    from etftrader.rebalance import current_weights, drift

    rng = np.random.default_rng(5)
    config = Config().override(rebalance={"no_trade_band": 0.2, "cost_bps": 2.0, "impact_k": 0.5})
    aligned = 0
    for end in rng.integers(300, len(sample_close), 40):
        prices = _closes_on(sample_close, end)
        tickers = prices.index.tolist()
        shares = {t: float(rng.integers(0, 400)) for t in tickers}
        held = _holdings(shares, float(rng.uniform(0, 5e4)))
        target = S(1.0 / len(tickers), index=held.shares.index, name="weight")
        volume = S(rng.uniform(1e5, 1e6, len(tickers)), index=tickers)
        close = sample_close.iloc[:end].set_axis(sample_close.columns.astype(str), axis=1)[tickers]
        costs = cost_model(config.rebalance, tickers, close=close,
                           volume=pd.DataFrame([volume] * 30, index=sample_close.index[end - 30:end]))
        plan = plan_rebalance(target, held, prices, config, optimizer="equal_weight", costs=costs)
        current, _ = current_weights(held.shares, prices, held.cash)
        assert plan.drift == drift(target, current)
        w, cur = target.to_numpy(), current.to_numpy()
        inside = (np.abs(cur - w) <= 0.2 * w + 1e-12) & (held.shares.to_numpy() > 0)
        assert plan.banded["ticker"].tolist() == [t for t, k in zip(tickers, inside) if k]
        aligned += held.shares.index.tolist() == tickers
    assert aligned == 40


def test_a_book_whose_target_and_holdings_differ_plans_by_ticker_week_after_week(sample_close):
    # An equal-weight book's kept tickers change a few times a year while it holds what it bought:
    # its target's tickers and its holdings differ for weeks on end, and the plan aligns the two
    # lists once for as long as they stay the same. Drift and band are drift() over the union and
    # the band's definition, with the same lists again (from a fresh copy), with another book's
    # lists in between, and after a change of the kept tickers.
    from etftrader.rebalance import current_weights, drift

    rng = np.random.default_rng(11)
    config = Config().override(rebalance={"no_trade_band": 0.2, "cost_bps": 2.0})
    checked = 0
    for end in rng.integers(300, len(sample_close), 25):
        prices = _closes_on(sample_close, end)
        tickers = prices.index.tolist()
        kept = [t for t in tickers if rng.random() < 0.8]  # the target: some tickers set aside
        owned = [t for t in tickers if rng.random() < 0.8]  # the book: some never bought
        shares = {t: float(rng.integers(0, 300)) for t in owned}  # some with no shares left
        held = _holdings(shares, float(rng.uniform(0, 5e4)))
        # another book with the same target: holding other tickers (a sweep's equal-weight cells)
        other = _holdings({t: float(rng.integers(1, 300)) for t in tickers if rng.random() < 0.7}, 1e4)
        target = S(1.0 / len(kept), index=kept, name="weight")
        other_target = S(1.0 / len(owned), index=owned, name="weight")
        for book_target, held in ((target, held), (S(target.to_numpy(), index=list(kept), name="weight"), held),
                                  (target, other), (other_target, held), (target, held)):
            plan = plan_rebalance(book_target, held, prices, config, optimizer="equal_weight")
            current, _ = current_weights(held.shares, prices, held.cash)
            assert plan.drift == drift(book_target, current)
            names = book_target.index.tolist()
            w = book_target.to_numpy()
            cur = current.reindex(names).to_numpy()
            n = held.shares.reindex(names).to_numpy()
            inside = (np.abs(cur - w) <= 0.2 * w + 1e-12) & (n > 0)  # NaN (not held) is not inside
            assert plan.banded["ticker"].tolist() == [t for t, k in zip(names, inside) if k]
            if len(plan.banded):
                assert plan.banded["current_weight"].tolist() == cur[inside].tolist()
            checked += names != held.shares.index.tolist()
    assert checked >= 95  # (a book holding exactly its target is aligned)


def test_equal_weights_target_is_one_over_n_of_the_tickers_kept_each_week(sample_close):
    # The backtest's kept tickers stay the same for weeks (the quality step hands the same column
    # labels), then change: each week's 1/N is over that week's tickers, whatever came before.
    from etftrader.week import equal_weight_target

    week = sample_close.iloc[-300:]
    fewer = week.drop(columns=["XOM", "KO"])
    again = week[list(week.columns)]  # the same tickers, new labels
    for frame in (week, week, fewer, week, again, week.iloc[:, :5], week.iloc[:, 1:6], week.iloc[:, 1:6]):
        target = equal_weight_target(frame)
        tickers = [str(t) for t in frame.columns]
        assert target.selected == tickers
        assert target.weights.index.tolist() == tickers
        assert (target.weights.to_numpy() == 1.0 / len(tickers)).all()
