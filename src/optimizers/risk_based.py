"""Risk-based weights: hierarchical risk parity, equal risk contribution and minimum CVaR.

- ``hrp``: PyPortfolioOpt's ``HRPOpt`` (Lopez de Prado's hierarchical risk parity, single
  linkage) on the Ledoit-Wolf covariance every optimizer uses.
- ``riskparity``: equal risk contribution, ``w_i (S w)_i`` the same for every ticker. Solved as
  Spinu's (2013) convex problem ``min 1/2 y'Sy - sum b_i log y_i`` over ``y > 0``, then
  ``w = y / sum(y)``, whose optimum has risk contributions exactly proportional to the budgets
  ``b`` (equal by default). A test checks the contributions to 1e-4 and the weights against
  skfolio's ``RiskBudgeting``.
- ``cvar``: PyPortfolioOpt's ``EfficientCVaR.min_cvar``, the minimum conditional value at risk at
  confidence ``beta`` (95% by default) of the historical daily returns in the covariance window,
  with the turnover penalty as PyPortfolioOpt's ``transaction_cost`` objective.

HRP and risk parity have no weight bounds of their own: their weights are then fitted into the
per-position bounds with :func:`optimizers.base.fit_to_bounds` (weights not at a bound keep their
proportions), and :func:`optimizers.optimize` says so in its notes when that changed them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .base import clean_weights, fit_to_bounds
from .limits import GroupLimit, add_to

__all__ = ["hrp_weights", "risk_parity_weights", "min_cvar_weights", "risk_contributions"]


def risk_contributions(weights: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Each ticker's share of the portfolio variance, ``w_i (S w)_i / w'Sw`` (sums to 1)."""
    weights = np.asarray(weights, dtype="float64")
    marginal = np.asarray(cov, dtype="float64") @ weights
    total = float(weights @ marginal)
    return weights * marginal / total


def hrp_weights(cov: pd.DataFrame, *, bounds: tuple[float, float]) -> tuple[np.ndarray, bool]:
    """HRP weights in ``cov``'s order, fitted to ``bounds``; and whether the bounds changed them."""
    from pypfopt import HRPOpt

    raw = HRPOpt(cov_matrix=cov).optimize(linkage_method="single")
    values = np.array([raw[t] for t in cov.index], dtype="float64")
    return _within(values, bounds)


def risk_parity_weights(cov: pd.DataFrame, *, bounds: tuple[float, float],
                        budgets: np.ndarray | None = None, solver: str = "CLARABEL") -> tuple[np.ndarray, bool]:
    """Equal-risk-contribution weights (or ``budgets``) in ``cov``'s order, fitted to ``bounds``."""
    import cvxpy as cp

    matrix = np.asarray(cov, dtype="float64")
    n = matrix.shape[0]
    b = np.full(n, 1.0 / n) if budgets is None else np.asarray(budgets, dtype="float64") / np.sum(budgets)
    # Scaled so the problem is well conditioned whatever the units of the covariance.
    scale = float(np.mean(np.diag(matrix)))
    y = cp.Variable(n, pos=True)
    problem = cp.Problem(cp.Minimize(0.5 * cp.quad_form(y, cp.psd_wrap(matrix / scale)) - b @ cp.log(y)))
    problem.solve(solver=solver)
    if y.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(f"the risk parity problem did not solve (status {problem.status})")
    values = np.asarray(y.value, dtype="float64")
    if not (np.isfinite(values).all() and values.min() > 0):
        raise ValueError("the risk parity solution is not positive")
    return _within(values / values.sum(), bounds)


def min_cvar_weights(mu: pd.Series, returns: pd.DataFrame, *, beta: float, bounds: tuple[float, float],
                     solver: str, current: np.ndarray | None = None, penalty: float = 0.0,
                     limits: Sequence[GroupLimit] = ()) -> np.ndarray:
    """Minimum-CVaR weights in ``returns``' column order (cleaned, within ``bounds`` and ``limits``)."""
    from pypfopt import EfficientCVaR, objective_functions

    optimizer = EfficientCVaR(mu, returns, beta=beta, weight_bounds=bounds, solver=solver)
    add_to(optimizer, limits, [str(t) for t in returns.columns])
    if current is not None and penalty > 0:
        optimizer.add_objective(objective_functions.transaction_cost, w_prev=np.asarray(current, dtype=float),
                                k=penalty)
    optimizer.min_cvar()
    return clean_weights(np.asarray(optimizer.weights, dtype="float64"), *bounds)


def _within(weights: np.ndarray, bounds: tuple[float, float]) -> tuple[np.ndarray, bool]:
    lower, upper = bounds
    if weights.min() >= lower - 1e-12 and weights.max() <= upper + 1e-12:
        return weights / weights.sum(), False
    return fit_to_bounds(weights, lower, upper), True
