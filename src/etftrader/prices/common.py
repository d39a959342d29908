"""What every price source shares: the log, ticker lists, home-relative paths, subsetting."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Iterable

from ..errors import DataError
from ..paths import Home
from ..runlog import LOGGER_NAME
from .frame import PriceData, truncate


_log = logging.getLogger(f"{LOGGER_NAME}.prices")


def _subset(data: PriceData, wanted: list[str] | None, as_of: date | None, *, where: str) -> PriceData:
    close, volume, failed = data.close, data.volume, dict(data.failed)
    if wanted is not None:
        present = [t for t in wanted if t in close.columns]
        for t in wanted:
            if t not in close.columns:
                failed[t] = f"not in {where}"
        if not present:
            raise DataError(f"none of the {len(wanted)} requested tickers is in {where} "
                            f"(asked for {', '.join(wanted[:5])}; it holds {', '.join(close.columns[:8])}, ...)")
        close = close[sorted(present)]
        volume = volume[sorted(present)] if volume is not None else None
    close = truncate(close, as_of)
    close = close.loc[close.notna().any(axis=1)]
    if volume is not None:
        volume = volume.reindex(index=close.index, columns=close.columns)
    bench = truncate(data.benchmark, as_of)
    if close.empty:
        valid = data.close.index[data.close.notna().any(axis=1).to_numpy()] if len(data.close) else data.close.index
        if len(valid) == 0:
            raise DataError(f"{where} has no prices at all (every value is empty); export the prices again")
        raise DataError(f"{where} has no prices on or before {as_of} (it starts {valid.min().date()}); "
                        "choose a later --as-of")
    return PriceData(close=close, volume=volume, source=data.source, benchmark=bench,
                     failed=failed, notes=data.notes)


def _home_relative(name: str, home: Home) -> Path:
    """``name`` as given when it exists (relative to the current folder), else under the home folder.

    A config file in the home folder naturally names files relative to it, and a scheduled run
    starts in another folder.
    """
    path = Path(name).expanduser()
    if path.is_absolute() or path.exists():
        return path
    under_home = Path(home.root) / path
    return under_home if under_home.exists() else path


def _clean_tickers(tickers: Iterable[str]) -> list[str]:
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    out = [str(t).strip().upper() for t in tickers if str(t).strip()]
    if not out:
        raise DataError("the list of tickers is empty; pass at least one ticker")
    return list(dict.fromkeys(out))


def _show(columns) -> str:
    names = [str(c) for c in list(columns)[:6]]
    return ", ".join(names) + (", ..." if len(columns) > 6 else "")
