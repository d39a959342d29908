"""Fixtures for the desktop-operations tests: cp1252 checks and a Windows command-line parser."""

from __future__ import annotations

import pytest


def windows_split(command: str) -> list[str]:
    """Split a command line the way the Microsoft C runtime does (CommandLineToArgvW rules).

    Written from the documented rules, independently of ``subprocess.list2cmdline`` which the
    code under test uses to build the line, so a round trip checks the quoting.
    """
    args: list[str] = []
    current: list[str] = []
    in_quotes = False
    have_arg = False
    i = 0
    while i < len(command):
        ch = command[i]
        if ch == "\\":
            n = 0
            while i < len(command) and command[i] == "\\":
                n += 1
                i += 1
            if i < len(command) and command[i] == '"':
                current.append("\\" * (n // 2))
                if n % 2:
                    current.append('"')
                    i += 1
                # an even count leaves the quote to be handled as a delimiter below
            else:
                current.append("\\" * n)
            have_arg = True
            continue
        if ch == '"':
            in_quotes = not in_quotes
            have_arg = True
        elif ch in " \t" and not in_quotes:
            if have_arg:
                args.append("".join(current))
                current, have_arg = [], False
        else:
            current.append(ch)
            have_arg = True
        i += 1
    if have_arg:
        args.append("".join(current))
    return args


@pytest.fixture()
def assert_cp1252():
    """Assert that console text is plain ASCII (hence encodable on a cp1252 Windows console)."""

    def check(text: str) -> None:
        text.encode("cp1252")
        assert text.isascii(), [c for c in text if not c.isascii()]

    return check
