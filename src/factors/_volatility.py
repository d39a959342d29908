"""Low volatility: calmer ETFs score higher.

The low-volatility anomaly (Haugen and Baker; Frazzini and Pedersen's betting-against-beta) is that
lower-risk assets have earned at least as much as riskier ones, so the factor rewards low realised
volatility. The seed measures it over 60 to 90 trading days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._returns import (TRADING_DAYS, check_lookback, check_prices, price_window, simple_returns,
                       valid_columns)

__all__ = ["low_volatility"]


def low_volatility(prices: pd.DataFrame, *, lookback: int = 60) -> pd.Series:
    """Minus the annualised volatility of daily simple returns over the window.

    ``volatility = -std(r, ddof=1) * sqrt(252)`` over the last ``lookback`` daily returns.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Adjusted closes, dates ascending.
    lookback : int, default 60
        Daily returns in the window (at least 2).

    Returns
    -------
    Series of shape (n_tickers,)
        Indexed by ticker, named ``"volatility"``; higher (calmer) is better, always <= 0. NaN
        where any of the last ``lookback + 1`` prices is missing (see :mod:`factors._returns`).
    """
    prices = check_prices(prices)
    lookback = check_lookback("lookback", lookback, minimum=2)
    window = price_window(prices.to_numpy(), lookback)
    scores = low_volatility_from_window(window, simple_returns(window))
    return pd.Series(scores, index=prices.columns, name="volatility")


def low_volatility_from_window(window: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Low-volatility score from a price window and its daily returns (one row fewer)."""
    ok = valid_columns(window)
    returns = np.where(ok, returns, 0.0)
    return np.where(ok, -np.std(returns, axis=0, ddof=1) * np.sqrt(TRADING_DAYS), np.nan)
