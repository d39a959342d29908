"""The efficient frontier of the week's selected tickers: risk and return of the best portfolios.

Each point is the minimum-volatility portfolio with at least a given expected return, within the
per-position bounds and the group limits (PyPortfolioOpt's ``efficient_return``), for returns from
that of the minimum-volatility portfolio up to the highest reachable. The returns are the ones
every optimizer reports (:mod:`optimizers.expected_returns`: the equal-weight equilibrium plus
Grinold's alpha) and the risk the Ledoit-Wolf volatility, so the chosen portfolio, equal weight and
each single ticker can be drawn on the same axes. The problem is compiled once with the target
return as a ``cp.Parameter`` and re-solved for every point; a test checks the points against
PyPortfolioOpt's ``efficient_return``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .base import portfolio_performance, shrunk_covariance, weight_bounds
from .expected_returns import expected_returns_from_scores
from .limits import GroupLimit, masks

__all__ = ["frontier_points", "frontier_report"]


def frontier_points(mu: pd.Series, cov: pd.DataFrame, *, bounds: tuple[float, float],
                    limits: Sequence[GroupLimit] = (), points: int = 20) -> pd.DataFrame:
    """``points`` portfolios on the efficient frontier, lowest risk first.

    Returns
    -------
    DataFrame with columns ``risk`` and ``return`` (annual), and the weights in ``attrs["weights"]``
    (array of shape (points, n)). Empty when the problem cannot be solved.
    """
    import cvxpy as cp
    from scipy.optimize import linprog

    tickers = [str(t) for t in cov.index]
    n = len(tickers)
    lower, upper = bounds
    m = mu.reindex(cov.index).to_numpy(dtype="float64")
    sigma = cov.to_numpy(dtype="float64")
    member = masks(limits, tickers)
    lows = np.array([g.low for g in limits])
    highs = np.array([g.high for g in limits])
    # The highest reachable return: a linear programme over the same constraints.
    a_ub = np.vstack([member, -member]) if len(limits) else None
    b_ub = np.concatenate([highs, -lows]) if len(limits) else None
    best = linprog(-m, A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=[(lower, upper)] * n,
                   method="highs")
    if best.status != 0:
        return pd.DataFrame(columns=["risk", "return"], dtype="float64")
    w = cp.Variable(n)
    target = cp.Parameter()
    constraints = [cp.sum(w) == 1, w >= lower, w <= upper, m @ w >= target]
    if len(limits):
        constraints += [member @ w >= lows, member @ w <= highs]
    problem = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(sigma))), constraints)
    target.value = float(m.min()) - 1.0  # a return every portfolio beats: the minimum-volatility one
    problem.solve(solver="CLARABEL")
    if w.value is None:
        return pd.DataFrame(columns=["risk", "return"], dtype="float64")
    low_return, high_return = float(m @ w.value), float(-best.fun)
    rows, weights = [], []
    for goal in np.linspace(low_return, high_return, points):
        # A hair below the top: the highest return itself leaves one feasible point.
        target.value = float(min(goal, high_return - 1e-9 * max(1.0, abs(high_return))))
        problem.solve(solver="CLARABEL")
        if w.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
            continue
        x = np.clip(np.asarray(w.value, dtype="float64"), 0.0, None)
        x /= x.sum()
        ret, vol, _ = portfolio_performance(x, m, sigma, 0.0)
        rows.append((vol, ret))
        weights.append(x)
    frame = pd.DataFrame(rows, columns=["risk", "return"], dtype="float64")
    frame.attrs["weights"] = np.array(weights).reshape(len(weights), n)
    return frame


def frontier_report(prices: pd.DataFrame, scores: pd.Series, weights: pd.Series, *, risk_aversion: float,
                    information_coefficient: float, risk_free_rate: float, cov_lookback: int,
                    max_weight: float, min_weight: float, limits: Sequence[GroupLimit] = (),
                    points: int = 20) -> dict[str, Any] | None:
    """The frontier of the selected tickers with the chosen portfolio, equal weight and each ticker.

    ``prices`` holds the selected tickers (the optimizer's window or longer), ``weights`` the chosen
    target. Returns None when no covariance can be estimated. Every figure is annual; ``risk`` is
    the volatility and ``return`` the expected return.
    """
    window = prices.iloc[-(int(cov_lookback) + 1):].astype("float64")
    cov, problem = shrunk_covariance(window, int(cov_lookback))
    if cov is None:
        return None
    mu = expected_returns_from_scores(scores.reindex(cov.index), cov, information_coefficient=information_coefficient,
                                      risk_aversion=risk_aversion, risk_free_rate=risk_free_rate)
    lower, upper, _ = weight_bounds(len(cov), max_weight, min_weight)
    frame = frontier_points(mu, cov, bounds=(lower, upper), limits=limits, points=points)
    m, sigma = mu.to_numpy(), cov.to_numpy()

    def point(w: np.ndarray) -> dict[str, float]:
        ret, vol, _ = portfolio_performance(np.asarray(w, dtype="float64"), m, sigma, risk_free_rate)
        return {"risk": vol, "return": ret}

    n = len(cov)
    return {
        "points": [{"risk": float(r.risk), "return": float(r["return"])} for _, r in frame.iterrows()],
        "portfolio": point(weights.reindex(cov.index).fillna(0.0).to_numpy()),
        "equal_weight": point(np.full(n, 1.0 / n)),
        "tickers": [{"ticker": str(t), "risk": float(np.sqrt(sigma[i, i])), "return": float(m[i])}
                    for i, t in enumerate(cov.index)],
        "bounds": [float(lower), float(upper)],
        "limits": [g.describe() for g in limits],
    }
