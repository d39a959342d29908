"""The compiled mvo and minvar problems against PyPortfolioOpt itself, week by week on the sample.

``optimizers.compiled`` re-solves one cvxpy problem per shape instead of building PyPortfolioOpt's
``EfficientFrontier`` every week. Here every Friday of two years of the real sample gets the same
inputs the weekly step builds (the top 8 by composite score, the Ledoit-Wolf covariance, the
score-based expected returns, last week's weights less 3% cash as the holdings), and the weights
are compared with ``EfficientFrontier.max_quadratic_utility`` / ``min_volatility`` (plus its
``transaction_cost`` objective) solved by the same solver to the same tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, objective_functions

from factors import score_universe
from optimizers import select_top
from optimizers.base import shrunk_covariance, weight_bounds
from optimizers.compiled import TIGHT, solve_weights
from optimizers.expected_returns import expected_returns_from_scores

SEED_WEIGHTS = {"momentum": 0.30, "quality": 0.30, "value": 0.20, "volatility": 0.20}


@pytest.fixture(scope="module")
def weeks(sample_close):
    """Inputs of every Friday of 2019-2020: (date, cov, mu, bounds)."""
    out = []
    fridays = sample_close.loc["2019-01-01":"2020-12-31"].index
    fridays = fridays[fridays.day_of_week == 4]
    for day in fridays:
        history = sample_close.loc[:day].iloc[-400:].dropna(axis=1, how="any")
        composite = score_universe(history, weights=SEED_WEIGHTS)["composite"]
        chosen = select_top(composite, 8)
        cov, problem = shrunk_covariance(history[chosen], 252)
        assert problem is None, day
        mu = expected_returns_from_scores(composite[chosen], cov, information_coefficient=0.05,
                                          risk_aversion=1.5, risk_free_rate=0.0)
        lower, upper, _ = weight_bounds(len(chosen), 0.15, 0.02)
        out.append((day, cov, mu, (lower, upper)))
    assert len(out) >= 100
    return out


def _pypfopt(kind, cov, mu, bounds, current, k):
    ef = EfficientFrontier(mu if kind == "mvo" else None, cov, weight_bounds=bounds, solver="CLARABEL",
                           solver_options=TIGHT)
    if current is not None:
        ef.add_objective(objective_functions.transaction_cost, w_prev=current, k=k)
    if kind == "mvo":
        ef.max_quadratic_utility(risk_aversion=1.5)
    else:
        ef.min_volatility()
    return np.asarray(ef.weights, dtype="float64")


@pytest.mark.parametrize("kind", ["mvo", "minvar"])
@pytest.mark.parametrize("k", [0.0, 0.05])
def test_compiled_weights_are_pypfopts_week_by_week(weeks, kind, k):
    worst, previous = 0.0, None
    for day, cov, mu, bounds in weeks:
        # last week's weights (re-indexed: the selection changes) less 3% cash as the holdings
        current = None
        if k > 0:
            held = previous.reindex(cov.index).fillna(0.0) if previous is not None else pd.Series(1 / 8, index=cov.index)
            current = held.to_numpy() * 0.97
        got = solve_weights(kind, cov, mu=mu, risk_aversion=1.5, bounds=bounds, current=current, penalty=k)
        want = _pypfopt(kind, cov, mu, bounds, current, k)
        worst = max(worst, float(np.abs(got - want).max()))
        assert np.abs(got - want).max() <= 1e-6, day
        previous = pd.Series(got, index=cov.index)
    assert worst > 0  # two different conic forms: equal to the solver's accuracy, not to the bit


def test_singular_covariance_is_solved_through_its_eigen_decomposition():
    # two identical assets: Cholesky fails, the problem is still well posed
    base = np.array([[0.04, 0.01, 0.01], [0.01, 0.09, 0.02], [0.01, 0.02, 0.16]])
    cov = np.zeros((4, 4))
    cov[:3, :3] = base
    cov[3, :3] = cov[:3, 3] = base[0]
    cov[3, 3] = base[0, 0]
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(cov)
    got = solve_weights("minvar", cov, bounds=(0.0, 1.0))
    assert got.sum() == pytest.approx(1.0, abs=1e-8)
    assert got @ cov @ got == pytest.approx(_pypfopt("minvar", pd.DataFrame(cov), None, (0.0, 1.0), None, 0) @ cov
                                            @ _pypfopt("minvar", pd.DataFrame(cov), None, (0.0, 1.0), None, 0), rel=1e-6)


def test_infeasible_bounds_raise_for_the_fallback_chain():
    cov = np.diag([0.04, 0.09])
    with pytest.raises(ValueError, match="did not solve"):
        solve_weights("minvar", cov, bounds=(0.6, 0.9))  # two assets of at least 60% each


@pytest.mark.parametrize("kind", ["mvo", "minvar"])
def test_direct_qp_matches_pypfopt_on_random_problems(kind):
    """Random covariances of 2-20 assets, random bounds that may bind, with and without the penalty
    (large enough, sometimes, to pin the weights to the holdings): the objective PyPortfolioOpt
    minimises is the same at both solutions, and so are the weights, to the solver's accuracy."""
    rng = np.random.default_rng(20261202)
    for trial in range(40):
        n = int(rng.integers(2, 21))
        returns = rng.normal(size=(300, n)) * rng.uniform(0.005, 0.03, size=n)
        cov = np.cov(returns.T) * 252
        mu = rng.normal(size=n) * 0.05
        lower = float(rng.choice([0.0, 0.5 / n]))
        upper = float(rng.choice([1.0, 2.0 / n, 1.2 / n]))
        k = float(rng.choice([0.0, 0.01, 5.0]))
        current = rng.dirichlet(np.ones(n)) * 0.97 if k else None
        frame = pd.DataFrame(cov, index=[f"T{i}" for i in range(n)], columns=[f"T{i}" for i in range(n)])
        mus = pd.Series(mu, index=frame.index)
        got = solve_weights(kind, cov, mu=mu, risk_aversion=1.5, bounds=(lower, upper), current=current, penalty=k)
        want = _pypfopt(kind, frame, mus, (lower, upper), current, k)

        def objective(w):
            value = 0.75 * w @ cov @ w - mu @ w if kind == "mvo" else w @ cov @ w
            return value + (k * np.abs(w - current).sum() if k else 0.0)

        assert got.sum() == pytest.approx(1.0, abs=1e-9), trial
        assert got.min() >= lower - 1e-9 and got.max() <= upper + 1e-9, trial
        assert objective(got) == pytest.approx(objective(want), abs=1e-9), trial
        assert np.abs(got - want).max() <= 1e-5, trial
