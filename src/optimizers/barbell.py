"""The barbell: a defensive core plus a small aggressive sleeve of the strongest momentum.

Of the selected tickers, the ``size`` with the highest momentum score (the 12-1 month factor of
:mod:`factors`; the composite breaks ties and stands in when momentum is missing) form the
**aggressive sleeve**, held equally at ``cap`` in total (10% by default). Every other selected
ticker forms the **defensive core**, weighted by minimum variance (or HRP) on its own covariance and
scaled to ``1 - cap``: the core's weight goes to its lower-volatility, less correlated names.

The sleeve's size is kept where its equal weights fit the per-position bounds (``cap / size``
between the minimum and the maximum weight); the result says so in its notes when it had to change.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .base import clean_weights, fit_to_bounds, weight_bounds
from .limits import GroupLimit, check_feasible, project

__all__ = ["CORE_METHODS", "Barbell", "barbell_weights"]

#: how the core may be weighted
CORE_METHODS = ("minvar", "hrp")


@dataclass(frozen=True)
class Barbell:
    """Barbell weights in the order of the selected tickers, and the two sleeves."""

    weights: np.ndarray
    core: tuple[str, ...]
    sleeve: tuple[str, ...]
    notes: tuple[str, ...]


def barbell_weights(cov: pd.DataFrame, momentum: pd.Series, composite: pd.Series, *, cap: float, size: int,
                    core_method: str, bounds: tuple[float, float], solver: str,
                    current: np.ndarray | None = None, penalty: float = 0.0,
                    limits: Sequence[GroupLimit] = ()) -> Barbell:
    """Core-and-sleeve weights for the tickers of ``cov`` (its order).

    Parameters
    ----------
    cov : DataFrame of shape (n, n)
        Annualised covariance of the selected tickers.
    momentum, composite : Series
        Momentum and composite scores by ticker (NaN momentum falls back to the composite).
    cap : float
        The sleeve's total weight, in (0, 1).
    size : int
        Tickers wanted in the sleeve (at least 1).
    core_method : {"minvar", "hrp"}
    bounds : (float, float)
        Per-position bounds of the whole portfolio.
    solver : str
    current : ndarray of shape (n,), optional
        Weights held now; the core's minimum variance pays the turnover penalty against them.
    penalty : float
    limits : sequence of GroupLimit
        Group limits of the whole portfolio: the sleeve keeps its cap and the core is solved
        within what the sleeve leaves of each limit.

    Raises
    ------
    ValueError
        Fewer than two tickers, or a solve failed (the caller falls back).
    """
    from .min_variance import min_variance_weights
    from .risk_based import hrp_weights

    tickers = [str(t) for t in cov.index]
    n = len(tickers)
    if n < 2:
        raise ValueError("a barbell needs at least 2 tickers (a core and a sleeve)")
    lower, upper = bounds
    notes: list[str] = []
    # The sleeve's equal weight cap/k must lie within the bounds: k in [cap/upper, cap/lower].
    low_k = max(1, math.ceil(cap / upper - 1e-9))
    high_k = n - 1 if lower <= 0 else min(n - 1, math.floor(cap / lower + 1e-9))
    # ... and the core of n - k tickers must be able to hold 1 - cap at most `upper` each.
    high_k = min(high_k, math.floor(n - (1.0 - cap) / upper + 1e-9))
    if low_k > high_k:
        raise ValueError(f"no barbell fits {n} tickers within the bounds [{lower:.2%}, {upper:.2%}]: a {cap:.1%} "
                         f"sleeve needs {low_k}+ tickers and a {1 - cap:.1%} core at least "
                         f"{math.ceil((1 - cap) / upper - 1e-9)}")
    k = min(max(int(size), low_k), high_k)
    if k != size:
        notes.append(f"barbell sleeve holds {k} tickers instead of {size}: {cap:.1%} in {size} equal "
                     f"parts would fall outside the bounds [{lower:.2%}, {upper:.2%}]")
    strength = pd.to_numeric(momentum.reindex(tickers), errors="coerce")
    strength = strength.fillna(pd.to_numeric(composite.reindex(tickers), errors="coerce")).fillna(-np.inf)
    tiebreak = pd.to_numeric(composite.reindex(tickers), errors="coerce").fillna(-np.inf)
    order = sorted(range(n), key=lambda i: (-strength.iloc[i], -tiebreak.iloc[i], tickers[i]))
    sleeve_at = sorted(order[:k])
    core_at = [i for i in range(n) if i not in sleeve_at]

    core_share = 1.0 - cap
    core_cov = cov.iloc[core_at, core_at]
    c_lower, c_upper, c_notes = weight_bounds(len(core_at), upper / core_share, lower / core_share)
    notes += [f"barbell core: {text}" for text in c_notes if not text.startswith("max_weight raised")]
    core_limits = _core_limits(limits, [tickers[i] for i in sleeve_at], cap / k, core_share)
    core_names = [tickers[i] for i in core_at]
    if len(core_at) * upper / core_share <= 1.0 + 1e-9:
        # Every core ticker at the maximum weight is the only way the core holds 1 - cap.
        core = np.full(len(core_at), 1.0 / len(core_at))
        if core_limits:
            check_feasible(core_limits, core_names, 1.0 / len(core_at), 1.0 / len(core_at))
    elif core_method == "hrp":
        core, _ = hrp_weights(core_cov, bounds=(c_lower, c_upper))
        core = fit_to_bounds(core, c_lower, c_upper)
        if core_limits:
            check_feasible(core_limits, core_names, c_lower, c_upper)
            core = clean_weights(project(core, core_names, core_limits, c_lower, c_upper, solver), c_lower, c_upper)
    else:
        check_feasible(core_limits, core_names, c_lower, c_upper)
        core_current = None if current is None else np.asarray(current, dtype="float64")[core_at] / core_share
        core = min_variance_weights(core_cov, bounds=(c_lower, c_upper), solver=solver,
                                    current=core_current, penalty=penalty, limits=core_limits)
    weights = np.zeros(n)
    weights[core_at] = core * core_share
    weights[sleeve_at] = cap / k
    return Barbell(weights=weights, core=tuple(tickers[i] for i in core_at),
                   sleeve=tuple(tickers[i] for i in sleeve_at), notes=tuple(notes))


def _core_limits(limits: Sequence[GroupLimit], sleeve: list[str], each: float, core_share: float) -> list[GroupLimit]:
    """The whole portfolio's limits restated for the core (as shares of the core's weight)."""
    out = []
    for g in limits:
        held = each * sum(1 for t in sleeve if t in g.members)
        if held > g.high + 1e-9:
            raise ValueError(f"the barbell sleeve alone holds {held:.1%} of {g.label}, above its {g.high:.1%}")
        out.append(dataclasses.replace(g, low=max(0.0, (g.low - held) / core_share),
                                       high=min(1.0, (g.high - held) / core_share)))
    return out
