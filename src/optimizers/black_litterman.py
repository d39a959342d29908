"""Black-Litterman expected returns with views from the composite factor scores.

The mapping, term by term (PyPortfolioOpt's ``BlackLittermanModel`` does the algebra):

- **Prior** ``pi``: the equal-weight-implied equilibrium, ``rf + risk_aversion * S w_eq`` with
  ``w_eq = 1/n`` over the selected tickers (:func:`optimizers.expected_returns.equilibrium_returns`).
  Equal weight rather than a benchmark: the selected ETFs have no market capitalisations in the
  universe file, and the benchmark (SPY) is usually not among them. With no views the posterior is
  the prior, and mean-variance on it returns equal weights.
- **Views**: one absolute view per ticker, ``Q_i = pi_i + sigma_i * z_i``: the composite score
  ``z_i`` (in cross-sectional standard deviations) read as a forecast of the return in excess of
  the prior, one unit of score being one annual volatility ``sigma_i``. ``P`` is the identity.
- **Confidence** ``c`` in (0, 1): how far the posterior moves from the prior to a view. The view
  variances are ``Omega = diag(tau * S_ii * (1 - c) / c)``; for one asset (or uncorrelated assets)
  the posterior is then exactly ``pi + c * (Q - pi)``. By default ``c`` is the information
  coefficient: Grinold's rule ``alpha = IC * sigma * z`` says a score of IC skill earns IC of its
  volatility-scaled forecast, and with ``c = IC`` the posterior of an uncorrelated ticker equals
  the ``mvo`` expected return. With correlated tickers Black-Litterman differs from ``mvo``: the
  views spread through the covariance (a ticker correlated with well-scored ones is pulled up), and
  the config can set ``c`` directly (``[optimizer] bl_view_confidence``).
- ``tau`` = 0.05 (PyPortfolioOpt's default; the uncertainty of the prior relative to the returns).

The weights are mean-variance (quadratic utility at the same ``risk_aversion``) on the posterior
returns and the Ledoit-Wolf covariance, with the same bounds, turnover penalty and group limits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .expected_returns import equilibrium_returns

__all__ = ["TAU", "posterior_returns", "view_confidence"]

#: The uncertainty of the prior (PyPortfolioOpt's default)
TAU = 0.05
#: The confidence is kept inside (0, 1): 0 would ignore the views (Omega infinite), 1 divide by 0
_CONFIDENCE_RANGE = (1e-4, 1.0 - 1e-4)


def view_confidence(information_coefficient: float, configured: float = 0.0) -> float:
    """The confidence ``c`` in the score views: ``configured`` when set (> 0), else ``|IC|``."""
    c = configured if configured > 0 else abs(information_coefficient)
    return float(np.clip(c, *_CONFIDENCE_RANGE))


def posterior_returns(scores: pd.Series, cov: pd.DataFrame, *, confidence: float, risk_aversion: float,
                      risk_free_rate: float, tau: float = TAU) -> pd.Series:
    """Black-Litterman posterior annual returns by ticker (``cov``'s order), views from ``scores``.

    Parameters
    ----------
    scores : Series
        Composite scores by ticker, in standard-deviation units (reindexed to ``cov``).
    cov : DataFrame of shape (n, n)
        Annualised covariance.
    confidence : float
        ``c`` in (0, 1), see :func:`view_confidence`.
    risk_aversion, risk_free_rate : float
        Of the equal-weight prior.
    tau : float, default 0.05

    Returns
    -------
    Series named ``expected_return``.
    """
    from pypfopt.black_litterman import BlackLittermanModel

    prior = equilibrium_returns(cov, risk_aversion=risk_aversion, risk_free_rate=risk_free_rate)
    variances = np.diag(cov.to_numpy(dtype="float64"))
    z = scores.reindex(cov.index).to_numpy(dtype="float64")
    views = pd.Series(prior.to_numpy() + np.sqrt(variances) * z, index=cov.index)
    c = float(np.clip(confidence, *_CONFIDENCE_RANGE))
    omega = np.diag(tau * variances * (1.0 - c) / c)
    model = BlackLittermanModel(cov, pi=prior, absolute_views=views, omega=omega, tau=tau,
                                risk_aversion=risk_aversion)
    return model.bl_returns().rename("expected_return")
