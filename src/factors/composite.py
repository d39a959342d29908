"""The composite score: every factor, standardised across tickers, in one weighted number.

:func:`score_universe` computes the four factors from one shared price window, turns each into a
cross-sectional z-score clipped at ``+-winsor_z`` (so one extreme ETF cannot dominate the mix) and
takes their weighted mean. The raw factor values and the z-scores stay in the result so that an
analyst can see why an ETF ranks where it does.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping

import numpy as np
import pandas as pd

from .names import FACTOR_NAMES

from ._returns import check_lookback, check_prices, price_window, running_max, simple_returns, valid_columns
from ._momentum import momentum_from_window
from ._quality import quality_from_window
from ._value import value_from_window
from ._volatility import low_volatility_from_window

__all__ = ["FACTOR_NAMES", "SCORE_COLUMNS", "score_universe", "zscore"]

logger = logging.getLogger(__name__)

#: Factor names accepted in ``weights``, in column order.
#: Columns of the frame :func:`score_universe` returns, in order.
SCORE_COLUMNS: tuple[str, ...] = (*FACTOR_NAMES, *(f"{n}_z" for n in FACTOR_NAMES), "composite")

#: the score frame's column labels, built once: each frame gets a copy, which shares the labels'
#: lookup table (building it for every frame cost more than the rest of reading a column; the
#: backtest scores every week), and a name set on one frame's columns reaches no other
_SCORE_INDEX = pd.Index(list(SCORE_COLUMNS))
_SCORE_INDEX.get_loc("composite")


def zscore(values: np.ndarray, *, winsor_z: float = 3.0) -> np.ndarray:
    """Cross-sectional z-score of one factor, clipped to ``[-winsor_z, winsor_z]``.

    ``z = (x - mean(x)) / std(x, ddof=1)`` over the non-NaN entries; NaN stays NaN. When fewer
    than two tickers have a value, or all values are equal, the factor carries no information
    about the ranking and every available ticker gets z = 0.

    Parameters
    ----------
    values : ndarray of shape (n_tickers,)
        Raw factor values.
    winsor_z : float, default 3.0
        Clip bound (> 0; ``math.inf`` disables clipping).

    Returns
    -------
    ndarray of shape (n_tickers,)
    """
    values = np.asarray(values, dtype="float64")
    ok = ~np.isnan(values)
    out = np.full(values.shape, np.nan)
    if ok.sum() < 2:
        out[ok] = 0.0
        return out
    present = values[ok]
    spread = present.std(ddof=1)
    # A spread at rounding-noise level means "all equal"; dividing by it would invent a ranking.
    if not np.isfinite(spread) or spread <= 1e-12 * max(1.0, float(np.abs(present).max())):
        out[ok] = 0.0
        return out
    out[ok] = np.clip((present - present.mean()) / spread, -winsor_z, winsor_z)
    return out


def _normalise_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Factor weights scaled to sum to 1; a factor missing from ``weights`` weighs 0."""
    if not isinstance(weights, Mapping):
        raise TypeError(
            f"`weights` must be a mapping of factor name to weight, got {type(weights).__name__}"
        )
    unknown = sorted(set(weights) - set(FACTOR_NAMES))
    if unknown:
        raise ValueError(
            f"unknown factor(s) in `weights`: {', '.join(map(str, unknown))}; "
            f"valid: {', '.join(FACTOR_NAMES)}"
        )
    raw = {}
    for name in FACTOR_NAMES:
        w = weights.get(name, 0.0)
        if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) \
                or not math.isfinite(w) or w < 0:
            raise ValueError(f"factor weight `{name}` must be a finite number >= 0, got {w!r}")
        raw[name] = float(w)
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"factor `weights` must have a positive sum, got {dict(weights)}")
    return {name: w / total for name, w in raw.items()}


def score_universe(
    prices: pd.DataFrame,
    *,
    weights: Mapping[str, float],
    momentum_lookback: int = 252,
    momentum_skip: int = 21,
    quality_lookback: int = 252,
    value_lookback: int = 252,
    volatility_lookback: int = 60,
    winsor_z: float = 3.0,
    usable: bool = False,
) -> pd.DataFrame:
    """Score every ticker on the four factors and combine them into one composite.

    Each factor is computed as in :func:`factors.momentum`, :func:`factors.quality`,
    :func:`factors.value` and :func:`factors.low_volatility` (same formulas, same NaN policy), but
    from one shared window of the last ``max(lookbacks) + 1`` prices, so the cost does not grow
    with the length of the history and no factor recomputes another's returns.

    ``composite = sum(w_f * z_f)`` with the weights normalised to sum to 1. A ticker that lacks any
    factor with a positive weight gets a NaN composite (it sorts last and
    :func:`optimizers.select_top` skips it): re-normalising over the factors it has would rank an
    ETF with two months of history on low volatility alone against ETFs scored on all four.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Adjusted closes, dates ascending, one column per ticker.
    weights : mapping of str to float
        Weight per factor name (``momentum``, ``quality``, ``value``, ``volatility``), >= 0 with a
        positive sum; a missing name weighs 0. Example: the seed's
        ``{"momentum": 0.3, "quality": 0.3, "value": 0.2, "volatility": 0.2}``.
    momentum_lookback, momentum_skip : int, default 252, 21
        See :func:`factors.momentum`.
    quality_lookback : int, default 252
        See :func:`factors.quality`.
    value_lookback : int, default 252
        See :func:`factors.value`.
    volatility_lookback : int, default 60
        See :func:`factors.low_volatility`.
    winsor_z : float, default 3.0
        z-scores are clipped to ``[-winsor_z, winsor_z]`` before they are combined.
    usable : bool, default False
        ``prices`` holds only positive finite closes and NaN, as the quality step's cleaned
        prices do: the shared window is read in place instead of copied with the unusable
        prices set to NaN (the same numbers; the backtest scores every week).

    Returns
    -------
    DataFrame of shape (n_tickers, 9)
        Indexed by ``ticker``; columns ``momentum, quality, value, volatility`` (raw),
        ``momentum_z, quality_z, value_z, volatility_z`` (winsorized z) and ``composite``; sorted
        by composite descending, NaN last, ties by ticker.

    Raises
    ------
    TypeError, ValueError
        On a malformed price frame, unknown factor names, negative weights or bad lookbacks.
    """
    prices = check_prices(prices)
    shares = _normalise_weights(weights)
    momentum_lookback = check_lookback("momentum_lookback", momentum_lookback)
    momentum_skip = check_lookback("momentum_skip", momentum_skip, minimum=0)
    if momentum_skip >= momentum_lookback:
        raise ValueError(
            f"`momentum_skip` must be smaller than `momentum_lookback` ({momentum_lookback}), "
            f"got {momentum_skip}"
        )
    quality_lookback = check_lookback("quality_lookback", quality_lookback)
    value_lookback = check_lookback("value_lookback", value_lookback)
    volatility_lookback = check_lookback("volatility_lookback", volatility_lookback, minimum=2)
    if not (isinstance(winsor_z, (int, float)) and winsor_z > 0):
        raise ValueError(f"`winsor_z` must be a number > 0, got {winsor_z!r}")

    longest = max(momentum_lookback, quality_lookback, value_lookback, volatility_lookback)
    base = price_window(prices.to_numpy(), longest, usable=usable)
    whole = valid_columns(base)  # read once for the factors whose window is the longest

    def tail(lookback: int) -> np.ndarray:
        return base[-(lookback + 1):]

    def valid(lookback: int) -> np.ndarray:
        return whole if lookback == longest else valid_columns(tail(lookback))

    # Quality's running high over its window ends at each column's highest price: value's
    # denominator when the two windows are the same (a maximum is exact, so the same numbers).
    # A column with a missing price has NaN there, and scores NaN on both.
    quality_ok = valid(quality_lookback)
    running = running_max(tail(quality_lookback))
    raw = {
        "momentum": momentum_from_window(tail(momentum_lookback), momentum_skip, valid(momentum_lookback)),
        "quality": quality_from_window(tail(quality_lookback), quality_ok, running=running),
        "value": value_from_window(tail(value_lookback), valid(value_lookback),
                                   high=running[-1] if value_lookback == quality_lookback else None),
        "volatility": low_volatility_from_window(
            tail(volatility_lookback), simple_returns(tail(volatility_lookback))
        ),
    }
    z = {name: zscore(raw[name], winsor_z=float(winsor_z)) for name in FACTOR_NAMES}

    composite = np.zeros(len(prices.columns))
    for name, share in shares.items():
        if share > 0:
            # NaN propagates: a ticker missing a weighted factor gets no composite (see above).
            composite = composite + share * z[name]

    missing = int(np.isnan(composite).sum())
    if missing:
        logger.info("%d of %d tickers have no composite score (history shorter than a window)",
                    missing, len(composite))
    # Deterministic order: composite descending, NaN last, then ticker ascending.
    # (argsort of the index instead of a list of str: iterating 600 Arrow strings costs ms.)
    labels = pd.Index(prices.columns, name="ticker")
    ticker_rank = np.empty(len(labels), dtype=np.int64)
    if labels.dtype == object and labels.inferred_type == "string":
        # object labels (the backtest's): the same code-point order, without converting to Arrow
        by_name = np.argsort(labels.to_numpy(), kind="stable")
    else:
        by_name = np.asarray(labels.astype(str).argsort())
    ticker_rank[by_name] = np.arange(len(labels))
    key = np.where(np.isnan(composite), np.inf, -composite)
    order = np.lexsort((ticker_rank, key))
    columns = {**raw, **{f"{name}_z": z[name] for name in FACTOR_NAMES}, "composite": composite}
    # One float block, not a dict of thirteen columns, built in its final order: pandas builds it
    # several times faster, and the backtest scores every week.
    return pd.DataFrame(
        np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in SCORE_COLUMNS])[order],
        index=labels.take(order),
        columns=_SCORE_INDEX.copy(),
    )
