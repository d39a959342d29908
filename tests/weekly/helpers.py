"""Tiny hand-built ledgers for the weekly tests (frames shaped like etftrader.workbook.read_ledger)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

TRADE_COLS = ["timestamp", "ticker", "action", "shares", "price", "value", "executed",
              "run_id", "as_of", "est_cost", "note"]
FLOW_COLS = ["timestamp", "type", "amount", "note", "run_id", "as_of"]
META_COLS = ["timestamp", "rebalanced", "optimizer", "run_id"]


def frame(rows, columns):
    """A ledger frame from tuples (missing trailing cells are NaN), index = Excel row number."""
    data = [list(r) + [None] * (len(columns) - len(r)) for r in rows]
    out = pd.DataFrame(data, columns=columns)
    out.index = range(2, 2 + len(out))
    return out


def trade(ts, ticker, action, shares, price, executed, run_id, est_cost=0.0, value=None):
    """One Trades row; ``value`` defaults to shares x price (pass another to fake a stale cell)."""
    return (pd.Timestamp(ts), ticker, action, shares, price,
            shares * price if value is None else value, executed, run_id, None, est_cost, "")


def flow(ts, kind, amount, run_id="r0"):
    return (pd.Timestamp(ts), kind, amount, "", run_id, None)


def make_ledger(trades=(), cashflows=(), metadata=()):
    """A stand-in for ``etftrader.workbook.Ledger`` with the frames holdings need."""
    return SimpleNamespace(
        trades=frame(trades, TRADE_COLS),
        cashflows=frame(cashflows, FLOW_COLS),
        metadata=frame(metadata, META_COLS),
        positions=pd.DataFrame(),
        performance=pd.DataFrame(),
    )


def edit_cells(path, sheet: str, edits: dict) -> None:
    """Change cells of ``sheet`` in place, as an analyst would, touching nothing else.

    ``edits`` maps (excel_row, column_name) -> value (bool, number or text). Only the sheet's XML part
    is rewritten (the cells' ``<v>``); every other part of the zip is copied byte for byte, so the
    workbook keeps whatever else it holds. Column positions are read from the header row.
    """
    import io
    import zipfile
    from pathlib import Path

    from lxml import etree
    from openpyxl.utils import get_column_letter

    from etftrader.workbook._xlsx import Package

    path = Path(path)
    pkg = Package.open(path)
    part = pkg.sheet(sheet).part
    root = etree.fromstring(pkg.read(part))
    ns = root.nsmap.get(None)
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    header = [c.value for c in next(book[sheet].iter_rows(min_row=1, max_row=1))]
    book.close()
    # Column positions from the sheet's own header row (a new workbook puts as_of first).
    letters = {name: get_column_letter(i + 1) for i, name in enumerate(header) if name}
    cells = {c.get("r"): c for c in root.iter(q("c"))}
    for (row, column), value in edits.items():
        ref = f"{letters[column]}{row}"
        cell = cells[ref]
        for child in list(cell):
            cell.remove(child)
        v = etree.SubElement(cell, q("v"))
        if isinstance(value, bool):
            cell.set("t", "b")
            v.text = "1" if value else "0"
        elif isinstance(value, str):  # typed text, stored inline
            cell.remove(v)
            cell.set("t", "inlineStr")
            t = etree.SubElement(etree.SubElement(cell, q("is")), q("t"))
            t.text = value
        else:
            cell.attrib.pop("t", None)
            v.text = repr(float(value))
    new_xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, new_xml if info.filename == part else src.read(info.filename))
    path.write_bytes(out.getvalue())


def mark_executed(path, rows, *, shares=None, price=None) -> None:
    """Mark Trades rows executed; optionally type over shares/price of some (partial fills)."""
    edits = {(r, "executed"): True for r in rows}
    for r, n in (shares or {}).items():
        edits[(r, "shares")] = n
    for r, p in (price or {}).items():
        edits[(r, "price")] = p
    edit_cells(path, "Trades", edits)


def run_cli(args, *, home=None, sample=True):
    """Run ``etftrader <args>`` in-process like the console does: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from etftrader.cli import main

    argv = list(args)
    if home is not None:
        argv += ["--home", str(home)]
    if sample and argv and argv[0] == "weekly":
        argv += ["--source", "sample", "--no-notebook"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()
