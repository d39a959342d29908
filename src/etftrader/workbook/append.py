"""Appending a week to the ledger at the zip level, without re-saving the workbook.

openpyxl keeps only what it understands when it loads and re-saves a file (text boxes, shapes,
pivot tables and cached formula values are lost), and it is slow on a long history. So the
workbook is treated as the zip it is: every part is copied unchanged except the worksheet XML of
the sheets we append to (new ``<row>`` elements before ``</sheetData>``, a new ``<dimension>``)
and their table parts (a longer ``ref``). Columns are found by the header's names, so columns the
analyst inserted, moved or added do not matter, and rows go after the highest used row, so sorted
or filtered rows do not either. Strings are inline (``t="inlineStr"``): ``sharedStrings.xml`` is
never touched and text starting with ``=``, ``+``, ``-`` or ``@`` stays text.

Rarely, more is edited: a sheet or a schema column the workbook lacks (an older workbook, e.g.
one from before CashFlows existed) is added, which also edits ``workbook.xml``, its
relationships, ``[Content_Types].xml`` and, for number formats, ``styles.xml``.

The pieces: :mod:`.scan` (where things are in a sheet), :mod:`.cells` (the XML written), :mod:`.edit`
(the parts changed and the zip written once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping
import pandas as pd

from ._xlsx import col_letters
from .create import new_workbook_bytes
from .safety import atomic_write, backup, check_access, real_path
from .schema import GAINS_COLUMNS, GAINS_SHEET, HOLDINGS_SHEET, LOTS_COLUMNS, LOTS_SHEET, ROW_COLUMN, SCHEMA, SHEETS
from .scan import SheetScan, inspect_workbook
from .edit import _Edit


__all__ = ["append_week", "check_writable", "inspect_workbook", "append_bytes"]


def check_writable(path: str | Path) -> None:
    """Raise before any work is recorded if the workbook cannot be appended to.

    Parameters
    ----------
    path : str or Path
        The tracking workbook (it may not exist yet).

    Raises
    ------
    WorkbookLockedError
        The workbook is open in Excel (its lock file exists), is read-only or cannot be opened
        for writing, or its folder does not accept new files.
    WorkbookError
        The file exists but is not a workbook we can append to: not an ``.xlsx``, damaged, or a
        workbook without our sheets and columns.
    """
    path = real_path(path)
    check_access(path)
    if path.exists():
        # Parse structure and headers now, so a foreign or damaged file stops the run before any
        # work is done.
        inspect_workbook(path.read_bytes(), path, head_only=True)


def append_week(path: str | Path, rows: Mapping[str, pd.DataFrame], *, backups_dir: str | Path,
                keep: int = 5, holdings: pd.DataFrame | None = None,
                statuses: Mapping[int, str] | None = None, lots: pd.DataFrame | None = None,
                gains: pd.DataFrame | None = None) -> Path:
    """Append one week's rows to the ledger, atomically, creating the workbook when missing.

    Parameters
    ----------
    path : str or Path
        The tracking workbook.
    rows : mapping of sheet name -> DataFrame
        Rows to add per sheet, columns by schema name (any order; missing ones are left blank;
        ``_row`` is ignored). A sheet given with an empty frame is only created if missing.
    backups_dir : str or Path
        Where the previous version is copied first (``<stem>_<timestamp>.xlsx``).
    keep : int, default 5
        How many backups to keep (the newest); 0 keeps none.
    holdings : DataFrame, optional
        The Holdings sheet's new rows (:data:`~.schema.HOLDINGS_COLUMNS`): the sheet is the run's
        own and is rewritten whole.
    lots : DataFrame, optional
        The Lots sheet's new rows (:data:`~.schema.LOTS_COLUMNS`), the run's own as well.
    gains : DataFrame, optional
        The Gains sheet's new rows (:data:`~.schema.GAINS_COLUMNS`): realised gains by year, the
        run's own too.
    statuses : mapping of row number to status, optional
        The Trades status of earlier rows as of this week (``executed`` or ``superseded``): the
        shown value of their status formulas is brought up to date, for an application that does
        not recalculate on opening (LibreOffice by default). Nothing else in those rows changes.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        ``rows`` names a sheet or column the ledger does not have (a programming error).
    WorkbookLockedError
        The workbook or its folder cannot be written (see :func:`check_writable`).
    WorkbookError
        The file is not a workbook we can append to. In every failure the file is unchanged.
    """
    path = real_path(path)  # a link into a synced folder: write the target, keep the link
    _validate_rows(rows)
    check_access(path)
    original = path.read_bytes() if path.exists() else None
    new = append_bytes(original, rows, path, holdings=holdings, statuses=statuses, lots=lots, gains=gains)
    if original is not None:
        backup(path, Path(backups_dir), keep)
    atomic_write(path, lambda fh: fh.write(new))
    return path


def _validate_rows(rows: Mapping[str, pd.DataFrame]) -> None:
    for sheet, frame in rows.items():
        if sheet not in SCHEMA:
            raise ValueError(f"append_week: unknown sheet {sheet!r}; the ledger has {list(SHEETS)}")
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"append_week: rows[{sheet!r}] must be a DataFrame, got {type(frame).__name__}")
        extra = [c for c in frame.columns if c not in SCHEMA[sheet] and c != ROW_COLUMN]
        if extra:
            raise ValueError(f"append_week: sheet {sheet} has no column(s) {extra}; its columns are {SCHEMA[sheet]}")


def append_bytes(original: bytes | None, rows: Mapping[str, pd.DataFrame], path: Path,
                 holdings: pd.DataFrame | None = None, statuses: Mapping[int, str] | None = None,
                 lots: pd.DataFrame | None = None, gains: pd.DataFrame | None = None) -> bytes:
    """The new workbook bytes: ``original`` (or a new ledger) with ``rows`` appended and, when
    given, the run's own Holdings sheet rewritten with ``holdings``."""
    _validate_rows(rows)
    if original is None:
        original = new_workbook_bytes()
    insp = inspect_workbook(original, path)
    pkg = insp.pkg
    edit = _Edit(pkg)
    scans = {}
    for sheet in SHEETS:
        if sheet not in rows:
            continue
        scan = insp.scans.get(sheet)
        if scan is None:
            scan = edit.add_sheet(sheet)
        scans[sheet] = scan
    for sheet in list(scans):  # once per workbook: what a new one has (print setup, the dropdown)
        scans[sheet] = edit.upgrade_sheet(scans[sheet])
    perf = scans.get("Performance") or insp.scans.get("Performance")
    for sheet, scan in scans.items():
        frame = rows[sheet].drop(columns=[ROW_COLUMN], errors="ignore")
        if sheet == "Trades" and statuses:
            scan = edit.refresh_statuses(scan, statuses)
        edit.append(scan, frame, latest_as_of=_latest_as_of_ref(perf))
    if holdings is not None:
        edit.rewrite_holdings(holdings)
        edit.print_titles(HOLDINGS_SHEET, 1)
    if lots is not None:
        edit.rewrite_own(LOTS_SHEET, LOTS_COLUMNS, lots)
        edit.print_titles(LOTS_SHEET, 1)
    if gains is not None:
        edit.rewrite_own(GAINS_SHEET, GAINS_COLUMNS, gains)
        edit.print_titles(GAINS_SHEET, 1)
    if "Trades" in rows:
        edit.recalculate_on_load()  # the status formulas of earlier rows move on with each week
    return edit.write()


def _latest_as_of_ref(perf: SheetScan | None) -> str | None:
    """``MAX(Performance!B:B)``-style reference to the latest week's as-of, or None."""
    if perf is None:
        return None
    column = perf.by_name.get("as_of")
    if column is None:
        return None
    letters = col_letters(column)
    return f"MAX('{perf.sheet}'!{letters}:{letters})"
