"""Guarded prices: a price the quality rules reject is never used to value or trade a position.

The quality check drops a ticker whose window holds an implausible one-day move, so it is not
scored; but a *held* ticker still needs a price to be valued, and the raw last close is exactly
the bad print (a close multiplied by 100 became a multi-million phantom SELL). :func:`guarded_closes`
walks each price series forward, as a run on each day would have seen it: a close that moves more
than ``max_move`` from the last good close is set aside (the last good close is used instead) until
the new level has held for ``confirm_days`` sessions, within ``max_move`` of its first close; then it
is the new level (a real move, or a split the source never adjusted). A close that comes back --
nearer the old level than the new one, in log terms, and within ``max_move`` of the old -- shows
the set-aside closes were bad prints. A zero, negative or non-finite close is always set aside.
Nothing looks ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ..labels import F64

__all__ = ["GuardHistory", "GuardedPrice", "Walk", "walk", "guarded_closes", "guard_latest", "suspicious_columns",
           "CONFIRM_DAYS"]

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


@dataclass(frozen=True)
class Walk:
    """What the guard saw at every row of one price series (:func:`walk`).

    Attributes
    ----------
    guarded : ndarray
        The close used at each row (the last good one while a new level is unconfirmed).
    used_row : ndarray of int
        Row of the close used at each row (-1 before the first good close).
    pending_start : ndarray of int
        Per row: the first row of a new level still unconfirmed after that row, or -1.
    pending_held : ndarray of int
        Per row: sessions that unconfirmed level has held so far (0 when none).
    set_aside_at : ndarray of int
        Per row: the row at which that row's close was found to be a bad print -- a new level that
        came back (or moved on) before it held ``confirm_days`` sessions -- or -1 when it never was.
        It is always later than the row itself, so a run on any day sees the same verdicts.
    """

    guarded: np.ndarray
    used_row: np.ndarray
    pending_start: np.ndarray
    pending_held: np.ndarray
    set_aside_at: np.ndarray


def walk(values: np.ndarray, max_move: float, confirm_days: int = CONFIRM_DAYS) -> Walk:
    """Walk one series forward as a run on each day would have seen it (module docstring)."""
    n = len(values)
    out = [math.nan] * n
    used_row = [-1] * n
    pending_start = np.full(n, -1, dtype=np.int64)
    pending_held = np.zeros(n, dtype=np.int64)
    set_aside_at = np.full(n, -1, dtype=np.int64)
    good, good_row = math.nan, -1
    pending: list[int] = []
    closes = np.asarray(values, dtype=F64).tolist()  # Python floats: the same doubles, far cheaper per row
    for t, v in enumerate(closes):
        if math.isfinite(v) and v > 0:
            if not math.isfinite(good) or (not pending and abs(v / good - 1.0) <= max_move):
                good, good_row = v, t
            elif not pending:
                pending = [t]
            else:
                level = closes[pending[0]]
                # nearer the old level than the new (numpy's log, as it always was)
                back = abs(np.log(v / good)) < abs(np.log(v / level))
                if back and abs(v / good - 1.0) <= max_move:
                    set_aside_at[pending] = t  # the new level came back before it held: bad prints
                    good, good_row, pending = v, t, []
                elif back or abs(v / level - 1.0) > max_move:
                    set_aside_at[pending] = t  # moved on to a third level: start counting again
                    pending = [t]
                else:
                    pending.append(t)
            if len(pending) >= confirm_days:
                good, good_row, pending = v, t, []
        # else: a gap or a bad print: carry the last good close
        out[t], used_row[t] = good, good_row
        if pending:
            pending_start[t], pending_held[t] = pending[0], len(pending)
    return Walk(np.array(out, dtype=F64), np.array(used_row, dtype=np.int64), pending_start, pending_held,
                set_aside_at)


def _walk(values: np.ndarray, max_move: float, confirm_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Guarded values and, per row, the row of the price used (-1 when none yet)."""
    seen = walk(values, max_move, confirm_days)
    return seen.guarded, seen.used_row


def guarded_closes(close: pd.DataFrame, max_move: float, *, confirm_days: int = CONFIRM_DAYS,
                   walks: "dict[int, Walk] | None" = None) -> pd.DataFrame:
    """``close`` with every set-aside close replaced by the last good one (see the module docstring).

    Parameters
    ----------
    close : DataFrame of shape (n_dates, n_tickers)
        Raw closes (NaN where there is no price).
    max_move : float
        The quality rules' ``max_daily_move``.
    confirm_days : int
        Sessions a new level must hold to be trusted.
    walks : dict of int to Walk, optional
        The walks of the columns :func:`suspicious_columns` names, by column position, each over
        all of ``close``'s rows with these ``max_move`` and ``confirm_days``, when the caller has
        them (the backtest's :meth:`~etftrader.prices.quality.QualityHistory.guard_walks`):
        the history is then not scanned a second time.

    Returns
    -------
    DataFrame of the same shape: NaN before a ticker's first good close; gaps carried forward.
    """
    values = close.to_numpy(dtype=F64)  # read only
    out = values.copy()
    if walks is None:
        walks = {int(j): walk(values[:, j], max_move, confirm_days)
                 for j in np.flatnonzero(suspicious_columns(values, max_move))}
    for j, seen in walks.items():
        out[:, j] = seen.guarded
    return pd.DataFrame(out, index=close.index, columns=close.columns).ffill()


def suspicious_columns(values: np.ndarray, max_move: float) -> np.ndarray:
    """Columns the guard could act on: a move above ``max_move`` between usable closes, or a bad close.

    Every other column's walk would return it unchanged, so only these are walked.
    """
    if values.size == 0:
        return np.zeros(values.shape[1] if values.ndim == 2 else 0, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = np.isfinite(values) & (values > 0)
        # Moves from the last usable close: a column usable throughout is its own forward fill
        # (most of a long universe), so only the others are filled.
        gappy = ~usable.all(axis=0)
        jumps = np.zeros(values.shape[1], dtype=bool)
        for cols, fill in ((~gappy, False), (gappy, True)):
            if cols.any():
                v = values[:, cols]
                prev = pd.DataFrame(np.where(usable[:, cols], v, np.nan)).ffill().to_numpy() if fill else v
                moves = np.abs(v[1:] / prev[:-1] - 1.0)
                jumps[cols] = ((moves > max_move) & np.isfinite(moves)).any(axis=0)
    return jumps | (~usable & ~np.isnan(values)).any(axis=0)


def guard_latest(series: pd.Series, max_move: float, *, confirm_days: int = CONFIRM_DAYS) -> GuardedPrice | None:
    """The guard's verdict on the last close of ``series``: None when it can be used as it is."""
    values = series.to_numpy(dtype=F64)
    present = np.flatnonzero(~np.isnan(values))
    if not len(present):
        return None
    last = int(present[-1])
    out, used_row = _walk(values[: last + 1], max_move, confirm_days)
    return _verdict(series, values, last, out, used_row, max_move, confirm_days)


def _verdict(series: pd.Series, values: np.ndarray, last: int, out: np.ndarray, used_row: np.ndarray,
             max_move: float, confirm_days: int) -> GuardedPrice | None:
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


class GuardHistory:
    """:func:`guard_latest` for every day of one price history, each ticker walked once.

    The walk decides a day from the closes up to it alone, so one walk over a ticker's whole
    history answers every day: the backtest asks about the same held tickers week after week.
    ``latest(series)`` takes a prefix of a column of ``close`` (``close[ticker].loc[:day]``) and
    gives what ``guard_latest(series, max_move)`` gives.
    """

    def __init__(self, close: pd.DataFrame, max_move: float, *, confirm_days: int = CONFIRM_DAYS):
        self.close, self.max_move, self.confirm_days = close, max_move, confirm_days
        self._walks: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def latest(self, series: pd.Series, max_move: float | None = None) -> GuardedPrice | None:
        name = str(series.name)
        n = len(series)
        prefix = (name in self.close.columns and 0 < n <= len(self.close)
                  and series.index[-1] == self.close.index[n - 1])
        if not prefix or (max_move is not None and max_move != self.max_move):
            return guard_latest(series, max_move if max_move is not None else self.max_move,
                                confirm_days=self.confirm_days)
        if name not in self._walks:
            values = self.close[name].to_numpy(dtype=F64)
            out, used_row = _walk(values, self.max_move, self.confirm_days)
            self._walks[name] = (values, out, used_row)
        values, out, used_row = self._walks[name]
        present = np.flatnonzero(~np.isnan(values[:n]))
        if not len(present):
            return None
        return _verdict(series, values, int(present[-1]), out, used_row, self.max_move, self.confirm_days)
