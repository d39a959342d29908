"""hrp, riskparity and cvar on the real sample, against the libraries that define them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientCVaR, HRPOpt

from optimizers import FALLBACKS, optimize, select_top
from optimizers.base import shrunk_covariance
from optimizers.risk_based import risk_contributions

AS_OF = ("2019-06-28", "2020-06-30", "2022-06-30")


def _selected(scored_sample, as_of, n=8):
    history, composite = scored_sample[as_of]
    tickers = select_top(composite, n)
    return history[tickers].iloc[-253:], composite


@pytest.mark.parametrize("as_of", AS_OF)
def test_riskparity_contributions_are_equal(scored_sample, as_of):
    prices, composite = _selected(scored_sample, as_of)
    result = optimize("riskparity", prices, composite, max_weight=1.0, min_weight=0.0)
    assert result.method == "riskparity" and result.fallback_reason is None
    cov, _ = shrunk_covariance(prices, 252)
    rc = risk_contributions(result.weights.to_numpy(), cov.to_numpy())
    assert np.abs(rc - 1 / len(rc)).max() < 1e-4, rc
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("as_of", AS_OF)
def test_riskparity_is_skfolios_risk_budgeting(scored_sample, as_of):
    from skfolio.moments import LedoitWolf
    from skfolio.optimization import RiskBudgeting
    from skfolio.prior import EmpiricalPrior

    prices, composite = _selected(scored_sample, as_of)
    ours = optimize("riskparity", prices, composite, max_weight=1.0, min_weight=0.0).weights
    returns = prices.pct_change().dropna()
    model = RiskBudgeting(prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()))
    theirs = pd.Series(model.fit(returns).weights_, index=prices.columns)
    assert np.abs(ours - theirs).max() < 2e-3, pd.concat([ours, theirs], axis=1)


@pytest.mark.parametrize("as_of", AS_OF)
def test_hrp_is_pypfopts_hrp_on_the_same_risk_model(scored_sample, as_of):
    prices, composite = _selected(scored_sample, as_of)
    ours = optimize("hrp", prices, composite, max_weight=1.0, min_weight=0.0)
    cov, _ = shrunk_covariance(prices, 252)
    theirs = pd.Series(HRPOpt(cov_matrix=cov).optimize(linkage_method="single"))
    np.testing.assert_allclose(ours.weights.to_numpy(), theirs.reindex(prices.columns).to_numpy(), atol=1e-12)
    assert not ours.notes


def test_hrp_and_riskparity_are_fitted_into_the_bounds_and_say_so(scored_sample):
    prices, composite = _selected(scored_sample, "2020-06-30")
    for method in ("hrp", "riskparity"):
        result = optimize(method, prices, composite, max_weight=0.15, min_weight=0.05)
        w = result.weights
        assert w.max() <= 0.15 + 1e-9 and w.min() >= 0.05 - 1e-9 and w.sum() == pytest.approx(1.0)
        free = optimize(method, prices, composite, max_weight=1.0, min_weight=0.0).weights
        if free.max() > 0.15 or free.min() < 0.05:
            assert any("fitted into the bounds" in n for n in result.notes), result.notes


@pytest.mark.parametrize("as_of", AS_OF)
def test_cvar_is_pypfopts_min_cvar_and_beats_the_others_on_cvar(scored_sample, as_of):
    prices, composite = _selected(scored_sample, as_of)
    result = optimize("cvar", prices, composite, max_weight=0.3, min_weight=0.0, cvar_beta=0.95)
    assert result.method == "cvar"
    returns = pd.DataFrame(prices.to_numpy()[1:] / prices.to_numpy()[:-1] - 1, columns=prices.columns)

    def cvar(w):
        losses = -(returns.to_numpy() @ np.asarray(w))
        tail = np.sort(losses)[-int(np.ceil(0.05 * len(losses))):]
        return tail.mean()

    ef = EfficientCVaR(None, returns, beta=0.95, weight_bounds=(0.0, 0.3), solver="CLARABEL")
    ef.min_cvar()
    assert np.abs(result.weights.to_numpy() - np.asarray(ef.weights)).max() < 1e-3
    for other in ("minvar", "riskparity", "hrp"):
        w = optimize(other, prices, composite, max_weight=0.3, min_weight=0.0).weights
        assert cvar(result.weights) <= cvar(w) + 1e-6, other


def test_new_methods_fall_back_like_the_others(scored_sample):
    assert FALLBACKS["hrp"][1:] == FALLBACKS["riskparity"][1:] == FALLBACKS["cvar"][1:] == ("minvar", "rankbased", "equal")
    prices, composite = _selected(scored_sample, "2020-06-30")
    short = prices.iloc[-10:]  # too little history for a covariance: straight to rankbased
    for method in ("hrp", "riskparity", "cvar"):
        result = optimize(method, short, composite)
        assert result.method == "rankbased", method
        assert result.fallback_reason.startswith(f"{method} needs a covariance")


def test_cvar_beta_is_checked(scored_sample):
    prices, composite = _selected(scored_sample, "2020-06-30")
    with pytest.raises(ValueError, match="cvar_beta"):
        optimize("cvar", prices, composite, cvar_beta=1.2)
