"""The tracking workbook: the analyst's ledger of positions, trades, performance and runs.

``results/portfolio_tracking.xlsx`` is read and appended to here and nowhere else. Creating a
workbook uses openpyxl (styles, Tables, validation); appending treats the ``.xlsx`` as a zip and
adds ``<row>`` elements to the sheets it owns, copying every other part byte for byte, so whatever
the analyst put in (charts, text boxes, comments, pivot tables, cached formula values) survives and
the append stays fast as the ledger grows. Reading streams the sheet XML.

Public API: :data:`SCHEMA`, :data:`SEED_COLUMNS`, :class:`Ledger`, :func:`read_ledger`,
:func:`check_writable`, :func:`append_week`.
"""

from __future__ import annotations

from .schema import ROW_COLUMN, SCHEMA, SEED_COLUMNS, SHEETS
from .reader import Ledger, read_ledger
from .safety import remove_stale_temp_files
from .append import append_week, check_writable

__all__ = [
    "SCHEMA",
    "SEED_COLUMNS",
    "SHEETS",
    "ROW_COLUMN",
    "Ledger",
    "read_ledger",
    "check_writable",
    "append_week",
    "remove_stale_temp_files",
]
