"""Scheduled runs: the crontab line (run for real under /bin/sh), crontab install with a fake
``crontab`` on PATH, the schtasks command (round-tripped through Windows parsing rules) and the
Task Scheduler XML (parsed back)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path

import pytest
from entry import invoke

from etftrader.cli import main
from etftrader.errors import ConfigError, EtfTraderError
from etftrader.ops import schedule as sch

from .conftest import windows_split

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
posix_only = pytest.mark.skipif(os.name == "nt", reason="runs the line under /bin/sh as cron does")


@pytest.fixture()
def spaced_home(tmp_path):
    """A home folder whose path has a space, a quote and a percent sign (cron's special char)."""
    home = tmp_path / "my etf's home %d"
    home.mkdir()
    return home


# ------------------------------------------------------------------------------- day and time


@pytest.mark.parametrize("text, expected", [("MON", "MON"), ("mon", "MON"), ("Friday", "FRI"),
                                            (" sun ", "SUN")])
def test_parse_day_accepts_abbreviations_and_names(text, expected):
    assert sch.parse_day(text) == expected


@pytest.mark.parametrize("text", ["FUN", "", "1", "Mo"])
def test_parse_day_rejects_other_text_listing_valid_days(text):
    with pytest.raises(ConfigError, match="MON, TUE, WED, THU, FRI, SAT, SUN"):
        sch.parse_day(text)


@pytest.mark.parametrize("text, expected", [("09:30", "09:30"), ("9:30", "09:30"), ("00:00", "00:00"),
                                            ("23:59", "23:59")])
def test_parse_time_normalises_to_hh_mm(text, expected):
    assert sch.parse_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "12:60", "9.30", "930", "9:3", "noon", "-1:30"])
def test_parse_time_rejects_invalid_times(text):
    with pytest.raises(ConfigError, match="HH:MM"):
        sch.parse_time(text)


# --------------------------------------------------------------------------------- the job


def test_weekly_job_passes_only_chosen_options_with_absolute_paths(tmp_path, monkeypatch):
    prices = tmp_path / "prices.csv"
    prices.write_text("date,SPY\n")
    monkeypatch.chdir(tmp_path)
    job = sch.weekly_job("home", capital=250000, positions=8, optimizer="minvar",
                         drift_threshold=0.075, source="file", prices_file="prices.csv",
                         workbook="books/ledger.xlsx", python="/opt/py/bin/python")
    assert job.home == (tmp_path / "home").resolve()
    assert job.argv == [
        "/opt/py/bin/python", "-m", "etftrader", "weekly", "--home", str(job.home),
        "--capital", "250000", "--positions", "8", "--optimizer", "minvar",
        "--drift-threshold", "0.075", "--source", "file", "--prices", str(prices.resolve()),
        "--workbook", str((tmp_path / "books" / "ledger.xlsx").resolve()),
    ]
    bare = sch.weekly_job(tmp_path)
    assert bare.options == ()
    assert (bare.day, bare.time) == ("MON", "09:30")
    assert bare.python == Path(sys.executable).absolute()


def test_weekly_job_rejects_a_missing_prices_file(tmp_path):
    with pytest.raises(ConfigError, match=r"--prices must name an existing file.*nope\.csv"):
        sch.weekly_job(tmp_path, prices_file=tmp_path / "nope.csv")


def test_weekly_job_rejects_a_line_break_in_a_path(tmp_path):
    with pytest.raises(ConfigError, match="line break"):
        sch.weekly_job(tmp_path / "two\nlines")


# -------------------------------------------------------------------------------------- cron


@pytest.mark.parametrize("day, at, fields", [("MON", "09:30", "30 9 * * 1"), ("SUN", "00:05", "5 0 * * 0"),
                                             ("FRI", "17:45", "45 17 * * 5")])
def test_cron_line_schedule_fields(tmp_path, day, at, fields):
    line = sch.cron_line(sch.weekly_job(tmp_path, day=day, time=at))
    assert line.startswith(fields + " ")
    assert "\n" not in line


def _as_cron_runs_it(line: str) -> str:
    """The command cron hands to /bin/sh: the part after five fields, with cron's % rule applied."""
    command = line.split(None, 5)[5]
    assert not re.search(r"(?<!\\)%", command), "an unescaped % would end the command in cron"
    return command.replace("\\%", "%")


def _fake_python(folder: Path, status: int) -> Path:
    """A stand-in interpreter that records its arguments and exits with ``status``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "python"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        for a in "$@"; do printf '%s\\n' "$a"; done > "$ARGS_FILE"
        echo "weekly summary line"
        echo "Error: workbook is open in Excel" >&2
        exit {status}
        """))
    script.chmod(0o755)
    return script


@posix_only
def test_cron_line_runs_under_sh_with_awkward_paths_and_appends_to_the_log(tmp_path, spaced_home):
    python = _fake_python(tmp_path / "venv dir" / "bin", status=0)
    job = sch.weekly_job(spaced_home, python=python, positions=8, source="sample")
    job.log_file.parent.mkdir()
    args_file = tmp_path / "args.txt"
    env = {"PATH": "/usr/bin:/bin", "ARGS_FILE": str(args_file)}  # cron's bare environment
    for _ in range(2):
        done = subprocess.run(["/bin/sh", "-c", _as_cron_runs_it(sch.cron_line(job))], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0
        assert done.stdout == "" and done.stderr == ""  # nothing to mail on success
    assert args_file.read_text().splitlines() == job.arguments
    log = job.log_file.read_text()
    assert log.count("weekly summary line") == 2  # appended, not overwritten
    assert "Error: workbook is open in Excel" in log


@posix_only
def test_cron_line_mails_two_short_lines_when_the_run_fails(tmp_path, spaced_home):
    python = _fake_python(tmp_path / "bin", status=6)
    job = sch.weekly_job(spaced_home, python=python)
    job.log_file.parent.mkdir()
    done = subprocess.run(["/bin/sh", "-c", _as_cron_runs_it(sch.cron_line(job))],
                          env={"PATH": "/usr/bin:/bin", "ARGS_FILE": str(tmp_path / "a")},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    mail = done.stdout.splitlines()
    assert mail[0] == f"etftrader weekly failed with exit status 6; end of {job.log_file}:"
    assert mail[-1] == "Error: workbook is open in Excel"
    assert len(mail) == 3


def test_merge_crontab_keeps_other_lines_and_is_idempotent(tmp_path):
    job = sch.weekly_job(tmp_path / "a", positions=8)
    other = sch.weekly_job(tmp_path / "b")
    existing = "MAILTO=me@example.com\n0 * * * * /usr/bin/backup\n"
    once = sch.merge_crontab(existing, job)
    assert once.startswith(existing)
    assert once.endswith(sch.cron_marker(job) + "\n" + sch.cron_line(job) + "\n")
    assert sch.merge_crontab(once, job) == once
    changed = sch.weekly_job(tmp_path / "a", positions=10, day="TUE")
    replaced = sch.merge_crontab(once, changed)
    assert replaced.count("etftrader weekly (") == 1
    assert sch.cron_line(job) not in replaced and sch.cron_line(changed) in replaced
    both = sch.merge_crontab(replaced, other)  # another home folder gets its own entry
    assert both.count("etftrader weekly (") == 2 and sch.cron_line(changed) in both


FAKE_CRONTAB = """\
#!{python}
import os, sys
table = os.environ["FAKE_CRONTAB_FILE"]
if sys.argv[1:] == ["-l"]:
    if not os.path.exists(table):
        sys.stderr.write("no crontab for tester\\n")
        sys.exit(1)
    sys.stdout.write(open(table).read())
elif sys.argv[1:] == ["-"]:
    open(table, "w").write(sys.stdin.read())
else:
    sys.exit(2)
"""


@pytest.fixture()
def fake_crontab(tmp_path, monkeypatch):
    """A ``crontab`` on PATH that keeps the table in a file; returns that file's path."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    exe = bin_dir / "crontab"
    exe.write_text(FAKE_CRONTAB.format(python=sys.executable))
    exe.chmod(0o755)
    table = tmp_path / "crontab.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(table))
    return table


@posix_only
def test_cron_install_adds_line_keeps_existing_and_is_idempotent(fake_crontab, tmp_home, assert_cp1252):
    fake_crontab.write_text("MAILTO=me@example.com\n15 3 * * * /usr/bin/backup\n")
    args = ["schedule", "cron", "--home", str(tmp_home), "--positions", "8", "--install"]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    assert "Installed in your crontab" in first.stderr
    table = fake_crontab.read_text()
    assert table.startswith("MAILTO=me@example.com\n15 3 * * * /usr/bin/backup\n")
    assert first.stdout.strip() in table.splitlines()
    second = invoke(args)
    assert second.exit_code == 0
    assert "already holds this job" in second.stderr
    assert fake_crontab.read_text() == table
    assert_cp1252(first.output + second.output)


@posix_only
def test_cron_install_starts_a_crontab_when_the_user_has_none(fake_crontab, tmp_home):
    message = sch.install_cron(sch.weekly_job(tmp_home))
    assert message.startswith("Installed")
    lines = fake_crontab.read_text().splitlines()
    assert lines[0].startswith("# etftrader weekly") and lines[1].startswith("30 9 * * 1 ")


def test_cron_install_without_crontab_is_a_one_line_error(tmp_home, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_home))  # no crontab here
    code = main(["schedule", "cron", "--home", str(tmp_home), "--install"])
    err = capsys.readouterr().err
    assert code == EtfTraderError.exit_code
    assert err.startswith("Error: cannot read the crontab (crontab -l): `crontab` was not found on PATH")
    assert err.count("\n") == 1


def test_cron_install_reports_a_refused_table_and_names_it_unchanged(tmp_path):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        if argv[-1] == "-l":
            return subprocess.CompletedProcess(argv, 0, "MAILTO=x\n", "")
        return subprocess.CompletedProcess(argv, 1, "", '"-":2: bad minute\nerrors in crontab file\n')

    with pytest.raises(EtfTraderError, match=r"refused the new table .*bad minute; your crontab is unchanged"):
        sch.install_cron(sch.weekly_job(tmp_path), run=run)
    assert calls == [["crontab", "-l"], ["crontab", "-"]]


def test_cron_install_bounded_when_crontab_hangs(tmp_path):
    def run(argv, **kwargs):
        assert kwargs["timeout"] == sch.TOOL_TIMEOUT
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    with pytest.raises(EtfTraderError, match="did not answer within 30 s"):
        sch.install_cron(sch.weekly_job(tmp_path), run=run)


def test_cron_command_prints_the_line_and_instructions(tmp_home, assert_cp1252):
    result = invoke(["schedule", "cron", "--home", str(tmp_home), "--capital", "500000",
                                      "--optimizer", "rankbased", "--drift-threshold", "0.075"])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert len(result.stdout.splitlines()) == 1  # stdout is exactly the line: `>> file` friendly
    assert line.startswith("30 9 * * 1 ")
    assert "--capital 500000 --optimizer rankbased --drift-threshold 0.075" in line
    assert f"--home {tmp_home}" in line or f"--home '{tmp_home}'" in line
    assert sys.executable in line
    assert "crontab -e" in result.stderr and "--install" in result.stderr
    assert (tmp_home / "logs").is_dir()
    assert_cp1252(result.output)


def test_day_and_time_default_to_the_config_schedule(tmp_home):
    (tmp_home / "etftrader.toml").write_text('[schedule]\nday = "FRI"\ntime = "17:45"\n')
    result = invoke(["schedule", "cron", "--home", str(tmp_home)])
    assert result.stdout.startswith("45 17 * * 5 ")
    result = invoke(["schedule", "cron", "--home", str(tmp_home), "--day", "wed"])
    assert result.stdout.startswith("45 17 * * 3 ")


@pytest.mark.parametrize("args, message", [
    (["--day", "FUN"], "schedule `day` must be one of MON"),
    (["--time", "25:00"], "schedule `time` must be HH:MM"),
    (["--positions", "0"], "`positions` must be at least 1, got 0"),
    (["--capital", "-5"], "`capital` must be a finite amount > 0"),
    (["--source", "file"], "--source file needs a price file"),
    (["--source", "sample", "--prices", "p.csv"], "--prices is only used with --source file; got --source sample"),
])
def test_schedule_rejects_bad_options_in_one_line(tmp_home, capsys, args, message):
    code = main(["schedule", "cron", "--home", str(tmp_home), *args])
    err = capsys.readouterr().err
    assert code == ConfigError.exit_code
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1


def test_bad_day_in_the_config_file_is_reported(tmp_home, capsys):
    (tmp_home / "etftrader.toml").write_text('[schedule]\nday = "Montag"\n')
    assert main(["schedule", "windows", "--home", str(tmp_home)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {tmp_home / 'etftrader.toml'}: schedule `day` must be one of")
    assert "got 'Montag'" in err and "fix [schedule]" in err


# ---------------------------------------------------------------------------------- Windows


def _windows_job(home="C:\\Users\\Ana Lyst\\etf home", **options):
    return sch.WeeklyJob(python=Path("C:\\Program Files\\Python311\\python.exe"), home=Path(home),
                         day="THU", time="07:05", options=tuple(options.get("options", ())))


def test_schtasks_command_round_trips_through_windows_parsing():
    job = _windows_job(options=["--positions", "8", "--config", "C:\\cfg dir\\etftrader.toml"])
    command = sch.schtasks_command(job)
    tokens = windows_split(command)
    assert tokens[:10] == ["schtasks", "/Create", "/SC", "WEEKLY", "/D", "THU", "/ST", "07:05", "/TN",
                           "etftrader weekly"]
    assert tokens[10] == "/TR" and tokens[-1] == "/F"
    assert windows_split(tokens[11]) == job.argv
    assert len(tokens) == 13


def test_schtasks_command_keeps_a_trailing_backslash_path_intact():
    job = _windows_job(home="C:\\")
    assert windows_split(windows_split(sch.schtasks_command(job))[11]) == job.argv


def test_windows_command_warns_when_the_task_command_is_too_long_for_schtasks(tmp_path):
    deep = tmp_path / ("x" * 120) / ("y" * 120)
    deep.mkdir(parents=True)
    result = invoke(["schedule", "windows", "--home", str(deep)])
    assert result.exit_code == 0
    assert "accepts at most 261" in result.stderr and "--xml" in result.stderr


def test_windows_command_prints_schtasks_and_instructions(tmp_home, assert_cp1252):
    result = invoke(["schedule", "windows", "--home", str(tmp_home), "--day", "TUE",
                                      "--time", "8:00", "--positions", "6"])
    assert result.exit_code == 0, result.output
    tokens = windows_split(result.stdout.strip())
    assert tokens[:8] == ["schtasks", "/Create", "/SC", "WEEKLY", "/D", "TUE", "/ST", "08:00"]
    assert windows_split(tokens[11])[-2:] == ["--positions", "6"]
    assert "schtasks /Query" in result.stderr and "--install" in result.stderr
    assert "accepts at most" not in result.stderr
    assert_cp1252(result.output)


def test_windows_install_elsewhere_is_one_line_and_runs_nothing(tmp_home):
    def run(*a, **k):
        raise AssertionError("schtasks must not run on this system")

    message = sch.install_windows(sch.weekly_job(tmp_home), system="Linux", run=run)
    assert message.startswith("Not installed: schtasks exists only on Windows")
    assert "\n" not in message
    result = invoke(["schedule", "windows", "--home", str(tmp_home), "--install"])
    assert result.exit_code == 0
    if os.name != "nt":
        assert "Not installed" in result.stderr


def test_windows_install_runs_schtasks_with_force_and_reports_failure():
    job = _windows_job()
    seen = {}

    def ok(argv, **kwargs):
        seen["argv"], seen["kwargs"] = argv, kwargs
        return subprocess.CompletedProcess(argv, 0, "SUCCESS: ...", "")

    message = sch.install_windows(job, "my task", system="Windows", run=ok)
    assert seen["argv"] == sch.schtasks_argv(job, "my task")
    assert seen["argv"][-1] == "/F"  # never the Yes/No prompt
    assert seen["kwargs"]["timeout"] == sch.TOOL_TIMEOUT
    assert seen["kwargs"]["stdin"] == subprocess.DEVNULL
    assert message.startswith('Installed task "my task": every THU at 07:05')

    def refused(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 1, "", "ERROR: Access is denied.\r\n")

    with pytest.raises(EtfTraderError, match="exit status 1: ERROR: Access is denied.; nothing was scheduled"):
        sch.install_windows(job, system="Windows", run=refused)


def test_task_xml_is_utf16_and_parses_back_to_the_job():
    job = _windows_job(options=["--source", "sample"])
    data = sch.task_xml(job, today=date(2026, 11, 21))  # a Saturday
    assert data.startswith(b"\xff\xfe")  # UTF-16 LE byte order mark, as Task Scheduler exports
    text = data.decode("utf-16")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>\r\n')
    root = ET.fromstring(data)
    assert root.tag == "{%s}Task" % NS["t"]
    start = datetime.fromisoformat(root.find("t:Triggers/t:CalendarTrigger/t:StartBoundary", NS).text)
    assert start == datetime(2026, 11, 26, 7, 5)  # the next Thursday at 07:05
    days = root.find("t:Triggers/t:CalendarTrigger/t:ScheduleByWeek/t:DaysOfWeek", NS)
    assert [child.tag.split("}")[1] for child in days] == ["Thursday"]
    assert root.find("t:Triggers/t:CalendarTrigger/t:ScheduleByWeek/t:WeeksInterval", NS).text == "1"
    exec_ = root.find("t:Actions/t:Exec", NS)
    assert exec_.find("t:Command", NS).text == str(job.python)
    assert windows_split(exec_.find("t:Arguments", NS).text) == job.arguments
    assert exec_.find("t:WorkingDirectory", NS).text == str(job.home)
    settings = root.find("t:Settings", NS)
    assert settings.find("t:StartWhenAvailable", NS).text == "true"
    assert settings.find("t:ExecutionTimeLimit", NS).text == sch.TASK_TIME_LIMIT
    assert root.find("t:RegistrationInfo/t:URI", NS).text == "\\etftrader weekly"


@pytest.mark.parametrize("today, expected", [(date(2026, 11, 23), date(2026, 11, 23)),
                                             (date(2026, 11, 24), date(2026, 11, 30))])
def test_next_run_date_is_today_or_later(today, expected):
    assert sch.next_run_date("MON", today) == expected


def test_windows_xml_option_writes_a_file_task_scheduler_can_import(tmp_home, tmp_path):
    target = tmp_path / "out dir" / "weekly task.xml"
    target.parent.mkdir()
    result = invoke(["schedule", "windows", "--home", str(tmp_home), "--xml", str(target),
                                      "--name", "ETF weekly"])
    assert result.exit_code == 0, result.output
    root = ET.parse(target).getroot()
    assert root.find("t:RegistrationInfo/t:URI", NS).text == "\\ETF weekly"
    assert f'/XML "{target}" /TN "ETF weekly"' in result.stderr


def test_windows_xml_to_an_unwritable_place_is_a_one_line_error(tmp_home, capsys):
    code = main(["schedule", "windows", "--home", str(tmp_home), "--xml", str(tmp_home / "no" / "such" / "x.xml")])
    assert code == ConfigError.exit_code
    assert capsys.readouterr().err.startswith("Error: cannot write ")


def test_windows_install_refuses_a_command_schtasks_would_truncate(tmp_path):
    def run(*a, **k):
        raise AssertionError("schtasks must not run")

    job = _windows_job(home="C:\\" + "\\".join(["a long folder name"] * 15))
    with pytest.raises(EtfTraderError, match=r"accepts at most 261; write the task with --xml FILE"):
        sch.install_windows(job, system="Windows", run=run)
