"""Holdings from the ledger: executed trades only, the analyst's numbers, cash flows, pending."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from etftrader.errors import DataError, WorkbookError
from etftrader.holdings import holdings_from_ledger
from etftrader.opening import IMPORT_NOTE, import_rows, read_holdings_csv

from .helpers import flow, make_ledger, trade

T1, T2, T3 = "2021-03-08 09:00", "2021-03-15 09:00", "2021-03-15 10:00"


def test_empty_ledger_is_all_cash_zero_and_no_run():
    h = holdings_from_ledger(make_ledger())
    assert h.shares.empty and h.cash == 0.0
    assert h.last_run_id is None and not h.has_cashflows
    assert h.pending.empty and h.superseded.empty


def test_only_executed_trades_count_and_cash_follows_them():
    ledger = make_ledger(
        trades=[trade(T1, "AAA", "BUY", 10, 100.0, True, "r1", est_cost=0.5),
                trade(T1, "BBB", "BUY", 4, 50.0, False, "r1", est_cost=0.1)],
        cashflows=[flow(T1, "DEPOSIT", 5000.0, "r1")],
        metadata=[(pd.Timestamp(T1), True, "mvo", "r1")],
    )
    h = holdings_from_ledger(ledger)
    assert h.shares.to_dict() == {"AAA": 10.0}
    assert h.cash == pytest.approx(5000 - 1000 - 0.5)
    assert h.pending["ticker"].tolist() == ["BBB"]
    assert h.pending_value == pytest.approx(200.0)
    assert h.last_run_id == "r1" and h.has_cashflows and h.executed_trades == 1


def test_edited_shares_and_price_are_used_and_stale_value_ignored():
    # The analyst got a partial fill (7 of 10) at 101.5 and typed it over the proposal; `value` is stale.
    ledger = make_ledger(
        trades=[trade(T1, "AAA", "BUY", 7, 101.5, True, "r1", value=1000.0)],
        cashflows=[flow(T1, "DEPOSIT", 2000.0)],
    )
    h = holdings_from_ledger(ledger)
    assert h.shares["AAA"] == 7
    assert h.cash == pytest.approx(2000 - 7 * 101.5)
    assert h.last_price["AAA"] == 101.5


def test_sells_reduce_holdings_and_a_sold_out_ticker_disappears():
    ledger = make_ledger(
        trades=[trade(T1, "AAA", "BUY", 10, 100.0, True, "r1"),
                trade(T1, "BBB", "BUY", 5, 20.0, True, "r1"),
                trade(T2, "AAA", "SELL", 4, 110.0, True, "r2", est_cost=0.2),
                trade(T2, "BBB", "SELL", 5, 22.0, True, "r2")],
        cashflows=[flow(T1, "DEPOSIT", 2000.0), flow(T2, "WITHDRAWAL", 300.0)],
    )
    h = holdings_from_ledger(ledger)
    assert h.shares.to_dict() == {"AAA": 6.0}
    assert h.cash == pytest.approx(2000 - 300 - 1000 - 100 + 440 + 110 - 0.2)
    assert h.deposits == pytest.approx(1700.0)


def test_executed_sells_beyond_buys_name_the_ticker_and_rows():
    ledger = make_ledger(
        trades=[trade(T1, "AAA", "BUY", 10, 100.0, True, "r1"),
                trade(T2, "AAA", "SELL", 12, 100.0, True, "r2")],
        cashflows=[flow(T1, "DEPOSIT", 2000.0)],
    )
    with pytest.raises(WorkbookError, match=r"SELLs of AAA exceed .* by 2 shares \(rows 2, 3\)"):
        holdings_from_ledger(ledger)


def test_executed_trade_without_a_price_is_named():
    ledger = make_ledger(trades=[trade(T1, "AAA", "BUY", 10, float("nan"), True, "r1", value=0.0)])
    with pytest.raises(WorkbookError, match=r"AAA need positive shares and price, rows 2"):
        holdings_from_ledger(ledger)


def test_unknown_action_and_cash_flow_type_are_named():
    bad_action = make_ledger(trades=[trade(T1, "AAA", "HOLD", 1, 1.0, True, "r1")])
    with pytest.raises(WorkbookError, match="action other than BUY or SELL"):
        holdings_from_ledger(bad_action)
    bad_flow = make_ledger(cashflows=[flow(T1, "GIFT", 5.0)])
    with pytest.raises(WorkbookError, match=r"DEPOSIT or WITHDRAWAL, got \['GIFT'\] in rows 2"):
        holdings_from_ledger(bad_flow)


def test_only_the_latest_runs_unexecuted_trades_are_pending_older_are_superseded():
    ledger = make_ledger(
        trades=[trade(T1, "AAA", "BUY", 10, 100.0, False, "r1"),
                trade(T1, "BBB", "BUY", 10, 10.0, True, "r1"),
                trade(T2, "AAA", "BUY", 9, 100.0, False, "r2"),
                trade(T3, "AAA", "BUY", 8, 100.0, False, "r3"),
                trade(T3, "CCC", "BUY", 2, 50.0, False, "r3")],
        cashflows=[flow(T1, "DEPOSIT", 5000.0)],
        metadata=[(pd.Timestamp(T3), True, "mvo", "r3"), (pd.Timestamp(T1), True, "mvo", "r1"),
                  (pd.Timestamp(T2), True, "mvo", "r2")],  # sorted by the analyst: order must not matter
    )
    h = holdings_from_ledger(ledger)
    assert h.last_run_id == "r3"
    assert sorted(h.pending["ticker"]) == ["AAA", "CCC"]
    assert h.pending_value == pytest.approx(900.0)
    assert sorted(h.superseded["run_id"]) == ["r1", "r2"]
    # Superseded trades never count... until the analyst marks one executed.
    assert h.shares.to_dict() == {"BBB": 10.0}


def test_a_superseded_trade_marked_executed_later_counts():
    ledger = make_ledger(
        trades=[trade(T1, "AAA", "BUY", 10, 100.0, True, "r1"),
                trade(T2, "CCC", "BUY", 3, 10.0, False, "r2")],
        cashflows=[flow(T1, "DEPOSIT", 2000.0)],
        metadata=[(pd.Timestamp(T1), True, "mvo", "r1"), (pd.Timestamp(T2), True, "mvo", "r2"),
                  (pd.Timestamp(T3), False, "mvo", "r3")],
    )
    h = holdings_from_ledger(ledger)
    assert h.pending.empty and len(h.superseded) == 1  # r3 proposed nothing, so r2's trade is superseded
    assert h.shares.to_dict() == {"AAA": 10.0}


def test_read_holdings_csv_and_import_rows(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(" Ticker , Shares,Cost,broker\nqual,10,120.5,x\nMTUM,\"1,000\",150,y\n", encoding="utf-8")
    frame = read_holdings_csv(path)
    assert frame[["ticker", "shares", "cost"]].to_dict("list") == {
        "ticker": ["MTUM", "QUAL"], "shares": [1000.0, 10.0], "cost": [150.0, 120.5]}
    assert frame["acquired"].isna().all()  # no acquired column: each line a whole position, bought now
    rows = import_rows(frame, cash=500.0, timestamp=datetime(2021, 3, 1, 9), as_of=date(2021, 3, 1), run_id="imp")
    assert rows["CashFlows"]["amount"].tolist() == [150_000 + 1205 + 500]
    assert rows["Trades"]["executed"].tolist() == [True, True]
    assert set(rows["Trades"]["note"]) == {IMPORT_NOTE}
    # Recorded and read back, the import gives exactly those holdings and the extra cash.
    ledger = make_ledger(
        trades=[tuple(r) for r in rows["Trades"].drop(columns="acquired").itertuples(index=False)],
        cashflows=[tuple(r) for r in rows["CashFlows"].itertuples(index=False)])
    h = holdings_from_ledger(ledger)
    assert h.shares.to_dict() == {"MTUM": 1000.0, "QUAL": 10.0}
    assert h.cash == pytest.approx(500.0)


@pytest.mark.parametrize("text, message", [
    ("ticker,shares\nAAA,1\n", "lacks column\\(s\\) cost"),
    ("ticker,shares,cost\n,1,2\n", "line 2: ticker is blank"),
    ("ticker,shares,cost\nAAA,1,2\naaa,3,4\n", "line 3: ticker AAA repeats line 2"),
    ("ticker,shares,cost\nAAA,-1,2\n", "line 2: shares of AAA must be a positive number, got '-1'"),
    ("ticker,shares,cost\nAAA,1,abc\n", "line 2: cost of AAA must be a positive number, got 'abc'"),
    ("ticker,shares,cost\n", "has no rows"),
])
def test_bad_holdings_files_name_line_and_value(tmp_path, text, message):
    path = tmp_path / "h.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_holdings_csv(path)


def test_missing_holdings_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_holdings_csv(tmp_path / "nope.csv")


def test_two_runs_in_the_same_second_the_later_appended_one_is_latest():
    # Run ids end in a random suffix: "zz" sorts after "aa" but was appended first.
    meta = make_ledger(metadata=[(pd.Timestamp(T1), True, "mvo", "20210305-090000-zz"),
                                 (pd.Timestamp(T1), True, "mvo", "20210305-090000-aa")]).metadata
    meta["_row"] = [2, 3]
    ledger = make_ledger(
        trades=[trade(T1, "AAA", "BUY", 10, 100.0, False, "20210305-090000-zz"),
                trade(T1, "BBB", "BUY", 5, 100.0, False, "20210305-090000-aa")],
        cashflows=[flow(T1, "DEPOSIT", 5000.0)],
    )
    ledger.metadata = meta
    h = holdings_from_ledger(ledger)
    assert h.last_run_id == "20210305-090000-aa"
    assert list(h.pending["ticker"]) == ["BBB"]
    assert list(h.superseded["ticker"]) == ["AAA"]


def test_one_latest_run_for_holdings_show_and_the_report_when_weeks_come_out_of_order(tmp_path):
    """A week recorded later with an earlier --as-of supersedes what was pending: holdings show, the
    report's pending trades and its This-week panel all name that run (issue 17's two definitions
    gave 999,429.06 in one and 999,419.26 in the other)."""
    import json

    from etftrader import monitoring as mon
    from etftrader import weekview as wv
    from etftrader.holdings import holdings_from_ledger
    from etftrader.workbook import read_ledger

    from .helpers import run_cli

    home = tmp_path / "home"
    code, out, err = run_cli(["weekly", "--as-of", "2021-06-04", "--positions", "5", "--json"], home=home)
    assert code == 0, err
    code, out, err = run_cli(["weekly", "--as-of", "2021-05-28", "--positions", "5", "--json", "--force"], home=home)
    assert code == 0, err
    later = json.loads(out)
    ledger = read_ledger(home / "results" / "portfolio_tracking.xlsx")
    held = holdings_from_ledger(ledger)
    assert held.last_run_id == later["run_id"]
    pending = mon.pending_trades(ledger)
    assert pending.attrs["total_value"] == pytest.approx(float(held.pending["value"].sum()))
    assert pending.attrs["total_value"] == pytest.approx(sum(t["value"] for t in later["trades"]))
    panel = wv.week_panel(ledger)
    assert panel.as_of == "2021-05-28" and panel.weeks == 1
    assert panel.buy_value + panel.sell_value == pytest.approx(pending.attrs["total_value"])
    statuses = wv.trade_status(ledger)
    assert set(statuses.loc[statuses["run"] == later["run_id"], "status"]) == {"pending"}
    assert set(statuses.loc[statuses["run"] != later["run_id"], "status"]) == {"superseded"}
    code, shown, _ = run_cli(["holdings", "show"], home=home, sample=False)
    assert f"Pending (run {later['run_id']})" in shown
