"""Rank-based weights: proportional to score rank, no covariance.

The best of ``n`` selected tickers gets rank ``n``, the worst rank 1 (equal scores share their
average rank), and weights are proportional to rank. Compared with weighting by raw score this is
robust to outliers and never needs a sign fix; compared with mean-variance it needs no covariance
and so cannot fail on a bad estimate (the seed's "alternative to MVO").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import F64, fit_to_bounds

__all__ = ["penalised_rank_weights", "prox_budget", "rank_weights"]


def rank_weights(scores: pd.Series, *, bounds: tuple[float, float]) -> np.ndarray:
    """Weights proportional to the rank of each score, fitted to the bounds.

    Weights at a bound are clipped there and the rest scaled so the total is 1
    (:func:`optimizers.base.fit_to_bounds`), keeping their proportions.

    Parameters
    ----------
    scores : Series of shape (n,)
        Finite scores, higher is better.
    bounds : (float, float)
        Lower and upper weight per position.

    Returns
    -------
    ndarray of shape (n,)
        In the order of ``scores``.

    Examples
    --------
    >>> import pandas as pd
    >>> rank_weights(pd.Series({"A": 0.5, "B": 2.0, "C": -1.0}), bounds=(0.0, 1.0)).round(4).tolist()
    [0.3333, 0.5, 0.1667]
    """
    ranks = scores.rank(method="average").to_numpy(dtype=F64)
    return fit_to_bounds(ranks, *bounds)


def penalised_rank_weights(scores: pd.Series, *, bounds: tuple[float, float], current: np.ndarray,
                           penalty: float, solver: str | None = None) -> np.ndarray:
    """The rank weights with a turnover penalty: the closest portfolio to them, paying for change.

    Solves ``min 1/2 * sum (w - w_rank)^2 + penalty * sum |w - current|`` over long-only weights
    within the bounds that sum to 1. With ``penalty = 0`` the answer is :func:`rank_weights`; as it
    grows the target stays closer to what is held. The L1 term makes small moves cost more than
    they are worth, so they are not asked for at all.

    The problem is separable but for the budget, so it is solved exactly rather than by a general
    solver: for a multiplier ``lam`` of ``sum(w) == 1`` each weight is the soft-thresholded
    ``w_rank - lam`` (pulled ``penalty`` toward ``current``, held at ``current`` within it), clipped
    to the bounds; the total falls as ``lam`` grows, and ``lam`` is found by bisection to the
    last bit. The tests compare it with cvxpy's solution of the same problem on many weeks.

    Parameters
    ----------
    scores : Series of shape (n,)
        Finite scores, higher is better.
    bounds : (float, float)
        Lower and upper weight per position.
    current : ndarray of shape (n,)
        Weights held now (of the whole portfolio, so they may sum to less than 1).
    penalty : float
        Coefficient of the L1 turnover term (>= 0).
    solver : str, optional
        Unused (the solve is exact); kept for the callers that name a cvxpy solver.

    Returns
    -------
    ndarray of shape (n,)
    """
    from .base import fit_to_bounds as _fit

    ideal = rank_weights(scores, bounds=bounds)
    w = prox_budget(ideal, np.asarray(current, dtype=F64), float(penalty), *bounds)
    return _fit(np.clip(np.round(w, 6), bounds[0], bounds[1]), *bounds)


def prox_budget(ideal: np.ndarray, current: np.ndarray, penalty: float, lower: float, upper: float) -> np.ndarray:
    """``argmin 1/2 ||w - ideal||^2 + penalty ||w - current||_1`` s.t. ``sum(w) = 1``,
    ``lower <= w <= upper`` (with ``n * lower <= 1 <= n * upper``), exactly."""
    ideal = np.asarray(ideal, dtype=F64)
    current = np.asarray(current, dtype=F64)

    def weights(lam: float) -> np.ndarray:
        b = ideal - lam
        moved = np.where(b > current + penalty, b - penalty, np.where(b < current - penalty, b + penalty, current))
        return np.clip(moved, lower, upper)

    spread = float(np.abs(ideal).max() + np.abs(current).max()) + penalty + abs(lower) + abs(upper) + 1.0
    lo, hi = -spread, spread  # sum(weights(lo)) = n * upper >= 1, sum(weights(hi)) = n * lower <= 1
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if weights(mid).sum() > 1.0:
            lo = mid
        else:
            hi = mid
    # On the final bracket the weights are linear in lam: pick the point where they sum to 1.
    w_lo, w_hi = weights(lo), weights(hi)
    s_lo, s_hi = float(w_lo.sum()), float(w_hi.sum())
    t = 0.0 if s_lo == s_hi else (s_lo - 1.0) / (s_lo - s_hi)
    return w_lo + min(max(t, 0.0), 1.0) * (w_hi - w_lo)
