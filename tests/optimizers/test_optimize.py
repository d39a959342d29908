"""optimize on the real sample: invariants for every method, independent cross-checks of
minimum variance (scipy SLSQP and the closed form) and of mean-variance, and every fallback."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pypfopt.exceptions import OptimizationError
from scipy.optimize import minimize

from optimizers import OPTIMIZERS, PortfolioResult, optimize, select_top, weight_bounds
from optimizers.base import shrunk_covariance
from optimizers.expected_returns import expected_returns_from_scores
from optimizers.min_variance import min_variance_weights

AS_OF = ("2019-06-28", "2020-06-30", "2022-06-30")


def selected(scored_sample, as_of, n):
    history, composite = scored_sample[as_of]
    tickers = select_top(composite, n)
    return history[tickers], composite


@pytest.mark.parametrize("method", OPTIMIZERS)
@pytest.mark.parametrize("as_of", AS_OF)
@pytest.mark.parametrize("n", [5, 10])
def test_invariants_on_the_sample(scored_sample, method, as_of, n):
    prices, composite = selected(scored_sample, as_of, n)
    result = optimize(method, prices, composite)
    if method == "barbell" and n == 5:
        # 5 tickers at most 20% each leave no room for a 10% sleeve and a 90% core: said, and minvar
        assert result.method == "minvar" and "no barbell fits 5 tickers" in result.fallback_reason
        return
    assert isinstance(result, PortfolioResult)
    w = result.weights
    assert list(w.index) == list(prices.columns)
    assert w.dtype == "float64"
    assert (w >= 0).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    lower, upper, notes = weight_bounds(n, 0.15, 0.02)
    assert w.min() >= lower - 1e-9 and w.max() <= upper + 1e-9
    assert result.notes[:len(notes)] == notes  # with 5 positions: max_weight raised, and said so
    # hrp and riskparity have no bounds of their own: fitting them in is said too
    assert all("fitted into the bounds" in n for n in result.notes[len(notes):]) and \
        (method in ("hrp", "riskparity") or result.notes == notes) or method == "barbell"
    if method == "barbell":  # the two sleeves are said
        assert result.notes[-1].startswith("barbell: defensive core (minvar) 90.0%")
        assert len(result.sleeves["sleeve"]) == 2 and w[list(result.sleeves["sleeve"])].sum() == pytest.approx(0.1)
    assert result.requested == method and result.method == method
    assert result.fallback_reason is None
    for number in (result.expected_return, result.expected_volatility, result.expected_sharpe):
        assert isinstance(number, float) and math.isfinite(number)
    assert result.expected_sharpe == pytest.approx(
        result.expected_return / result.expected_volatility)
    again = optimize(method, prices, composite)
    pd.testing.assert_series_equal(again.weights, w, check_exact=True)


@pytest.mark.parametrize("as_of", AS_OF)
def test_covariance_is_pypfopt_ledoit_wolf_to_the_last_bit(scored_sample, as_of):
    """shrunk_covariance calls sklearn's ledoit_wolf as CovarianceShrinkage does (no pandas
    detour): the matrix must be exactly PyPortfolioOpt's, or optimizer decisions could move."""
    from pypfopt.risk_models import CovarianceShrinkage

    prices, _ = selected(scored_sample, as_of, 10)
    window = prices.to_numpy(dtype="float64")[-253:]
    daily = window[1:] / window[:-1] - 1.0
    returns = pd.DataFrame(daily[np.isfinite(daily).all(axis=1)], columns=prices.columns)
    want = CovarianceShrinkage(returns, returns_data=True, frequency=252).ledoit_wolf()
    got, problem = shrunk_covariance(prices, 252)
    assert problem is None
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_numbers_are_comparable_across_methods(scored_sample):
    """Every method reports w'mu and sqrt(w'Sw) from the same mu and S."""
    prices, composite = selected(scored_sample, "2020-06-30", 10)
    cov, _ = shrunk_covariance(prices, 252)
    mu = expected_returns_from_scores(composite, cov, information_coefficient=0.05,
                                      risk_aversion=1.5, risk_free_rate=0.01)
    results = {m: optimize(m, prices, composite, risk_free_rate=0.01) for m in OPTIMIZERS}
    for result in results.values():
        w = result.weights.to_numpy()
        assert result.expected_return == pytest.approx(float(w @ mu), rel=1e-12)
        assert result.expected_volatility == pytest.approx(math.sqrt(w @ cov.to_numpy() @ w),
                                                           rel=1e-12)
        assert result.expected_sharpe == pytest.approx(
            (result.expected_return - 0.01) / result.expected_volatility, rel=1e-12)
    vols = {m: r.expected_volatility for m, r in results.items()}
    assert vols["minvar"] <= min(vols["mvo"], vols["rankbased"]) + 1e-9
    utility = {m: r.expected_return - 0.75 * r.expected_volatility ** 2 for m, r in results.items()}
    assert utility["mvo"] >= max(utility["minvar"], utility["rankbased"]) - 1e-7


def _slsqp(objective, n, lower, upper):
    start = np.full(n, 1.0 / n)
    solution = minimize(objective, start, method="SLSQP", bounds=[(lower, upper)] * n,
                        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
                        options={"ftol": 1e-15, "maxiter": 1000})
    assert solution.success, solution.message
    return solution.x


@pytest.mark.parametrize("as_of", AS_OF)
def test_minvar_matches_scipy_slsqp(scored_sample, as_of):
    prices, composite = selected(scored_sample, as_of, 10)
    result = optimize("minvar", prices, composite)
    cov = shrunk_covariance(prices, 252)[0].to_numpy()
    reference = _slsqp(lambda w: w @ cov @ w, 10, 0.02, 0.15)
    np.testing.assert_allclose(result.weights.to_numpy(), reference, atol=2e-3)
    assert result.expected_volatility ** 2 == pytest.approx(reference @ cov @ reference, rel=1e-4)


@pytest.mark.parametrize("as_of", AS_OF)
def test_mvo_matches_scipy_slsqp(scored_sample, as_of):
    prices, composite = selected(scored_sample, as_of, 10)
    result = optimize("mvo", prices, composite, risk_aversion=2.0, information_coefficient=0.1)
    cov = shrunk_covariance(prices, 252)[0]
    mu = expected_returns_from_scores(composite, cov, information_coefficient=0.1,
                                      risk_aversion=2.0, risk_free_rate=0.0).to_numpy()
    s = cov.to_numpy()
    reference = _slsqp(lambda w: -(w @ mu - 1.0 * w @ s @ w), 10, 0.02, 0.15)
    np.testing.assert_allclose(result.weights.to_numpy(), reference, atol=2e-3)


def test_minvar_matches_the_closed_form_when_no_bound_binds():
    # A covariance whose unconstrained minimum-variance portfolio is long-only and below 1:
    # then the bounds (0, 1) do not bind and w = S^-1 1 / (1' S^-1 1) exactly.
    tickers = ["AAA", "BBB", "CCC", "DDD"]
    vols = np.array([0.15, 0.20, 0.25, 0.30])
    corr = np.full((4, 4), 0.3) + 0.7 * np.eye(4)
    cov = pd.DataFrame(np.outer(vols, vols) * corr, index=tickers, columns=tickers)
    inverse_ones = np.linalg.solve(cov.to_numpy(), np.ones(4))
    closed_form = inverse_ones / inverse_ones.sum()
    assert (closed_form > 0).all()
    w = min_variance_weights(cov, bounds=(0.0, 1.0), solver="CLARABEL")
    np.testing.assert_allclose(w, closed_form, atol=1e-5)


def test_minvar_matches_the_closed_form_on_real_returns(sample_close):
    # Four real tickers whose closed-form minimum-variance weights are all positive.
    prices = sample_close.loc[:"2021-12-31", ["JNJ", "KO", "PG", "WMT"]]
    cov = shrunk_covariance(prices, 252)[0]
    inverse_ones = np.linalg.solve(cov.to_numpy(), np.ones(4))
    closed_form = inverse_ones / inverse_ones.sum()
    assert (closed_form > 0).all() and (closed_form < 1).all()
    scores = pd.Series(0.0, index=prices.columns)
    result = optimize("minvar", prices, scores, min_weight=0.0, max_weight=1.0)
    np.testing.assert_allclose(result.weights.to_numpy(), closed_form, atol=1e-4)


def test_mvo_without_views_holds_equal_weights(scored_sample):
    """IC = 0 leaves only the equilibrium returns, under which equal weights are optimal."""
    prices, composite = selected(scored_sample, "2022-06-30", 8)
    result = optimize("mvo", prices, composite, information_coefficient=0.0,
                      min_weight=0.0, max_weight=1.0)
    np.testing.assert_allclose(result.weights.to_numpy(), 1 / 8, atol=1e-4)


def test_mvo_tilts_towards_better_scores(scored_sample):
    prices, composite = selected(scored_sample, "2020-06-30", 10)
    flat = optimize("mvo", prices, composite, information_coefficient=0.0, min_weight=0.0,
                    max_weight=1.0).weights
    tilted = optimize("mvo", prices, composite, information_coefficient=0.1, min_weight=0.0,
                      max_weight=1.0).weights
    scores = composite[prices.columns]
    assert np.corrcoef(tilted - flat, scores - scores.mean())[0, 1] > 0.3


def test_rankbased_weights_by_hand(sample_close):
    prices = sample_close.loc[:"2020-12-31", ["AAPL", "KO", "MSFT", "PG"]]
    scores = pd.Series({"AAPL": 0.9, "KO": -0.2, "MSFT": 0.4, "PG": 0.1})
    result = optimize("rankbased", prices, scores, max_weight=0.35, min_weight=0.1)
    # ranks KO 1, PG 2, MSFT 3, AAPL 4 -> AAPL capped at 0.35, the rest 0.65 as 1 : 2 : 3
    expected = pd.Series({"AAPL": 0.35, "KO": 0.65 / 6, "MSFT": 1.95 / 6, "PG": 1.3 / 6})
    pd.testing.assert_series_equal(result.weights, expected, check_names=False, rtol=1e-12)


def test_single_ticker_gets_everything(sample_close):
    prices = sample_close.loc[:"2020-12-31", ["QUAL"]]
    for method in OPTIMIZERS:
        result = optimize(method, prices, pd.Series({"QUAL": 0.3}))
        assert result.weights.tolist() == [1.0] and result.method == method


@pytest.mark.parametrize(("max_weight", "min_weight", "adjusted"),
                         [(0.03, 0.01, "max_weight raised"), (0.2, 0.045, "min_weight lowered")])
def test_bounds_adjusted_for_the_whole_sample(sample_close, max_weight, min_weight, adjusted):
    prices = sample_close.loc[:"2021-12-31"]  # 25 tickers
    scores = pd.Series(np.linspace(1, -1, prices.shape[1]), index=prices.columns)
    result = optimize("mvo", prices, scores, max_weight=max_weight, min_weight=min_weight)
    lower, upper, notes = weight_bounds(prices.shape[1], max_weight, min_weight)
    assert len(notes) == 1 and notes[0].startswith(adjusted) and result.notes == notes
    assert result.method == "mvo"
    assert result.weights.min() >= lower - 1e-9 and result.weights.max() <= upper + 1e-9
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-9)


# --- fallbacks --------------------------------------------------------------------------------

def broken_solve(*args, **kwargs):
    """Stands in for the compiled solve: every solve fails as an infeasible problem would."""
    raise OptimizationError("Solver status: infeasible")


def test_mvo_falls_back_to_minvar(scored_sample, monkeypatch):
    import optimizers.mean_variance

    monkeypatch.setattr(optimizers.mean_variance, "solve_weights", broken_solve)
    prices, composite = selected(scored_sample, "2020-06-30", 10)
    result = optimize("mvo", prices, composite)
    assert (result.requested, result.method) == ("mvo", "minvar")
    assert result.fallback_reason.startswith("mvo failed (OptimizationError: ")
    assert "infeasible" in result.fallback_reason and result.fallback_reason.endswith("used minvar")
    expected = optimize("minvar", prices, composite)
    pd.testing.assert_series_equal(result.weights, expected.weights)
    assert result.expected_volatility == expected.expected_volatility


def test_chain_reaches_rankbased_then_equal(scored_sample, monkeypatch):
    import optimizers.mean_variance
    import optimizers.min_variance
    import optimizers.rank_based

    monkeypatch.setattr(optimizers.mean_variance, "solve_weights", broken_solve)
    monkeypatch.setattr(optimizers.min_variance, "solve_weights", broken_solve)
    prices, composite = selected(scored_sample, "2019-06-28", 10)
    result = optimize("mvo", prices, composite)
    assert result.method == "rankbased"
    assert "mvo failed" in result.fallback_reason and "minvar failed" in result.fallback_reason
    pd.testing.assert_series_equal(result.weights, optimize("rankbased", prices, composite).weights)

    def broken_ranks(*args, **kwargs):
        raise ValueError("ranks unavailable")

    monkeypatch.setattr(optimizers.rank_based, "fit_to_bounds", broken_ranks)
    result = optimize("minvar", prices, composite)
    assert result.method == "equal"
    assert result.fallback_reason.endswith("rankbased failed (ValueError: ranks unavailable); used equal")
    np.testing.assert_allclose(result.weights.to_numpy(), 0.1)
    assert math.isfinite(result.expected_sharpe)


def test_a_solver_that_cannot_solve_falls_back_without_raising(scored_sample):
    # SCIPY is installed but cannot take a quadratic program: a real solver failure, not a mock.
    prices, composite = selected(scored_sample, "2022-06-30", 10)
    result = optimize("mvo", prices, composite, solver="SCIPY")
    assert result.method == "rankbased"
    assert "SolverError" in result.fallback_reason
    assert result.weights.sum() == pytest.approx(1.0)


def test_too_little_history_for_a_covariance_uses_ranks(scored_sample):
    prices, composite = selected(scored_sample, "2020-06-30", 6)
    result = optimize("minvar", prices.iloc[-15:], composite)
    assert result.method == "rankbased"
    assert result.fallback_reason.startswith("minvar needs a covariance (only 14 days")
    assert math.isnan(result.expected_return) and math.isnan(result.expected_volatility)
    assert any("no risk model" in note for note in result.notes)
    assert result.weights.sum() == pytest.approx(1.0)


# --- bad input --------------------------------------------------------------------------------

def test_unknown_method_lists_the_valid_ones(scored_sample):
    prices, composite = selected(scored_sample, "2020-06-30", 5)
    with pytest.raises(ValueError, match="unknown optimizer 'maxsharpe'; valid: mvo, minvar, rankbased, hrp, riskparity, cvar"):
        optimize("maxsharpe", prices, composite)


def test_missing_scores_and_bad_parameters_are_refused(scored_sample):
    prices, composite = selected(scored_sample, "2020-06-30", 5)
    with pytest.raises(ValueError, match=f"missing or NaN for: {prices.columns[0]}"):
        optimize("mvo", prices, composite.drop(prices.columns[0]))
    with pytest.raises(ValueError, match="`solver` must be an installed cvxpy solver"):
        optimize("mvo", prices, composite, solver="ECOS")
    with pytest.raises(ValueError, match="`min_weight` must be a number in \\[0, 0.15\\]"):
        optimize("mvo", prices, composite, min_weight=0.2)
    with pytest.raises(ValueError, match="`risk_aversion` must be a number in \\(0"):
        optimize("mvo", prices, composite, risk_aversion=0)
    with pytest.raises(ValueError, match="`prices` must be a DataFrame"):
        optimize("mvo", prices.iloc[:, :0], composite)


@pytest.mark.parametrize("seed", range(8))
def test_invariants_hold_for_random_selections_and_bounds(sample_close, seed):
    """Seeded random tickers, dates, bounds and parameters: never a fallback, always valid weights."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 16))
    tickers = sorted(rng.choice(sample_close.columns, size=n, replace=False))
    # an as-of date with a year of history for the ETFs too (they start in 2014)
    end = int(rng.integers(len(sample_close.loc[:"2015-12-31"]), len(sample_close)))
    prices = sample_close.iloc[:end][tickers]
    scores = pd.Series(rng.normal(size=n), index=tickers)
    max_weight = float(rng.uniform(0.05, 0.6))
    min_weight = float(rng.uniform(0.0, min(0.05, max_weight)))
    lower, upper, _ = weight_bounds(n, max_weight, min_weight)
    for method in OPTIMIZERS:
        result = optimize(method, prices, scores, max_weight=max_weight, min_weight=min_weight,
                          risk_aversion=float(rng.uniform(0.5, 10)),
                          information_coefficient=float(rng.uniform(0, 0.2)),
                          cov_lookback=int(rng.integers(60, 500)))
        w = result.weights
        if method == "barbell" and result.method != method:
            # no room for a 10% sleeve in equal parts plus a 90% core within these bounds
            assert result.method == "minvar" and "no barbell fits" in result.fallback_reason
        else:
            assert result.method == method, result.fallback_reason
        assert list(w.index) == tickers
        assert w.sum() == pytest.approx(1.0, abs=1e-9)
        assert w.min() >= lower - 1e-9 and w.max() <= upper + 1e-9


@pytest.mark.parametrize("method", ["mvo", "minvar", "rankbased", "hrp"])
@pytest.mark.parametrize("as_of", AS_OF)
def test_the_same_weights_whatever_the_scores_order_and_the_history_handed_over(scored_sample, method, as_of):
    """Scores in the columns' own order (what build_target hands over), in the reverse order or
    with every other ticker's score too, and the whole history or only the covariance window:
    the same weights and figures, float for float."""
    prices, composite = selected(scored_sample, as_of, 8)
    columns = list(prices.columns)
    in_order = composite[columns]
    window = prices.iloc[-(252 + 1):]
    results = [optimize(method, p, s, cov_lookback=252) for p, s in [
        (prices, in_order), (prices, in_order[::-1]), (prices, composite), (window, in_order), (window, composite)]]
    first = results[0]
    assert list(first.weights.index) == columns
    for other in results[1:]:
        pd.testing.assert_series_equal(other.weights, first.weights, check_exact=True)
        assert (other.expected_return, other.expected_volatility) == (first.expected_return, first.expected_volatility)
