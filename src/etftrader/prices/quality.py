"""Data-quality check: keep or drop every ticker, with the reason, before anything is scored.

:func:`check_quality` looks at each ticker's prices up to ``as_of`` (the *lookback window* is the
last ``min_history`` trading days) and drops it when a rule fires. Rules, in the order they are
reported (the first one that fires is the ticker's ``rule``; ``reason`` lists all of them):

=================  ==========================================================================
``not_delivered``  requested, but the source had no prices for it (delisted, renamed, typo)
``no_data``        no usable (finite, positive) price at all up to ``as_of``
``no_recent_data`` last price more than ``max(max_ffill_days, 3)`` business days before as_of
``short_history``  fewer than ``min_history`` trading days since its first price
``bad_price``      an infinite, zero or negative price in the lookback window
``missing_days``   more than ``max_missing_fraction`` of the window's trading days missing
``stale``          price unchanged for ``stale_days`` trading days in a row in the window
``jump``           a one-day move above ``max_daily_move`` in the last few sessions that has
                   not yet held (bad print or real move: not yet told apart), or a level shift
                   near a split ratio in the window that has not reverted (an unadjusted split)
``illiquid``       median daily dollar volume in the window below ``min_dollar_volume``
                   (only when the source has volume for the ticker)
=================  ==========================================================================

Kept tickers' prices are forward-filled over gaps of at most ``max_ffill_days`` trading days;
longer gaps stay NaN over their whole length. Bad values older than the window are set to NaN
and counted (``bad_values``), never used.

Jumps: a bad print, a real move and an unadjusted split
-------------------------------------------------------
A one-day move above ``max_daily_move`` is one of three things, and they are told apart by what
the price does next, never by the size of the move alone (a real 52% earnings-day move must not
exclude a stock for a year, nor must the threshold chosen move the results):

- **A bad print** comes back. The price guard (:mod:`etftrader.prices.guard`) sets a new level
  aside until it has held :data:`~etftrader.prices.guard.CONFIRM_DAYS` sessions; a level that comes
  back (or moves on) before then was a bad print. Its closes are *repaired*: set to NaN, counted in
  ``repaired_values``, and filled like any short gap. The ticker is kept.
- **A real move** holds. Until it has held ``CONFIRM_DAYS`` sessions it cannot be told from a bad
  print, and the ticker is dropped (``jump``) for those few sessions; then it is kept, the move in
  its prices.
- **An unadjusted split** holds at a level near a split ratio: a one-day ratio within
  :data:`SPLIT_TOLERANCE` of 1/r or r for r in :data:`SPLIT_RATIOS`, that does not come back
  (the next ``CONFIRM_DAYS - 1`` closes stay nearer the new level than the old). It is dropped
  while the shift is in the window -- its returns across the shift are wrong -- and kept as soon as
  the source adjusts its history. This part does not depend on ``max_daily_move``.

Every verdict uses only the prices up to the as-of date, so a run on any day and the backtest's
:class:`QualityHistory` agree. ``docs/jumps.md`` has the evidence.

Why one module of this size: every rule is written twice, as the one-date check the weekly run
uses and as its incremental twin the backtest walks week by week (:class:`QualityHistory`); the
two must give the same verdicts (``tests/prices/test_quality.py`` compares them), and that is
easiest to keep true with each rule's two forms side by side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import DataConfig
from .frame import PriceData, truncate
from .guard import CONFIRM_DAYS, Walk, suspicious_columns, walk
from ..labels import F64, I64

__all__ = ["QualityReport", "QualityHistory", "check_quality", "fill_short_gaps", "RULES", "HEALTH_COLUMNS",
           "recent_limit", "SPLIT_RATIOS", "SPLIT_TOLERANCE"]

#: split ratios a level shift is compared with (r:1 splits and 1:r reverse splits); 100 is a
#: change of units (pence for pounds), which leaves the same kind of shift
SPLIT_RATIOS = (2, 3, 4, 5, 10, 100)
#: how near a one-day ratio must be to 1/r or r to look like a split: a split on a day the stock
#: also moved more than this is taken for a real move
SPLIT_TOLERANCE = 0.05

#: rule code -> short description (the CLI prints counts by rule with these)
RULES = {
    "not_delivered": "not delivered by the source",
    "no_data": "no usable price",
    "no_recent_data": "no price near the as-of date",
    "short_history": "too little history",
    "bad_price": "infinite or non-positive price",
    "missing_days": "too many missing days",
    "stale": "stale (unchanging) price",
    "jump": "unconfirmed one-day jump or unadjusted split",
    "illiquid": "thin liquidity",
}

HEALTH_COLUMNS = (
    "ticker", "status", "rule", "reason", "first_date", "last_date", "observations",
    "window_days", "missing_fraction", "longest_flat_run", "max_abs_return", "max_move_date",
    "bad_values", "repaired_values", "median_dollar_volume", "filled_days",
)


def recent_limit(config: DataConfig) -> int:
    """Business days a ticker's last price may lag ``as_of`` (holiday weekends need 3)."""
    return max(config.max_ffill_days, 3)


@dataclass(frozen=True)
class QualityReport:
    """Outcome of :func:`check_quality`.

    Attributes
    ----------
    prices : DataFrame of shape (n_dates, n_kept)
        Kept tickers up to ``as_of``, bad values masked, gaps of at most ``ffill_limit`` days filled.
    health : DataFrame
        One row per ticker (sorted by ticker), columns :data:`HEALTH_COLUMNS`.
    kept : list of str
        Tickers that passed, sorted.
    dropped : DataFrame
        ``ticker, reason`` of the tickers that failed (``rule`` too), sorted by ticker.
    as_of : Timestamp or None
        Date checked against (the last date in the data when not given).
    ffill_limit : int
        Longest gap (trading days) that was forward-filled.
    min_history : int
        Trading days of history required.
    """

    prices: pd.DataFrame
    health: pd.DataFrame
    kept: list[str]
    dropped: pd.DataFrame
    as_of: pd.Timestamp | None
    ffill_limit: int
    min_history: int
    notes: tuple[str, ...] = field(default=())

    def counts_by_rule(self) -> pd.Series:
        """Dropped tickers per rule code, most frequent first."""
        return self.dropped["rule"].value_counts().sort_values(ascending=False, kind="stable")

    def health_table(self) -> pd.DataFrame:
        """``health`` in a form that reads well in a CSV or Excel: ISO dates, rounded floats."""
        table = self.health.copy()
        for col in ("first_date", "last_date", "max_move_date"):
            table[col] = table[col].map(lambda v: "" if pd.isna(v) else pd.Timestamp(v).date().isoformat())
        for col in ("missing_fraction", "max_abs_return"):
            table[col] = table[col].round(6)
        table["median_dollar_volume"] = table["median_dollar_volume"].round(0)
        return table

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`health_table` to ``path`` atomically; returns the path."""
        from ..files import replacing

        path = Path(path)
        with replacing(path) as tmp:
            self.health_table().to_csv(tmp, index=False, lineterminator="\n")
        return path


def check_quality(data: PriceData, config: DataConfig, *, min_history: int,
                  as_of: date | None = None) -> QualityReport:
    """Keep or drop each ticker of ``data`` with a reason.

    Parameters
    ----------
    data : PriceData
        Prices as loaded (``data.failed`` tickers are reported as ``not_delivered``).
    config : DataConfig
        Thresholds: ``max_ffill_days``, ``max_missing_fraction``, ``stale_days``,
        ``max_daily_move``, ``min_dollar_volume``.
    min_history : int
        Trading days a ticker needs (the longest factor lookback + 1); also the window length.
    as_of : date, optional
        Only data up to this date is used; default the last date in ``data``.

    Returns
    -------
    QualityReport
    """
    if min_history < 2:
        raise ValueError(f"`min_history` must be at least 2 trading days, got {min_history}")
    close = truncate(data.close, as_of)
    values = _float_values(close)
    rows_with_data = ~np.isnan(values).all(axis=1) if values.shape[1] else np.zeros(len(values), bool)
    if not rows_with_data.all():
        close, values = close.iloc[rows_with_data], values[rows_with_data]
    as_of_ts = pd.Timestamp(as_of) if as_of is not None else (close.index.max() if len(close) else None)
    volume = None
    if data.volume is not None:
        volume = truncate(data.volume, as_of).reindex(index=close.index, columns=close.columns)
        volume = _float_values(volume)

    # Bad prints are repaired (set to NaN, then filled like a short gap); an unconfirmed new level
    # and a split-like shift are judged in _metrics (module docstring, "Jumps").
    walks = _walks(values, config.max_daily_move)
    repaired = np.zeros(values.shape[1], dtype=I64)
    if walks:
        values = values.copy(order="K")  # keep the layout (see the prices frame below)
        for j, seen in walks.items():
            rows = np.flatnonzero(seen.set_aside_at >= 0)
            values[rows, j] = np.nan
            repaired[j] = len(rows)
    jumps = {"repaired": repaired, **_pending_at(walks, values, len(values) - 1, values.shape[1])}
    metrics = _metrics(values, close.index, list(close.columns), volume,
                       min_history=min_history, as_of=as_of_ts, jumps=jumps)
    health = _health_rows(metrics, close.columns, data.failed, config, min_history)
    kept_mask = health["status"].to_numpy() == "kept"
    kept = health.loc[kept_mask, "ticker"].tolist()

    positions = close.columns.get_indexer(kept)
    kept_values = values[:, positions]
    with np.errstate(invalid="ignore"):
        usable = np.where(np.isfinite(kept_values) & (kept_values > 0), kept_values, np.nan)
    filled_values = _fill_short_gaps(usable, config.max_ffill_days)
    health.loc[kept_mask, "filled_days"] = (
        ~np.isnan(filled_values) & np.isnan(usable)).sum(axis=0).astype(I64)
    # copy=False: filled_values is this call's own array (pandas 3 would copy it again).
    # Column-major, as pandas' copy would lay it out: the frame's layout decides the summation
    # order of later reductions (factor scores), which must not move by a bit. Usually no copy:
    # the closes are column-major already and _fill_short_gaps keeps their layout.
    prices = pd.DataFrame(np.asfortranarray(filled_values), index=close.index,
                          columns=pd.Index(kept, dtype=str), copy=False)
    if kept:
        rows = ~np.isnan(filled_values).all(axis=1)
        if not rows.all():
            prices = prices.loc[rows]
    dropped = health.loc[~kept_mask, ["ticker", "rule", "reason"]].reset_index(drop=True)
    return QualityReport(prices=prices, health=health, kept=kept, dropped=dropped, as_of=as_of_ts,
                         ffill_limit=config.max_ffill_days, min_history=min_history, notes=data.notes)


class QualityHistory:
    """:func:`check_quality` at many as-of dates of one :class:`PriceData` (the weekly backtest).

    ``QualityHistory(data, config, min_history=m).at(d)`` returns exactly what
    ``check_quality(data, config, min_history=m, as_of=d)`` returns -- the same kept and dropped
    tickers, health table and cleaned prices, to the bit -- without re-scanning the whole history
    at every date. What looks at every row is done once for the whole history: running counts of
    usable and bad prices, the last usable row up to each row, and the short-gap fill. The fill
    of a gap closed by ``d`` does not depend on ``d``; only a gap still open at ``d`` (the last
    days before ``d`` missing) can differ, and it is filled or left at ``d`` by its length so far,
    as a direct call would. The window rules (``min_history`` rows) are computed at each date as
    :func:`check_quality` computes them.

    Parameters
    ----------
    data : PriceData
        Prices as loaded, all dates.
    config : DataConfig
        Thresholds, as for :func:`check_quality`.
    min_history : int
        As for :func:`check_quality`.
    """

    def __init__(self, data: PriceData, config: DataConfig, *, min_history: int):
        if min_history < 2:
            raise ValueError(f"`min_history` must be at least 2 trading days, got {min_history}")
        self._data, self._config, self._min_history = data, config, min_history
        close = data.close
        values = _float_values(close)
        # A row with no price at all is dropped by check_quality whatever the as-of date, so the
        # rows a date sees are a prefix of the rows kept here.
        rows_with_data = ~np.isnan(values).all(axis=1) if values.shape[1] else np.zeros(len(values), bool)
        # The first row with no price: a date before it sees the loaded index as it is; a date
        # after it, the index filtered as check_quality filters it (pandas keeps the index's freq
        # when the rows kept form one slice, so it is filtered the same way, not cut from ours).
        self._clean_rows = int(np.argmin(rows_with_data)) if not rows_with_data.all() else len(values)
        self._every_row = bool(rows_with_data.all())
        self._rows_with_data = rows_with_data
        if not rows_with_data.all():
            close, values = close.iloc[rows_with_data], values[rows_with_data]
        self._close, self._values = close, values
        self._tickers = list(close.columns)
        self._position = {t: i for i, t in enumerate(self._tickers)}
        self._labels: dict[tuple, pd.Index] = {}  # the last kept tickers' column labels (immutable)
        self._buffer: list | None = None  # the light report's prices (_prices, shared=True)
        self._has: np.ndarray | None = None  # where the whole-history fill has a price (_prices)
        self._store: np.ndarray | None = None  # ... and the memory they live in
        self._drops: pd.DataFrame | tuple | None = None  # the last date's dropped frame (last_dropped)
        self._volume = None
        if data.volume is not None:
            self._volume = _float_values(data.volume.reindex(index=close.index, columns=close.columns))
        n, k = values.shape
        self._dates = close.index.to_numpy(dtype="datetime64[ns]")
        present = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(values) & (values > 0)
        self._has_any = valid.any(axis=0)
        self._first = np.where(self._has_any, valid.argmax(axis=0) if n else 0, n)
        self._bad = _running(np.add, present & ~valid)
        rows = np.arange(n, dtype=np.int32)[:, None]  # row numbers (int32: half the memory)
        # A bad print is never a ticker's first or last usable close at any date (its level is set
        # aside from a good close, and found out at a later good one), so first and last rows are
        # read off the raw prices; the count of usable closes at a date leaves out the closes
        # repaired by then. The guard's walk looks only backwards: its verdicts at a date are
        # those of a walk over the prices up to that date, as check_quality walks them.
        self._last = _running(np.maximum, np.where(valid, rows, -1)) if n else np.zeros((0, k), int)
        self._walks = _walks(values, config.max_daily_move)
        repaired_by = np.zeros((n, k), dtype=np.int32)
        repaired_valid = valid.copy()
        for j, seen in self._walks.items():
            found = seen.set_aside_at[seen.set_aside_at >= 0]
            repaired_by[:, j] = np.cumsum(np.bincount(found, minlength=n)[:n])
            repaired_valid[seen.set_aside_at >= 0, j] = False
        self._repaired_by = repaired_by
        self._cum_valid = _running(np.add, valid)
        self._observations = self._cum_valid - repaired_by
        # The whole-history repair and fill, cut at a date, is that date's for every ticker kept
        # there: a close set aside only after the date belongs to a level still unconfirmed at it,
        # and such a ticker is dropped (the jump rule).
        usable = np.where(repaired_valid, values, np.nan)
        self._filled = np.asfortranarray(_fill_short_gaps(usable, config.max_ffill_days))
        self._filled_count = _running(np.add, ~np.isnan(self._filled) & ~repaired_valid)
        self._window_history(values, valid, present)

    def guard_walks(self) -> dict[int, Walk] | None:
        """The price guard's walks (:func:`etftrader.prices.guard.walk`, ``max_daily_move`` and the
        default confirmation) of the columns it could act on, by column position of the loaded
        closes: what :func:`~etftrader.prices.guard.guarded_closes` walks. None when rows with
        no price at all were left out here (these walks are then over fewer rows)."""
        return dict(self._walks) if self._every_row else None

    def _window_history(self, values: np.ndarray, valid: np.ndarray, present: np.ndarray) -> None:
        """What the window rules read, once for the whole history, for the columns the guard never
        repairs (the rest are computed at each date, as check_quality computes them).

        A window's one-day returns are the whole history's, except at its first usable close (its
        previous close lies before the window); so are its flat runs, cut at that close. Counts
        in the window are differences of running counts. Only the few columns with a flat run or
        a split-sized move in the window are looked at row by row.
        """
        n, k = values.shape
        walked = np.zeros(k, dtype=bool)
        walked[list(self._walks)] = True
        self._slow, self._fast = np.flatnonzero(walked), np.flatnonzero(~walked)
        rows = np.arange(n, dtype=np.int32)[:, None]  # row numbers (int32: half the memory)
        self._valid = valid
        # the first usable row at or after each row (n: none)
        self._next = _running(np.minimum, np.where(valid, rows, n)[::-1])[::-1] if n else np.zeros((0, k), dtype=int)
        step, ratio = self._ratios()
        with np.errstate(invalid="ignore"):
            low, high = (1.0 + SPLIT_TOLERANCE) / min(SPLIT_RATIOS), (1.0 - SPLIT_TOLERANCE) * min(SPLIT_RATIOS)
            big = step & ((ratio <= low) | (ratio >= high))
        self._abs_ret = None  # |returns|: on the first health table (_window)
        flat = step & (ratio == 1.0)  # a return of exactly zero (ratio - 1 is exact near 1)
        del ratio
        self._cum_flat = _running(np.add, flat)
        # run lengths only where there is a flat day at all (column-major: a week reads a block
        # of rows of a column)
        self._flat_runs = np.zeros((n, k), dtype=np.int32, order="F")
        some = np.flatnonzero(self._cum_flat[-1] > 0) if n else np.zeros(0, dtype=int)
        if len(some):
            self._flat_runs[:, some] = _run_lengths(flat[:, some])
        self._cum_big = _running(np.add, big)
        self._dollar = None
        if self._volume is not None:
            with np.errstate(invalid="ignore"):
                # in the prices' own layout first (an output of the other layout is written
                # element by element, twice as slow), then column-major as a week reads it
                dollar = np.multiply(values, self._volume)
                dollar[~(valid & ~np.isnan(self._volume))] = np.nan
                self._dollar = np.asfortranarray(dollar)
                del dollar
                # running counts of the days with a dollar volume, and of those below the limit
                self._cum_dollars = _running(np.add, ~np.isnan(self._dollar))
                self._cum_under = _running(np.add, self._dollar < self._config.min_dollar_volume)

    def _ratios(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row and column: whether there is a usable close and one before it, and the ratio of
        the close to the last usable one before it (what a window's one-day returns are made of)."""
        values, n = self._values, len(self._values)
        step = self._valid.copy()
        ratio = np.empty(values.shape)
        if n:
            ratio[0] = np.nan
            step[0] = False
            step[1:] &= self._last[:-1] >= 0
            with np.errstate(invalid="ignore", divide="ignore"):
                np.divide(values[1:], np.take_along_axis(values, np.maximum(self._last[:-1], 0), axis=0),
                          out=ratio[1:])
        return step, ratio

    def _window(self, n: int, start: np.ndarray, w_start: int, repair: dict, *,
                light: bool = False) -> dict[str, np.ndarray]:
        """:func:`_window_stats` of the window of rows ``w_start`` to ``n - 1``, every column.

        ``light`` (the backtest's report, no health table), for the columns never repaired: the
        largest move and its row are left out (``max_abs``, ``jump_row``: NaN and -1; no rule
        reads them), and the median dollar volume is only computed where it is below
        ``min_dollar_volume`` (NaN elsewhere: the liquidity rule fires there, its reason quotes it).
        """
        k = len(self._tickers)
        out = {"bad_in_window": np.zeros(k, dtype=I64), "missing": np.zeros(k, dtype=I64),
               "longest_flat": np.zeros(k, dtype=I64), "max_abs": np.full(k, np.nan),
               "jump_row": np.full(k, -1, dtype=I64), "split_row": np.full(k, -1, dtype=I64),
               "split_ratio": np.full(k, np.nan), "median_dv": np.full(k, np.nan)}
        slow, cols, end = self._slow, self._fast, n - 1
        if len(slow):
            volume = self._volume[w_start:n, slow] if self._volume is not None else None
            part = _window_stats(self._values[w_start:n, slow], start[slow] - w_start, volume,
                                 {i: repair[j][w_start:n] for i, j in enumerate(slow.tolist())}, n)
            for name, v in part.items():
                out[name][slow] = v
        if not len(cols):
            return out
        st = start[cols]
        inside = st <= end
        before = np.maximum(st - 1, 0)

        def since_start(running: np.ndarray) -> np.ndarray:  # count over rows start..end
            return np.where(inside, running[end, cols] - np.where(st > 0, running[before, cols], 0), 0)

        out["bad_in_window"][cols] = since_start(self._bad)  # present & ~valid, running
        out["missing"][cols] = np.maximum(n - st, 0) - since_start(self._cum_valid)
        first = self._next[w_start, cols]  # the window's first usable row: no return there
        has = first <= end
        if not light:
            if self._abs_ret is None:  # column-major: a week reads a block of rows of each column
                step, ratio = self._ratios()
                with np.errstate(invalid="ignore"):
                    self._abs_ret = np.asfortranarray(np.where(step, np.abs(ratio - 1.0), -1.0))
            size = self._abs_ret.T[cols, w_start:n]  # one row per column (a copy)
            rel = np.where(has, first - w_start, 0)
            size[np.flatnonzero(has), rel[has]] = -1.0
            if size.shape[1]:
                row = size.argmax(axis=1)
                top = size[np.arange(len(cols)), row]
                some = top >= 0.0
                out["max_abs"][cols] = np.where(some, top, np.nan)
                out["jump_row"][cols] = np.where(some, row, -1)
        after = np.minimum(first, end)

        def after_first(running: np.ndarray) -> np.ndarray:  # count over the rows after the first
            return np.where(has, running[end, cols] - running[after, cols], 0)

        flat = np.flatnonzero(after_first(self._cum_flat) > 0)
        if len(flat):
            runs = self._flat_runs.T[cols[flat], w_start:n]
            cap = np.arange(w_start, n)[None, :] - first[flat][:, None]
            out["longest_flat"][cols[flat]] = np.maximum(np.minimum(runs, cap), 0).max(axis=1)
        big = np.flatnonzero(after_first(self._cum_big) > 0)
        if len(big):
            c = cols[big]
            w_ok = self._valid[w_start:n, c]
            carried = _ffill(np.where(w_ok, self._values[w_start:n, c], np.nan))
            prev = np.vstack([np.full((1, len(c)), np.nan), carried[:-1]])
            out["split_row"][c], out["split_ratio"][c] = _split_shifts(carried, prev, w_ok & ~np.isnan(prev))
        if self._dollar is not None:
            if light:
                # The median is below the limit when more than half the numbers are, and not
                # when fewer than half are (the two middle numbers of an even count are then
                # both on one side): only the columns between need the median itself. Both
                # counts are differences of running counts.
                def in_window(running: np.ndarray) -> np.ndarray:
                    return running[end, cols] - (running[w_start - 1, cols] if w_start > 0 else 0)

                count, under = in_window(self._cum_dollars), in_window(self._cum_under)
                need = cols[(count > 0) & (under >= (count + 1) // 2)]
                if len(need):
                    out["median_dv"][need] = _nanmedian_columns(self._dollar.T[need, w_start:n].T)
                return out
            dollar = self._dollar.T[cols, w_start:n].T
            known = ~np.isnan(dollar).all(axis=0)
            if known.any():
                out["median_dv"][cols[known]] = _nanmedian_columns(dollar[:, known])
        return out

    def at(self, as_of: date, *, health: bool = True, dropped: bool = True) -> QualityReport:
        """The :class:`QualityReport` of ``check_quality(data, config, as_of=as_of)``.

        ``health=False`` leaves the report's ``health`` None and builds only what the backtest
        reads (the prices and the ``dropped`` tickers with their reasons, the same as with it):
        the health table of every ticker costs more than the rest of the week's check at scale.
        Its ``prices`` are a read-only view that the next ``health=False`` call may change: read
        them before asking for the next date (the backtest's loop does; copy them to keep them).
        With ``dropped=False`` (with or without the health table), the report's ``dropped`` is
        None: :meth:`last_dropped` builds it when it is wanted (the backtest reads the reasons
        only for a held ticker set aside).
        """
        self._drops = None  # until this date's are known (a date that raises has none)
        as_of_ts = pd.Timestamp(as_of)
        n = int(self._close.index.searchsorted(as_of_ts, side="right"))
        # Dates out of order (even only through a row with no price, which the rows kept here
        # leave out) are check_quality's to cut as it cuts them: the rows a date sees are then
        # not a prefix of the history.
        if n == 0 or not self._values.shape[1] or not self._data.close.index.is_monotonic_increasing:
            report = check_quality(self._data, self._config, min_history=self._min_history, as_of=as_of)
            self._drops = report.dropped
            return report if dropped else replace(report, dropped=None)
        config, end = self._config, n - 1
        values = self._values[:n]
        has_valid = self._has_any & (self._first <= end)
        whole = {
            "has_valid": has_valid,
            "first_idx": np.where(has_valid, self._first, n),
            "last_idx": self._last[end],
            "observations": self._observations[end],
            "bad_values": self._bad[end],
        }
        loaded = self._data.close.index  # the rows up to the as-of date, as truncate() cuts them
        raw = loaded[:int(loaded.searchsorted(as_of_ts, side="right"))]
        index = raw if len(raw) <= self._clean_rows else raw[self._rows_with_data[:len(raw)]]
        volume = self._volume[:n] if self._volume is not None else None
        # The closes repaired by the as-of date, as check_quality repairs them (window rows only).
        repair = {j: seen.set_aside_at[:n] for j, seen in self._walks.items()}
        jumps = {"repaired": self._repaired_by[end].copy(), "repair": repair,
                 **_pending_at(self._walks, values, end, values.shape[1])}
        w_start = max(n - self._min_history, 0)
        window = self._window(n, np.maximum(whole["first_idx"], w_start), w_start, repair, light=not health)
        metrics = _metrics(values, index, self._tickers, volume, min_history=self._min_history,
                           as_of=as_of_ts, whole=whole, jumps=jumps, window=window)
        if not health:
            return self._light(metrics, values, index, n, end, config, as_of_ts, dropped)
        health = _health_rows(metrics, self._close.columns, self._data.failed, config, self._min_history)
        kept_mask = health["status"].to_numpy() == "kept"
        kept = health["ticker"].to_numpy(dtype=object)[kept_mask].tolist()
        prices, filled_days = self._prices(kept, values, index, n, end, config)
        health.loc[kept_mask, "filled_days"] = filled_days.astype(I64)
        drops = self._drops = health.loc[~kept_mask, ["ticker", "rule", "reason"]].reset_index(drop=True)
        return QualityReport(prices=prices, health=health, kept=kept, dropped=drops if dropped else None,
                             as_of=as_of_ts, ffill_limit=config.max_ffill_days, min_history=self._min_history,
                             notes=self._data.notes)

    def _light(self, metrics: dict, values: np.ndarray, index: pd.Index, n: int, end: int,
               config: DataConfig, as_of: pd.Timestamp, dropped: bool = True) -> QualityReport:
        """:meth:`at` without the health table: the health rows (verdicts and reasons) of the
        tickers some rule fires on and of those not delivered, every other ticker kept (built
        now, or by :meth:`last_dropped` when ``dropped`` is False)."""
        fires = _health_rows(metrics, self._close.columns, {}, config, self._min_history, fired_only=True)
        tickers = np.asarray(metrics["ticker"], dtype=object)
        known = set(tickers.tolist())
        missing = {t: r for t, r in self._data.failed.items() if t not in known}
        if fires.any() or missing:
            self._drops = (metrics, fires, missing, config)  # the reasons, formatted when asked
        else:  # most weeks: a shallow copy of one empty frame (copy-on-write keeps it as it is)
            self._drops = _no_drops().copy(deep=False)
        kept = sorted(tickers[~fires].tolist())
        prices = self._prices(kept, values, index, n, end, config, shared=True)[0]
        return QualityReport(prices=prices, health=None, kept=kept,
                             dropped=self.last_dropped() if dropped else None, as_of=as_of,
                             ffill_limit=config.max_ffill_days, min_history=self._min_history,
                             notes=self._data.notes)

    def last_dropped(self) -> pd.DataFrame:
        """The ``dropped`` frame (``ticker, rule, reason``) of the last date :meth:`at` was asked
        for, the same as its report's; built on the first call when it was asked with
        ``dropped=False``. None before any date, and after a date that raised."""
        if isinstance(self._drops, tuple):
            metrics, fires, missing, config = self._drops
            subset = {name: np.asarray(v)[fires] for name, v in metrics.items()}
            self._drops = _health_rows(subset, self._close.columns, missing, config, self._min_history, brief=True)
        return self._drops

    def _prices(self, kept: list, values: np.ndarray, index: pd.Index, n: int, end: int, config: DataConfig,
                *, shared: bool = False):
        """The cleaned closes of ``kept`` up to row ``end``, and the days filled per kept ticker.

        ``shared``: the frame is a read-only view of a buffer of the kept tickers' whole history,
        which the next call with the same kept tickers reuses (changing the rows it handed out
        at their end): read it before the next call. This saves copying the whole history of
        every kept ticker every week of a backtest (the kept tickers change seldom).
        """
        key = tuple(kept)
        if shared:
            buffer = self._buffer
            if buffer is not None:  # the gaps still open at the last call's date, as they were
                for j, col, start, stop in buffer[3]:
                    buffer[1][start:stop, j] = self._filled[start:stop, col]
                buffer[3].clear()
            if buffer is None or buffer[0] != key:
                # The whole-history fill of the kept columns, column-major as check_quality lays
                # it out, in one block reused from call to call: only the columns that are not
                # already in their place are copied (the kept tickers change by a few at a time).
                positions = np.array([self._position[t] for t in kept], dtype="intp")
                if self._store is None:
                    self._store = np.empty(self._filled.shape, order="F")
                whole = self._store[:, :len(kept)]
                old = buffer[4] if buffer is not None else positions[:0]
                self._buffer = None  # until the columns are in place (an interrupted copy rebuilds)
                common = min(len(old), len(positions))
                moved = np.flatnonzero(positions[:common] != old[:common]).tolist() + list(range(common, len(kept)))
                for j in moved:
                    whole[:, j] = self._filled[:, positions[j]]
                # How many kept columns have a price on each row, kept up to date by the tickers that
                # came and went (a count does not depend on the columns' order): the rows with any.
                if self._has is None:
                    self._has = ~np.isnan(self._filled)
                came = np.setdiff1d(positions, old, assume_unique=True)
                went = np.setdiff1d(old, positions, assume_unique=True)
                counts = buffer[5] if buffer is not None else np.zeros(len(whole), dtype=np.int32)
                if len(came):
                    counts = counts + self._has[:, came].sum(axis=1, dtype=np.int32)
                if len(went):
                    counts = counts - self._has[:, went].sum(axis=1, dtype=np.int32)
                buffer = self._buffer = [key, whole, counts > 0 if kept else None, [], positions, counts]
            _, whole, rows_with_price, dirty, positions, _ = buffer
            filled_values = whole[:n]
            rows = rows_with_price[:n].copy() if kept else None
        else:
            positions = np.array([self._position[t] for t in kept], dtype="intp")
            # The whole-history fill, cut at the as-of date (column-major, as check_quality lays it out).
            filled_values = np.asfortranarray(self._filled.T[positions, :n].T)
        filled_days = self._filled_count[end, positions]
        # A gap still open at the as-of date is as long as it is so far: filled when that is short
        # enough (the whole-history fill may have left it, the gap running on past the date).
        last = self._last[end, positions]
        open_len = end - last
        limit = config.max_ffill_days
        for j in np.flatnonzero((open_len > 0) & (open_len <= limit) & (last >= 0)):
            col, start = positions[j], last[j] + 1
            filled_values[start:n, j] = values[last[j], col]
            filled_days[j] = (self._filled_count[start - 1, col] if start > 0 else 0) + open_len[j]
            if shared:
                dirty.append((j, col, start, n))
                rows[start:n] = True
        labels = self._labels.get(key)
        if labels is None:  # the kept tickers change seldom from one date to the next
            labels = pd.Index(kept, dtype=object if self._close.columns.dtype == object else str)  # as the caller's
            self._labels = {key: labels}
        if shared:
            filled_values = filled_values.view()
            filled_values.flags.writeable = False
        elif kept:
            rows = ~np.isnan(filled_values).all(axis=1)
        prices = pd.DataFrame(filled_values, index=index, columns=labels, copy=False)
        if kept and not rows.all():
            prices = prices.loc[rows]
        return prices, filled_days


def _running(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
    """``ufunc.accumulate(values, axis=0)`` (add on a boolean array: running counts, as int32 -- a
    history has far fewer than 2**31 rows, and the counts are half the memory).

    Row-major arrays (the usual layout of a loaded price file) are accumulated a row at a time:
    numpy's accumulate down the columns of one walks element by element, 5 to 10 times slower
    on the whole history. Integers and maxima are exact, so the numbers are the same.
    """
    if values.flags.f_contiguous or values.ndim != 2 or not len(values):
        if values.dtype == bool:  # int32 kept (numpy would widen the sum to int64)
            return ufunc.accumulate(values.astype(np.int32), axis=0, dtype=np.int32)
        return ufunc.accumulate(values, axis=0)
    out = values.astype(np.int32 if values.dtype == bool else values.dtype, order="C")  # one copy
    for i in range(1, len(out)):
        ufunc(out[i - 1], out[i], out=out[i])
    return out


def _float_values(frame: pd.DataFrame) -> np.ndarray:
    """``frame`` as a float64 array with NaN for missing; read-only use.

    All-float64 frames (what every source delivers) are read without the copy ``na_value=``
    forces: NaN is already their missing value (the backtest calls this every week).
    """
    if len(frame.columns) and all(dtype == np.float64 for dtype in frame.dtypes):
        return frame.to_numpy(dtype=F64)
    return frame.to_numpy(dtype=F64, na_value=np.nan)


def _metrics(values: np.ndarray, index: pd.DatetimeIndex, tickers: list[str],
             volume: np.ndarray | None, *, min_history: int,
             as_of: pd.Timestamp | None, whole: dict[str, np.ndarray] | None = None,
             jumps: dict | None = None, window: dict | None = None) -> dict[str, np.ndarray]:
    """Per-ticker statistics, vectorised over columns (the backtest calls this every week).

    Only first/last dates and counts look at the whole history (``whole``, computed here from
    ``values`` unless given: :class:`QualityHistory` reads them off running counts); everything
    else looks at the last ``min_history`` rows (``window``, the :func:`_window_stats` of those
    rows, computed here unless given), so that part does not grow with the history.
    """
    n, k = values.shape
    if whole is None:
        whole = _whole_history(values)
    has_valid, first_idx, last_idx = whole["has_valid"], whole["first_idx"], whole["last_idx"]
    bad_total = whole["bad_values"]

    w_start = max(n - min_history, 0)
    start = np.maximum(first_idx, w_start)  # window per ticker: from its first price at the earliest
    window_days = np.maximum(n - start, 0)
    jumps = jumps or {}
    if window is None:
        repair = {j: set_aside_at[w_start:n] for j, set_aside_at in (jumps.get("repair") or {}).items()}
        window = _window_stats(values[w_start:], start - w_start, volume[w_start:] if volume is not None else None,
                               repair, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        missing_fraction = np.where(window_days > 0, window["missing"] / np.maximum(window_days, 1), np.nan)
    jump_idx = np.where(window["jump_row"] >= 0, window["jump_row"] + w_start, -1)
    split_idx = np.where(window["split_row"] >= 0, window["split_row"] + w_start, -1)
    longest_flat, max_abs, split_ratio = window["longest_flat"], window["max_abs"], window["split_ratio"]
    bad_in_window, median_dv = window["bad_in_window"], window["median_dv"]
    pending_row = jumps.get("pending_row", np.full(k, -1))

    dates = index.to_numpy(dtype="datetime64[ns]")  # read once for the five date columns below
    first_date = _dates_at(dates, np.where(first_idx < n, first_idx, -1))
    last_date = _dates_at(dates, last_idx)
    move_date = _dates_at(dates, jump_idx)
    lag = np.full(k, -1)
    if as_of is not None:
        day_after = (last_date + np.timedelta64(1, "D")).astype("datetime64[D]")
        end = np.datetime64(as_of.date(), "D") + np.timedelta64(1, "D")
        ok = ~np.isnat(last_date)
        lag[ok] = np.busday_count(day_after[ok], end)
    return {
        "ticker": np.array(tickers, dtype=object),
        "has_valid": has_valid,
        "first_date": first_date,
        "last_date": last_date,
        "observations": whole["observations"].astype(I64),
        "span_days": np.where(has_valid, n - first_idx, 0).astype(I64),
        "window_days": window_days.astype(I64),
        "missing_fraction": missing_fraction.astype(F64),
        "longest_flat_run": longest_flat.astype(I64),
        "max_abs_return": max_abs.astype(F64),
        "max_move_date": move_date,
        "bad_values": bad_total.astype(I64),
        "repaired_values": jumps.get("repaired", np.zeros(k, dtype=I64)).astype(I64),
        "bad_in_window": bad_in_window,
        # a split-like shift that is the unconfirmed level itself is described as unconfirmed
        "jump_kind": np.where((split_idx >= 0) & ~((pending_row >= 0) & (split_idx >= pending_row)), 2,
                              np.where(pending_row >= 0, 1, 0)),
        "pending_date": _dates_at(dates, pending_row),
        "pending_move": jumps.get("pending_move", np.full(k, np.nan)),
        "pending_held": jumps.get("pending_held", np.zeros(k, dtype=I64)),
        "split_date": _dates_at(dates, split_idx),
        "split_ratio": split_ratio,
        "median_dollar_volume": median_dv,
        "lag_days": lag,
    }


def _window_stats(w_vals: np.ndarray, start: np.ndarray, w_vol: np.ndarray | None, repair: dict,
                  n: int) -> dict[str, np.ndarray]:
    """The window rules' statistics per column of the window ``w_vals``, the rows before row ``n``
    (rows here are window-relative): a column's window starts at its row ``start`` (its first
    price at the earliest).

    ``repair``: column -> the (absolute) row at which each window close was found to be a bad
    print (-1 never); those found before row ``n`` are NaN here. Every statistic is computed column
    by column, so any subset of columns gives the same figures as the whole (:class:`QualityHistory`
    relies on it).
    """
    k = w_vals.shape[1]
    if repair:
        # closes found to be bad prints by the as-of date (the window's rows of them) are NaN
        w_vals = w_vals.copy()
        for j, found in repair.items():
            w_vals[(found >= 0) & (found < n), j] = np.nan
    w_present = ~np.isnan(w_vals)
    with np.errstate(invalid="ignore"):
        w_valid = np.isfinite(w_vals) & (w_vals > 0)
    in_window = np.arange(len(w_vals))[:, None] >= start[None, :]
    w_ok = w_valid & in_window

    bad_in_window = (w_present & ~w_valid & in_window).sum(axis=0)
    missing = (~w_valid & in_window).sum(axis=0)

    # Flat runs and jumps on usable prices only, carried over gaps so a gap is not a "move".
    carried = _ffill(np.where(w_ok, w_vals, np.nan))
    prev = np.vstack([np.full((1, k), np.nan), carried[:-1]]) if len(carried) else carried
    step_ok = w_ok & ~np.isnan(prev)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.where(step_ok, carried / prev - 1.0, np.nan)
    longest_flat = _longest_true_run(step_ok & (ret == 0.0))
    abs_ret = np.where(step_ok, np.abs(ret), -1.0)
    any_ret = step_ok.any(axis=0)
    jump_row = abs_ret.argmax(axis=0) if len(abs_ret) else np.zeros(k, dtype=int)
    max_abs = np.where(any_ret, abs_ret[jump_row, np.arange(k)] if len(abs_ret) else np.nan, np.nan)
    split_row, split_ratio = _split_shifts(carried, prev, step_ok)

    median_dv = np.full(k, np.nan)
    if w_vol is not None and len(w_vals):
        dollar = np.where(w_ok & ~np.isnan(w_vol), w_vals * w_vol, np.nan)
        known = ~np.isnan(dollar).all(axis=0)
        if known.any():
            median_dv[known] = _nanmedian_columns(dollar[:, known])
    return {"bad_in_window": bad_in_window, "missing": missing, "longest_flat": longest_flat,
            "max_abs": max_abs, "jump_row": np.where(any_ret, jump_row, -1), "split_row": split_row,
            "split_ratio": split_ratio, "median_dv": median_dv}


def _whole_history(values: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics of :func:`_metrics` that look at every row: first/last usable row, counts."""
    n = values.shape[0]
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (values > 0)
    has_valid = valid.any(axis=0)
    return {
        "has_valid": has_valid,
        "first_idx": np.where(has_valid, valid.argmax(axis=0) if n else 0, n),
        "last_idx": np.where(has_valid, n - 1 - valid[::-1].argmax(axis=0) if n else 0, -1),
        "observations": valid.sum(axis=0),
        "bad_values": (present & ~valid).sum(axis=0),
    }


def _walks(values: np.ndarray, max_move: float) -> dict[int, Walk]:
    """The guard's walk of every column it could act on (the rest it would leave as they are)."""
    return {int(j): walk(values[:, j], max_move) for j in np.flatnonzero(suspicious_columns(values, max_move))}


def _pending_at(walks: dict[int, Walk], values: np.ndarray, end: int, k: int) -> dict[str, np.ndarray]:
    """Per column: the first row of a level still unconfirmed at row ``end``, its move and sessions held."""
    row = np.full(k, -1, dtype=I64)
    held = np.zeros(k, dtype=I64)
    move = np.full(k, np.nan)
    if end >= 0:
        for j, seen in walks.items():
            first = seen.pending_start[end]
            if first >= 0:
                row[j], held[j] = first, seen.pending_held[end]
                move[j] = values[first, j] / seen.guarded[end] - 1.0
    return {"pending_row": row, "pending_held": held, "pending_move": move}


def _split_ratio_near(ratio: np.ndarray) -> np.ndarray:
    """True where a one-day price ratio is within SPLIT_TOLERANCE of 1/r or r, r in SPLIT_RATIOS."""
    near = np.zeros(ratio.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for r in SPLIT_RATIOS:
            near |= (np.abs(ratio * r - 1.0) <= SPLIT_TOLERANCE) | (np.abs(ratio / r - 1.0) <= SPLIT_TOLERANCE)
    return near


def _split_shifts(carried: np.ndarray, prev: np.ndarray, step_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of the window: the latest row of a split-like shift that holds, and its ratio.

    A shift holds when the level before it had held (the closes before it in the window, up to
    ``CONFIRM_DAYS - 1`` of them, are nearer the old level than the new, in log terms) and the new
    one holds (the same for the closes after it). Closes not yet seen do not count against it: a
    split-like drop on the as-of date already holds, as no close says otherwise.
    """
    k = carried.shape[1] if carried.ndim == 2 else 0
    rows, ratios = np.full(k, -1, dtype=I64), np.full(k, np.nan)
    if not carried.size:
        return rows, ratios
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = carried / prev
        # Every split ratio is at least 2 (or at most 1/2), so only moves beyond these bounds can
        # be near one: a cheap filter before the exact test (this runs every backtest week).
        low, high = (1.0 + SPLIT_TOLERANCE) / min(SPLIT_RATIOS), (1.0 - SPLIT_TOLERANCE) * min(SPLIT_RATIOS)
        big = step_ok & ((ratio <= low) | (ratio >= high))
    rows_big, cols_big = np.nonzero(big)
    near = _split_ratio_near(ratio[rows_big, cols_big])
    span = CONFIRM_DAYS - 1
    for i, j in zip(rows_big[near], cols_big[near]):  # row-major: a column's latest shift wins
        old, new = prev[i, j], carried[i, j]
        around = np.concatenate([carried[max(i - span, 0):i, j], carried[i + 1:i + 1 + span, j]])
        nearer_old = np.abs(np.log(around / old)) < np.abs(np.log(around / new))
        before = min(span, i)
        if nearer_old[:before].all() and not nearer_old[before:].any():
            rows[j], ratios[j] = i, ratio[i, j]
    return rows, ratios


def _nanmedian_columns(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=0)`` for columns with at least one number, bit for bit.

    nanmedian goes through masked arrays for short columns (argsort, take_along_axis), every week
    of a backtest. Same arithmetic here: the middle
    value, or the two middle values summed and halved (an odd count's middle is x + x halved,
    which is x exactly), on a plain sort that puts NaN last.
    """
    ordered = np.sort(values, axis=0)
    counts = (~np.isnan(values)).sum(axis=0)
    high = counts // 2
    low = np.where(counts % 2 == 1, high, high - 1)
    cols = np.arange(values.shape[1])
    return (ordered[low, cols] + ordered[high, cols]) / 2.0


def _dates_at(index: pd.DatetimeIndex | np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Dates at ``positions`` of ``index`` (NaT where the position is -1)."""
    values = np.asarray(index, dtype="datetime64[ns]")
    out = np.full(len(positions), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = positions >= 0
    out[ok] = values[positions[ok]]
    return out


def _health_rows(m: dict[str, np.ndarray], columns, failed: dict[str, str], config: DataConfig,
                 min_history: int, *, fired_only: bool = False, brief: bool = False) -> pd.DataFrame | np.ndarray:
    """The health table: one row per ticker (and per ticker not delivered), sorted by ticker, with
    its status, first rule, reasons and figures. ``fired_only``: only the boolean mask of the
    tickers some rule fires on (by position). ``brief``: only the ``ticker, rule, reason``
    columns of the dropped tickers (the rows a ``status != "kept"`` selection gives, renumbered)."""
    limit = recent_limit(config)
    with np.errstate(invalid="ignore"):
        checks = [
            ("no_data", ~m["has_valid"], lambda r: "no finite positive price up to the as-of date"),
            ("no_recent_data", m["has_valid"] & (m["lag_days"] > limit),
             lambda r: f"last price {_day(r['last_date'])} is {r['lag_days']} business days before "
                       f"the as-of date (limit {limit})"),
            ("short_history", m["has_valid"] & (m["span_days"] < min_history),
             lambda r: f"{r['span_days']} trading days of history, needs {min_history}"),
            ("bad_price", m["bad_in_window"] > 0,
             lambda r: f"{r['bad_in_window']} infinite, zero or negative price(s) in the last "
                       f"{r['window_days']} days"),
            ("missing_days", m["missing_fraction"] > config.max_missing_fraction,
             lambda r: f"{r['missing_fraction']:.1%} of the last {r['window_days']} trading days missing "
                       f"(limit {config.max_missing_fraction:.0%})"),
            ("stale", m["longest_flat_run"] >= config.stale_days,
             lambda r: f"price unchanged for {r['longest_flat_run']} trading days in a row "
                       f"(limit {config.stale_days})"),
            ("jump", m["jump_kind"] > 0, lambda r: _describe_jump(r, config)),
            ("illiquid", m["median_dollar_volume"] < config.min_dollar_volume,
             lambda r: f"median dollar volume {r['median_dollar_volume']:,.0f} below "
                       f"{config.min_dollar_volume:,.0f}"),
        ]
    k = len(m["ticker"])
    if fired_only:  # the tickers some rule drops, and not-delivered ones, are all that can be dropped
        fires = np.zeros(k, dtype=bool)
        for _, fired, _ in checks:
            fires |= np.asarray(fired, dtype=bool)
        return fires
    rules: list[list[str]] = [[] for _ in range(k)]
    reasons: list[list[str]] = [[] for _ in range(k)]
    for code, fired, describe in checks:
        for pos in np.flatnonzero(fired):
            rules[pos].append(code)
            reasons[pos].append(describe(_Row(m, pos)))
    tickers = list(m["ticker"])
    status = ["dropped" if r else "kept" for r in rules]
    rule = [r[0] if r else "" for r in rules]
    reason = ["; ".join(r) for r in reasons]
    known = set(tickers)
    extra = [t for t in failed if t not in known]
    cols = {name: m[name] for name in HEALTH_COLUMNS if name in m and name != "ticker"}
    if extra:
        tickers += extra
        status += ["dropped"] * len(extra)
        rule += ["not_delivered"] * len(extra)
        reason += [str(failed[t]) for t in extra]
        blank = {np.dtype("datetime64[ns]"): np.datetime64("NaT", "ns"), np.dtype("float64"): np.nan}
        cols = {name: np.concatenate([v, np.full(len(extra), blank.get(v.dtype, 0), dtype=v.dtype)])
                for name, v in cols.items()}
    order = np.argsort(np.array(tickers, dtype=object), kind="stable")
    if brief:  # the dropped tickers' verdicts only: ticker, rule, reason (what the backtest reads)
        order = [i for i in order.tolist() if i >= k or rules[i]]
        if not order:  # most weeks: a shallow copy of one empty frame (copy-on-write keeps it as it is)
            return _no_drops().copy(deep=False)
        return pd.DataFrame({name: pd.array(np.array(values, dtype=object)[order], dtype=str) for name, values in
                             (("ticker", tickers), ("rule", rule), ("reason", reason))})
    data = {"ticker": np.array(tickers, dtype=object)[order], "status": np.array(status, dtype=object)[order],
            "rule": np.array(rule, dtype=object)[order], "reason": np.array(reason, dtype=object)[order],
            "filled_days": np.zeros(len(tickers), dtype=I64)}
    data.update({name: v[order] for name, v in cols.items()})
    health = pd.DataFrame({name: data[name] for name in HEALTH_COLUMNS})
    for name in ("ticker", "status", "rule", "reason"):
        health[name] = health[name].astype(str)
    return health


class _Row:
    """One ticker's figures of a metrics table, read by name (a reason quotes two or three of
    the twenty-five: the row is not copied out for it)."""

    __slots__ = ("_m", "_pos")

    def __init__(self, m: dict[str, np.ndarray], pos: int):
        self._m, self._pos = m, pos

    def __getitem__(self, name: str):
        return self._m[name][self._pos]


@functools.lru_cache(maxsize=1)
def _no_drops() -> pd.DataFrame:
    """The ``ticker, rule, reason`` frame of a date that drops nothing."""
    return pd.DataFrame({name: pd.array([], dtype=str) for name in ("ticker", "rule", "reason")})


def _describe_jump(r: dict, config: DataConfig) -> str:
    if r["jump_kind"] == 2:
        ratio = float(r["split_ratio"])
        size = min(SPLIT_RATIOS, key=lambda v: abs(abs(np.log(ratio)) - np.log(v)))
        split = f"a {size}:1 split" if ratio < 1 else f"a 1:{size} reverse split"
        return (f"price ratio {ratio:.3f} on {_day(r['split_date'])}, near {split}, has not reverted; "
                f"looks like an unadjusted split")
    return (f"one-day move of {r['pending_move']:+.0%} on {_day(r['pending_date'])} (limit "
            f"{config.max_daily_move:.0%}) has held {r['pending_held']} of {CONFIRM_DAYS} sessions: "
            f"a bad print or a real move, not yet told apart")


def _day(value) -> str:
    return pd.Timestamp(value).date().isoformat()


def fill_short_gaps(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """Forward-fill runs of at most ``limit`` missing days; longer gaps stay entirely NaN.

    ``DataFrame.ffill(limit=n)`` would fill the first n days of a long gap too, inventing prices
    for a stretch the source never had; a gap is filled whole or not at all. A gap at the end (the
    last few days before as_of) counts as a gap of its length so far.
    """
    values = frame.to_numpy(dtype=F64, na_value=np.nan)
    return pd.DataFrame(_fill_short_gaps(values, limit), index=frame.index, columns=frame.columns)


def _fill_short_gaps(values: np.ndarray, limit: int) -> np.ndarray:
    # order="K": keep the caller's memory layout. check_quality wraps the result in its prices
    # frame without a copy, and the frame's layout decides the summation order of every later
    # reduction (factor scores): it must stay what it always was, to the last bit.
    if limit <= 0 or values.size == 0:
        return values.copy(order="K")
    missing = np.isnan(values)
    # Only columns with a gap after their first price need work (leading NaN are never filled);
    # on long histories that is usually a handful, which keeps the weekly backtest loop cheap.
    first = (~missing).argmax(axis=0)
    gaps = np.flatnonzero(missing.sum(axis=0) > first)
    out = values.copy(order="K")
    if gaps.size == 0:
        return out
    # Every NaN run of those columns, found at once: the columns laid end to end, each followed
    # by a False sentinel so no run spans two columns. A run is filled (with the price before
    # it) when it is at most ``limit`` long and does not start the column (leading NaN stay).
    # Only the cells of filled runs are touched, not whole-history forward fills (~5x faster on
    # the 600-ticker universe, and the same values: they are copied, not computed).
    n = values.shape[0]
    padded = np.zeros((n + 1, gaps.size), dtype=np.int8)
    padded[:n] = missing[:, gaps]
    step = np.diff(padded.ravel(order="F"), prepend=np.int8(0))
    starts = np.flatnonzero(step == 1)
    lengths = np.flatnonzero(step == -1) - starts
    start_rows = starts % (n + 1)
    fill = (lengths <= limit) & (start_rows > 0)
    if fill.any():
        starts, lengths, start_rows = starts[fill], lengths[fill], start_rows[fill]
        cols = gaps[starts // (n + 1)]
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rows = np.repeat(start_rows, lengths) + offsets
        cell_cols = np.repeat(cols, lengths)
        out[rows, cell_cols] = values[np.repeat(start_rows - 1, lengths), cell_cols]
    return out


def _ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN down each column of a 2-D array (numpy; no pandas overhead per call).

    Only the columns with a gap are filled (the backtest's weekly window has a few among hundreds).
    """
    out = values.copy()
    if values.size == 0:
        return out
    gaps = np.flatnonzero(np.isnan(values).any(axis=0))
    if len(gaps):
        part = values[:, gaps]
        source = np.where(~np.isnan(part), np.arange(values.shape[0])[:, None], 0)
        np.maximum.accumulate(source, axis=0, out=source)
        out[:, gaps] = np.take_along_axis(part, source, axis=0)
    return out


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Per cell: how many consecutive True end here (0 where False), down each column."""
    counts = np.cumsum(mask, axis=0)
    base = np.maximum.accumulate(np.where(~mask, counts, 0), axis=0)
    return counts - base


def _longest_true_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of consecutive True down each column of a 2-D boolean array."""
    if mask.size == 0:
        return np.zeros(mask.shape[1] if mask.ndim == 2 else 0, dtype=I64)
    longest = np.zeros(mask.shape[1], dtype=I64)
    some = np.flatnonzero(mask.any(axis=0))  # only columns with a run at all (few, most weeks)
    if len(some):
        longest[some] = _run_lengths(mask[:, some]).max(axis=0)
    return longest
