"""The backtest's Ledoit-Wolf covariance against scikit-learn's own ``ledoit_wolf``, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf

from optimizers.base import ledoit_wolf_covariance


def _returns(window: np.ndarray) -> np.ndarray:
    daily = window[1:] / window[:-1] - 1.0
    return np.asfortranarray(daily[np.isfinite(daily).all(axis=1)])


def test_the_same_floats_as_sklearn_on_the_samples_windows(sample_close):
    """Every 40th year-long window of the sample, over several ticker subsets (2 to all 25),
    in both memory layouts: the covariance is scikit-learn's to the last bit."""
    values = sample_close.to_numpy(dtype="float64")
    subsets = [slice(0, 2), slice(0, 8), slice(3, 23), slice(0, 25), [1, 7, 13, 19, 24]]
    checked = 0
    for end in range(260, len(values), 40):
        for cols in subsets:
            returns = _returns(values[end - 253:end][:, cols])
            if len(returns) < 30:
                continue
            for layout in (np.asfortranarray, np.ascontiguousarray):
                x = layout(returns)
                assert ledoit_wolf_covariance(x).tobytes() == ledoit_wolf(x)[0].tobytes()
                checked += 1
    assert checked > 300


@pytest.mark.parametrize("shape", [(252, 1), (5, 3), (2, 2), (300, 1001), (30, 2), (253, 20), (60, 120), (253, 999)])
def test_the_edges_one_asset_few_days_and_sklearns_blocked_sums(shape):
    """One asset (scikit-learn's special case), fewer days than assets would need, the largest
    single block and more than 1,000 assets (its shrinkage sums in blocks of 1,000), in both
    layouts."""
    x = np.random.default_rng(4).normal(0.0, 0.01, shape)
    for layout in (np.asfortranarray, np.ascontiguousarray):
        assert ledoit_wolf_covariance(layout(x)).tobytes() == ledoit_wolf(layout(x))[0].tobytes()


def test_no_shrinkage_when_every_return_is_the_same():
    """Returns that never move (a zero product): the library's "no shrinkage" branch, and a
    shrinkage of 1 for uncorrelated columns of equal variance, both as scikit-learn."""
    flat = np.asfortranarray(np.full((253, 6), 0.001))
    assert ledoit_wolf_covariance(flat).tobytes() == ledoit_wolf(flat)[0].tobytes()
    signs = np.asfortranarray(np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]] * 10) * 0.01)
    assert ledoit_wolf_covariance(signs).tobytes() == ledoit_wolf(signs)[0].tobytes()
