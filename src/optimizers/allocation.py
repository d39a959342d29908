"""Whole-share allocation of a portfolio bought from scratch, through PyPortfolioOpt.

:func:`allocate_shares` uses ``DiscreteAllocation.greedy_portfolio``'s algorithm by default
(round every target down to whole shares, then buy one share at a time where the shortfall is
largest; :func:`greedy_counts` is its numpy transcription, checked against the library) and
``lp_portfolio`` on request (an integer program, solved with HiGHS from cvxpy's dependencies, that
minimises the total dollar shortfall plus the cash left over). Why greedy by default: on the
bundled sample (10 positions, four dates, 20k to 1M capital) the two fit the target weights
equally well (sum of absolute weight errors within 15% of each other, greedy sometimes better,
leftover cash tens of dollars either way), while greedy is far faster than the integer program
(``benchmarks/bench_scoring.py``), and a backtest allocates every rebalance of every strategy. Neither knows
about shares already held: rebalancing an existing portfolio is sized by the caller from its
holdings; this function is for the first purchase or a full re-allocation.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from .base import F64, I64

__all__ = ["ALLOCATION_METHODS", "allocate_shares", "greedy_counts"]

logger = logging.getLogger(__name__)

#: ``method`` values :func:`allocate_shares` accepts.
ALLOCATION_METHODS: tuple[str, ...] = ("greedy", "lp")
#: Mixed-integer solver for ``lp_portfolio`` (ECOS_BB, PyPortfolioOpt's old default, is gone).
LP_SOLVER = "HIGHS"


def allocate_shares(
    weights: pd.Series, prices: pd.Series, total_value: float, *, method: str = "greedy"
) -> pd.Series:
    """Whole shares per ticker whose cost is as close to ``weights * total_value`` as possible.

    Parameters
    ----------
    weights : Series of shape (n,)
        Target weight by ticker, >= 0, summing to at most 1 (the rest stays cash).
    prices : Series
        Latest price by ticker; must be finite and > 0 for every ticker with a positive weight.
    total_value : float
        Money to invest (> 0).
    method : {"greedy", "lp"}, default "greedy"
        ``greedy``: ``DiscreteAllocation.greedy_portfolio``; ``lp``: ``lp_portfolio`` with HiGHS,
        falling back to greedy if the solver fails.

    Returns
    -------
    Series of shape (n,)
        int64 shares indexed like ``weights`` (0 where nothing is bought), named ``shares``; their
        cost never exceeds ``total_value``.

    Raises
    ------
    ValueError
        On negative or NaN weights, weights summing above 1, a missing or non-positive price, or
        a non-positive ``total_value``.
    """
    if method not in ALLOCATION_METHODS:
        raise ValueError(f"unknown allocation method {method!r}; valid: {', '.join(ALLOCATION_METHODS)}")
    if not isinstance(weights, pd.Series) or not isinstance(prices, pd.Series):
        raise TypeError("`weights` and `prices` must be pandas Series by ticker")
    # The weekly plan passes float64 Series: skip to_numeric's object path for them.
    w = weights if weights.dtype == "float64" else pd.to_numeric(weights, errors="coerce").astype(F64)
    w_values = w.to_numpy()
    if np.isnan(w_values).any() or (w_values < 0).any():
        bad = [str(t) for t, v in w.items() if not v >= 0]
        raise ValueError(f"`weights` must be >= 0 and not NaN; bad for: {', '.join(bad)}")
    if w_values.sum() > 1 + 1e-6:
        raise ValueError(f"`weights` must sum to at most 1, got {w_values.sum():.6f}")
    if isinstance(total_value, bool) or not isinstance(total_value, (int, float, np.number)) \
            or not math.isfinite(total_value) or total_value <= 0:
        raise ValueError(f"`total_value` must be a finite amount > 0, got {total_value!r}")
    positive = w_values > 0
    held = w[positive]
    if prices.index.equals(weights.index) and prices.index.is_unique:
        latest = prices[positive]  # the prices of these very tickers (the weekly plan's): no reindex
    else:
        latest = prices.reindex(held.index)
    if latest.dtype != "float64":
        latest = pd.to_numeric(latest, errors="coerce").astype(F64)
    latest_values = latest.to_numpy()
    if not (np.isfinite(latest_values) & (latest_values > 0)).all():
        bad_prices = [str(t) for t, v in latest.items() if not (np.isfinite(v) and v > 0)]
        raise ValueError(
            f"`prices` must hold a price > 0 for every ticker with a weight; missing or bad for: "
            f"{', '.join(bad_prices)}"
        )

    counts = np.zeros(len(w_values), dtype=I64)
    if not held.empty:
        allocation = _allocate(held, latest, float(total_value), method)
        held_counts = np.array([int(allocation.get(t, 0)) for t in held.index.tolist()], dtype=I64)
        held_counts = _trim_to_budget(held_counts, latest_values, held.to_numpy(), float(total_value))
        counts[positive] = held_counts
    return pd.Series(counts, index=weights.index, dtype=I64, name="shares")


def _allocate(held: pd.Series, latest: pd.Series, total_value: float, method: str) -> dict:
    # Plain lists, not iteration over the (Arrow-backed) index: same keys, same float values.
    tickers = held.index.to_numpy(dtype=object).tolist()
    prices = latest.to_numpy(dtype=F64)
    if method == "lp":
        from pypfopt import DiscreteAllocation

        # lp_portfolio pairs weights and prices by position, so both must be in the same order.
        weights = dict(zip(tickers, held.to_numpy(dtype=F64).tolist()))
        by_position = pd.Series(prices, index=pd.Index(tickers, dtype=object), name=latest.name)
        try:
            allocation, _ = DiscreteAllocation(weights, by_position, total_value).lp_portfolio(
                solver=LP_SOLVER
            )
            return allocation
        except Exception as e:  # noqa: BLE001 - a solver failure falls back to greedy
            logger.warning("lp_portfolio failed (%s: %s); using greedy_portfolio",
                           type(e).__name__, e)
    if prices.min() > total_value:
        return {}  # not one share is affordable; greedy would divide by zero here
    counts = greedy_counts(held.to_numpy(dtype=F64), prices, total_value)
    return {t: int(c) for t, c in zip(tickers, counts.tolist()) if c}


def greedy_counts(weights: np.ndarray, prices: np.ndarray, total_value: float) -> np.ndarray:
    """``DiscreteAllocation.greedy_portfolio`` for long-only weights, in numpy: shares by position.

    The same algorithm, step for step and float for float (a test compares the two on hundreds of
    cases): sort by weight (descending, ties in their order), buy the whole shares each weight
    affords, then buy one share at a time of the ticker whose weight falls furthest short (the
    next one when it is too dear, at most ten tries), until the money is spent or nothing falls
    short. The library converts its lists to arrays and looks each price up by ticker for every
    share it buys, which a backtest's 600-ticker equal weight pays every week; this works on the
    arrays (the tests compare the two share for share, the benchmarks time them).
    """
    order = np.argsort(-weights, kind="stable")
    w, p = weights[order], prices[order]
    available = total_value
    bought = np.zeros(len(w), dtype=I64)
    for i in range(len(w)):
        n_shares = int(w[i] * total_value / p[i])
        bought[i] = n_shares
        available -= n_shares * p[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        while available > 0:
            current = p * bought
            current /= current.sum()
            deficit = w - current
            idx = int(np.argmax(deficit))
            price = p[idx]
            counter = 0
            while price > available:
                deficit[idx] = 0
                idx = int(np.argmax(deficit))
                if deficit[idx] < 0 or counter == 10:
                    break
                price = p[idx]
                counter += 1
            if deficit[idx] <= 0 or counter == 10:
                break
            bought[idx] += 1
            available -= price
    out = np.zeros(len(w), dtype=I64)
    out[order] = bought
    return out


def _trim_to_budget(shares: np.ndarray, latest: np.ndarray, held: np.ndarray,
                    total_value: float) -> np.ndarray:
    """Sell back single shares of the most over-weight ticker until the cost fits the budget.

    ``shares``, ``latest`` and ``held`` are aligned by position (the tickers with a weight). The
    integer program allows leftover >= 0 only up to solver tolerance; this makes "never spend
    more than ``total_value``" exact.
    """
    shares = shares.copy()
    while True:
        cost = float((shares * latest).sum())
        if cost <= total_value or shares.sum() == 0:
            return shares
        over = shares * latest / total_value - held
        candidates = np.flatnonzero(shares > 0)
        shares[candidates[np.argmax(over[candidates])]] -= 1  # the first of equal maxima, as idxmax
