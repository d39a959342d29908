"""The commands as a user meets them: console summary, --json purity, cash flows, init, holdings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from etftrader.config import Config, load_config
from etftrader.opening import IMPORT_NOTE
from etftrader.workbook import read_ledger

from .helpers import mark_executed, run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """A home after a first run (2021-03-05, 6 positions, console output), trades executed."""
    home = tmp_path_factory.mktemp("cli") / "home"
    code, out, err = run_cli(["weekly", "--positions", "6", "--as-of", "2021-03-05"], home=home)
    assert code == 0, err
    book = home / "results" / "portfolio_tracking.xlsx"
    mark_executed(book, read_ledger(book).trades["_row"].tolist())
    return {"home": home, "out": out, "err": err}


@pytest.fixture()
def home(first, tmp_path):
    target = tmp_path / "home"
    shutil.copytree(first["home"], target)
    return target


def test_console_summary_is_the_seeds_in_plain_ascii(first):
    out = first["out"]
    lines = out.splitlines()
    assert lines[0] == lines[2] == "=" * 80
    assert lines[1] == "WEEKLY AUTOMATION COMPLETED SUCCESSFULLY"
    assert "Rebalancing needed: True (drift 100.0% > threshold 5.0%)" in lines
    assert "Trades to execute: 6" in lines and "  BUY orders: 6" in lines and "  SELL orders: 0" in lines
    assert "Cash flow recorded: DEPOSIT 1,000,000.00 (initial capital)" in lines
    assert any(line.startswith("Cash left after trades: ") for line in lines)
    assert any(line.startswith("Tracking workbook: ") and line.endswith("portfolio_tracking.xlsx") for line in lines)
    log_line = [line for line in lines if line.startswith("Log file: ")]
    assert log_line and "weekly_automation_" in log_line[0] and log_line[0].endswith(".log")
    out.encode("ascii")  # raises if anything is not plain ASCII (Windows consoles)
    assert first["err"] == ""


def test_log_says_what_was_decided_and_why(first):
    log = next((first["home"] / "logs").glob("weekly_automation_*.log")).read_text(encoding="utf-8")
    for fragment in ("config in force", "prices: source sample", "top scores:", "optimizer mvo",
                     "drift 100.00% vs threshold 5.00%", "trade BUY", "cash after trades", "appended run"):
        assert fragment in log, fragment


def test_json_is_the_only_thing_on_stdout_and_warnings_go_in_it(home):
    code, out, err = run_cli(["weekly", "--positions", "80", "--as-of", "2021-03-12", "--capital", "5",
                              "--json"], home=home)
    assert code == 0, err
    payload = json.loads(out)  # the whole of stdout is one JSON object
    assert isinstance(payload, dict)
    warnings = " | ".join(payload["warnings"])
    assert "`positions` 80 is more than the usable universe of 25 scored tickers" in warnings
    assert "--capital 5.00 is only used on the first run" in warnings
    assert len(payload["target"]) == 25
    assert err == ""


def test_capital_never_moves_money_after_the_first_run(home):
    code, out, err = run_cli(["weekly", "--positions", "6", "--as-of", "2021-03-12", "--capital", "2000000",
                              "--json"], home=home)
    j = json.loads(out)
    assert j["cash_flows"] == []
    assert j["portfolio_value"] < 1_100_000
    flows = read_ledger(home / "results" / "portfolio_tracking.xlsx").cashflows
    assert flows["amount"].tolist() == [1_000_000.0]


def test_deposit_and_withdraw_are_recorded_and_move_cash(home):
    from etftrader.holdings import holdings_from_ledger

    book = home / "results" / "portfolio_tracking.xlsx"
    cash = holdings_from_ledger(read_ledger(book)).cash
    code, out, err = run_cli(["weekly", "--positions", "6", "--as-of", "2021-03-12", "--deposit", "50000",
                              "--withdraw", "20000", "--drift-threshold", "2", "--json"], home=home)
    assert code == 0, err
    j = json.loads(out)
    assert not j["rebalanced"]  # threshold 200%: only the cash moved
    assert j["cash_before"] == pytest.approx(cash + 30_000)
    assert j["cash"] == pytest.approx(cash + 30_000)
    flows = read_ledger(book).cashflows
    assert flows[["type", "amount"]].values.tolist() == [
        ["DEPOSIT", 1_000_000.0], ["DEPOSIT", 50_000.0], ["WITHDRAWAL", 20_000.0]]
    assert set(flows["run_id"].iloc[1:]) == {j["run_id"]}


def test_the_target_equals_build_target_on_the_same_date(home):
    """What the backtest will call gives exactly what ``weekly --as-of`` recorded."""
    from etftrader.paths import Home
    from etftrader.pipeline import build_target
    from etftrader.prices import check_quality, load_prices

    code, out, err = run_cli(["weekly", "--positions", "6", "--as-of", "2021-03-19", "--json"], home=home)
    j = json.loads(out)
    from etftrader.holdings import holdings_from_ledger
    from etftrader.week import decide_week
    from etftrader.workbook import read_ledger

    config = Config().override(data={"source": "sample"})
    data = load_prices(config.data, Home(home), as_of=date(2021, 3, 19))
    quality = check_quality(data, config.data, min_history=config.factors.min_history, as_of=date(2021, 3, 19))
    # The run's own trades are unexecuted, so the executed holdings after it are those it started from.
    held = holdings_from_ledger(read_ledger(home / "results" / "portfolio_tracking.xlsx"))
    decision = decide_week(quality.prices, data.close, held, config, optimizer="mvo", positions=6,
                           dropped=quality.dropped)
    assert {t["ticker"]: t["weight"] for t in j["target"]} == pytest.approx(decision.target.weights.to_dict(), abs=1e-12)
    assert [[t["ticker"], t["action"], t["shares"]] for t in j["trades"]] == \
        decision.plan.trades[["ticker", "action", "shares"]].values.tolist()


def test_init_writes_the_default_config_and_never_overwrites(tmp_home):
    code, out, err = run_cli(["init"], home=tmp_home)
    assert code == 0, err
    config_file = tmp_home / "etftrader.toml"
    assert load_config(config_file) == Config()
    for folder in ("data", "results", "logs"):
        assert (tmp_home / folder).is_dir()
    config_file.write_text("[portfolio]\npositions = 7\n", encoding="utf-8")
    code, out, err = run_cli(["init"], home=tmp_home)
    assert code == 2 and "already exists" in err and "--force" in err
    assert "positions = 7" in config_file.read_text(encoding="utf-8")
    assert run_cli(["init", "--force"], home=tmp_home)[0] == 0
    assert load_config(config_file) == Config()


def test_weekly_reads_the_home_config(tmp_home):
    (tmp_home / "etftrader.toml").write_text(
        '[portfolio]\npositions = 4\noptimizer = "rankbased"\ncapital = 250000.0\n'
        '[data]\nsource = "sample"\n', encoding="utf-8")
    code, out, err = run_cli(["weekly", "--as-of", "2021-03-05", "--no-notebook", "--json"], home=tmp_home,
                             sample=False)
    assert code == 0, err
    j = json.loads(out)
    assert j["optimizer"] == "rankbased" and len(j["target"]) == 4 and j["portfolio_value"] == 250_000.0


def test_holdings_import_then_weekly_starts_from_them(tmp_home, tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("ticker,shares,cost\nQUAL,100,90.5\nMTUM,50,120\n", encoding="utf-8")
    code, out, err = run_cli(["holdings", "import", str(csv), "--cash", "10000"], home=tmp_home)
    assert code == 0, err
    assert "Imported 2 holdings (cost basis 15,050.00) and cash 10,000.00" in out
    book = tmp_home / "results" / "portfolio_tracking.xlsx"
    ledger = read_ledger(book)
    assert ledger.cashflows["amount"].tolist() == [25_050.0]
    assert set(ledger.trades["note"]) == {IMPORT_NOTE} and ledger.trades["executed"].all()

    code, out, err = run_cli(["holdings", "show"], home=tmp_home)
    assert code == 0 and "MTUM" in out and "QUAL" in out and "Cash: 10,000.00" in out

    # A second import would double the money: refused unless forced.
    before = book.read_bytes()
    code, out, err = run_cli(["holdings", "import", str(csv)], home=tmp_home)
    assert code == 2 and "--force" in err and book.read_bytes() == before

    code, out, err = run_cli(["weekly", "--positions", "4", "--as-of", "2021-03-05", "--json"], home=tmp_home)
    assert code == 0, err
    j = json.loads(out)
    assert j["cash_flows"] == []  # not a first run: no capital deposited
    held = pd.Series({"QUAL": 100.0, "MTUM": 50.0})
    from etftrader.prices.sources import load_sample

    px = load_sample().close.loc[:"2021-03-05"].iloc[-1]
    assert j["portfolio_value"] == pytest.approx(float((held * px[held.index]).sum()) + 10_000.0)


def test_holdings_show_json_and_pending(home):
    # Turnover controls off: the forced rebalance must propose trades for the pending list to show.
    (home / "etftrader.toml").write_text("[rebalance]\nturnover_control = false\n", encoding="utf-8")
    run_cli(["weekly", "--positions", "6", "--as-of", "2021-03-12", "--force-rebalance", "--json"], home=home)
    code, out, err = run_cli(["holdings", "show", "--json"], home=home)
    j = json.loads(out)
    assert code == 0 and len(j["holdings"]) == 6
    assert j["pending"]["count"] > 0 and j["pending"]["value"] > 0


def test_holdings_import_bad_file_names_the_line(tmp_home, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("ticker,shares,cost\nQUAL,ten,90\n", encoding="utf-8")
    code, out, err = run_cli(["holdings", "import", str(csv)], home=tmp_home)
    assert code == 3 and err.strip() == f"Error: holdings file {csv}, line 2: shares of QUAL must be a positive number, got 'ten'"
    assert not (tmp_home / "results" / "portfolio_tracking.xlsx").exists()


def test_seed_script_runs_from_a_checkout(tmp_home):
    script = REPO / "scripts" / "run_weekly_portfolio.py"
    lock = tmp_home / "results" / "~$portfolio_tracking.xlsx"
    lock.parent.mkdir(parents=True)
    lock.write_bytes(b"x")
    done = subprocess.run([sys.executable, str(script), "--home", str(tmp_home), "--source", "sample"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 6 and done.stderr.startswith("Error: portfolio_tracking.xlsx is open")
    shown = subprocess.run([sys.executable, str(script), "-h"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "--force-rebalance" in shown.stdout and "--deposit" in shown.stdout


def test_report_and_open_workbook_are_called_after_the_write(home, monkeypatch):
    import types

    import etftrader.ops.excel as excel

    calls = []

    def render_monitoring(workbook, home_, *, market_file=None, as_of=None):
        calls.append(("report", len(read_ledger(workbook).metadata), market_file.name, as_of))
        return types.SimpleNamespace(notebook=workbook.with_suffix(".ipynb"), html=workbook.with_suffix(".html"),
                                     summary=workbook.with_suffix(".txt"))

    monkeypatch.setitem(sys.modules, "etftrader.report",
                        types.SimpleNamespace(render_monitoring=render_monitoring))
    monkeypatch.setattr(excel, "open_workbook", lambda path: calls.append(("open", path)) or "Opened it")
    code, out, err = run_cli(["weekly", "--positions", "6", "--as-of", "2021-03-12", "--open",
                              "--home", str(home), "--source", "sample"], sample=False)
    assert code == 0, err
    assert calls[0] == ("report", 2, "market_latest.parquet", date(2021, 3, 12))  # after the append
    assert calls[1][0] == "open"
    assert "Opened it" in out and "Report: " in out and out.splitlines()[-2].endswith(".html")
