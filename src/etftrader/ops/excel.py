"""Open the tracking workbook in Excel after a run (``etftrader weekly --open``).

xlwings drives Excel on Windows and macOS only; it is the optional extra ``etftrader[excel]`` so the
core installs everywhere, and it is imported only when asked for. Opening is a convenience at the
end of a run whose work is already saved, so :func:`open_workbook` never raises: it returns one
plain-ASCII line saying what happened.
"""

from __future__ import annotations

import importlib
import logging
import platform
import threading
from pathlib import Path
from typing import Callable

from ..errors import first_line
from ..runlog import LOGGER_NAME

__all__ = ["EXCEL_SYSTEMS", "open_workbook"]

#: Systems where xlwings can drive Excel.
EXCEL_SYSTEMS = ("Windows", "Darwin")
#: Seconds allowed for Excel to start and show the workbook (a cold start takes a while).
OPEN_TIMEOUT = 60.0

_log = logging.getLogger(LOGGER_NAME)


def open_workbook(path: str | Path, *, system: str | None = None) -> str:
    """Open ``path`` in Excel through xlwings and bring it to the front.

    Parameters
    ----------
    path : str or Path
        The workbook to open.
    system : str, optional
        ``platform.system()`` by default; tests pass another.

    Returns
    -------
    str
        One line for the console: opened, or why not and what to do instead.
    """
    path = Path(path).expanduser().absolute()
    system = system or platform.system()
    if system not in EXCEL_SYSTEMS:
        return (f"Not opened: Excel cannot be driven from {system or 'this system'} "
                f"(xlwings needs Windows or macOS); open {path} yourself")
    if not path.is_file():
        return f"Not opened: the workbook {path} does not exist"
    try:
        xlwings = importlib.import_module("xlwings")
    except ImportError:
        return (f"Not opened: xlwings is not installed; install etftrader[excel] "
                f"(pip install \"etftrader[excel]\") or open {path} yourself")
    outcome = _bounded(lambda: _show(xlwings, path), system, OPEN_TIMEOUT)
    if outcome is None:
        _log.warning("Excel did not answer within %s s while opening %s", OPEN_TIMEOUT, path)
        return (f"Not opened: Excel did not answer within {OPEN_TIMEOUT:g} s "
                f"(no desktop session?); open {path} yourself")
    if isinstance(outcome, Exception):  # COM / AppleScript failures are many and opaque
        _log.warning("could not open %s in Excel: %s: %s", path, type(outcome).__name__, outcome)
        reason = _one_line(f"{type(outcome).__name__}: {outcome}")
        return f"Not opened: Excel could not open {path} ({reason}); open it yourself"
    return f"Opened {path} in Excel"


def _show(xlwings, path: Path) -> None:
    # xw.Book returns the open book when Excel already has it, else opens it (starting Excel)
    book = xlwings.Book(str(path))
    book.app.visible = True
    book.activate(steal_focus=True)


def _bounded(call: Callable[[], None], system: str, timeout: float) -> Exception | bool | None:
    """Run ``call`` in a daemon thread: True when done, the exception it raised, None on timeout.

    A scheduled run (cron on macOS, a task without a desktop) can leave Excel's automation
    waiting for a session that never comes; the run must still end.
    """
    outcome: dict[str, Exception | bool] = {}

    def work() -> None:
        com = None
        if system == "Windows":  # COM needs initialising in each thread that uses it
            try:
                import pythoncom  # pywin32, installed with xlwings on Windows

                pythoncom.CoInitialize()
                com = pythoncom
            except ImportError:
                pass
        try:
            call()
            outcome["result"] = True
        except Exception as e:
            outcome["result"] = e
        finally:
            if com is not None:
                com.CoUninitialize()

    worker = threading.Thread(target=work, name="etftrader-open-workbook", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome.get("result")


def _one_line(text: str, limit: int = 160) -> str:
    """One ASCII line (what a Windows console shows)."""
    return first_line(" ".join(str(text).split()), limit=limit, empty="").encode("ascii", "replace").decode("ascii")
