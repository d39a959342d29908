"""Fixtures of the optimizer tests: the real sample scored as the weekly run would score it."""

from __future__ import annotations

import pandas as pd
import pytest

from factors import score_universe

SEED_WEIGHTS = {"momentum": 0.30, "quality": 0.30, "value": 0.20, "volatility": 0.20}


@pytest.fixture(scope="session")
def scored_sample(sample_close):
    """``as_of -> (history up to as_of, composite scores)`` for a few dates inside the sample."""
    out = {}
    for as_of in ("2019-06-28", "2020-06-30", "2022-06-30"):
        history = sample_close.loc[:as_of]
        composite = score_universe(history, weights=SEED_WEIGHTS)["composite"]
        out[as_of] = (history, composite)
    return out
