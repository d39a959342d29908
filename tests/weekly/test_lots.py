"""Tax lots from the ledger: FIFO, HIFO and tax-aware matching by hand, gains and their term, wash
sales, harvesting candidates, and the Lots sheet and ``--json`` of a weekly run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from etftrader import lots as lt
from etftrader.config import Config

from .helpers import make_ledger, run_cli, trade


def _ledger(*rows):
    ledger = make_ledger(trades=rows)
    ledger.trades["as_of"] = ledger.trades["timestamp"].dt.normalize()
    return ledger


def _two_buys_and_a_sell(price=130.0):
    return _ledger(
        trade("2021-01-04 09:30", "AAA", "BUY", 10, 100.0, True, "r1", est_cost=1.0),
        trade("2021-02-01 09:30", "AAA", "BUY", 10, 120.0, True, "r2"),
        trade("2021-03-01 09:30", "AAA", "SELL", 15, price, True, "r3", est_cost=1.5),
        trade("2021-03-08 09:30", "AAA", "SELL", 5, price, False, "r4"),  # not executed: no effect
    )


def test_fifo_closes_the_oldest_lot_first_net_of_costs():
    lots = lt.build_lots(_two_buys_and_a_sell(), method="fifo")
    r = lots.realised
    assert r["lot"].tolist() == ["AAA-1", "AAA-2"] and r["shares"].tolist() == [10, 5]
    # proceeds net of the sell's cost (0.10 a share); cost with the buy's cost (0.10 a share)
    assert r["gain"].tolist() == pytest.approx([10 * 129.9 - 1001.0, 5 * 129.9 - 600.0])
    assert lots.open.to_dict("records") == [
        {"ticker": "AAA", "lot": "AAA-2", "acquired": pd.Timestamp("2021-02-01"), "shares": 5.0,
         "cost_per_share": 120.0}]
    assert set(r["term"]) == {"short"}
    assert lots.realised_by_year().loc[2021, "total"] == pytest.approx(298.0 + 49.5)


def test_hifo_closes_the_dearest_lot_first():
    r = lt.build_lots(_two_buys_and_a_sell(), method="hifo").realised
    assert r["lot"].tolist() == ["AAA-2", "AAA-1"]
    assert r["gain"].tolist() == pytest.approx([10 * 129.9 - 1200.0, 5 * 129.9 - 5 * 100.1])


def test_tax_aware_sells_losses_first_then_long_term_then_short_term():
    ledger = _ledger(
        trade("2019-01-02 09:30", "AAA", "BUY", 10, 80.0, True, "r1"),    # long-term gain at 130
        trade("2020-06-01 09:30", "AAA", "BUY", 10, 140.0, True, "r2"),   # a loss at 130
        trade("2020-06-15 09:30", "AAA", "BUY", 10, 100.0, True, "r3"),   # short-term gain
        trade("2020-07-01 09:30", "AAA", "SELL", 15, 130.0, True, "r4"),
        trade("2020-07-08 09:30", "AAA", "SELL", 10, 130.0, True, "r5"),
    )
    r = lt.build_lots(ledger, method="tax_aware").realised
    assert r["lot"].tolist() == ["AAA-2", "AAA-1", "AAA-1", "AAA-3"] and r["shares"].tolist() == [10, 5, 5, 5]
    assert r["term"].tolist() == ["short", "long", "long", "short"]
    assert r["gain"].tolist() == pytest.approx([-100.0, 250.0, 250.0, 150.0])
    first = lt.build_lots(_ledger(*[row for row in ledger.trades.itertuples(index=False)][:4]), method="fifo")
    # FIFO's first sell closes the long-term gain first: it realises 450, tax-aware 150
    assert first.realised["gain"].sum() == pytest.approx(450.0) and r["gain"].iloc[:2].sum() == pytest.approx(150.0)


def test_a_lot_held_longer_than_the_limit_is_long_term():
    ledger = _ledger(trade("2020-01-02 09:30", "AAA", "BUY", 1, 10.0, True, "r1"),
                     trade("2021-01-04 09:30", "AAA", "SELL", 1, 12.0, True, "r2"))
    assert lt.build_lots(ledger, long_term_days=365).realised["term"].tolist() == ["long"]
    assert lt.build_lots(ledger, long_term_days=400).realised["term"].tolist() == ["short"]


def test_buying_back_within_30_days_of_a_loss_is_a_wash_sale_and_big_losses_are_harvest_candidates():
    ledger = _ledger(trade("2021-01-04 09:30", "AAA", "BUY", 10, 100.0, True, "r1"),
                     trade("2021-02-01 09:30", "AAA", "SELL", 10, 90.0, True, "r2"),
                     trade("2021-02-01 09:30", "BBB", "BUY", 10, 50.0, True, "r2"))
    lots = lt.build_lots(ledger)
    week = pd.DataFrame({"ticker": ["AAA", "BBB"], "action": ["BUY", "SELL"], "shares": [5.0, 2.0],
                         "price": [91.0, 40.0], "est_cost": [0.0, 0.0]})
    assert lt.wash_sales(lots, week, "2021-02-20") == ["AAA"]
    assert lt.wash_sales(lots, week, "2021-03-15") == []  # more than 30 days after the loss
    rows = lt.lots_rows(lots, {"BBB": 40.0}, "2021-02-20")
    assert rows["unrealised"].tolist() == pytest.approx([-100.0])
    assert len(lt.harvest_candidates(rows, 0.10)) == 1 and len(lt.harvest_candidates(rows, 0.25)) == 0
    preview = lt.sell_preview(lots, week, "2021-02-20")
    assert preview["gain"].tolist() == pytest.approx([2 * (40.0 - 50.0)])


def test_a_weekly_run_writes_the_lots_sheet_and_says_what_its_sells_would_realise(tmp_path):
    import openpyxl

    from etftrader.workbook import read_ledger

    from .helpers import mark_executed

    home = tmp_path / "home"
    book = home / "results" / "portfolio_tracking.xlsx"
    code, out, err = run_cli(["weekly", "--as-of", "2021-03-05", "--positions", "5", "--json"], home=home)
    assert code == 0, err
    mark_executed(book, read_ledger(book).trades.query("not executed")["_row"].tolist())
    code, out, err = run_cli(["weekly", "--as-of", "2021-06-04", "--positions", "5", "--json", "--force-rebalance"],
                             home=home)
    assert code == 0, err
    week = json.loads(out)
    wb = openpyxl.load_workbook(book)
    assert "Lots" in wb.sheetnames and wb.sheetnames[0] == "Holdings"
    rows = [dict(zip(list(wb["Lots"].values)[0], r)) for r in list(wb["Lots"].values)[1:]]
    bought = {t["ticker"]: t for t in json.loads(json.dumps(read_ledger(book).trades.query("executed")
                                                            .to_dict("records"), default=str))}
    assert {r["ticker"] for r in rows} == set(bought)
    prices = {t["ticker"]: t["price"] for t in week["target"]}
    for r in rows:
        b = bought[r["ticker"]]
        assert r["shares"] == b["shares"] and r["cost"] == pytest.approx(b["shares"] * b["price"] + b["est_cost"])
        if r["ticker"] in prices:
            assert r["value"] == pytest.approx(r["shares"] * prices[r["ticker"]])
    sells = [t for t in week["trades"] if t["action"] == "SELL"]
    expected = sum(t["shares"] * (t["price"] - t["est_cost"] / t["shares"])
                   - t["shares"] * (bought[t["ticker"]]["price"] + bought[t["ticker"]]["est_cost"]
                                    / bought[t["ticker"]]["shares"]) for t in sells)
    assert week["tax"]["week_sells_realise"]["total"] == pytest.approx(expected)
    assert week["tax"]["realised_this_year"]["total"] == 0.0 and week["tax"]["wash_sales"] == []


def test_a_bad_lot_method_is_one_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text('[tax]\nlot_method = "lifo"\n', encoding="utf-8")
    code, _, err = run_cli(["weekly", "--as-of", "2021-03-05", "--positions", "5"], home=home)
    assert code == 2 and "`lot_method` must be one of fifo, hifo, tax_aware, got 'lifo'" in err
    assert Config().tax.lot_method == "fifo"
