"""The analyst's Monday: the "This week" panel, what is held now, trade statuses, and the report as a
browser shows it.

One scenario, built through the CLI on the sample (6 positions):

- week 1 (2021-03-05): all cash, six buys proposed (the ledger is kept as it was then); all marked
  executed;
- week 2 (2021-03-12): a deposit of 100,000; no trades;
- week 3 (2021-03-19, forced): a sell of WMT and a buy; only the buy is marked executed;
- week 4 (2021-03-26, forced): cash is negative (the WMT sell was never marked), WMT is held but
  leaves the target, the week-3 sell is superseded.

The figures are checked against what the weekly run itself recorded (its ``--json`` and the
Performance sheet) and against the Trades rows, not against the functions under test.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from etftrader import monitoring as mon
from etftrader import weekview as wv
from etftrader.workbook import read_ledger

WEEKS = ("2021-03-05", "2021-03-12", "2021-03-19", "2021-03-26")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from weekly.helpers import mark_executed, run_cli

    home = tmp_path_factory.mktemp("monday") / "home"
    book = home / "results" / "portfolio_tracking.xlsx"
    weeks = {}

    def week(day, *extra):
        code, out, err = run_cli(["weekly", "--as-of", day, "--positions", "6", "--json", *extra], home=home)
        assert code == 0, err
        weeks[day] = json.loads(out)

    week(WEEKS[0])
    first = book.with_name("week1.xlsx")
    shutil.copy2(book, first)  # the ledger as week 1 left it, before the analyst traded
    mark_executed(book, read_ledger(book).trades.query("not executed")["_row"].tolist())
    week(WEEKS[1], "--deposit", "100000")
    week(WEEKS[2], "--force-rebalance")
    trades = read_ledger(book).trades
    assert set(trades.query("not executed")["action"]) == {"BUY", "SELL"}
    mark_executed(book, trades.query("not executed and action == 'BUY'")["_row"].tolist())
    week(WEEKS[3], "--force-rebalance")
    return home, book, weeks


def _ledger(book, day):
    return mon.filter_as_of(read_ledger(book), day)


def test_week_one_is_all_cash_and_lists_the_buys_to_place(scenario):
    home, book, weeks = scenario
    ledger = read_ledger(book.with_name("week1.xlsx"))
    held = wv.held_now(ledger)
    assert list(held.index) == ["Cash"] and held.loc["Cash", "value"] == pytest.approx(1_000_000.0)
    assert held.loc["Cash", "weight"] == pytest.approx(1.0)
    panel = wv.week_panel(ledger)
    first = weeks[WEEKS[0]]
    assert panel.as_of == WEEKS[0] and panel.rebalance and panel.warnings == ()
    assert panel.decision.startswith("Rebalance: drift 100.0% is above the 5.0% threshold; place 6 trades")
    assert list(panel.trades["ticker"]) == [t["ticker"] for t in first["trades"]]
    assert panel.buy_value == pytest.approx(sum(t["value"] for t in first["trades"]), abs=1e-6)
    assert panel.cash_after == pytest.approx(first["cash"], abs=1e-6) and math.isnan(panel.week_return)


def test_a_deposit_is_not_counted_as_return(scenario):
    home, book, weeks = scenario
    ledger = _ledger(book, WEEKS[1])
    panel = wv.week_panel(ledger)
    perf = read_ledger(book).performance.set_index("as_of")["total_value"]
    v1, v2 = perf.loc[pd.Timestamp(WEEKS[0])], perf.loc[pd.Timestamp(WEEKS[1])]
    assert panel.week_return == pytest.approx((v2 - 100_000) / v1 - 1, abs=1e-12)
    assert not panel.rebalance and len(panel.trades) == 0
    assert panel.decision.startswith("No rebalance: drift") and "nothing to trade" in panel.decision
    held = wv.held_now(ledger, used=None)
    assert held.attrs["total_value"] == pytest.approx(v2, abs=0.01)  # the run's own valuation


def test_week_four_shows_negative_cash_the_unexecuted_sell_and_a_holding_that_left_the_target(scenario):
    home, book, weeks = scenario
    ledger = _ledger(book, WEEKS[3])
    last = weeks[WEEKS[3]]
    held = wv.held_now(ledger, used=None)
    # what is held is what the executed trades add up to, at the prices the run used
    trades = read_ledger(book).trades.query("executed")
    signed = trades.assign(n=trades["shares"].where(trades["action"] == "BUY", -trades["shares"]))
    expected_shares = signed.groupby("ticker")["n"].sum()
    expected_shares = expected_shares[expected_shares > 0]
    assert held.drop(index="Cash")["shares"].to_dict() == pytest.approx(expected_shares.to_dict())
    assert held.loc["Cash", "value"] == pytest.approx(last["cash_before"], abs=0.01) and last["cash_before"] < 0
    assert held.attrs["total_value"] == pytest.approx(last["portfolio_value"], abs=0.01)
    assert held["weight"].sum() == pytest.approx(1.0)
    # WMT: held (its sell was never marked) and sold by this week's target
    assert "WMT" in held.index and "WMT" not in {t["ticker"] for t in last["target"] if t["weight"] > 0}
    # average cost of a position bought once: its shares at the executed price plus the cost
    once = trades.groupby("ticker").filter(lambda g: len(g) == 1 and g["action"].iloc[0] == "BUY")
    row = once.iloc[0]
    if row["ticker"] in held.index:
        assert held.loc[row["ticker"], "cost"] == pytest.approx(row["shares"] * row["price"] + row["est_cost"])
    panel = wv.week_panel(ledger)
    text = " | ".join(panel.warnings)
    assert f"Negative cash: {last['cash_before']:,.2f}" in text
    assert "Unexecuted sells from earlier weeks: 1 worth" in text and "(WMT)" in text
    assert "Superseded trades (never executed, no longer count): 1 worth" in text
    assert panel.controls and panel.rebalance and len(panel.trades) == len(last["trades"])


def test_every_trade_has_a_status_and_every_week_a_row_in_the_trade_history(scenario):
    home, book, weeks = scenario
    ledger = read_ledger(book)
    status = wv.trade_status(ledger)
    raw = ledger.trades
    assert (status["status"] == "executed").sum() == int(raw["executed"].sum())
    latest = raw.loc[raw["run_id"] == weeks[WEEKS[3]]["run_id"]]
    assert (status["status"] == "pending").sum() == len(latest)
    assert (status["status"] == "superseded").sum() == len(raw) - int(raw["executed"].sum()) - len(latest)
    history = mon.trade_history(ledger)
    assert [f"{d:%Y-%m-%d}" for d in history.index] == list(WEEKS)
    assert history.loc[WEEKS[1], "trades"] == 0  # the week without trades is there
    total = read_ledger(book).performance.set_index("as_of")["total_value"]
    executed_w1 = raw.loc[raw["run_id"] == weeks[WEEKS[0]]["run_id"], "value"].sum()
    assert history.loc[WEEKS[0], "turnover"] == pytest.approx(executed_w1 / total.loc[pd.Timestamp(WEEKS[0])])
    # most traded and the split count executed trades only
    assert mon.most_traded(ledger)["trades"].sum() == int(raw["executed"].sum())
    split = mon.buy_sell_split(ledger)
    assert split["trades"].sum() == int(raw["executed"].sum())
    assert split["not_executed"].sum() == len(raw) - int(raw["executed"].sum())


def test_stop_losses_are_for_what_is_held_from_its_own_daily_closes(scenario):
    home, book, weeks = scenario
    ledger = _ledger(book, WEEKS[3])
    prices = wv.read_week_prices(home / "data" / "prices_latest.parquet", WEEKS[3])
    held = wv.held_now(ledger, prices, WEEKS[3])
    stops = mon.stop_loss_levels(ledger, market_volatility=0.2, held=held, prices=prices)
    assert sorted(stops.index) == sorted(held.index.drop("Cash"))
    assert stops["volatility_source"].str.startswith("own daily closes").all()
    ticker = stops.index[0]
    daily = prices[ticker].iloc[-253:].pct_change().dropna()
    assert stops.loc[ticker, "volatility"] == pytest.approx(daily.std(ddof=1) * math.sqrt(252))
    assert stops["stop_distance"].nunique() > 1  # each ETF its own, not one market figure


def test_tables_read_like_a_person_wrote_them(scenario):
    home, book, weeks = scenario
    held = wv.held_now(_ledger(book, WEEKS[3]))
    html = wv.table(held.drop(columns=["price_date"]), {"value": "money", "weight": "pct", "unrealised": "money"}).to_html()
    assert "Unrealised P&L" in html and "Ticker" in html and "unrealised_pct" not in html
    assert "nan" not in html.lower() and "NaT" not in html and ">0<" not in html.split("<tbody>")[1][:200]
    assert "-$170" in html or "-$" in html  # negative money reads -$, not $-


# --------------------------------------------------------------------------------------------- rendered


@pytest.fixture(scope="module")
def rendered(scenario):
    from etftrader.paths import Home
    from etftrader.report import render_monitoring

    home, book, weeks = scenario
    return render_monitoring(book, Home(home), market_file=home / "data" / "market_latest.parquet")


@pytest.mark.slow
def test_the_report_opens_on_the_weeks_decision_and_is_named_by_its_as_of(rendered):
    from bs4 import BeautifulSoup

    assert rendered.html.name == "06_portfolio_monitoring_20210326.html"
    page = rendered.html.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    assert soup.title.get_text() == "Portfolio monitoring as of 2021-03-26"
    panel = soup.select_one(".etf-panel").get_text(" ")
    assert "This week: 2021-03-26" in panel and "Rebalance: drift" in panel
    assert "Negative cash" in panel and "Unexecuted sells" in panel and "Trades to place at the broker" in panel
    # nothing fetched from a network, no pandas index-name rows, no NaN cells
    assert not [s for s in soup.find_all("script") if s.get("src") or "https://" in (s.string or "")]
    assert not [link for link in soup.find_all("link") if str(link.get("href", "")).startswith("http")]
    cells = [td.get_text().strip() for td in soup.find_all("td")]
    assert "NaN" not in cells and "nan" not in cells and "None" not in cells
    tax = soup.find(string=lambda t: t and "Unrealised gains by position" in t)
    assert tax is not None and "Loss-harvesting candidates" in page and "Lots matched fifo" in page
    headings = [h.get_text() for h in soup.find_all("h2")]
    assert any("Current portfolio: held now" in h for h in headings), headings
    assert headings.index(next(h for h in headings if "held now" in h)) < \
        headings.index(next(h for h in headings if "Performance" in h))


@pytest.mark.slow
def test_a_real_browser_shows_the_panel_decodes_every_chart_and_fetches_nothing(rendered, tmp_path, browser):
    shown, asked = browser(rendered.html, tmp_path)
    assert asked == []
    assert len(shown["images"]) >= 8 and all(i["ok"] and i["width"] > 300 for i in shown["images"]), shown["images"]
    assert "This week: 2021-03-26" in shown["panel"] and "Rebalance: drift" in shown["panel"]
    assert "Negative cash: -170" in shown["panel"] and "(WMT)" in shown["panel"]
    assert shown["title"] == "Portfolio monitoring as of 2021-03-26"
    # the check can fail: the same page with nbconvert's CDN script asks the network for it
    bad = tmp_path / "with_cdn.html"
    bad.write_text(rendered.html.read_text(encoding="utf-8").replace(
        "</body>", '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script></body>'),
        encoding="utf-8")
    _, asked = browser(bad, tmp_path / "bad")
    assert any("cdnjs.cloudflare.com" in url for url in asked)
