"""What every optimizer shares: the result record, weight bounds, the risk model and weight repair.

The optimizers themselves are small functions (see :mod:`optimizers.mean_variance`,
:mod:`optimizers.min_variance`, :mod:`optimizers.rank_based`); this module holds the pieces they
have in common so that each is written once: :class:`PortfolioResult`, :func:`weight_bounds`
(feasible per-position bounds), :func:`shrunk_covariance` (Ledoit-Wolf through PyPortfolioOpt),
:func:`fit_to_bounds` (the one place weights are forced to sum to 1 inside their bounds),
:func:`clean_solution` (solver output checked, cleaned and fitted) and :func:`portfolio_performance`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from factors.names import TRADING_DAYS

#: The dtypes as objects: pandas looks a dtype string ("float64") up in its registry of extension
#: types, about 25 us a lookup, and the backtest builds small Series every week.
F64 = np.dtype("float64")
I64 = np.dtype("int64")

__all__ = [
    "BOUND_MARGIN",
    "MIN_COV_OBSERVATIONS",
    "TRADING_DAYS",
    "ledoit_wolf_covariance",
    "PortfolioResult",
    "clean_solution",
    "clean_weights",
    "fit_to_bounds",
    "portfolio_performance",
    "shrunk_covariance",
    "weight_bounds",
]

#: Fewest daily returns (rows with a price for every selected ticker) worth a covariance.
MIN_COV_OBSERVATIONS = 20
#: Slack added to a raised maximum weight: an exactly-tight bound leaves the solver one feasible
#: point, which interior-point solvers handle badly.
BOUND_MARGIN = 1e-4
#: Relative tolerance when comparing n * bound with 1 (0.1 * 10 is not exactly 1.0 in floats).
_TOL = 1e-9


@dataclass(frozen=True)
class PortfolioResult:
    """Target weights among the selected tickers and the numbers the optimizer believes in.

    Attributes
    ----------
    weights : Series of shape (n_selected,)
        Indexed by ticker in the order of the price columns given to :func:`optimizers.optimize`;
        every weight within the (possibly adjusted) bounds, >= 0, summing to 1.
    expected_return : float
        Annual expected return ``w' mu`` (NaN when no covariance could be estimated).
    expected_volatility : float
        Annual volatility ``sqrt(w' S w)`` from the Ledoit-Wolf covariance (NaN likewise).
    expected_sharpe : float
        ``(expected_return - risk_free_rate) / expected_volatility``.
    requested : str
        The method asked for (``mvo``, ``minvar`` or ``rankbased``).
    method : str
        The method that produced the weights; differs from ``requested`` after a fallback
        (``equal`` is the last resort: equal weights).
    fallback_reason : str or None
        Why the requested method did not produce the weights, or None.
    notes : tuple of str
        Other things the user should know (bounds adjusted, history short, ...).
    sleeves : mapping of str to tuple of str
        ``barbell`` only: the tickers of its ``core`` and of its aggressive ``sleeve``.
    """

    weights: pd.Series
    expected_return: float
    expected_volatility: float
    expected_sharpe: float
    requested: str
    method: str
    fallback_reason: str | None = None
    notes: tuple[str, ...] = ()
    sleeves: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def weight_bounds(n: int, max_weight: float, min_weight: float) -> tuple[float, float, tuple[str, ...]]:
    """Per-position bounds that admit a portfolio of ``n`` weights summing to 1.

    The maximum is raised to ``1/n + BOUND_MARGIN`` when ``n * max_weight`` does not exceed 1
    (ten positions cannot each stay under 5%); the minimum is lowered to half the equal weight
    ``0.5/n`` when ``n * min_weight`` reaches 1, which still keeps dust out while leaving the
    optimizer room. Each adjustment is described in the returned notes.

    Parameters
    ----------
    n : int
        Number of selected tickers (>= 1).
    max_weight, min_weight : float
        Requested bounds, ``0 <= min_weight <= max_weight <= 1``.

    Returns
    -------
    (lower, upper, notes) : (float, float, tuple of str)
    """
    lower, upper = float(min_weight), float(max_weight)
    notes: list[str] = []
    if n <= 1:
        return 1.0, 1.0, ()
    if n * upper < 1 + _TOL:
        upper = min(1.0, 1.0 / n + BOUND_MARGIN)
        notes.append(
            f"max_weight raised from {max_weight:.4g} to {upper:.4g}: {n} positions of at most "
            f"{max_weight:.4g} cannot sum to 1"
        )
    if n * lower > 1 - _TOL:
        lower = 0.5 / n
        notes.append(
            f"min_weight lowered from {min_weight:.4g} to {lower:.4g} (half the equal weight): "
            f"{n} positions of at least {min_weight:.4g} would leave no room to weigh them"
        )
    return lower, upper, tuple(notes)


def fit_to_bounds(raw: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Scale non-negative ``raw`` weights so they sum to 1 with each in ``[lower, upper]``.

    Finds the ``c`` with ``sum(clip(c * raw, lower, upper)) == 1`` (the sum grows with ``c``, so
    it has one root) and returns ``clip(c * raw, lower, upper)``: weights that are not at a bound
    keep their proportions. Used for rank-based weights and to repair solver output after rounding.

    Parameters
    ----------
    raw : ndarray of shape (n,)
        Non-negative weights in any scale, at least one positive.
    lower, upper : float
        Bounds with ``n * lower <= 1 <= n * upper`` (see :func:`weight_bounds`).

    Returns
    -------
    ndarray of shape (n,)
    """
    from scipy.optimize import brentq

    raw = np.clip(np.asarray(raw, dtype=F64), 0.0, None)
    n = raw.size
    if n == 1:
        return np.ones(1)
    if not np.isfinite(raw).all() or raw.max() <= 0:
        raw = np.ones(n)
    if (raw == 0).any() and np.count_nonzero(raw) * upper + (n - np.count_nonzero(raw)) * lower < 1:
        # Not enough room above zero: give the zero entries a sliver so the root exists.
        raw = np.maximum(raw, raw.max() * 1e-9)

    def excess(c: float) -> float:
        return float(np.clip(c * raw, lower, upper).sum() - 1.0)

    c_high = upper / raw[raw > 0].min()
    if excess(0.0) >= 0:
        c = 0.0
    elif excess(c_high) <= 0:
        c = c_high
    else:
        c = brentq(excess, 0.0, c_high, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    weights = np.clip(c * raw, lower, upper)
    return weights / weights.sum()


def shrunk_covariance(prices: pd.DataFrame, cov_lookback: int) -> tuple[pd.DataFrame | None, str | None]:
    """Annualised Ledoit-Wolf covariance of daily returns over the last ``cov_lookback`` days.

    PyPortfolioOpt's ``CovarianceShrinkage(...).ledoit_wolf()`` (shrinkage towards constant
    variance) on simple returns; only days on which every ticker has a return are used, since
    PyPortfolioOpt would otherwise read a missing return as 0.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Adjusted closes of the selected tickers, dates ascending.
    cov_lookback : int
        Daily returns in the estimation window.

    Returns
    -------
    (covariance, problem) : (DataFrame of shape (n_tickers, n_tickers) or None, str or None)
        The covariance, or None with a one-line reason when too little common history exists.
    """
    values = prices.to_numpy(dtype=F64)[-(cov_lookback + 1):]  # the array's rows: no frame for them
    # The same window of the same tickers gives the same covariance: a backtest week's books and a
    # sweep's cells ask for it again and again. Keyed by the window's bytes, so it is exact.
    key = (tuple(map(str, prices.columns)), cov_lookback, values.shape, hashlib.blake2b(
        np.ascontiguousarray(values).tobytes(), digest_size=16).digest())
    if key in _COV_CACHE:
        cov, problem = _COV_CACHE[key]
        return (cov.copy() if cov is not None else None), problem
    result = _shrunk_covariance(values, prices.columns, cov_lookback)
    if len(_COV_CACHE) >= _COV_CACHE_SIZE:
        _COV_CACHE.pop(next(iter(_COV_CACHE)))
    _COV_CACHE[key] = result
    return (result[0].copy() if result[0] is not None else None), result[1]


#: window bytes -> (covariance, problem), oldest first
_COV_CACHE: dict = {}
_COV_CACHE_SIZE = 256


def ledoit_wolf_covariance(returns: np.ndarray) -> np.ndarray:
    """``sklearn.covariance.ledoit_wolf(returns)[0]``, the same floats, without the estimator.

    The library builds a ``LedoitWolf`` estimator, validates its input and fits it: the fit
    centres the returns, computes the Ledoit-Wolf shrinkage (``ledoit_wolf_shrinkage``) and the
    empirical covariance, then shrinks towards the scaled identity. Here the same arithmetic
    runs on the array, in the library's order and on the same memory, so every sum adds in the
    same order (``tests/optimizers/test_covariance.py`` compares the two bit for bit on the
    sample's windows, in both layouts, and on random shapes). The library's input checks and
    the second product ``X'X`` (its covariance repeats the shrinkage's) are what is saved: about
    three quarters of the call for a 20-asset year, and the backtest asks for a covariance every
    week. Outside the one-block case (one asset, or :data:`_LW_BLOCK` assets or more, where the
    library sums its products in blocks) the library is called.
    """
    if returns.ndim != 2 or not 2 <= returns.shape[1] < _LW_BLOCK or returns.shape[0] < 2:
        from sklearn.covariance import ledoit_wolf

        return ledoit_wolf(returns)[0]
    n_samples, n = returns.shape
    centred = returns - returns.mean(0)
    # The shrinkage, as ledoit_wolf_shrinkage(centred, assume_centered=True) with one block.
    squared = centred**2
    trace = np.sum(squared, axis=0) / n_samples
    mu = np.sum(trace) / n
    product = np.dot(centred.T, centred)
    delta_ = 0.0 + np.sum(product**2)
    delta_ /= n_samples**2
    beta_ = 0.0 + np.sum(np.dot(squared.T, squared))
    beta = 1.0 / (n * n_samples) * (beta_ / n_samples - delta_)
    delta = delta_ - 2.0 * mu * trace.sum() + n * mu**2
    delta /= n
    beta = min(beta, delta)
    shrinkage = 0 if beta == 0 else beta / delta
    # The empirical covariance, as empirical_covariance(centred, assume_centered=True).
    sample = product / n_samples
    target = np.sum(np.trace(sample)) / n
    shrunk = (1.0 - shrinkage) * sample
    shrunk.flat[:: n + 1] += shrinkage * target
    return shrunk


#: scikit-learn's ``ledoit_wolf_shrinkage`` block size: from this many assets it sums in blocks
_LW_BLOCK = 1000


def _shrunk_covariance(values: np.ndarray, assets: pd.Index, cov_lookback: int):
    from pypfopt.risk_models import fix_nonpositive_semidefinite

    with np.errstate(divide="ignore", invalid="ignore"):
        daily = values[1:] / values[:-1] - 1.0
    returns = daily[np.isfinite(daily).all(axis=1)]
    if len(returns) < MIN_COV_OBSERVATIONS:
        return None, (
            f"only {len(returns)} days with a return for every selected ticker in the last "
            f"{cov_lookback}; a covariance needs at least {MIN_COV_OBSERVATIONS}"
        )
    # What CovarianceShrinkage(returns, returns_data=True, frequency=252).ledoit_wolf() does, step
    # by step: sklearn's ledoit_wolf on the returns, annualised, then PyPortfolioOpt's spectral
    # fix. Called directly because the class's constructor also builds a pandas sample covariance
    # that ledoit_wolf never reads (the backtest calls this every week per optimizer;
    # benchmarks/bench_backtest.py measures it). The returns are all finite here, so its NaN-to-zero step has nothing to do, and
    # sklearn's argument validation can be skipped (it only checks types we control). Column-major,
    # as the class hands it over from its DataFrame: BLAS sums in a layout-dependent order, and the
    # last bit of the covariance must not depend on how it was called.
    shrunk = ledoit_wolf_covariance(np.asfortranarray(returns))
    # The library's fix on the array (it takes either; the same floats without pandas' arithmetic).
    fixed = fix_nonpositive_semidefinite(shrunk * TRADING_DAYS, fix_method="spectral")
    if not np.isfinite(fixed).all():
        return None, "the Ledoit-Wolf covariance has non-finite entries"
    return pd.DataFrame(fixed, index=assets, columns=assets), None


def portfolio_performance(
    weights: np.ndarray, mu: np.ndarray | None, cov: np.ndarray | None, risk_free_rate: float
) -> tuple[float, float, float]:
    """Annual expected return, volatility and Sharpe ratio of ``weights``.

    The same formulas for every method, so their numbers compare: ``w' mu``, ``sqrt(w' S w)`` and
    their excess-return ratio. NaN when ``mu``/``cov`` are missing or the volatility is zero.
    """
    if mu is None or cov is None:
        return math.nan, math.nan, math.nan
    ret = float(weights @ mu)
    vol = float(math.sqrt(max(float(weights @ cov @ weights), 0.0)))
    sharpe = (ret - risk_free_rate) / vol if vol > 0 else math.nan
    return ret, vol, sharpe


def clean_solution(optimizer: object, lower: float, upper: float) -> np.ndarray:
    """Weights of a solved PyPortfolioOpt optimizer, cleaned and made to fit the bounds exactly.

    :func:`clean_weights` of ``optimizer.weights``.
    """
    return clean_weights(np.asarray(optimizer.weights, dtype=F64), lower, upper)


def clean_weights(raw: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """A solver's weights checked, cleaned and made to fit the bounds exactly.

    As PyPortfolioOpt's ``clean_weights``: weights under 1e-4 are dropped (only when the lower
    bound is 0: with a positive minimum every selected ticker must keep at least that) and the rest
    rounded to 5 decimals; then :func:`fit_to_bounds` restores a sum of 1 within the bounds.

    Raises
    ------
    ValueError
        When the solver's weights are not finite or break the bounds or the budget by more than
        1e-4, which an "optimal_inaccurate" status can hide; the caller falls back.
    """
    raw = np.asarray(raw, dtype=F64)
    if not np.isfinite(raw).all():
        raise ValueError("the solver returned non-finite weights")
    slack = 1e-4
    if raw.min() < lower - slack or raw.max() > upper + slack or abs(raw.sum() - 1) > slack:
        raise ValueError(
            f"the solver's weights break the bounds [{lower:.4g}, {upper:.4g}] or do not sum to 1 "
            f"(min {raw.min():.4g}, max {raw.max():.4g}, sum {raw.sum():.6g})"
        )
    cleaned = raw.copy()
    cleaned[np.abs(cleaned) < (1e-4 if lower <= 0 else 0.0)] = 0
    return fit_to_bounds(np.round(cleaned, 5), lower, upper)
