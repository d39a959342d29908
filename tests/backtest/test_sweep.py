"""``etftrader sweep``: cells are real backtests, the same on every engine, cached and resumable.

On the bundled sample: each cell's figures against ``run_backtest`` for that configuration; one
grid on joblib with 1 and 2 workers and on a Dask ``LocalCluster`` of processes; a sweep killed
with SIGKILL and run again; a price file changed under the cache; bad grids.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from etftrader import sweep as sw
from etftrader.backtest import EQUAL_WEIGHT, run_backtest
from tests.entry import invoke

START, END = date(2021, 6, 1), date(2021, 12, 31)
GRID = {"optimizer": ["mvo", "minvar"], "cost_bps": [5, 20], "positions": [5]}


@pytest.fixture(scope="module")
def cells(sample_config):
    return sw.expand_grid(GRID, sample_config)


def test_grid_expands_to_every_combination(cells):
    assert [(c.optimizer, c.cost_bps, c.positions) for c in cells] == [
        ("mvo", 5.0, 5), ("mvo", 20.0, 5), ("minvar", 5.0, 5), ("minvar", 20.0, 5)]
    assert sw.varying_keys(cells) == ["optimizer", "cost_bps"]


def test_each_cell_is_the_backtest_of_its_configuration(sample_data, sample_config, cells):
    rows = sw.run_cells(sample_data, sample_config, cells, START, END, split=date(2021, 9, 1))
    for cell, row in zip(cells, rows):
        alone = run_backtest(sample_data, cell.config(sample_config), optimizers=[cell.optimizer], start=START,
                             end=END, positions=cell.positions, fill=cell.fill)
        for figure in sw.FIGURES:
            assert row[figure] == alone.metrics[cell.optimizer][figure], (cell, figure)
            assert row["ew_" + figure] == alone.metrics[EQUAL_WEIGHT][figure], (cell, figure)
            bench = alone.metrics[alone.benchmark][figure]
            assert row["benchmark_" + figure] == bench or (math.isnan(bench) and math.isnan(row["benchmark_" + figure]))
        assert row["weeks"] == len(alone.schedule)
        # in-sample and out-of-sample parts are the same equity curve cut at the split
        equity = alone.equity[cell.optimizer]
        first = equity.loc[:"2021-08-31"]
        assert row["is_cagr"] == pytest.approx((first.iloc[-1] / first.iloc[0]) ** (252 / (len(first) - 1)) - 1, rel=1e-9)
    assert rows[0]["cagr"] != rows[1]["cagr"]  # costs matter: the cells differ


def _sweep(data, config, cells, tmp_path, **kw):
    return sw.run_sweep(data, config, cells, cache_dir=tmp_path, start=START, end=END, **kw).table


def _figures(table):
    return table.drop(columns=["seconds"])


def test_same_results_on_one_worker_two_workers_and_a_dask_cluster(sample_data, sample_config, cells, tmp_path):
    from dask.distributed import LocalCluster

    one = _sweep(sample_data, sample_config, cells, tmp_path / "one", workers=1)
    two = _sweep(sample_data, sample_config, cells, tmp_path / "two", workers=2)
    pd.testing.assert_frame_equal(_figures(one), _figures(two), check_exact=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = _sweep(sample_data, sample_config, cells, tmp_path / "dask", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(_figures(one), _figures(on_dask), check_exact=True)


def test_finished_cells_come_from_the_cache(sample_data, sample_config, cells, tmp_path):
    first = sw.run_sweep(sample_data, sample_config, cells[:2], cache_dir=tmp_path, start=START, end=END)
    assert (first.computed, first.cached) == (2, 0)
    again = sw.run_sweep(sample_data, sample_config, cells, cache_dir=tmp_path, start=START, end=END)
    assert (again.computed, again.cached) == (2, 2)
    pd.testing.assert_frame_equal(_figures(again.table.iloc[:2]), _figures(first.table), check_exact=True)


def _cli(home, *extra):
    return [sys.executable, "-m", "etftrader", "sweep", "--home", str(home), "--no-notebook", *extra]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "Ctrl+C"])
def test_a_killed_sweep_resumes_without_recomputing(tmp_path, how):
    home = tmp_path / "home"
    # four cells in two batches of two (one worker): killed once the first batch is cached
    args = ["--source", "sample", "--start", "2020-07-01", "--end", "2021-12-31", "--positions", "5",
            "--optimizer", "mvo,minvar", "--cost-bps", "5,20", "--workers", "1"]
    proc = subprocess.Popen(_cli(home, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    cache = home / "data" / "sweep"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not list(cache.glob("*.json")):
        time.sleep(0.2)
    finished_early = proc.poll() is not None
    if not finished_early:
        os.kill(proc.pid, how)
    _, err = proc.communicate(timeout=60)
    if how == signal.SIGINT and not finished_early:
        assert proc.returncode == 130, err
        assert "cells are finished and cached" in err and "run the same command again to resume" in err, err
    done = len(list(cache.glob("*.json")))
    assert done >= 1, "no cell finished before the deadline"
    resumed = subprocess.run(_cli(home, *args, "--out", str(tmp_path / "out")), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Cells: 4 ({4 - done} computed, {done} from the cache)" in resumed.stdout
    assert finished_early or done < 4
    # the same figures as a sweep that was never interrupted
    fresh = subprocess.run(_cli(tmp_path / "fresh", *args, "--out", str(tmp_path / "fresh_out")),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert fresh.returncode == 0, fresh.stderr
    got = pd.read_csv(tmp_path / "out" / "sweep.csv").drop(columns=["seconds"])
    want = pd.read_csv(tmp_path / "fresh_out" / "sweep.csv").drop(columns=["seconds"])
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_changed_prices_invalidate_the_cache(sample_close, tmp_path):
    prices = sample_close[["MTUM", "QUAL", "SIZE", "USMV", "VLUE", "AAPL", "JPM", "XOM"]].loc["2019-01-01":"2021-12-31"]
    path = tmp_path / "prices.csv"
    prices.rename_axis("date").to_csv(path)
    args = ["--prices", str(path), "--start", "2021-06-01", "--positions", "5", "--optimizer", "mvo",
            "--home", str(tmp_path / "home"), "--no-notebook", "--workers", "1"]
    first = invoke(["sweep", *args])
    assert first.exit_code == 0, first.output
    assert "Cells: 1 (1 computed, 0 from the cache)" in first.output
    same = invoke(["sweep", *args])
    assert "Cells: 1 (0 computed, 1 from the cache)" in same.output
    changed = prices.copy()
    changed.iloc[-5, 0] *= 1.01  # one close, one percent, in the last week
    changed.rename_axis("date").to_csv(path)
    again = invoke(["sweep", *args])
    assert again.exit_code == 0, again.output
    assert "Cells: 1 (1 computed, 0 from the cache)" in again.output


@pytest.mark.parametrize("grid, words", [
    ("[grid]\noptimizer = [\"mvo\", \"fancy\"]\n", "grid optimizer: 'fancy' is not valid"),
    ("[grid]\nleverage = [1, 2]\n", "unknown grid key(s) leverage"),
    ("[grid]\nno_trade_band = [0.5, 1.5]\n", "grid cell mvo no_trade_band=1.5"),
    ("[grid]\npositions = []\n", "grid positions is an empty list"),
    ("[grid\noptimizer = 1\n", "is not valid TOML"),
    ("[sweep]\nfrom = \"2020-01-01\"\n", "unknown [sweep] key(s) from"),
])
def test_a_bad_grid_is_one_line_and_nothing_runs(tmp_path, grid, words):
    path = tmp_path / "grid.toml"
    path.write_text(grid, encoding="utf-8")
    home = tmp_path / "home"
    result = invoke(["sweep", "--source", "sample", "--grid", str(path), "--home", str(home), "--no-notebook"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: ") and words in errors[0], result.stderr
    assert not (home / "data" / "sweep").exists()
    assert not list((home / "results").glob("sweep_*")) if (home / "results").exists() else True


def test_the_report_ranks_the_cells(tmp_path):
    out = tmp_path / "out"
    result = invoke(["sweep", "--source", "sample", "--start", "2021-06-01", "--end", "2021-12-31", "--positions", "5",
                     "--optimizer", "mvo,rankbased", "--home", str(tmp_path / "home"), "--out", str(out),
                     "--split", "2021-09-01"])
    assert result.exit_code == 0, result.output
    assert "Note: the period is shorter than a year" in result.output
    html = (out / "sweep_report.html").read_text(encoding="utf-8")
    for words in ("Cells ranked by net Sharpe", "Turnover against net Sharpe", "Out-of-sample net Sharpe",
                  "not meaningful"):
        assert words in html, words
    assert "<img" in html and (out / "pareto.png").stat().st_size > 10_000
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 2 and {"sharpe", "ew_sharpe", "benchmark_sharpe", "oos_sharpe", "turnover"} <= set(table)


def test_flags_make_the_grid_and_the_controls_switch_off(tmp_path):
    out = tmp_path / "out"
    result = invoke(["sweep", "--source", "sample", "--start", "2021-03-01", "--end", "2021-12-31", "--positions", "5",
                     "--optimizer", "mvo", "--turnover-control", "on,off", "--fill", "same-close",
                     "--home", str(tmp_path / "home"), "--out", str(out), "--no-notebook", "--workers", "1"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "sweep.csv")
    assert table["turnover_control"].tolist() == [True, False]
    assert (table["fill"] == "same_close").all()
    assert table.loc[0, "turnover"] < table.loc[1, "turnover"]  # the controls cut trading
    assert "mvo controls=on" in result.output and "mvo controls=off" in result.output
    bad = invoke(["sweep", "--source", "sample", "--positions", "five", "--home", str(tmp_path / "home")])
    assert bad.exit_code == 2 and "--positions: 'five' is not a number" in bad.stderr


def test_a_sweep_reads_a_universe_file_named_relative_to_the_home_and_caches_it_by_its_contents(
        tmp_path, monkeypatch):
    # From the home folder or another one: the same file, the same figures, the same cached cell;
    # an edited file is a new cell.
    from etftrader.groups import sample_universe_path

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    universe = home / "my_universe.csv"
    universe.write_bytes(sample_universe_path().read_bytes())
    settings = ('[limits]\ncategory_max = { "*" = 0.6 }\n\n'
                '[rebalance]\nspread_bps = { "Equity" = 40.0, "*" = 1.0 }\n')
    (home / "config.toml").write_text(f'[data]\nsource = "sample"\nuniverse = "my_universe.csv"\n\n{settings}',
                                      encoding="utf-8")
    (home / "absolute.toml").write_text(f'[data]\nsource = "sample"\nuniverse = "{universe.as_posix()}"\n\n'
                                        f'{settings}', encoding="utf-8")

    def sweep(folder, config):
        monkeypatch.chdir(folder)
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        result = invoke(["sweep", "--home", home, "--config", home / config, "--optimizer", "mvo",
                         "--positions", "5", "--start", START, "--end", END, "--workers", "1", "--no-notebook",
                         "--out", out])
        assert result.exit_code == 0, result.output
        return pd.read_csv(out / "sweep.csv"), len(list((home / "data" / "sweep").glob("*.json")))

    from_elsewhere, cached = sweep(elsewhere, "config.toml")
    assert cached == 1
    absolute, cached = sweep(elsewhere, "absolute.toml")
    assert cached == 1  # the same file by another name: the same cell
    from_home, cached = sweep(home, "config.toml")
    assert cached == 1
    for table in (absolute, from_home):
        pd.testing.assert_frame_equal(table.drop(columns="seconds"), from_elsewhere.drop(columns="seconds"))
    assert from_elsewhere["costs"].iloc[0] > 0
    universe.write_text(universe.read_text(encoding="utf-8").replace(",Equity,", ",Fixed Income,"), encoding="utf-8")
    edited, cached = sweep(elsewhere, "config.toml")
    assert cached == 2  # recomputed: the Equity spread no longer applies to the factor ETFs
    assert edited["costs"].iloc[0] < from_elsewhere["costs"].iloc[0]


def test_each_cell_says_how_many_weeks_traded_and_how_many_its_cost_cap_held_back(sample_data, sample_config):
    capped = sample_config.override(rebalance={"max_cost_fraction": 0.0005})  # 5 bps of the portfolio
    cells = sw.expand_grid({"optimizer": ["mvo"], "cost_bps": [2, 40], "positions": [5]}, capped)
    rows = sw.run_cells(sample_data, capped, cells, START, END)
    for cell, row in zip(cells, rows):
        alone = run_backtest(sample_data, cell.config(capped), optimizers=[cell.optimizer], start=START,
                             end=END, positions=cell.positions, fill=cell.fill)
        for prefix, name in (("", cell.optimizer), ("ew_", EQUAL_WEIGHT)):
            d = alone.decisions[alone.decisions["strategy"] == name]
            held = d["note"].astype(str).str.contains("held back the rebalance", regex=False)
            assert row[prefix + "held_back_weeks"] == held.mean()
            assert row[prefix + "trade_weeks"] == (d["trades"] > 0).mean()
        assert "benchmark_held_back_weeks" not in row
    assert rows[0]["held_back_weeks"] < rows[1]["held_back_weeks"]  # dearer trades: more weeks held back
    assert rows[1]["held_back_weeks"] > 0


def test_the_ranking_shows_the_share_of_weeks_held_back_and_copes_with_an_older_table(sample_data, sample_config):
    capped = sample_config.override(rebalance={"max_cost_fraction": 0.0005})
    table = pd.DataFrame(sw.run_cells(sample_data, capped, sw.expand_grid(
        {"optimizer": ["mvo"], "cost_bps": [40], "positions": [5]}, capped), START, END))
    table.insert(0, "cell", range(len(table)))
    shown = sw.ranking_table(table)
    assert shown["Weeks held back"].tolist() == [f"{table['held_back_weeks'].iloc[0]:.1%}"]
    assert shown["Weeks held back"].iloc[0] != "0.0%"
    older = sw.ranking_table(table.drop(columns=["held_back_weeks"]))
    assert older["Weeks held back"].tolist() == ["n/a"]
