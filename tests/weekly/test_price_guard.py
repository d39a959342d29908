"""Guarded prices (issue 12, item 1): a rejected price never values or trades a held position.

The bundled sample with KO's close of 2019-06-14 multiplied by 100, in the weekly command and in
the backtest; the guard itself on hand-built series (a spike, a real move that holds, bad prints).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from etftrader.prices.guard import guard_latest, guarded_closes
from etftrader.workbook import read_ledger

from .helpers import run_cli

SPIKE_DAY = "2019-06-14"


@pytest.fixture(scope="module")
def price_files(tmp_path_factory, sample_close):
    folder = tmp_path_factory.mktemp("ko")
    frame = sample_close.loc["2014-01-01":"2020-06-30"].copy()
    clean = folder / "clean.csv"
    frame.to_csv(clean, index_label="date", date_format="%Y-%m-%d")
    frame.loc[SPIKE_DAY, "KO"] *= 100
    bad = folder / "ko_x100.csv"
    frame.to_csv(bad, index_label="date", date_format="%Y-%m-%d")
    holdings = folder / "pos.csv"
    holdings.write_text("ticker,shares,cost\nKO,3000,45\nMTUM,500,110\n", encoding="utf-8")
    return {"clean": clean, "bad": bad, "holdings": holdings,
            "before": float(sample_close.loc[:SPIKE_DAY, "KO"].iloc[-2]),
            "spike": 100 * float(sample_close.loc[SPIKE_DAY, "KO"])}


def _held_home(tmp_path, files):
    home = tmp_path / "home"
    code, _, err = run_cli(["holdings", "import", str(files["holdings"]), "--cash", "50000",
                            "--as-of", "2019-06-07"], home=home)
    assert code == 0, err
    return home


def test_a_held_ticker_with_a_x100_close_is_valued_at_its_last_good_price_and_not_traded(tmp_path, price_files):
    home = _held_home(tmp_path, price_files)
    code, out, err = run_cli(["weekly", "--prices", str(price_files["bad"]), "--as-of", SPIKE_DAY, "--positions", "8",
                              "--no-notebook", "--json", "--home", str(home)], sample=False)
    assert code == 0, err
    week = json.loads(out)
    assert not [t for t in week["trades"] if t["ticker"] == "KO"]
    assert sum(t["value"] for t in week["trades"]) < week["portfolio_value"]  # no phantom millions
    before = price_files["before"]
    line = next(w for w in week["warnings"] if w.startswith("KO "))
    assert f"KO {SPIKE_DAY}: price {price_files['spike']:,.2f} failed the rule" in line
    assert f"valued at {before:,.2f} of 2019-06-13 and not traded this week" in line and "--accept-price KO" in line
    positions = read_ledger(home / "results" / "portfolio_tracking.xlsx").positions
    assert positions.loc[positions["ticker"] == "KO", "price"].iloc[-1] == pytest.approx(before)
    assert week["portfolio_value"] == pytest.approx(3000 * before + 500 * week_price(week, "MTUM") + 50000, rel=1e-9)


def week_price(week, ticker):
    return next(t["price"] for t in week["target"] if t["ticker"] == ticker) \
        if any(t["ticker"] == ticker for t in week["target"]) else \
        next(t["price"] for t in week["trades"] if t["ticker"] == ticker)


def test_accept_price_names_the_ticker_and_uses_the_price(tmp_path, price_files):
    home = _held_home(tmp_path, price_files)
    code, out, err = run_cli(["weekly", "--prices", str(price_files["bad"]), "--as-of", SPIKE_DAY, "--positions", "8",
                              "--no-notebook", "--json", "--accept-price", "KO", "--home", str(home)], sample=False)
    assert code == 0, err
    week = json.loads(out)
    assert not any(w.startswith(f"KO {SPIKE_DAY}: price") for w in week["warnings"])
    ko = [t for t in week["trades"] if t["ticker"] == "KO"]
    assert ko and ko[0]["price"] == pytest.approx(price_files["spike"])


@pytest.mark.slow
def test_the_backtest_marks_and_decides_with_the_same_guard(tmp_path, price_files):
    results = {}
    for name in ("clean", "bad"):
        code, out, err = run_cli(["backtest", "--prices", str(price_files[name]), "--start", "2019-01-01",
                                  "--end", "2019-12-31", "--optimizer", "mvo", "--positions", "8", "--no-notebook",
                                  "--workers", "1", "--out", str(tmp_path / name), "--home", str(tmp_path / "h")],
                                 sample=False)
        assert code == 0, err
        results[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert abs(results["bad"]["mvo"]["cagr"] - results["clean"]["mvo"]["cagr"]) < 0.01
    equity = pd.read_csv(tmp_path / "bad" / "equity.csv", index_col="date", parse_dates=True)
    assert equity["mvo"].pct_change().abs().max() < 0.2  # no 100-fold day on the curve


# ---------------------------------------------------------------------------------------------
# The guard on hand-built series


def _series(values):
    return pd.Series(values, index=pd.bdate_range("2021-01-04", periods=len(values)), name="X", dtype=float)


def test_a_one_day_spike_is_set_aside_and_the_next_day_is_good_again():
    s = _series([10, 10.1, 1010, 10.2, 10.3])
    assert guarded_closes(s.to_frame(), 0.45)["X"].tolist() == [10, 10.1, 10.1, 10.2, 10.3]
    latest = guard_latest(s.iloc[:3], 0.45)
    assert latest.price == 1010 and latest.used == 10.1 and "one-day move above 45%" in latest.rule
    assert guard_latest(s, 0.45) is None


def test_a_real_move_that_holds_becomes_the_new_level_after_three_sessions():
    s = _series([4.0, 4.1, 6.3, 6.2, 6.4, 6.5])  # +54%, and it stays
    assert guarded_closes(s.to_frame(), 0.45)["X"].tolist() == [4.0, 4.1, 4.1, 4.1, 6.4, 6.5]
    assert guard_latest(s.iloc[:4], 0.45).used == 4.1
    assert guard_latest(s.iloc[:5], 0.45) is None


def test_bad_prints_carry_the_last_good_close():
    s = _series([5.0, np.inf, 0.0, -1.0, 5.1, np.nan, 5.2])
    assert guarded_closes(s.to_frame(), 0.45)["X"].tolist() == [5.0, 5.0, 5.0, 5.0, 5.1, 5.1, 5.2]
    assert guard_latest(s.iloc[:3], 0.45).used == 5.0


def test_accept_prices_in_the_config_file_does_what_the_flag_does(tmp_path, price_files):
    home = _held_home(tmp_path, price_files)
    (home / "etftrader.toml").write_text('[data]\naccept_prices = ["ko"]\n', encoding="utf-8")
    code, out, err = run_cli(["weekly", "--prices", str(price_files["bad"]), "--as-of", SPIKE_DAY, "--positions", "8",
                              "--no-notebook", "--json", "--home", str(home)], sample=False)
    assert code == 0, err
    assert [t["price"] for t in json.loads(out)["trades"] if t["ticker"] == "KO"] == [pytest.approx(price_files["spike"])]
    (home / "etftrader.toml").write_text('[data]\naccept_prices = "KO"\n', encoding="utf-8")
    code, _, err = run_cli(["weekly", "--prices", str(price_files["bad"]), "--as-of", SPIKE_DAY, "--positions", "8",
                            "--no-notebook", "--home", str(home)], sample=False)
    assert code == 2 and "`accept_prices` must be a list of tickers, got 'KO'" in err


def test_the_backtests_guard_history_gives_guard_latests_verdict_on_every_day(sample_close):
    """One walk per ticker answers every day as guard_latest on the closes up to that day does:
    real closes with a x100 print that comes back, a lasting jump, a zero, a negative and gaps."""
    from etftrader.prices.guard import GuardHistory

    close = sample_close[["MTUM", "AMD", "KO"]].loc["2020-06-01":"2021-06-30"].copy()
    close.iloc[20, 0] *= 100            # one bad print, back the next day
    close.iloc[60:, 1] *= 3.0           # a new level that holds
    close.iloc[100, 2] = 0.0            # a zero
    close.iloc[101, 2] = -5.0           # a negative
    close.iloc[140:145, 0] = np.nan     # a gap
    close.iloc[200, 0] *= 1.8           # a jump on the last day of a prefix
    history = GuardHistory(close, 0.45)
    for k in range(1, len(close) + 1):
        for ticker in close.columns:
            prefix = close[ticker].iloc[:k]
            assert history.latest(prefix, 0.45) == guard_latest(prefix, 0.45), (ticker, k)
    assert history.latest(close["MTUM"].iloc[:21], 0.30) == guard_latest(close["MTUM"].iloc[:21], 0.30)
    assert guard_latest(close["MTUM"].iloc[:21], 0.45) is not None  # the case is not vacuous


def test_the_columns_left_unwalked_are_those_the_walk_would_leave_as_they_are(sample_close):
    """The guard walks only the columns ``suspicious_columns`` picks; every column it leaves out
    must come back unchanged from a walk, and every planted defect must be picked: on the
    sample's calm columns, a x100 print, a zero, a negative and an infinite close, a gap before
    a 40% move, a real move that holds; left out: a late start, no price at all, a gap with no
    move across it (and the sample's other calm columns)."""
    from etftrader.prices.guard import suspicious_columns, walk

    values = sample_close.to_numpy(dtype="float64", copy=True)
    calm = np.flatnonzero(~suspicious_columns(values, 0.25))  # the sample's own big moves are real
    assert len(calm) >= 10
    spike, zero, negative, infinite, gap_move, real, late, empty, gap = calm[:9]
    # rows counted from the end: the sample's ETFs start in 2014, its stocks in 1990
    values[-1800, spike] *= 100.0
    values[-1700, zero] = 0.0
    values[-1699, negative] = -5.0
    values[-1698, infinite] = np.inf
    values[-1500:-1495, gap_move] = np.nan
    values[-1495:, gap_move] *= 1.4
    values[-1200:, real] *= 0.5
    values[:-300, late] = np.nan
    values[:, empty] = np.nan
    values[-1000:-997, gap] = np.nan
    for layout in (np.ascontiguousarray, np.asfortranarray):
        picked = suspicious_columns(layout(values), 0.25)
        assert picked[[spike, zero, negative, infinite, gap_move, real]].all()
        assert not picked[[late, empty, gap]].any()
        for j in np.flatnonzero(~picked):
            np.testing.assert_array_equal(walk(values[:, j], 0.25).guarded,
                                          pd.Series(values[:, j]).ffill().to_numpy())


def test_the_quality_historys_walks_give_the_guards_own_marks(sample_close):
    """The backtest marks its books with guarded_closes on the walks the quality history already
    made: the same frame as guarded_closes walking the prices itself, on the real sample with a
    x100 print that comes back, a level that holds, a zero, a negative, an infinity and a gap.
    A history that left out a row with no price at all has no walks to give (they are over
    fewer rows)."""
    from etftrader.config import DataConfig
    from etftrader.prices import PriceData
    from etftrader.prices.guard import walk
    from etftrader.prices.quality import QualityHistory

    close = sample_close.loc["2015-01-01":"2021-12-31"].copy()
    col = close.columns.get_loc
    close.iloc[200, col("MTUM")] *= 100.0
    close.iloc[600:, col("AMD")] *= 3.0
    close.iloc[900, col("KO")] = 0.0
    close.iloc[901, col("XOM")] = -5.0
    close.iloc[1000, col("JNJ")] = np.inf
    close.iloc[1100:1106, col("PG")] = np.nan
    config = DataConfig(max_daily_move=0.45)
    history = QualityHistory(PriceData(close=close, source="file"), config, min_history=253)
    walks = history.guard_walks()
    assert {close.columns[j] for j in walks} >= {"MTUM", "AMD", "KO", "XOM", "JNJ"}
    # every column walked, one by one (a column the guard leaves unwalked comes back as it is)
    expected = pd.DataFrame({t: walk(close[t].to_numpy(dtype="float64"), 0.45).guarded for t in close.columns},
                            index=close.index).ffill()
    pd.testing.assert_frame_equal(guarded_closes(close, 0.45, walks=walks), expected)
    pd.testing.assert_frame_equal(guarded_closes(close, 0.45), expected)
    assert not expected.equals(close.ffill())  # the case is not vacuous

    gappy = close.copy()
    gappy.iloc[300] = np.nan  # a day with no price at all
    assert QualityHistory(PriceData(close=gappy, source="file"), config, min_history=253).guard_walks() is None
