"""Mean-variance and minimum-variance problems compiled once and re-solved every week (cvxpy DPP).

PyPortfolioOpt's ``EfficientFrontier`` builds a new cvxpy problem for every solve, and cvxpy
spends most of a small solve canonicalising it (about 5 ms of 6 for 8 assets). The weekly run
solves one problem; the backtest and a sweep solve thousands of the same shape. Here each shape
(number of assets, with or without the turnover penalty) is compiled once per process with
``cp.Parameter`` inputs -- Disciplined Parametrized Programming -- and each solve only sets the
parameters (about 1.4 ms).

The problems are PyPortfolioOpt's, term for term:

- ``mvo`` (``max_quadratic_utility``): minimise ``(risk_aversion / 2) w'Sw - mu'w``;
- ``minvar`` (``min_volatility``): minimise ``w'Sw``;
- either with PyPortfolioOpt's ``transaction_cost`` objective when a penalty is given:
  ``+ k * sum|w - w_now|``;
- subject to ``sum(w) = 1`` and ``lower <= w <= upper``.

DPP needs the parameters to enter affinely, so ``w'Sw`` is written ``|L'w|^2`` with ``S = L L'``
(Cholesky; an eigen-decomposition when ``S`` is only semi-definite) and the risk aversion folded
into ``L``; the L1 term is ``k * sum(t)`` with ``t >= |w - w_now|``. The same optimum, a
different conic form, so the solutions agree to the solver's accuracy, not to the bit: with
Clarabel's default tolerances PyPortfolioOpt's own solution moves by up to 7e-5 from the exact
optimum (some sample weeks have several weights at a bound, where the optimum is poorly
determined), so both are solved to 1e-12 (``TIGHT``), where they agree to better than 1e-6
(``tests/optimizers/test_compiled.py`` checks it week by week on the sample); it costs no
measurable time at this size. The weekly run and
the backtest both solve here, so they always agree with each other exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["TIGHT", "SOLVERS", "solve_weights"]

#: Clarabel's tolerances for every solve here (its defaults are 1e-8 on the gap and feasibility)
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
#: solvers the compiled problems are used with; any other goes through PyPortfolioOpt itself
SOLVERS = ("CLARABEL",)


@dataclass
class _Model:
    problem: object
    w: object
    root: object
    mu: object
    lower: object
    upper: object
    current: object | None
    k: object | None


@functools.lru_cache(maxsize=64)
def _model(n: int, penalised: bool) -> _Model:
    import cvxpy as cp

    w = cp.Variable(n)
    root = cp.Parameter((n, n))
    mu = cp.Parameter(n)
    lower, upper = cp.Parameter(), cp.Parameter()
    objective = cp.sum_squares(root.T @ w) - mu @ w
    constraints = [cp.sum(w) == 1, w >= lower, w <= upper]
    current = k = None
    if penalised:
        t = cp.Variable(n)
        current, k = cp.Parameter(n), cp.Parameter(nonneg=True)
        objective = objective + k * cp.sum(t)
        constraints += [t >= w - current, t >= current - w]
    problem = cp.Problem(cp.Minimize(objective), constraints)
    return _Model(problem, w, root, mu, lower, upper, current, k)


def _root(cov: np.ndarray) -> np.ndarray:
    """``L`` with ``L L' = cov``: Cholesky, or the eigen-decomposition when that fails."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh((cov + cov.T) / 2.0)
        if values.min() < -1e-10 * max(1.0, abs(values.max())):
            raise ValueError("the covariance matrix is not positive semi-definite") from None
        return vectors * np.sqrt(np.clip(values, 0.0, None))


def solve_weights(kind: str, cov: pd.DataFrame | np.ndarray, *, bounds: tuple[float, float],
                  mu: pd.Series | np.ndarray | None = None, risk_aversion: float = 1.0,
                  current: np.ndarray | None = None, penalty: float = 0.0) -> np.ndarray:
    """The solver's weights (not yet cleaned) for ``kind`` ``"mvo"`` or ``"minvar"``.

    Parameters
    ----------
    kind : {"mvo", "minvar"}
    cov : (n, n) array or DataFrame
        Annualised covariance.
    bounds : (float, float)
        Lower and upper weight per position.
    mu : (n,) array or Series
        Annual expected returns (``mvo`` only).
    risk_aversion : float
        ``mvo``'s risk aversion.
    current : (n,) array, optional
        Weights held now; with ``penalty > 0`` the L1 turnover term is added.
    penalty : float
        ``k`` of the turnover term.

    Returns
    -------
    ndarray of shape (n,)

    Raises
    ------
    ValueError
        When the solver does not reach an optimal solution (the caller falls back).
    """
    cov = np.asarray(cov, dtype="float64")
    n = cov.shape[0]
    penalised = current is not None and penalty > 0
    model = _model(n, penalised)
    scale = np.sqrt(risk_aversion / 2.0) if kind == "mvo" else 1.0
    model.root.value = _root(cov) * scale
    model.mu.value = np.zeros(n) if kind == "minvar" else np.asarray(mu, dtype="float64")
    model.lower.value, model.upper.value = float(bounds[0]), float(bounds[1])
    if penalised:
        model.current.value = np.asarray(current, dtype="float64")
        model.k.value = float(penalty)
    model.problem.solve(solver="CLARABEL", **TIGHT)
    # As PyPortfolioOpt: "optimal_inaccurate" is accepted, and clean_weights checks the bounds.
    if model.w.value is None or model.problem.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(f"the {kind} problem did not solve (status {model.problem.status})")
    return np.asarray(model.w.value, dtype="float64").copy()
