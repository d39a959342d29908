"""The ``etftrader`` command line: a thin Click layer over the library.

Commands are loaded lazily (``etftrader --help`` does not import pandas or cvxpy), each from its
own module in this package. Every command parses options, builds a :class:`~etftrader.config.Config`,
calls the library and prints a summary; :func:`main` turns known errors into one ``Error: ...`` line.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .. import __version__
from ..errors import EtfTraderError
from ..runlog import LOGGER_NAME

__all__ = ["cli", "main", "COMMANDS"]

#: command name -> "module:attribute" inside this package
COMMANDS = {
    "weekly": "weekly:weekly",
    "init": "weekly:init",
    "holdings": "weekly:holdings",
    "validate": "validate:validate",
    "report": "report:report",
    "backtest": "backtest:backtest",
    "schedule": "ops:schedule",
    "doctor": "ops:doctor",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="etftrader")
def cli() -> None:
    """Weekly factor-based ETF portfolio tool.

    \b
    Try it offline on the bundled sample (a 25-instrument demo universe):
      etftrader weekly --source sample --as-of 2022-06-30 --positions 8
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to exit codes, never show a traceback for user errors."""
    try:
        cli.main(args=argv, prog_name="etftrader", standalone_mode=False)
    except EtfTraderError as e:
        _error(str(e))
        return e.exit_code
    except click.exceptions.Abort:
        _error("aborted")
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as e:  # a bug: full traceback to the run log, one line to the user
        logger = logging.getLogger(LOGGER_NAME)
        logger.exception("unexpected failure")
        where = _log_paths(logger)
        hint = f"; details in {where}" if where else ""
        _error(f"unexpected failure ({type(e).__name__}: {e}){hint}")
        return 70
    return 0


def _error(message: str) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    click.echo(f"Error: {first_line}", err=True)


def _log_paths(logger: logging.Logger) -> str:
    files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
    return ", ".join(files)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
