"""Factor scores for ETFs: prices in, one score per ticker out (higher is better).

Pure functions, no I/O: :func:`momentum`, :func:`quality`, :func:`value` and
:func:`low_volatility` each take a price frame (dates x tickers) and return a Series by ticker,
NaN where a ticker lacks a full window of prices. :func:`score_universe` computes all four at once
and combines their winsorized cross-sectional z-scores into a weighted composite.

Names are loaded on first use, so ``factors.names`` (the factor names and ``TRADING_DAYS``) can be
read without importing numpy and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

#: where each public name lives
_HOMES = {
    "FACTOR_NAMES": ".names",
    "TRADING_DAYS": ".names",
    "SCORE_COLUMNS": ".composite",
    "score_universe": ".composite",
    "zscore": ".composite",
    "momentum": "._momentum",
    "ULCER_FLOOR": "._quality",
    "quality": "._quality",
    "value": "._value",
    "low_volatility": "._volatility",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
