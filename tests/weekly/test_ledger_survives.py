"""The ledger survives what analysts and machines really do (issue 16).

Every test drives the entry point users run (:func:`etftrader.cli.main`, or the real console
process) on the bundled sample with a defect injected, and asserts the exit code the README lists,
the one line the user gets, and what the workbook holds (byte for byte where the run must fail).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from etftrader.workbook import read_ledger

from .helpers import mark_executed, run_cli

WEEK1, WEEK2 = "2022-06-03", "2022-06-10"


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _book(home: Path) -> Path:
    return home / "results" / "portfolio_tracking.xlsx"


def _weekly(home, as_of, *extra):
    return run_cli(["weekly", "--as-of", as_of, "--positions", "6", *extra], home=home)


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory):
    """A home folder with two recorded weeks, the first week's trades marked executed."""
    home = tmp_path_factory.mktemp("two_weeks") / "home"
    code, _, err = _weekly(home, WEEK1)
    assert code == 0, err
    trades = read_ledger(_book(home)).trades
    mark_executed(_book(home), trades["_row"].tolist())
    code, _, err = _weekly(home, WEEK2)
    assert code == 0, err
    return home


@pytest.fixture()
def ledger_home(two_weeks, tmp_path):
    """A fresh copy of the two-week home folder for one test."""
    home = tmp_path / "home"
    shutil.copytree(two_weeks, home)
    return home


def _one_error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------------------------
# 1. Two runs at once


def _start(home: Path, as_of: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "etftrader", "weekly", "--home", str(home), "--source", "sample",
           "--as-of", as_of, "--positions", "6", "--no-notebook", "--json", "--force"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def _race(home: Path, days: list[str]) -> list[tuple[int, dict, str]]:
    procs = [_start(home, d) for d in days]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, json.loads(stdout) if stdout.strip() else {}, stderr))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("lock_timeout", [120, 0])
def test_concurrent_runs_each_land_or_say_who_holds_the_home_folder(tmp_path, lock_timeout):
    home = tmp_path / "home"
    code, _, err = _weekly(home, "2022-07-01")
    assert code == 0, err
    (home / "etftrader.toml").write_text(f"[run]\nlock_timeout = {lock_timeout}\n", encoding="utf-8")
    days = ["2022-07-08", "2022-07-15", "2022-07-22", "2022-07-29"]
    rounds = [days[:2], days[:3], days] if lock_timeout else [days[:3], days[:3]]
    busy = 0
    for group in rounds:
        results = _race(home, group)
        recorded = set(read_ledger(_book(home)).metadata["run_id"])
        for code, payload, stderr in results:
            if code == 0:
                assert payload["run_id"] in recorded, "a run said success but its week is not in the workbook"
            else:
                busy += 1
                assert code == 9, stderr
                assert re.search(r"another etftrader run is using this home folder since \d\d:\d\d:\d\d, "
                                 r"pid \d+", stderr), stderr
                assert payload["exit_code"] == 9 and "another etftrader run" in payload["error"]
        if lock_timeout:
            assert all(code == 0 for code, _, _ in results), [r[2] for r in results]
    assert not lock_timeout or busy == 0
    assert not list((home / "results").glob(".etftrader-tmp-*"))


def test_a_lock_left_by_a_killed_run_is_taken_over(ledger_home):
    # kill -9 while holding the lock: the OS frees the lock; the note it left must not block.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from etftrader.lock import home_lock\n"
         "with home_lock(__import__('pathlib').Path(sys.argv[1]), timeout=0, command='weekly'):\n"
         "    print('held', flush=True); time.sleep(600)", str(ledger_home)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    (ledger_home / "etftrader.toml").write_text("[run]\nlock_timeout = 0\n", encoding="utf-8")
    code, _, err = _weekly(ledger_home, "2022-06-17")
    assert code == 9 and f"pid {holder.pid}" in _one_error_line(err)
    holder.kill()
    holder.wait()
    assert (ledger_home / ".etftrader.lock.json").exists()  # the dead run's note is still there
    code, _, err = _weekly(ledger_home, "2022-06-17")
    assert code == 0, err
    log = sorted((ledger_home / "logs").glob("weekly_automation_*.log"))[-1].read_text()
    assert f"took over the lock note left by pid {holder.pid}" in log


def test_lock_timeout_is_validated(ledger_home):
    (ledger_home / "etftrader.toml").write_text("[run]\nlock_timeout = -1\n", encoding="utf-8")
    code, _, err = _weekly(ledger_home, "2022-06-17")
    assert code == 2 and "`lock_timeout` must be between 0 and 86400 seconds, got -1" in _one_error_line(err)


# ---------------------------------------------------------------------------------------------
# 2-3. Missing sheets are a stop, not a reset


def _edit_workbook_xml(path: Path, edit) -> None:
    data = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/workbook.xml":
                body = edit(body.decode("utf-8")).encode("utf-8")
            dst.writestr(info, body)
    path.write_bytes(data.getvalue())


@pytest.mark.parametrize("sheet, how", [
    ("Trades", "rename"), ("CashFlows", "delete"), ("Positions", "delete"), ("Trades", "delete")])
def test_a_missing_ledger_sheet_stops_the_run(ledger_home, sheet, how):
    book = _book(ledger_home)
    if how == "rename":
        _edit_workbook_xml(book, lambda x: x.replace(f'name="{sheet}"', f'name="{sheet} (old)"'))
    else:
        _edit_workbook_xml(book, lambda x: re.sub(rf'<sheet [^>]*name="{sheet}"[^>]*/>', "", x))
    before = _sha(book)
    code, out, err = _weekly(ledger_home, "2022-06-17")
    line = _one_error_line(err)
    assert code == 5
    assert f"no {sheet} sheet" in line and "results" in line and "backups" in line
    assert "Nothing was written" in line
    assert _sha(book) == before
    assert out == ""


def test_a_deleted_workbook_with_backups_is_a_stop_not_a_fresh_start(ledger_home):
    _book(ledger_home).unlink()
    code, _, err = _weekly(ledger_home, "2022-06-17")
    line = _one_error_line(err)
    assert code == 5 and "is missing, but" in line and "backup" in line
    assert not _book(ledger_home).exists()


# ---------------------------------------------------------------------------------------------
# 4. Symlinks are followed


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_a_symlinked_workbook_and_backups_folder_stay_links(ledger_home, tmp_path):
    synced = tmp_path / "cloud"
    synced.mkdir()
    real_book = synced / "portfolio_tracking.xlsx"
    shutil.move(_book(ledger_home), real_book)
    _book(ledger_home).symlink_to(real_book)
    shutil.move(ledger_home / "results" / "backups", synced / "backups")
    (ledger_home / "results" / "backups").symlink_to(synced / "backups", target_is_directory=True)
    backups_before = set(os.listdir(synced / "backups"))

    code, _, err = _weekly(ledger_home, "2022-06-17")
    assert code == 0, err
    assert _book(ledger_home).is_symlink() and (ledger_home / "results" / "backups").is_symlink()
    assert pd.Timestamp("2022-06-17") in set(read_ledger(real_book).metadata["as_of"])
    assert len(set(os.listdir(synced / "backups")) - backups_before) == 1
    assert not list(synced.glob(".etftrader-tmp-*")) and not list((ledger_home / "results").glob(".etftrader-tmp-*"))


# ---------------------------------------------------------------------------------------------
# 5, 7, 8. Foreseeable bad input: the documented exit code and one line naming the thing


@pytest.mark.parametrize("flag, value, fresh", [
    ("--capital", "1e22", True), ("--capital", "1e25", True), ("--capital", "inf", True),
    ("--capital", "1e30", True), ("--capital", "nan", True),
    ("--deposit", "inf", False), ("--deposit", "1e308", False), ("--withdraw", "nan", False),
])
def test_absurd_money_is_refused_with_its_limit(ledger_home, tmp_path, flag, value, fresh):
    home = tmp_path / "fresh" if fresh else ledger_home
    before = _sha(_book(home)) if not fresh else None
    code, _, err = _weekly(home, "2022-06-17", flag, value)
    line = _one_error_line(err)
    assert code == 2
    assert f"`{flag}` must be a finite amount > 0 and at most 1,000,000,000,000, got {float(value)!r}" in line
    assert (not _book(home).exists()) if fresh else _sha(_book(home)) == before


@pytest.mark.parametrize("toml, expected", [
    ("[factors]\nweights = { momentum = nan, quality = 0.25, value = 0.25, volatility = 0.25 }",
     "factor weight(s) `momentum` = nan must be finite"),
    ("[factors]\nweights = { momentum = inf, quality = 0.25, value = 0.25, volatility = 0.25 }",
     "factor weight(s) `momentum` = inf must be finite"),
    ('[optimizer]\nsolver = "NOPE"', "`solver` must be a cvxpy solver name such as CLARABEL, SCS or OSQP, got 'NOPE'"),
    ('[optimizer]\nsolver = "ECOS"', "ECOS is no longer installed with cvxpy, use CLARABEL"),
    ("[factors]\nwinsor_z = 0", "`winsor_z` must be a finite number > 0"),
    ("[report]\nbackups = -1", "`backups` must be >= 0"),
    ("[data]\nstale_days = 0", "`stale_days` must be >= 1 trading day"),
    ("[rebalance]\ncost_bps = nan", "`cost_bps` must be >= 0, got nan"),
])
def test_bad_config_values_are_named(ledger_home, toml, expected):
    (ledger_home / "etftrader.toml").write_text(toml + "\n", encoding="utf-8")
    before = _sha(_book(ledger_home))
    code, _, err = _weekly(ledger_home, "2022-06-17")
    assert code == 2 and expected in _one_error_line(err)
    assert _sha(_book(ledger_home)) == before


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory, sample_close):
    """The sample as a wide CSV (the rows the weekly run uses), written with plain dates."""
    frame = sample_close.loc["2019-01-01":"2022-12-31"]
    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    frame.to_csv(path, index_label="date", date_format="%Y-%m-%d")
    return path


def _variant(sample_csv: Path, tmp_path: Path, change) -> Path:
    text = sample_csv.read_text(encoding="utf-8")
    path = tmp_path / "bad.csv"
    path.write_text(change(text), encoding="utf-8")
    return path


def _header_dup(text: str) -> str:
    head, rest = text.split("\n", 1)
    cols = head.split(",")
    cols[-1] = cols[1]
    return ",".join(cols) + "\n" + rest


def _header_blank(text: str) -> str:
    head, rest = text.split("\n", 1)
    cols = head.split(",")
    cols[3] = "   "
    return ",".join(cols) + "\n" + rest


def _mixed_tz(text: str) -> str:
    lines = text.split("\n")
    lines[1] = lines[1].replace(lines[1].split(",")[0], lines[1].split(",")[0] + " 00:00:00+00:00", 1)
    lines[2] = lines[2].replace(lines[2].split(",")[0], lines[2].split(",")[0] + " 00:00:00-05:00", 1)
    return "\n".join(lines)


def _hole(text: str) -> str:
    lines = text.split("\n")
    keep = [lines[0]]
    for line in lines[1:]:
        day = line.split(",")[0]
        if "2022-02-01" <= day <= "2022-05-27":
            n = line.count(",")
            line = day + "," * n
        keep.append(line)
    return "\n".join(keep)


def _all_nan(text: str) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0]] + [x.split(",")[0] + "," * x.count(",") if x else x for x in lines[1:]])


@pytest.mark.parametrize("command", ["weekly", "validate"])
@pytest.mark.parametrize("change, expected", [
    (_mixed_tz, "its dates cannot be read together"),
    (_header_dup, "twice in its header"),
    (_header_blank, "column 4 of the header has no ticker name"),
    (_all_nan, "has no prices at all"),
])
def test_defective_price_files_are_named(ledger_home, sample_csv, tmp_path, command, change, expected):
    bad = _variant(sample_csv, tmp_path, change)
    before = _sha(_book(ledger_home))
    code, _, err = run_cli([command, "--prices", str(bad), "--as-of", "2022-06-17", "--home", str(ledger_home)]
                           + (["--positions", "6", "--no-notebook"] if command == "weekly" else []),
                           sample=False)
    line = _one_error_line(err)
    assert code == 3 and expected in line and str(bad) in line
    assert _sha(_book(ledger_home)) == before


def test_a_four_month_hole_before_the_as_of_is_a_stop(ledger_home, sample_csv, tmp_path):
    bad = _variant(sample_csv, tmp_path, _hole)
    code, _, err = run_cli(["weekly", "--prices", str(bad), "--as-of", "2022-06-17", "--positions", "6",
                            "--no-notebook", "--home", str(ledger_home)], sample=False)
    line = _one_error_line(err)
    assert code == 3 and "no price for any ticker between 2022-01-31 and 2022-05-31" in line


def test_an_xlsx_renamed_csv_is_named_as_a_workbook(ledger_home, tmp_path):
    bad = tmp_path / "prices.csv"
    shutil.copy(_book(ledger_home), bad)
    code, _, err = run_cli(["validate", "--prices", str(bad), "--home", str(ledger_home)], sample=False)
    assert code == 3 and "is an Excel workbook" in _one_error_line(err)


def test_a_price_of_1e300_is_dropped_not_a_crash(ledger_home, sample_csv, tmp_path):
    def spike(text):
        lines = text.rstrip("\n").split("\n")
        target = next(i for i, x in enumerate(lines) if x.startswith("2022-06-17"))
        cells = lines[target].split(",")
        cells[1] = "1e300"
        lines[target] = ",".join(cells)
        return "\n".join(lines) + "\n"
    bad = _variant(sample_csv, tmp_path, spike)
    code, out, err = run_cli(["weekly", "--prices", str(bad), "--as-of", "2022-06-17", "--positions", "6",
                              "--no-notebook", "--json", "--home", str(ledger_home)], sample=False)
    assert code == 0, err
    ticker = pd.read_csv(sample_csv, nrows=0).columns[1]
    assert ticker in {d["ticker"] for d in json.loads(out)["dropped"]}


def test_one_flipped_byte_in_the_workbook_is_exit_5(ledger_home):
    book = _book(ledger_home)
    data = bytearray(book.read_bytes())
    with zipfile.ZipFile(book) as z:
        info = z.getinfo(next(n for n in z.namelist() if n.startswith("xl/worksheets/")))
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    book.write_bytes(bytes(data))
    before = _sha(book)
    code, _, err = _weekly(ledger_home, "2022-06-17")
    line = _one_error_line(err)
    assert code == 5 and "damaged" in line and "backup" in line
    assert _sha(book) == before


@pytest.mark.parametrize("err_no, words", [
    (errno.ENOSPC, "No space left on device"), (errno.EIO, "Input/output error"),
    (errno.EROFS, "Read-only file system"), (errno.EPERM, "Operation not permitted")])
def test_a_write_failure_names_the_file_keeps_the_book_and_prints_one_line(ledger_home, monkeypatch, err_no, words):
    import etftrader.runlog
    import etftrader.workbook.safety as safety

    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst).name == "portfolio_tracking.xlsx":
            raise OSError(err_no, os.strerror(err_no))
        return real_replace(src, dst)

    def full_disk_flush(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safety.os, "replace", failing_replace)
    if err_no == errno.ENOSPC:  # a full disk: the run log cannot be written either
        monkeypatch.setattr(etftrader.runlog._RunLogHandler, "flush", full_disk_flush)
    book = _book(ledger_home)
    before = _sha(book)
    code, out, err = _weekly(ledger_home, "2022-06-17")
    assert code == 6
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) <= 2 and "Traceback" not in err, err
    line = lines[-1]
    assert str(book) in line and words in line and "the workbook is unchanged" in line
    assert "close it in Excel" not in line
    assert _sha(book) == before
    assert not list(book.parent.glob(".etftrader-tmp-*"))


def test_an_as_of_before_the_last_recorded_week_needs_force(ledger_home):
    before = _sha(_book(ledger_home))
    code, _, err = _weekly(ledger_home, "2022-05-27")
    line = _one_error_line(err)
    assert code == 2 and f"earlier than the last recorded week ({WEEK2})" in line and "--force" in line
    assert _sha(_book(ledger_home)) == before
    code, _, err = _weekly(ledger_home, "2022-05-27", "--force")
    assert code == 0, err


def test_a_workbook_that_is_not_xlsx_is_refused(tmp_path):
    code, _, err = _weekly(tmp_path / "home", WEEK1, "--workbook", str(tmp_path / "book.csv"))
    assert code == 2 and "--workbook must be an .xlsx file, got book.csv" in _one_error_line(err)
    assert not (tmp_path / "book.csv").exists()


def test_holdings_import_refuses_nan_cash(tmp_path):
    csv = tmp_path / "pos.csv"
    csv.write_text("ticker,shares,cost\nMTUM,100,150\n", encoding="utf-8")
    home = tmp_path / "home"
    code, _, err = run_cli(["holdings", "import", str(csv), "--cash", "nan"], home=home)
    assert code == 2 and "`--cash` must be a finite amount >= 0" in _one_error_line(err)
    assert not _book(home).exists()


def test_an_executed_buy_of_a_billion_shares_is_a_stop(ledger_home):
    book = _book(ledger_home)
    trades = read_ledger(book).trades
    row = int(trades.loc[trades["action"] == "BUY", "_row"].iloc[0])
    mark_executed(book, [row], shares={row: 1e9})
    before = _sha(book)
    code, _, err = _weekly(ledger_home, "2022-06-17")
    line = _one_error_line(err)
    assert code == 5 and f"Trades row {row}" in line and "1,000,000,000" in line
    assert _sha(book) == before


def test_an_as_of_after_the_data_advises_an_earlier_date(ledger_home):
    code, out, err = _weekly(ledger_home, "2023-06-30", "--json")
    line = _one_error_line(err)
    assert code == 3 and "pick an --as-of on or before 2022-12-28" in line and "later" not in line
    assert json.loads(out) == {"error": line[len("Error: "):], "exit_code": 3}
    log = sorted((ledger_home / "logs").glob("weekly_automation_*.log"))[-1].read_text()
    assert "dropped MTUM (no_recent_data)" in log


def test_a_usage_error_is_one_line_with_exit_2():
    code, out, err = run_cli(["weekly", "--positions", "abc"], sample=False)
    line = _one_error_line(err)
    assert code == 2 and "'abc' is not a valid integer" in line and "etftrader weekly --help" in line


def test_report_without_a_workbook_is_exit_5_not_8(tmp_path):
    code, _, err = run_cli(["report", "--home", str(tmp_path)], sample=False)
    assert code == 5 and "does not exist" in _one_error_line(err)


def test_doctor_exits_1_on_a_fail_through_the_real_entry_point(tmp_path):
    home = tmp_path / "home"
    (home / "results" / "portfolio_tracking.xlsx").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "etftrader", "doctor", "--home", str(home), "--offline"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert any(x.startswith("FAIL workbook") for x in done.stdout.splitlines())


# ---------------------------------------------------------------------------------------------
# 6. Interrupts


@pytest.mark.parametrize("exc, code, word", [(KeyboardInterrupt, 130, "interrupted (Ctrl+C)"),
                                              ("term", 143, "terminated (SIGTERM)")])
def test_an_interrupt_during_the_report_says_the_week_was_recorded(ledger_home, monkeypatch, exc, code, word):
    import etftrader.report
    from etftrader.interrupts import Terminated

    def render(*a, **k):
        raise Terminated(signal.SIGTERM) if exc == "term" else exc()

    monkeypatch.setattr(etftrader.report, "render_monitoring", render)
    got, _, err = run_cli(["weekly", "--as-of", "2022-06-17", "--positions", "6", "--source", "sample",
                           "--home", str(ledger_home)], sample=False)
    line = _one_error_line(err)
    assert got == code and line.startswith(f"Error: {word}: the week was recorded in")
    assert pd.Timestamp("2022-06-17") in set(read_ledger(_book(ledger_home)).metadata["as_of"])


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                              (signal.SIGINT, 130, "interrupted (Ctrl+C)")])
def test_a_signal_while_waiting_ends_with_one_line_and_nothing_recorded(ledger_home, sig, code, word):
    from etftrader.lock import home_lock

    before = _sha(_book(ledger_home))
    logs_before = set((ledger_home / "logs").iterdir())
    with home_lock(ledger_home, timeout=0, command="test"):
        proc = _start(ledger_home, "2022-06-17")
        deadline = time.monotonic() + 120
        while set((ledger_home / "logs").iterdir()) == logs_before:  # the run has started its log
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    line = _one_error_line(stderr)
    assert line == f"Error: {word}: nothing was recorded: the workbook is unchanged"
    assert json.loads(stdout)["exit_code"] == code
    assert _sha(_book(ledger_home)) == before


def test_temp_files_of_a_killed_run_are_removed_and_backups_are_never_half_written(ledger_home, monkeypatch):
    import etftrader.workbook.safety as safety

    results, backups = ledger_home / "results", ledger_home / "results" / "backups"
    names_before = set(os.listdir(backups))
    stale = [results / ".etftrader-tmp-abc123.xlsx", backups / ".etftrader-tmp-portfolio_tracking_x.xlsx"]
    for p in stale:
        p.write_bytes(b"half")
        os.utime(p, (time.time() - 3600, time.time() - 3600))

    def killed_copy(src, dst, **kw):
        Path(dst).write_bytes(Path(src).read_bytes()[:100])  # half a copy, then the kill
        raise KeyboardInterrupt

    monkeypatch.setattr(safety.shutil, "copy2", killed_copy)
    before = _sha(_book(ledger_home))
    code, _, err = _weekly(ledger_home, "2022-06-17")
    assert code == 130 and "nothing was recorded" in err
    assert not any(p.exists() for p in stale)
    assert set(os.listdir(backups)) == names_before  # no truncated file under a backup name
    assert _sha(_book(ledger_home)) == before
    monkeypatch.undo()
    code, _, err = _weekly(ledger_home, "2022-06-17")
    assert code == 0, err
    assert all(_sha(p) != "" and p.stat().st_size > 1000 for p in backups.iterdir())


# ---------------------------------------------------------------------------------------------
# 10. Scripts run with a Python that lacks the project


@pytest.mark.parametrize("script", ["run_weekly_portfolio.py", "validate_real_data.py"])
def test_scripts_say_in_one_line_how_to_run_them_without_the_project(script):
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-S", "-I", str(root / "scripts" / script), "--help"],
                          capture_output=True, text=True, timeout=60, cwd=root)
    assert done.returncode == 1
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "not installed for" in lines[0] and ".venv" in lines[0]


def test_allow_earlier_as_of_in_the_config_records_an_earlier_week(ledger_home):
    (ledger_home / "etftrader.toml").write_text("[run]\nallow_earlier_as_of = true\n", encoding="utf-8")
    code, _, err = _weekly(ledger_home, "2022-05-27")
    assert code == 0, err
    assert pd.Timestamp("2022-05-27") in set(read_ledger(_book(ledger_home)).metadata["as_of"])
