"""Performance figures of a value series: the numbers the backtest reports per strategy.

Return-based figures (CAGR, volatility, Sharpe, Sortino, maximum drawdown, Calmar) come from
empyrical-reloaded, computed on daily simple returns and annualised with 252 trading days. The
trading figures (turnover, costs) are ours, because they need the trade list, and are defined here:

turnover
    One-way annual turnover: half the total traded value (buys plus sells, before costs) divided by
    the average daily portfolio value, divided by the number of years in the series. Buying a
    portfolio from cash once counts as 0.5 (half of a full round trip); a strategy that replaces
    its whole portfolio every year shows about 1.0.
costs
    Total transaction costs paid in cash over the period, in currency.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from factors.names import TRADING_DAYS

__all__ = [
    "TRADING_DAYS",
    "METRIC_NAMES",
    "daily_returns",
    "drawdown",
    "turnover",
    "performance_metrics",
    "return_metrics",
    "metrics_table",
]


#: the keys of :func:`performance_metrics`, in the order reports show them
METRIC_NAMES = (
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "costs",
)


def daily_returns(values: pd.Series) -> pd.Series:
    """Simple daily returns of a value series (the first day has none and is dropped).

    Parameters
    ----------
    values : pd.Series
        Portfolio or index values by date, positive.

    Returns
    -------
    pd.Series
        ``values[t] / values[t-1] - 1``, one shorter than ``values``.
    """
    return values.astype(float).pct_change().iloc[1:]


def drawdown(values: pd.Series) -> pd.Series:
    """Fraction below the running peak (0 at a new high, -0.25 when 25% below the best so far)."""
    values = values.astype(float)
    return values / values.cummax() - 1.0


def turnover(traded_value: float, values: pd.Series) -> float:
    """One-way annual turnover (see the module docstring for the definition).

    Parameters
    ----------
    traded_value : float
        Sum of the absolute value of every trade (buys and sells) over the period, before costs.
    values : pd.Series
        Daily portfolio values over the same period.

    Returns
    -------
    float
        ``0.5 * traded_value / mean(values) / years``; NaN when the series is shorter than two days.
    """
    years = (len(values) - 1) / TRADING_DAYS
    mean_value = float(values.mean()) if len(values) else math.nan
    if years <= 0 or not mean_value > 0:
        return math.nan
    return 0.5 * float(traded_value) / mean_value / years


def performance_metrics(
    values: pd.Series,
    *,
    traded_value: float = 0.0,
    costs: float = 0.0,
    risk_free_rate: float = 0.0,
) -> dict[str, float]:
    """CAGR, volatility, Sharpe, Sortino, maximum drawdown, Calmar, turnover and costs of a series.

    Parameters
    ----------
    values : pd.Series
        Daily values (portfolio value in currency, or an index level), indexed by date.
    traded_value : float
        Total absolute traded value over the period (for turnover).
    costs : float
        Total costs paid over the period.
    risk_free_rate : float
        Annual risk-free rate; converted to a daily rate (``rate / 252``) for Sharpe and Sortino.

    Returns
    -------
    dict
        Keys :data:`METRIC_NAMES`, plain floats (NaN where undefined, e.g. fewer than two days).
        ``max_drawdown`` is negative (-0.25 for a 25% fall), as empyrical reports it.
    """
    figures = return_metrics(daily_returns(values), periods_per_year=TRADING_DAYS, risk_free_rate=risk_free_rate)
    figures["turnover"] = turnover(traded_value, values)
    figures["costs"] = float(costs)
    return {name: _plain(figures[name]) for name in METRIC_NAMES}


def return_metrics(returns: pd.Series, *, periods_per_year: int = TRADING_DAYS,
                   risk_free_rate: float = 0.0) -> dict[str, float]:
    """CAGR, volatility, Sharpe, Sortino, maximum drawdown and Calmar of simple returns sampled
    ``periods_per_year`` times a year (252 for daily values, 52 for the weekly ledger): the one
    definition the backtest, the sweep and the weekly report use, empyrical underneath.

    NaN where undefined: fewer than two returns, or no variation (Sharpe, Sortino). The annual
    ``risk_free_rate`` is taken per period (``rate / periods_per_year``).
    """
    import empyrical  # heavy-ish import, only needed here

    r = returns.dropna().astype(float)
    names = ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar")
    if len(r) < 2:
        return {name: math.nan for name in names}
    rf = risk_free_rate / periods_per_year
    flat = not float(r.std(ddof=1)) > 0
    figures = {
        "cagr": empyrical.cagr(r, annualization=periods_per_year),
        "volatility": empyrical.annual_volatility(r, annualization=periods_per_year),
        "sharpe": math.nan if flat else empyrical.sharpe_ratio(r, risk_free=rf, annualization=periods_per_year),
        "sortino": math.nan if flat else empyrical.sortino_ratio(r, required_return=rf,
                                                                 annualization=periods_per_year),
        "max_drawdown": empyrical.max_drawdown(r),
        "calmar": empyrical.calmar_ratio(r, annualization=periods_per_year),
    }
    return {name: _plain(value) for name, value in figures.items()}


def _plain(value) -> float:
    """A JSON-friendly float (empyrical sometimes returns numpy scalars or 0-d arrays)."""
    value = float(np.asarray(value).item()) if value is not None else math.nan
    return value if math.isfinite(value) else math.nan


def metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Metrics keyed by series name as a table: one row per series, columns :data:`METRIC_NAMES`."""
    return pd.DataFrame.from_dict(dict(metrics), orient="index").reindex(columns=list(METRIC_NAMES))

