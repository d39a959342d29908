"""Mark trades executed in LibreOffice Calc, as a person would, and save the workbook there.

Run with a Python that has LibreOffice's ``uno`` module (the system python3 on Debian/Ubuntu):
``python3 lo_mark_executed.py WORKBOOK PROFILE_DIR [ROW=SHARES ...]``. Starts a private headless
soffice, opens WORKBOOK, enters TRUE in the ``executed`` cell of every Trades row (optionally typing
other shares over a row), saves it as .xlsx from Calc and quits. Used by the round-trip test only.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import uno
from com.sun.star.beans import PropertyValue


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main(book, profile, edits):
    pipe = f"etftrader_test_{os.getpid()}"
    office = subprocess.Popen([
        "soffice", "--headless", "--invisible", "--nologo", "--norestore", "--nodefault",
        f"-env:UserInstallation={Path(profile).resolve().as_uri()}",
        f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        for _ in range(240):
            try:
                ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                break
            except Exception:
                time.sleep(0.25)
        else:
            raise SystemExit("soffice did not start")
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        url = Path(book).resolve().as_uri()
        doc = desktop.loadComponentFromURL(url, "_blank", 0, (prop("Hidden", True),))
        sheet = doc.Sheets.getByName("Trades")
        header = {}
        col = 0
        while sheet.getCellByPosition(col, 0).getString():
            header[sheet.getCellByPosition(col, 0).getString()] = col
            col += 1
        row = 1
        while sheet.getCellByPosition(header["ticker"], row).getString():
            # setFormula takes the text as typed input: TRUE becomes Calc's boolean, as by hand.
            sheet.getCellByPosition(header["executed"], row).setFormula("TRUE")
            row += 1
        for excel_row, shares in edits.items():
            sheet.getCellByPosition(header["shares"], excel_row - 1).setFormula(repr(shares))
        doc.storeToURL(url, (prop("FilterName", "Calc MS Excel 2007 XML"),))
        doc.close(True)
        try:
            desktop.terminate()
        except Exception:
            pass  # the bridge drops while soffice quits
    finally:
        try:
            office.wait(timeout=30)
        except subprocess.TimeoutExpired:
            office.kill()


if __name__ == "__main__":
    edits = dict((int(a), float(b)) for a, b in (x.split("=") for x in sys.argv[3:]))
    main(sys.argv[1], sys.argv[2], edits)
