"""Quality for ETFs, from prices alone: the Martin ratio (Ulcer performance index).

An ETF has no balance sheet, so "quality" here is the quality of its return stream: how much it
returned per unit of drawdown pain. The Ulcer index (Peter Martin, 1987) is the root mean square of
the percentage drawdowns from the running high, so it grows with both how deep and how long an ETF
sits under water. Dividing the annualised return by it rewards, in one per-ticker number, the three
things the issue asks for: risk-adjusted return, consistency (a steady climber spends little time
below its high) and shallow drawdowns. Unlike a volatility-based Sharpe ratio it does not penalise
upside swings, which keeps it distinct from the low-volatility factor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._returns import TRADING_DAYS, check_lookback, check_prices, price_window, running_max, valid_columns

__all__ = ["quality", "ULCER_FLOOR"]

#: Smallest Ulcer index used in the ratio. An ETF that never fell more than a few basis points
#: (a T-bill fund) would otherwise get a near-infinite score; below 1% RMS drawdown the
#: difference between ETFs is noise, not quality.
ULCER_FLOOR = 0.01


def quality(prices: pd.DataFrame, *, lookback: int = 252) -> pd.Series:
    """Annualised return divided by the Ulcer index over the window.

    With ``P`` the last ``lookback + 1`` prices::

        annual_return = (P[-1] / P[0]) ** (252 / lookback) - 1
        drawdown[i]   = P[i] / max(P[0..i]) - 1            (0 at a running high, else < 0)
        ulcer         = sqrt(mean(drawdown ** 2))          (over all lookback + 1 points)
        quality       = annual_return / max(ulcer, ULCER_FLOOR)

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Adjusted closes, dates ascending.
    lookback : int, default 252
        Daily returns in the window.

    Returns
    -------
    Series of shape (n_tickers,)
        Indexed by ticker, named ``"quality"``; higher is better. NaN where any of the last
        ``lookback + 1`` prices is missing (see :mod:`factors._returns`).
    """
    prices = check_prices(prices)
    lookback = check_lookback("lookback", lookback)
    window = price_window(prices.to_numpy(), lookback)
    return pd.Series(quality_from_window(window), index=prices.columns, name="quality")


def quality_from_window(window: np.ndarray, ok: np.ndarray | None = None, *,
                        running: np.ndarray | None = None) -> np.ndarray:
    """Quality of every column of a price window of shape (lookback + 1, n_tickers);
    ``ok``: its :func:`~factors._returns.valid_columns`, and ``running``: the window's running
    high (:func:`~factors._returns.running_max`), when the caller has them. A column with a
    missing price scores NaN whatever its running high holds (NaN flows through the drawdowns
    without a warning, and the last step masks it)."""
    ok = valid_columns(window) if ok is None else ok
    lookback = window.shape[0] - 1
    # (the end points of the columns that score NaN left out: a hole's column must not overflow)
    annual_return = (np.where(ok, window[-1], 1.0) / np.where(ok, window[0], 1.0)) ** (TRADING_DAYS / lookback) - 1.0
    # In place, in the window's layout: the mean sums down each column in the order it always did.
    drawdown = np.empty_like(window)
    np.divide(window, running_max(window) if running is None else running, out=drawdown)
    drawdown -= 1.0
    ulcer = np.sqrt(np.mean(np.square(drawdown, out=drawdown), axis=0))
    return np.where(ok, annual_return / np.maximum(ulcer, ULCER_FLOOR), np.nan)
