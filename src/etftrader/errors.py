"""The exceptions etftrader raises on purpose.

Every foreseeable failure is one of these, with a message that names the thing, what was expected,
what was received and what to do. The CLI turns them into a one-line ``Error: ...`` and a non-zero
exit status; anything else is a bug and is logged in full.
"""

from __future__ import annotations

__all__ = [
    "EtfTraderError",
    "ConfigError",
    "DataError",
    "SourceUnavailableError",
    "WorkbookError",
    "WorkbookLockedError",
    "OptimizationError",
    "ReportError",
    "BusyError",
    "LimitsError",
    "first_line",
]


class EtfTraderError(Exception):
    """Base class: a failure the user can act on. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class ConfigError(EtfTraderError, ValueError):
    """A bad option, config file value or combination of settings."""

    exit_code = 2


class LimitsError(ConfigError):
    """The group limits cannot be met by this week's selection within the position bounds."""


class DataError(EtfTraderError, ValueError):
    """Prices or an input file are missing, malformed or unusable."""

    exit_code = 3


class SourceUnavailableError(DataError):
    """A price source could not be reached at all (network down, rate-limited)."""

    exit_code = 4


class WorkbookError(EtfTraderError):
    """The tracking workbook is corrupt, foreign or holds a value that cannot be read."""

    exit_code = 5


class WorkbookLockedError(WorkbookError):
    """The workbook (or its folder) cannot be written: open in Excel, read-only, no permission."""

    exit_code = 6


class OptimizationError(EtfTraderError):
    """An optimizer failed and no fallback applied. ``status`` carries the solver's status."""

    exit_code = 7

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status


class ReportError(EtfTraderError):
    """The monitoring or validation notebook failed to render (the workbook is unaffected)."""

    exit_code = 8


class BusyError(EtfTraderError):
    """Another etftrader run holds the home folder's lock (one writer at a time)."""

    exit_code = 9


def first_line(error: BaseException | str | None, *, with_type: bool = False, limit: int | None = None,
               empty: str | None = None) -> str:
    """The first non-blank line of an exception's message (or of a text), for one-line errors.

    Parameters
    ----------
    error : exception, str or None
    with_type : bool
        Prefix an exception's type (``OSError: disk full``). An exception without a message is
        always its type name.
    limit : int, optional
        Collapse whitespace and cut to this many characters (``...`` at the end).
    empty : str, optional
        What a blank text gives (default ``"no message"``).

    Examples
    --------
    >>> first_line(ValueError("bad value\\nmore detail"))
    'bad value'
    >>> first_line(OSError("disk full"), with_type=True)
    'OSError: disk full'
    """
    is_error = isinstance(error, BaseException)
    lines = [line.strip() for line in str(error if error is not None else "").splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if is_error and (with_type or not text):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if not text:
        text = "no message" if empty is None else empty
    if limit is not None:
        text = " ".join(text.split())
        text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text
