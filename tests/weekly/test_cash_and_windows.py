"""Figures an analyst can trust (issue 12, items 5 and 7): negative cash is said and repaid, and a
backtest of a few weeks does not print annualised figures as if they were forecasts."""

from __future__ import annotations

import json

import pytest

from etftrader.workbook import read_ledger

from .helpers import mark_executed, run_cli


@pytest.fixture()
def buys_without_sells(tmp_path):
    """Week 1 executed; week 2 a rebalance whose buys were executed and sells not."""
    home = tmp_path / "home"
    book = home / "results" / "portfolio_tracking.xlsx"
    assert run_cli(["weekly", "--as-of", "2022-06-03", "--positions", "8"], home=home)[0] == 0
    mark_executed(book, read_ledger(book).trades["_row"].tolist())
    code, _, err = run_cli(["weekly", "--as-of", "2022-06-10", "--positions", "8", "--force-rebalance",
                            "--no-turnover-control"], home=home)
    assert code == 0, err
    trades = read_ledger(book).trades
    open_ = trades.loc[~trades["executed"]]
    assert (open_["action"] == "SELL").any()
    mark_executed(book, open_.loc[open_["action"] == "BUY", "_row"].tolist())
    return home, book


def test_negative_cash_is_said_everywhere_and_this_weeks_trades_repay_it(buys_without_sells):
    home, book = buys_without_sells
    code, out, err = run_cli(["weekly", "--as-of", "2022-06-17", "--positions", "8", "--json"], home=home)
    assert code == 0, err
    week = json.loads(out)
    assert week["cash_before"] < -1000
    warning = next(w for w in week["warnings"] if w.startswith("cash is -"))
    assert f"cash is {week['cash_before']:,.2f} after the executed trades" in warning
    assert "buys were marked executed but" in warning and "were not" in warning
    assert week["rebalanced"] and week["cash"] >= 0
    actions = [t["action"] for t in week["trades"]]
    assert actions == sorted(actions, key=lambda a: a != "SELL")  # sells first
    perf = read_ledger(book).performance
    assert perf["warning"].iloc[-1].startswith(f"NEGATIVE CASH {week['cash_before']:,.2f}")
    log = sorted((home / "logs").glob("weekly_automation_*.log"))[-1].read_text()
    assert "cash is -" in log
    from etftrader.monitoring import summary_text  # what the report prints

    assert f"WARNING: NEGATIVE CASH {week['cash_before']:,.2f}" in summary_text(read_ledger(book))


def test_the_console_summary_warns_of_negative_cash(buys_without_sells):
    home, _ = buys_without_sells
    code, out, err = run_cli(["weekly", "--as-of", "2022-06-17", "--positions", "8"], home=home)
    assert code == 0, err
    assert any(line.startswith("Warning: cash is -") for line in out.splitlines())


def test_a_five_week_backtest_marks_annualised_figures_not_meaningful(tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["backtest", "--source", "sample", "--start", "2022-01-03", "--end", "2022-02-04",
                              "--positions", "8", "--no-notebook", "--workers", "1", "--out", str(out_dir),
                              "--home", str(tmp_path / "home")], sample=False)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith(("mvo ", "equal_weight "))]
    assert rows and all(line.split()[1:5] == ["n/m"] * 4 for line in rows)
    assert "n/m = not meaningful: 5 weekly decisions is less than a year" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["mvo"]["annualised_figures"].startswith("not meaningful: 5 weekly decisions")


def test_a_year_long_backtest_shows_its_figures(tmp_path):
    code, out, err = run_cli(["backtest", "--source", "sample", "--start", "2021-01-01", "--end", "2021-12-31",
                              "--positions", "8", "--optimizer", "mvo", "--no-notebook", "--workers", "1",
                              "--out", str(tmp_path / "out"), "--home", str(tmp_path / "home")], sample=False)
    assert code == 0, err
    assert "n/m" not in out
    assert "annualised_figures" not in json.loads((tmp_path / "out" / "metrics.json").read_text())["mvo"]


def test_a_good_friday_run_has_one_as_of_everywhere(tmp_path):
    home = tmp_path / "home"
    code, out, err = run_cli(["weekly", "--as-of", "2022-04-15", "--positions", "8", "--source", "sample", "--json",
                              "--home", str(home)], sample=False)
    assert code == 0, err
    week = json.loads(out)
    assert week["as_of"] == week["data_as_of"] == "2022-04-14"
    assert any("--as-of 2022-04-15 is not a trading day" in n for n in week["notes"])
    ledger = read_ledger(home / "results" / "portfolio_tracking.xlsx")
    for frame in (ledger.metadata, ledger.performance, ledger.trades, ledger.positions):
        assert set(frame["as_of"].astype(str).str[:10]) == {"2022-04-14"}
    report = week["report"]
    assert report.endswith("06_portfolio_monitoring_20220414.html")
    assert "<title>Portfolio monitoring as of 2022-04-14</title>" in open(report, encoding="utf-8").read()
