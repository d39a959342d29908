"""allocate_shares: PyPortfolioOpt's DiscreteAllocation, whole shares, never over budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import DiscreteAllocation

from optimizers import allocate_shares, optimize, select_top


def sample_target(scored_sample, as_of="2020-06-30", n=10):
    history, composite = scored_sample[as_of]
    tickers = select_top(composite, n)
    weights = optimize("mvo", history[tickers], composite).weights
    return weights, history[tickers].iloc[-1]


@pytest.mark.parametrize("total_value", [10_000, 250_000.0, 1_000_000])
def test_lp_matches_discrete_allocation_and_stays_in_budget(scored_sample, total_value):
    weights, prices = sample_target(scored_sample)
    shares = allocate_shares(weights, prices, total_value, method="lp")
    assert list(shares.index) == list(weights.index)
    assert shares.dtype == "int64" and shares.name == "shares"
    assert (shares >= 0).all()
    assert float((shares * prices).sum()) <= total_value
    reference, _ = DiscreteAllocation(dict(weights), prices[weights.index], total_value).lp_portfolio(
        solver="HIGHS")
    expected = pd.Series(reference, dtype="int64").reindex(weights.index, fill_value=0)
    pd.testing.assert_series_equal(shares, expected, check_names=False)
    # the fit is close: each position within one share's price (plus leftover) of its target
    gap = (shares * prices - weights * total_value).abs()
    assert (gap <= prices + 1e-6).all()


@pytest.mark.parametrize("as_of", ["2019-06-28", "2022-06-30"])
def test_greedy_matches_discrete_allocation(scored_sample, as_of):
    weights, prices = sample_target(scored_sample, as_of)
    shares = allocate_shares(weights, prices, 100_000)  # greedy is the default
    reference, _ = DiscreteAllocation(dict(weights), prices, 100_000).greedy_portfolio()
    expected = pd.Series(reference, dtype="int64").reindex(weights.index, fill_value=0)
    pd.testing.assert_series_equal(shares, expected, check_names=False)
    assert float((shares * prices).sum()) <= 100_000


def test_order_of_prices_does_not_matter():
    # lp_portfolio pairs weights and prices by position; a price Series in another order must
    # not buy the wrong ticker.
    weights = pd.Series({"AAA": 0.5, "BBB": 0.3, "CCC": 0.2})
    prices = pd.Series({"CCC": 5.0, "AAA": 100.0, "BBB": 20.0})
    for method in ("greedy", "lp"):
        shares = allocate_shares(weights, prices, 1_000, method=method)
        assert shares.to_dict() == {"AAA": 5, "BBB": 15, "CCC": 40}


@pytest.mark.parametrize("seed", range(6))
def test_prices_on_the_weights_own_index_buy_what_prices_by_ticker_buy(sample_close, seed):
    """Prices given on the weights' own index (the weekly plan's) are read as they are; the
    shares are those of the same prices in another order, with more tickers, or with a zero
    weight's price missing, share for share; a bad price is refused by either path."""
    rng = np.random.default_rng(40 + seed)
    day = sample_close.iloc[int(rng.integers(300, len(sample_close)))].dropna()
    tickers = list(rng.choice(day.index.astype(str), size=8, replace=False))
    weights = pd.Series(rng.dirichlet(np.ones(8)) * 0.98, index=tickers)
    weights.iloc[int(rng.integers(0, 8))] = 0.0
    prices = pd.Series(day.set_axis(day.index.astype(str))[tickers].to_numpy(dtype=float), index=weights.index)
    total = float(rng.choice([5_000.0, 80_000.0, 1_000_000.0]))
    shares = allocate_shares(weights, prices, total)
    wider = pd.concat([prices, pd.Series([10.0], index=["ZZZ"])]).iloc[rng.permutation(9)]
    for other in (prices.iloc[::-1], wider, prices[weights > 0]):
        pd.testing.assert_series_equal(allocate_shares(weights, other, total), shares, check_exact=True)
    bad = prices.copy()
    bad[weights.index[weights > 0][0]] = 0.0
    for given in (bad, bad.iloc[::-1]):
        with pytest.raises(ValueError, match="price > 0"):
            allocate_shares(weights, given, total)


def test_zero_weights_and_unaffordable_budgets():
    weights = pd.Series({"AAA": 0.6, "BBB": 0.4, "ZERO": 0.0})
    prices = pd.Series({"AAA": 300.0, "BBB": 500.0})  # no price needed for a zero weight
    assert allocate_shares(weights, prices, 100.0).tolist() == [0, 0, 0]
    assert allocate_shares(weights, prices, 100.0, method="lp").tolist() == [0, 0, 0]
    shares = allocate_shares(weights, prices, 1_000.0)
    assert shares["ZERO"] == 0 and float((shares * prices.reindex(shares.index, fill_value=0)).sum()) <= 1_000


def test_trims_if_the_solver_overspends(monkeypatch):
    import optimizers.allocation as allocation

    weights = pd.Series({"AAA": 0.5, "BBB": 0.5})
    prices = pd.Series({"AAA": 10.0, "BBB": 30.0})
    monkeypatch.setattr(allocation, "_allocate", lambda *a: {"AAA": 60, "BBB": 20})  # 1,200 > 1,000
    shares = allocate_shares(weights, prices, 1_000)
    assert float((shares * prices).sum()) <= 1_000
    # one share at a time from whichever position is most over its target: 50 x 10 + 16 x 30 = 980
    assert shares.to_dict() == {"AAA": 50, "BBB": 16}


def test_lp_failure_falls_back_to_greedy(monkeypatch):
    import optimizers.allocation as allocation

    monkeypatch.setattr(allocation, "LP_SOLVER", "SCS")  # not a mixed-integer solver
    weights = pd.Series({"AAA": 0.7, "BBB": 0.3})
    prices = pd.Series({"AAA": 10.0, "BBB": 7.0})
    shares = allocate_shares(weights, prices, 1_000, method="lp")
    reference, _ = DiscreteAllocation(dict(weights), prices, 1_000).greedy_portfolio()
    assert shares.to_dict() == reference


@pytest.mark.parametrize(
    ("weights", "prices", "total", "match"),
    [
        ({"A": -0.1, "B": 1.1}, {"A": 1.0, "B": 1.0}, 100, "must be >= 0 and not NaN; bad for: A"),
        ({"A": 0.7, "B": 0.7}, {"A": 1.0, "B": 1.0}, 100, "sum to at most 1, got 1.4"),
        ({"A": 0.5, "B": 0.5}, {"A": 1.0}, 100, "missing or bad for: B"),
        ({"A": 0.5, "B": 0.5}, {"A": 1.0, "B": 0.0}, 100, "missing or bad for: B"),
        ({"A": 1.0}, {"A": 1.0}, 0, "`total_value` must be a finite amount > 0"),
        ({"A": 1.0}, {"A": 1.0}, float("nan"), "`total_value` must be a finite amount > 0"),
    ],
)
def test_bad_input_is_refused(weights, prices, total, match):
    with pytest.raises(ValueError, match=match):
        allocate_shares(pd.Series(weights), pd.Series(prices, dtype=float), total)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown allocation method 'round'; valid: greedy, lp"):
        allocate_shares(pd.Series({"A": 1.0}), pd.Series({"A": 1.0}), 10, method="round")


@pytest.mark.parametrize("as_of", ["2019-06-28", "2020-06-30", "2022-06-30"])
@pytest.mark.parametrize("total_value", [3_000, 20_000, 1_000_000])
def test_greedy_never_exceeds_the_budget_and_fits_like_lp(scored_sample, as_of, total_value):
    weights, prices = sample_target(scored_sample, as_of)
    greedy = allocate_shares(weights, prices, total_value)
    lp = allocate_shares(weights, prices, total_value, method="lp")
    for shares in (greedy, lp):
        assert float((shares * prices).sum()) <= total_value
    error = {name: float((s * prices / total_value - weights).abs().sum())
             for name, s in (("greedy", greedy), ("lp", lp))}
    # the default's fit is close to the integer program's (the reason it is the default)
    assert error["greedy"] <= 1.5 * error["lp"] + 1e-3


@pytest.mark.parametrize("total_value", [50_000, 1_000_000, 10_000_000])
def test_greedy_matches_discrete_allocation_on_a_wide_equal_weight(total_value):
    """The backtest's equal weight: ~600 tickers at 1/N, string index as the price frames have it."""
    rng = np.random.default_rng(3)
    tickers = pd.Index([f"T{i:03d}" for i in range(600)], dtype="str")
    prices = pd.Series(np.exp(rng.uniform(1.0, 6.0, len(tickers))), index=tickers)
    weights = pd.Series(1.0 / len(tickers), index=tickers)
    got = allocate_shares(weights, prices, total_value)
    reference, _ = DiscreteAllocation(dict(weights), prices, total_value).greedy_portfolio()
    want = pd.Series(reference, dtype="int64").reindex(tickers, fill_value=0)
    assert (got.to_numpy() == want.to_numpy()).all()
    assert (got * prices).sum() <= total_value


def _library_greedy(weights: pd.Series, prices: pd.Series, total_value: float) -> dict:
    with np.errstate(invalid="ignore", divide="ignore"):
        allocation, _ = DiscreteAllocation(dict(weights), prices, total_value).greedy_portfolio()
    return dict(allocation)


@pytest.mark.parametrize("seed", range(12))
def test_greedy_is_the_librarys_greedy_step_for_step(seed):
    """Equal and unequal weights, ties, tight budgets (the unaffordable-asset search and its
    10-try limit) and loose ones: the same shares as greedy_portfolio itself."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    tickers = pd.Index([f"X{i:03d}" for i in range(n)], dtype="str")
    prices = pd.Series(np.round(np.exp(rng.uniform(0.0, 7.0, n)), 2), index=tickers)
    if seed % 3 == 0:
        weights = pd.Series(1.0 / n, index=tickers)
    else:
        raw = rng.dirichlet(np.ones(n))
        if seed % 3 == 2:
            raw = np.round(raw, 3) + 1e-4  # ties in the weights: the stable sort order matters
        weights = pd.Series(raw / raw.sum() * rng.uniform(0.9, 1.0), index=tickers)
    for total_value in (prices.min() * 3, prices.median() * n / 4, float(rng.uniform(1e4, 1e7))):
        if prices.min() > total_value:
            continue
        got = allocate_shares(weights, prices, float(total_value))
        want = _library_greedy(weights, prices, float(total_value))
        assert {t: int(v) for t, v in got.items() if v} == want, (seed, total_value)


# --- our greedy loop against PyPortfolioOpt's greedy_portfolio --------------------------------


def _library_counts(weights, prices, total):
    from pypfopt import DiscreteAllocation

    tickers = [f"T{i}" for i in range(len(weights))]
    allocator = DiscreteAllocation(dict(zip(tickers, weights.tolist())), pd.Series(prices, index=tickers), total)
    with np.errstate(invalid="ignore", divide="ignore"):
        allocation, leftover = allocator.greedy_portfolio()
    return np.array([allocation.get(t, 0) for t in tickers], dtype="int64")


def _cases():
    rng = np.random.default_rng(20261201)
    for k in range(300):
        n = int(rng.choice([1, 2, 3, 5, 8, 20, 60, 600]))
        kind = k % 5
        if kind == 0:   # equal weight: every weight the same (ties in the sort)
            w = np.full(n, 1.0 / n)
        elif kind == 1:  # a few names carry most of the weight
            w = rng.dirichlet(np.full(n, 0.3))
        else:
            w = rng.dirichlet(np.ones(n)) * rng.uniform(0.9, 1.0)  # some cash left
        prices = np.exp(rng.uniform(np.log(1.0), np.log(5000.0), n))
        total = float(rng.choice([500.0, 5_000.0, 100_000.0, 1_000_000.0, 37_123.45]))
        if kind == 3 and n > 1:
            prices[rng.integers(n)] = total * rng.uniform(1.01, 3.0)  # one price above the whole budget
        yield w, prices, total


def test_greedy_counts_are_the_librarys_on_many_cases():
    from optimizers.allocation import greedy_counts

    cases = list(_cases())
    assert len(cases) == 300
    differ = 0
    for w, prices, total in cases:
        if prices.min() > total:
            continue  # allocate_shares answers "nothing affordable" before either is asked
        got = greedy_counts(w, prices, total)
        want = _library_counts(w, prices, total)
        differ += not np.array_equal(got, want)
        np.testing.assert_array_equal(got, want, err_msg=f"n={len(w)} total={total}")
    assert differ == 0


def test_greedy_counts_on_the_edges():
    from optimizers.allocation import greedy_counts

    # one ticker; a budget that buys nothing in the first round; ties; a price equal to the budget
    for w, p, total in [
        (np.array([1.0]), np.array([33.0]), 1000.0),
        (np.array([0.5, 0.5]), np.array([700.0, 800.0]), 1000.0),
        (np.array([0.25] * 4), np.array([10.0, 10.0, 10.0, 10.0]), 95.0),
        (np.array([0.6, 0.4]), np.array([1000.0, 5.0]), 1000.0),
    ]:
        np.testing.assert_array_equal(greedy_counts(w, p, total), _library_counts(w, p, total))


def test_allocate_shares_on_the_sample_matches_the_library(sample_close):
    from optimizers.allocation import greedy_counts

    for day in ("2016-03-31", "2019-06-28", "2022-06-30"):
        prices = sample_close.loc[:day].iloc[-1].dropna()
        w = pd.Series(1.0 / len(prices), index=prices.index)
        for total in (20_000.0, 333_333.33, 1_000_000.0):
            got = allocate_shares(w, prices, total)
            want = _library_counts(w.to_numpy(), prices.to_numpy(), total)
            np.testing.assert_array_equal(got.to_numpy(), want)
            assert (got * prices).sum() <= total
    assert greedy_counts is not None
