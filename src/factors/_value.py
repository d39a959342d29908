"""Value: the seed's "simplified value" for ETFs, from prices alone.

ETFs have no book value or earnings of their own, so value here is the distance of the last price
below the highest price of the window (the 52-week high by default). An ETF far below its own high
is "cheap" relative to its recent history; it is a slow mean-reversion bet that leans against
momentum in the composite, which is what a value factor does in a factor mix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._returns import check_lookback, check_prices, price_window, valid_columns

__all__ = ["value"]


def value(prices: pd.DataFrame, *, lookback: int = 252) -> pd.Series:
    """Fraction by which the last price sits below the window's high.

    ``value = 1 - P[t] / max(P[t - lookback], ..., P[t])``, between 0 (at a new high) and 1.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Adjusted closes, dates ascending.
    lookback : int, default 252
        Trading days in the window (252 = the 52-week high).

    Returns
    -------
    Series of shape (n_tickers,)
        Indexed by ticker, named ``"value"``; higher (further below the high) is better. NaN where
        any of the last ``lookback + 1`` prices is missing (see :mod:`factors._returns`).

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"A": [100.0, 125.0, 100.0]})
    >>> round(float(value(p, lookback=2)["A"]), 10)
    0.2
    """
    prices = check_prices(prices)
    lookback = check_lookback("lookback", lookback)
    window = price_window(prices.to_numpy(), lookback)
    return pd.Series(value_from_window(window), index=prices.columns, name="value")


def value_from_window(window: np.ndarray, ok: np.ndarray | None = None, *,
                      high: np.ndarray | None = None) -> np.ndarray:
    """Value of every column of a price window of shape (lookback + 1, n_tickers);
    ``ok``: its :func:`~factors._returns.valid_columns`, and ``high``: each column's highest
    price (anything in the unusable columns, which score NaN), when the caller has them."""
    ok = valid_columns(window) if ok is None else ok
    if high is None:
        high = np.max(np.where(ok, window, 1.0), axis=0)
    return np.where(ok, 1.0 - window[-1] / high, np.nan)
