"""Options and helpers shared by several commands (kept here once)."""

from __future__ import annotations

import contextlib
import logging

from datetime import date, datetime

import click

from ..config import OPTIMIZERS, SOURCES
from ..errors import ConfigError

__all__ = ["home_option", "config_option", "source_options", "source_overrides", "require_price_file",
           "as_of_option", "parse_date", "turnover_options", "turnover_overrides"]

home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Home folder for data/, results/ and logs/ (default: $ETFTRADER_HOME or the current folder).",
)

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="TOML config file (default: etftrader.toml in the home folder, if present).",
)


def source_options(func):
    """``--source``, ``--prices`` and ``--refresh``; pass the first two through :func:`source_overrides`."""
    func = click.option(
        "--refresh", is_flag=True, default=False, help="Re-download the whole price history."
    )(func)
    func = click.option(
        "--prices",
        "prices_file",
        type=click.Path(dir_okay=False, path_type=str),
        default=None,
        help="Price file (CSV or parquet, wide or long); given alone it implies --source file.",
    )(func)
    func = click.option(
        "--source",
        type=click.Choice(SOURCES),
        default=None,
        help="Where prices come from (default: config, else yfinance). 'sample' is an offline demo universe.",
    )(func)
    return func


def source_overrides(source: str | None, prices_file: str | None) -> dict[str, str | None]:
    """The ``[data]`` overrides for ``--source`` and ``--prices``, with one rule for every command.

    ``--prices FILE`` alone means ``--source file``; next to another ``--source`` it would be
    silently ignored, so that is refused.

    Returns
    -------
    dict
        ``{"source": ..., "prices_file": ...}`` for :meth:`etftrader.config.Config.override`
        (None keeps the config's value).

    Raises
    ------
    ConfigError
        ``--prices`` together with ``--source sample`` or ``--source yfinance``.
    """
    if prices_file:
        if source is None:
            source = "file"
        elif source != "file":
            raise ConfigError(f"--prices is only used with --source file; got --source {source}")
    return {"source": source, "prices_file": prices_file}


def require_price_file(config) -> None:
    """Refuse the file source without a price file (from ``--prices`` or the config) before any work."""
    if config.data.source == "file" and not config.data.prices_file:
        raise ConfigError("--source file needs a price file: pass --prices FILE (CSV or parquet) "
                          "or set prices_file in the [data] section of the config")


def parse_date(ctx, param, value):
    """Click callback: ``YYYY-MM-DD`` -> :class:`datetime.date` with a clear message."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}") from None


as_of_option = click.option(
    "--as-of",
    "as_of",
    metavar="YYYY-MM-DD",
    callback=parse_date,
    default=None,
    help="Run as of this past date (YYYY-MM-DD), using only data up to it.",
)

optimizer_choice = click.Choice(OPTIMIZERS)
today = date.today


def load_run_config(home, config_path):
    """The config in force: ``--config`` if given, else ``<home>/etftrader.toml`` if it exists."""
    from ..config import load_config

    if config_path:
        return load_config(config_path)
    if home.config_file.exists():
        return load_config(home.config_file)
    return load_config(None)


def turnover_options(func):
    """``--buffer``, ``--turnover-penalty``, ``--band`` and ``--no-turnover-control``; pass them
    through :func:`turnover_overrides` (the weekly run and the backtest take the same four)."""
    func = click.option("--no-turnover-control", "no_turnover_control", is_flag=True, default=False,
                        help="Switch the selection buffer, turnover penalty and no-trade band off.")(func)
    func = click.option("--band", "no_trade_band", type=float, default=None,
                        help="No-trade band: leave a position within this share of its target weight "
                             "(0.5 = +-50%; default: config, else 0.5).")(func)
    func = click.option("--turnover-penalty", type=float, default=None,
                        help="mvo/minvar/rankbased: L1 penalty on the weight change, as a multiple of the one-way "
                             "cost (default: config, else 100).")(func)
    func = click.option("--buffer", "selection_buffer", type=int, default=None,
                        help="Selection buffer: a held ETF stays while ranked within positions + this "
                             "(default: config, else 8).")(func)
    return func


def turnover_overrides(selection_buffer, turnover_penalty, no_trade_band, no_turnover_control) -> dict:
    """The ``[rebalance]`` overrides of :func:`turnover_options` (None keeps the config's value)."""
    return {"selection_buffer": selection_buffer, "turnover_penalty": turnover_penalty,
            "no_trade_band": no_trade_band, "turnover_control": False if no_turnover_control else None}


@contextlib.contextmanager
def command_log(home, name: str, logger: logging.Logger):
    """The home folder and a fresh run log for one command: ``with command_log(...) as (home, log):``.

    A handler left by an earlier failed run in this process is stopped first; a known error is
    written to the log before it propagates (``main`` prints its one line); the log is always closed.
    """
    from ..errors import EtfTraderError
    from ..paths import resolve_home
    from ..runlog import start_run_log, stop_run_log

    stop_run_log()
    home_dir = resolve_home(home).ensure()
    log_path = start_run_log(home_dir.logs_dir, name)
    try:
        yield home_dir, log_path
    except EtfTraderError as e:
        logger.error("%s", e)
        raise
    finally:
        stop_run_log()
