"""Round trip through a real spreadsheet application: LibreOffice Calc, headless, over UNO.

append_week writes the ledger; LibreOffice opens it, the "analyst" types TRUE (and an ``x``) into
``executed`` of some trades, LibreOffice saves it as .xlsx (re-writing every part its own way:
shared strings, booleans as ``=FALSE()`` formulas, its own styles); read_ledger must then read
executed correctly, and a further append_week must keep every row.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from etftrader.workbook import SHEETS, append_week, read_ledger

pytestmark = pytest.mark.libreoffice

SCRIPT = Path(__file__).with_name("lo_mark_executed.py")


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def _uno_python(soffice: str) -> str | None:
    """A Python that can ``import uno``: LibreOffice's own (Windows, macOS) or the system one."""
    program = Path(os.path.realpath(soffice)).parent
    candidates = [program / "python", program / "python.exe", Path("/usr/bin/python3"), Path(sys.executable)]
    for c in candidates:
        if c.exists():
            ok = subprocess.run([str(c), "-c", "import uno"], capture_output=True, timeout=30)
            if ok.returncode == 0:
                return str(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """End the soffice we started (its launcher and soffice.bin share our new process group)."""
    if proc.poll() is None:
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
            proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


@pytest.fixture()
def libreoffice(tmp_path, missing_tool):
    soffice = _soffice()
    if soffice is None:
        missing_tool("LibreOffice (soffice) is not installed; .ci/run installs it with apt-get")
    python = _uno_python(soffice)
    if python is None:
        missing_tool("LibreOffice is installed but no Python can import its 'uno' module: apt-get install python3-uno")
    port = _free_port()
    profile = (tmp_path / "lo-profile").resolve().as_uri()
    proc = subprocess.Popen(
        [soffice, "--headless", "--invisible", "--nologo", "--norestore", "--nodefault", "--nolockcheck",
         f"-env:UserInstallation={profile}",
         f"--accept=socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=(os.name == "posix"))

    def edit(path: Path, sheet: str, column: str, edits: dict[int, str]) -> None:
        args = [python, str(SCRIPT), str(port), str(path), sheet, column, *[f"{r}={t}" for r, t in edits.items()]]
        done = subprocess.run(args, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"LibreOffice edit failed ({done.returncode}): {done.stderr[-2000:]}"

    try:
        yield edit
    finally:
        _stop(proc)


def test_marked_in_libreoffice_reads_back_and_appends_keep_everything(tmp_path, make_week, libreoffice):
    start = time.monotonic()
    path = tmp_path / "results" / "portfolio_tracking.xlsx"
    backups = tmp_path / "results" / "backups"
    append_week(path, make_week("2021-03-05", "run-1"), backups_dir=backups)
    append_week(path, make_week("2021-03-12", "run-2", executed=[False, False, True, False, False]),
                backups_dir=backups)
    before = read_ledger(path)

    # Rows 3 and 5 typed TRUE, row 9 an "x"; row 9 was already TRUE from the run, row 10 is typed
    # FALSE over a FALSE. LibreOffice stores the rest of the booleans its own way (=FALSE()).
    libreoffice(path, "Trades", "G", {3: "TRUE", 5: "TRUE", 8: "x", 10: "FALSE"})

    after_lo = read_ledger(path)
    assert after_lo.trades["executed"].tolist() == [False, True, False, True, False,
                                                    False, True, True, False, False]
    for sheet in SHEETS:  # nothing else changed meaning
        a, b = before.sheet(sheet), after_lo.sheet(sheet)
        assert len(a) == len(b), sheet
        assert a["timestamp"].tolist() == b["timestamp"].tolist(), sheet
    assert after_lo.positions["ticker"].tolist() == before.positions["ticker"].tolist()
    assert after_lo.positions["price"].tolist() == pytest.approx(before.positions["price"].tolist(), rel=1e-12)

    append_week(path, make_week("2021-03-19", "run-3"), backups_dir=backups)
    final = read_ledger(path)
    assert final.trades["executed"].tolist()[:10] == after_lo.trades["executed"].tolist()
    assert final.trades["run_id"].tolist() == ["run-1"] * 5 + ["run-2"] * 5 + ["run-3"] * 5
    assert final.trades["_row"].tolist() == list(range(2, 17))
    assert len(final.positions) == 15 and len(final.metadata) == 3 and len(final.cashflows) == 3
    wb = openpyxl.load_workbook(path)
    assert wb["Trades"]["A16"].is_date
    for name, ref in wb["Trades"].tables.items():
        assert ref.endswith("16"), (name, ref)
    assert time.monotonic() - start < 120
