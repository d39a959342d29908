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
from typing import Any, Callable, Iterable
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
    "market_frame",
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
    """Daily benchmark closes (and the VIX when obtainable) for the market-regime view: the
    source's prices loaded for it alone, then :func:`market_frame` (the frame the weekly run
    saves from the prices it already has).

    Returns
    -------
    DataFrame
        Index ``date``; a column named by the benchmark label (``"SPY"``, or the sample's
        ``"S&P 500 index (SPY stand-in)"``) and ``"VIX"`` when yfinance delivers ``^VIX``.
        A missing VIX, or a benchmark that cannot be obtained, never raises: the column is left out
        and the reason logged (``attrs["notes"]``).
    """
    notes: list[str] = []
    yahoo = config.source == "yfinance"
    try:
        data = load_prices(config, home, tickers=[config.benchmark] if yahoo else None, as_of=as_of,
                           fetcher=fetcher, sleep=sleep, with_vix=yahoo)
    except EtfTraderError as e:
        notes.append(f"market series unavailable: {e}")
        _log.warning(notes[-1])
        data = None
    frame = market_frame(data, as_of)
    if data is not None and [c for c in frame.columns if c != "VIX"] == []:
        notes.append(f"no benchmark in the {config.source} source")
    if data is not None and "VIX" not in frame.columns:
        notes.append("VIX not available from Yahoo Finance; market regime shown without it" if yahoo
                     else "VIX is only available with --source yfinance")
    for note in notes[1 if data is None else 0:]:
        _log.warning(note)
    frame.attrs["notes"] = notes
    return frame


def market_frame(data: Any, as_of: date | None) -> pd.DataFrame:
    """Daily closes of the benchmark (a column named by its label) and ``VIX`` when known, up to
    ``as_of``, from loaded :class:`PriceData` (None: an empty frame). What the weekly run saves as
    ``data/market_latest.parquet`` and :func:`load_market_series` returns."""
    series = []
    if data is not None and data.benchmark is not None and len(data.benchmark.dropna()):
        series.append(data.benchmark.dropna().rename(str(data.benchmark.name or "benchmark")))
    elif data is not None:
        _log.warning("no benchmark in the %s source: the report's market view is empty", data.source)
    vix = getattr(data, "vix", None)
    if vix is not None and len(vix.dropna()):
        series.append(vix.dropna().rename("VIX"))
    elif data is not None and data.source == "yfinance":
        _log.warning("VIX not available from Yahoo Finance; the report uses a labelled stand-in")
    if series:
        frame = pd.concat(series, axis=1, sort=True)
        if as_of is not None:
            frame = frame.loc[frame.index <= pd.Timestamp(as_of)]
    else:
        frame = pd.DataFrame(index=pd.DatetimeIndex([], dtype="datetime64[ns]"))
    frame.index.name = "date"
    return frame
