"""The benchmark universe generator: deterministic for a seed and shaped like a `--source file` input.

The benchmarks themselves are not run by the suite; only the generator they all start from is checked,
on a tiny size so the test stays fast.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

GENERATOR = Path(__file__).resolve().parents[1] / "benchmarks" / "generate_universe.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("bench_generate_universe", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def small(gen):
    return gen.generate(n_tickers=40, years=2, seed=11)


def test_same_seed_same_universe_other_seed_differs(gen, small):
    again = gen.generate(n_tickers=40, years=2, seed=11)
    pd.testing.assert_frame_equal(small.close, again.close)
    pd.testing.assert_frame_equal(small.volume, again.volume)
    assert small.defects == again.defects
    other = gen.generate(n_tickers=40, years=2, seed=12)
    assert not np.allclose(other.close["SPY"].to_numpy(), small.close["SPY"].to_numpy())


def test_shape_follows_the_price_frame_contract(small):
    close = small.close
    assert close.shape[1] == 41 and "SPY" in close.columns
    assert list(close.columns) == sorted(close.columns)
    assert all(t == t.upper() and 3 <= len(t) <= 4 for t in close.columns)
    assert isinstance(close.index, pd.DatetimeIndex) and close.index.name == "date"
    assert close.index.tz is None and close.index.is_monotonic_increasing and close.index.is_unique
    assert (close.index.day_of_week < 5).all()
    assert 490 <= len(close) <= 510  # two years of trading days
    assert close.dtypes.eq("float64").all()
    assert ((close > 0) | close.isna()).all().all() and close.notna().to_numpy().mean() > 0.8
    assert small.volume.shape == close.shape and small.volume.isna().equals(close.isna())
    assert sorted(small.info["ticker"]) == list(close.columns)


def test_returns_look_like_etfs_and_defects_are_there(gen, small):
    rets = np.log(small.close).diff()
    # Factor structure: tickers move together, but not as one (real broad ETF lists: about 0.4-0.8).
    assert 0.2 < gen.median_pairwise_correlation(rets) < 0.9
    vols = rets.std() * np.sqrt(252)
    assert 0.02 < vols.median() < 0.40
    d = small.defects
    for kind in ("short_history", "delisted", "stale", "split_jump", "nan_gaps", "illiquid"):
        assert d[kind], kind
    assert small.close[d["short_history"]].iloc[0].isna().all()
    assert small.close[d["delisted"]].iloc[-1].isna().all()
    assert (small.close[d["stale"]].iloc[-10:].nunique() == 1).all()
    assert (rets[d["split_jump"]].min() < np.log(0.55)).all()
    assert (rets.drop(columns=d["split_jump"]).abs().max() < np.log(1.45)).all()


def test_written_long_file_round_trips(gen, small, tmp_path):
    paths = gen.write(small, tmp_path, layout="long")
    long = pd.read_parquet(paths["prices"])
    assert list(long.columns) == ["date", "ticker", "close", "volume"]
    wide = long.pivot(index="date", columns="ticker", values="close")
    pd.testing.assert_frame_equal(wide, small.close.dropna(how="all"), check_names=False, check_freq=False)
    universe = pd.read_csv(paths["universe"])
    assert list(universe.columns) == ["ticker", "name", "asset_class", "category"]


def test_cli_writes_files_and_rejects_bad_sizes(gen, tmp_path, capsys):
    assert gen.main(["--tickers", "20", "--years", "1", "--out", str(tmp_path), "--quiet", "--format", "wide"]) == 0
    assert pd.read_parquet(tmp_path / "prices.parquet").shape[1] == 21
    assert gen.main(["--tickers", "5", "--out", str(tmp_path)]) == 2
    assert "at least 20" in capsys.readouterr().err
