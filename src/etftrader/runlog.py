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
    handler = logging.FileHandler(path, encoding="utf-8")
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
