"""Selection: the top N tickers by composite score, the step before weighting."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

__all__ = ["select_top"]

logger = logging.getLogger(__name__)


def select_top(scores: pd.Series, n: int) -> list[str]:
    """The ``n`` best-scoring tickers, best first.

    Tickers with a NaN (or infinite) score are skipped. Equal scores are ordered by ticker so the
    selection never depends on the input order. When fewer than ``n`` tickers have a score, all of
    them are returned; the caller reports the shortfall (``len(result) < n``).

    Parameters
    ----------
    scores : Series of shape (n_tickers,)
        Composite score by ticker, higher is better.
    n : int
        Number of positions wanted (>= 1).

    Returns
    -------
    list of str
        At most ``n`` tickers.

    Examples
    --------
    >>> import pandas as pd
    >>> select_top(pd.Series({"B": 1.0, "A": 1.0, "C": 2.0, "D": float("nan")}), 3)
    ['C', 'A', 'B']
    """
    if not isinstance(scores, pd.Series):
        raise TypeError(f"`scores` must be a pandas Series by ticker, got {type(scores).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`n` (number of positions) must be an integer >= 1, got {n!r}")
    values = pd.to_numeric(scores, errors="coerce").to_numpy(dtype="float64")
    usable = np.isfinite(values)
    tickers = np.array([str(t) for t in scores.index], dtype=object)[usable]
    order = np.lexsort((tickers, -values[usable]))
    chosen = [str(t) for t in tickers[order[: int(n)]]]
    if len(chosen) < n:
        logger.warning("asked for %d positions, only %d tickers have a score", n, len(chosen))
    return chosen
