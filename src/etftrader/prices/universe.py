"""The ETF universe: which tickers the yfinance source downloads.

The bundled ``resources/etf_universe.csv`` lists real US-listed ETFs (ticker, name, asset_class,
category); ``DataConfig.universe`` can point to the user's own CSV with at least a ``ticker`` column.
Problems a hand-edited list has (blank rows, duplicates, cells that are not tickers) are reported in
``frame.attrs["notes"]`` and the run log, not fatal; a file without a ticker column is an error.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import DataError, first_line
from ..runlog import LOGGER_NAME

__all__ = ["load_universe", "UNIVERSE_COLUMNS", "bundled_universe_path"]

_log = logging.getLogger(f"{LOGGER_NAME}.prices")

UNIVERSE_COLUMNS = ("ticker", "name", "asset_class", "category")
# Yahoo symbols: letters, digits and . - ^ = (BRK-B, ^VIX, EURUSD=X). A leading = + - @ would also
# turn into a formula when the ticker is written to Excel, so those never count as tickers.
_TICKER_RE = re.compile(r"^[A-Z0-9^][A-Z0-9.\-=^]{0,14}$")
_TICKER_ALIASES = ("ticker", "symbol", "tickers", "symbols")


def bundled_universe_path() -> Path:
    """Path of the bundled default universe CSV."""
    return Path(str(resources.files("etftrader") / "resources" / "etf_universe.csv"))


def load_universe(path: str | Path | None = None) -> pd.DataFrame:
    """Read a universe CSV (``None`` or ``""`` = the bundled list of US-listed ETFs).

    Parameters
    ----------
    path : str or Path or None
        CSV with a header row holding a ``ticker`` column (``symbol`` also accepted, any case);
        ``name``, ``asset_class`` and ``category`` are optional.

    Returns
    -------
    DataFrame
        Columns ``ticker, name, asset_class, category``; tickers stripped and upper-case, unique, in
        file order. ``attrs["notes"]`` lists what was skipped and why (blank rows, duplicates,
        invalid tickers).

    Raises
    ------
    DataError
        The file is missing, unreadable, has no ticker column, or holds no usable ticker.
    """
    path = Path(path) if path else bundled_universe_path()
    if path.suffix.lower() not in (".csv", ".txt"):
        raise DataError(f"universe file {path} must be a .csv with a `ticker` column, got a {path.suffix or 'file without extension'}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                          skip_blank_lines=False)
    except FileNotFoundError:
        raise DataError(f"universe file {path} does not exist; fix `universe` in the config or leave it empty for the bundled list") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"universe file {path} cannot be read as CSV: {first_line(e)}") from e

    lower = {str(c).strip().lower(): c for c in raw.columns}
    ticker_col = next((lower[a] for a in _TICKER_ALIASES if a in lower), None)
    if ticker_col is None:
        shown = ", ".join(str(c) for c in raw.columns[:6]) or "none"
        raise DataError(
            f"universe file {path} has no `ticker` column (columns found: {shown}); "
            "add a header row whose first cell is `ticker`"
        )
    out = pd.DataFrame({"ticker": raw[ticker_col].str.strip().str.upper()})
    for col in UNIVERSE_COLUMNS[1:]:
        out[col] = raw[lower[col]].str.strip() if col in lower else ""

    notes: list[str] = []
    line_numbers = pd.Series(range(2, len(raw) + 2), index=raw.index)  # header is line 1
    blank = out["ticker"] == ""
    if blank.any():
        notes.append(f"universe {path.name}: skipped {int(blank.sum())} blank row(s) "
                     f"(lines {_first_lines(line_numbers[blank])})")
    invalid = ~blank & ~out["ticker"].str.match(_TICKER_RE)
    if invalid.any():
        examples = ", ".join(repr(t) for t in out.loc[invalid, "ticker"].head(3))
        notes.append(f"universe {path.name}: skipped {int(invalid.sum())} cell(s) that are not tickers "
                     f"(e.g. {examples})")
    out = out[~blank & ~invalid]
    dup = out["ticker"].duplicated()
    if dup.any():
        names = ", ".join(sorted(set(out.loc[dup, "ticker"]))[:5])
        notes.append(f"universe {path.name}: ignored {int(dup.sum())} duplicate ticker(s): {names}")
    out = out[~dup].reset_index(drop=True)
    if out.empty:
        raise DataError(f"universe file {path} lists no usable ticker; put one ticker per row under a `ticker` header")
    for note in notes:
        _log.warning(note)
    out.attrs["notes"] = notes
    out.attrs["path"] = str(path)
    return out


def _first_lines(lines: pd.Series, limit: int = 5) -> str:
    shown = ", ".join(str(n) for n in lines.head(limit))
    return shown + (", ..." if len(lines) > limit else "")
