"""Opening holdings: ``etftrader holdings import`` records positions (or tax lots) the analyst
already has, from a CSV, as one DEPOSIT and executed BUYs at cost, so the next weekly run starts
from them (and the Lots sheet from their dates and costs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError
from .holdings import LEDGER_SHEETS, holdings_from_ledger, require_ledger_sheets

__all__ = ["IMPORT_NOTE", "ImportedHoldings", "import_holdings", "import_rows", "read_holdings_csv"]

#: the note of the trades and the deposit an import records
IMPORT_NOTE = "opening holdings import"


def read_holdings_csv(path: str | Path) -> pd.DataFrame:
    """Read opening holdings: a CSV with columns ``ticker, shares, cost`` (cost = per-share basis)
    and, optionally, ``acquired`` (the date a lot was bought, YYYY-MM-DD).

    Without ``acquired`` a line is a ticker's whole position and a ticker appears once. With it a
    line is one tax lot: a ticker may have several lines (its lots), each with its own date and
    cost, and a blank ``acquired`` means the import date.

    Column names are matched without regard to case or surrounding spaces; extra columns are
    ignored. Returns a frame ``ticker, shares, cost, acquired, line`` (tickers upper case, sorted
    by ticker and date; ``acquired`` NaT where not given; ``line`` the file line).

    Raises
    ------
    DataError
        The file is missing or unreadable, a column is missing, a ticker is blank or repeated
        (without ``acquired``), a shares/cost cell is not a positive number, or an ``acquired``
        cell is not a date. The message names the file line.
    """
    path = Path(path)
    expected = "ticker, shares, cost (and optionally acquired)"
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DataError(f"holdings file {path} does not exist; pass a CSV with columns {expected}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise DataError(f"holdings file {path} is not a readable CSV ({e}); expected columns {expected}") from e
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in ("ticker", "shares", "cost") if c not in raw.columns]
    if missing:
        raise DataError(
            f"holdings file {path} lacks column(s) {', '.join(missing)}; expected {expected}, "
            f"got {', '.join(raw.columns) or 'none'}"
        )
    if raw.empty:
        raise DataError(f"holdings file {path} has no rows; add one line per ticker: ticker, shares, cost")
    lots = "acquired" in raw.columns
    seen: dict[str, int] = {}
    rows = []
    for i, rec in enumerate(raw.itertuples(index=False), start=2):  # line 1 is the header
        ticker = str(rec.ticker).strip().upper()
        if not ticker:
            raise DataError(f"holdings file {path}, line {i}: ticker is blank")
        if ticker in seen and not lots:
            raise DataError(f"holdings file {path}, line {i}: ticker {ticker} repeats line {seen[ticker]}; "
                            "give each ticker once with its total shares, or add an `acquired` column "
                            "to list its lots one per line")
        seen.setdefault(ticker, i)
        values: dict[str, Any] = {}
        for name in ("shares", "cost"):
            text = str(getattr(rec, name)).strip().replace(",", "")
            try:
                number = float(text)
            except ValueError:
                number = float("nan")
            if not (np.isfinite(number) and number > 0):
                raise DataError(f"holdings file {path}, line {i}: {name} of {ticker} must be a positive "
                                f"number, got {getattr(rec, name)!r}")
            values[name] = number
        values["acquired"] = pd.NaT
        text = str(getattr(rec, "acquired", "") or "").strip()
        if text:
            try:
                values["acquired"] = pd.Timestamp(datetime.strptime(text, "%Y-%m-%d"))
            except ValueError:
                raise DataError(f"holdings file {path}, line {i}: acquired of {ticker} must be a date "
                                f"YYYY-MM-DD, got {text!r}") from None
        rows.append({"ticker": ticker, **values, "line": i})
    frame = pd.DataFrame(rows)
    frame["acquired"] = pd.to_datetime(frame["acquired"])
    frame = frame.sort_values(["ticker", "acquired"], ignore_index=True, kind="stable")
    frame.attrs["path"] = str(path)
    return frame


def import_rows(holdings: pd.DataFrame, *, cash: float, timestamp: datetime, as_of: date,
                run_id: str) -> dict[str, pd.DataFrame]:
    """Ledger rows recording opening holdings: one DEPOSIT and executed BUYs at cost, one per
    line of ``holdings`` (a position, or a lot with its ``acquired`` date).

    The deposit is the cost basis total plus ``cash``, so cash after the import equals ``cash``.

    Raises
    ------
    DataError
        A lot's ``acquired`` date is after ``as_of``.
    """
    acquired = (pd.to_datetime(holdings["acquired"]) if "acquired" in holdings.columns
                else pd.Series(pd.NaT, index=holdings.index))
    late = acquired > pd.Timestamp(as_of)
    if late.any():
        first = holdings.loc[late].iloc[0]
        where = holdings.attrs.get("path", "holdings file")
        line = f", line {int(first['line'])}" if "line" in holdings.columns else ""
        raise DataError(f"holdings file {where}{line}: lot of {first['ticker']} acquired "
                        f"{acquired[late].iloc[0].date()} is after the import date {as_of}; pass --as-of on or "
                        "after it, or fix the date")
    value = holdings["shares"] * holdings["cost"]
    deposit = float(value.sum()) + float(cash)
    trades = pd.DataFrame({
        "timestamp": [timestamp] * len(holdings),
        "ticker": holdings["ticker"].tolist(),
        "action": ["BUY"] * len(holdings),
        "shares": holdings["shares"].astype(float).tolist(),
        "price": holdings["cost"].astype(float).tolist(),
        "value": value.astype(float).tolist(),
        "executed": [True] * len(holdings),
        "run_id": [run_id] * len(holdings),
        "as_of": [as_of] * len(holdings),
        "est_cost": [0.0] * len(holdings),
        "note": [IMPORT_NOTE] * len(holdings),
        "acquired": [d.date() if pd.notna(d) else None for d in acquired],
    })
    cashflows = pd.DataFrame({
        "timestamp": [timestamp],
        "type": ["DEPOSIT"],
        "amount": [deposit],
        "note": [IMPORT_NOTE],
        "run_id": [run_id],
        "as_of": [as_of],
    })
    return {"Trades": trades, "CashFlows": cashflows}


@dataclass(frozen=True)
class ImportedHoldings:
    """What :func:`import_holdings` recorded."""

    workbook: Path
    lines: int
    tickers: int
    lots: bool
    basis: float
    cash: float


def import_holdings(file: str | Path, *, home: Any, workbook: Path, cash: float, as_of: date | None,
                    force: bool, backups: int, lock_timeout: float) -> ImportedHoldings:
    """``etftrader holdings import``: record the CSV's opening holdings in the workbook, under the
    home folder's lock, as one DEPOSIT and one executed BUY per line (:func:`import_rows`).

    Raises
    ------
    DataError
        The CSV is not readable as holdings (:func:`read_holdings_csv`).
    ConfigError
        The ledger already records trades or cash and ``force`` is not set.
    WorkbookError, WorkbookLockedError
        The workbook cannot be read or written; it is left unchanged.
    """
    from .errors import ConfigError
    from .lock import home_lock
    from .pipeline import new_run_id
    from .workbook import append_week, check_writable, read_ledger, remove_stale_temp_files

    frame = read_holdings_csv(file)
    with home_lock(home.root, timeout=lock_timeout, command="holdings import"):
        remove_stale_temp_files(workbook, home.backups_dir)
        check_writable(workbook)
        ledger = read_ledger(workbook, sheets=LEDGER_SHEETS)
        require_ledger_sheets(ledger, workbook, home.backups_dir)
        current = holdings_from_ledger(ledger)
        if (current.executed_trades or current.has_cashflows) and not force:
            raise ConfigError(
                f"{workbook} already records {current.executed_trades} executed trades and cash flows of "
                f"{current.deposits:,.2f}; importing would add to them. Pass --force to import anyway"
            )
        now = datetime.now().replace(microsecond=0)
        rows = import_rows(frame, cash=cash, timestamp=now, as_of=as_of or now.date(), run_id=new_run_id(now))
        append_week(workbook, rows, backups_dir=home.backups_dir, keep=backups)
    return ImportedHoldings(workbook=workbook, lines=len(frame), tickers=int(frame["ticker"].nunique()),
                            lots=bool(frame["acquired"].notna().any()),
                            basis=float((frame["shares"] * frame["cost"]).sum()), cash=float(cash))
