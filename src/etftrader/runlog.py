"""Logging for runs: a timestamped log file per run and a quiet console.

Each run writes ``logs/<name>_YYYYMMDD_HHMMSS.log`` with everything that was decided and why; the
console shows warnings only (the CLI prints its own summary). Log text is plain ASCII-safe so it
survives a Windows console or a cron mail.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

__all__ = ["LOGGER_NAME", "start_run_log", "stop_run_log", "is_interactive"]

LOGGER_NAME = "etftrader"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _RunLogHandler(logging.FileHandler):
    """A run log that never turns a failed write (a full disk, an unplugged drive) into tracebacks.

    logging's default prints a traceback to stderr for every record it cannot write; a run on a
    full disk printed hundreds of lines. Here the first failure prints one line and the rest of
    the run's records are dropped: the run itself goes on and reports its own outcome.
    """

    _failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if self._failed:
            return
        self._failed = True
        err = sys.exc_info()[1]
        reason = getattr(err, "strerror", None) or err
        try:
            sys.stderr.write(f"Warning: the run log {self.baseFilename} cannot be written ({reason}); "
                             "continuing without it\n")
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # flushing the last lines onto a full disk
            pass


def start_run_log(logs_dir: Path, name: str, *, now: datetime | None = None) -> Path:
    """Attach a file handler writing ``logs_dir/<name>_YYYYMMDD_HHMMSS.log``; return its path.

    Library loggers (``etftrader``, ``factors``, ``optimizers``) log at INFO into it.
    """
    logs_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    path = logs_dir / f"{name}_{stamp}.log"
    n = 1
    while path.exists():  # two runs in the same second must not share a log
        path = logs_dir / f"{name}_{stamp}_{n}.log"
        n += 1
    handler = _RunLogHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(logging.DEBUG)
    handler._etftrader_run = True  # type: ignore[attr-defined]
    for logger_name in (LOGGER_NAME, "factors", "optimizers"):
        logger = logging.getLogger(logger_name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    return path


def stop_run_log() -> None:
    """Flush and detach the run's file handler(s)."""
    for logger_name in (LOGGER_NAME, "factors", "optimizers"):
        logger = logging.getLogger(logger_name)
        for handler in list(logger.handlers):
            if getattr(handler, "_etftrader_run", False):
                handler.close()
                logger.removeHandler(handler)


def is_interactive(stream=None) -> bool:
    """True when ``stream`` (default stderr) is a terminal: show progress; else stay quiet."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
