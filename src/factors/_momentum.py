"""Momentum: the 12-1 month total return the seed workflow uses.

The return from ``lookback`` trading days ago to ``skip`` trading days ago. Skipping the most recent
month is the usual guard against its short-term reversal (Jegadeesh and Titman, 1993).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._returns import check_lookback, check_prices, price_window, valid_columns

__all__ = ["momentum"]


def momentum(prices: pd.DataFrame, *, lookback: int = 252, skip: int = 21) -> pd.Series:
    """Total return over the window, leaving out its most recent ``skip`` days.

    ``momentum = P[t - skip] / P[t - lookback] - 1`` where ``t`` is the last row of ``prices``.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Adjusted closes, dates ascending.
    lookback : int, default 252
        Trading days from the start of the window to the last row (about 12 months).
    skip : int, default 21
        Most recent trading days left out (about 1 month); ``0 <= skip < lookback``.

    Returns
    -------
    Series of shape (n_tickers,)
        Indexed by ticker, named ``"momentum"``; higher is better. NaN where any of the last
        ``lookback + 1`` prices is missing (see :mod:`factors._returns`).

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"A": [100.0, 110.0, 121.0, 50.0]})
    >>> round(float(momentum(p, lookback=3, skip=1)["A"]), 10)
    0.21
    """
    prices = check_prices(prices)
    lookback = check_lookback("lookback", lookback)
    skip = check_lookback("skip", skip, minimum=0)
    if skip >= lookback:
        raise ValueError(f"`skip` must be smaller than `lookback` ({lookback}), got {skip}")
    window = price_window(prices.to_numpy(), lookback)
    return pd.Series(momentum_from_window(window, skip), index=prices.columns, name="momentum")


def momentum_from_window(window: np.ndarray, skip: int, ok: np.ndarray | None = None) -> np.ndarray:
    """Momentum of every column of a price window of shape (lookback + 1, n_tickers);
    ``ok``: its :func:`~factors._returns.valid_columns`, when the caller has them."""
    raw = window[-1 - skip] / window[0] - 1.0
    return np.where(valid_columns(window) if ok is None else ok, raw, np.nan)
