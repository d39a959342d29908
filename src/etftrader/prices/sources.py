"""Price sources: yfinance (through the parquet store), a user's price file, and the bundled sample.

:func:`load_prices` picks the source from ``DataConfig.source`` and returns :class:`PriceData` in the
price frame contract. The yfinance path first checks in a few seconds that Yahoo answers at all, then
downloads in chunks with bounded retries (each try limited to ``download_timeout`` seconds), detects
the empty frame yfinance returns instead of raising when Yahoo is unreachable and stops at the first
chunk that shows it, reports per-ticker failures by name, and keeps yfinance's own printing out of
the console (it goes to the run log). The sample is real data shipped inside the skfolio wheel, so
demos and tests run offline.

The sources live in :mod:`.sample`, :mod:`.files` and :mod:`.yahoo` (what they share in :mod:`.common`);
this module picks one and re-exports their public names.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Callable, Iterable
import pandas as pd

from ..config import DataConfig
from ..errors import EtfTraderError
from ..paths import Home
from .frame import PriceData
from .common import _clean_tickers, _log, _subset
from .sample import SAMPLE_NOTE, load_sample
from .files import _load_file_source, read_price_file
from .yahoo import CHUNK_SIZE, VIX_TICKER, Fetcher, Probe, _load_yfinance, parse_yfinance_frame


__all__ = [
    "load_prices",
    "load_market_series",
    "load_sample",
    "read_price_file",
    "parse_yfinance_frame",
    "CHUNK_SIZE",
    "VIX_TICKER",
    "SAMPLE_NOTE",
]


def load_prices(config: DataConfig, home: Home, *, tickers: Iterable[str] | None = None,
                as_of: date | None = None, refresh: bool = False, progress: bool = False,
                fetcher: Fetcher | None = None, probe: Probe | None = None,
                sleep: Callable[[float], None] = time.sleep, with_vix: bool = False) -> PriceData:
    """Load prices from the source named in ``config.source``.

    Parameters
    ----------
    config : DataConfig
        ``source`` picks yfinance / file / sample; ``universe``, ``benchmark``, ``history_days``,
        ``overlap_days``, ``download_timeout`` and ``download_retries`` steer the download.
    home : Home
        Home folder; yfinance prices are cached under ``home.price_cache_dir``.
    tickers : iterable of str, optional
        Tickers wanted. None: the universe (``config.universe``, empty = bundled list) for yfinance;
        everything the file or sample holds for those sources.
    as_of : date, optional
        Only prices dated on or before it are returned (and downloaded).
    refresh : bool
        yfinance: ignore the cache and download the whole history again.
    progress : bool
        Show a download counter on a terminal.
    fetcher : callable, optional
        Replacement for ``yfinance.download`` (same signature); tests inject a fake here.
    probe : callable, optional
        Reachability check run before a yfinance download, ``probe(url, timeout)``, raising when
        Yahoo cannot be reached. Default: one HTTP request to Yahoo when the real
        ``yfinance.download`` is used, none when a ``fetcher`` is injected.
    sleep : callable
        Waits between retries (tests pass a no-op).
    with_vix : bool
        yfinance: ask for ``^VIX`` in the same download and return it as ``PriceData.vix`` (the
        weekly run's market regime); its absence is never an error. Other sources have no VIX.

    Returns
    -------
    PriceData

    Raises
    ------
    SourceUnavailableError
        Yahoo Finance could not be reached (no ticker downloaded).
    DataError
        The price file is missing or malformed; no requested ticker exists in the file or sample.
    """
    wanted = _clean_tickers(tickers) if tickers is not None else None
    if config.source == "sample":
        return _subset(load_sample(), wanted, as_of, where="the sample")
    if config.source == "file":
        return _load_file_source(config, home, wanted, as_of)
    return _load_yfinance(config, home, wanted, as_of=as_of, refresh=refresh, progress=progress,
                          fetcher=fetcher, probe=probe, sleep=sleep, with_vix=with_vix)


def load_market_series(config: DataConfig, home: Home, *, as_of: date | None = None,
                       fetcher: Fetcher | None = None,
                       sleep: Callable[[float], None] = time.sleep) -> pd.DataFrame:
    """Daily benchmark closes (and the VIX when obtainable) for the market-regime view.

    Returns
    -------
    DataFrame
        Index ``date``; a column named by the benchmark label (``"SPY"``, or the sample's
        ``"S&P 500 index (SPY stand-in)"``) and ``"VIX"`` when yfinance delivers ``^VIX``.
        A missing VIX, or a benchmark that cannot be obtained, never raises: the column is left out
        and the reason logged (``attrs["notes"]``).
    """
    notes: list[str] = []
    series: list[pd.Series] = []
    if config.source == "yfinance":
        try:
            data = load_prices(config, home, tickers=[config.benchmark], as_of=as_of,
                               fetcher=fetcher, sleep=sleep, with_vix=True)
        except EtfTraderError as e:
            notes.append(f"market series unavailable: {e}")
            data = None
        if data is not None:
            if data.benchmark is not None:
                series.append(data.benchmark)
            if data.vix is not None:
                series.append(data.vix)
            else:
                notes.append("VIX not available from Yahoo Finance; market regime shown without it")
    else:
        try:
            data = load_prices(config, home, as_of=as_of)
        except EtfTraderError as e:
            notes.append(f"market series unavailable: {e}")
            data = None
        if data is not None and data.benchmark is not None:
            series.append(data.benchmark)
        else:
            notes.append(f"no benchmark in the {config.source} source")
        notes.append("VIX is only available with --source yfinance")
    for note in notes:
        _log.warning(note)
    if series:
        frame = pd.concat(series, axis=1, sort=True)
        frame = frame.loc[frame.notna().any(axis=1)]
    else:
        frame = pd.DataFrame(index=pd.DatetimeIndex([], name="date", dtype="datetime64[ns]"))
    frame.index.name = "date"
    frame.attrs["notes"] = notes
    return frame
