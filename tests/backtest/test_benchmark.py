"""The benchmark is like for like (issue 12, item 4): labelled a price index with its dividend gap
on the sample, and never traded when it is a column of the analyst's price file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from etftrader.cli import main
from etftrader.prices import SAMPLE_BENCHMARK_LABEL


@pytest.fixture(scope="module")
def file_with_spy(tmp_path_factory, sample_close):
    from skfolio.datasets import load_sp500_index

    frame = sample_close.loc["2019-01-01":"2021-12-31"].copy()
    spx = load_sp500_index().iloc[:, 0]
    spx.index = pd.DatetimeIndex(spx.index).as_unit("ns")
    frame["SPY"] = spx.reindex(frame.index)
    path = tmp_path_factory.mktemp("spy") / "prices.csv"
    frame.to_csv(path, index_label="date", date_format="%Y-%m-%d")
    return path


def test_a_benchmark_column_is_compared_with_not_traded(tmp_path, file_with_spy, capsys):
    out = tmp_path / "out"
    code = main(["backtest", "--prices", str(file_with_spy), "--start", "2021-01-01", "--end", "2021-12-31",
                 "--optimizer", "mvo", "--positions", "8", "--no-notebook", "--workers", "1", "--out", str(out),
                 "--home", str(tmp_path / "home")])
    assert code == 0, capsys.readouterr().err
    targets = pd.read_csv(out / "targets.csv")
    assert "SPY" not in set(targets["ticker"])  # neither mvo nor equal weight holds it
    assert "SPY" in pd.read_csv(out / "equity.csv", nrows=1).columns  # it is the benchmark
    assert any("SPY in prices.csv is the benchmark: compared with, not traded" in n
               for n in json.loads((out / "run.json").read_text())["notes"])


def test_a_universe_file_that_lists_the_benchmark_makes_it_tradable(tmp_path, file_with_spy, capsys):
    home = tmp_path / "home"
    home.mkdir()
    tickers = list(pd.read_csv(file_with_spy, nrows=0).columns[1:])
    (home / "universe.csv").write_text("ticker,name,asset_class,category\n"
                                       + "".join(f"{t},{t},Equity,Test\n" for t in tickers), encoding="utf-8")
    (home / "etftrader.toml").write_text('[data]\nuniverse = "universe.csv"\n', encoding="utf-8")
    out = tmp_path / "out"
    code = main(["backtest", "--prices", str(file_with_spy), "--start", "2021-01-01", "--end", "2021-12-31",
                 "--optimizer", "mvo", "--positions", "8", "--no-notebook", "--workers", "1", "--out", str(out),
                 "--home", str(home)])
    assert code == 0, capsys.readouterr().err
    assert "SPY" in set(pd.read_csv(out / "targets.csv").query("strategy == 'equal_weight'")["ticker"])


def test_the_sample_benchmark_says_it_has_no_dividends_and_states_the_gap(tmp_path, capsys):
    code = main(["backtest", "--source", "sample", "--start", "2021-01-01", "--end", "2021-12-31", "--optimizer",
                 "mvo", "--positions", "8", "--no-notebook", "--workers", "1", "--out", str(tmp_path / "out"),
                 "--home", str(tmp_path / "home")])
    out = capsys.readouterr().out
    assert code == 0
    assert "no div." in SAMPLE_BENCHMARK_LABEL and SAMPLE_BENCHMARK_LABEL in out
    assert "is a price return; with its dividends (about 1.8% a year) it would be about" in out
