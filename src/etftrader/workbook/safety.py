"""Keeping the analyst's workbook safe: can we write it, backups, and the atomic replace.

The rule: a run that fails for any reason leaves the workbook byte-for-byte as it was. New bytes
go to a temporary file in the same folder (same file system, so the final ``os.replace`` is
atomic), are flushed to disk, and only then replace the original; the previous version is copied
to the backups folder first and the newest few backups are kept.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import WorkbookError, WorkbookLockedError
from ..files import lock_files

__all__ = ["check_access", "lock_files", "atomic_write", "backup", "TEMP_PREFIX",
           "real_path", "remove_stale_temp_files", "write_failure"]

# Temp files start with this so an analyst who finds one after a power cut knows whose it is
# (and it never starts with "~$", which is Excel's lock-file prefix).
TEMP_PREFIX = ".etftrader-tmp-"
_CLOSE_IT = "close it in Excel (or any program that has it open) and run again"


def real_path(path: str | Path) -> Path:
    """``path`` with symbolic links followed (a link into a synced folder stays a link).

    The workbook's new version is written next to the link's *target* and replaces the target,
    so the link keeps pointing at the real, updated file.
    """
    return Path(os.path.realpath(path))


def write_failure(path: Path, e: OSError, what: str = "could not be written") -> str:
    """One line for an OSError while writing ``path``: what happened and what to do.

    A workbook open in Excel on Windows shows up as a PermissionError (EACCES); a read-only
    mount (EROFS), an immutable file (EPERM), a full disk and an I/O error each get their own
    advice, so nobody is told to close Excel when the disk is full.
    """
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        todo = "free some disk space and run again"
    elif e.errno == errno.EROFS:
        todo = "the file system is mounted read-only; pass --workbook on a writable drive"
    elif e.errno == errno.EIO:
        todo = "the disk reported an I/O error; check the drive, then run again"
    elif e.errno == errno.EPERM and os.name == "posix":
        todo = "the file or folder is protected (immutable or not yours); check its attributes and permissions"
    elif isinstance(e, PermissionError):
        todo = _CLOSE_IT + "; if nothing has it open, check the permissions of the file and its folder"
    else:
        todo = "check the drive and run again"
    return f"{path} {what} ({reason}); the workbook is unchanged and nothing was changed. {todo[0].upper()}{todo[1:]}"


def remove_stale_temp_files(path: str | Path, backups_dir: str | Path, *, older_than: float | None = None
                            ) -> list[Path]:
    """Delete the temp files an interrupted run left beside the workbook and in the backups folder.

    Call only while holding the home folder's lock (no other run is writing them then). Files
    modified after ``older_than`` (a POSIX time, default now) are kept. Returns those removed.
    """
    import time

    limit = time.time() if older_than is None else older_than
    removed = []
    for folder in {real_path(path).parent, Path(path).parent, real_path(backups_dir)}:
        if not folder.is_dir():
            continue
        for candidate in folder.glob(f"{TEMP_PREFIX}*"):
            try:
                if candidate.is_file() and candidate.stat().st_mtime < limit:
                    candidate.unlink()
                    removed.append(candidate)
            except OSError:
                pass  # not ours to fail over
    return removed


def check_access(path: Path) -> None:
    """What :func:`etftrader.workbook.append.check_writable` checks before reading the workbook:
    locks and permissions."""
    given, path = Path(path), real_path(path)
    if path.is_dir():
        raise WorkbookError(f"workbook path {path} is a folder, expected an .xlsx file; pass --workbook FILE")
    for lock in dict.fromkeys(lock_files(path) + lock_files(given)):
        if lock.exists():
            raise WorkbookLockedError(
                f"{path.name} is open in a spreadsheet application (lock file {lock.name} exists); {_CLOSE_IT}. "
                f"If it is not open, delete {lock}")
    if path.exists():
        _check_file_writable(path)
    _check_folder_writable(_existing_folder(path.parent))


def _check_file_writable(path: Path) -> None:
    mode = path.stat().st_mode
    # The owner write bit is what the Windows read-only attribute maps to; honour it even for a
    # user (root, admin) the OS would let through, as Excel does.
    if not mode & stat.S_IWUSR:
        raise WorkbookLockedError(
            f"{path.name} is read-only; clear the read-only attribute (file Properties) "
            f"or pass --workbook with another file, then run again")
    try:
        with open(path, "r+b"):
            pass
    except OSError as e:
        raise WorkbookLockedError(write_failure(path, e, "cannot be opened for writing")) from e


def _existing_folder(folder: Path) -> Path:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _check_folder_writable(folder: Path) -> None:
    what = (f"folder {folder} does not accept new files, so the workbook cannot be replaced safely; "
            f"make the folder writable or pass --workbook in another folder")
    # On Windows a folder's read-only attribute means nothing for writing (Explorer sets it on
    # customized folders), so only POSIX permission bits are read; the probe below covers both.
    if os.name == "posix" and not folder.stat().st_mode & stat.S_IWUSR:
        raise WorkbookLockedError(what.replace("does not accept new files", "is read-only"))
    try:
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".probe", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise WorkbookLockedError(what + f" ({e.strerror or e})") from e


_STAMP = re.compile(r"_(\d{8}_\d{6}_\d{6})$")


def backup(path: Path, backups_dir: Path, keep: int) -> Path | None:
    """Copy ``path`` to ``backups_dir/<stem>_<YYYYmmdd_HHMMSS_ffffff><suffix>``; keep the newest ``keep``.

    Returns the backup's path (None when ``keep`` is 0). Raises WorkbookError when the backup
    cannot be written (the workbook is then not touched either).
    """
    if keep <= 0:
        return None
    stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S_%f")
    target = backups_dir / f"{path.stem}_{stamp}{path.suffix}"
    # Copied under a temp name and renamed: a run killed mid-copy leaves a temp file (removed by
    # the next run), never a truncated file under a normal backup name.
    partial = backups_dir / f"{TEMP_PREFIX}{target.name}"
    try:
        backups_dir.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(path, partial)
            os.rename(partial, target)  # a fresh, unique name: nothing to replace
        except BaseException:
            try:
                partial.unlink()
            except OSError:
                pass
            raise
    except OSError as e:
        raise WorkbookError(
            f"cannot back up {path.name} to {backups_dir} ({e.strerror or e}); nothing was written. "
            f"Make that folder writable (or free disk space) and run again") from e
    rotate(path, backups_dir, keep)
    return target


def rotate(path: Path, backups_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups of ``path``; returns those deleted."""
    ours = sorted(
        (p for p in backups_dir.glob(f"{path.stem}_*{path.suffix}")
         if _STAMP.search(p.stem[len(path.stem):])),
        key=lambda p: p.stem[-22:],
    )
    doomed = ours[:-keep] if keep > 0 else ours
    for p in doomed:
        try:
            p.unlink()
        except OSError:
            pass  # an old backup we cannot delete is not worth failing a run for
    return doomed


def atomic_write(path: Path, write: Callable[[object], None]) -> None:
    """Write the workbook whole (:func:`etftrader.files.replacing`, flushed to disk).

    ``write`` gets a binary file object. On any failure the temporary file is removed and the
    original is untouched; an OSError becomes WorkbookLockedError with the advice that fits (a
    PermissionError on the final replace: the file was opened in Excel in the meantime, on Windows).
    """
    from ..files import replacing

    path = real_path(path)
    written = False
    try:
        with replacing(path, prefix=TEMP_PREFIX, durable=True) as tmp:
            with open(tmp, "wb") as fh:
                write(fh)
            written = True
    except OSError as e:
        raise WorkbookLockedError(write_failure(path, e, "could not be replaced") if written and
                                  isinstance(e, PermissionError) else write_failure(path, e)) from e
