"""Every foreseeable failure: exit code, one ``Error: ...`` line, and a workbook left byte-identical."""

from __future__ import annotations

import json
import os
import shutil
import sys
import types

import pytest

from etftrader.errors import ReportError
from etftrader.workbook import read_ledger

from .helpers import edit_cells, mark_executed, run_cli

BASE = ["weekly", "--positions", "5", "--as-of", "2021-03-12"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A home folder after one first run (2021-03-05), with its trades executed."""
    home = tmp_path_factory.mktemp("template") / "home"
    code, out, err = run_cli(["weekly", "--positions", "5", "--as-of", "2021-03-05", "--json"], home=home)
    assert code == 0, err
    book = home / "results" / "portfolio_tracking.xlsx"
    mark_executed(book, read_ledger(book).trades["_row"].tolist())
    return home


@pytest.fixture()
def home(template, tmp_path):
    target = tmp_path / "home"
    shutil.copytree(template, target)
    return target


def book_of(home):
    return home / "results" / "portfolio_tracking.xlsx"


def snapshot(home):
    """Workbook bytes and the backups folder listing."""
    backups = home / "results" / "backups"
    return book_of(home).read_bytes(), sorted(p.name for p in backups.glob("*")) if backups.exists() else []


def assert_one_error_line(err, code, expected_code, *fragments):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expected_code, err
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("args, exit_code, fragments", [
    (["--positions", "0"], 2, ["`positions` must be at least 1, got 0"]),
    (["--drift-threshold", "3"], 2, ["drift threshold", "must be in (0, 2], got 3.0"]),
    (["--capital", "-5"], 2, ["`--capital` must be a finite amount > 0 and at most 1,000,000,000,000, got -5.0"]),
    (["--deposit", "-1"], 2, ["`--deposit` must be a finite amount > 0 and at most 1,000,000,000,000, got -1.0"]),
    (["--withdraw", "1e12"], 2, ["--withdraw 1,000,000,000,000.00 is more than the cash there is"]),
    (["--as-of", "2099-01-01"], 2, ["--as-of 2099-01-01 is in the future"]),
    (["--as-of", "1985-01-01", "--force"], 3, ["no prices on or before 1985-01-01", "choose a later --as-of"]),
    (["--as-of", "1990-01-10", "--force"], 3, ["every ticker was dropped by the data-quality checks up to 1990-01-10",
                                               "too little history", "pick a later --as-of"]),
])
def test_bad_values_fail_with_one_line_and_leave_the_workbook(home, args, exit_code, fragments):
    before = snapshot(home)
    code, out, err = run_cli([*BASE, *args], home=home)
    assert_one_error_line(err, code, exit_code, *fragments)
    assert out == ""
    assert snapshot(home) == before


def test_file_source_needs_a_price_file(home):
    before = snapshot(home)
    code, out, err = run_cli([*BASE, "--source", "file", "--no-notebook"], home=home, sample=False)
    assert_one_error_line(err, code, 2, "--source file needs a price file")
    assert snapshot(home) == before


def test_missing_price_file(home, tmp_path):
    before = snapshot(home)
    code, out, err = run_cli([*BASE[:-2], "--prices", str(tmp_path / "nope.csv")], home=home, sample=False)
    assert code == 3 and "nope.csv" in err and err.startswith("Error: ")
    assert snapshot(home) == before


def test_prices_next_to_the_sample_source_is_refused_not_ignored(home, tmp_path):
    """Before, --source sample won and the file was silently ignored: a week on the wrong prices."""
    prices = tmp_path / "mine.csv"
    prices.write_text("date,AAA\n2021-03-12,1\n", encoding="utf-8")
    before = snapshot(home)
    code, out, err = run_cli([*BASE, "--prices", str(prices)], home=home)  # run_cli adds --source sample
    assert_one_error_line(err, code, 2, "--prices is only used with --source file; got --source sample")
    assert snapshot(home) == before


def test_unknown_optimizer_is_a_usage_error(home):
    before = snapshot(home)
    code, out, err = run_cli([*BASE, "--optimizer", "magic"], home=home)
    assert code == 2 and "Invalid value for '--optimizer'" in err and "mvo" in err
    assert snapshot(home) == before


def test_bad_date_is_a_usage_error(home):
    code, out, err = run_cli(["weekly", "--as-of", "2021-13-01"], home=home)
    assert code == 2 and "expected a date as YYYY-MM-DD, got '2021-13-01'" in err


def test_workbook_open_in_excel_fails_before_any_work(home):
    lock = book_of(home).with_name("~$portfolio_tracking.xlsx")
    lock.write_bytes(b"owner")
    before = snapshot(home)
    code, out, err = run_cli([*BASE, "--json"], home=home)
    assert_one_error_line(err, code, 6, "open in a spreadsheet application", "close it")
    assert json.loads(out) == {"error": err.strip()[len("Error: "):], "exit_code": 6}
    assert snapshot(home) == before
    # The run stopped before any price was loaded, and its log says why.
    log = max((home / "logs").glob("weekly_automation_*.log"), key=os.path.getmtime).read_text(encoding="utf-8")
    assert "prices: source" not in log and "open in a spreadsheet application" in log


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_read_only_workbook(home):
    os.chmod(book_of(home), 0o444)
    before = snapshot(home)
    code, out, err = run_cli(BASE, home=home)
    assert code == 6 and err.startswith("Error: ")
    assert snapshot(home) == before


def test_corrupt_workbook_is_left_untouched(home):
    book_of(home).write_bytes(b"this is not a spreadsheet\n" * 10)
    before = snapshot(home)
    code, out, err = run_cli(BASE, home=home)
    assert_one_error_line(err, code, 5, "portfolio_tracking.xlsx")
    assert snapshot(home) == before


def test_unreadable_executed_value_names_the_cell(home):
    edit_cells(book_of(home), "Trades", {(3, "executed"): "maybe"})
    before = snapshot(home)
    code, out, err = run_cli(BASE, home=home)
    assert_one_error_line(err, code, 5, "Trades", "maybe")
    assert snapshot(home) == before


def test_executed_sells_beyond_holdings_are_refused(home):
    trades = read_ledger(book_of(home)).trades
    row = int(trades["_row"].iloc[0])
    edit_cells(book_of(home), "Trades", {(row, "action"): "SELL"})
    before = snapshot(home)
    code, out, err = run_cli(BASE, home=home)
    assert_one_error_line(err, code, 5, f"SELLs of {trades['ticker'].iloc[0]} exceed", f"rows {row}")
    assert snapshot(home) == before


def test_bad_config_file(home):
    (home / "etftrader.toml").write_text("[portfolio]\npositons = 5\n", encoding="utf-8")
    before = snapshot(home)
    code, out, err = run_cli(BASE, home=home)
    assert_one_error_line(err, code, 2, "unknown key `positons` in [portfolio]")
    assert snapshot(home) == before


def test_unexpected_failure_is_logged_in_full_and_summarised(home, monkeypatch):
    import etftrader.target as target

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(target, "build_target", boom)
    before = snapshot(home)
    code, out, err = run_cli(BASE, home=home)
    assert code == 70 and "unexpected failure (RuntimeError: kaboom)" in err
    assert snapshot(home) == before
    log = max((home / "logs").glob("weekly_automation_*.log"), key=os.path.getmtime)
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "kaboom" in text and str(log) in err
    # The handler was released: a later run does not write into this log.
    size = log.stat().st_size
    monkeypatch.undo()
    assert run_cli([*BASE, "--json"], home=home)[0] == 0
    assert log.stat().st_size == size


def test_report_failure_keeps_the_workbook_and_exits_with_report_code(home, monkeypatch):
    fake = types.ModuleType("etftrader.report")

    def render_monitoring(workbook, home, *, market_file=None, as_of=None):
        raise ReportError("notebook cell 3 failed; the failed notebook is kept at results/reports/x.ipynb")

    fake.render_monitoring = render_monitoring
    monkeypatch.setitem(sys.modules, "etftrader.report", fake)
    before = snapshot(home)
    code, out, err = run_cli(["weekly", "--positions", "5", "--as-of", "2021-03-12", "--home", str(home),
                              "--source", "sample"], sample=False)
    assert_one_error_line(err, code, 8, "notebook cell 3 failed")
    assert "WEEKLY RUN RECORDED; THE REPORT FAILED" in out
    assert book_of(home).read_bytes() != before[0]
    assert len(read_ledger(book_of(home)).metadata) == 2


def test_yahoo_unreachable_stops_before_the_workbook_is_touched(home):
    """yfinance answers an outage with an empty frame; the run must stop and record nothing."""
    import pandas as pd

    from etftrader.config import Config
    from etftrader.errors import SourceUnavailableError
    from etftrader.paths import Home
    from etftrader.pipeline import run_weekly

    before = snapshot(home)
    config = Config().override(data={"download_retries": 0}, portfolio={"positions": 5})
    with pytest.raises(SourceUnavailableError, match="could not reach Yahoo Finance") as info:
        run_weekly(config, Home(home), notebook=False, fetcher=lambda *args, **kwargs: pd.DataFrame())
    assert info.value.exit_code == 4
    assert snapshot(home) == before


def test_a_yfinance_week_asks_the_vix_in_the_same_download_and_the_report_gets_it(home, tmp_path):
    """One download for universe, benchmark and VIX: no second load for the market series."""
    from datetime import date

    import pandas as pd

    from etftrader.config import Config
    from etftrader.paths import Home
    from etftrader.pipeline import MARKET_FILE, run_weekly

    from prices.conftest import FakeYahoo, synthetic_closes  # tests/ is on sys.path (rootdir)

    tickers = [f"ET{i:02d}" for i in range(12)]
    fake = FakeYahoo(closes=synthetic_closes([*tickers, "SPY", "^VIX"]))
    universe = tmp_path / "universe.csv"
    universe.write_text("ticker,name\n" + "".join(f"{t},{t} fund\n" for t in tickers))
    config = Config().override(data={"universe": str(universe), "download_retries": 0},
                               portfolio={"positions": 5})
    run_weekly(config, Home(home), as_of=date(2024, 6, 28), notebook=False, fetcher=fake)
    assert len(fake.calls) == 1 and {"SPY", "^VIX"} <= set(fake.calls[0]["tickers"])
    market = pd.read_parquet(home / "data" / MARKET_FILE)
    assert list(market.columns) == ["SPY", "VIX"]
    assert market.index.max() <= pd.Timestamp("2024-06-28")
    vix = fake.closes["^VIX"].loc[market.index]
    assert market["VIX"].to_numpy() == pytest.approx(vix.to_numpy())
