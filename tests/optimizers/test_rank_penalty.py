"""The exact solve of the penalised rank problem against cvxpy's solve of the same problem.

``optimizers.rank_based.prox_budget`` replaces a cvxpy problem built every week by a bisection on
the budget's multiplier. Here it meets cvxpy (CLARABEL, tight tolerances) on every Friday of two
years of the real sample (the top 8 and the top 12 by composite score, the rank weights of the
weekly step, last week's weights as the holdings, and random ones), on several penalties, and on
the edges: all cash, holdings equal to the target, bounds that pin every weight, one ticker.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest

from factors import score_universe
from optimizers import select_top
from optimizers.base import weight_bounds
from optimizers.rank_based import penalised_rank_weights, prox_budget, rank_weights

SEED_WEIGHTS = {"momentum": 0.30, "quality": 0.30, "value": 0.20, "volatility": 0.20}


def _cvxpy(ideal, current, penalty, lower, upper):
    w = cp.Variable(len(ideal))
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w - ideal) + penalty * cp.norm1(w - current)),
                         [cp.sum(w) == 1, w >= lower, w <= upper])
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert problem.status == "optimal"
    return np.asarray(w.value)


def _objective(w, ideal, current, penalty):
    return 0.5 * float(((w - ideal) ** 2).sum()) + penalty * float(np.abs(w - current).sum())


def _check(ideal, current, penalty, lower, upper):
    got = prox_budget(ideal, current, penalty, lower, upper)
    want = _cvxpy(ideal, current, penalty, lower, upper)
    assert abs(got.sum() - 1.0) <= 1e-12
    assert got.min() >= lower - 1e-15 and got.max() <= upper + 1e-15
    assert np.abs(got - want).max() <= 1e-6
    # never worse than the general solver's answer
    assert _objective(got, ideal, current, penalty) <= _objective(want, ideal, current, penalty) + 1e-10
    return got


@pytest.fixture(scope="module")
def weeks(sample_close):
    """(ideal rank weights, last week's weights, bounds) of every Friday of 2019-2020, for 8 and 12."""
    out = []
    fridays = sample_close.loc["2019-01-01":"2020-12-31"].index
    fridays = fridays[fridays.day_of_week == 4]
    for n in (8, 12):
        lower, upper, _ = weight_bounds(n, 0.15, 0.02)
        last = None
        for day in fridays:
            history = sample_close.loc[:day].iloc[-400:].dropna(axis=1, how="any")
            composite = score_universe(history, weights=SEED_WEIGHTS)["composite"]
            chosen = select_top(composite, n)
            ideal = rank_weights(composite[chosen], bounds=(lower, upper))
            held = (pd.Series(last, dtype=float).reindex(chosen, fill_value=0.0).to_numpy() * 0.97
                    if last is not None else np.zeros(n))
            out.append((ideal, held, lower, upper))
            last = dict(zip(chosen, ideal))
    return out


def test_matches_cvxpy_week_by_week_on_the_sample(weeks):
    for k in (0.0005, 0.01, 0.05):
        for ideal, held, lower, upper in weeks:
            _check(ideal, held, k, lower, upper)


def test_matches_cvxpy_on_random_holdings_and_bounds():
    rng = np.random.default_rng(11)
    for _ in range(150):
        n = int(rng.integers(2, 25))
        lower = float(rng.uniform(0.0, 1.0 / n))
        upper = float(rng.uniform(1.0 / n, 1.0))
        ideal = rng.dirichlet(np.ones(n))
        current = rng.dirichlet(np.ones(n)) * rng.uniform(0.0, 1.0)
        current[rng.random(n) < 0.3] = 0.0
        _check(ideal, current, float(rng.choice([0.0, 1e-4, 0.003, 0.02, 0.2, 2.0])), lower, upper)


def test_edges():
    ideal = np.array([0.4, 0.35, 0.25])
    # all cash: the penalty is the same for every weight, the answer is the ideal itself
    assert np.allclose(_check(ideal, np.zeros(3), 0.01, 0.0, 1.0), ideal, atol=1e-12)
    # holding the target: nothing moves, whatever the penalty
    assert np.allclose(_check(ideal, ideal.copy(), 0.05, 0.0, 1.0), ideal, atol=1e-12)
    # bounds that leave one answer
    assert np.allclose(_check(ideal, np.array([0.9, 0.0, 0.1]), 0.01, 1 / 3, 1 / 3), 1 / 3, atol=1e-12)
    # one ticker
    assert np.allclose(prox_budget(np.array([1.0]), np.array([0.2]), 0.5, 0.0, 1.0), [1.0])
    # a penalty so large that only the budget moves the weights off the holdings
    held = np.array([0.5, 0.3, 0.1])
    got = _check(ideal, held, 10.0, 0.0, 1.0)
    assert np.abs(got - held).sum() == pytest.approx(0.1, abs=1e-9)


def test_the_weekly_weights_are_the_rounded_exact_solution(weeks):
    ideal, held, lower, upper = weeks[10]
    scores = pd.Series(np.argsort(np.argsort(ideal)).astype(float), index=[f"T{i}" for i in range(len(ideal))])
    got = penalised_rank_weights(scores, bounds=(lower, upper), current=held, penalty=0.01)
    want = _cvxpy(rank_weights(scores, bounds=(lower, upper)), held, 0.01, lower, upper)
    assert np.abs(got - want).max() <= 1e-6 and got.sum() == pytest.approx(1.0, abs=1e-12)
