"""Fixtures for the backtest tests: the bundled real sample and one short shared run.

Backtests are the slow part of this folder, so the windows are a few months, --positions 5,
and one run is shared (session scope) by every test that only reads a result.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from etftrader.config import Config
from etftrader.paths import Home

#: a short window inside the sample; 2021-07-02 and 2021-07-09 are Fridays with prices
WINDOW = ("2021-06-01", "2021-08-31")
POSITIONS = 5


@pytest.fixture(scope="session")
def sample_config() -> Config:
    return Config().override(data={"source": "sample"}, portfolio={"positions": POSITIONS})


@pytest.fixture(scope="session")
def sample_data(sample_config, tmp_path_factory):
    """The sample as ``etftrader`` loads it (PriceData with the labelled S&P 500 benchmark)."""
    from etftrader.prices import load_prices

    home = Home(tmp_path_factory.mktemp("sample_home"))
    return load_prices(sample_config.data, home)


@pytest.fixture(scope="session")
def short_run(sample_data, sample_config):
    """All three optimizers plus equal weight over :data:`WINDOW` on the sample."""
    from etftrader.backtest import run_backtest

    start, end = (pd.Timestamp(d) for d in WINDOW)
    # same_close: the exact accounting checks below fill on the decision close (next-close fills
    # have their own tests in test_engine.py)
    return run_backtest(sample_data, sample_config, optimizers="mvo,minvar,rankbased", start=start, end=end,
                        positions=POSITIONS, fill="same_close")


@pytest.fixture(scope="session")
def window() -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start and end of the shared short run."""
    return tuple(pd.Timestamp(d) for d in WINDOW)


@pytest.fixture(scope="session")
def positions() -> int:
    return POSITIONS


@pytest.fixture()
def bt_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("ETFTRADER_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    return home
