"""Mean-variance and minimum-variance problems handed to Clarabel directly, their shape built once.

PyPortfolioOpt's ``EfficientFrontier`` builds a new cvxpy problem for every solve, and cvxpy
spends most of a small solve canonicalising it (about 5 ms of 6 for 8 assets); even a cvxpy
problem compiled once with parameters (DPP) spends about 2.5 ms a solve mapping its parameters
and unpacking the result. The weekly run solves one problem; the backtest and a sweep solve
thousands of the same shape. Here each problem is written as the quadratic program Clarabel (the
solver cvxpy would call) takes, ``min 1/2 x'Px + q'x`` subject to ``Ax + s = b``, ``s`` in a
product of cones, with the constraint matrix of each shape (number of assets, with or without the
turnover penalty) built once per process; each solve fills ``P``, ``q`` and ``b`` (about 0.5 ms).

The problems are PyPortfolioOpt's, term for term:

- ``mvo`` (``max_quadratic_utility``): minimise ``(risk_aversion / 2) w'Sw - mu'w``, so
  ``P = risk_aversion S`` and ``q = -mu``;
- ``minvar`` (``min_volatility``): minimise ``w'Sw``, so ``P = 2 S`` and ``q = 0``;
- either with PyPortfolioOpt's ``transaction_cost`` objective when a penalty is given:
  ``+ k * sum|w - w_now|``, as ``k * sum(t)`` with ``t >= w - w_now`` and ``t >= w_now - w``;
- subject to ``sum(w) = 1`` (a zero cone) and ``lower <= w <= upper`` (non-negative cones).

The same optimum as PyPortfolioOpt's cvxpy problem in a different form, so the solutions agree
to the solver's accuracy, not to the bit: with Clarabel's default tolerances PyPortfolioOpt's own
solution moves by up to 7e-5 from the exact optimum (some sample weeks have several weights at a
bound, where the optimum is poorly determined), so both are solved to 1e-12 (``TIGHT``), where
they agree to better than 1e-6 (``tests/optimizers/test_compiled.py`` checks it week by week on
the sample, and on random problems). The weekly run and the backtest both solve here, so they
always agree with each other exactly.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from .base import F64

__all__ = ["TIGHT", "SOLVERS", "solve_weights"]

#: Clarabel's tolerances for every solve here (its defaults are 1e-8 on the gap and feasibility)
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
#: solvers the compiled problems are used with; any other goes through PyPortfolioOpt itself
SOLVERS = ("CLARABEL",)


@functools.lru_cache(maxsize=64)
def _shape(n: int, penalised: bool):
    """The constraint matrix and cones of one shape (``x = w``, or ``[w, t]`` with the penalty):
    ``sum(w) = 1``; ``-w <= -lower``; ``w <= upper``; with the penalty ``w - t <= w_now`` and
    ``-w - t <= -w_now``."""
    import clarabel
    from scipy import sparse

    eye, zero = np.eye(n), np.zeros((n, n))
    blocks = [np.hstack([np.ones((1, n)), np.zeros((1, n))]), np.hstack([-eye, zero]), np.hstack([eye, zero])]
    if penalised:
        blocks += [np.hstack([eye, -eye]), np.hstack([-eye, -eye])]
    a = np.vstack(blocks)[:, :2 * n if penalised else n]
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(a.shape[0] - 1)]
    # P's upper triangle in column order (CSC): column j holds rows 0..j; the t columns are empty
    cols, rows = np.tril_indices(n)
    m = a.shape[1]
    indptr = np.concatenate([[0], np.cumsum(np.arange(1, n + 1)), np.full(m - n, n * (n + 1) // 2)])
    return sparse.csc_matrix(a), cones, (rows, cols, indptr.astype(np.int64))


def _settings():
    import clarabel

    settings = clarabel.DefaultSettings()
    settings.verbose = False
    for name, value in TIGHT.items():
        setattr(settings, name, value)
    return settings


def _psd(cov: np.ndarray) -> np.ndarray:
    """``cov`` itself when it is positive definite (Cholesky succeeds), else its nearest positive
    semi-definite matrix from the eigen-decomposition; ValueError when clearly indefinite."""
    try:
        np.linalg.cholesky(cov)
        return cov
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh((cov + cov.T) / 2.0)
        if values.min() < -1e-10 * max(1.0, abs(values.max())):
            raise ValueError("the covariance matrix is not positive semi-definite") from None
        return (vectors * np.clip(values, 0.0, None)) @ vectors.T


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
    import clarabel
    from scipy import sparse

    # DataFrame.to_numpy: np.asarray on a frame goes through pandas' slower __array__ path
    cov = cov.to_numpy(dtype=F64) if isinstance(cov, pd.DataFrame) else np.asarray(cov, dtype=F64)
    n = cov.shape[0]
    penalised = current is not None and penalty > 0
    a, cones, (rows, cols, indptr) = _shape(n, penalised)
    m = a.shape[1]
    sym = _psd((cov + cov.T) / 2.0)
    quad = sym * (float(risk_aversion) if kind == "mvo" else 2.0)
    # P's upper triangle, column by column (CSC), padded with the zero block of t
    p = sparse.csc_matrix((quad[rows, cols], rows, indptr), shape=(m, m))
    q = np.zeros(m)
    if kind == "mvo":
        q[:n] = -(mu.to_numpy(dtype=F64) if isinstance(mu, pd.Series) else np.asarray(mu, dtype=F64))
    lower, upper = float(bounds[0]), float(bounds[1])
    b = [np.ones(1), np.full(n, -lower), np.full(n, upper)]
    if penalised:
        q[n:] = float(penalty)
        now = np.asarray(current, dtype=F64)
        b += [now, -now]
    solution = clarabel.DefaultSolver(p, q, a, np.concatenate(b), cones, _settings()).solve()
    status = str(solution.status)
    # As PyPortfolioOpt through cvxpy: "almost solved" (optimal_inaccurate) is accepted, and
    # clean_weights checks the bounds.
    if status not in ("Solved", "AlmostSolved"):
        raise ValueError(f"the {kind} problem did not solve (status {status})")
    weights = np.asarray(solution.x[:n], dtype=F64)
    if not np.isfinite(weights).all():
        raise ValueError(f"the {kind} problem did not solve (non-finite weights)")
    return weights.copy()
