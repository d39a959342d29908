"""``etftrader.progress.Progress``: a counter on a terminal, log lines (not stream noise) elsewhere."""

from __future__ import annotations

import io
import logging

from etftrader.progress import Progress
from etftrader.runlog import LOGGER_NAME


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class ClosedStream(io.StringIO):
    def isatty(self):
        raise ValueError("I/O operation on closed file")


TICKERS = ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]


def test_a_terminal_gets_a_one_line_counter_that_is_cleared_at_the_end(assert_cp1252):
    tty = FakeTTY()
    with Progress("download", total=len(TICKERS), stream=tty) as progress:
        for ticker in TICKERS:
            progress.advance(ticker)
        during = tty.getvalue()
    frames = during.split("\r")[1:]
    assert [f.split()[1] for f in frames] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    assert frames[0].startswith("download: 1/5 MTUM")
    assert all(len(f) <= 79 for f in frames)  # never wraps an 80-column console
    assert "\n" not in tty.getvalue()
    assert tty.getvalue().endswith("\r" + " " * 79 + "\r")
    assert_cp1252(tty.getvalue())


def test_not_a_terminal_writes_nothing_to_the_stream_and_logs_a_few_lines(caplog):
    pipe = io.StringIO()
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        with Progress("backtest", total=100, stream=pipe) as progress:
            for week in range(100):
                progress.advance(f"week {week}")
    assert pipe.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert lines == ["backtest: 25/100", "backtest: 50/100", "backtest: 75/100", "backtest: 100/100"]


def test_a_closed_or_odd_stream_counts_as_not_a_terminal():
    stream = ClosedStream()
    progress = Progress("download", total=2, stream=stream)
    progress.advance("SPY")
    progress.close()
    assert progress.enabled is False and stream.getvalue() == ""


def test_a_long_item_name_is_cut_to_the_line():
    tty = FakeTTY()
    Progress("download", total=1, stream=tty).advance("X" * 200)
    visible = tty.getvalue().lstrip("\r")
    assert visible.startswith("download: 1/1 XXX") and len(visible) < 80  # fits an 80-column console
