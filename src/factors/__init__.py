"""Factor scores for ETFs: prices in, one score per ticker out (higher is better).

Pure functions, no I/O: :func:`momentum`, :func:`quality`, :func:`value` and
:func:`low_volatility` each take a price frame (dates x tickers) and return a Series by ticker,
NaN where a ticker lacks a full window of prices. :func:`score_universe` computes all four at once
and combines their winsorized cross-sectional z-scores into a weighted composite.
"""

from .composite import FACTOR_NAMES, SCORE_COLUMNS, score_universe, zscore
from .momentum import momentum
from .quality import ULCER_FLOOR, quality
from .value import value
from .volatility import low_volatility

__all__ = [
    "FACTOR_NAMES",
    "SCORE_COLUMNS",
    "ULCER_FLOOR",
    "low_volatility",
    "momentum",
    "quality",
    "score_universe",
    "value",
    "zscore",
]
