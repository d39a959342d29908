"""Expected returns from factor scores: Grinold's alpha on an equilibrium baseline.

``mu_i = pi_i + alpha_i`` (annual), where

* ``alpha_i = IC * sigma_i * z_i`` is Grinold's mapping of a standardised score to an expected
  residual return (Grinold and Kahn, *Active Portfolio Management*): IC is the information
  coefficient (the correlation of the score with the next period's return; 0.05 is a typical,
  modest value), ``sigma_i`` the asset's annual volatility and ``z_i`` its score in standard
  deviations. The composite of :func:`factors.score_universe` is a weighted mean of
  cross-sectional z-scores, so it is used as ``z`` directly.
* ``pi = risk_free_rate + risk_aversion * S w_eq`` is the return that would make the equally
  weighted basket of the selected tickers the optimal portfolio for an investor with the same risk
  aversion (reverse optimisation, PyPortfolioOpt's ``market_implied_prior_returns`` with equal
  "caps"). It is the neutral view: with no alpha, mean-variance returns equal weights; with alpha,
  it tilts from equal weights towards the better-scored tickers by about ``S^-1 alpha /
  risk_aversion``. Without it the small alphas would be swamped by the risk term and mean-variance
  would collapse into minimum variance. It also gives the reported expected return a sane level
  (risk-free rate plus a risk premium proportional to risk) rather than last year's realised
  return, which for momentum winners is flattering.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from .base import F64

__all__ = ["equilibrium_returns", "expected_returns_from_scores", "grinold_alpha"]


def grinold_alpha(scores: pd.Series, volatility: pd.Series, information_coefficient: float) -> pd.Series:
    """``alpha = IC * volatility * score`` per ticker (annual, same units as ``volatility``).

    Parameters
    ----------
    scores : Series of shape (n,)
        Scores in standard-deviation units, by ticker.
    volatility : Series of shape (n,)
        Annual volatility by ticker (same index).
    information_coefficient : float
        Correlation between score and subsequent return.

    Examples
    --------
    >>> import pandas as pd
    >>> round(float(grinold_alpha(pd.Series({"A": 2.0}), pd.Series({"A": 0.2}), 0.05)["A"]), 12)
    0.02
    """
    return (information_coefficient * volatility * scores).rename("alpha")


def equilibrium_returns(cov: pd.DataFrame, *, risk_aversion: float, risk_free_rate: float) -> pd.Series:
    """``risk_free_rate + risk_aversion * S w_eq``: returns under which equal weights are optimal.

    Parameters
    ----------
    cov : DataFrame of shape (n, n)
        Annualised covariance.
    risk_aversion : float
        Same as the mean-variance risk aversion.
    risk_free_rate : float
        Annual.
    """
    from pypfopt.black_litterman import market_implied_prior_returns

    equal_caps = pd.Series(1.0, index=cov.index)
    return market_implied_prior_returns(equal_caps, risk_aversion, cov, risk_free_rate)


def expected_returns_from_scores(
    scores: pd.Series,
    cov: pd.DataFrame,
    *,
    information_coefficient: float,
    risk_aversion: float,
    risk_free_rate: float,
) -> pd.Series:
    """Annual expected return per ticker: ``equilibrium_i + IC * sigma_i * score_i``.

    Parameters
    ----------
    scores : Series of shape (n,)
        Composite scores by ticker (reindexed to ``cov``'s index).
    cov : DataFrame of shape (n, n)
        Annualised covariance; ``sigma_i = sqrt(cov[i, i])``.
    information_coefficient : float
        See :func:`grinold_alpha`.
    risk_aversion, risk_free_rate : float
        See :func:`equilibrium_returns`.

    Returns
    -------
    Series of shape (n,)
        Named ``expected_return``, indexed like ``cov``.
    """
    # On the arrays: the same operations, in the same order and on the same memory, as
    # grinold_alpha + equilibrium_returns (PyPortfolioOpt) on Series, which
    # tests/optimizers/test_new_methods.py checks bit for bit; the backtest asks this of every
    # solved book every week, and the Series round trips cost more than the solve's setup.
    values = cov.to_numpy()
    n = values.shape[0]
    weights = np.ones(n) / float(n)  # equal "caps" over their sum
    prior = risk_aversion * np.dot(values, weights) + risk_free_rate
    by_ticker = dict(zip(scores.index.tolist(), scores.to_numpy(dtype=F64).tolist()))
    z = np.array([by_ticker.get(t, np.nan) for t in cov.index.tolist()], dtype=F64)
    alpha = information_coefficient * np.sqrt(np.diag(values)) * z
    return pd.Series(prior + alpha, index=cov.index, name="expected_return")
