"""Rank-based weights: proportional to score rank, no covariance.

The best of ``n`` selected tickers gets rank ``n``, the worst rank 1 (equal scores share their
average rank), and weights are proportional to rank. Compared with weighting by raw score this is
robust to outliers and never needs a sign fix; compared with mean-variance it needs no covariance
and so cannot fail on a bad estimate (the seed's "alternative to MVO").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import fit_to_bounds

__all__ = ["rank_weights", "penalised_rank_weights"]


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
    ranks = scores.rank(method="average").to_numpy(dtype="float64")
    return fit_to_bounds(ranks, *bounds)


def penalised_rank_weights(scores: pd.Series, *, bounds: tuple[float, float], current: np.ndarray,
                           penalty: float, solver: str) -> np.ndarray:
    """The rank weights with a turnover penalty: the closest portfolio to them, paying for change.

    Solves ``min 1/2 * sum (w - w_rank)^2 + penalty * sum |w - current|`` over long-only weights
    within the bounds that sum to 1 (cvxpy, a small quadratic program). With ``penalty = 0`` the
    answer is :func:`rank_weights`; as it grows the target stays closer to what is held. The L1
    term makes small moves cost more than they are worth, so they are not asked for at all.

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
    solver : str
        cvxpy solver name.

    Returns
    -------
    ndarray of shape (n,)
    """
    import cvxpy as cp

    from .base import fit_to_bounds as _fit

    ideal = rank_weights(scores, bounds=bounds)
    w = cp.Variable(len(ideal))
    objective = 0.5 * cp.sum_squares(w - ideal) + penalty * cp.norm1(w - np.asarray(current, dtype=float))
    problem = cp.Problem(cp.Minimize(objective), [cp.sum(w) == 1, w >= bounds[0], w <= bounds[1]])
    problem.solve(solver=solver)
    if w.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(f"the penalised rank problem did not solve (status {problem.status})")
    return _fit(np.clip(np.round(w.value, 6), bounds[0], bounds[1]), *bounds)
