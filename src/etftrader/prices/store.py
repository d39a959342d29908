"""The local price store: an incremental parquet cache of downloaded prices.

One folder per source under ``home.price_cache_dir`` (``data/prices/yfinance/``) holds
``close.parquet``, ``volume.parquet`` and ``manifest.json``. The manifest is written last and records
the shape and a SHA-256 of each parquet file, so a half-written or damaged cache is recognised and
rebuilt instead of being mixed into good rows. Every write goes to a temporary file in the same folder
and is moved into place with :func:`os.replace` (atomic on Windows and POSIX).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..runlog import LOGGER_NAME
from .frame import normalize_frame

__all__ = ["PriceStore", "CachedPrices", "merge_prices"]

_log = logging.getLogger(f"{LOGGER_NAME}.prices")
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CachedPrices:
    """What the store holds: close and volume frames (price frame contract).

    ``history_start`` is the date every cached ticker's history was requested from (a fund
    launched later simply starts later); a run that needs older prices asks for them again.
    """

    close: pd.DataFrame
    volume: pd.DataFrame
    history_start: date | None = None

    @property
    def last_date(self) -> pd.Timestamp | None:
        return self.close.index.max() if len(self.close) else None

    def has(self, ticker: str) -> bool:
        """True when the cache holds at least one price for ``ticker``."""
        return ticker in self.close.columns and bool(self.close[ticker].notna().any())

    def last_dates(self) -> dict[str, date]:
        """Ticker -> date of its last cached price (tickers without any price are left out)."""
        values = self.close.to_numpy(dtype="float64", na_value=np.nan)
        if values.size == 0:
            return {}
        seen = ~np.isnan(values)
        last_row = len(values) - 1 - seen[::-1].argmax(axis=0)
        days = self.close.index[last_row]
        return {t: d.date() for t, d, ok in zip(self.close.columns, days, seen.any(axis=0)) if ok}


class PriceStore:
    """Parquet cache of one source's prices in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @property
    def close_path(self) -> Path:
        return self.folder / "close.parquet"

    @property
    def volume_path(self) -> Path:
        return self.folder / "volume.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.exists() or self.close_path.exists()

    def read(self) -> CachedPrices | None:
        """The cached prices, or None when there is no cache or it cannot be trusted.

        An unreadable, inconsistent or tampered cache is logged as a warning and treated as absent:
        the caller downloads the full history again and :meth:`write` replaces it.
        """
        if not self.exists():
            return None
        try:
            return self._read_checked()
        except Exception as e:  # any failure to read means: do not trust a single row of it
            _log.warning("price cache in %s is unreadable or inconsistent (%s); rebuilding it from a full download",
                         self.folder, _one_line(e))
            return None

    def _read_checked(self) -> CachedPrices:
        manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        if manifest.get("version") != _FORMAT_VERSION:
            raise ValueError(f"manifest version {manifest.get('version')!r}, expected {_FORMAT_VERSION}")
        frames = {}
        for kind, path in (("close", self.close_path), ("volume", self.volume_path)):
            entry = manifest["files"][kind]
            if _sha256(path) != entry["sha256"]:
                raise ValueError(f"{path.name} does not match its checksum in the manifest")
            frame = pd.read_parquet(path)
            if list(frame.shape) != list(entry["shape"]):
                raise ValueError(f"{path.name} has shape {frame.shape}, manifest says {entry['shape']}")
            if not isinstance(frame.index, pd.DatetimeIndex) or not frame.index.is_unique \
                    or not frame.index.is_monotonic_increasing:
                raise ValueError(f"{path.name} has no sorted unique date index")
            frames[kind] = normalize_frame(frame) if len(frame) else frame
        close = frames["close"]
        # Volume keeps rows close may not have (and vice versa): align it to close once here.
        volume = frames["volume"].reindex(index=close.index, columns=close.columns)
        start = manifest.get("history_start")
        return CachedPrices(close=close, volume=volume,
                            history_start=date.fromisoformat(start) if start else None)

    def write(self, cached: CachedPrices) -> None:
        """Replace the cache with ``cached`` (atomic per file; the manifest goes last).

        Raises
        ------
        DataError
            The cache folder cannot be created or written.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Invalidate first: a crash between the parquet files and the new manifest must not
            # leave an old manifest vouching for new files.
            self.manifest_path.unlink(missing_ok=True)
            files = {}
            for kind, path, frame in (("close", self.close_path, cached.close),
                                      ("volume", self.volume_path, cached.volume)):
                _atomic_write(path, lambda tmp, f=frame: f.to_parquet(tmp))
                files[kind] = {"sha256": _sha256(path), "shape": list(frame.shape)}
            manifest = {
                "version": _FORMAT_VERSION,
                "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "history_start": cached.history_start.isoformat() if cached.history_start else None,
                "first_date": _iso(cached.close.index.min()) if len(cached.close) else None,
                "last_date": _iso(cached.last_date),
                "tickers": len(cached.close.columns),
                "files": files,
            }
            text = json.dumps(manifest, indent=2)
            _atomic_write(self.manifest_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        except OSError as e:
            raise DataError(
                f"cannot write the price cache in {self.folder}: {e.strerror or e}; "
                "check permissions or choose another --home"
            ) from e
        _log.info("price cache %s: %d tickers, %d dates, up to %s", self.folder,
                  len(cached.close.columns), len(cached.close), _iso(cached.last_date))


def merge_prices(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Combine cached and freshly downloaded frames; fresh values win where both have one.

    Yahoo revises recent adjusted closes (dividends, corrections): the re-fetched overlap replaces
    what was cached. NaN in the fresh frame never erases a cached price.
    """
    if old is None or old.empty:
        return new.sort_index().sort_index(axis=1)
    if new.empty:
        return old
    merged = new.combine_first(old)
    return merged.sort_index().sort_index(axis=1).astype("float64")


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _iso(ts) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).date().isoformat()


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
