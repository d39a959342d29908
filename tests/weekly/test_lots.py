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
    assert r["lot"].tolist() == ["AAA-2021-01-04", "AAA-2021-02-01"] and r["shares"].tolist() == [10, 5]
    # proceeds net of the sell's cost (0.10 a share); cost with the buy's cost (0.10 a share)
    assert r["gain"].tolist() == pytest.approx([10 * 129.9 - 1001.0, 5 * 129.9 - 600.0])
    assert lots.open.to_dict("records") == [
        {"ticker": "AAA", "lot": "AAA-2021-02-01", "acquired": pd.Timestamp("2021-02-01"), "shares": 5.0,
         "cost_per_share": 120.0}]
    assert set(r["term"]) == {"short"}
    assert lots.realised_by_year().loc[2021, "total"] == pytest.approx(298.0 + 49.5)


def test_hifo_closes_the_dearest_lot_first():
    r = lt.build_lots(_two_buys_and_a_sell(), method="hifo").realised
    assert r["lot"].tolist() == ["AAA-2021-02-01", "AAA-2021-01-04"]
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
    assert r["lot"].tolist() == ["AAA-2020-06-01", "AAA-2019-01-02", "AAA-2019-01-02", "AAA-2020-06-15"] and r["shares"].tolist() == [10, 5, 5, 5]
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


# --- The built ledger: partial fills, a partial sell, two buys at different prices, a sale
# at a loss bought back within 30 days, an imported lot with its own date; every figure by hand.


def _built(lot=""):
    ledger = _ledger(
        # 120 proposed, 100 filled: the analyst typed 100 over the shares; the stale value is ignored
        trade("2021-01-04 09:30", "AAA", "BUY", 100, 50.0, True, "r1", est_cost=5.0, value=6000.0),
        trade("2021-02-01 09:30", "BBB", "BUY", 10, 100.0, True, "r2"),
        trade("2021-03-01 09:30", "AAA", "BUY", 50, 60.0, True, "r3", est_cost=3.0),
        trade("2021-03-01 09:30", "CCC", "BUY", 10, 20.0, True, "r3"),  # imported: acquired 2019-05-01
        trade("2021-06-01 09:30", "AAA", "SELL", 120, 55.0, True, "r4", est_cost=6.0),  # 120 of 150
        trade("2021-06-01 09:30", "CCC", "SELL", 4, 30.0, True, "r4"),
        trade("2021-07-01 09:30", "BBB", "SELL", 10, 80.0, True, "r5"),  # a loss of 200
    )
    ledger.trades["acquired"] = [pd.NaT, pd.NaT, pd.NaT, pd.Timestamp("2019-05-01"), pd.NaT, pd.NaT, pd.NaT]
    ledger.trades["lot"] = ["", "", "", "", lot, "", ""]
    ledger.trades["_row"] = range(2, 9)
    ledger.trades.attrs["cells"] = {"sheet": "Trades", "file": "book.xlsx", "columns": {"lot": "R"}}
    return ledger


def _cents(values):
    return [round(v, 2) for v in values]


def test_built_ledger_fifo_in_cents():
    lots = lt.build_lots(_built(), method="fifo")
    r = lots.realised.set_index(["ticker", "lot"])
    # AAA: cost 50.05 and 60.06 a share (the buys' costs), proceeds 54.95 a share (the sell's cost)
    assert _cents(r.loc["AAA", "gain"].tolist()) == [490.00, -102.20]
    assert r.loc["AAA", "shares"].tolist() == [100, 20]
    assert r.loc["AAA"].index.tolist() == ["AAA-2021-01-04", "AAA-2021-03-01"]
    assert r.loc[("CCC", "CCC-2019-05-01"), "gain"] == pytest.approx(40.0, abs=0.005)
    assert r.loc[("CCC", "CCC-2019-05-01"), "term"] == "long" and r.loc[("BBB", "BBB-2021-02-01"), "term"] == "short"
    assert r.loc[("BBB", "BBB-2021-02-01"), "gain"] == pytest.approx(-200.0, abs=0.005)
    left = lots.open.set_index("lot")
    assert left["shares"].to_dict() == {"AAA-2021-03-01": 30.0, "CCC-2019-05-01": 6.0}
    rows = lt.lots_rows(lots, {"AAA": 58.0, "CCC": 25.0}, "2021-08-02").set_index("lot")
    assert _cents(rows["unrealised"].tolist()) == [-61.80, 30.00]
    assert rows["term"].tolist() == ["short", "long"]
    by_year = lots.realised_by_year().loc[2021]
    assert _cents([by_year["short_term"], by_year["long_term"]]) == [490.00 - 102.20 - 200.00, 40.00]
    gains = lt.gains_rows(lots, "2021-08-02").iloc[0]
    assert gains["year"] == 2021 and gains["lots_sold"] == 4
    assert _cents([gains["total"], gains["losses"]]) == [227.80, -302.20]


def test_built_ledger_hifo_and_specific_lots_in_cents():
    hifo = lt.build_lots(_built(), method="hifo").realised.query("ticker == 'AAA'")
    assert hifo["lot"].tolist() == ["AAA-2021-03-01", "AAA-2021-01-04"] and hifo["shares"].tolist() == [50, 70]
    assert _cents(hifo["gain"].tolist()) == [-255.50, 343.00]
    # the analyst's lot first, the rest of the 120 by the method (fifo) from the other lots: 40 + 80
    named = lt.build_lots(_built("aaa-2021-03-01: 40"), method="fifo")
    r = named.realised.query("ticker == 'AAA'")
    assert r["lot"].tolist() == ["AAA-2021-03-01", "AAA-2021-01-04"]
    assert r["shares"].tolist() == [40, 80] and _cents(r["gain"].tolist()) == [-204.40, 392.00]
    assert named.open.query("ticker == 'AAA'").set_index("lot")["shares"].to_dict() == {
        "AAA-2021-01-04": 20.0, "AAA-2021-03-01": 10.0}
    # every lot given a count, the counts short of the sell: the cell cannot say where the rest is from
    from etftrader.errors import WorkbookError

    with pytest.raises(WorkbookError, match="names 70 shares of a SELL of 120 and leaves no other lot"):
        lt.build_lots(_built("AAA-2021-01-04: 30, AAA-2021-03-01: 40"), method="fifo")
    # a lot named without shares gives what it has, up to the sell
    whole = lt.build_lots(_built("AAA-2021-03-01"), method="fifo").realised.query("ticker == 'AAA'")
    assert whole["shares"].tolist() == [50, 70] and whole["lot"].tolist()[0] == "AAA-2021-03-01"


def test_built_ledger_wash_sale_flag_on_the_week_buy():
    lots = lt.build_lots(_built())
    week = pd.DataFrame({"ticker": ["AAA", "BBB"], "action": ["SELL", "BUY"], "shares": [10.0, 5.0],
                         "price": [58.0, 82.0], "value": [580.0, 410.0], "est_cost": [0.0, 0.0]})
    assert lt.wash_sales(lots, week, "2021-07-20") == ["BBB"]
    assert lt.wash_sales(lots, week, "2021-08-15") == []
    preview = lt.sell_preview(lots, week, "2021-07-20")
    flagged = lt.trade_lots(week, preview, ["BBB"])
    assert flagged["wash_sale"].tolist() == [False, True] and flagged.loc[1, "note"].startswith("wash sale")
    assert flagged.loc[0, "est_lots"] == "AAA-2021-03-01 x 10"
    assert round(flagged.loc[0, "est_gain"], 2) == round(10 * (58.0 - 60.06), 2)


@pytest.mark.parametrize("spec, why", [
    ("AAA-2020-01-01", "which is not an open lot of AAA"),
    ("BBB-2021-02-01", "which is not an open lot of AAA"),
    ("AAA-2021-01-04: 101", "but it holds 100"),
    ("AAA-2021-01-04: ten", "which is not a positive number"),
    ("AAA-2021-01-04: 80, AAA-2021-03-01: 50", "asks for 130 shares in all"),
    ("AAA-2021-01-04, AAA-2021-01-04", "twice"),
])
def test_a_lot_the_ledger_cannot_honour_is_one_line_naming_the_cell(spec, why):
    from etftrader.errors import WorkbookError

    with pytest.raises(WorkbookError) as e:
        lt.build_lots(_built(spec))
    text = str(e.value)
    assert "\n" not in text and text.startswith("Trades!R6 (lot)") and why in text and repr(spec) in text


def test_a_lot_already_sold_is_named_as_sold():
    from etftrader.errors import WorkbookError

    ledger = _ledger(trade("2021-01-04 09:30", "AAA", "BUY", 10, 50.0, True, "r1"),
                     trade("2021-02-01 09:30", "AAA", "BUY", 10, 55.0, True, "r2"),
                     trade("2021-03-01 09:30", "AAA", "SELL", 10, 60.0, True, "r3"),
                     trade("2021-04-01 09:30", "AAA", "SELL", 5, 60.0, True, "r4"))
    ledger.trades["lot"] = ["", "", "", "AAA-2021-01-04"]
    ledger.trades["_row"] = range(2, 6)
    with pytest.raises(WorkbookError, match=r"^Trades \(lot\) names lot AAA-2021-01-04, which was already sold"):
        lt.build_lots(ledger)  # no cell map (a frame not read from a workbook): the sheet is named


# --- End to end: specific lots, a bad lot cell, imported lots, the Gains sheet, costs in --json.


def _two_weeks(home):
    from etftrader.workbook import read_ledger

    from .helpers import mark_executed

    book = home / "results" / "portfolio_tracking.xlsx"
    code, _, err = run_cli(["weekly", "--as-of", "2021-03-05", "--positions", "5"], home=home)
    assert code == 0, err
    mark_executed(book, read_ledger(book).trades.query("not executed")["_row"].tolist())
    code, out, err = run_cli(["weekly", "--as-of", "2021-09-03", "--positions", "5", "--json", "--force-rebalance",
                              "--optimizer", "minvar"], home=home)
    assert code == 0, err
    week = json.loads(out)
    trades = read_ledger(book).trades
    sells = trades.loc[(trades["action"] == "SELL") & ~trades["executed"]]
    assert len(sells), "the second week should sell something"
    return book, week, sells


def test_the_trades_carry_cost_parts_lots_and_gains(tmp_path):
    from etftrader.workbook import read_ledger

    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text('[rebalance]\nspread_bps = { "*" = 4.0 }\ncommission_per_trade = 1.0\n',
                                         encoding="utf-8")
    book, week, sells = _two_weeks(home)
    for t in week["trades"]:
        # 5 bps + 1.00 a trade, and half of a 4 bps spread; no volume in the sample: no impact
        assert t["commission"] == pytest.approx(t["value"] * 5e-4 + 1.0)
        assert t["spread_cost"] == pytest.approx(t["value"] * 2e-4) and t["impact_cost"] == 0.0
        assert t["commission"] + t["spread_cost"] + t["impact_cost"] == pytest.approx(t["est_cost"], abs=1e-9)
    json_sells = {t["ticker"]: t for t in week["trades"] if t["action"] == "SELL"}
    rows = read_ledger(book).trades.query("not executed").set_index("ticker")
    for ticker, t in json_sells.items():
        assert t["lots"] and sum(u["shares"] for u in t["lots"]) == t["shares"]
        assert t["est_gain"] == pytest.approx(sum(u["gain"] for u in t["lots"]))
        assert rows.loc[ticker, "est_gain"] == pytest.approx(t["est_gain"])
        assert rows.loc[ticker, "est_lots"] == "; ".join(f"{u['lot']} x {u['shares']:g}" for u in t["lots"])
    assert week["tax"]["week_sells_realise"]["total"] == pytest.approx(sum(t["est_gain"] for t in json_sells.values()))
    assert (rows["commission"] + rows["spread_cost"] + rows["impact_cost"]).to_numpy() == pytest.approx(
        rows["est_cost"].to_numpy())


def _lots_sheet(book):
    import openpyxl

    wb = openpyxl.load_workbook(book)
    values = list(wb["Lots"].values)
    return {v[2]: dict(zip(values[0], v)) for v in values[1:]}, wb


def test_a_specific_lot_is_honoured_and_a_bad_one_stops_the_run_leaving_the_workbook_unchanged(tmp_path):
    import openpyxl

    from etftrader.workbook import append_week, read_ledger

    from .helpers import edit_cells

    home = tmp_path / "home"
    home.mkdir()
    book = home / "results" / "portfolio_tracking.xlsx"
    csv = tmp_path / "lots.csv"
    csv.write_text("ticker,shares,cost,acquired\nUSMV,100,55.00,2019-04-01\nUSMV,50,70.00,2021-01-15\n",
                   encoding="utf-8")
    code, _, err = run_cli(["holdings", "import", str(csv), "--as-of", "2021-03-05", "--cash", "1000"], home=home)
    assert code == 0, err
    # The analyst sold 30 USMV at the broker and typed the row, naming the dearer, newer lot.
    sold = pd.DataFrame({"timestamp": [pd.Timestamp("2021-03-08 10:00")], "ticker": ["USMV"], "action": ["SELL"],
                         "shares": [30.0], "price": [68.0], "value": [2040.0], "executed": [True],
                         "as_of": [pd.Timestamp("2021-03-08").date()], "lot": ["USMV-2099-01-01: 30"]})
    append_week(book, {"Trades": sold}, backups_dir=home / "results" / "backups")
    r = int(read_ledger(book).trades["_row"].max())
    before = book.read_bytes()
    code, out, err = run_cli(["weekly", "--as-of", "2021-03-12", "--positions", "5"], home=home)
    line = err.strip().splitlines()[-1]
    assert code == 5 and book.read_bytes() == before, err
    header = [c.value for c in openpyxl.load_workbook(book)["Trades"][1]]
    cell = f"Trades!{openpyxl.utils.get_column_letter(header.index('lot') + 1)}{r}"
    assert line.startswith(f"Error: {cell} (lot) names lot USMV-2099-01-01, which is not an open lot of USMV "
                           "(open on 2021-03-08: USMV-2019-04-01, USMV-2021-01-15)"), line
    assert "'USMV-2099-01-01: 30'" in line
    edit_cells(book, "Trades", {(r, "lot"): "USMV-2021-01-15: 30"})
    code, out, err = run_cli(["weekly", "--as-of", "2021-03-12", "--positions", "5"], home=home)
    assert code == 0, err
    lots, wb = _lots_sheet(book)
    # FIFO would have sold the 2019 lot; the named lot is the one reduced
    assert lots["USMV-2019-04-01"]["shares"] == 100 and lots["USMV-2021-01-15"]["shares"] == 20
    gains = [dict(zip(list(wb["Gains"].values)[0], v)) for v in list(wb["Gains"].values)[1:]]
    assert [g["year"] for g in gains] == [2021] and gains[0]["lots_sold"] == 1
    assert gains[0]["short_term"] == pytest.approx(30 * (68.0 - 70.0)) and gains[0]["long_term"] == 0


def test_imported_lots_keep_their_dates_and_costs(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    csv = tmp_path / "lots.csv"
    csv.write_text("ticker,shares,cost,acquired\nUSMV,100,55.00,2019-04-01\nUSMV,50,70.00,2021-01-15\n"
                   "QUAL,80,90.00,\n", encoding="utf-8")
    code, out, err = run_cli(["holdings", "import", str(csv), "--cash", "10000", "--as-of", "2021-03-05"], home=home)
    assert code == 0, err
    assert "Imported 3 lots of 2 holdings (cost basis 16,200.00)" in out
    code, out, err = run_cli(["weekly", "--as-of", "2021-03-05", "--positions", "5", "--json"], home=home)
    assert code == 0, err
    lots, _ = _lots_sheet(home / "results" / "portfolio_tracking.xlsx")
    assert set(lots) == {"USMV-2019-04-01", "USMV-2021-01-15", "QUAL-2021-03-05"}
    assert lots["USMV-2019-04-01"]["cost_per_share"] == 55.0 and lots["USMV-2019-04-01"]["term"] == "long"
    assert lots["USMV-2021-01-15"]["term"] == "short" and lots["QUAL-2021-03-05"]["shares"] == 80


@pytest.mark.parametrize("text, message", [
    ("ticker,shares,cost,acquired\nUSMV,100,55,2019-13-01\n", "line 2: acquired of USMV must be a date YYYY-MM-DD, got '2019-13-01'"),
    ("ticker,shares,cost\nUSMV,100,55\nUSMV,5,60\n", "line 3: ticker USMV repeats line 2"),
    ("ticker,shares,cost,acquired\nUSMV,100,55,2030-01-02\n", "acquired 2030-01-02 is after the import date 2021-03-05"),
])
def test_a_bad_lot_in_the_holdings_file_is_one_line_and_writes_nothing(tmp_path, text, message):
    home = tmp_path / "home"
    home.mkdir()
    csv = tmp_path / "lots.csv"
    csv.write_text(text, encoding="utf-8")
    code, _, err = run_cli(["holdings", "import", str(csv), "--as-of", "2021-03-05"], home=home)
    assert code == 3 and message in err.strip().splitlines()[-1]
    assert not (home / "results" / "portfolio_tracking.xlsx").exists()


def test_a_lot_given_a_count_gives_no_more_and_a_thousands_separator_is_a_count():
    ledger = _ledger(trade("2021-01-04 09:30", "AAA", "BUY", 1500, 10.0, True, "r1"),
                     trade("2021-02-01 09:30", "AAA", "BUY", 500, 12.0, True, "r2"),
                     trade("2021-03-01 09:30", "AAA", "SELL", 1200, 11.0, True, "r3"))
    ledger.trades["lot"] = ["", "", "AAA-2021-01-04: 1,000"]
    r = lt.build_lots(ledger, method="fifo").realised
    # 1,000 from the named lot, the other 200 from the next lot by fifo, none more from the named one
    assert r["lot"].tolist() == ["AAA-2021-01-04", "AAA-2021-02-01"] and r["shares"].tolist() == [1000, 200]
    ledger.trades["lot"] = ["", "", "AAA-2021-02-01: 500; AAA-2021-01-04"]
    r = lt.build_lots(ledger, method="fifo").realised
    assert r["shares"].tolist() == [500, 700]


def test_a_lot_cell_on_an_executed_buy_is_one_line():
    from etftrader.errors import WorkbookError

    ledger = _ledger(trade("2021-01-04 09:30", "AAA", "BUY", 10, 10.0, True, "r1"),
                     trade("2021-01-11 09:30", "AAA", "BUY", 10, 10.0, False, "r2"))
    ledger.trades["lot"] = ["", "AAA-2021-01-04"]  # on a BUY not executed: nothing to say yet
    ledger.trades["_row"] = [2, 3]
    ledger.trades.attrs["cells"] = {"sheet": "Trades", "file": "book.xlsx", "columns": {"lot": "R"}}
    assert len(lt.build_lots(ledger).open) == 1
    ledger.trades["lot"] = ["garbage", ""]
    with pytest.raises(WorkbookError, match=r"^Trades!R2 \(lot\) is filled on a BUY"):
        lt.build_lots(ledger)


def test_shares_read_as_typed():
    assert [lt.shares_text(x) for x in (10.0, 2_000_000.0, 10.123456, 0.5)] == ["10", "2000000", "10.123456", "0.5"]
    ledger = _ledger(trade("2021-01-04 09:30", "AAA", "BUY", 10.123456, 10.0, True, "r1"),
                     trade("2021-03-01 09:30", "AAA", "SELL", 10.123456, 11.0, True, "r2"))
    ledger.trades["lot"] = ["", "AAA-2021-01-04: 10.123456"]
    assert lt.build_lots(ledger).realised["shares"].tolist() == [10.123456]


def test_counted_lots_give_their_counts_before_a_named_lot_without_one():
    ledger = _ledger(trade("2021-01-04 09:30", "AAA", "BUY", 20, 10.0, True, "r1"),
                     trade("2021-02-01 09:30", "AAA", "BUY", 20, 12.0, True, "r2"),
                     trade("2021-03-01 09:30", "AAA", "SELL", 10, 11.0, True, "r3"))
    ledger.trades["lot"] = ["", "", "AAA-2021-01-04, AAA-2021-02-01: 5"]
    r = lt.build_lots(ledger, method="fifo").realised
    assert r["lot"].tolist() == ["AAA-2021-02-01", "AAA-2021-01-04"] and r["shares"].tolist() == [5, 5]
