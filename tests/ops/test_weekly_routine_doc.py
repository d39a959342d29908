"""The README's "Weekly routine" section stays true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from entry import invoke

from etftrader import errors


README = Path(__file__).resolve().parents[2] / "README.md"


class _Section:
    """The README's "## Weekly routine" section, up to the next second-level heading."""

    @staticmethod
    def read_text(encoding: str = "utf-8") -> str:
        text = README.read_text(encoding=encoding)
        start = text.index("## Weekly routine\n")
        end = text.find("\n## ", start + 1)
        return text[start:end + 1 if end != -1 else None]


DOC = _Section


def _status_table(text: str) -> dict[int, str]:
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", text, flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_section_starts_with_its_heading_and_is_plain_ascii(assert_cp1252):
    text = DOC.read_text(encoding="utf-8")
    assert text.startswith("## Weekly routine\n")
    assert_cp1252(text)


def test_every_exit_status_of_the_error_hierarchy_is_explained():
    table = _status_table(DOC.read_text(encoding="utf-8"))
    classes = [c for c in (getattr(errors, name) for name in errors.__all__) if isinstance(c, type)]
    for cls in classes:
        assert cls.exit_code in table, f"{cls.__name__} (exit {cls.exit_code}) is not in the table"
    assert table[errors.WorkbookLockedError.exit_code].lower().count("excel") >= 1
    assert "report" in table[errors.ReportError.exit_code].lower()
    assert {0, 70, 130} <= set(table)  # success, unexpected failure, interrupted (cli.main)


def test_every_command_and_option_the_section_shows_exists():
    text = DOC.read_text(encoding="utf-8")
    code = re.findall(r"`([^`]+)`", text) + [line for line in text.splitlines() if line.startswith("    ")]
    commands = set()
    for snippet in code:
        commands.update(re.findall(r"etftrader ((?:schedule )?[a-z]+)((?: [^ ]+)*)", snippet))
    assert {c[0] for c in commands} >= {"init", "doctor", "weekly", "schedule cron", "schedule windows", "report"}
    for match in sorted(commands):
        command, options = match[0].split(), re.findall(r"--[a-z-]+", match[1])
        result = invoke([*command, "--help"])
        assert result.exit_code == 0, f"`etftrader {match[0]}` does not exist"
        for option in options:
            assert option in result.output, f"`etftrader {match[0]}` has no {option}"
