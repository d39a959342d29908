"""``etftrader validate`` and ``scripts/validate_real_data.py`` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from entry import invoke

from etftrader.cli import main

REPO = Path(__file__).resolve().parents[1]


def _invoke(args):
    return invoke(args, catch_exceptions=False)


def _health_files(home: Path) -> list[Path]:
    return sorted((home / "results").glob("data_health_*.csv"))


def test_sample_run_prints_a_summary_and_writes_the_health_csv(tmp_home):
    result = _invoke(["validate", "--source", "sample", "--as-of", "2014-09-30", "--home", str(tmp_home)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Source: sample" in out
    assert "demo universe" in out
    assert "Date range: 1990-01-02 to 2014-09-30" in out
    assert "Benchmark: S&P 500 price index (no div.)" in out
    assert "Tickers: 25 checked, 20 kept, 5 dropped" in out
    assert "too little history: 5 (MTUM, QUAL, SIZE, USMV, VLUE)" in out
    assert "Gaps forward-filled: at most 5 trading days" in out
    assert out.isascii()
    files = _health_files(tmp_home)
    assert len(files) == 1 and files[0].name in out.replace("\\", "/")
    health = pd.read_csv(files[0], keep_default_na=False)
    assert len(health) == 25 and health["ticker"].is_monotonic_increasing
    assert (health["status"] == "dropped").sum() == 5
    assert list((tmp_home / "logs").glob("validate_*.log"))


def test_refresh_with_the_sample_says_it_does_nothing(tmp_home):
    result = _invoke(["validate", "--source", "sample", "--refresh", "--home", str(tmp_home)])
    assert result.exit_code == 0, result.output
    assert "--refresh only re-downloads yfinance prices" in result.output
    assert not (tmp_home / "data" / "prices").exists()  # the sample is never cached


def test_config_thresholds_are_used(tmp_home):
    config = tmp_home / "strict.toml"
    # RRC rose 36% on 2020-03-13: inside the default 45%, outside a 30% limit (not yet held)
    args = ["validate", "--source", "sample", "--as-of", "2020-03-13", "--home", str(tmp_home)]
    default = _invoke(args)
    assert default.exit_code == 0, default.output
    assert "Tickers: 25 checked, 25 kept, 0 dropped" in default.output
    config.write_text("[data]\nmax_daily_move = 0.3\n", encoding="utf-8")
    result = _invoke([*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "unconfirmed one-day jump or unadjusted split: 1 (RRC)" in result.output


def test_prices_file_alone_means_the_file_source(tmp_home, tmp_path):
    days = pd.bdate_range("2023-01-02", periods=300)
    rng = np.random.default_rng(5)
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (300, 2)), axis=0)),
                          index=days, columns=["AAA", "BBB"])
    path = tmp_path / "mine.csv"
    prices.rename_axis("date").to_csv(path)
    result = _invoke(["validate", "--prices", str(path), "--home", str(tmp_home)])
    assert result.exit_code == 0, result.output
    assert "Source: file" in result.output
    assert "Tickers: 2 checked, 2 kept, 0 dropped" in result.output
    assert "Benchmark: none" in result.output


def test_bad_file_is_one_error_line_and_exit_code_3(tmp_home, tmp_path, capsys):
    path = tmp_path / "broken.csv"
    path.write_text("when,SPY\n2024-01-02,1\n", encoding="utf-8")
    code = main(["validate", "--source", "file", "--prices", str(path), "--home", str(tmp_home)])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("Error: price file") and "no date column" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_everything_dropped_still_writes_the_csv_then_fails(tmp_home, capsys):
    code = main(["validate", "--source", "sample", "--as-of", "1990-03-30", "--home", str(tmp_home)])
    captured = capsys.readouterr()
    assert code == 3
    assert "no ticker passed the data-quality checks (25 dropped)" in captured.err
    assert len(_health_files(tmp_home)) == 1


def test_offline_yfinance_is_exit_code_4_with_the_one_line_message(tmp_home, capsys, monkeypatch):
    from etftrader.prices import yahoo as sources  # the yfinance boundary

    from prices.conftest import FakeYahoo, synthetic_closes  # tests/ is on sys.path (rootdir-less module)

    fake = FakeYahoo(closes=synthetic_closes(["SPY"]), offline=True)
    monkeypatch.setattr(sources, "_yfinance_download", fake)
    monkeypatch.setattr(sources, "_probe_yahoo", lambda url, timeout: "HTTP 200")  # reachable, yet empty
    monkeypatch.setattr(sources, "RETRY_BACKOFF_SECONDS", 0.0)
    code = main(["validate", "--home", str(tmp_home), "--as-of", "2024-06-28"])
    err = capsys.readouterr().err
    assert code == 4
    n = len(pd.read_csv(REPO / "src/etftrader/resources/etf_universe.csv"))
    assert err == (f"Error: could not reach Yahoo Finance: 0 of {n} tickers downloaded; "
                   "check the network or use --source file\n")
    assert len(fake.calls) == 4  # the first chunk with its 3 retries; the other chunks are not tried


def test_no_network_fails_at_once_without_downloading(tmp_home, capsys, monkeypatch):
    from etftrader.prices import yahoo as sources  # the yfinance boundary

    def no_dns(url, timeout):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    def download(*args, **kwargs):
        raise AssertionError("must not download when Yahoo cannot be reached")

    monkeypatch.setattr(sources, "_probe_yahoo", no_dns)
    monkeypatch.setattr(sources, "_yfinance_download", download)
    code = main(["validate", "--home", str(tmp_home), "--as-of", "2024-06-28"])
    err = capsys.readouterr().err
    assert code == 4
    assert err.startswith("Error: could not reach Yahoo Finance: 0 of ") and err.count("\n") == 1
    log = next((tmp_home / "logs").glob("validate*.log")).read_text(encoding="utf-8")
    assert "Temporary failure in name resolution" in log  # the reason is kept for the user


def test_bad_as_of_is_a_usage_error(tmp_home):
    result = invoke(["validate", "--source", "sample", "--as-of", "30/06/2022",
                                      "--home", str(tmp_home)])
    assert result.exit_code == 2
    assert "expected a date as YYYY-MM-DD" in result.output


def test_help_has_an_example():
    result = _invoke(["validate", "--help"])
    assert result.exit_code == 0
    assert "etftrader validate --source sample" in result.output


@pytest.mark.slow
def test_seed_script_runs_from_a_checkout(tmp_home):
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "validate_real_data.py"), "--source", "sample",
         "--as-of", "2022-06-30", "--home", str(tmp_home)],
        capture_output=True, text=True, timeout=120, cwd=tmp_home,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Tickers: 25 checked, 25 kept, 0 dropped" in proc.stdout
    assert "Data health CSV: results" in proc.stdout.replace("\\", "/")


# The --source/--prices rule is shared by every command with source options (cli._common.source_overrides).
SOURCE_COMMANDS = [["validate"], ["weekly", "--no-notebook", "--positions", "5"], ["backtest", "--no-notebook"]]


@pytest.mark.parametrize("command", SOURCE_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("other", ["sample", "yfinance"])
def test_prices_with_another_source_is_refused_in_one_line(command, other, tmp_home, tmp_path, capsys,
                                                           monkeypatch):
    from etftrader.prices import yahoo as sources  # the yfinance boundary

    def no_network(*args, **kwargs):
        raise AssertionError("must fail before any download")

    monkeypatch.setattr(sources, "_probe_yahoo", no_network)
    monkeypatch.setattr(sources, "_yfinance_download", no_network)
    path = tmp_path / "mine.csv"
    path.write_text("date,AAA\n2024-01-02,1\n", encoding="utf-8")
    code = main([*command, "--source", other, "--prices", str(path), "--home", str(tmp_home)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"Error: --prices is only used with --source file; got --source {other}\n"
    assert not list((tmp_home / "results").glob("*"))  # nothing written


@pytest.mark.parametrize("command", SOURCE_COMMANDS, ids=lambda c: c[0])
def test_prices_alone_reads_that_file_in_every_command(command, tmp_home, tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    code = main([*command, "--prices", str(missing), "--home", str(tmp_home)])
    err = capsys.readouterr().err
    # the file source was used (not the config's yfinance): it is the file that is missing
    assert code == 3
    assert err == f"Error: price file {missing} does not exist; check --prices\n"


def test_prices_help_says_it_implies_the_file_source():
    result = _invoke(["validate", "--help"])
    assert "given alone it implies --source file" in " ".join(result.output.split())


@pytest.mark.parametrize("command", SOURCE_COMMANDS, ids=lambda c: c[0])
def test_file_source_without_a_file_is_refused_the_same_way_everywhere(command, tmp_home, capsys):
    code = main([*command, "--source", "file", "--home", str(tmp_home)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("Error: --source file needs a price file: pass --prices FILE") and err.count("\n") == 1


def test_the_library_function_does_the_work_the_command_prints(tmp_path):
    """validate_data (etftrader.validation) loads, checks and writes the CSV; the CLI only prints."""
    import pandas as pd

    from etftrader.config import Config
    from etftrader.paths import Home
    from etftrader.validation import validate_data

    home = Home(tmp_path / "home").ensure()
    found = validate_data(Config().override(data={"source": "sample"}), home, as_of=pd.Timestamp("2021-06-04").date())
    assert found.passed and found.csv_path.parent == home.results_dir and found.csv_path.exists()
    health = pd.read_csv(found.csv_path)
    assert set(health["ticker"]) == set(found.data.close.columns)
    assert sorted(health.loc[health["status"] == "kept", "ticker"]) == sorted(found.report.kept)
    # nothing has a year of history in March 1990: reported, not raised, and the CSV says why
    failed = validate_data(Config().override(data={"source": "sample"}), home, as_of=pd.Timestamp("1990-03-30").date())
    assert not failed.passed and failed.csv_path.exists() and failed.csv_path != found.csv_path
    assert len(failed.report.dropped) == 25
