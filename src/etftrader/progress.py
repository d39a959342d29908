"""Progress for long work: a one-line counter on a terminal, periodic log lines otherwise.

Scheduled runs (cron, Task Scheduler) are not attached to a terminal: they get no carriage-return
noise, only a few INFO lines in the run log. Output is plain ASCII.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from .runlog import LOGGER_NAME, is_interactive

__all__ = ["Progress"]

_log = logging.getLogger(LOGGER_NAME)


class Progress:
    """Count ``total`` steps of ``label``.

    >>> with Progress("download", total=3, stream=None) as p:
    ...     for t in ("SPY", "QQQ", "IWM"):
    ...         p.advance(t)
    """

    def __init__(self, label: str, total: int, *, stream: TextIO | None = sys.stderr,
                 enabled: bool | None = None, log_every: int = 0):
        self.label = label
        self.total = max(int(total), 0)
        self.done = 0
        self.stream = stream
        self.enabled = is_interactive(stream) if enabled is None and stream is not None else bool(enabled)
        self.log_every = log_every or max(self.total // 4, 1)

    def advance(self, item: str = "", n: int = 1) -> None:
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        if self.enabled and self.stream is not None:
            text = f"\r{self.label}: {self.done}/{self.total} {item}"[:79]
            self.stream.write(text.ljust(79))
            self.stream.flush()
        elif self.done % self.log_every == 0 or self.done == self.total:
            _log.info("%s: %d/%d", self.label, self.done, self.total)

    def close(self) -> None:
        if self.enabled and self.stream is not None:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
