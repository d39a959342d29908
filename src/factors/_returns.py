"""Shared helpers of the factor functions: input checks, price windows and returns.

Every factor looks only at the last ``lookback + 1`` prices of each ticker (its *window*). The
helpers here turn a price frame into one float64 array once, so that :func:`factors.score_universe`
can compute all four factors from the same array without copying or recomputing returns, and so
that the cost of a call does not grow with the length of the history before the window.

Missing data policy (the same for every factor): a ticker gets NaN for a factor when any price in
that factor's window is missing, infinite or not positive. The data-quality step upstream already
forward-fills short gaps, so a hole that reaches this point is a gap too long to trust or a ticker
whose history starts inside the window; scoring it on part of the window would compare it unfairly
with tickers scored on all of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .names import TRADING_DAYS

__all__ = ["TRADING_DAYS", "check_lookback", "check_prices", "price_window", "valid_columns",
           "simple_returns", "running_max"]



def check_prices(prices: object) -> pd.DataFrame:
    """Return ``prices`` as a float frame, or raise a one-line error saying what is wrong.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Adjusted closes, dates ascending, one column per ticker.

    Returns
    -------
    DataFrame of shape (n_dates, n_tickers)
        The same frame with float64 values.

    Raises
    ------
    TypeError
        When ``prices`` is not a DataFrame.
    ValueError
        When the columns are not unique, the index is not ascending or values are not numeric.
    """
    if not isinstance(prices, pd.DataFrame):
        raise TypeError(
            f"`prices` must be a pandas DataFrame (dates x tickers), got {type(prices).__name__}"
        )
    if not prices.columns.is_unique:
        dupes = sorted({str(c) for c in prices.columns[prices.columns.duplicated()]})
        raise ValueError(f"`prices` must have one column per ticker, got duplicates: {', '.join(dupes)}")
    if len(prices.index) > 1 and not prices.index.is_monotonic_increasing:
        raise ValueError("`prices` must be sorted by date ascending; sort it with prices.sort_index()")
    if all(dtype == np.float64 for dtype in set(prices.dtypes.tolist())):  # each distinct dtype once
        return prices
    try:
        return prices.astype("float64")
    except (TypeError, ValueError) as e:
        raise ValueError(f"`prices` must hold numbers (adjusted closes), got: {e}") from e


def check_lookback(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise ValueError naming the parameter.

    Parameters
    ----------
    name : str
        Parameter name used in the message.
    value : object
        What the caller passed.
    minimum : int, default 1
        Smallest allowed value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum} (trading days), got {value!r}")
    return int(value)


def price_window(values: np.ndarray, lookback: int, *, usable: bool = False) -> np.ndarray:
    """The last ``lookback + 1`` rows of a price array, with unusable prices as NaN.

    Parameters
    ----------
    values : ndarray of shape (n_dates, n_tickers)
        Prices. Not modified.
    lookback : int
        Number of daily returns in the window.
    usable : bool, default False
        ``values`` holds only positive finite prices and NaN (the quality step's cleaned
        closes): the window is the last rows of ``values`` themselves, a read-only view, since
        there is nothing to set to NaN.

    Returns
    -------
    ndarray of shape (lookback + 1, n_tickers)
        A copy in which infinite and non-positive prices are NaN (with ``usable``, a view). When
        the history is shorter than the window every value is NaN, so every ticker scores NaN.
    """
    n_rows = lookback + 1
    if values.shape[0] < n_rows:
        return np.full((n_rows, values.shape[1]), np.nan)
    if usable and values.dtype == np.float64:
        view = values[-n_rows:]
        view.flags.writeable = False
        return view
    window = np.array(values[-n_rows:], dtype="float64", copy=True)
    # A zero or negative "price" is a data error, not a -100% return; treat it as missing.
    # (NaN > 0 is False, and -inf fails it too: only +inf needs its own test.)
    with np.errstate(invalid="ignore"):
        usable = window > 0
        usable &= window < np.inf
    np.copyto(window, np.nan, where=~usable)
    return window


def valid_columns(window: np.ndarray) -> np.ndarray:
    """Boolean mask of shape (n_tickers,): True where the whole window has prices.

    ``window`` is a price window (:func:`price_window`: no infinity), so a column's sum is NaN
    exactly when one of its prices is: one pass, without the boolean copy of the window."""
    return ~np.isnan(np.add.reduce(window, axis=0))


def running_max(values: np.ndarray) -> np.ndarray:
    """``np.maximum.accumulate(values, axis=0)``, a row at a time: numpy's accumulate walks one
    element at a time, about twice as slow on a 253 x 600 window. A maximum is exact, so the
    numbers are the same. The rows are walked row-major; the result has the layout of ``values``,
    row- or column-major (arithmetic between two arrays of one layout is about twice as fast as
    across layouts)."""
    out = np.array(values, dtype="float64", order="C")
    for i in range(1, len(out)):
        np.maximum(out[i - 1], out[i], out=out[i])
    # column-major, contiguous or not (the quality step's window is a view of a longer block)
    column_major = values.ndim == 2 and not values.flags.c_contiguous and values.strides[0] < values.strides[1]
    return np.asfortranarray(out) if column_major else out


def simple_returns(window: np.ndarray) -> np.ndarray:
    """Daily simple returns of a price window, shape (n_rows - 1, n_tickers)."""
    return window[1:] / window[:-1] - 1.0
