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


def _command_paths():
    """Every command and subcommand, as the words a user types (``holdings import``)."""
    import click

    from etftrader.cli import cli

    ctx = click.Context(cli)

    def walk(group, prefix=()):
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            yield (*prefix, name)
            if isinstance(command, click.Group):
                yield from walk(command, (*prefix, name))

    return list(walk(cli))


def test_the_command_list_is_the_cli():
    assert {p[0] for p in _command_paths()} == set(COMMANDS)
    assert ("holdings", "import") in _command_paths() and ("schedule", "windows") in _command_paths()


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_command_and_subcommand_has_help_text_with_an_example(path):
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    example = "etftrader " + " ".join(path)
    lines = [line.strip() for line in result.output.splitlines()]
    # an example line the user can copy: the command itself, as typed, in the help text
    assert any(line.startswith(example) for line in lines), f"no `{example} ...` example in its help"


def test_unknown_command_exits_non_zero(capsys):
    assert main(["no-such-command"]) != 0
