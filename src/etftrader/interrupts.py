"""Ending a run cleanly on Ctrl+C or SIGTERM, and saying whether the week was recorded.

Scheduled runs are stopped by SIGTERM (a service manager, ``timeout``, Task Scheduler's time
limit); an analyst stops a run with Ctrl+C. Either way the user gets one line that says whether the
workbook holds the week, and the exit status the README lists (130 for SIGINT, 143 for SIGTERM).
:func:`mark_recorded` is called by the code that has just replaced the workbook.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["Terminated", "mark_recorded", "recorded", "reset", "set_outcome", "signals_as_exceptions", "outcome"]

_state: dict[str, str | None] = {"recorded": None, "outcome": None}


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (or SIGBREAK on Windows).

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on the way up swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def mark_recorded(what: str) -> None:
    """Note that the week is now in the workbook (``what`` names it, e.g. the workbook path)."""
    _state["recorded"] = what


def recorded() -> str | None:
    return _state["recorded"]


def reset() -> None:
    _state["recorded"] = None
    _state["outcome"] = None


def set_outcome(text: str | None) -> None:
    """What an interrupted run that writes no workbook (a sweep) leaves behind, in words."""
    _state["outcome"] = text


def outcome() -> str:
    """What an interrupted run leaves behind, in words."""
    if _state["outcome"]:
        return _state["outcome"]
    where = recorded()
    if where:
        return f"the week was recorded in {where}; the report may be missing (run `etftrader report`)"
    return "nothing was recorded: the workbook is unchanged"


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGTERM (and SIGBREAK on Windows) raise :class:`Terminated` in the main thread meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise Terminated(signum)

    names = ["SIGTERM"] + (["SIGBREAK"] if hasattr(signal, "SIGBREAK") else [])
    previous = {}
    for name in names:
        sig = getattr(signal, name)
        try:
            previous[sig] = signal.signal(sig, _raise)
        except (ValueError, OSError):  # pragma: no cover - not settable here
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, handler)
