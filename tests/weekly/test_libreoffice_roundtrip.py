"""A real spreadsheet application in the loop: LibreOffice marks trades executed and saves.

The analyst's side of the week, done for real: the first run's workbook is opened in LibreOffice
Calc (headless, through its Python UNO bridge), every trade is marked executed, one is typed over as
a partial fill, and Calc saves the file (booleans become ``=TRUE()`` formulas). The next weekly run
must read exactly those holdings and keep every row Calc saved.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from etftrader.workbook import read_ledger

from .helpers import run_cli

pytestmark = pytest.mark.libreoffice

SCRIPT = Path(__file__).with_name("lo_mark_executed.py")


def _uno_python() -> str | None:
    """A Python that can ``import uno`` (LibreOffice's bridge), or None."""
    for candidate in ("/usr/bin/python3", shutil.which("python3"), "/usr/lib/libreoffice/program/python"):
        if candidate and Path(candidate).exists():
            ok = subprocess.run([candidate, "-c", "import uno"], capture_output=True, timeout=60)
            if ok.returncode == 0:
                return candidate
    return None


@pytest.fixture(scope="module")
def uno_python(missing_tool):
    if not (shutil.which("soffice") or shutil.which("libreoffice")):
        missing_tool("LibreOffice (soffice) is not installed")
    python = _uno_python()
    if python is None:
        missing_tool("no Python with LibreOffice's uno module (install python3-uno)")
    return python


def test_trades_marked_in_libreoffice_become_holdings(uno_python, tmp_home, tmp_path):
    code, out, err = run_cli(["weekly", "--positions", "5", "--as-of", "2021-03-05", "--json"], home=tmp_home)
    assert code == 0, err
    first = json.loads(out)
    book = tmp_home / "results" / "portfolio_tracking.xlsx"
    trades = read_ledger(book).trades
    partial_row = int(trades["_row"].iloc[1])
    done = subprocess.run([uno_python, str(SCRIPT), str(book), str(tmp_path / "lo-profile"), f"{partial_row}=100"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    saved = read_ledger(book)  # as Calc saved it
    assert saved.trades["executed"].all()
    assert saved.trades["shares"].iloc[1] == 100.0

    code, out, err = run_cli(["weekly", "--positions", "5", "--as-of", "2021-03-12", "--json"], home=tmp_home)
    assert code == 0, err
    second = json.loads(out)
    proposed = first["trades"]
    paid = sum(t["value"] for t in proposed) - proposed[1]["value"] + 100 * proposed[1]["price"]
    assert second["cash_before"] == pytest.approx(1_000_000.0 - paid - sum(t["est_cost"] for t in proposed))
    assert second["superseded"]["count"] == 0  # everything was executed
    after = read_ledger(book)
    for sheet in ("positions", "trades", "performance", "metadata", "cashflows"):
        old, new = getattr(saved, sheet), getattr(after, sheet)
        pd.testing.assert_frame_equal(new.iloc[: len(old)].reset_index(drop=True), old.reset_index(drop=True),
                                      check_dtype=False)
    assert len(after.metadata) == 2
