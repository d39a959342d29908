"""The README's two newcomer commands stay true: the demo command runs, the test command is CI's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from etftrader.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_quick_start_comes_first_with_install_run_and_test_commands():
    assert README.index("## Quick start") < README.index("## What it does")
    install_and_run, tests = _quick_start_commands()[:2]
    assert 'pip install -e ".[dev]"' in install_and_run and "etftrader weekly --source sample" in install_and_run
    assert tests == ".venv/bin/python -m pytest"
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_demo_command_runs_on_the_sample_and_writes_workbook_report_and_log(tmp_path, capsys):
    install_and_run = _quick_start_commands()[0]
    demo = install_and_run.split("&&")[-1].strip()
    args = shlex.split(demo)[1:]  # drop the .venv/bin/etftrader program path
    home = args.index("--home")
    args[home + 1] = str(tmp_path / args[home + 1])
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "WEEKLY AUTOMATION COMPLETED SUCCESSFULLY" in out
    demo_home = tmp_path / "demo"
    assert (demo_home / "results" / "portfolio_tracking.xlsx").is_file()
    assert list((demo_home / "results" / "reports").glob("*.html"))
    assert list((demo_home / "logs").glob("weekly_automation_*.log"))
    assert re.search(r"Report: .*\.html", out)
