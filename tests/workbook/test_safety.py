"""A run that cannot write, or fails while writing, leaves the workbook exactly as it was."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import numpy as np
import openpyxl
import pytest

from etftrader.errors import WorkbookError, WorkbookLockedError
from etftrader.workbook import append_week, check_writable, read_ledger
from etftrader.workbook import append as append_mod
from etftrader.workbook import safety


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(safety.TEMP_PREFIX)]


@pytest.mark.parametrize("lock_name", ["~$portfolio_tracking.xlsx", "~$rtfolio_tracking.xlsx",
                                       ".~lock.portfolio_tracking.xlsx#"])
def test_open_in_excel_is_detected_before_any_work(ledger, make_week, lock_name):
    path, backups, _ = ledger
    (path.parent / lock_name).write_bytes(b"owner")
    before = path.read_bytes()
    with pytest.raises(WorkbookLockedError, match=r"portfolio_tracking.xlsx is open .*close it in Excel") as info:
        check_writable(path)
    assert "\n" not in str(info.value)
    n_backups = len(list(backups.iterdir()))
    with pytest.raises(WorkbookLockedError):
        append_week(path, make_week("2021-03-19", "r3"), backups_dir=backups)
    assert path.read_bytes() == before
    assert len(list(backups.iterdir())) == n_backups


def test_read_only_file(ledger, make_week):
    path, backups, _ = ledger
    before = path.read_bytes()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        with pytest.raises(WorkbookLockedError, match="read-only"):
            append_week(path, make_week("2021-03-19", "r3"), backups_dir=backups)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert path.read_bytes() == before


def test_file_that_cannot_be_opened_for_writing(ledger, monkeypatch):
    """Windows reports a workbook open in Excel as PermissionError on open(..., 'r+b')."""
    path, _, _ = ledger
    real_open = open

    def excel_has_it(file, mode="r", *a, **kw):
        if str(file) == str(path) and "+" in mode:
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", excel_has_it)
    with pytest.raises(WorkbookLockedError, match="cannot be opened for writing .*Close it in Excel"):
        check_writable(path)


@pytest.mark.skipif(os.name != "posix", reason="Windows folders have no write permission bit (the read-only "
                    "attribute does not stop writes); test_folder_refusing_new_files covers an ACL that does")
def test_read_only_folder(ledger, make_week):
    path, backups, _ = ledger
    folder = path.parent
    before = path.read_bytes()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        # The owner write bit is honoured even for root (who could write anyway).
        with pytest.raises(WorkbookLockedError, match="folder .* is read-only"):
            append_week(path, make_week("2021-03-19", "r3"), backups_dir=backups)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert path.read_bytes() == before


def test_folder_refusing_new_files(ledger, monkeypatch):
    """A folder whose ACL forbids creating files (a permission bit check cannot see this)."""
    path, _, _ = ledger

    def denied(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(safety.tempfile, "mkstemp", denied)
    with pytest.raises(WorkbookLockedError, match="does not accept new files"):
        check_writable(path)


def _docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body/></w:document>')
    return buf.getvalue()


def _foreign_xlsx() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.title = "Budget"
    wb.active.append(["item", "amount"])
    wb.active.append(["rent", 1200])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", "hello")
    return buf.getvalue()


@pytest.mark.parametrize("kind, content, why", [
    ("random", np.random.default_rng(7).bytes(4096), "not a zip archive"),
    ("zip", _plain_zip(), "not an Office document"),
    ("docx", _docx_bytes(), "another kind \\(document\\)"),
    ("foreign", _foreign_xlsx(), "no Positions or Trades sheet \\(sheets: Budget\\)"),
    ("encrypted", bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504), "password-protected or in the old .xls format"),
    ("truncated", None, "not a zip archive|damaged"),
])
def test_corrupt_or_foreign_file_is_refused_and_untouched(tmp_path, make_week, ledger, kind, content, why):
    path = tmp_path / "portfolio_tracking.xlsx"
    if content is None:
        content = ledger[0].read_bytes()[:-300]
    path.write_bytes(content)
    for call in (lambda: check_writable(path), lambda: read_ledger(path),
                 lambda: append_week(path, make_week("2021-03-19", "r3"), backups_dir=tmp_path / "bk")):
        with pytest.raises(WorkbookError, match=why) as info:
            call()
        assert not isinstance(info.value, WorkbookLockedError)
        assert "\n" not in str(info.value)
    assert path.read_bytes() == content
    assert not (tmp_path / "bk").exists()
    assert _leftovers(tmp_path) == []


def test_folder_at_workbook_path(tmp_path):
    (tmp_path / "w.xlsx").mkdir()
    with pytest.raises(WorkbookError, match="is a folder"):
        check_writable(tmp_path / "w.xlsx")


@pytest.mark.parametrize("where", ["replace", "writer", "fsync"])
def test_failure_mid_write_leaves_file_byte_identical(ledger, make_week, monkeypatch, where):
    path, backups, _ = ledger
    before = path.read_bytes()
    boom = OSError(28, "No space left on device")

    def fail(*a, **kw):
        raise boom

    if where == "replace":
        monkeypatch.setattr(safety.os, "replace", fail)
    elif where == "writer":
        monkeypatch.setattr(append_mod._Edit, "write", fail)
    else:
        monkeypatch.setattr(safety.os, "fsync", fail)
    # A disk that fails under the writer names the file (exit 6); a failure while computing the
    # new bytes (not an I/O error of ours) propagates as it is. Either way nothing changes.
    expected = OSError if where == "writer" else WorkbookLockedError
    with pytest.raises(expected, match="No space left"):
        append_week(path, make_week("2021-03-19", "r3"), backups_dir=backups)
    assert path.read_bytes() == before
    assert _leftovers(path.parent) == []


def test_permission_error_on_replace_is_locked(ledger, make_week, monkeypatch):
    path, backups, _ = ledger
    before = path.read_bytes()

    def in_use(*a, **kw):
        raise PermissionError(13, "Access is denied")

    monkeypatch.setattr(safety.os, "replace", in_use)
    with pytest.raises(WorkbookLockedError, match="could not be replaced .*nothing was changed. Close it in Excel"):
        append_week(path, make_week("2021-03-19", "r3"), backups_dir=backups)
    assert path.read_bytes() == before
    assert _leftovers(path.parent) == []


def test_backups_rotate_and_hold_previous_versions(tmp_path, make_week):
    path = tmp_path / "portfolio_tracking.xlsx"
    backups = tmp_path / "backups"
    versions = []
    for k in range(6):
        append_week(path, make_week(f"2019-0{k + 1}-10", f"r{k}"), backups_dir=backups, keep=3)
        versions.append(path.read_bytes())
    kept = sorted(backups.iterdir())
    assert len(kept) == 3
    assert [p.read_bytes() for p in kept] == versions[2:5]  # the three versions before the last
    assert all(p.name.startswith("portfolio_tracking_") and p.suffix == ".xlsx" for p in kept)
    (backups / "portfolio_tracking_notes.txt").write_text("mine")  # not a backup: never deleted
    append_week(path, make_week("2019-08-09", "r7"), backups_dir=backups, keep=3)
    assert (backups / "portfolio_tracking_notes.txt").exists()
    assert len([p for p in backups.iterdir() if p.suffix == ".xlsx"]) == 3


def test_keep_zero_makes_no_backup(ledger, make_week, tmp_path):
    path, _, _ = ledger
    append_week(path, make_week("2021-03-19", "r3"), backups_dir=tmp_path / "none", keep=0)
    assert not (tmp_path / "none").exists()


def test_file_mode_is_kept(ledger, make_week):
    path, backups, _ = ledger
    path.chmod(0o640)
    append_week(path, make_week("2021-03-19", "r3"), backups_dir=backups)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
