"""select_top: best first, NaN skipped, ties by ticker, shortfall returned as is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizers import select_top


def test_best_first_with_ties_by_ticker_and_nan_skipped():
    scores = pd.Series({"DDD": np.nan, "BBB": 1.0, "AAA": 1.0, "CCC": 2.0, "EEE": -np.inf})
    assert select_top(scores, 3) == ["CCC", "AAA", "BBB"]
    assert select_top(scores, 1) == ["CCC"]


def test_independent_of_input_order():
    rng = np.random.default_rng(7)
    scores = pd.Series(rng.integers(0, 4, 30).astype(float), index=[f"T{i:02d}" for i in range(30)])
    shuffled = scores.sample(frac=1.0, random_state=3)
    assert select_top(scores, 10) == select_top(shuffled, 10)


def test_fewer_usable_than_asked_returns_them_all():
    scores = pd.Series({"A": 0.5, "B": np.nan, "C": 0.1})
    assert select_top(scores, 5) == ["A", "C"]
    assert select_top(pd.Series(dtype=float), 3) == []


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "3"])
def test_bad_n_is_refused(n):
    with pytest.raises(ValueError, match="`n` \\(number of positions\\) must be an integer >= 1"):
        select_top(pd.Series({"A": 1.0}), n)


def test_scores_must_be_a_series():
    with pytest.raises(TypeError, match="must be a pandas Series"):
        select_top({"A": 1.0}, 1)


def test_on_the_sample_matches_the_composite_order(scored_sample):
    _, composite = scored_sample["2020-06-30"]
    chosen = select_top(composite, 10)
    assert chosen == list(composite.sort_values(ascending=False, kind="stable").index[:10])


def test_the_order_is_score_then_ticker_on_many_draws_with_ties_and_signed_zeros():
    """Against the definition (highest score first, ties by ticker, NaN and infinities left
    out), on 300 random draws with many tied scores, -0.0 next to 0.0 and shuffled tickers."""
    rng = np.random.default_rng(8)
    for _ in range(300):
        k = int(rng.integers(1, 40))
        values = rng.choice([0.0, -0.0, 1.0, -1.0, 0.5, np.nan, np.inf], size=k) if rng.random() < 0.5 \
            else np.round(rng.normal(size=k), int(rng.integers(0, 3)))
        tickers = [f"T{i:02d}" for i in rng.permutation(k)]
        scores = pd.Series(values, index=tickers)
        n = int(rng.integers(1, k + 2))
        finite = [(t, v) for t, v in zip(tickers, values) if np.isfinite(v)]
        want = [t for t, _ in sorted(finite, key=lambda tv: (-tv[1], tv[0]))][:n]
        assert select_top(scores, n) == want
