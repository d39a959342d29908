"""blacklitterman, barbell, group limits and the frontier, on the real sample, against independent sums.

Independent means not the code path under test: Black-Litterman's closed form written out in numpy,
HRP by hand on a 4-asset case, minimum CVaR by skfolio's ``MeanRisk``, the frontier by
PyPortfolioOpt's ``efficient_return``, group limits by a brute-force check of every week's weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier

from optimizers import FALLBACKS, OPTIMIZERS, optimize, select_top, weight_bounds
from optimizers.base import shrunk_covariance
from optimizers.black_litterman import TAU, posterior_returns, view_confidence
from optimizers.expected_returns import equilibrium_returns, expected_returns_from_scores, grinold_alpha
from optimizers.frontier import frontier_points
from optimizers.limits import GroupLimit, InfeasibleLimits, breaches
from optimizers.min_variance import min_variance_weights
from optimizers.risk_based import hrp_weights
from optimizers.selection import meet_group_limits


AS_OF = ("2019-06-28", "2020-06-30", "2022-06-30")
SEED_WEIGHTS = {"momentum": 0.30, "quality": 0.30, "value": 0.20, "volatility": 0.20}
FACTOR_ETFS = frozenset({"MTUM", "QUAL", "SIZE", "USMV", "VLUE"})
HEALTH = frozenset({"JNJ", "LLY", "MRK", "PFE", "UNH"})


def _selected(scored_sample, as_of, n=8):
    history, composite = scored_sample[as_of]
    tickers = select_top(composite, n)
    return history[tickers].iloc[-253:], composite


@pytest.mark.parametrize("as_of", AS_OF)
@pytest.mark.parametrize("n", [1, 3, 8, 12])
def test_expected_returns_are_pypfopts_prior_plus_grinolds_alpha_to_the_bit(scored_sample, as_of, n):
    """The optimizers' expected returns are computed on arrays; they must be the library's Series
    arithmetic (PyPortfolioOpt's market-implied prior + grinold_alpha), every bit, on real data."""
    prices, composite = _selected(scored_sample, as_of, n=n)
    cov, _ = shrunk_covariance(prices, 252)
    for rf, delta, ic in ((0.0, 1.5, 0.05), (0.02, 3.0, 0.1)):
        got = expected_returns_from_scores(composite, cov, information_coefficient=ic, risk_aversion=delta,
                                           risk_free_rate=rf)
        volatility = pd.Series(np.sqrt(np.diag(cov.to_numpy())), index=cov.index)
        library = equilibrium_returns(cov, risk_aversion=delta, risk_free_rate=rf) + grinold_alpha(
            composite.reindex(cov.index), volatility, ic)
        assert got.name == "expected_return" and got.index.equals(cov.index)
        assert got.to_numpy().tobytes() == library.to_numpy().tobytes()


# --------------------------------------------------------------------------- Black-Litterman


@pytest.mark.parametrize("as_of", AS_OF)
def test_black_litterman_posterior_is_the_closed_form_on_three_assets(scored_sample, as_of):
    prices, composite = _selected(scored_sample, as_of, n=3)
    cov, _ = shrunk_covariance(prices, 252)
    z = composite.reindex(cov.index).to_numpy()
    c = 0.3
    got = posterior_returns(composite, cov, confidence=c, risk_aversion=1.5, risk_free_rate=0.01)

    # The textbook formula, written out: mu = [(tS)^-1 + P' O^-1 P]^-1 [(tS)^-1 pi + P' O^-1 Q]
    s = cov.to_numpy()
    pi = 0.01 + 1.5 * s @ np.full(3, 1 / 3)
    q = pi + np.sqrt(np.diag(s)) * z
    omega = np.diag(TAU * np.diag(s) * (1 - c) / c)
    p = np.eye(3)
    inv_ts = np.linalg.inv(TAU * s)
    expected = np.linalg.solve(inv_ts + p.T @ np.linalg.inv(omega) @ p,
                               inv_ts @ pi + p.T @ np.linalg.inv(omega) @ q)
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(equilibrium_returns(cov, risk_aversion=1.5, risk_free_rate=0.01), pi, atol=1e-15)


def test_black_litterman_confidence_moves_an_uncorrelated_ticker_that_share_of_the_way():
    """With a diagonal covariance the posterior is pi + c (Q - pi); at c = IC it is mvo's return."""
    cov = pd.DataFrame(np.diag([0.04, 0.09, 0.01]), index=list("ABC"), columns=list("ABC"))
    scores = pd.Series([1.0, -0.5, 2.0], index=list("ABC"))
    ic = 0.05
    got = posterior_returns(scores, cov, confidence=view_confidence(ic), risk_aversion=2.0, risk_free_rate=0.0)
    grinold = expected_returns_from_scores(scores, cov, information_coefficient=ic, risk_aversion=2.0,
                                           risk_free_rate=0.0)
    np.testing.assert_allclose(got.to_numpy(), grinold.to_numpy(), atol=1e-12)
    assert view_confidence(0.05, 0.4) == 0.4 and view_confidence(-0.08) == pytest.approx(0.08)


@pytest.mark.parametrize("as_of", AS_OF)
def test_blacklitterman_weights_are_mvo_on_the_posterior(scored_sample, as_of):
    prices, composite = _selected(scored_sample, as_of)
    result = optimize("blacklitterman", prices, composite, view_confidence=0.25)
    assert result.method == "blacklitterman" and result.fallback_reason is None
    cov, _ = shrunk_covariance(prices, 252)
    mu = posterior_returns(composite, cov, confidence=0.25, risk_aversion=1.5, risk_free_rate=0.0)
    ef = EfficientFrontier(mu, cov, weight_bounds=(0.02, 0.15), solver="CLARABEL")
    ef.max_quadratic_utility(risk_aversion=1.5)
    assert np.abs(result.weights.to_numpy() - np.asarray(ef.weights)).max() < 1e-4
    # correlated views spread: it is not simply mvo
    assert np.abs(result.weights - optimize("mvo", prices, composite).weights).max() > 1e-3


# --------------------------------------------------------------------------- HRP and CVaR, independently


def test_hrp_is_the_hand_computed_bisection_on_four_assets():
    """Two uncorrelated pairs: HRP is inverse variance inside each pair and inverse cluster variance
    between them (Lopez de Prado 2016), computed here by hand."""
    vol = np.array([0.10, 0.20, 0.15, 0.30])
    corr = np.array([[1, 0.8, 0, 0], [0.8, 1, 0, 0], [0, 0, 1, 0.6], [0, 0, 0.6, 1]], dtype=float)
    cov = pd.DataFrame(np.outer(vol, vol) * corr, index=list("ABCD"), columns=list("ABCD"))
    weights, fitted = hrp_weights(cov, bounds=(0.0, 1.0))
    s = cov.to_numpy()

    def ivp(idx):
        w = 1 / np.diag(s)[idx]
        return w / w.sum()

    def cluster_var(idx):
        w = ivp(idx)
        return w @ s[np.ix_(idx, idx)] @ w

    left, right = [0, 1], [2, 3]
    alpha = 1 - cluster_var(left) / (cluster_var(left) + cluster_var(right))
    expected = np.concatenate([alpha * ivp(left), (1 - alpha) * ivp(right)])
    np.testing.assert_allclose(weights, expected, atol=1e-12)
    assert not fitted


@pytest.mark.parametrize("as_of", AS_OF)
def test_cvar_reaches_skfolios_minimum_cvar(scored_sample, as_of):
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    prices, composite = _selected(scored_sample, as_of)
    result = optimize("cvar", prices, composite, max_weight=0.3, min_weight=0.02, cvar_beta=0.95)
    values = prices.to_numpy()
    returns = values[1:] / values[:-1] - 1
    model = MeanRisk(risk_measure=RiskMeasure.CVAR, objective_function=ObjectiveFunction.MINIMIZE_RISK,
                     cvar_beta=0.95, min_weights=0.02, max_weights=0.3)
    model.fit(returns)

    def cvar(w):  # Rockafellar-Uryasev at the optimal threshold: the mean of the worst 5% of losses
        losses = np.sort(-(returns @ np.asarray(w)))
        k = 0.05 * len(losses)
        whole = int(np.floor(k))
        tail = losses[::-1]
        return (tail[:whole].sum() + (k - whole) * tail[whole]) / k

    assert cvar(result.weights.to_numpy()) == pytest.approx(cvar(model.weights_), rel=1e-4)


# --------------------------------------------------------------------------- barbell


@pytest.mark.parametrize("as_of", AS_OF)
@pytest.mark.parametrize("core", ["minvar", "hrp"])
def test_barbell_is_a_min_variance_core_and_the_strongest_momentum_sleeve(scored_sample, sample_close, as_of, core):
    from factors import score_universe

    history, composite = scored_sample[as_of]
    momentum = score_universe(history, weights=SEED_WEIGHTS)["momentum"]
    tickers = select_top(composite, 10)
    prices = history[tickers].iloc[-253:]
    result = optimize("barbell", prices, composite.reindex(tickers), momentum=momentum, barbell_core=core,
                      barbell_cap=0.12, barbell_size=3)
    assert result.method == "barbell"
    w = result.weights
    sleeve = list(result.sleeves["sleeve"])
    strongest = momentum.reindex(tickers).sort_values(ascending=False).index[:3]
    assert sorted(sleeve) == sorted(strongest)
    np.testing.assert_allclose(w[sleeve].to_numpy(), 0.04, atol=1e-12)
    assert w.sum() == pytest.approx(1.0, abs=1e-9) and (w >= 0.02 - 1e-9).all() and (w <= 0.15 + 1e-9).all()
    core_names = list(result.sleeves["core"])
    assert sorted(core_names + sleeve) == sorted(tickers)
    if core == "minvar":  # the core is minimum variance of the core alone, scaled to 88%
        cov, _ = shrunk_covariance(prices, 252)  # the same risk model as every optimizer's ...
        cov = cov.loc[core_names, core_names]  # ... restricted to the core
        lower, upper, _ = weight_bounds(len(core_names), 0.15 / 0.88, 0.02 / 0.88)
        alone = min_variance_weights(cov, bounds=(lower, upper), solver="CLARABEL")
        np.testing.assert_allclose(w[core_names].to_numpy(), 0.88 * alone, atol=1e-9)
    assert any(n.startswith(f"barbell: defensive core ({core}) 88.0% in 7 tickers; aggressive sleeve 12.0%")
               for n in result.notes)


def test_barbell_and_blacklitterman_fall_back_like_the_others():
    assert FALLBACKS["barbell"][1:] == FALLBACKS["blacklitterman"][1:] == ("minvar", "rankbased", "equal")
    assert {"blacklitterman", "barbell"} <= set(OPTIMIZERS)


# --------------------------------------------------------------------------- group limits


def _limits():
    return (GroupLimit("category", "US Factor", FACTOR_ETFS, 0.0, 0.40),
            GroupLimit("category", "Health Care", HEALTH, 0.20, 1.0))


@pytest.mark.parametrize("as_of", AS_OF)
@pytest.mark.parametrize("method", OPTIMIZERS)
def test_every_optimizer_holds_the_group_limits(scored_sample, as_of, method):
    history, composite = scored_sample[as_of]
    limits = _limits()
    lower, upper, _ = weight_bounds(10, 0.15, 0.02)
    tickers, _ = meet_group_limits(select_top(composite, 10), composite, limits, lower, upper)
    prices = history[tickers].iloc[-253:]
    result = optimize(method, prices, composite.reindex(tickers), limits=limits,
                      momentum=composite.reindex(tickers))
    w = result.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-9) and (w >= 0).all()
    assert w[[t for t in tickers if t in FACTOR_ETFS]].sum() <= 0.40 + 1e-4
    assert w[[t for t in tickers if t in HEALTH]].sum() >= 0.20 - 1e-4
    assert not breaches(w.to_numpy(), tickers, limits)
    assert w.min() >= lower - 1e-9 and w.max() <= upper + 1e-9


def test_solved_methods_hold_limits_in_the_problem_and_the_others_are_moved_to_the_nearest_weights(scored_sample):
    history, composite = scored_sample["2020-06-30"]
    tickers = select_top(composite, 10)
    if sum(t in FACTOR_ETFS for t in tickers) < 2:
        tickers = tickers[:-2] + ["USMV", "QUAL"]
    prices = history[tickers].iloc[-253:]
    free = optimize("rankbased", prices, composite.reindex(tickers))
    member = np.array([1.0 if t in FACTOR_ETFS else 0.0 for t in tickers])
    # binds: halfway between their 2% floors and what rankbased gives them
    floor, given = 0.02 * member.sum(), float(member @ free.weights.to_numpy())
    assert given > floor + 0.01
    cap = round((floor + given) / 2, 4)
    limits = (GroupLimit("category", "US Factor", FACTOR_ETFS, 0.0, cap),)
    held = optimize("rankbased", prices, composite.reindex(tickers), limits=limits)
    assert "rankbased weights moved to the nearest weights within the group limits" in held.notes
    # nearest: scipy's least squares under the same constraints gives the same weights
    from scipy.optimize import minimize

    x0 = free.weights.to_numpy()
    nearest = minimize(lambda x: ((x - x0) ** 2).sum(), np.full(10, 0.1), method="SLSQP",
                       bounds=[(0.02, 0.15)] * 10,
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1},
                                    {"type": "ineq", "fun": lambda x: cap - member @ x}],
                       options={"ftol": 1e-14, "maxiter": 500})
    assert np.abs(held.weights.to_numpy() - nearest.x).max() < 1e-4
    mvo = optimize("mvo", prices, composite.reindex(tickers), limits=limits)
    assert not any("nearest" in n for n in mvo.notes) and member @ mvo.weights.to_numpy() <= cap + 1e-4


def test_limits_that_cannot_be_met_raise_one_line_naming_the_group(scored_sample):
    prices, composite = _selected(scored_sample, "2019-06-28", n=8)
    tickers = list(prices.columns)
    health = [t for t in tickers if t in HEALTH]
    too_much = (GroupLimit("category", "Health Care", HEALTH, len(health) * 0.15 + 0.05, 1.0),)
    with pytest.raises(InfeasibleLimits) as info:
        optimize("mvo", prices, composite, limits=too_much)
    text = str(info.value)
    assert "\n" not in text and "category 'Health Care' needs at least" in text
    assert f"{len(health)} of the 8 selected tickers belong to it, at most 15.0% each" in text
    with pytest.raises(InfeasibleLimits, match="allows at most 1.0% but its .* selected tickers must each hold "
                                               "at least min_weight 2.0%"):
        optimize("minvar", prices, composite, limits=(GroupLimit("category", "All", frozenset(tickers), 0, 0.01),))


def test_selection_swaps_in_members_a_minimum_needs_and_out_those_a_maximum_cannot_hold(scored_sample):
    _, composite = scored_sample["2022-06-30"]
    top = select_top(composite, 8)
    energy = frozenset({"CVX", "RRC", "XOM"})
    outside = [t for t in select_top(composite, 25) if t in energy and t not in top]
    need = (GroupLimit("category", "Energy", energy, 0.25, 1.0),)
    got, swaps = meet_group_limits(top, composite, need, 0.02, 0.15)
    members = [t for t in got if t in energy]
    assert len(got) == 8 and len(members) >= 2  # 25% needs two tickers at 15% at most
    assert [s.added for s in swaps] == [t for t in outside][:len(swaps)]
    removed = [s.removed for s in swaps]
    assert removed == sorted(removed, key=lambda t: -list(composite.index).index(t))  # the worst go first
    # a maximum: at most 3% with a 2% floor leaves room for one member of the group
    crowd = frozenset(top[:4])
    got, swaps = meet_group_limits(top, composite, (GroupLimit("category", "Crowd", crowd, 0.0, 0.03),), 0.02, 0.15)
    assert len([t for t in got if t in crowd]) == 1 and len(got) == 8 and len(swaps) == 3


# --------------------------------------------------------------------------- the frontier


@pytest.mark.parametrize("as_of", AS_OF)
def test_frontier_points_are_pypfopts_efficient_return(scored_sample, as_of):
    prices, composite = _selected(scored_sample, as_of)
    cov, _ = shrunk_covariance(prices, 252)
    mu = expected_returns_from_scores(composite.reindex(cov.index), cov, information_coefficient=0.05,
                                      risk_aversion=1.5, risk_free_rate=0.0)
    frame = frontier_points(mu, cov, bounds=(0.02, 0.15), points=12)
    assert len(frame) == 12 and frame["return"].is_monotonic_increasing and frame["risk"].is_monotonic_increasing
    for risk, ret in frame.iloc[1:-1].itertuples(index=False):
        ef = EfficientFrontier(mu, cov, weight_bounds=(0.02, 0.15), solver="CLARABEL")
        ef.efficient_return(ret - 1e-12)
        assert ef.portfolio_performance()[1] == pytest.approx(risk, abs=1e-6)
    ef = EfficientFrontier(None, cov, weight_bounds=(0.02, 0.15), solver="CLARABEL")
    ef.min_volatility()
    assert ef.portfolio_performance()[1] == pytest.approx(frame["risk"].iloc[0], abs=1e-6)
    # group limits shrink the frontier: no point is better than the free one at the same return
    limited = frontier_points(mu, cov, bounds=(0.02, 0.15), limits=(GroupLimit("c", "US Factor", FACTOR_ETFS, 0, 0.3),),
                              points=12)
    assert limited["return"].max() <= frame["return"].max() + 1e-9


@pytest.mark.parametrize("as_of", AS_OF)
def test_riskparity_risk_budgets_from_the_config_set_each_tickers_share_of_risk(scored_sample, as_of):
    from optimizers.risk_based import risk_contributions

    prices, composite = _selected(scored_sample, as_of, n=6)
    tickers = list(prices.columns)
    budgets = {tickers[0]: 3.0, tickers[1]: 2.0}  # the other four have 1
    result = optimize("riskparity", prices, composite, max_weight=1.0, min_weight=0.0, risk_budgets=budgets)
    cov, _ = shrunk_covariance(prices, 252)
    share = risk_contributions(result.weights.to_numpy(), cov.to_numpy())
    wanted = np.array([3.0, 2.0, 1, 1, 1, 1]) / 9.0
    np.testing.assert_allclose(share, wanted, atol=1e-4)
