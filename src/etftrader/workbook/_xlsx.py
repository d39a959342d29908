"""Low-level access to the parts of an ``.xlsx`` package (a zip of XML files).

Finds sheets the way Excel does (``workbook.xml`` and its relationships, never by file name),
reads shared strings and cell styles with a streaming parser, and converts cell references.
Nothing here knows about our ledger's columns.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from lxml import etree

from ..errors import WorkbookError

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
NS_REL_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_OFFICE_DOC = NS_REL_DOC + "/officeDocument"
REL_WORKSHEET = NS_REL_DOC + "/worksheet"
REL_TABLE = NS_REL_DOC + "/table"
REL_SHARED_STRINGS = NS_REL_DOC + "/sharedStrings"
REL_STYLES = NS_REL_DOC + "/styles"

# Excel's built-in number formats that show a date or time (ECMA-376 18.8.30).
_BUILTIN_DATE_FORMATS = frozenset([*range(14, 23), 45, 46, 47])
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def col_index(letters: str) -> int:
    """1-based column number of column letters (``"A"`` -> 1, ``"AA"`` -> 27)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def col_letters(index: int) -> str:
    """Column letters of a 1-based column number (27 -> ``"AA"``)."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def split_ref(ref: str) -> tuple[int, int]:
    """``"G14"`` -> (column 7, row 14)."""
    m = _REF.match(ref)
    if not m:
        raise ValueError(f"not a cell reference: {ref!r}")
    return col_index(m.group(1)), int(m.group(2))


def split_range(ref: str) -> tuple[int, int, int, int]:
    """``"A1:K20"`` -> (min_col, min_row, max_col, max_row); a single cell is a 1x1 range."""
    first, _, last = ref.partition(":")
    c1, r1 = split_ref(first)
    c2, r2 = split_ref(last) if last else (c1, r1)
    return c1, r1, c2, r2


def make_range(c1: int, r1: int, c2: int, r2: int) -> str:
    return f"{col_letters(c1)}{r1}:{col_letters(c2)}{r2}"


def is_date_format(code: str) -> bool:
    """True when an Excel number format code shows a date or time."""
    stripped = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code)
    stripped = re.sub(r"\[(?![hms]+\])[^\]]*\]", "", stripped, flags=re.I)
    section = stripped.split(";")[0]
    return bool(re.search(r"[dmyhs]", section, flags=re.I)) and "General" not in section


def rels_path(part: str) -> str:
    """The relationships part of ``part`` (``xl/workbook.xml`` -> ``xl/_rels/workbook.xml.rels``)."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def resolve_target(source_part: str, target: str) -> str:
    """Zip path a relationship of ``source_part`` points to (targets are relative or ``/``-rooted)."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def relative_target(source_part: str, target_part: str) -> str:
    """Relative target from ``source_part``'s folder to ``target_part``, as Excel writes it."""
    return posixpath.relpath(target_part, posixpath.dirname(source_part) or ".")


@dataclass
class SheetRef:
    """One sheet as ``workbook.xml`` lists it."""

    name: str
    sheet_id: int
    rel_id: str
    part: str


@dataclass
class Package:
    """An opened ``.xlsx``: its bytes, zip directory and workbook structure.

    Parameters
    ----------
    data : bytes
        The whole file, read once so every later look sees the same version.
    path : Path
        Only for messages.
    """

    data: bytes
    path: Path
    zip: zipfile.ZipFile = field(init=False)

    def __post_init__(self) -> None:
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(self.data))
            self.names = set(self.zip.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            if self.data[:8] == _OLE_MAGIC:  # Compound File: an old .xls or a password-protected .xlsx
                why = ("it is password-protected or in the old .xls format; save it in Excel as an "
                       "unprotected Excel Workbook (.xlsx)")
            else:
                why = "it is not an .xlsx file (not a zip archive)"
            raise WorkbookError(_not_a_workbook(self.path, why)) from e
        self.workbook_part = self._find_workbook_part()
        self._parse_workbook()

    @classmethod
    def open(cls, path: Path) -> "Package":
        try:
            data = Path(path).read_bytes()
        except IsADirectoryError as e:
            raise WorkbookError(
                f"workbook path {path} is a folder, expected an .xlsx file; pass --workbook FILE") from e
        return cls(data, Path(path))

    def read(self, part: str) -> bytes:
        try:
            return self.zip.read(part)
        except (KeyError, zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
            raise WorkbookError(_not_a_workbook(self.path, f"its part {part} is missing or damaged")) from e

    def read_head(self, part: str, size: int) -> bytes:
        """The first ``size`` bytes of a part, decompressing no more than that."""
        try:
            with self.zip.open(part) as fh:
                return fh.read(size)
        except (KeyError, zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
            raise WorkbookError(_not_a_workbook(self.path, f"its part {part} is missing or damaged")) from e

    def parse(self, part: str) -> etree._Element:
        try:
            return etree.fromstring(self.read(part), parser=_PARSER)
        except etree.XMLSyntaxError as e:
            raise WorkbookError(_not_a_workbook(self.path, f"its part {part} is not valid XML ({e})")) from e

    def rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationships of ``part``: id -> (type, resolved zip path); empty when it has none."""
        rp = rels_path(part)
        if rp not in self.names:
            return {}
        out = {}
        for rel in self.parse(rp).iter(f"{{{NS_PKG_REL}}}Relationship"):
            if rel.get("TargetMode") == "External":
                continue
            out[rel.get("Id")] = (rel.get("Type", ""), resolve_target(part, rel.get("Target", "")))
        return out

    def _find_workbook_part(self) -> str:
        if "[Content_Types].xml" not in self.names or "_rels/.rels" not in self.names:
            raise WorkbookError(_not_a_workbook(self.path, "it is a zip archive but not an Office document"))
        for rtype, target in self.rels("").values():
            if rtype.endswith("/officeDocument") and target in self.names:
                root_tag = etree.QName(self.parse(target)).localname
                if root_tag == "workbook":
                    return target
                raise WorkbookError(
                    _not_a_workbook(self.path, f"it is an Office document of another kind ({root_tag})"))
        raise WorkbookError(_not_a_workbook(self.path, "it has no workbook part"))

    def _parse_workbook(self) -> None:
        root = self.parse(self.workbook_part)
        self.ns = etree.QName(root).namespace or NS_MAIN
        rels = self.rels(self.workbook_part)
        self.sheets: dict[str, SheetRef] = {}
        for el in root.iter(f"{{{self.ns}}}sheet"):
            rid = el.get(f"{{{NS_REL_DOC}}}id") or el.get("{http://purl.oclc.org/ooxml/officeDocument/relationships}id")
            rtype, part = rels.get(rid, ("", ""))
            if part and rtype.endswith("/worksheet"):
                self.sheets[el.get("name", "")] = SheetRef(el.get("name", ""), int(el.get("sheetId", "0")), rid, part)
        pr = root.find(f"{{{self.ns}}}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        self.shared_strings_part = next((p for t, p in rels.values() if t.endswith("/sharedStrings")), None)
        self.styles_part = next((p for t, p in rels.values() if t.endswith("/styles")), None)

    def sheet(self, name: str) -> SheetRef | None:
        """A sheet by name, ignoring case as Excel does."""
        if name in self.sheets:
            return self.sheets[name]
        lowered = {k.lower(): v for k, v in self.sheets.items()}
        return lowered.get(name.lower())

    @cached_property
    def shared_strings(self) -> list[str]:
        """All shared strings in index order, streamed (rich-text runs joined, phonetic runs left out)."""
        if not self.shared_strings_part or self.shared_strings_part not in self.names:
            return []
        out: list[str] = []
        t_tag, r_tag, si_tag = (f"{{{self.ns}}}{n}" for n in ("t", "r", "si"))
        try:
            for _, si in etree.iterparse(io.BytesIO(self.read(self.shared_strings_part)), tag=si_tag, huge_tree=True):
                direct = si.find(t_tag)
                if direct is not None:
                    out.append(direct.text or "")
                else:
                    out.append("".join((t.text or "") for r in si.iterchildren(r_tag) for t in r.iterchildren(t_tag)))
                si.clear()
        except etree.XMLSyntaxError as e:
            raise WorkbookError(_not_a_workbook(self.path, f"its shared strings are not valid XML ({e})")) from e
        return out

    @cached_property
    def date_styles(self) -> frozenset[int]:
        """Indices of cell formats (``s=`` of a cell) whose number format shows a date or time."""
        if not self.styles_part or self.styles_part not in self.names:
            return frozenset()
        root = self.parse(self.styles_part)
        custom = {int(f.get("numFmtId")): f.get("formatCode", "") for f in root.iter(f"{{{self.ns}}}numFmt")}
        xfs = root.find(f"{{{self.ns}}}cellXfs")
        out = set()
        for i, xf in enumerate(xfs if xfs is not None else []):
            fid = int(xf.get("numFmtId", "0"))
            if fid in _BUILTIN_DATE_FORMATS or (fid in custom and is_date_format(custom[fid])):
                out.add(i)
        return frozenset(out)


_PARSER = etree.XMLParser(resolve_entities=False, huge_tree=True, remove_blank_text=False)


def _not_a_workbook(path: Path, why: str) -> str:
    if "damaged" in why or "not valid XML" in why:
        todo = ("restore the newest copy from results/backups (or a copy of your own), "
                "or pass --workbook with another file name")
    else:
        todo = "move it aside or pass --workbook with another file name"
    return f"{path} cannot be used as the tracking workbook: {why}. It was left untouched; {todo}"
