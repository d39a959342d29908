"""Every optimizer and the group limits through the CLI on the sample: workbook, --json, backtest, report."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from etftrader.config import OPTIMIZERS, Config, load_config
from etftrader.groups import sample_universe_path
from etftrader.workbook import read_ledger

from .helpers import run_cli

UNIVERSE = pd.read_csv(sample_universe_path())
CATEGORY = dict(zip(UNIVERSE["ticker"], UNIVERSE["category"]))
LIMITS = ('[limits]\ncategory_min = { "Health Care" = 0.25 }\n'
          'category_max = { "*" = 0.30, "US Factor" = 0.35 }\n')


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _by_category(weights: dict[str, float]) -> pd.Series:
    return pd.Series(weights).groupby(CATEGORY.get).sum()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_runs_through_the_cli_and_lands_in_the_workbook(tmp_path, optimizer):
    home = tmp_path / "home"
    code, out, err = run_cli(["weekly", "--as-of", "2021-06-04", "--positions", "8", "--optimizer", optimizer,
                              "--json"], home=home)
    assert code == 0, err
    week = json.loads(out)
    weights = np.array([t["weight"] for t in week["target"]])
    assert len(weights) == 8 and (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert week["optimizer"] == optimizer and week["optimizer_used"] == optimizer, week["fallback_reason"]
    ledger = read_ledger(home / "results" / "portfolio_tracking.xlsx")
    assert ledger.metadata["optimizer"].tolist() == [optimizer]
    assert sorted(ledger.positions["ticker"]) == sorted(t["ticker"] for t in week["target"])
    assert 0.99 < ledger.positions["weight"].sum() <= 1.0  # whole shares: a little cash is left
    # the frontier of the selected tickers, with the target on the same axes as its metrics
    frontier = week["frontier"]
    assert len(frontier["points"]) >= 10 and len(frontier["tickers"]) == 8
    assert frontier["portfolio"]["return"] == pytest.approx(week["metrics"]["expected_return"], abs=1e-9)
    assert frontier["portfolio"]["risk"] == pytest.approx(week["metrics"]["expected_volatility"], abs=1e-9)
    lowest = min(p["risk"] for p in frontier["points"])
    assert frontier["portfolio"]["risk"] >= lowest - 1e-6 and frontier["equal_weight"]["risk"] >= lowest - 1e-6
    assert bool(week["sleeves"]) == (optimizer == "barbell")


def test_group_limits_hold_every_week_in_the_weekly_run_and_the_backtest(tmp_path):
    from etftrader.backtest import run_backtest
    from etftrader.paths import Home
    from etftrader.prices import load_prices

    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text(LIMITS, encoding="utf-8")
    code, out, err = run_cli(["weekly", "--as-of", "2021-06-04", "--positions", "8", "--json"], home=home)
    assert code == 0, err
    week = json.loads(out)
    totals = _by_category({t["ticker"]: t["weight"] for t in week["target"]})
    assert totals.get("Health Care", 0) >= 0.25 - 1e-4 and totals.max() <= 0.35 + 1e-4
    assert (totals.drop("US Factor", errors="ignore") <= 0.30 + 1e-4).all()
    assert week["frontier"]["limits"]

    config = load_config(home / "etftrader.toml").override(data={"source": "sample"})
    result = run_backtest(load_prices(config.data, Home(tmp_path / "bt")), config,
                          optimizers="mvo,rankbased,hrp,barbell,blacklitterman", start=pd.Timestamp("2021-01-01"),
                          end=pd.Timestamp("2021-12-31"), positions=8)
    targets = result.targets.query("strategy != 'equal_weight'")
    assert targets["date"].nunique() >= 50
    for (strategy, day), week_target in targets.groupby(["strategy", "date"]):
        totals = _by_category(dict(zip(week_target["ticker"], week_target["weight"])))
        assert totals.get("Health Care", 0) >= 0.25 - 1e-4, (strategy, day)
        assert totals.get("US Factor", 0) <= 0.35 + 1e-4, (strategy, day)
        assert (totals.drop("US Factor", errors="ignore") <= 0.30 + 1e-4).all(), (strategy, day, totals)
    # equal weight is the untouched 1/N comparison
    ew = result.targets.query("strategy == 'equal_weight'")
    assert ew.groupby("date")["weight"].nunique().eq(1).all()


@pytest.mark.parametrize("limits, expected", [
    ('[limits]\ncategory_min = { "Health Care" = 0.9 }\n',
     "group limit category 'Health Care' needs at least 90.0% but 5 of the 8 selected tickers belong to it, "
     "at most 15.0% each (75.0% in all)"),
    ('[limits]\ncategory_min = { Bonds = 0.2 }\n',
     "group limit category 'Bonds': no ticker of the universe file belongs to it (category values there: "
     "Consumer Discretionary, Consumer Staples, Energy"),
    ('[limits]\ncategory_min = { Energy = 0.5, "Health Care" = 0.6 }\n',
     "`category_min` asks for 110.0% in all (Energy 50.0%, Health Care 60.0%), more than 100%"),
    ('[limits]\ncategory_min = { Energy = 0.4 }\ncategory_max = { "*" = 0.3 }\n',
     "group limit category 'Energy': minimum 40.0% is above its maximum 30.0%"),
    ('[limits]\nasset_class_min = { "*" = 0.1 }\n', '`asset_class_min` cannot use "*"'),
])
def test_limits_that_cannot_be_met_stop_the_run_with_one_line_and_leave_the_workbook_alone(tmp_path, limits, expected):
    home = tmp_path / "home"
    code, _, err = run_cli(["weekly", "--as-of", "2021-05-28", "--positions", "8"], home=home)
    assert code == 0, err
    book = home / "results" / "portfolio_tracking.xlsx"
    before = _sha(book)
    (home / "etftrader.toml").write_text(limits, encoding="utf-8")
    code, out, err = run_cli(["weekly", "--as-of", "2021-06-04", "--positions", "8"], home=home)
    assert code == 2 and expected in err, err
    assert len(err.strip().splitlines()) == 1
    assert _sha(book) == before
    code, _, err = run_cli(["backtest", "--source", "sample", "--positions", "8", "--start", "2021-01-01",
                            "--end", "2021-03-31", "--out", str(tmp_path / "bt")], home=home)
    # a config mistake stops the backtest too; limits a week cannot meet leave that week's holdings
    assert code == (0 if "needs at least" in expected else 2), err


@pytest.mark.slow
def test_the_report_draws_the_frontier_and_the_barbells_two_sleeves(tmp_path):
    from etftrader.cli import main

    home = tmp_path / "home"
    code = main(["weekly", "--as-of", "2021-06-04", "--positions", "8", "--optimizer", "barbell",
                 "--source", "sample", "--home", str(home)])
    assert code == 0
    html = next((home / "results" / "reports").glob("*.html")).read_text(encoding="utf-8")
    assert 'alt="Efficient frontier of the selected tickers, 2021-06-04"' in html
    assert "Barbell sleeves" in html and "Defensive core" in html and "Aggressive sleeve" in html
    side = json.loads((home / "data" / "week_latest.json").read_text(encoding="utf-8"))
    assert side["as_of"] == "2021-06-04" and len(side["sleeves"]["sleeve"]) == 2
    assert sum(side["weights"][t] for t in side["sleeves"]["sleeve"]) == pytest.approx(0.10, abs=1e-9)


def test_config_defaults_document_the_new_settings():
    from etftrader.config import DEFAULT_CONFIG_TOML

    config = Config()
    assert config.optimizer.barbell_sleeve == 0.10 and config.optimizer.barbell_core == "minvar"
    assert not config.limits.active
    for key in ("bl_view_confidence", "barbell_sleeve", "barbell_size", "barbell_core", "[limits]",
                "category_max", "blacklitterman | barbell"):
        assert key in DEFAULT_CONFIG_TOML


def test_asset_class_limits_come_from_the_universe_file_of_the_source(tmp_path):
    from etftrader.errors import ConfigError
    from etftrader.groups import group_limits
    from etftrader.prices.universe import load_universe

    config = Config().override(data={"source": "yfinance"}, limits={"asset_class_min": {"Fixed Income": 0.2},
                                                                   "category_max": {"*": 0.3}})
    limits = {g.label: g for g in group_limits(config)}
    bonds = limits["asset_class 'Fixed Income'"]
    bundled = load_universe()
    assert bonds.members == frozenset(bundled.loc[bundled["asset_class"] == "Fixed Income", "ticker"])
    assert bonds.low == 0.2 and bonds.high == 1.0 and len(bonds.members) == 85
    categories = [g for g in limits.values() if g.kind == "category"]
    assert len(categories) == bundled["category"].nunique() and {g.high for g in categories} == {0.3}
    # the sample's own classification is used with the sample source, and a typo is named
    sample = Config().override(data={"source": "sample"}, limits={"asset_class_min": {"Fixed Income": 0.2}})
    with pytest.raises(ConfigError, match="asset_class 'Fixed Income': no ticker .*asset_class values there: Equity"):
        group_limits(sample)
