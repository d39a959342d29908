"""End to end on the bundled sample over consecutive --as-of weeks, as an analyst lives it.

One scenario (minvar, the seed's 7.5% threshold, 8 positions) runs once per module:

1. 2021-03-05 first run: all cash, 8 BUYs; the analyst executes them, one as a partial fill and
   one at another price than proposed;
2. 2021-03-12: a rebalance; the analyst executes all but two buys;
3. 2021-03-12 again (a re-run in the same week): the two open buys are superseded and proposed
   again, not doubled; the analyst executes them;
4. 2021-03-26: a rebalance, all executed;
5. 2021-04-01: drift is small: no rebalance, the week is still recorded;
6. 2021-04-01 with --force-rebalance: small trades, left unexecuted.

The turnover controls are switched off (``turnover_control = false``) so the weeks rebalance as
the seed's plain drift rule has them; ``test_turnover.py`` tests the controls.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from etftrader.holdings import holdings_from_ledger
from etftrader.workbook import SCHEMA, read_ledger

from .helpers import mark_executed, run_cli

WEEKLY = ["weekly", "--positions", "8", "--optimizer", "minvar", "--json"]
JSON_KEYS = {"as_of", "optimizer", "rebalanced", "drift", "drift_threshold", "portfolio_value", "cash",
             "target", "trades", "metrics", "dropped", "warnings", "workbook"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e") / "home"
    book = home / "results" / "portfolio_tracking.xlsx"
    # This scenario pins the ledger's mechanics on the seed's plain drift rule (rebalance weeks,
    # partial fills, supersede): the turnover controls are off here, tested in test_turnover.py.
    home.mkdir(parents=True)
    (home / "etftrader.toml").write_text("[rebalance]\nturnover_control = false\n", encoding="utf-8")
    steps = {}

    def run(name, *args):
        code, out, err = run_cli([*WEEKLY, *args], home=home)
        assert code == 0, err
        steps[name] = {"json": json.loads(out), "ledger": read_ledger(book), "stderr": err,
                       "bytes": book.read_bytes()}
        return steps[name]

    def open_rows():
        trades = read_ledger(book).trades
        return trades.loc[~trades["executed"], "_row"].tolist()

    run("w1", "--as-of", "2021-03-05")
    rows = open_rows()
    # AAPL (row 2) filled 1000 of its shares; AMD (row 3) at 80.00 instead of the proposed price.
    mark_executed(book, rows, shares={rows[0]: 1000}, price={rows[1]: 80.0})
    run("w2", "--as-of", "2021-03-12")
    rows = open_rows()
    mark_executed(book, rows[:-2])
    steps["w2_open"] = read_ledger(book).trades.set_index("_row").loc[rows[-2:]]
    run("w2_rerun", "--as-of", "2021-03-12")
    mark_executed(book, open_rows())
    run("w3", "--as-of", "2021-03-26")
    mark_executed(book, open_rows())
    steps["before_w4"] = read_ledger(book)
    run("w4", "--as-of", "2021-04-01")
    run("w4_forced", "--as-of", "2021-04-01", "--force-rebalance")
    steps["home"], steps["book"] = home, book
    return steps


def test_first_run_json_has_every_key_and_is_all_cash(scenario):
    j = scenario["w1"]["json"]
    assert JSON_KEYS <= set(j)
    assert j["as_of"] == "2021-03-05" and j["optimizer"] == "minvar"
    assert j["rebalanced"] is True and j["drift"] == pytest.approx(1.0)
    assert j["drift_threshold"] == 0.075
    assert j["portfolio_value"] == pytest.approx(1_000_000.0)
    assert {t["action"] for t in j["trades"]} == {"BUY"} and len(j["trades"]) == 8
    assert len(j["target"]) == 8
    assert sum(t["weight"] for t in j["target"]) == pytest.approx(1.0)
    assert set(j["metrics"]) == {"expected_return", "expected_volatility", "expected_sharpe"}
    spent = sum(t["value"] + t["est_cost"] for t in j["trades"])
    assert j["cash"] == pytest.approx(1_000_000.0 - spent)
    assert 0 <= j["cash"] < 1_000  # whole shares leave little over
    assert j["cash_flows"] == [{"type": "DEPOSIT", "amount": 1_000_000.0}]
    assert scenario["w1"]["stderr"] == ""


def test_first_run_rows_follow_the_schema(scenario):
    ledger = scenario["w1"]["ledger"]
    j = scenario["w1"]["json"]
    for sheet, columns in SCHEMA.items():
        frame = getattr(ledger, sheet.lower())
        assert list(frame.columns[: len(columns)]) == columns
    assert len(ledger.trades) == 8 and not ledger.trades["executed"].any()
    assert set(ledger.trades["run_id"]) == {j["run_id"]}
    assert ledger.positions["shares"].tolist() == [t["shares"] for t in sorted(j["trades"], key=lambda t: t["ticker"])]
    meta = ledger.metadata.iloc[0]
    assert bool(meta["rebalanced"]) and meta["optimizer"] == "minvar"
    assert pd.isna(meta["superseded_run"]) or meta["superseded_run"] == ""
    assert ledger.cashflows[["type", "amount"]].values.tolist() == [["DEPOSIT", 1_000_000.0]]
    perf = ledger.performance.iloc[0]
    assert perf["total_value"] == pytest.approx(1_000_000.0)
    assert perf["pending_value"] == pytest.approx(sum(t["value"] for t in j["trades"]))


def test_side_files_for_the_report_are_saved(scenario):
    data = scenario["home"] / "data"
    scores = pd.read_parquet(data / "factor_scores_latest.parquet")
    assert "composite" in scores.columns and len(scores) == 25
    market = pd.read_parquet(data / "market_latest.parquet")
    # What the data layer's load_market_series gives for the last run's as-of date.
    from etftrader.config import DataConfig
    from etftrader.paths import Home
    from etftrader.prices import load_market_series

    expected = load_market_series(DataConfig(source="sample"), Home(scenario["home"]), as_of=date(2021, 4, 1))
    pd.testing.assert_frame_equal(market, expected, check_freq=False)
    assert market.index.max() <= pd.Timestamp("2021-04-01")


def test_partial_fill_and_edited_price_are_used(scenario, sample_close):
    j1, j2 = scenario["w1"]["json"], scenario["w2"]["json"]
    proposed = {t["ticker"]: t for t in j1["trades"]}
    aapl, amd = proposed["AAPL"], proposed["AMD"]
    # Cash at week 2 = deposit - what the analyst really paid (their shares x their prices) - costs.
    paid = sum(t["value"] for t in j1["trades"]) - aapl["value"] + 1000 * aapl["price"] \
        - amd["value"] + amd["shares"] * 80.0
    cash = 1_000_000.0 - paid - sum(t["est_cost"] for t in j1["trades"])
    assert j2["cash_before"] == pytest.approx(cash)
    # Value at 2021-03-12 closes, from the raw sample (independent of our price layer).
    close = sample_close.loc["2021-03-12"]
    shares = {t: p["shares"] for t, p in proposed.items()} | {"AAPL": 1000.0}
    expected = sum(n * close[t] for t, n in shares.items()) + cash
    assert j2["portfolio_value"] == pytest.approx(expected, rel=1e-9)


def test_rebalance_week_sells_first_and_stays_within_cash(scenario):
    j = scenario["w2"]["json"]
    assert j["rebalanced"] and j["drift"] > j["drift_threshold"]
    actions = [t["action"] for t in j["trades"]]
    assert "SELL" in actions and actions == sorted(actions, key=lambda a: a != "SELL")
    assert j["cash"] >= 0


def test_rerun_in_the_same_week_supersedes_and_does_not_double(scenario):
    j = scenario["w2_rerun"]["json"]
    open_ = scenario["w2_open"]
    assert j["superseded"]["run_id"] == scenario["w2"]["json"]["run_id"]
    assert j["superseded"]["count"] == 2
    assert j["superseded"]["value"] == pytest.approx(float((open_["shares"] * open_["price"]).sum()))
    # The re-run proposes what is still missing: the two open buys again, not on top of them.
    assert sorted((t["ticker"], t["action"], t["shares"]) for t in j["trades"]) == sorted(
        (r.ticker, r.action, r.shares) for r in open_.itertuples())
    assert any("superseded 2 unexecuted trades from run" in n for n in j["notes"])
    meta = scenario["w2_rerun"]["ledger"].metadata
    assert meta["superseded_run"].iloc[-1] == scenario["w2"]["json"]["run_id"]


def test_no_rebalance_week_is_still_recorded_marked_to_market(scenario, sample_close):
    j = scenario["w4"]["json"]
    assert not j["rebalanced"] and j["drift"] <= j["drift_threshold"] and j["trades"] == []
    before = scenario["before_w4"]
    # Independent holdings: executed BUY - SELL shares; cash from flows, trade values and costs.
    t = before.trades[before.trades["executed"]]
    signed = np.where(t["action"] == "BUY", 1.0, -1.0) * t["shares"]
    shares = signed.groupby(t["ticker"]).sum()
    shares = shares[shares > 0]
    value = t["shares"] * t["price"] * np.where(t["action"] == "BUY", -1.0, 1.0)
    cash = before.cashflows["amount"].sum() + value.sum() - t["est_cost"].sum()
    close = sample_close.loc["2021-04-01"]
    assert j["portfolio_value"] == pytest.approx(float((shares * close[shares.index]).sum()) + cash)
    ledger = scenario["w4"]["ledger"]
    pos = ledger.positions[ledger.positions["run_id"] == j["run_id"]].set_index("ticker")
    assert pos["shares"].to_dict() == pytest.approx(shares.to_dict())
    assert pos["price"].to_dict() == pytest.approx(close[shares.index].to_dict())
    perf = ledger.performance.iloc[-1]
    assert perf["run_id"] == j["run_id"] and perf["total_value"] == pytest.approx(j["portfolio_value"])
    meta = ledger.metadata.iloc[-1]
    assert meta["run_id"] == j["run_id"] and not meta["rebalanced"]
    assert len(ledger.trades) == len(before.trades)  # no trade rows added


def test_forced_rebalance_trades_respect_holdings_and_cash(scenario):
    j = scenario["w4_forced"]["json"]
    assert j["rebalanced"] and j["drift"] <= j["drift_threshold"]
    held = holdings_from_ledger(scenario["w4"]["ledger"]).shares
    for t in j["trades"]:
        if t["action"] == "SELL":
            assert t["shares"] <= held[t["ticker"]]
        assert t["value"] >= 500.0  # min_trade_value
    assert j["cash"] >= 0
    assert j["superseded"]["count"] == 0  # week 4 proposed nothing


def test_every_earlier_row_survives_every_run(scenario):
    order = ["w1", "w2", "w2_rerun", "w3", "w4", "w4_forced"]
    for a, b in zip(order, order[1:]):
        old, new = scenario[a]["ledger"], scenario[b]["ledger"]
        for sheet in ("positions", "performance", "metadata", "cashflows"):
            o, n = getattr(old, sheet), getattr(new, sheet)
            assert len(n) >= len(o)
            pd.testing.assert_frame_equal(n.iloc[: len(o)].reset_index(drop=True),
                                          o.reset_index(drop=True), check_dtype=False)
    runs = [scenario[s]["json"]["run_id"] for s in order]
    assert len(set(runs)) == len(runs)
    assert scenario["w4_forced"]["ledger"].metadata["run_id"].tolist() == runs


def test_as_of_runs_use_only_data_up_to_that_date(scenario):
    for step, day in [("w1", "2021-03-05"), ("w3", "2021-03-26"), ("w4", "2021-04-01")]:
        j = scenario[step]["json"]
        assert j["as_of"] == day and j["data_as_of"] <= day
    meta = scenario["w4"]["ledger"].metadata.iloc[-1]
    assert pd.Timestamp(meta["data_as_of"]).date() <= date(2021, 4, 1)
