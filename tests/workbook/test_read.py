"""read_ledger: values as people and spreadsheet apps leave them; bad ones name their cell."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from etftrader.errors import WorkbookError
from etftrader.workbook import append_week, read_ledger

from .conftest import replace_part, sheet_part, zip_entries


def set_cells(path, sheet, cells: dict[str, str]) -> None:
    """Replace whole <c> elements by hand-written XML (what Excel or LibreOffice would store)."""
    part = sheet_part(path, sheet)
    xml = zip_entries(path)[part].decode()
    for ref, new in cells.items():
        xml, n = re.subn(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', new, xml, count=1)
        assert n == 1, ref
    replace_part(path, part, xml.encode())


# (cell XML for G<row>, expected executed)
SPELLINGS = [
    ('<c r="G{r}" t="b"><v>1</v></c>', True),
    ('<c r="G{r}" t="b"><v>0</v></c>', False),
    ('<c r="G{r}" t="inlineStr"><is><t>TRUE</t></is></c>', True),
    ('<c r="G{r}" t="inlineStr"><is><t>false</t></is></c>', False),
    ('<c r="G{r}" t="inlineStr"><is><t>Yes</t></is></c>', True),
    ('<c r="G{r}" t="inlineStr"><is><t>NO</t></is></c>', False),
    ('<c r="G{r}" t="inlineStr"><is><t> y </t></is></c>', True),
    ('<c r="G{r}" t="inlineStr"><is><t>n</t></is></c>', False),
    ('<c r="G{r}" t="inlineStr"><is><t>X</t></is></c>', True),
    ('<c r="G{r}" t="inlineStr"><is><t>1</t></is></c>', True),
    ('<c r="G{r}" t="inlineStr"><is><t>0</t></is></c>', False),
    ('<c r="G{r}" t="inlineStr"><is><t></t></is></c>', False),
    ('<c r="G{r}"/>', False),
    ('<c r="G{r}"><v>1</v></c>', True),
    ('<c r="G{r}"><v>0</v></c>', False),
    # LibreOffice re-saves booleans as formulas, with the cached value...
    ('<c r="G{r}" t="b"><f>TRUE()</f><v>1</v></c>', True),
    ('<c r="G{r}" t="b"><f>FALSE()</f><v>0</v></c>', False),
    # ...and some writers leave the value out.
    ('<c r="G{r}"><f>TRUE()</f></c>', True),
    ('<c r="G{r}"><f>=false()</f></c>', False),
    ('<c r="G{r}" t="s"><v>{sst_true}</v></c>', True),
]


@pytest.fixture()
def many_trades(tmp_path, make_week):
    path = tmp_path / "w.xlsx"
    tickers = [f"T{i:02d}" for i in range(len(SPELLINGS))]
    week = make_week("2021-03-05", "r1")
    trades = pd.concat([week["Trades"].iloc[:1]] * len(tickers), ignore_index=True)
    trades["ticker"] = tickers
    append_week(path, {"Trades": trades}, backups_dir=tmp_path / "b")
    return path


def _with_shared_string(path, text: str) -> int:
    """Add a sharedStrings part holding ``text`` (openpyxl wrote none here); returns its index."""
    entries = zip_entries(path)
    assert "xl/sharedStrings.xml" not in entries
    sst = ('<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
           f'spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>other</t></si><si><r><t>TR</t></r>'
           f'<r><t>UE</t></r></si></sst>')
    assert text == "TRUE"
    replace_part(path, "xl/sharedStrings.xml", sst.encode())
    rels = entries["xl/_rels/workbook.xml.rels"].decode().replace(
        "</Relationships>", '<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    replace_part(path, "xl/_rels/workbook.xml.rels", rels.encode())
    return 1


def test_every_executed_spelling(many_trades):
    path = many_trades
    sst_true = _with_shared_string(path, "TRUE")
    set_cells(path, "Trades", {f"G{i + 2}": xml.format(r=i + 2, sst_true=sst_true)
                               for i, (xml, _) in enumerate(SPELLINGS)})
    trades = read_ledger(path, sheets=["Trades"]).trades
    assert trades["executed"].dtype == bool
    assert trades["executed"].tolist() == [want for _, want in SPELLINGS]
    assert trades["_row"].tolist() == list(range(2, len(SPELLINGS) + 2))


@pytest.mark.parametrize("bad, shown", [
    ('<c r="G5" t="inlineStr"><is><t>maybe</t></is></c>', "'maybe'"),
    ('<c r="G5"><v>2</v></c>', "2.0"),
    ('<c r="G5"><f>A1&gt;0</f></c>', "'=A1>0'"),
    ('<c r="G5" t="e"><v>#N/A</v></c>', "'#N/A'"),
])
def test_bad_executed_names_sheet_cell_and_value(many_trades, bad, shown):
    set_cells(many_trades, "Trades", {"G5": bad})
    with pytest.raises(WorkbookError, match=r"Trades!G5 \(executed\).*TRUE or FALSE.*got " + re.escape(shown)):
        read_ledger(many_trades)


def test_bad_number_in_trades_names_cell_but_elsewhere_reads_missing(many_trades):
    set_cells(many_trades, "Trades", {"D3": '<c r="D3" t="inlineStr"><is><t>1,234.5</t></is></c>'})
    assert read_ledger(many_trades).trades["shares"].iloc[1] == 1234.5  # numbers typed as text
    set_cells(many_trades, "Trades", {"E4": '<c r="E4" t="inlineStr"><is><t>ten</t></is></c>'})
    with pytest.raises(WorkbookError, match=r"Trades!E4 \(price\) must be a number, got 'ten'"):
        read_ledger(many_trades)


def test_values_round_trip_exactly(ledger):
    path, _, weeks = ledger
    got = read_ledger(path)
    for sheet, attr in [("Positions", "positions"), ("Trades", "trades"), ("Performance", "performance"),
                        ("Metadata", "metadata"), ("CashFlows", "cashflows")]:
        frame = getattr(got, attr)
        want = pd.concat([w[sheet] for w in weeks], ignore_index=True)
        assert frame["_row"].tolist() == list(range(2, 2 + len(want)))
        for col in want.columns:
            a, b = frame[col], want[col]
            if b.dtype.kind in "fi":
                np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-15, err_msg=col)
            elif b.dtype.kind == "M":
                assert (a == b).all(), col
            elif b.dtype.kind == "b":
                assert a.tolist() == b.tolist(), col
            else:  # text: blanks read back as missing
                assert a.fillna("").tolist() == b.fillna("").astype(str).tolist(), col
    assert got.trades["executed"].tolist() == [False] * 5 + [True, False, True, False, True]
    assert (got.trades["as_of"] == got.trades["as_of"].dt.normalize()).all()


def test_sheets_limits_what_is_parsed(ledger):
    path, _, _ = ledger
    set_cells(path, "Positions", {"A2": '<c r="A2"><v>oops</v></c>'})  # would not parse as XML number
    got = read_ledger(path, sheets=["Trades", "CashFlows", "Metadata"])
    assert len(got.trades) == 10 and len(got.metadata) == 2 and len(got.cashflows) == 2
    assert len(got.positions) == 0 and list(got.positions.columns)[:2] == ["timestamp", "ticker"]
    with pytest.raises(ValueError, match="unknown sheet"):
        read_ledger(path, sheets=["Trade"])


def test_blank_rows_skipped_and_row_numbers_kept(ledger):
    path, _, _ = ledger
    part = sheet_part(path, "Trades")
    xml = zip_entries(path)[part].decode()
    # Empty the cells of row 4 (a person deleting a row's contents) and add a formatted empty row.
    xml = re.sub(r'(<row r="4"[^>]*>).*?(</row>)', r'\1<c r="A4" s="1"/><c r="B4" t="inlineStr"><is><t> </t></is></c>\2', xml)
    replace_part(path, part, xml.encode())
    trades = read_ledger(path).trades
    assert 4 not in trades["_row"].tolist()
    assert trades["_row"].tolist() == [2, 3, 5, 6, 7, 8, 9, 10, 11]


def test_analyst_columns_come_along_and_dates_typed_as_text_parse(ledger):
    path, _, _ = ledger
    set_cells(path, "Trades", {
        "K2": '<c r="K2" t="inlineStr"><is><t>partial fill</t></is></c>',
        "A3": '<c r="A3" t="inlineStr"><is><t>2021-03-05 10:00:00</t></is></c>',
    })
    part = sheet_part(path, "Trades")
    xml = zip_entries(path)[part].decode()
    # an analyst's column right of the last one (acquired, S): cells stay in column order in a row
    xml = re.sub(r'(<c r="S1"[^>]*?(?:/>|>.*?</c>))', r'\1<c r="T1" t="inlineStr"><is><t>broker_ref</t></is></c>', xml,
                 count=1)
    xml = re.sub(r'(<c r="S2"[^>]*?(?:/>|>.*?</c>))', r'\1<c r="T2"><v>42</v></c>', xml, count=1)
    replace_part(path, part, xml.encode())
    trades = read_ledger(path).trades
    assert list(trades.columns)[-2:] == ["broker_ref", "_row"]
    assert trades["broker_ref"].iloc[0] == 42.0 and trades["broker_ref"].isna().sum() == 9
    assert trades["note"].iloc[0] == "partial fill"
    assert trades["timestamp"].iloc[1] == pd.Timestamp("2021-03-05 10:00:00")


def test_header_names_match_ignoring_case_and_spaces(ledger):
    path, _, _ = ledger
    part = sheet_part(path, "Trades")
    xml = zip_entries(path)[part].decode().replace("<t>executed</t>", "<t> Executed </t>", 1)
    replace_part(path, part, xml.encode())
    assert read_ledger(path).trades["executed"].sum() == 3


def test_damaged_structure_is_named(ledger, make_week):
    from etftrader.workbook import check_writable

    path, backups, _ = ledger
    part = sheet_part(path, "Trades")
    original = zip_entries(path)[part].decode()
    cases = [
        (original.replace("<t>executed</t>", "<t>done</t>", 1), WorkbookError, r"sheet Trades has no column 'executed'"),
        (original.replace("<t>note</t>", "<t>ticker</t>", 1), WorkbookError, r"two 'ticker' columns \(B1 and K1\)"),
        (re.sub(r'<row r="1".*?</row>', "", original, count=1), WorkbookError, r"sheet Trades has no header row"),
    ]
    for xml, exc, msg in cases:
        replace_part(path, part, xml.encode())
        before = path.read_bytes()
        with pytest.raises(exc, match=msg):
            check_writable(path)
        with pytest.raises(exc):
            read_ledger(path)
        with pytest.raises(exc):
            append_week(path, make_week("2021-03-19", "r3"), backups_dir=backups)
        assert path.read_bytes() == before


def test_table_with_total_row_is_refused_before_work(ledger, make_week):
    from etftrader.workbook import check_writable

    path, _, _ = ledger
    tpart = next(n for n in zip_entries(path) if n.startswith("xl/tables/") and b"tblTrades" in zip_entries(path)[n])
    xml = zip_entries(path)[tpart].decode().replace('headerRowCount="1"', 'headerRowCount="1" totalsRowCount="1"')
    replace_part(path, tpart, xml.encode())
    with pytest.raises(WorkbookError, match=r"Total Row.*turn it off"):
        check_writable(path)


def test_a_shared_string_index_past_the_table_names_the_cell(many_trades):
    _with_shared_string(many_trades, "TRUE")
    set_cells(many_trades, "Trades", {"G3": '<c r="G3" t="s"><v>7</v></c>'})
    before = many_trades.read_bytes()
    with pytest.raises(WorkbookError, match=r"cell G3 points to shared string 7, which does not exist; "
                                            r"the file is damaged \(restore a backup from results/backups\)"):
        read_ledger(many_trades)
    assert many_trades.read_bytes() == before
