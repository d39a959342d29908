"""Reading the ledger and the market file: the week each row belongs to and its run key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


def read_market(path: Path | str | None) -> pd.DataFrame | None:
    """The daily market frame written by the weekly run, or None when there is none.

    Parameters
    ----------
    path : Path or None
        ``data/market_latest.parquet``: a DataFrame with a DatetimeIndex, one column for the
        benchmark (its label is the column name) and a ``VIX`` column when ^VIX was available.

    Returns
    -------
    DataFrame or None
        Sorted by date with float columns; None when the path is None, missing or empty.
        A file that exists but cannot be read is an error (it is not silently ignored).
    """
    if path is None or str(path) == "":
        return None
    path = Path(path)
    if not path.exists():
        return None
    from ..errors import DataError

    try:
        frame = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise DataError(
            f"market file {path} is not a readable parquet file ({type(e).__name__}); "
            f"delete it and the next weekly run writes a fresh one"
        ) from e
    if frame.empty:
        return None
    frame.index = pd.DatetimeIndex(frame.index)
    return frame.sort_index().astype(float)


def filter_as_of(ledger: Any, as_of=None) -> Any:
    """A copy of the ledger holding only runs with ``as_of`` (else timestamp) on or before ``as_of``.

    Lets the analyst look back at the review as it stood on a past date.
    """
    if as_of is None:
        return ledger
    cutoff = pd.Timestamp(as_of).normalize()
    frames = {}
    for name in ("positions", "trades", "performance", "metadata", "cashflows"):
        frame = getattr(ledger, name)
        if frame is None or frame.empty:
            frames[name] = frame
            continue
        frames[name] = frame.loc[_row_dates(frame) <= cutoff].copy()
    return _FilteredLedger(**frames)


@dataclass(frozen=True)
class _FilteredLedger:
    positions: pd.DataFrame
    trades: pd.DataFrame
    performance: pd.DataFrame
    metadata: pd.DataFrame
    cashflows: pd.DataFrame


def _row_dates(frame: pd.DataFrame) -> pd.Series:
    """The date each row belongs to: ``as_of`` where known, else the timestamp's date."""
    ts = pd.to_datetime(frame["timestamp"], errors="coerce") if "timestamp" in frame else None
    if "as_of" in frame:
        dates = pd.to_datetime(frame["as_of"], errors="coerce")
        if ts is not None:
            dates = dates.fillna(ts)
    elif ts is not None:
        dates = ts
    else:
        dates = pd.Series(pd.NaT, index=frame.index)
    return dates.dt.normalize()


def _run_ids(frame: pd.DataFrame) -> pd.Series:
    """A run key per row: ``run_id`` where present, else the run's timestamp as text."""
    stamp = pd.to_datetime(frame["timestamp"], errors="coerce").astype(str) if "timestamp" in frame else None
    if "run_id" in frame:
        ids = frame["run_id"].astype("object").where(frame["run_id"].notna())
        if stamp is not None:
            ids = ids.fillna(stamp)
        return ids.astype(str)
    if stamp is None:
        return pd.Series("run", index=frame.index)
    return stamp


