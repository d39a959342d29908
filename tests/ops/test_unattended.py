"""Unattended runs never wait for input and always end.

A static audit of the source for anything that reads the keyboard, and real subprocess runs of
``python -m etftrader`` with stdin closed or at /dev/null, bounded by a timeout, including the
crontab line exactly as cron would run it (offline: ``--source sample``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import etftrader
from etftrader.ops import schedule as sch

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = [REPO / "src", REPO / "scripts"]
#: what would block a run without a terminal: reading stdin, prompting, confirming, pausing
BLOCKING = re.compile(
    r"(?<![\w.])input\(|raw_input\(|click\.(prompt|confirm|pause|edit|getchar)\b|getpass"
    r"|sys\.stdin\.read|stdin\.readline|(?<!\w)prompt=True|confirmation_option|password_option"
    r"|\bbreakpoint\(|pdb\.set_trace"
)
RUN_TIMEOUT = 300  # seconds; a weekly run on the sample takes far less
SAMPLE_ARGS = ["--source", "sample", "--as-of", "2022-06-30", "--positions", "8"]


def _python_sources():
    for folder in SOURCE_DIRS:
        if folder.is_dir():
            yield from sorted(folder.rglob("*.py"))


def test_audit_nothing_in_the_product_waits_for_keyboard_input():
    offenders = []
    for path in _python_sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if BLOCKING.search(code):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)


@pytest.mark.parametrize("snippet", ["x = input('go? ')", "click.confirm('sure?')", "click.prompt('name')",
                                     "@click.option('--name', prompt=True)", "getpass.getpass()"])
def test_audit_pattern_catches_prompts(snippet):
    assert BLOCKING.search(snippet)


@pytest.mark.parametrize("snippet", ["run(argv, input=text)", "DataValidation(prompt='TRUE after')",
                                     "self.input_file", "HTMLExporter(exclude_input_prompt=True)"])
def test_audit_pattern_ignores_look_alikes(snippet):
    assert not BLOCKING.search(snippet)


def _env(home: Path) -> dict[str, str]:
    """Cron's environment: almost nothing (no venv, bare PATH); HOME for libraries that want one."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C"}
    if os.name == "nt":  # pragma: no cover - Windows needs its system variables to start Python
        env = {k: v for k, v in os.environ.items() if k.upper() in {"SYSTEMROOT", "PATH", "TEMP", "TMP"}}
    return env


def _run(argv, home, *, stdin=subprocess.DEVNULL, timeout=60):
    return subprocess.run(argv, stdin=stdin, capture_output=True, text=True, timeout=timeout,
                          env=_env(home), cwd=home)


def test_python_m_etftrader_runs_from_a_bare_environment(tmp_home):
    done = _run([sys.executable, "-m", "etftrader", "--version"], tmp_home)
    assert done.returncode == 0 and etftrader.__version__ in done.stdout


def test_schedule_and_doctor_end_with_stdin_at_devnull(tmp_home, assert_cp1252):
    done = _run([sys.executable, "-m", "etftrader", "schedule", "cron", "--home", str(tmp_home)], tmp_home)
    assert done.returncode == 0, done.stderr
    done = _run([sys.executable, "-m", "etftrader", "doctor", "--home", str(tmp_home), "--offline"], tmp_home,
                timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_cp1252(done.stdout + done.stderr)


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="cron is POSIX; the Windows task runs the same argv")
def test_the_crontab_line_runs_the_weekly_job_with_stdin_closed(tmp_home, assert_cp1252):
    job = sch.weekly_job(tmp_home, source="sample", positions=8)
    # a past --as-of keeps the offline sample meaningful; the schedule itself never pins a date
    job = dataclasses.replace(job, options=job.options + ("--as-of", "2022-06-30"))
    job.log_file.parent.mkdir()
    command = sch.cron_line(job).split(None, 5)[5].replace("\\%", "%")
    done = subprocess.run(["/bin/sh", "-c", f"exec 0<&-; {command}"], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, env=_env(tmp_home))
    log = job.log_file.read_text(encoding="utf-8", errors="replace")
    assert done.returncode == 0 and done.stdout == "", done.stdout + log
    assert "\r" not in log  # no progress counter noise when not on a terminal
    assert_cp1252(log)
    assert (tmp_home / "results" / "portfolio_tracking.xlsx").is_file()


def test_weekly_with_stdin_at_devnull_ends_with_the_documented_exit_status(tmp_home):
    # a workbook open in Excel: the run must stop at once with status 6, not wait for the user
    (tmp_home / "results").mkdir()
    (tmp_home / "results" / "~$portfolio_tracking.xlsx").write_bytes(b"\x05Analyst")
    argv = [sys.executable, "-m", "etftrader", "weekly", "--home", str(tmp_home), *SAMPLE_ARGS]
    done = _run(argv, tmp_home, timeout=RUN_TIMEOUT)
    assert done.returncode == 6, done.stdout + done.stderr  # WorkbookLockedError.exit_code
    assert done.stderr.strip().splitlines()[-1].startswith("Error: ")
