"""Price files: a CSV or parquet, wide (date x tickers) or long (date, ticker, close[, volume])."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path
import numpy as np
import pandas as pd

from ..config import DataConfig
from ..errors import DataError, EtfTraderError, first_line
from ..paths import Home
from .frame import PriceData, normalize_frame
from .common import _home_relative, _show, _subset


_DATE_NAMES = ("date", "datetime", "timestamp", "time", "day", "dates")


_TICKER_NAMES = ("ticker", "symbol", "tickers", "symbols")

_CLOSE_NAMES = ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close", "close", "price")


_VOLUME_NAMES = ("volume",)

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
