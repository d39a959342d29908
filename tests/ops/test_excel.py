"""``open_workbook``: the Linux path opens nothing, the xlwings adapter is driven through a fake."""

from __future__ import annotations

import sys
import threading
import time
import types

import pytest

from etftrader.ops import excel
from etftrader.ops.excel import open_workbook


class FakeApp:
    def __init__(self):
        self.visible = False


class FakeBook:
    opened: list[str] = []

    def __init__(self, fullname):
        FakeBook.opened.append(fullname)
        self.app = FakeApp()
        self.activated = None
        FakeBook.last = self

    def activate(self, steal_focus=False):
        self.activated = steal_focus


@pytest.fixture()
def fake_xlwings(monkeypatch):
    """A module shaped like xlwings' Book API, installed in sys.modules."""
    module = types.ModuleType("xlwings")
    FakeBook.opened = []
    module.Book = FakeBook
    monkeypatch.setitem(sys.modules, "xlwings", module)
    return module


@pytest.fixture()
def workbook(tmp_path):
    path = tmp_path / "results dir" / "portfolio_tracking.xlsx"
    path.parent.mkdir()
    path.write_bytes(b"PK\x03\x04 not really a workbook; never read")
    return path


def test_linux_says_so_in_one_line_and_opens_nothing(workbook, fake_xlwings, monkeypatch, assert_cp1252):
    monkeypatch.setattr(excel.platform, "system", lambda: "Linux")
    message = open_workbook(workbook)
    assert message.startswith("Not opened: Excel cannot be driven from Linux")
    assert str(workbook) in message and "\n" not in message
    assert FakeBook.opened == []
    assert_cp1252(message)


@pytest.mark.parametrize("system", ["Windows", "Darwin"])
def test_windows_and_macos_open_the_book_and_bring_it_forward(workbook, fake_xlwings, system):
    message = open_workbook(workbook, system=system)
    assert message == f"Opened {workbook} in Excel"
    assert FakeBook.opened == [str(workbook)]
    assert FakeBook.last.app.visible is True
    assert FakeBook.last.activated is True


def test_missing_xlwings_says_install_the_excel_extra(workbook, monkeypatch, assert_cp1252):
    monkeypatch.setitem(sys.modules, "xlwings", None)  # import now raises ImportError
    message = open_workbook(workbook, system="Windows")
    assert "install etftrader[excel]" in message and message.startswith("Not opened")
    assert_cp1252(message)


def test_an_excel_failure_is_a_message_not_an_exception(workbook, fake_xlwings, assert_cp1252):
    def broken(fullname):
        raise RuntimeError("(-2147352567, 'Exception occurred.', (0, 'Microsoft Excel',\n 'caf\u00e9 bad', None))")

    fake_xlwings.Book = broken
    message = open_workbook(workbook, system="Windows")
    assert message.startswith(f"Not opened: Excel could not open {workbook} (RuntimeError: ")
    assert "\n" not in message
    assert_cp1252(message)


def test_a_missing_workbook_is_reported_and_excel_not_started(tmp_path, fake_xlwings):
    message = open_workbook(tmp_path / "nope.xlsx", system="Darwin")
    assert message == f"Not opened: the workbook {tmp_path / 'nope.xlsx'} does not exist"
    assert FakeBook.opened == []


def test_xlwings_is_not_imported_until_needed(workbook, monkeypatch):
    monkeypatch.delitem(sys.modules, "xlwings", raising=False)
    open_workbook(workbook, system="Linux")
    assert "xlwings" not in sys.modules


def test_an_excel_that_never_answers_does_not_hold_the_run(workbook, fake_xlwings, monkeypatch, assert_cp1252):
    release = threading.Event()

    def stuck(fullname):  # AppleScript / COM waiting for a desktop session that never comes
        release.wait(30)

    fake_xlwings.Book = stuck
    monkeypatch.setattr(excel, "OPEN_TIMEOUT", 0.2)
    started = time.monotonic()
    message = open_workbook(workbook, system="Darwin")
    release.set()
    assert time.monotonic() - started < 5
    assert message.startswith("Not opened: Excel did not answer within 0.2 s")
    assert_cp1252(message)


def test_on_windows_com_is_initialised_in_the_worker_thread(workbook, fake_xlwings, monkeypatch):
    calls = []
    pythoncom = types.ModuleType("pythoncom")
    pythoncom.CoInitialize = lambda: calls.append(("init", threading.current_thread().name))
    pythoncom.CoUninitialize = lambda: calls.append(("uninit", threading.current_thread().name))
    monkeypatch.setitem(sys.modules, "pythoncom", pythoncom)
    assert open_workbook(workbook, system="Windows").startswith("Opened")
    assert calls == [("init", "etftrader-open-workbook"), ("uninit", "etftrader-open-workbook")]
