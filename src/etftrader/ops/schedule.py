"""Scheduled weekly runs: the crontab line, the ``schtasks`` command and the Task Scheduler XML.

A scheduled run starts with no terminal, no activated virtual environment and a bare PATH, so the
job calls the interpreter in use by its absolute path (``python -m etftrader weekly``) with an
absolute ``--home``. Everything here builds text from a :class:`WeeklyJob`; the only functions that
touch the system are :func:`install_cron` and :func:`install_windows`, and the CLI calls them only
when the user passes ``--install``.

Why one module of this size: the cron line and the Windows task (command line and XML) describe
the same job and must say the same thing; they share :class:`WeeklyJob` and its checks.
"""

from __future__ import annotations

import codecs
import platform
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, EtfTraderError, first_line

__all__ = [
    "DAYS",
    "DEFAULT_TASK_NAME",
    "SCHEDULE_LOG_NAME",
    "SCHTASKS_TR_LIMIT",
    "WeeklyJob",
    "parse_day",
    "parse_time",
    "weekly_job",
    "cron_marker",
    "cron_line",
    "merge_crontab",
    "install_cron",
    "task_command_line",
    "schtasks_argv",
    "schtasks_command",
    "task_xml",
    "install_windows",
]

#: Task Scheduler's day abbreviations (also what ``schtasks /D`` takes), Monday first.
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_TASK_NAME = "etftrader weekly"
#: File under ``<home>/logs`` that a cron job appends its console output to.
SCHEDULE_LOG_NAME = "scheduled_weekly.log"
#: ``schtasks /Create /TR`` rejects a task command longer than this; the XML has no such limit.
SCHTASKS_TR_LIMIT = 261
#: Seconds allowed to ``crontab`` / ``schtasks`` before we give up (they answer instantly or hang).
TOOL_TIMEOUT = 30.0
#: A weekly run that is still going after this long is stopped by Task Scheduler (ISO 8601).
TASK_TIME_LIMIT = "PT2H"
_TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_day(value: str) -> str:
    """``"mon"``, ``"MON"`` or ``"Monday"`` -> ``"MON"``.

    Raises
    ------
    ConfigError
        ``value`` is not a day of the week.
    """
    text = str(value).strip()
    for abbr, name in zip(DAYS, _DAY_NAMES):
        if text.upper() in (abbr, name.upper()):
            return abbr
    raise ConfigError(
        f"schedule `day` must be one of {', '.join(DAYS)} (or the full English name), got {value!r}"
    )


def parse_time(value: str) -> str:
    """``"9:30"`` or ``"09:30"`` -> ``"09:30"`` (24-hour clock, the machine's local time).

    Raises
    ------
    ConfigError
        ``value`` is not ``HH:MM`` with hour 0-23 and minute 0-59.
    """
    match = _TIME_RE.match(str(value).strip())
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour < 24 and minute < 60:
            return f"{hour:02d}:{minute:02d}"
    raise ConfigError(
        f"schedule `time` must be HH:MM on a 24-hour clock (e.g. 09:30 or 17:45), got {value!r}"
    )


@dataclass(frozen=True)
class WeeklyJob:
    """One scheduled weekly run: who runs what, where, and when.

    Attributes
    ----------
    python : Path
        Absolute path of the interpreter that runs ``-m etftrader``.
    home : Path
        Absolute home folder passed as ``--home``.
    day : str
        One of :data:`DAYS`.
    time : str
        ``HH:MM``, 24-hour clock, local time of the machine that runs the job.
    options : tuple of str
        Options of ``etftrader weekly`` after ``--home`` (only those the user chose).
    """

    python: Path
    home: Path
    day: str
    time: str
    options: tuple[str, ...] = ()

    @property
    def arguments(self) -> list[str]:
        """Everything after the interpreter: ``-m etftrader weekly --home HOME ...``."""
        return ["-m", "etftrader", "weekly", "--home", str(self.home), *self.options]

    @property
    def argv(self) -> list[str]:
        """The whole command as a list (interpreter first)."""
        return [str(self.python), *self.arguments]

    @property
    def log_file(self) -> Path:
        """Where a cron job appends its console output."""
        return self.home / "logs" / SCHEDULE_LOG_NAME

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


def weekly_job(
    home: str | Path,
    *,
    day: str = "MON",
    time: str = "09:30",
    capital: float | None = None,
    positions: int | None = None,
    optimizer: str | None = None,
    drift_threshold: float | None = None,
    source: str | None = None,
    prices_file: str | Path | None = None,
    workbook: str | Path | None = None,
    config_path: str | Path | None = None,
    python: str | Path | None = None,
) -> WeeklyJob:
    """Build the job for ``etftrader weekly`` with the options the user chose.

    Options left as None are not passed, so the run reads them from the config file at run time
    (edit the file, not the schedule). Paths become absolute because the scheduler's working
    directory is not the user's.

    Raises
    ------
    ConfigError
        Bad day or time, a path with a line break (it would split the crontab line), or a
        ``--prices`` / ``--config`` file that does not exist.
    """
    home_path = Path(home).expanduser().resolve()
    options: list[str] = []
    if capital is not None:
        options += ["--capital", _number(capital)]
    if positions is not None:
        options += ["--positions", str(int(positions))]
    if optimizer is not None:
        options += ["--optimizer", optimizer]
    if drift_threshold is not None:
        options += ["--drift-threshold", _number(drift_threshold)]
    if source is not None:
        options += ["--source", source]
    if prices_file is not None:
        options += ["--prices", str(_existing_file(prices_file, "--prices"))]
    if workbook is not None:  # may not exist yet: the first run creates it
        options += ["--workbook", str(Path(workbook).expanduser().resolve())]
    if config_path is not None:
        options += ["--config", str(_existing_file(config_path, "--config"))]
    job = WeeklyJob(
        python=Path(python or sys.executable).absolute(),
        home=home_path,
        day=parse_day(day),
        time=parse_time(time),
        options=tuple(options),
    )
    for part in job.argv:
        if "\n" in part or "\r" in part:
            raise ConfigError(
                f"a scheduled command cannot contain a line break, got {part!r}; "
                "move the folder to a path without one"
            )
    return job


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _existing_file(path: str | Path, option: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ConfigError(
            f"{option} must name an existing file for a scheduled run, got {path} "
            f"(resolved to {resolved}); fix the path and try again"
        )
    return resolved


# --------------------------------------------------------------------------------------- cron


def cron_marker(job: WeeklyJob) -> str:
    """The comment line that identifies our crontab entry for this home folder."""
    return f"# etftrader weekly (etftrader schedule cron --install) home={job.home}"


def _cron_quote(text: str) -> str:
    # cron turns an unescaped % into a newline before the shell sees the command
    return shlex.quote(text).replace("%", "\\%")


def cron_line(job: WeeklyJob) -> str:
    """One crontab line: ``MIN HOUR * * DOW cd HOME && PYTHON -m etftrader weekly ...``.

    Console output is appended to :attr:`WeeklyJob.log_file`, so cron sends no mail when the run
    succeeds; when it fails, the mail is two short lines: the exit status and the error.
    """
    hour, minute = job.hour_minute
    dow = (DAYS.index(job.day) + 1) % 7  # cron: 0 = Sunday
    log = _cron_quote(str(job.log_file))
    command = " ".join(_cron_quote(part) for part in job.argv)
    return (
        f"{minute} {hour} * * {dow} cd {_cron_quote(str(job.home))} && {command} >> {log} 2>&1"
        f' || {{ echo "etftrader weekly failed with exit status $?; end of {_cron_echo(job.log_file)}:";'
        f" tail -n 2 {log}; }}"
    )


def _cron_echo(path: Path) -> str:
    # inside double quotes only \ " $ ` are special to sh, and % to cron
    text = re.sub(r'([\\"$`])', r"\\\1", str(path))
    return text.replace("%", "\\%")


def merge_crontab(existing: str, job: WeeklyJob) -> str:
    """``existing`` crontab text with our entry for ``job.home`` replaced (or added at the end).

    Every other line is kept as it was, so installing twice gives the same crontab.
    """
    marker = cron_marker(job)
    kept: list[str] = []
    skip_next = False
    for line in existing.splitlines():
        if skip_next:
            skip_next = False
            if line.strip() and not line.lstrip().startswith("#"):
                continue
        if line.strip() == marker:
            skip_next = True
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, marker, cron_line(job)]) + "\n"


Runner = Callable[..., subprocess.CompletedProcess]


def install_cron(job: WeeklyJob, *, crontab: str = "crontab", run: Runner = subprocess.run) -> str:
    """Add (or replace) the job in the user's crontab via ``crontab -l`` and ``crontab -``.

    Returns a one-line message. Raises :class:`EtfTraderError` naming the failing step when
    ``crontab`` is missing, hangs or refuses the new table; the old table is then unchanged.
    """
    current = _run_tool(run, [crontab, "-l"], None, "read the crontab (crontab -l)")
    if current.returncode == 0:
        existing = current.stdout
    elif "no crontab" in (current.stderr or "").lower():
        existing = ""
    else:
        raise EtfTraderError(
            f"`crontab -l` failed with exit status {current.returncode}: "
            f"{_first_line(current.stderr)}; add the line by hand with `crontab -e`"
        )
    new = merge_crontab(existing, job)
    if new == existing:
        return f"crontab already holds this job (every {job.day} at {job.time}); nothing changed"
    result = _run_tool(run, [crontab, "-"], new, "write the crontab (crontab -)")
    if result.returncode != 0:
        raise EtfTraderError(
            f"`crontab -` refused the new table (exit status {result.returncode}): "
            f"{_first_line(result.stderr)}; your crontab is unchanged"
        )
    return f"Installed in your crontab: every {job.day} at {job.time}; check it with `crontab -l`"


def _run_tool(run: Runner, argv: list[str], stdin: str | None, what: str):
    try:
        return run(argv, input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                   stdin=None if stdin is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise EtfTraderError(
            f"cannot {what}: `{argv[0]}` was not found on PATH; install it or add the line by hand"
        ) from None
    except subprocess.TimeoutExpired:
        raise EtfTraderError(
            f"cannot {what}: `{argv[0]}` did not answer within {TOOL_TIMEOUT:.0f} s; nothing changed"
        ) from None


def _first_line(text: str | None) -> str:
    return first_line(text)


# --------------------------------------------------------------------------- Windows scheduler


def task_command_line(job: WeeklyJob) -> str:
    """The program and arguments as Windows parses them (the ``/TR`` value of ``schtasks``)."""
    return subprocess.list2cmdline(job.argv)


def schtasks_argv(job: WeeklyJob, name: str = DEFAULT_TASK_NAME) -> list[str]:
    """``schtasks /Create ...`` as an argument list; ``/F`` replaces an older task of that name
    instead of asking Yes/No (a prompt would hang an unattended install)."""
    return [
        "schtasks", "/Create", "/SC", "WEEKLY", "/D", job.day, "/ST", job.time,
        "/TN", name, "/TR", task_command_line(job), "/F",
    ]


def schtasks_command(job: WeeklyJob, name: str = DEFAULT_TASK_NAME) -> str:
    """The ``schtasks`` command as one line to paste into a Command Prompt."""
    return subprocess.list2cmdline(schtasks_argv(job, name))


def next_run_date(day: str, today: date) -> date:
    """The first ``day`` on or after ``today``."""
    return today + timedelta(days=(DAYS.index(day) - today.weekday()) % 7)


def task_xml(job: WeeklyJob, name: str = DEFAULT_TASK_NAME, *, today: date | None = None) -> bytes:
    """The task as Task Scheduler exports it: UTF-16 (little-endian, BOM), CRLF line ends.

    Import with ``schtasks /Create /XML FILE /TN NAME`` or Task Scheduler > Import Task. Beyond
    what ``schtasks /Create`` can express, the XML starts a missed run when the computer is next
    on (``StartWhenAvailable``), runs on battery, sets the working directory to the home folder and
    stops a run that takes longer than :data:`TASK_TIME_LIMIT`.
    """
    ET.register_namespace("", _TASK_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{_TASK_NS}}}{tag}", attrib)
        if text is not None:
            element.text = text
        return element

    start = datetime.combine(next_run_date(job.day, today or date.today()),
                             datetime.strptime(job.time, "%H:%M").time())
    task = ET.Element(f"{{{_TASK_NS}}}Task", {"version": "1.2"})
    info = sub(task, "RegistrationInfo")
    sub(info, "Description", f"etftrader weekly run for {job.home} (created by etftrader schedule windows)")
    sub(info, "URI", "\\" + name)
    trigger = sub(sub(task, "Triggers"), "CalendarTrigger")
    sub(trigger, "StartBoundary", start.isoformat(timespec="seconds"))
    sub(trigger, "Enabled", "true")
    weekly = sub(trigger, "ScheduleByWeek")
    sub(sub(weekly, "DaysOfWeek"), _DAY_NAMES[DAYS.index(job.day)])
    sub(weekly, "WeeksInterval", "1")
    principal = sub(sub(task, "Principals"), "Principal", id="Author")
    sub(principal, "LogonType", "InteractiveToken")
    sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")
    for tag, text in (
        ("MultipleInstancesPolicy", "IgnoreNew"),
        ("DisallowStartIfOnBatteries", "false"),
        ("StopIfGoingOnBatteries", "false"),
        ("AllowHardTerminate", "true"),
        ("StartWhenAvailable", "true"),
        # run even without network: the run then fails fast with exit status 4, which the
        # task history shows, instead of silently never running
        ("RunOnlyIfNetworkAvailable", "false"),
        ("AllowStartOnDemand", "true"),
        ("Enabled", "true"),
        ("Hidden", "false"),
        ("RunOnlyIfIdle", "false"),
        ("WakeToRun", "false"),
        ("ExecutionTimeLimit", TASK_TIME_LIMIT),
        ("Priority", "7"),
    ):
        sub(settings, tag, text)
    action = sub(sub(task, "Actions", Context="Author"), "Exec")
    sub(action, "Command", str(job.python))
    sub(action, "Arguments", subprocess.list2cmdline(job.arguments))
    sub(action, "WorkingDirectory", str(job.home))
    ET.indent(task, space="  ")
    body = ET.tostring(task, encoding="unicode")
    text = '<?xml version="1.0" encoding="UTF-16"?>\n' + body + "\n"
    return codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le")


def install_windows(job: WeeklyJob, name: str = DEFAULT_TASK_NAME, *, system: str | None = None,
                    run: Runner = subprocess.run) -> str:
    """Create (or replace) the task with ``schtasks``; on other systems say so and do nothing.

    Returns a one-line message; raises :class:`EtfTraderError` when the command is too long for
    ``schtasks /TR`` (before running anything) or ``schtasks`` fails.
    """
    system = system or platform.system()
    if system != "Windows":
        return (f"Not installed: schtasks exists only on Windows (this is {system}); "
                "run this command on the Windows computer that should run the job")
    length = len(task_command_line(job))
    if length > SCHTASKS_TR_LIMIT:
        raise EtfTraderError(
            f"the task command is {length} characters and schtasks /TR accepts at most "
            f"{SCHTASKS_TR_LIMIT}; write the task with --xml FILE and import it with "
            f'schtasks /Create /XML FILE /TN "{name}"'
        )
    result = _run_tool(run, schtasks_argv(job, name), None, "create the task (schtasks)")
    if result.returncode != 0:
        raise EtfTraderError(
            f"schtasks failed with exit status {result.returncode}: "
            f"{_first_line(result.stderr or result.stdout)}; nothing was scheduled"
        )
    return (f'Installed task "{name}": every {job.day} at {job.time}; '
            f'check it with: schtasks /Query /TN "{name}"')

