"""Guarded prices: a price the quality rules reject is never used to value or trade a position.

The quality check drops a ticker whose window holds an implausible one-day move, so it is not
scored; but a *held* ticker still needs a price to be valued, and the raw last close is exactly
the bad print (a close multiplied by 100 became a multi-million phantom SELL). :func:`guarded_closes`
walks each price series forward, as a run on each day would have seen it: a close that moves more
than ``max_move`` from the last good close is set aside (the last good close is used instead) until
the new level has held for ``confirm_days`` sessions, within ``max_move`` of each other; then it is
the new level (a real move, or a split the source never adjusted). A zero, negative or non-finite
close is always set aside. Nothing looks ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["GuardedPrice", "guarded_closes", "guard_latest", "CONFIRM_DAYS"]

#: sessions a new price level must hold before it is trusted
CONFIRM_DAYS = 3


@dataclass(frozen=True)
class GuardedPrice:
    """The latest close of a ticker set aside, and the price used instead."""

    ticker: str
    date: pd.Timestamp
    price: float
    used: float
    used_date: pd.Timestamp
    rule: str


def _walk(values: np.ndarray, max_move: float, confirm_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Guarded values and, per row, the row of the price used (-1 when none yet)."""
    out = np.full(values.shape, np.nan)
    used_row = np.full(values.shape, -1, dtype=int)
    good, good_row = np.nan, -1
    pending: list[int] = []
    for t, v in enumerate(values):
        if not (np.isfinite(v) and v > 0):
            out[t], used_row[t] = good, good_row  # a gap or a bad print: carry the last good close
            continue
        if not np.isfinite(good) or abs(v / good - 1.0) <= max_move:
            good, good_row, pending = v, t, []
        else:
            first = values[pending[0]] if pending else v
            if pending and abs(v / first - 1.0) > max_move:
                pending = []  # not the same new level: start counting again
            pending.append(t)
            if len(pending) >= confirm_days:
                good, good_row, pending = v, t, []
        out[t], used_row[t] = good, good_row
    return out, used_row


def guarded_closes(close: pd.DataFrame, max_move: float, *, confirm_days: int = CONFIRM_DAYS) -> pd.DataFrame:
    """``close`` with every set-aside close replaced by the last good one (see the module docstring).

    Parameters
    ----------
    close : DataFrame of shape (n_dates, n_tickers)
        Raw closes (NaN where there is no price).
    max_move : float
        The quality rules' ``max_daily_move``.
    confirm_days : int
        Sessions a new level must hold to be trusted.

    Returns
    -------
    DataFrame of the same shape: NaN before a ticker's first good close; gaps carried forward.
    """
    values = close.to_numpy(dtype="float64", copy=True)
    out = values.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        filled = pd.DataFrame(np.where(np.isfinite(values) & (values > 0), values, np.nan)).ffill().to_numpy()
        moves = np.abs(values[1:] / filled[:-1] - 1.0)
    suspicious = ((moves > max_move) & np.isfinite(moves)).any(axis=0) if len(values) > 1 else np.zeros(values.shape[1], bool)
    bad = ~(np.isfinite(values) & (values > 0))
    for j in range(values.shape[1]):
        if suspicious[j] or bad[:, j].any():
            out[:, j] = _walk(values[:, j], max_move, confirm_days)[0]
    return pd.DataFrame(out, index=close.index, columns=close.columns).ffill()


def guard_latest(series: pd.Series, max_move: float, *, confirm_days: int = CONFIRM_DAYS) -> GuardedPrice | None:
    """The guard's verdict on the last close of ``series``: None when it can be used as it is."""
    values = series.to_numpy(dtype="float64")
    present = np.flatnonzero(~np.isnan(values))
    if not len(present):
        return None
    last = int(present[-1])
    out, used_row = _walk(values[: last + 1], max_move, confirm_days)
    if used_row[last] == last:
        return None
    if used_row[last] < 0:
        return GuardedPrice(str(series.name), series.index[last], float(values[last]), float("nan"),
                            series.index[last], "no good price yet")
    price = float(values[last])
    rule = ("non-positive or non-finite price" if not (np.isfinite(price) and price > 0) else
            f"one-day move above {max_move:.0%} (not yet held {confirm_days} sessions)")
    return GuardedPrice(str(series.name), series.index[last], price, float(out[last]),
                        series.index[used_row[last]], rule)
