"""Selection: the top N tickers by composite score, the step before weighting."""

from __future__ import annotations

import logging
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["select_top", "select_with_buffer", "Kept"]

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


class Kept(NamedTuple):
    """A held ticker the buffer kept although it is outside the top ``n``: its rank and the limit."""

    ticker: str
    rank: int
    limit: int


def select_with_buffer(scores: pd.Series, n: int, held: Iterable[str], buffer: int) -> tuple[list[str], list[Kept]]:
    """The top ``n`` with a buy/hold spread: held tickers stay while ranked within ``n + buffer``.

    A held ticker whose rank (1 = best, in :func:`select_top`'s order) is at most ``n + buffer``
    stays selected; the places left are filled from the top ``n`` in rank order, so a new ticker
    enters only from the top ``n`` (Novy-Marx and Velikov 2016, "A Taxonomy of Anomalies and
    Their Trading Costs", buy/hold spreads). With ``buffer = 0`` this is :func:`select_top`.

    Parameters
    ----------
    scores : Series of shape (n_tickers,)
        Composite score by ticker, higher is better.
    n : int
        Number of positions wanted (>= 1).
    held : iterable of str
        Tickers held now.
    buffer : int
        Extra ranks a held ticker may fall before it is dropped (>= 0).

    Returns
    -------
    selected : list of str
        At most ``n`` tickers, in rank order.
    kept : list of Kept
        The held tickers selected only thanks to the buffer (rank > n).

    Examples
    --------
    >>> s = pd.Series({"A": 5.0, "B": 4.0, "C": 3.0, "D": 2.0})
    >>> select_with_buffer(s, 2, held=["C"], buffer=1)
    (['A', 'C'], [Kept(ticker='C', rank=3, limit=3)])
    """
    if isinstance(buffer, bool) or not isinstance(buffer, (int, np.integer)) or buffer < 0:
        raise ValueError(f"`buffer` must be an integer >= 0, got {buffer!r}")
    ranked = select_top(scores, int(n) + int(buffer))
    if buffer == 0:
        return ranked[: int(n)], []
    held_set = {str(t) for t in held}
    limit = int(n) + int(buffer)
    keep = [t for t in ranked if t in held_set][: int(n)]
    chosen = set(keep)
    for t in ranked[: int(n)]:
        if len(chosen) >= n:
            break
        chosen.add(t)
    selected = [t for t in ranked if t in chosen]
    kept = [Kept(t, ranked.index(t) + 1, limit) for t in selected if ranked.index(t) >= n]
    return selected, kept
