"""The local price store: an incremental parquet cache of downloaded prices.

One folder per source under ``home.price_cache_dir`` (``data/prices/yfinance/``) holds
``close.parquet``, ``volume.parquet`` and ``manifest.json``. The manifest is written last and records
the shape and a SHA-256 of each parquet file, so a half-written or damaged cache is recognised and
rebuilt instead of being mixed into good rows. Every write goes to a temporary file in the same folder
and is moved into place with :func:`os.replace` (atomic on Windows and POSIX).

The manifest also keeps a request log, ``"requests": {ticker: {"asked": day, "delivered": day}}``:
the last day each ticker was asked for and the last such day on which Yahoo delivered a price for
it. The next run asks each ticker only from its own last-asked day (minus the revision overlap), so
a delisted ticker is asked cheaply instead of dragging everyone's start date back, and a ticker
already asked up to the day wanted is not asked at all. A cache written before the log existed
falls back to each ticker's last cached price.

A run that fetched nothing new leaves the parquet files untouched (only the request log in the
manifest moves on), and a cache read in this process is reused while its files are unchanged, so a
second ``load_prices`` in the same run (the market series after the prices) does not parse it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import DataError, first_line
from ..runlog import LOGGER_NAME
from .frame import normalize_frame

__all__ = ["PriceStore", "CachedPrices", "Asked", "merge_prices"]

_log = logging.getLogger(f"{LOGGER_NAME}.prices")
_FORMAT_VERSION = 1

#: the last cache read or written in this process: (folder, file signature, what it holds)
_MEMO: list[tuple[Path, tuple, "CachedPrices"]] = []


@dataclass(frozen=True)
class Asked:
    """What the store remembers about one ticker's last request.

    Attributes
    ----------
    through : date
        The last day it was asked for (the request's as-of day; yfinance's ``end`` minus one).
    delivered : date or None
        The ``through`` of the last request that returned at least one price for it; None when
        Yahoo never did. ``delivered == through`` means the last request delivered.
    """

    through: date
    delivered: date | None = None

    @property
    def delivered_last_time(self) -> bool:
        return self.delivered is not None and self.delivered >= self.through


@dataclass(frozen=True)
class CachedPrices:
    """What the store holds: close and volume frames (price frame contract).

    ``history_start`` is the date every cached ticker's history was requested from (a fund
    launched later simply starts later); a run that needs older prices asks for them again.
    ``asked`` is the request log (ticker -> :class:`Asked`); empty for a cache written before it
    existed.
    """

    close: pd.DataFrame
    volume: pd.DataFrame
    history_start: date | None = None
    asked: Mapping[str, Asked] = field(default_factory=dict)

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

    def asked_through(self) -> dict[str, date]:
        """Ticker -> last day it was asked for: the request log, else its last cached price.

        The fallback serves caches written before the log existed (and tickers missing from it):
        a ticker's last price is the latest day it can be known to have been asked for.
        """
        out = self.last_dates()
        out.update({t: a.through for t, a in self.asked.items()})
        return out

    def same_prices(self, other: "CachedPrices") -> bool:
        """True when ``other`` holds exactly these close and volume frames (NaN equal to NaN)."""
        if self.close is other.close and self.volume is other.volume:
            return True
        return self.close.equals(other.close) and self.volume.equals(other.volume)


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
        signature = self._signature()
        if signature is not None and _MEMO and _MEMO[0][:2] == (self.folder.resolve(), signature):
            return _MEMO[0][2]
        try:
            cached = self._read_checked()
        except Exception as e:  # any failure to read means: do not trust a single row of it
            _log.warning("price cache in %s is unreadable or inconsistent (%s); rebuilding it from a full download",
                         self.folder, _one_line(e))
            return None
        self._remember(cached)
        return cached

    def _signature(self) -> tuple | None:
        """Identity of the three files on disk (inode, size, mtime); None when one is missing.

        Every write replaces a file by a new one (:func:`os.replace`), which changes its inode and
        mtime, so an unchanged signature means the files read or written last are still there.
        """
        try:
            stats = [p.stat() for p in (self.manifest_path, self.close_path, self.volume_path)]
        except OSError:
            return None
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)

    def _remember(self, cached: CachedPrices) -> None:
        """Keep ``cached`` as what :meth:`read` would return, when it is exactly that."""
        signature = self._signature()
        _MEMO.clear()
        if signature is not None and _as_read(cached):
            _MEMO.append((self.folder.resolve(), signature, cached))

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
        asked = {t: Asked(through=date.fromisoformat(r["asked"]),
                          delivered=date.fromisoformat(r["delivered"]) if r.get("delivered") else None)
                 for t, r in (manifest.get("requests") or {}).items()}
        return CachedPrices(close=close, volume=volume,
                            history_start=date.fromisoformat(start) if start else None, asked=asked)

    def save(self, cached: CachedPrices, previous: CachedPrices | None) -> str:
        """Store ``cached``, rewriting only what changed since ``previous`` (what :meth:`read` gave).

        Same prices as ``previous``: the parquet files are left as they are (their bytes and
        mtime do not change) and only the manifest is rewritten, when its request log or
        ``history_start`` moved on. Anything else, or no ``previous``: a full :meth:`write`.

        Returns
        -------
        str
            ``"all"``, ``"manifest"`` or ``"nothing"``: what was written.

        Raises
        ------
        DataError
            The cache folder cannot be written.
        """
        if previous is None or not self.exists() or not cached.same_prices(previous):
            self.write(cached)
            return "all"
        if dict(cached.asked) == dict(previous.asked) and cached.history_start == previous.history_start:
            _log.info("price cache %s: nothing new, left as it is", self.folder)
            return "nothing"
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            files = manifest["files"]  # still true: read() checked them and nothing wrote since
        except (OSError, ValueError, KeyError):
            self.write(cached)
            return "all"
        self._write_manifest(cached, files)
        self._remember(cached)
        _log.info("price cache %s: no new prices; request log updated", self.folder)
        return "manifest"

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
        except OSError as e:
            raise _unwritable(self.folder, e) from e
        self._write_manifest(cached, files)
        self._remember(cached)
        _log.info("price cache %s: %d tickers, %d dates, up to %s", self.folder,
                  len(cached.close.columns), len(cached.close), _iso(cached.last_date))

    def _write_manifest(self, cached: CachedPrices, files: dict) -> None:
        manifest = {
            "version": _FORMAT_VERSION,
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "history_start": cached.history_start.isoformat() if cached.history_start else None,
            "first_date": _iso(cached.close.index.min()) if len(cached.close) else None,
            "last_date": _iso(cached.last_date),
            "tickers": len(cached.close.columns),
            "files": files,
            "requests": {t: {"asked": a.through.isoformat(),
                             "delivered": a.delivered.isoformat() if a.delivered else None}
                         for t, a in sorted(cached.asked.items())},
        }
        text = json.dumps(manifest, indent=1)
        try:
            _atomic_write(self.manifest_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        except OSError as e:
            raise _unwritable(self.folder, e) from e


def merge_prices(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Combine cached and freshly downloaded frames; fresh values win where both have one.

    Yahoo revises recent adjusted closes (dividends, corrections): the re-fetched overlap replaces
    what was cached. NaN in the fresh frame never erases a cached price. One aligned operation on
    the block the fresh frame covers (not a loop over columns): the cost grows with what was
    downloaded, plus one copy of the cache.

    Returns ``old`` itself when ``new`` brings no new date, ticker or value, so the caller can
    tell that nothing changed (``merged is old``) without comparing the frames.
    """
    if old is None or old.empty:
        return new.sort_index().sort_index(axis=1)
    if new.empty:
        return old
    index = old.index.union(new.index)
    columns = old.columns.union(new.columns)
    fresh = new.to_numpy(dtype="float64")
    rows, cols = index.get_indexer(new.index), columns.get_indexer(new.columns)
    if index.equals(old.index) and columns.equals(old.columns):
        values = old.to_numpy(dtype="float64")
        block = values[np.ix_(rows, cols)]
        # a fresh NaN keeps the cached value; equal values (+-inf included) change nothing
        if (np.isnan(fresh) | (fresh == block)).all():
            return old
        values = values.copy()
    else:
        values = old.reindex(index=index, columns=columns).to_numpy(dtype="float64", copy=True)
        block = values[np.ix_(rows, cols)]
    values[np.ix_(rows, cols)] = np.where(np.isnan(fresh), block, fresh)
    merged = pd.DataFrame(values, index=index, columns=columns)
    merged.index.name = "date"
    return merged


def _as_read(cached: CachedPrices) -> bool:
    """True when :meth:`PriceStore.read` of ``cached`` written to disk would give the same frames.

    Frames merged by :func:`merge_prices` from a read cache and parsed downloads already are in
    the price frame contract; anything else (a test writing raw frames) is simply not remembered.
    """
    close, volume = cached.close, cached.volume
    index = close.index
    return (isinstance(index, pd.DatetimeIndex) and index.name == "date" and index.dtype == "datetime64[ns]"
            and index.is_monotonic_increasing and index.is_unique
            and close.columns.is_monotonic_increasing and close.columns.is_unique
            and all(isinstance(c, str) and c == c.strip().upper() for c in close.columns)
            and all(dtype == np.float64 for dtype in close.dtypes)
            and all(dtype == np.float64 for dtype in volume.dtypes)
            and volume.index.equals(index) and volume.columns.equals(close.columns)
            and bool(close.notna().any(axis=1).all()))


def _atomic_write(path: Path, write) -> None:
    """``write(temporary path)``, then the file replaces ``path`` whole (:func:`etftrader.files.replacing`)."""
    from ..files import replacing

    with replacing(path) as tmp:
        write(tmp)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _iso(ts) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).date().isoformat()


def _unwritable(folder: Path, e: OSError) -> DataError:
    return DataError(f"cannot write the price cache in {folder}: {e.strerror or e}; "
                     "check permissions or choose another --home")


def _one_line(e: BaseException) -> str:
    return first_line(e, with_type=True)
