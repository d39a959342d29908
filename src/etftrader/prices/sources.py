"""Price sources: yfinance (through the parquet store), a user's price file, and the bundled sample.

:func:`load_prices` picks the source from ``DataConfig.source`` and returns :class:`PriceData` in the
price frame contract. The yfinance path first checks in a few seconds that Yahoo answers at all, then
downloads in chunks with bounded retries (each try limited to ``download_timeout`` seconds), detects
the empty frame yfinance returns instead of raising when Yahoo is unreachable and stops at the first
chunk that shows it, reports per-ticker failures by name, and keeps yfinance's own printing out of
the console (it goes to the run log). The sample is real data shipped inside the skfolio wheel, so
demos and tests run offline.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import sys
import threading
import time
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ..config import DataConfig
from ..errors import DataError, EtfTraderError, SourceUnavailableError, first_line
from .net import YAHOO_URL, probe_url
from ..paths import Home
from ..progress import Progress
from ..runlog import LOGGER_NAME
from .frame import SAMPLE_BENCHMARK_LABEL, PriceData, normalize_frame, truncate
from .store import Asked, CachedPrices, PriceStore, merge_prices
from .universe import load_universe

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

_log = logging.getLogger(f"{LOGGER_NAME}.prices")

#: tickers per yf.download call: big enough for its thread pool, small enough that one
#: rate-limited request loses little
CHUNK_SIZE = 100
#: first retry waits this many seconds, then doubles
RETRY_BACKOFF_SECONDS = 2.0
#: once an earlier chunk delivered data (Yahoo is up), an empty chunk is asked this many times in
#: all: its tickers are most likely unknown or delisted, and retrying cannot change that
EMPTY_CHUNK_ATTEMPTS = 2
#: the reachability check before a download gives up after this many seconds (at most
#: ``download_timeout``); it runs in a thread, so a stuck DNS lookup cannot hold it longer
PROBE_SECONDS = 5.0
VIX_TICKER = "^VIX"
#: the cache is re-fetched from an earlier start only when it lacks more than this many days
BACKFILL_TOLERANCE_DAYS = 31
SAMPLE_NOTE = ("sample data is a demo universe, not an investable ETF list: 5 iShares factor ETFs "
               "(MTUM QUAL SIZE USMV VLUE, 2014-2022) and 20 large US stocks (1990-2022) bundled "
               "with skfolio; benchmark = the S&P 500 price index standing in for SPY: it has no "
               "dividends (about 1.8% a year in 2014-2022) while the portfolios' prices include them, "
               "so excess returns against it are overstated by about that much")

_DATE_NAMES = ("date", "datetime", "timestamp", "time", "day", "dates")
_TICKER_NAMES = ("ticker", "symbol", "tickers", "symbols")
_CLOSE_NAMES = ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close", "close", "price")
_VOLUME_NAMES = ("volume",)

Fetcher = Callable[..., pd.DataFrame]
#: ``probe(url, timeout)`` returns on any HTTP answer and raises when the host cannot be reached
Probe = Callable[[str, float], object]


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


# --------------------------------------------------------------------------- sample


_SAMPLE_FILES = ("factors_dataset.csv.gz", "sp500_dataset.csv.gz", "sp500_index.csv.gz")


@functools.lru_cache(maxsize=1)
def _sample_frames() -> tuple[pd.DataFrame, pd.Series]:
    factors, stocks, index = _read_skfolio_datasets()
    close = normalize_frame(pd.concat([factors, stocks], axis=1, sort=True))
    bench = normalize_frame(index).iloc[:, 0].rename(SAMPLE_BENCHMARK_LABEL)
    return close, bench


def _read_skfolio_datasets() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """skfolio's three bundled CSVs, read without importing skfolio when the files are found.

    ``import skfolio`` pulls in scikit-learn and scipy (4-6 s on a cold start) only to read three
    small gzipped CSVs; the demo command should not pay that. The files are read the way
    ``skfolio.datasets`` reads them; if the wheel's layout ever changes, its public loaders are used.
    The tests compare this path with skfolio's own loaders.
    """
    import importlib.util

    spec = importlib.util.find_spec("skfolio")  # locates the package without executing it
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / "datasets" / "data" if spec else None
    if folder is not None and all((folder / name).is_file() for name in _SAMPLE_FILES):
        frames = []
        for name in _SAMPLE_FILES:
            frame = pd.read_csv(folder / name, sep=",", index_col=0, compression="gzip")
            frame.index = pd.to_datetime(frame.index, format="%Y-%m-%d")
            frames.append(frame)
        return frames[0], frames[1], frames[2]
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset, load_sp500_index

    return load_factors_dataset(), load_sp500_dataset(), load_sp500_index()


def load_sample() -> PriceData:
    """The bundled real sample (skfolio datasets), no volume, never cached in the store."""
    close, bench = _sample_frames()
    return PriceData(close=close.copy(), volume=None, source="sample", benchmark=bench.copy(),
                     notes=(SAMPLE_NOTE,))


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


# --------------------------------------------------------------------------- file


def _load_file_source(config: DataConfig, home: Home, wanted: list[str] | None,
                      as_of: date | None) -> PriceData:
    if not config.prices_file:
        raise DataError("--source file needs a price file: pass --prices FILE (CSV or parquet) "
                        "or set `prices_file` in the [data] section of the config")
    path = _home_relative(config.prices_file, home)
    close, volume = read_price_file(path)
    bench_col = config.benchmark.strip().upper()
    notes: list[str] = []
    bench = None
    if bench_col in close.columns:
        bench = close[bench_col].dropna().rename(bench_col)
        # The benchmark is what the portfolios are compared with, not one of the things they may
        # buy (a portfolio holding its own benchmark flatters the comparison), unless the
        # analyst's universe file lists it.
        if not _universe_lists(config.universe, bench_col, home):
            close = close.drop(columns=bench_col)
            volume = volume.drop(columns=bench_col) if volume is not None and bench_col in volume else volume
            notes.append(f"{bench_col} in {path.name} is the benchmark: compared with, not traded "
                         "(list it in your [data] universe file to make it tradable)")
    else:
        notes.append(f"{path.name} has no {bench_col} column: no benchmark for comparison")
    data = PriceData(close=close, volume=volume, source="file", benchmark=bench, notes=tuple(notes))
    return _subset(data, wanted, as_of, where=f"price file {path}")


def _universe_lists(universe: str, ticker: str, home: Home) -> bool:
    """Whether the analyst's own universe file (not the bundled list) names ``ticker``."""
    if not universe:
        return False
    from .universe import load_universe

    try:
        return ticker in set(load_universe(_home_relative(universe, home))["ticker"].astype(str).str.upper())
    except EtfTraderError:
        return False


def read_price_file(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read a CSV or parquet of prices, wide (date x tickers) or long (date, ticker, close[, volume]).

    Column names are case-insensitive; a long file's price column may be ``close``, ``adj close`` or
    ``price`` (an adjusted close wins over a raw close when both are present).

    Returns
    -------
    (close, volume)
        Price frames (volume None for a wide file or a long file without volume).

    Raises
    ------
    DataError
        Naming the file and the problem: unknown extension, missing or empty file, no date column,
        unparseable dates (with an example row), non-numeric values (with an example ticker and
        date), duplicate dates.
    """
    path = Path(path)
    raw = _read_table(path)
    lower = {str(c).strip().lower(): c for c in raw.columns}
    ticker_col = next((lower[n] for n in _TICKER_NAMES if n in lower), None)
    close_col = next((lower[n] for n in _CLOSE_NAMES if n in lower), None)
    if ticker_col is not None:
        if close_col is None:
            raise DataError(f"price file {path} looks long (it has a `{ticker_col}` column) but has no price "
                            f"column; expected one of: close, adj close, price (got: {_show(raw.columns)})")
        return _read_long(path, raw, lower, ticker_col, close_col)
    return _read_wide(path, raw, lower)


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".parquet", ".pq"):
        raise DataError(f"price file {path} has an unknown extension {suffix or '(none)'!r}; "
                        "expected .csv or .parquet")
    if not path.is_file():
        raise DataError(f"price file {path} does not exist; check --prices")
    if suffix in (".csv", ".txt"):
        _check_csv_header(path)
    try:
        if suffix == ".parquet" or suffix == ".pq":
            raw = pd.read_parquet(path)
            if isinstance(raw.index, pd.DatetimeIndex):
                raw = raw.reset_index(names=raw.index.name or "date")
        else:
            raw = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    except pd.errors.EmptyDataError:
        raise DataError(f"price file {path} is empty; export the prices again") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, ImportError) as e:
        raise DataError(f"price file {path} cannot be read: {first_line(e)}") from e
    if raw.empty:
        raise DataError(f"price file {path} has no data rows; export the prices again")
    # Trailing commas in vendor exports create empty, unnamed columns: drop them quietly.
    junk = [c for c in raw.columns if str(c).startswith("Unnamed:") and raw[c].isna().all()]
    return raw.drop(columns=junk)


def _check_csv_header(path: Path) -> None:
    """Refuse what pandas would quietly rename: a spreadsheet saved under .csv, a ticker named
    twice (pandas makes the second ``MTUM.1``) and a header cell with no ticker in it."""
    import csv

    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
            raise DataError(f"price file {path} is an Excel workbook (or another binary file), not a CSV; "
                            "save it as CSV (File > Save As > CSV UTF-8) or parquet and pass that")
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"price file {path} cannot be read: {first_line(e)}") from e
    names = [h.strip() for h in header]
    while names and names[-1] == "":  # trailing commas of vendor exports
        names.pop()
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name == "":
            if i == 1:
                continue  # an index written without a name (pandas to_csv)
            raise DataError(f"price file {path}: column {i} of the header has no ticker name; "
                            "name it or delete the column")
        key = name.upper()
        if key in seen:
            raise DataError(f"price file {path} names {name!r} twice in its header (columns {seen[key]} "
                            f"and {i}); keep one column per ticker")
        seen[key] = i


def _find_date_column(path: Path, raw: pd.DataFrame, lower: dict) -> str:
    found = next((lower[n] for n in _DATE_NAMES if n in lower), None)
    if found is None and (str(raw.columns[0]).startswith("Unnamed:") or str(raw.columns[0]).strip() == ""):
        found = raw.columns[0]  # an index written without a name (pandas to_csv)
    if found is None:
        raise DataError(f"price file {path} has no date column; expected a column named `date` "
                        f"(got: {_show(raw.columns)})")
    return found


def _parse_dates(path: Path, values: pd.Series) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
    else:
        text = values.astype("string").str.strip()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "could not infer format" is reported as our error below
            try:
                parsed = pd.to_datetime(text, errors="coerce")
            except ValueError as e:  # mixed time zones raise even with errors="coerce"
                raise DataError(f"price file {path}: its dates cannot be read together ({first_line(e)}); "
                                "use plain YYYY-MM-DD dates in one time zone") from e
        bad = parsed.isna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"price file {path}: cannot read {int(bad.sum())} date(s), e.g. {_row(path, pos)} "
                            f"has {values.iloc[pos]!r}; use YYYY-MM-DD dates")
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.normalize()  # one row per session: a time of day must not make duplicates look unique


def _to_numbers(path: Path, frame: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Numeric copy of ``frame``; a cell that is present but not a number is an error."""
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):
        # A numeric column (parquet, or a CSV column pandas parsed as numbers) has no cell that
        # is present but not a number: skip converting every value to text to look for one.
        return frame.astype("float64")
    out = frame.apply(lambda col: pd.to_numeric(col, errors="coerce")).astype("float64")
    present = frame.notna() & (frame.astype("string").apply(lambda c: c.str.strip()) != "")
    bad = present.to_numpy() & out.isna().to_numpy()
    if bad.any():
        r, c = (int(v[0]) for v in np.nonzero(bad))
        raise DataError(f"price file {path}: {int(bad.sum())} value(s) are not numbers, e.g. "
                        f"{frame.columns[c]} on {dates[r].date()} is {frame.iat[r, c]!r}")
    return out


def _read_wide(path: Path, raw: pd.DataFrame, lower: dict) -> tuple[pd.DataFrame, None]:
    date_col = _find_date_column(path, raw, lower)
    dates = _parse_dates(path, raw[date_col])
    body = raw.drop(columns=[date_col])
    if body.shape[1] == 0:
        raise DataError(f"price file {path} has a date column but no ticker columns")
    _reject_duplicate_dates(path, dates)
    body = body.set_axis(range(len(body)), axis=0)
    values = _to_numbers(path, body, dates)
    values.index = dates
    return normalize_frame(values), None


def _read_long(path: Path, raw: pd.DataFrame, lower: dict, ticker_col, close_col):
    date_col = _find_date_column(path, raw, lower)
    dates = _parse_dates(path, raw[date_col])
    tickers = raw[ticker_col].astype("string").str.strip().str.upper()
    if tickers.isna().any() or (tickers == "").any():
        pos = int(np.flatnonzero((tickers.isna() | (tickers == "")).to_numpy())[0])
        raise DataError(f"price file {path}: {_row(path, pos)} has no ticker")
    keyed = pd.DataFrame({"date": dates, "ticker": tickers.to_numpy()})
    dup = keyed.duplicated(keep=False)
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"price file {path} has duplicate dates: {keyed['ticker'].iat[pos]} appears more than "
                        f"once on {keyed['date'].iat[pos].date()}; keep one row per ticker and date")
    volume_col = next((lower[n] for n in _VOLUME_NAMES if n in lower), None)
    cols = [close_col] + ([volume_col] if volume_col is not None else [])
    numbers = raw[cols].set_axis(range(len(raw)), axis=0)
    numbers.columns = ["close"] + (["volume"] if volume_col is not None else [])
    # Report bad numbers with the ticker name, not the column name.
    for name in numbers.columns:
        col = numbers[[name]].set_axis([name], axis=1)
        converted = _to_numbers_long(path, col[name], keyed, name)
        keyed[name] = converted
    close = keyed.pivot(index="date", columns="ticker", values="close")
    volume = keyed.pivot(index="date", columns="ticker", values="volume") if volume_col is not None else None
    close = normalize_frame(close)
    if volume is not None:
        volume = normalize_frame(volume).reindex(index=close.index, columns=close.columns)
    return close, volume


def _to_numbers_long(path: Path, values: pd.Series, keyed: pd.DataFrame, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype):
        # Already numbers (parquet, a numeric CSV column): nothing can be "present but not a
        # number", so skip the text conversion of every value (most of the load time at scale).
        return values.astype("float64").to_numpy()
    converted = pd.to_numeric(values, errors="coerce").astype("float64")
    text = values.astype("string").str.strip()
    bad = (values.notna() & (text != "") & converted.isna()).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(f"price file {path}: {int(bad.sum())} {name} value(s) are not numbers, e.g. "
                        f"{keyed['ticker'].iat[pos]} on {keyed['date'].iat[pos].date()} is {values.iat[pos]!r}")
    return converted.to_numpy()


def _reject_duplicate_dates(path: Path, dates: pd.DatetimeIndex) -> None:
    dup = dates.duplicated()
    if dup.any():
        first = dates[dup][0]
        raise DataError(f"price file {path} has duplicate dates ({int(dup.sum())}), e.g. {first.date()} "
                        "appears more than once; keep one row per date")


def _row(path: Path, pos: int) -> str:
    # CSV: the header is line 1, so data row ``pos`` is line pos + 2; parquet rows count from 1.
    return f"line {pos + 2}" if path.suffix.lower() in (".csv", ".txt") else f"row {pos + 1}"


# --------------------------------------------------------------------------- yfinance


def parse_yfinance_frame(raw: pd.DataFrame | None, requested: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Close and volume frames from a ``yf.download(..., group_by="column")`` result.

    yfinance 1.x returns columns ``MultiIndex (Price, Ticker)`` even for one ticker; older versions
    (or ``multi_level_index=False``) give flat ``Open High Low Close Volume`` for a single ticker.
    Both are handled; an empty frame gives empty frames.
    """
    empty = pd.DataFrame(index=pd.DatetimeIndex([], name="date", dtype="datetime64[ns]"), dtype="float64")
    if raw is None or not isinstance(raw, pd.DataFrame) or raw.empty:
        return empty, empty.copy()
    if isinstance(raw.columns, pd.MultiIndex):
        price_level = next((i for i in range(raw.columns.nlevels)
                            if "Close" in set(raw.columns.get_level_values(i))), None)
        if price_level is None:
            raise DataError(f"unexpected yfinance columns {list(raw.columns[:4])}: no Close level")
        close = raw.xs("Close", level=price_level, axis=1)
        has_volume = "Volume" in set(raw.columns.get_level_values(price_level))
        volume = raw.xs("Volume", level=price_level, axis=1) if has_volume else None
    else:
        if "Close" not in raw.columns or len(requested) != 1:
            raise DataError(f"unexpected yfinance columns {list(raw.columns[:6])} for {len(requested)} tickers")
        close = raw[["Close"]].set_axis(requested, axis=1)
        volume = raw[["Volume"]].set_axis(requested, axis=1) if "Volume" in raw.columns else None
    close = normalize_frame(_numeric(close))
    if volume is None:
        volume = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    else:
        volume = _numeric(volume)
        volume.index = pd.DatetimeIndex(volume.index).tz_localize(None) if getattr(volume.index, "tz", None) \
            else pd.DatetimeIndex(volume.index)
        volume.index = volume.index.normalize().as_unit("ns")
        volume.columns = pd.Index([str(c).upper() for c in volume.columns], dtype=str)
        volume = volume.loc[:, ~volume.columns.duplicated(keep="last")]
        volume = volume.reindex(index=close.index, columns=close.columns).astype("float64")
        volume.index.name = "date"
    return close, volume


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as numbers, non-numbers as NaN; one conversion when yfinance sent numbers already."""
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):
        return frame.astype("float64")
    return frame.apply(pd.to_numeric, errors="coerce")


def _load_yfinance(config: DataConfig, home: Home, wanted: list[str] | None, *, as_of: date | None,
                   refresh: bool, progress: bool, fetcher: Fetcher | None, probe: Probe | None,
                   sleep: Callable[[float], None], with_vix: bool = False) -> PriceData:
    notes: list[str] = []
    if wanted is None:
        universe = load_universe(_home_relative(config.universe, home) if config.universe else None)
        wanted = universe["ticker"].tolist()
        notes.extend(universe.attrs.get("notes", []))
    bench = config.benchmark.strip().upper()
    vix = VIX_TICKER.upper()
    # The VIX rides along with the universe (one download, one cache write a week); it is never
    # reported as a failure: the report falls back to a labelled stand-in without it.
    requested = list(dict.fromkeys([*wanted, bench, *([vix] if with_vix else [])]))

    store = PriceStore(home.price_cache_dir / "yfinance")
    cached = None if refresh else store.read()
    if cached is None and not refresh and store.exists():
        notes.append(f"price cache in {store.folder} was unreadable and has been rebuilt")

    today = date.today()
    end_day = min(as_of, today) if as_of else today
    full_start = end_day - timedelta(days=config.history_days)
    # A much longer history than the cache was built with (history_days raised, or an as_of far
    # back): fetch everything again from the new start instead of silently returning less. A few
    # weeks short at the far end do not matter (factor lookbacks are a year, history_days three).
    backfill = cached is not None and (
        cached.history_start is None
        or full_start < cached.history_start - timedelta(days=BACKFILL_TOLERANCE_DAYS))
    if backfill:
        _log.info("price cache history starts %s; fetching history from %s", cached.history_start, full_start)
    plan, expected = _plan_requests(requested, None if backfill else cached, full_start=full_start,
                                    end_day=end_day, overlap_days=config.overlap_days)
    to_download = sum(len(t) for t in plan.values())
    unreachable = SourceUnavailableError(
        f"could not reach Yahoo Finance: 0 of {to_download} tickers downloaded; "
        "check the network or use --source file")
    if probe is None and fetcher is None:
        probe = _probe_yahoo
    if to_download and probe is not None:
        problem = _unreachable_reason(probe, min(PROBE_SECONDS, config.download_timeout))
        if problem is not None:
            _log.warning("Yahoo Finance cannot be reached (%s); nothing downloaded", problem)
            raise unreachable
    fetch = fetcher or _yfinance_download
    new_close, new_volume, download_failed = _download_all(
        plan, end_day=end_day, config=config, fetch=fetch, sleep=sleep, progress=progress)

    delivered = new_close.columns[new_close.notna().to_numpy().any(axis=0)].tolist()
    # Nothing at all came back. That means Yahoo is unreachable when we asked for tickers known to
    # exist (ones that delivered last time, or anything on a first run); when we only asked for
    # new or silent tickers it just means those are delisted or unknown, reported by name below.
    asked_known = cached is None or backfill or bool(expected)
    if to_download and not delivered and asked_known:
        raise unreachable

    if to_download:
        close = merge_prices(cached.close if cached else None, new_close)
        volume = merge_prices(cached.volume if cached else None, new_volume)
        if cached is None or volume is not cached.volume or close is not cached.close:
            volume = volume.reindex(index=close.index, columns=close.columns)
        history_start = full_start if cached is None else cached.history_start
        if backfill and set(cached.close.columns) <= set(requested):
            history_start = full_start  # every cached ticker now goes back to full_start
        answered = [t for group in plan.values() for t in group if t not in download_failed]
        asked = _record_requests(cached.asked if cached else {}, answered, set(delivered), end_day)
        store.save(CachedPrices(close=close, volume=volume, history_start=history_start, asked=asked),
                   previous=cached)
    else:
        close, volume = cached.close, cached.volume  # type: ignore[union-attr]

    failed: dict[str, str] = {}
    has_prices = set(close.columns[close.notna().to_numpy().any(axis=0)])
    for t in wanted:  # the benchmark has its own note below when it is missing
        if t not in has_prices:
            failed[t] = download_failed.get(t, "no data from Yahoo Finance (delisted, renamed or not a Yahoo symbol)")
    if failed:
        shown = ", ".join(sorted(failed)[:10]) + (", ..." if len(failed) > 10 else "")
        _log.warning("%d ticker(s) not delivered by Yahoo Finance: %s", len(failed), shown)

    keep = [t for t in wanted if t in close.columns and t not in failed]
    out_close = truncate(close[sorted(keep)], as_of)
    out_close = out_close.loc[out_close.notna().any(axis=1)]
    out_volume = volume.reindex(index=out_close.index, columns=out_close.columns)
    benchmark = None
    if bench in close.columns and bench not in failed:
        benchmark = truncate(close[bench], as_of).dropna().rename(bench)
    else:
        notes.append(f"benchmark {bench} could not be downloaded; reports will show no benchmark")
    vix_close = None
    if with_vix and vix in close.columns and close[vix].notna().any():
        vix_close = truncate(close[vix], as_of).dropna().rename("VIX")
    return PriceData(close=out_close, volume=out_volume, source="yfinance", benchmark=benchmark,
                     failed=failed, notes=tuple(notes), vix=vix_close)


def _plan_requests(requested: list[str], cached: CachedPrices | None, *, full_start: date,
                   end_day: date, overlap_days: int) -> tuple[dict[date, list[str]], set[str]]:
    """Start date -> tickers to download from it, and the tickers expected to deliver.

    Each ticker starts from its own last-asked day (the store's request log) minus
    ``overlap_days``, to pick up revised closes; tickers that share a start share requests, so
    after a normal run the whole universe is one group. A ticker already asked up to ``end_day``
    is not asked again (a same-day re-run asks nothing). A ticker that delivered nothing for a long
    time (delisted) is still asked from its own last-asked day, so a relisted symbol is noticed,
    without dragging anyone else's start back. A ticker whose request failed last time (an empty
    chunk, a time-out) kept its older last-asked day, so the missed days are asked again instead of
    becoming a hole. Tickers never asked (not in the cache): the full history from ``full_start``.

    The expected tickers (those that delivered on their last request) come first, in the first
    group: an empty answer for them means Yahoo is down and the download can stop there, rather
    than after trying delisted or new tickers that may simply not exist.
    """
    through = cached.asked_through() if cached is not None else {}
    expected: set[str] = set()
    if cached is not None:
        last = cached.last_date.date() if cached.last_date is not None else None
        lasts = cached.last_dates()
        for t in requested:
            record = cached.asked.get(t)
            if record is not None:
                if record.delivered_last_time:
                    expected.add(t)
            elif last is not None and lasts.get(t) == last:  # a cache from before the request log
                expected.add(t)
    plan: dict[date, list[str]] = {}
    for t in requested:
        asked = through.get(t)
        if asked is None:
            plan.setdefault(full_start, []).append(t)
        elif asked < end_day:
            plan.setdefault(max(asked - timedelta(days=overlap_days), full_start), []).append(t)
    expected &= {t for group in plan.values() for t in group}
    for start, group in plan.items():
        plan[start] = sorted(group, key=lambda t: t not in expected)  # stable: expected ones first
    order = sorted(plan, key=lambda start: (-sum(t in expected for t in plan[start]), start))
    return {start: plan[start] for start in order}, expected


def _record_requests(before: Mapping[str, Asked], answered: list[str], delivered: set[str],
                     end_day: date) -> dict[str, Asked]:
    """The request log after this run: ``answered`` tickers were asked up to ``end_day``.

    Only tickers whose request got an answer (their chunk was not empty) move on; the others keep
    their older last-asked day and are asked from it again next time.
    """
    log = dict(before)
    for t in answered:
        previous = log.get(t)
        through = max(end_day, previous.through) if previous is not None else end_day
        if t in delivered:
            log[t] = Asked(through=through, delivered=through)
        else:
            log[t] = Asked(through=through, delivered=previous.delivered if previous is not None else None)
    return log


def _download_all(plan: dict[date, list[str]], *, end_day: date, config: DataConfig, fetch: Fetcher,
                  sleep: Callable[[float], None], progress: bool):
    """Every chunk of the plan, in order; stops at the first empty chunk when nothing came yet.

    A chunk that stays empty after all its tries before anything was delivered means Yahoo is
    unreachable: the remaining chunks are not tried (they would only repeat the wait). Once some
    chunk delivered, Yahoo is up, so an empty chunk is tried at most :data:`EMPTY_CHUNK_ATTEMPTS`
    times and its tickers are reported as not delivered.
    """
    total = sum(len(t) for t in plan.values())
    closes, volumes, failed = [], [], {}
    chunks = [(start, tickers[i:i + CHUNK_SIZE])
              for start, tickers in plan.items() for i in range(0, len(tickers), CHUNK_SIZE)]
    delivered_any = False
    with Progress("downloading prices", total=total, stream=sys.stderr,
                  enabled=None if progress else False) as bar:
        for n, (start, chunk) in enumerate(chunks):
            attempts = config.download_retries + 1
            if delivered_any:
                attempts = min(attempts, EMPTY_CHUNK_ATTEMPTS)
            raw, reason = _download_chunk(chunk, start=start, end=end_day + timedelta(days=1),
                                          config=config, fetch=fetch, sleep=sleep, attempts=attempts)
            close, volume = parse_yfinance_frame(raw, chunk)
            if close.empty:
                for t in chunk:
                    failed[t] = f"{reason} after {attempts} attempt(s)"
                if not delivered_any:
                    skipped = [t for _, rest in chunks[n + 1:] for t in rest]
                    for t in skipped:
                        failed[t] = "not tried: Yahoo Finance sent nothing for an earlier chunk"
                    if skipped:
                        _log.warning("no data for the first %d ticker(s) (%s); the other %d are not tried",
                                     len(chunk), reason, len(skipped))
                    break
            elif close.notna().any().any():
                delivered_any = True
            closes.append(close)
            volumes.append(volume)
            bar.advance(chunk[-1], n=len(chunk))
    if not closes:
        empty = pd.DataFrame(index=pd.DatetimeIndex([], name="date", dtype="datetime64[ns]"), dtype="float64")
        return empty, empty.copy(), failed
    close = pd.concat(closes, axis=1, sort=True)
    volume = pd.concat(volumes, axis=1, sort=True)
    close = close.loc[:, ~close.columns.duplicated(keep="last")].sort_index(axis=1)
    volume = volume.loc[:, ~volume.columns.duplicated(keep="last")].reindex(index=close.index, columns=close.columns)
    close.index.name = volume.index.name = "date"
    return close, volume, failed


def _download_chunk(chunk: list[str], *, start: date, end: date, config: DataConfig, fetch: Fetcher,
                    sleep: Callable[[float], None], attempts: int) -> tuple[pd.DataFrame | None, str]:
    """One yf.download call with bounded retries; an empty frame counts as a failure to retry.

    Each try gets at most ``config.download_timeout`` seconds in all. yfinance's own ``timeout``
    applies to each HTTP request, and one call makes several per ticker (cookie, crumb, time zone,
    prices), some with their own fixed timeouts, and DNS lookups that ignore them: only a limit on
    the whole call bounds a try. A try that runs out is abandoned (its thread ends on its own).

    Returns
    -------
    (frame, reason)
        The frame of the last try (None when it raised or ran out of time) and, when it is empty,
        why: an empty response, the last error, or the time limit.
    """
    raw, reason = None, "empty response from Yahoo Finance"
    _RATE_LIMITED.clear()
    for attempt in range(attempts):
        call = functools.partial(fetch, chunk, start=start.isoformat(), end=end.isoformat(),
                                 auto_adjust=True, actions=False, threads=True, progress=False,
                                 group_by="column", timeout=config.download_timeout)
        try:
            with _quiet_yfinance():
                raw = _call_with_deadline(call, config.download_timeout, name="etftrader-download")
            reason = "empty response from Yahoo Finance"
        except Exception as e:  # yfinance raises many types (curl, JSON); retryable, but a 429 is not
            if _looks_rate_limited(type(e).__name__) or _looks_rate_limited(e):
                _log.warning("Yahoo Finance rate limit: %s", first_line(e))
                raise _rate_limited(chunk) from e
            _log.warning("download of %d ticker(s) from %s failed (attempt %d/%d): %s",
                         len(chunk), start, attempt + 1, attempts, first_line(e))
            raw = None
            reason = (f"no answer from Yahoo Finance within download_timeout = {config.download_timeout:g} s"
                      if isinstance(e, _Deadline) else f"download failed ({first_line(e)})")
        if isinstance(raw, pd.DataFrame) and not raw.empty:
            return raw, ""
        if _RATE_LIMITED.is_set():  # an empty frame because of a 429: retrying only prolongs it
            _log.warning("Yahoo Finance answered 429 Too Many Requests; stopping the download")
            raise _rate_limited(chunk)
        if attempt + 1 < attempts:
            wait = RETRY_BACKOFF_SECONDS * 2 ** attempt
            _log.info("empty or failed response for %d ticker(s); retrying in %.0f s", len(chunk), wait)
            sleep(wait)
    return raw, reason


class _Deadline(TimeoutError):
    """A call given to :func:`_call_with_deadline` did not finish in time."""


def _call_with_deadline(func: Callable[[], object], seconds: float, *, name: str):
    """``func()`` in a daemon thread; its result, its exception, or :class:`_Deadline` after ``seconds``.

    A daemon thread because neither socket timeouts nor yfinance's cover a stuck DNS lookup, and a
    call we stopped waiting for must not keep the process alive at exit.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = func()
        except Exception as e:  # handed to the caller below
            outcome["error"] = e

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _Deadline(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def _unreachable_reason(probe: Probe, seconds: float) -> str | None:
    """None when Yahoo answers ``probe`` within ``seconds`` (any HTTP status), else why not."""
    try:
        # one extra second: the probe's own timeout should fire first and say what happened
        _call_with_deadline(functools.partial(probe, YAHOO_URL, seconds), seconds + 1.0,
                            name="etftrader-yahoo-probe")
    except Exception as e:  # any failure to reach the host is the finding
        return f"{type(e).__name__}: {getattr(e, 'reason', None) or first_line(e)}"
    return None


def _probe_yahoo(url: str, timeout: float) -> str:
    """The real reachability check: one HTTP GET (:func:`.net.probe_url`; tests replace this)."""
    return probe_url(url, timeout)


def _yfinance_download(*args, **kwargs) -> pd.DataFrame:
    import multitasking  # yfinance's thread pool (a dependency of yfinance)
    import yfinance as yf

    # Our loop retries with backoff; yfinance's own retries (yf.config, 1.x) would multiply each try.
    network = getattr(getattr(yf, "config", None), "network", None)
    if network is not None:
        network.retries = 0
    # A try abandoned at its time limit leaves yfinance's per-ticker threads running; recent
    # multitasking versions create them as non-daemon threads, which would hold the process open
    # after our error message. (Without set_daemon, they inherit our worker thread's daemon flag.)
    set_daemon = getattr(multitasking, "set_daemon", None)
    if set_daemon is not None:
        set_daemon(True)
    return yf.download(*args, **kwargs)


@contextlib.contextmanager
def _quiet_yfinance():
    """Keep yfinance's logging, prints and warnings out of the console; they go to the run log."""
    _route_yfinance_logging()
    out, err = io.StringIO(), io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore")
            yield
    finally:
        for text in (out.getvalue(), err.getvalue()):
            for line in text.splitlines():
                if line.strip():
                    _log.info("yfinance: %s", line.strip())


def _route_yfinance_logging() -> None:
    """Send yfinance's log records to the run log, and silence its warnings, for the rest of the process.

    For good rather than per call: a try abandoned at its time limit keeps running in its thread
    and would otherwise print "Failed to get ticker ..." lines (Python's last-resort handler) or
    pandas deprecation warnings into the middle of our console output later.
    """
    yf_logger = logging.getLogger("yfinance")
    if not any(isinstance(h, _ForwardHandler) for h in yf_logger.handlers):
        yf_logger.addHandler(_ForwardHandler())
        warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
    yf_logger.propagate = False


class _ForwardHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().strip()
            if _looks_rate_limited(message):
                _RATE_LIMITED.set()  # yfinance logs a 429 per ticker and returns an empty frame
            _log.info("yfinance: %s", message)
        except Exception:  # a log line must never break a download
            pass


#: set when yfinance reported HTTP 429 (it logs YFRateLimitError per ticker instead of raising)
_RATE_LIMITED = threading.Event()


def _looks_rate_limited(text: object) -> bool:
    text = str(text)
    return any(k in text for k in ("YFRateLimitError", "Too Many Requests", "Rate limited", "HTTP Error 429"))


class RateLimitedError(SourceUnavailableError):
    """Yahoo Finance answered HTTP 429: treated as an outage (stop now, write nothing)."""


def _rate_limited(chunk: list[str]) -> RateLimitedError:
    return RateLimitedError(
        f"Yahoo Finance is rate-limiting this machine (HTTP 429 Too Many Requests) while downloading "
        f"{len(chunk)} ticker(s); nothing was downloaded into the cache or written. Run again in an "
        "hour, or use --source file")


# --------------------------------------------------------------------------- helpers


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
