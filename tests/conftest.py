"""Fixtures shared across the suite. Test folders keep their own fixtures in their own conftest."""

from __future__ import annotations

import os

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def sample_close() -> pd.DataFrame:
    """The bundled real sample: 5 iShares factor ETFs (2014-2022) and 20 large US stocks.

    Price frame contract: DatetimeIndex named 'date', tickers as sorted columns, float adjusted close.
    Read straight from skfolio so tests of our sample source have an independent reference.
    """
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset

    frame = pd.concat([load_factors_dataset(), load_sp500_dataset()], axis=1, sort=True)
    frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
    frame.index.name = "date"
    return frame.sort_index(axis=1).astype(float)


@pytest.fixture()
def tmp_home(tmp_path, monkeypatch):
    """An empty home folder; ETFTRADER_HOME cleared so nothing leaks from the environment."""
    monkeypatch.delenv("ETFTRADER_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    return home


def _missing_tool(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI installs it: check .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def missing_tool():
    """Call it to skip a test whose outside tool (LibreOffice) is missing -- but to fail under CI,
    where .ci/run installs it: a broken install must not turn the real-spreadsheet round trip into a
    silent skip. (A fixture, not an import: every test folder has a module named ``conftest``.)"""
    return _missing_tool
