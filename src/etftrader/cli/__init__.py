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
from ..errors import EtfTraderError, first_line
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
    "sweep": "sweep:sweep",
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
    """Entry point: run the CLI and return its exit status (the README's table).

    Known errors become one ``Error: ...`` line (and, with ``--json``, a JSON error object on
    stdout); usage errors are one line with status 2; Ctrl+C and SIGTERM end with one line saying
    whether the week was recorded (130 and 143); anything else is a bug: its traceback goes to the
    run log and the user gets one line with status 70.
    """
    from .. import interrupts

    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    interrupts.reset()
    try:
        with interrupts.signals_as_exceptions():
            code = cli.main(args=args, prog_name="etftrader", standalone_mode=False)
    except EtfTraderError as e:
        return _fail(str(e), e.exit_code, as_json)
    except click.exceptions.Abort:  # Click's name for a KeyboardInterrupt inside a command
        return _interrupted("interrupted (Ctrl+C)", 130, as_json)
    except click.UsageError as e:
        where = f" (see `etftrader {e.ctx.command_path.split(' ', 1)[1]} --help`)" \
            if e.ctx is not None and " " in e.ctx.command_path else " (see `etftrader --help`)"
        return _fail(e.format_message() + where, 2, as_json)
    except click.ClickException as e:
        return _fail(e.format_message(), e.exit_code, as_json)
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        return _interrupted("interrupted (Ctrl+C)", 130, as_json)
    except interrupts.Terminated:
        return _interrupted("terminated (SIGTERM)", 143, as_json)
    except Exception as e:  # a bug: full traceback to the run log, one line to the user
        logger = logging.getLogger(LOGGER_NAME)
        logger.exception("unexpected failure")
        where = _log_paths(logger)
        hint = f"; details in {where}" if where else ""
        return _fail(f"unexpected failure ({type(e).__name__}: {e}){hint}", 70, as_json)
    finally:
        from ..runlog import stop_run_log

        stop_run_log()
    return code if isinstance(code, int) else 0


def _fail(message: str, code: int, as_json: bool) -> int:
    line = _error(message)
    if as_json:
        import json

        click.echo(json.dumps({"error": line, "exit_code": code}))
    return code


def _interrupted(what: str, code: int, as_json: bool) -> int:
    from .. import interrupts

    message = f"{what}: {interrupts.outcome()}"
    logging.getLogger(LOGGER_NAME).warning(message)
    return _fail(message, code, as_json)


def _error(message: str) -> str:
    # ASCII only: a Windows console (cp1252) or a cron mail must show the line as it is.
    line = first_line(message, empty="failed").encode("ascii", "replace").decode("ascii")
    try:
        click.echo(f"Error: {line}", err=True)
    except OSError:  # stderr gone (a closed pipe, a full disk behind a redirect): the code still tells
        pass
    return line


def _log_paths(logger: logging.Logger) -> str:
    files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
    return ", ".join(files)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
