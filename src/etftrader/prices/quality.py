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
``jump``           a one-day move above ``max_daily_move`` in the window (looks like an
                   unadjusted split)
``illiquid``       median daily dollar volume in the window below ``min_dollar_volume``
                   (only when the source has volume for the ticker)
=================  ==========================================================================

Kept tickers' prices are forward-filled over gaps of at most ``max_ffill_days`` trading days;
longer gaps stay NaN over their whole length. Bad values older than the window are set to NaN and counted, never used.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import DataConfig
from .frame import PriceData, finite_positive, truncate

__all__ = ["QualityReport", "check_quality", "fill_short_gaps", "RULES", "HEALTH_COLUMNS", "recent_limit"]

#: rule code -> short description (the CLI prints counts by rule with these)
RULES = {
    "not_delivered": "not delivered by the source",
    "no_data": "no usable price",
    "no_recent_data": "no price near the as-of date",
    "short_history": "too little history",
    "bad_price": "infinite or non-positive price",
    "missing_days": "too many missing days",
    "stale": "stale (unchanging) price",
    "jump": "implausible one-day jump",
    "illiquid": "thin liquidity",
}

HEALTH_COLUMNS = (
    "ticker", "status", "rule", "reason", "first_date", "last_date", "observations",
    "window_days", "missing_fraction", "longest_flat_run", "max_abs_return", "max_move_date",
    "bad_values", "median_dollar_volume", "filled_days",
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            self.health_table().to_csv(tmp, index=False, lineterminator="\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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
    close = close.loc[close.notna().any(axis=1)] if len(close.columns) else close
    as_of_ts = pd.Timestamp(as_of) if as_of is not None else (close.index.max() if len(close) else None)
    volume = truncate(data.volume, as_of) if data.volume is not None else None
    if volume is not None:
        volume = volume.reindex(index=close.index, columns=close.columns)

    metrics = _metrics(close, volume, config, min_history=min_history, as_of=as_of_ts)
    health = _health_rows(metrics, close.columns, data.failed, config, min_history)
    kept = health.loc[health["status"] == "kept", "ticker"].tolist()

    usable = close[kept].where(finite_positive(close[kept]))
    prices = fill_short_gaps(usable, config.max_ffill_days)
    filled = (prices.notna() & usable.isna()).sum()
    health.loc[health["status"] == "kept", "filled_days"] = (
        health.loc[health["status"] == "kept", "ticker"].map(filled).astype("int64").to_numpy())
    prices = prices.loc[prices.notna().any(axis=1)] if kept else prices
    dropped = health.loc[health["status"] == "dropped", ["ticker", "rule", "reason"]].reset_index(drop=True)
    return QualityReport(prices=prices, health=health, kept=kept, dropped=dropped, as_of=as_of_ts,
                         ffill_limit=config.max_ffill_days, min_history=min_history, notes=data.notes)


def _metrics(close: pd.DataFrame, volume: pd.DataFrame | None, config: DataConfig, *,
             min_history: int, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Per-ticker statistics, vectorised over columns (the backtest calls this every week)."""
    n, k = close.shape
    values = close.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (values > 0)
    rows = np.arange(n)[:, None]
    has_valid = valid.any(axis=0)
    first_idx = np.where(has_valid, valid.argmax(axis=0), n)
    last_idx = np.where(has_valid, n - 1 - valid[::-1].argmax(axis=0), -1)

    w_start = max(n - min_history, 0)
    start = np.maximum(first_idx, w_start)  # window per ticker: from its first price at the earliest
    in_window = rows >= start[None, :]
    window_days = np.maximum(n - start, 0)

    bad_in_window = (present & ~valid & in_window).sum(axis=0)
    bad_total = (present & ~valid).sum(axis=0)
    missing = (~valid & in_window).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        missing_fraction = np.where(window_days > 0, missing / np.maximum(window_days, 1), np.nan)

    # Flat runs and jumps on usable prices only, carried over gaps so a gap is not a "move".
    usable = pd.DataFrame(np.where(valid & in_window, values, np.nan)).ffill().to_numpy()
    prev = np.vstack([np.full((1, k), np.nan), usable[:-1]]) if n else usable
    step_ok = valid & in_window & ~np.isnan(prev)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.where(step_ok, usable / prev - 1.0, np.nan)
    flat = step_ok & (ret == 0.0)
    longest_flat = _longest_true_run(flat)
    abs_ret = np.abs(ret)
    any_ret = ~np.isnan(abs_ret).all(axis=0) if n else np.zeros(k, dtype=bool)
    jump_idx = np.where(any_ret, np.nanargmax(np.where(np.isnan(abs_ret), -1.0, abs_ret), axis=0), -1) if n else np.full(k, -1)
    max_abs = np.where(any_ret, abs_ret[np.maximum(jump_idx, 0), np.arange(k)] if n else np.nan, np.nan)

    median_dv = np.full(k, np.nan)
    if volume is not None and n:
        vol = volume.to_numpy(dtype="float64", na_value=np.nan)
        dollar = np.where(valid & in_window & ~np.isnan(vol), values * vol, np.nan)
        known = ~np.isnan(dollar).all(axis=0)
        if known.any():
            median_dv[known] = np.nanmedian(dollar[:, known], axis=0)

    first_date = _dates_at(close.index, np.where(first_idx < n, first_idx, -1))
    last_date = _dates_at(close.index, last_idx)
    move_date = _dates_at(close.index, jump_idx)
    lag = np.full(k, -1)
    if as_of is not None:
        day_after = (last_date + np.timedelta64(1, "D")).astype("datetime64[D]")
        end = np.datetime64(as_of.date() + pd.Timedelta(days=1), "D")
        ok = ~np.isnat(last_date)
        lag[ok] = np.busday_count(day_after[ok], end)
    return pd.DataFrame({
        "ticker": list(close.columns),
        "has_valid": has_valid,
        "first_date": first_date,
        "last_date": last_date,
        "observations": valid.sum(axis=0),
        "span_days": np.where(has_valid, n - first_idx, 0),
        "window_days": window_days,
        "missing_fraction": missing_fraction,
        "longest_flat_run": longest_flat,
        "max_abs_return": max_abs,
        "max_move_date": move_date,
        "bad_values": bad_total,
        "bad_in_window": bad_in_window,
        "median_dollar_volume": median_dv,
        "lag_days": lag,
    })


def _dates_at(index: pd.DatetimeIndex, positions: np.ndarray) -> np.ndarray:
    """Dates at ``positions`` of ``index`` (NaT where the position is -1)."""
    values = index.to_numpy(dtype="datetime64[ns]")
    out = np.full(len(positions), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = positions >= 0
    out[ok] = values[positions[ok]]
    return out


def _health_rows(m: pd.DataFrame, columns, failed: dict[str, str], config: DataConfig,
                 min_history: int) -> pd.DataFrame:
    limit = recent_limit(config)
    checks = [
        ("no_data", ~m["has_valid"], lambda r: "no finite positive price up to the as-of date"),
        ("no_recent_data", m["has_valid"] & (m["lag_days"] > limit),
         lambda r: f"last price {r.last_date.date()} is {r.lag_days} business days before the as-of date (limit {limit})"),
        ("short_history", m["has_valid"] & (m["span_days"] < min_history),
         lambda r: f"{r.span_days} trading days of history, needs {min_history}"),
        ("bad_price", m["bad_in_window"] > 0,
         lambda r: f"{r.bad_in_window} infinite, zero or negative price(s) in the last {r.window_days} days"),
        ("missing_days", m["missing_fraction"] > config.max_missing_fraction,
         lambda r: f"{r.missing_fraction:.1%} of the last {r.window_days} trading days missing "
                   f"(limit {config.max_missing_fraction:.0%})"),
        ("stale", m["longest_flat_run"] >= config.stale_days,
         lambda r: f"price unchanged for {r.longest_flat_run} trading days in a row (limit {config.stale_days})"),
        ("jump", m["max_abs_return"] > config.max_daily_move,
         lambda r: f"one-day move of {r.max_abs_return:+.0%} on {r.max_move_date.date()} "
                   f"(limit {config.max_daily_move:.0%}); looks like an unadjusted split"),
        ("illiquid", m["median_dollar_volume"] < config.min_dollar_volume,
         lambda r: f"median dollar volume {r.median_dollar_volume:,.0f} below {config.min_dollar_volume:,.0f}"),
    ]
    rules = [[] for _ in range(len(m))]
    reasons = [[] for _ in range(len(m))]
    for code, fired, describe in checks:
        for pos in np.flatnonzero(fired.fillna(False).to_numpy(dtype=bool)):
            rules[pos].append(code)
            reasons[pos].append(describe(m.iloc[pos]))
    health = m.assign(
        status=["dropped" if r else "kept" for r in rules],
        rule=[r[0] if r else "" for r in rules],
        reason=["; ".join(r) for r in reasons],
        filled_days=0,
    )
    extra = [t for t in failed if t not in set(columns)]
    if extra:
        rows = pd.DataFrame({"ticker": extra, "status": "dropped", "rule": "not_delivered",
                             "reason": [failed[t] for t in extra], "observations": 0, "window_days": 0,
                             "bad_values": 0, "filled_days": 0, "longest_flat_run": 0})
        health = pd.concat([health, rows], ignore_index=True) if len(health) else rows
    health = health.reindex(columns=list(HEALTH_COLUMNS))
    for col in ("first_date", "last_date", "max_move_date"):
        health[col] = pd.to_datetime(health[col])
    for col in ("observations", "window_days", "longest_flat_run", "bad_values", "filled_days"):
        health[col] = health[col].fillna(0).astype("int64")
    for col in ("missing_fraction", "max_abs_return", "median_dollar_volume"):
        health[col] = health[col].astype("float64")
    return health.sort_values("ticker", kind="stable").reset_index(drop=True)


def fill_short_gaps(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """Forward-fill runs of at most ``limit`` missing days; longer gaps stay entirely NaN.

    ``DataFrame.ffill(limit=n)`` would fill the first n days of a long gap too, inventing prices
    for a stretch the source never had; a gap is filled whole or not at all. A gap at the end (the
    last few days before as_of) counts as a gap of its length so far.
    """
    if limit <= 0 or frame.empty:
        return frame.copy()
    missing = frame.isna().to_numpy()
    run = _run_lengths(missing) + _run_lengths(missing[::-1])[::-1] - 1  # length of each NaN run
    filled = frame.ffill()
    keep_nan = missing & (run > limit)
    return filled.mask(pd.DataFrame(keep_nan, index=frame.index, columns=frame.columns))


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Per cell: how many consecutive True end here (0 where False), down each column."""
    counts = np.cumsum(mask, axis=0)
    base = np.maximum.accumulate(np.where(~mask, counts, 0), axis=0)
    return counts - base


def _longest_true_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of consecutive True down each column of a 2-D boolean array."""
    if mask.size == 0:
        return np.zeros(mask.shape[1] if mask.ndim == 2 else 0, dtype="int64")
    return _run_lengths(mask).max(axis=0).astype("int64")
