"""``etftrader backtest`` as a user runs it: outputs, one-line errors, and equality with weekly."""

from __future__ import annotations

import html as htmllib
import json
import re

import pandas as pd
import pytest

from etftrader.cli import main
from etftrader.metrics import METRIC_NAMES
from etftrader.prices import SAMPLE_BENCHMARK_LABEL

SERIES = ["mvo", "minvar", "rankbased", "equal_weight", SAMPLE_BENCHMARK_LABEL]


def _run(capsys, *args):
    code = main(["backtest", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory):
    """One CLI run without the notebook (module scope: several tests read its files)."""
    home = tmp_path_factory.mktemp("cli_home")
    out = home / "bt"
    code = main(["backtest", "--source", "sample", "--start", "2021-06-01", "--end", "2021-07-31",
                 "--positions", "5", "--home", str(home), "--out", str(out), "--no-notebook",
                 "--cost-bps", "7.5", "--capital", "250000"])
    assert code == 0
    return home, out


def test_outputs_have_the_documented_columns_and_keys(cli_out):
    _, out = cli_out
    equity = pd.read_csv(out / "equity.csv")
    assert list(equity.columns) == ["date", *SERIES]
    assert equity["date"].iloc[0] == "2021-06-04"
    assert equity[SAMPLE_BENCHMARK_LABEL].iloc[0] == pytest.approx(250000.0)

    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns) == ["strategy", "date", "ticker", "action", "shares", "price", "value", "cost"]
    assert set(trades["action"]) <= {"BUY", "SELL"}
    assert set(trades["strategy"]) == set(SERIES[:4])
    assert trades["cost"].to_numpy() == pytest.approx(7.5 * trades["value"].to_numpy() / 1e4)

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert list(metrics) == SERIES
    for name in SERIES:
        assert list(metrics[name]) == [*METRIC_NAMES, "fill", "annualised_figures"]  # a 14-week window

    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["source"] == "sample" and run["positions"] == 5 and run["cost_bps"] == 7.5
    assert "filled at the next trading day's close" in run["execution"] and run["fill"] == "next_close"
    for png in ("equity.png", "drawdowns.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_summary_is_plain_ascii_and_names_every_series(tmp_path, capsys):
    code, out, err = _run(capsys, "--source", "sample", "--start", "2021-06-01", "--end", "2021-06-30",
                          "--optimizer", "rankbased", "--positions", "5", "--home", str(tmp_path),
                          "--out", str(tmp_path / "o"), "--no-notebook")
    assert code == 0, err
    out.encode("ascii")
    assert "BACKTEST COMPLETED" in out
    for name in ("rankbased", "equal_weight", SAMPLE_BENCHMARK_LABEL):
        assert name in out
    assert "mvo" not in out.split("CAGR")[1]
    assert list((tmp_path / "logs").glob("backtest_*.log"))


@pytest.mark.parametrize("args, pattern", [
    (["--start", "2021-06-01", "--end", "2021-01-01"], "--start 2021-06-01 is after --end 2021-01-01"),
    (["--start", "1990-02-01", "--end", "1991-06-01"], "earliest possible start with these prices is 1990-12-31"),
    (["--optimizer", "hrp,blend"], "`optimizer` must be one of mvo, minvar, rankbased, hrp, riskparity, cvar, blacklitterman, barbell, all, got 'blend'"),
    (["--start", "01/06/2021"], "--start must be a date as YYYY-MM-DD"),
    (["--positions", "0"], "`positions` must be at least 1"),
    (["--cost-bps", "-1"], "`cost_bps` must be >= 0"),
    (["--workers", "two"], "--workers must be a whole number >= 1 or auto, got 'two'"),
])
def test_bad_inputs_give_one_line_and_exit_code_2(tmp_path, capsys, args, pattern):
    code, out, err = _run(capsys, "--source", "sample", "--home", str(tmp_path), "--no-notebook", *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert pattern in lines[0]
    assert not list(tmp_path.glob("results/backtest_*")), "nothing written on a bad input"


def test_targets_and_first_trades_equal_etftrader_weekly_as_of(tmp_path, capsys):
    """The backtest's week is `etftrader weekly --as-of` that day: same target, same trade list."""
    day = "2021-07-02"  # a Friday: the backtest decides on it
    code = main(["weekly", "--source", "sample", "--as-of", day, "--positions", "5", "--optimizer", "minvar",
                 "--capital", "500000", "--home", str(tmp_path / "w"), "--no-notebook", "--json"])
    weekly = json.loads(capsys.readouterr().out)
    assert code == 0

    out = tmp_path / "bt"
    code, _, err = _run(capsys, "--source", "sample", "--start", day, "--end", day, "--optimizer", "minvar",
                        "--positions", "5", "--capital", "500000", "--home", str(tmp_path / "b"),
                        "--out", str(out), "--no-notebook", "--fill", "same-close")
    assert code == 0, err
    targets = pd.read_csv(out / "targets.csv").query("strategy == 'minvar'")
    want = {r["ticker"]: r["weight"] for r in weekly["target"]}
    assert dict(zip(targets["ticker"], targets["weight"])) == pytest.approx(want, abs=1e-12)
    assert targets["date"].unique().tolist() == [day]

    trades = pd.read_csv(out / "trades.csv").query("strategy == 'minvar'")
    got = [(r.ticker, r.action, r.shares) for r in trades.itertuples()]
    assert got == [(t["ticker"], t["action"], t["shares"]) for t in weekly["trades"]]
    assert trades["cost"].sum() == pytest.approx(weekly["estimated_costs"], rel=1e-9)


def test_html_report_renders_from_the_04_notebook(tmp_path, capsys):
    """The one test that renders: papermill on the private kernel, HTML without code."""
    out = tmp_path / "bt"
    code, stdout, err = _run(capsys, "--source", "sample", "--start", "2021-06-01", "--end", "2021-06-30",
                             "--optimizer", "rankbased", "--positions", "5", "--home", str(tmp_path),
                             "--out", str(out))
    assert code == 0, err
    html = (out / "validation_report.html").read_text(encoding="utf-8")
    assert "Report:" in stdout
    assert html.count("data:image/png;base64") >= 2
    assert 'alt="Portfolio value of each strategy' in html
    assert "<title>Validation backtest 2021-06-04 to 2021-06-30</title>" in html
    for text in ("Survivorship", "demo universe", "Estimates", "Short window", SAMPLE_BENCHMARK_LABEL):
        assert htmllib.escape(text, quote=False) in html
    assert "load_outputs" not in html, "code cells are excluded"
    assert "Traceback" not in html
    assert (out / "validation_report.ipynb").exists()


def test_a_failing_report_keeps_the_outputs_and_exits_8(tmp_path, capsys):
    """The analyst's own (broken) notebook copy in <home>/notebooks is used and fails cleanly."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('RESULTS_DIR = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("raise RuntimeError('broken copy')")]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, str(tmp_path / "notebooks" / "04_real_data_validation_results.ipynb"))

    out = tmp_path / "bt"
    code, stdout, err = _run(capsys, "--source", "sample", "--start", "2021-06-01", "--end", "2021-06-18",
                             "--optimizer", "rankbased", "--positions", "5", "--home", str(tmp_path),
                             "--out", str(out))
    assert code == 8
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.search(r"validation notebook failed in cell \d+: RuntimeError: broken copy", lines[0])
    assert "backtest outputs are kept" in lines[0]
    assert "BACKTEST COMPLETED" in stdout
    for name in ("equity.csv", "trades.csv", "metrics.json", "validation_report.ipynb"):
        assert (out / name).exists()
    assert not (out / "validation_report.html").exists()


def test_file_source_without_benchmark_compares_equal_weight_only(tmp_path, capsys, sample_close):
    """A user's price file (wide CSV, real sample prices) with no benchmark column."""
    prices = tmp_path / "prices.csv"
    sample_close.loc["2019-01-01":"2021-06-30", ["MTUM", "QUAL", "SIZE", "USMV", "VLUE", "AAPL", "KO"]] \
        .to_csv(prices, index_label="date")
    out = tmp_path / "bt"
    code, _, err = _run(capsys, "--prices", str(prices), "--start", "2021-05-01", "--optimizer", "minvar",
                        "--positions", "4", "--home", str(tmp_path), "--out", str(out), "--no-notebook")
    assert code == 0, err
    assert list(pd.read_csv(out / "equity.csv").columns) == ["date", "minvar", "equal_weight"]
    assert list(json.loads((out / "metrics.json").read_text(encoding="utf-8"))) == ["minvar", "equal_weight"]
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["source"] == "file" and run["benchmark"] is None and run["end"] == "2021-06-30"
    assert any("no benchmark" in n for n in run["notes"])


def test_default_output_folder_is_timestamped_under_results(tmp_path, capsys):
    args = ["--source", "sample", "--start", "2021-06-01", "--end", "2021-06-11", "--optimizer", "rankbased",
            "--positions", "5", "--home", str(tmp_path), "--no-notebook"]
    assert _run(capsys, *args)[0] == 0
    assert _run(capsys, *args)[0] == 0
    folders = sorted((tmp_path / "results").glob("backtest_*"))
    assert len(folders) == 2, "a second run never overwrites the first"
    assert re.fullmatch(r"backtest_\d{8}_\d{6}", folders[0].name)
    assert all((f / "equity.csv").exists() for f in folders)


def test_missing_notebook_is_a_report_error_naming_it(tmp_path, monkeypatch):
    from etftrader import report
    from etftrader.backtest import render_backtest_report
    from etftrader.errors import ReportError
    from etftrader.paths import Home

    monkeypatch.setattr(report, "project_notebooks_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(ReportError, match="validation notebook 04_real_data_validation_results.ipynb not found"):
        render_backtest_report(tmp_path, home=Home(tmp_path))


def test_a_universe_file_named_relative_to_the_home_serves_the_limits_and_spreads_from_any_folder(
        tmp_path, monkeypatch, capsys):
    # The weekly run finds a config's relative `universe` under the home folder (a scheduled run
    # starts elsewhere); the backtest must read the same file for the group limits and the spreads
    # by asset class, not fail on the limits nor silently charge the "*" spread.
    from etftrader.groups import sample_universe_path

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    (home / "my_universe.csv").write_bytes(sample_universe_path().read_bytes())
    settings = ('[limits]\ncategory_max = { "*" = 0.6 }\n\n'
                '[rebalance]\nspread_bps = { "Equity" = 40.0, "*" = 1.0 }\n')
    for name, universe in (("relative.toml", "my_universe.csv"),
                           ("absolute.toml", (home / "my_universe.csv").as_posix())):
        (home / name).write_text(f'[data]\nsource = "sample"\nuniverse = "{universe}"\n\n{settings}', encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    outs = {}
    for name in ("relative.toml", "absolute.toml"):
        outs[name] = home / name.replace(".toml", "")
        code, out, err = _run(capsys, "--config", str(home / name), "--home", str(home), "--optimizer", "mvo",
                              "--start", "2021-01-01", "--end", "2021-06-30", "--positions", "5",
                              "--out", str(outs[name]), "--no-notebook")
        assert code == 0, err
    for table in ("trades.csv", "decisions.csv", "equity.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(outs["relative.toml"] / table),
                                      pd.read_csv(outs["absolute.toml"] / table))
    trades = pd.read_csv(outs["relative.toml"] / "trades.csv")
    equity_etf = trades[(trades["strategy"] == "mvo") & trades["ticker"].isin(["MTUM", "QUAL", "USMV"])]
    assert len(equity_etf)  # the Equity spread was charged on them: cost above the commission alone
    assert (equity_etf["cost"] > equity_etf["value"] * 40.0 / 2 / 1e4 * 0.99).all()


def test_spreads_by_asset_class_with_an_unreadable_universe_file_stop_the_run_before_any_week(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[data]\nsource = "sample"\nuniverse = "nowhere.csv"\n\n'
                                      '[rebalance]\nspread_bps = { "Equity" = 40.0, "*" = 1.0 }\n', encoding="utf-8")
    code, out, err = _run(capsys, "--config", str(home / "config.toml"), "--home", str(home), "--optimizer", "mvo",
                          "--start", "2021-01-01", "--end", "2021-06-30", "--positions", "5", "--no-notebook")
    assert code == 3
    assert "nowhere.csv" in err and len(err.strip().splitlines()) == 1
    assert not list((home / "results").glob("backtest_*")) if (home / "results").exists() else True
