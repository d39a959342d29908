"""What a trade costs (commission with a minimum, half the spread, square-root impact) and the
liquidity cap: the sums written out here, a weekly run on the real sample with volume, and the
backtest charging exactly what the weekly run estimated."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from etftrader.config import Config
from etftrader.costs import ADV_DAYS, SIGMA_DAYS, CostModel, cost_model
from etftrader.workbook import read_ledger

from .helpers import mark_executed, run_cli


def test_each_term_of_a_trades_cost():
    model = CostModel(cost_bps=5.0, cost_per_share=0.01, per_trade=1.0, minimum=10.0,
                      half_spread_bps={"AAA": 2.0}, impact_k=1.0, adv={"AAA": 40_000.0}, sigma={"AAA": 0.02},
                      max_adv_fraction=0.1)
    value, shares = 100_000.0, 1_000.0
    commission = 5.0 * value / 1e4 + 0.01 * shares + 1.0  # 61, above the minimum
    spread = 2.0 * value / 1e4
    impact = 1.0 * 0.02 * math.sqrt(shares / 40_000.0) * value
    assert model("AAA", value, shares) == pytest.approx(commission + spread + impact, rel=1e-12)
    assert model("AAA", 1_000.0, 10.0) == pytest.approx(10.0 + 0.2 + 0.02 * math.sqrt(10 / 40_000) * 1_000)
    assert model("BBB", value, shares) == pytest.approx(commission)  # no spread, no volume: no impact
    assert model.cap("AAA") == 4_000 and model.cap("BBB") is None and model("AAA", 0.0, 0.0) == 0.0


def _volume_like_yahoo(close: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """Daily share volumes with the shape yfinance's Volume block has (dates x tickers, floats)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(2e5, 2e6, size=close.shape[1])
    noise = rng.lognormal(0.0, 0.3, size=close.shape)
    return pd.DataFrame(base * noise, index=close.index, columns=close.columns).where(close.notna())


def test_the_weeks_model_reads_adv_and_daily_volatility_off_the_real_sample(sample_close):
    close = sample_close.loc[:"2021-06-04"]
    volume = _volume_like_yahoo(close)
    rules = Config().override(rebalance={"spread_bps": {"*": 3.0, "MTUM": 1.0}}).rebalance
    model = cost_model(rules, ["MTUM", "XOM"], close=close, volume=volume)
    assert model.adv["XOM"] == pytest.approx(volume["XOM"].iloc[-ADV_DAYS:].mean())
    returns = close["XOM"].iloc[-(SIGMA_DAYS + 1):].pct_change().dropna()
    assert model.sigma["XOM"] == pytest.approx(returns.std(ddof=1))
    assert model.half_spread_bps == {"MTUM": 0.5, "XOM": 1.5}
    # the flat model (no spread, minimum or volume) is None: trades are costed as they always were
    assert cost_model(Config().rebalance, ["MTUM"], close=close, volume=None) is None


def test_the_model_and_todays_prices_read_the_frames_they_are_given_each_time(sample_close):
    """Frames edited in place and passed again give the new figures (nothing is kept between
    calls but a backtest week's own memo), and a week's memo gives every book the same ones."""
    from etftrader.holdings import Holdings
    from etftrader.target import prices_today

    close = sample_close.loc[:"2021-06-04"].copy()
    volume = _volume_like_yahoo(close)
    rules = Config().override(rebalance={"max_adv_fraction": 0.1}).rebalance
    first = cost_model(rules, ["XOM"], close=close, volume=volume)
    volume.iloc[-ADV_DAYS:, volume.columns.get_loc("XOM")] = 1_000.0
    again = cost_model(rules, ["XOM"], close=close, volume=volume)
    assert again.adv["XOM"] == pytest.approx(1_000.0) != first.adv["XOM"]
    memo: dict = {}
    books = [cost_model(rules, names, close=close, volume=volume, memo=memo) for names in (["XOM"], ["XOM", "KO"])]
    assert books[0].adv["XOM"] == books[1].adv["XOM"] == again.adv["XOM"]

    clean = close.dropna(axis=1)
    cash = Holdings.all_cash(1_000.0)
    before = prices_today(close, clean, cash, [], pd.DataFrame())
    clean.iloc[-1, clean.columns.get_loc("XOM")] = 999.0
    after = prices_today(close, clean, cash, [], pd.DataFrame())
    assert after["XOM"] == 999.0 != before["XOM"]
    memo = {}
    shared = [prices_today(close, clean, cash, [], pd.DataFrame(), memo=memo) for _ in range(2)]
    pd.testing.assert_series_equal(shared[0], after)
    pd.testing.assert_series_equal(shared[1], after)
    shared[0]["XOM"] = 1.0  # a book's copy is its own
    assert prices_today(close, clean, cash, [], pd.DataFrame(), memo=memo)["XOM"] == 999.0
    # whole-number or single-precision closes are priced as floats, in ticker order, the unpriced left out
    for kind in ("int64", "float32"):
        typed = clean.iloc[-3:].round().astype(kind)
        typed.iloc[-1, 0] = 0
        got = prices_today(close, typed, cash, [], pd.DataFrame())
        assert got.dtype == np.float64 and got.index.tolist() == sorted(map(str, typed.columns[1:]))


def _long_file(tmp_path, close: pd.DataFrame, volume: pd.DataFrame) -> str:
    frame = pd.DataFrame({"close": close.stack(), "volume": volume.stack()}).reset_index()
    frame.columns = ["date", "ticker", "close", "volume"]
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_a_trade_above_a_tenth_of_the_volume_is_cut_reported_and_continued_next_week(tmp_path, sample_close):
    close = sample_close.loc["2019-01-01":"2021-07-01"]
    volume = _volume_like_yahoo(close)
    volume["AAPL"] = 1_000.0  # a thin name: at most 100 shares a week
    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text(
        f'[data]\nsource = "file"\nprices_file = "{_long_file(tmp_path, close, volume)}"\nbenchmark = "MTUM"\n'
        '[rebalance]\nspread_bps = { "*" = 4.0 }\n', encoding="utf-8")
    weeks = ["2021-06-04", "2021-06-11"]
    code, out, err = run_cli(["weekly", "--as-of", weeks[0], "--positions", "8", "--json"], home=home, sample=False)
    assert code == 0, err
    week = json.loads(out)
    assert "AAPL" in {t["ticker"] for t in week["target"]}  # the real sample's scores that week
    buy = next(t for t in week["trades"] if t["ticker"] == "AAPL")
    assert buy["shares"] == 100
    cut = next(s for s in week["skipped_trades"] if s["ticker"] == "AAPL")
    assert cut["reason"].startswith("liquidity cap: at most 10% of the 20-day average daily volume (1,000 shares)")
    assert any("cut 1 trade to 10% of the 20-day average daily volume (AAPL)" in w for w in week["warnings"])
    # the cost of a trade: commission + half the spread + impact on the square-root law
    other = next(t for t in week["trades"] if t["ticker"] != "AAPL")
    adv = volume[other["ticker"]].loc[:weeks[0]].iloc[-ADV_DAYS:].mean()
    sigma = close[other["ticker"]].loc[:weeks[0]].iloc[-(SIGMA_DAYS + 1):].pct_change().dropna().std(ddof=1)
    expected = other["value"] * (5 + 2) / 1e4 + sigma * math.sqrt(other["shares"] / adv) * other["value"]
    assert other["est_cost"] == pytest.approx(expected, rel=1e-9)
    book = home / "results" / "portfolio_tracking.xlsx"
    mark_executed(book, read_ledger(book).trades.query("not executed")["_row"].tolist())
    code, out, err = run_cli(["weekly", "--as-of", weeks[1], "--positions", "8", "--json"], home=home, sample=False)
    assert code == 0, err
    again = json.loads(out)
    assert next(t["shares"] for t in again["trades"] if t["ticker"] == "AAPL") == 100  # the rest, 100 at a time


@pytest.mark.slow
def test_the_backtest_charges_what_the_weekly_run_estimates(tmp_path, sample_close):
    from etftrader.backtest import run_backtest
    from etftrader.config import load_config
    from etftrader.paths import Home
    from etftrader.prices import load_prices

    close = sample_close.loc["2019-01-01":"2021-07-20"]
    volume = _volume_like_yahoo(close)
    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text(
        f'[data]\nsource = "file"\nprices_file = "{_long_file(tmp_path, close, volume)}"\nbenchmark = "MTUM"\n'
        '[rebalance]\nspread_bps = { "*" = 6.0 }\ncommission_per_trade = 1.0\ncommission_min = 7.5\n',
        encoding="utf-8")
    days = ["2021-06-04", "2021-06-11", "2021-06-18", "2021-06-25"]
    config = load_config(home / "etftrader.toml")
    result = run_backtest(load_prices(config.data, Home(tmp_path / "bt")), config, optimizers="mvo",
                          start=pd.Timestamp(days[0]), end=pd.Timestamp(days[-1]), positions=8, fill="same_close")
    book = home / "results" / "portfolio_tracking.xlsx"
    for day in days:
        code, out, err = run_cli(["weekly", "--as-of", day, "--positions", "8", "--json", "--optimizer", "mvo"],
                                 home=home, sample=False)
        assert code == 0, err
        week = json.loads(out)
        when = pd.Timestamp(day)
        fills = result.trades.query("strategy == 'mvo' and date == @when")
        assert [[t["ticker"], t["action"], t["shares"]] for t in week["trades"]] == \
            fills[["ticker", "action", "shares"]].values.tolist(), day
        assert [t["est_cost"] for t in week["trades"]] == pytest.approx(fills["cost"].tolist(), rel=1e-12), day
        assert all(t["est_cost"] >= 7.5 for t in week["trades"])
        decision = result.decisions.query("strategy == 'mvo' and date == @when").iloc[0]
        assert week["cash"] == pytest.approx(decision["cash"], abs=1e-6)
        open_rows = read_ledger(book).trades.query("not executed")["_row"].tolist()
        if open_rows:
            mark_executed(book, open_rows)


@pytest.mark.parametrize("line, expected", [
    ("max_adv_fraction = 2.0", "`max_adv_fraction` must be a share of the average daily volume between 0 and 1"),
    ("commission_min = -1.0", "`commission_min` must be a finite number >= 0"),
    ('spread_bps = { "*" = -3.0 }', "`spread_bps.*` must be a bid-ask spread in basis points >= 0"),
    ("impact_k = -0.5", "`impact_k` must be a finite number >= 0"),
])
def test_bad_cost_settings_are_one_line_and_exit_2(tmp_path, line, expected):
    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text(f"[rebalance]\n{line}\n", encoding="utf-8")
    code, _, err = run_cli(["weekly", "--as-of", "2021-03-05", "--positions", "5"], home=home)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_a_rebalance_costing_more_than_the_cap_is_held_back_unless_forced(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    book = home / "results" / "portfolio_tracking.xlsx"
    # The first investment is never held back, however small the cap.
    (home / "etftrader.toml").write_text("[rebalance]\nmax_cost_fraction = 0.00001\n", encoding="utf-8")
    code, out, err = run_cli(["weekly", "--as-of", "2021-03-05", "--positions", "5", "--json"], home=home)
    assert code == 0, err
    first = json.loads(out)
    assert first["rebalanced"] is True and len(first["trades"]) == 5 and first["held_back"] is None
    mark_executed(book, read_ledger(book).trades.query("not executed")["_row"].tolist())
    # Three months on, any rebalance costs more than 0.1 bp of the portfolio: held back.
    args = ["weekly", "--as-of", "2021-06-04", "--positions", "5", "--drift-threshold", "0.001"]
    code, out, err = run_cli([*args, "--json"], home=home)
    assert code == 0, err
    week = json.loads(out)
    assert week["rebalanced"] is False and week["trades"] == [] and week["held_back"]["estimated_costs"] > 0
    held = [w for w in week["warnings"] if w.startswith("held back the rebalance")]
    cost = week["held_back"]["estimated_costs"]
    assert len(held) == 1 and f"estimated costs {cost:,.2f} (" in held[0] and "exceed max_cost_fraction 0.00%" in held[0]
    assert len(read_ledger(book).trades) == 5
    code, out, err = run_cli(args, home=home)
    assert code == 0 and "Held back: estimated costs" in out and "Trades to execute: 0" in out
    assert "Rebalancing needed: True (drift " in out and "but held back" in out
    code, out, err = run_cli([*args, "--force-rebalance"], home=home)
    assert code == 0 and "Trades to execute: 0" not in out and "bps of the portfolio: commission" in out


def test_the_backtest_holds_back_the_same_weeks(tmp_path):
    from etftrader.backtest import run_backtest
    from etftrader.config import load_config
    from etftrader.paths import Home
    from etftrader.prices import load_prices

    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text('[data]\nsource = "sample"\n[rebalance]\nmax_cost_fraction = 0.00001\n'
                                         "drift_override = 0.001\n", encoding="utf-8")
    config = load_config(home / "etftrader.toml")
    result = run_backtest(load_prices(config.data, Home(tmp_path / "bt")), config, optimizers="mvo",
                          start=pd.Timestamp("2021-03-05"), end=pd.Timestamp("2021-04-30"), positions=5)
    mvo = result.decisions.query("strategy == 'mvo'")
    # the first week invests; every later rebalance is held back (a week inside the band has none)
    assert mvo["rebalanced"].tolist()[0] and not mvo["rebalanced"].iloc[1:].any()
    held = mvo["note"].str.startswith("held back the rebalance")
    assert held.iloc[1:].sum() >= 3 and not held.iloc[0] and (mvo["note"].iloc[1:][~held.iloc[1:]] == "").all()
    assert set(result.trades.query("strategy == 'mvo'")["date"]) == {mvo["date"].iloc[0]}
    assert any(n.startswith(f"mvo: {int(held.sum())} of {len(mvo)} weeks held back their rebalance")
               for n in result.notes)


def test_a_bad_cost_cap_is_one_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text("[rebalance]\nmax_cost_fraction = 1.5\n", encoding="utf-8")
    code, _, err = run_cli(["weekly", "--as-of", "2021-03-05", "--positions", "5"], home=home)
    assert code == 2 and "`max_cost_fraction` must be a share of the portfolio between 0 and 1" in err


def test_adv_and_volatility_agree_with_pandas_on_many_windows_with_gaps(sample_close):
    """The model reads ADV and daily volatility with numpy (the backtest builds it every week for
    every book); pandas' mean and std of the same windows agree to a few units in the last place,
    whatever the gaps (NaN closes and volumes, a ticker with no volume at all)."""
    rng = np.random.default_rng(3)
    close = sample_close.loc["2015-01-01":"2021-12-31"].mask(rng.random(sample_close.loc["2015":"2021"].shape) < 0.05)
    volume = _volume_like_yahoo(sample_close.loc["2015-01-01":"2021-12-31"]).mask(rng.random(close.shape) < 0.1)
    volume["KO"] = np.nan
    rules = Config().rebalance
    names = list(close.columns) + ["NOT_THERE"]
    for end in rng.integers(SIGMA_DAYS + 2, len(close), 30):
        c, v = close.iloc[:end], volume.iloc[:end]
        model = cost_model(rules, names, close=c, volume=v)
        mean = v.iloc[-ADV_DAYS:].mean()
        std = c.iloc[-(SIGMA_DAYS + 1):].pct_change(fill_method=None).iloc[1:].std(ddof=1)
        assert set(model.adv) == {t for t in close.columns if mean[t] > 0}
        assert set(model.sigma) == {t for t in close.columns if std[t] > 0}
        for t in model.adv:
            assert model.adv[t] == pytest.approx(mean[t], rel=1e-14)
        for t in model.sigma:
            assert model.sigma[t] == pytest.approx(std[t], rel=1e-13)


def test_a_tickers_adv_and_volatility_are_the_same_floats_whoever_else_is_asked(sample_close):
    """A book's costs do not depend on what the other books hold: each ticker's ADV and daily
    volatility are the same floats asked alone, with a few others, with the whole universe, and
    through a week's memo that another book filled first (real closes with gaps, a ticker with
    no volume, windows with and without a missing day)."""
    rng = np.random.default_rng(5)
    close = sample_close.loc["2015-01-01":"2021-12-31"]
    close = close.mask(rng.random(close.shape) < 0.03)
    volume = _volume_like_yahoo(close).mask(rng.random(close.shape) < 0.05)
    volume["KO"] = np.nan
    rules = Config().override(rebalance={"impact_k": 1.0, "max_adv_fraction": 0.1}).rebalance
    tickers = list(close.columns)
    checked = 0
    for end in rng.integers(SIGMA_DAYS + 2, len(close), 25):
        c, v = close.iloc[:end], volume.iloc[:end]
        every = cost_model(rules, tickers, close=c, volume=v)
        for size in (1, 2, 3, 7):
            names = list(rng.choice(tickers, size, replace=False))
            alone = cost_model(rules, names, close=c, volume=v)
            memo: dict = {}
            cost_model(rules, list(rng.choice(tickers, 5, replace=False)), close=c, volume=v, memo=memo)
            second = cost_model(rules, names, close=c, volume=v, memo=memo)
            for t in names:
                for model in (alone, second):
                    if model is None:  # none of them has a volume: the flat model
                        assert t not in every.adv
                        continue
                    for mine, theirs in ((model.adv, every.adv), (model.sigma, every.sigma)):
                        assert (t in mine) == (t in theirs)
                        if t in mine:
                            assert np.float64(mine[t]).tobytes() == np.float64(theirs[t]).tobytes()
                            checked += 1
    assert checked > 300


def test_the_models_cost_of_many_trades_is_each_trades_cost_to_the_last_bit(sample_close):
    """``CostModel.many`` (the week step costs every moving ticker with it) gives, trade by trade,
    the floats ``CostModel.__call__`` gives: models built off the real sample with every term on or
    off, trades of every size, and the edges (no shares, no value, no volume, a zero volatility,
    a trade under the commission minimum, a ticker the model does not know)."""
    rng = np.random.default_rng(11)
    close = sample_close.loc[:"2021-06-04"]
    volume = _volume_like_yahoo(close)
    volume["KO"] = np.nan  # no volume: no ADV, no impact
    names = list(close.columns) + ["NOT_THERE"]
    settings = [
        {},
        {"spread_bps": {"*": 3.0, "MTUM": 1.0}},
        {"commission_per_trade": 1.0, "commission_min": 5.0, "cost_per_share": 0.005},
        {"impact_k": 0.0, "spread_bps": {"XOM": 8.0}},
        {"impact_k": 2.5, "cost_bps": 0.0, "max_adv_fraction": 0.0},
    ]
    checked = 0
    for change in settings:
        rules = Config().override(rebalance=change).rebalance
        model = cost_model(rules, names, close=close, volume=volume) or CostModel(cost_bps=rules.cost_bps)
        if model.sigma:
            model = CostModel(**{**model.__dict__, "sigma": {**model.sigma, "XOM": 0.0}})
        tickers = list(rng.choice(names, 400))
        shares = np.floor(rng.lognormal(4.0, 2.0, 400))
        shares[:20] = 0.0
        prices = rng.uniform(5.0, 500.0, 400)
        values = shares * prices
        values[20:30] = 0.0
        shares[30], values[31] = np.nan, np.nan  # not a trade the week step makes, but the same answer
        got = model.many(tickers, values, shares)
        want = np.array([model(t, float(v), float(n)) for t, v, n in zip(tickers, values, shares)])
        assert got.dtype == np.float64 and got.tobytes() == want.tobytes()
        checked += int((want > 0).sum())
        assert np.isnan(got[30]) and np.isnan(got[31])
    assert checked > 1500
    assert CostModel().many([], np.empty(0), np.empty(0)).shape == (0,)


def test_the_week_builds_its_cost_model_only_when_it_trades(sample_close):
    # plan_rebalance(costs_if_trading=...) asks for the model only for a week that rebalances,
    # and then plans exactly as with the model given.
    from etftrader.holdings import Holdings
    from etftrader.rebalance import plan_rebalance

    close = sample_close.loc[:"2021-06-04"].dropna(axis=1)
    volume = _volume_like_yahoo(close)
    prices = close.iloc[-1]
    tickers = list(close.columns[:6])
    rules = Config().rebalance
    model = cost_model(rules, tickers, close=close, volume=volume)
    asked = []

    def later():
        asked.append(1)
        return model

    target = pd.Series(1 / 6, index=tickers)
    fresh = Holdings.all_cash(1_000_000.0)
    with_model = plan_rebalance(target, fresh, prices, rules, optimizer="mvo", costs=model)
    lazily = plan_rebalance(target, fresh, prices, rules, optimizer="mvo", costs_if_trading=later)
    assert with_model.rebalance and asked == [1]
    assert lazily.trade_rows == with_model.trade_rows and lazily.cash_after == with_model.cash_after
    held = Holdings(shares=with_model.shares_after, cash=with_model.cash_after,
                    pending=fresh.pending, superseded=fresh.superseded)
    quiet = plan_rebalance(target, held, prices, rules, optimizer="mvo", costs_if_trading=later)
    assert not quiet.rebalance and asked == [1]  # nothing to trade: no model built
    with pytest.raises(ValueError, match="not both"):
        plan_rebalance(target, fresh, prices, rules, optimizer="mvo", costs=model, costs_if_trading=later)


def test_the_plans_cost_reserve_is_the_models_cost_of_each_moving_ticker(sample_close):
    # What a rebalance sets aside for costs before sizing the target: the model's cost of moving
    # each ticker (held or wanted) to its target, added up (not the flat bps of the drift). The
    # investable amount is the portfolio less that, to the last bit of the subtraction.
    from etftrader.holdings import Holdings
    from etftrader.rebalance import plan_rebalance

    close = sample_close.loc[:"2021-06-04"].dropna(axis=1)
    volume = _volume_like_yahoo(close)
    prices = close.iloc[-1]
    tickers = sorted(map(str, close.columns))
    rules = Config().override(rebalance={"commission_min": 1.0, "spread_bps": {"*": 4.0}}).rebalance
    model = cost_model(rules, tickers, close=close, volume=volume)
    rng = np.random.default_rng(2)
    fresh = Holdings.all_cash(0.0)
    for _ in range(40):
        held = pd.Series(rng.integers(0, 3000, len(tickers)).astype(float), index=tickers, name="shares")
        cash = float(rng.uniform(0, 1e6))
        book = Holdings(shares=held, cash=cash, pending=fresh.pending, superseded=fresh.superseded)
        target = pd.Series(rng.dirichlet(np.ones(len(tickers))), index=tickers)
        plan = plan_rebalance(target, book, prices, rules, optimizer="mvo", costs=model, force=True)
        assert plan.total_value == pytest.approx(float((held * prices[tickers]).sum()) + cash, rel=1e-12)
        moves = {t: abs(target[t] * plan.total_value / prices[t] - held[t]) for t in tickers}
        reserve = sum(model(t, m * prices[t], m) for t, m in moves.items() if m > 1e-9)
        assert plan.investable == plan.total_value - reserve
