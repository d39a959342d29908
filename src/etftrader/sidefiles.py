"""The files a weekly run leaves under ``home.data_dir`` for the monitoring report: the market
series, the factor scores, the week's closes and the week file (warnings, prices, frontier, tax).

Each is written whole (:mod:`etftrader.files`); the report reads them by the names below.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .holdings import Holdings
from .prices.sources import market_frame
from .rebalance import RebalancePlan
from .target import Target

__all__ = ["MARKET_FILE", "PRICES_FILE", "SCORES_FILE", "WEEK_FILE", "save_side_files"]

_log = logging.getLogger("etftrader.pipeline")


#: file names under ``home.data_dir`` (the seed names the scores file)
MARKET_FILE = "market_latest.parquet"


SCORES_FILE = "factor_scores_latest.parquet"


#: the week's warnings, valuation prices, efficient frontier and barbell sleeves, for the report
WEEK_FILE = "week_latest.json"


#: daily closes of the tickers held, targeted or traded, for the report's own-price figures
PRICES_FILE = "prices_latest.parquet"


#: trading days of closes kept in :data:`PRICES_FILE` (a year of returns for the stop-loss levels)
SIDE_PRICE_DAYS = 300


def save_side_files(home: Any, as_of: date, target: Target, data: Any, *,
                     frontier: dict[str, Any] | None = None, clean: pd.DataFrame | None = None,
                     prices: pd.Series | None = None, holdings: Holdings | None = None,
                     plan: RebalancePlan | None = None, warnings: list[str] = (), notes: list[str] = (),
                     tax: dict[str, Any] | None = None) -> None:
    """Market series, factor scores, the week's closes and the week file for the report; each
    written whole (temp file, then replace).

    The market series is built from what the run already loaded (the benchmark, and the VIX that
    the yfinance source asks for along with the universe): no second download, no second read.
    """
    _atomic_parquet(market_frame(data, as_of), home.data_dir / MARKET_FILE)
    _atomic_parquet(target.scores, home.data_dir / SCORES_FILE)
    import json

    from .workbook.safety import atomic_write

    names = set(map(str, target.selected))
    if holdings is not None:
        names |= set(map(str, holdings.shares.index[holdings.shares > 0]))
    if plan is not None and len(plan.trades):
        names |= set(map(str, plan.trades["ticker"]))
    if clean is not None:
        closes = clean[[t for t in sorted(names) if t in clean.columns]].iloc[-SIDE_PRICE_DAYS:]
        _atomic_parquet(closes, home.data_dir / PRICES_FILE)
    used = {} if prices is None else {str(t): float(v) for t, v in prices.items()
                                      if str(t) in names and np.isfinite(v)}
    side = {"as_of": as_of.isoformat(), "optimizer": target.result.requested, "method": target.result.method,
            "warnings": list(warnings), "notes": list(notes), "prices": used, "tax": tax or {},
            "frontier": frontier, "sleeves": {k: list(v) for k, v in target.result.sleeves.items()},
            "weights": {str(t): float(w) for t, w in target.weights.items()}}
    text = json.dumps(side, indent=1, allow_nan=False, default=float).encode("utf-8")
    atomic_write(home.data_dir / WEEK_FILE, lambda fh: fh.write(text))


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    from .files import replacing

    frame = frame.copy()
    frame.attrs = {}  # notes are logged; parquet metadata needs JSON-able attrs
    with replacing(path) as tmp:
        frame.to_parquet(tmp)
