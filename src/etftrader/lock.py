"""One writer at a time: an exclusive lock on the home folder for a run's read-decide-write cycle.

A weekly run reads the ledger, decides the week and replaces the workbook. Two runs doing that at
once (a scheduled run firing while the analyst runs by hand) would both read the same ledger and
the second replace would silently drop the first run's week. :func:`home_lock` makes the second run
wait a bounded time and then stop with :class:`~etftrader.errors.BusyError`, naming who holds it.

The lock is an operating-system lock (``filelock``: ``fcntl.flock`` on POSIX, ``msvcrt.locking``
on Windows) on ``<home>/.etftrader.lock``. The operating system releases it when the holding
process dies, so a run killed with ``kill -9`` or a power cut never leaves a lock behind that
blocks the next run: its left-over note is simply taken over (and logged). Where the file system
cannot lock files (some network drives), a lock file whose note names a process that is no longer
running on this machine is taken over instead. Who holds the lock is written beside it in
``.etftrader.lock.json`` (pid, host, start time, command), because a locked file cannot be read
on Windows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

from .errors import BusyError, ConfigError

__all__ = ["LOCK_NAME", "INFO_NAME", "home_lock", "lock_holder"]

LOCK_NAME = ".etftrader.lock"
INFO_NAME = ".etftrader.lock.json"

_log = logging.getLogger("etftrader.lock")


def lock_holder(root: Path) -> dict | None:
    """The note of the run holding (or last holding) the lock of home folder ``root``, if any."""
    try:
        return json.loads((Path(root) / INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _describe(info: dict | None) -> str:
    if not info:
        return "another etftrader run is using this home folder"
    started = str(info.get("started", ""))
    since = started[11:19] if len(started) >= 19 else started or "?"
    day = started[:10]
    today = datetime.now().strftime("%Y-%m-%d")
    when = since if day == today else f"{day} {since}"
    what = info.get("command") or "etftrader"
    return (f"another etftrader run is using this home folder since {when}, pid {info.get('pid', '?')} "
            f"({what} on {info.get('host', '?')})")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def home_lock(root: Path, *, timeout: float, command: str) -> Iterator[None]:
    """Hold the home folder's exclusive lock for the ``with`` block.

    Parameters
    ----------
    root : Path
        The home folder (it must exist).
    timeout : float
        Seconds to wait for a run holding the lock to finish (0: do not wait).
    command : str
        What this run is (``"weekly"``, ``"holdings import"``), shown to a run that has to wait.

    Raises
    ------
    BusyError
        The lock was still held after ``timeout`` seconds; the message names the holder.
    ConfigError
        ``timeout`` is negative or not a number.
    """
    from filelock import FileLock, SoftFileLock, Timeout

    if not (isinstance(timeout, (int, float)) and timeout >= 0):
        raise ConfigError(f"`lock_timeout` must be a number of seconds >= 0, got {timeout!r}")
    root = Path(root)
    lock_path = root / LOCK_NAME
    waited = time.monotonic()
    lock = FileLock(lock_path, timeout=timeout)
    try:
        lock.acquire(poll_interval=0.1)
    except Timeout:
        raise BusyError(_busy_message(root, timeout)) from None
    except OSError as e:  # no OS locks here (some network drives): a lock file, with a staleness check
        _log.info("OS file locks unavailable in %s (%s); using a lock file", root, e)
        lock = SoftFileLock(lock_path.with_suffix(".softlock"), timeout=timeout)
        _take_over_if_stale(root, lock_path.with_suffix(".softlock"))
        try:
            lock.acquire(poll_interval=0.1)
        except Timeout:
            raise BusyError(_busy_message(root, timeout)) from None
    try:
        left = lock_holder(root)
        if left and left.get("pid") != os.getpid():
            _log.info("took over the lock note left by pid %s (%s, started %s), which no longer holds it",
                      left.get("pid"), left.get("command"), left.get("started"))
        waited = time.monotonic() - waited
        if waited > 0.5:
            _log.info("waited %.1f s for another run to release the home folder", waited)
        _write_note(root, command)
        yield
    finally:
        # Released first, then the note removed if it is still ours: a run that finds the lock
        # held always finds the holder's note (a new holder's note is never removed by us).
        lock.release()
        note = lock_holder(root)
        if note and note.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                (root / INFO_NAME).unlink()


def _busy_message(root: Path, timeout: float) -> str:
    # The holder writes its note just after it takes the lock: give it a moment to appear.
    info, deadline = lock_holder(root), time.monotonic() + 2.0
    while info is None and time.monotonic() < deadline:
        time.sleep(0.05)
        info = lock_holder(root)
    return (f"{_describe(info)}; waited {timeout:g} s. Run again when it has finished "
            f"(or raise lock_timeout in the [run] section of etftrader.toml); home folder {root}")


def _write_note(root: Path, command: str) -> None:
    note = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now().isoformat(timespec="seconds"), "command": command}
    from .files import replacing

    try:
        with replacing(root / INFO_NAME) as tmp:
            tmp.write_text(json.dumps(note), encoding="utf-8")
    except OSError as e:  # the note only helps a waiting run's message; never fail a run for it
        _log.info("could not write the lock note in %s: %s", root, e)


def _take_over_if_stale(root: Path, soft: Path) -> None:
    """Remove a lock file left by a run that died, when its note says so (same host, pid gone)."""
    if not soft.exists():
        return
    info = lock_holder(root)
    if info and info.get("host") == socket.gethostname() and not _pid_alive(int(info.get("pid", 0))):
        _log.info("removing the stale lock file of pid %s (no longer running)", info.get("pid"))
        with contextlib.suppress(OSError):
            soft.unlink()
