"""Minimum-variance weights: PyPortfolioOpt's ``min_volatility`` on the Ledoit-Wolf covariance.

Ignores the scores once the tickers are selected: the weights are those of the least volatile
long-only portfolio within the bounds. The seed's conservative choice. With Clarabel, the default
solver, the same problem is handed to Clarabel directly (:mod:`optimizers.compiled`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, objective_functions

from .base import F64, clean_solution, clean_weights
from .compiled import SOLVERS, solve_weights
from .limits import GroupLimit, add_to

__all__ = ["min_variance_weights"]


def min_variance_weights(cov: pd.DataFrame, *, bounds: tuple[float, float], solver: str,
                         current: np.ndarray | None = None, penalty: float = 0.0,
                         limits: Sequence[GroupLimit] = ()) -> np.ndarray:
    """Solve ``min w' S w`` subject to ``sum(w) = 1`` and the bounds; weights in ``cov``'s order.

    Parameters
    ----------
    cov : DataFrame of shape (n, n)
        Annualised covariance.
    bounds : (float, float)
        Lower and upper weight per position.
    solver : str
        cvxpy solver name.
    current : ndarray of shape (n,), optional
        Weights held now (of the whole portfolio, so they may sum to less than 1).
    penalty : float, default 0
        ``k`` of PyPortfolioOpt's ``transaction_cost`` objective, ``k * sum|w - current|``,
        added to the objective when ``current`` is given: a turnover penalty.
    limits : sequence of GroupLimit
        Group limits, added as constraints (:func:`optimizers.limits.add_to`); with limits the
        problem is PyPortfolioOpt's own rather than the direct one.

    Returns
    -------
    ndarray of shape (n,)

    Raises
    ------
    pypfopt.exceptions.OptimizationError, cvxpy.error.SolverError, ValueError
        When the solver fails; :func:`optimizers.optimize` catches these and falls back.
    """
    if solver.upper() in SOLVERS and not limits:  # the same problem, as Clarabel takes it (optimizers.compiled)
        return clean_weights(solve_weights("minvar", cov, bounds=bounds, current=current, penalty=penalty), *bounds)
    ef = EfficientFrontier(None, cov, weight_bounds=bounds, solver=solver)
    add_to(ef, limits, [str(t) for t in cov.index])
    if current is not None and penalty > 0:
        ef.add_objective(objective_functions.transaction_cost, w_prev=np.asarray(current, dtype=F64), k=penalty)
    ef.min_volatility()
    return clean_solution(ef, *bounds)
