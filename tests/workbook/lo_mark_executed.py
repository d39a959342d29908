"""Drive LibreOffice Calc over UNO the way an analyst would: open, type TRUE, save as .xlsx.

Run by a Python that has LibreOffice's ``uno`` module (the system python3 with python3-uno, or
the one bundled with LibreOffice), not by the project's virtualenv:

    python3 lo_mark_executed.py PORT WORKBOOK SHEET COLUMN ROW=TEXT [ROW=TEXT ...]

Connects to a running ``soffice --accept=socket,host=127.0.0.1,port=PORT;urp;``, opens
WORKBOOK hidden, enters TEXT into cell COLUMN+ROW of SHEET as typed input (so ``TRUE`` becomes a
boolean as when typed by hand), stores the document over itself with the Excel 2007-365 filter,
and closes it. Exit status 0 on success; 3 when LibreOffice cannot be reached in time.
"""

import sys
import time

import uno
from com.sun.star.beans import PropertyValue


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def connect(port, timeout=40.0):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return resolver.resolve(f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
        except Exception:  # NoConnectException until soffice listens
            if time.monotonic() > deadline:
                sys.exit(3)
            time.sleep(0.25)


def main(argv):
    port, path, sheet_name, column = argv[1], argv[2], argv[3], argv[4]
    edits = [a.split("=", 1) for a in argv[5:]]
    ctx = connect(port)
    desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    url = uno.systemPathToFileUrl(path)
    doc = desktop.loadComponentFromURL(url, "_blank", 0, (prop("Hidden", True),))
    try:
        sheet = doc.Sheets.getByName(sheet_name)
        for row, text in edits:
            sheet.getCellRangeByName(f"{column}{row}").setFormula(text)  # as typed into the cell
        doc.storeToURL(url, (prop("FilterName", "Calc MS Excel 2007 XML"), prop("Overwrite", True)))
    finally:
        doc.close(True)
    print("ok")


if __name__ == "__main__":
    main(sys.argv)
