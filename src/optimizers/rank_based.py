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

__all__ = ["rank_weights"]


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
