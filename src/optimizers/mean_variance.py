"""Mean-variance weights: PyPortfolioOpt's maximum quadratic utility.

Maximises ``w' mu - (risk_aversion / 2) * w' S w`` over long-only weights within the bounds
(with Clarabel, the default solver, handed to Clarabel directly: :mod:`optimizers.compiled`),
with ``mu`` from the scores (:mod:`optimizers.expected_returns`) and ``S`` the Ledoit-Wolf
covariance. Quadratic utility rather than ``max_sharpe``: it stays well-posed when every expected
return is below the risk-free rate, where ``max_sharpe`` has no solution.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, objective_functions

from .base import F64, clean_solution, clean_weights
from .compiled import SOLVERS, solve_weights
from .limits import GroupLimit, add_to

__all__ = ["mean_variance_weights"]


def mean_variance_weights(
    mu: pd.Series,
    cov: pd.DataFrame,
    *,
    risk_aversion: float,
    bounds: tuple[float, float],
    solver: str,
    current: np.ndarray | None = None,
    penalty: float = 0.0,
    limits: Sequence[GroupLimit] = (),
) -> np.ndarray:
    """Solve the quadratic-utility problem and return cleaned weights in ``cov``'s order.

    Parameters
    ----------
    mu : Series of shape (n,)
        Annual expected returns by ticker.
    cov : DataFrame of shape (n, n)
        Annualised covariance, same tickers and order.
    risk_aversion : float
        The seed's 1.5 by default; higher is more conservative.
    bounds : (float, float)
        Lower and upper weight per position.
    solver : str
        cvxpy solver name, e.g. ``"CLARABEL"``.
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
        raw = solve_weights("mvo", cov, mu=mu, risk_aversion=risk_aversion, bounds=bounds,
                            current=current, penalty=penalty)
        return clean_weights(raw, *bounds)
    ef = EfficientFrontier(mu, cov, weight_bounds=bounds, solver=solver)
    add_to(ef, limits, [str(t) for t in cov.index])
    if current is not None and penalty > 0:
        ef.add_objective(objective_functions.transaction_cost, w_prev=np.asarray(current, dtype=F64), k=penalty)
    ef.max_quadratic_utility(risk_aversion=risk_aversion)
    return clean_solution(ef, *bounds)
