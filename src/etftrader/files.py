"""Writing a file whole: through a temporary file beside it, then one ``os.replace``.

Every file etftrader writes for later reading (the workbook, the price store, the side files of the
report, the sweep's cache and outputs, the quality table, the lock's note) goes through
:func:`replacing`: a reader sees the old file or the new one, never half of either, and a failed or
interrupted write leaves the old file untouched and no temporary file behind (a kill leaves one,
named with a leading dot; the workbook's are swept up by the next run).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["atomic_write", "lock_files", "replacing"]


@contextlib.contextmanager
def replacing(path: str | Path, *, prefix: str | None = None, durable: bool = False) -> Iterator[Path]:
    """A temporary path to write; when the block ends without an error it replaces ``path``.

    Parameters
    ----------
    path : str or Path
        The file to write (its folder is created when missing).
    prefix : str, optional
        Name prefix of the temporary file (default ``.<name>.``).
    durable : bool
        Flush the file and its folder to disk before and after the replace (the workbook).

    The new file keeps the old one's permissions (made writable by the owner), or follows the umask
    when new (a temporary file is private at first): the same rule for every file etftrader writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if path.exists():
            # the old file's permissions, but writable by us: a read-only mode copied onto the
            # temporary file would make Windows refuse to replace or delete it
            mode = stat.S_IMODE(os.stat(path).st_mode) | stat.S_IWUSR
        else:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        if durable:
            _fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):  # the error that got us here is the one to report
            os.chmod(tmp, stat.S_IWUSR | stat.S_IRUSR)
            tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, write: Callable[[object], None], **options) -> None:
    """Write ``path`` whole with ``write(binary file object)`` (see :func:`replacing`)."""
    with replacing(path, **options) as tmp, open(tmp, "wb") as fh:
        write(fh)


def lock_files(path: str | Path) -> list[Path]:
    """Where Excel or LibreOffice puts its owner (lock) file while ``path`` is open.

    Excel prefixes short names with ``~$`` and, for longer ones, replaces the first two
    characters (``portfolio_tracking.xlsx`` -> ``~$rtfolio_tracking.xlsx``); LibreOffice
    writes ``.~lock.<name>#``. All three are checked. (Here, with no dependency, so that
    ``etftrader doctor`` can check them even when the workbook package cannot be imported.)
    """
    path = Path(path)
    name = path.name
    candidates = [f"~${name}", f"~${name[2:]}", f".~lock.{name}#"]
    return [path.with_name(c) for c in dict.fromkeys(candidates) if len(c) > 2]


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask (read by setting it and putting it back; 0o022 where it cannot be read).
    Setting it is process-wide: a lock keeps two writing threads from racing on it."""
    with _UMASK_LOCK:
        try:
            current = os.umask(0o022)
            os.umask(current)
            return current
        except (AttributeError, OSError):  # pragma: no cover - every platform has os.umask
            return 0o022


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open folders this way.
    if os.name != "posix":
        return
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
