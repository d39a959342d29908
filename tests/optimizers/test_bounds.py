"""Weight bounds made feasible, and the bound-fitting used by rank weights and weight cleaning."""

from __future__ import annotations

import numpy as np
import pytest

from optimizers import weight_bounds
from optimizers.base import BOUND_MARGIN, fit_to_bounds


def test_bounds_kept_when_feasible():
    assert weight_bounds(10, 0.15, 0.02) == (0.02, 0.15, ())


def test_max_weight_raised_when_positions_cannot_reach_one():
    lower, upper, notes = weight_bounds(5, 0.15, 0.02)
    assert upper == pytest.approx(0.2 + BOUND_MARGIN)
    assert lower == 0.02
    assert len(notes) == 1 and "max_weight raised from 0.15" in notes[0]
    # exactly tight (10 x 0.1 = 1, not exactly in floats) is raised too
    assert weight_bounds(10, 0.1, 0.0)[1] == pytest.approx(0.1 + BOUND_MARGIN)


def test_min_weight_lowered_when_positions_would_exceed_one():
    lower, upper, notes = weight_bounds(60, 0.15, 0.02)
    assert lower == pytest.approx(0.5 / 60)
    assert upper == 0.15
    assert "min_weight lowered from 0.02" in notes[0]
    assert weight_bounds(50, 0.15, 0.02)[0] == pytest.approx(0.01)  # 50 x 0.02 == 1: no room


def test_one_position_holds_everything():
    assert weight_bounds(1, 0.15, 0.02) == (1.0, 1.0, ())


def test_fit_to_bounds_by_hand():
    # ranks 1..4 in [0.1, 0.35]: the top one is capped at 0.35 and the rest share 0.65 as 1:2:3.
    w = fit_to_bounds(np.array([1.0, 2.0, 3.0, 4.0]), 0.1, 0.35)
    np.testing.assert_allclose(w, [0.65 / 6, 1.3 / 6, 1.95 / 6, 0.35], rtol=1e-12)
    # and in [0.12, 0.35] the bottom one is lifted to its floor as well
    w = fit_to_bounds(np.array([1.0, 2.0, 3.0, 4.0]), 0.12, 0.35)
    np.testing.assert_allclose(w, [0.12, 0.53 * 2 / 5, 0.53 * 3 / 5, 0.35], rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_fit_to_bounds_invariants(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    raw = rng.exponential(size=n) * (rng.random(n) > 0.3)
    lower, upper, _ = weight_bounds(n, float(rng.uniform(0.01, 0.3)), float(rng.uniform(0, 0.03)))
    w = fit_to_bounds(raw, lower, upper)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w.min() >= lower - 1e-12 and w.max() <= upper + 1e-12
