"""The command line as a user meets it: help, version, error mapping."""

import pytest
from entry import invoke

from etftrader import __version__
from etftrader.cli import COMMANDS, main


def test_version_flag_prints_version():
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_flags_list_every_command(flag):
    result = invoke([flag])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_text_with_an_example(name):
    result = invoke([name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "etftrader" in result.output


def test_unknown_command_exits_non_zero(capsys):
    assert main(["no-such-command"]) != 0
