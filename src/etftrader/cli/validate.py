"""``etftrader validate``: load prices, run the data-quality checks, write a data-health CSV.

The seed's ``scripts/validate_real_data.py`` step. Only click is imported at module level; pandas and
the price layer are imported when the command runs, so ``etftrader --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ._common import (as_of_option, config_option, home_option, load_run_config, require_price_file,
                      source_options, source_overrides)

__all__ = ["validate"]

_RULE = "=" * 80
_LIST_LIMIT = 8


@click.command("validate")
@source_options
@as_of_option
@home_option
@config_option
def validate(source, prices_file, refresh, as_of, home, config_path) -> None:
    """Check price data quality: keep or drop every ticker, with the reason.

    Loads prices (yfinance through the local cache, a price file, or the bundled sample),
    applies the data-quality rules from the config (history, missing days, stale prices,
    non-positive or infinite prices, split-like jumps, thin liquidity, no recent price),
    prints a short summary and writes results/data_health_YYYYMMDD_HHMMSS.csv.

    \b
    Examples:
      etftrader validate --source sample --as-of 2022-06-30
      etftrader validate --source file --prices my_prices.csv
      etftrader validate --refresh          (re-download the whole yfinance history)
    """
    from ..errors import DataError
    from ..paths import resolve_home
    from ..prices import RULES
    from ..runlog import LOGGER_NAME, is_interactive, start_run_log, stop_run_log
    from ..validation import validate_data

    import logging

    home_dir = resolve_home(home).ensure()
    config = load_run_config(home_dir, config_path).override(data=source_overrides(source, prices_file))
    require_price_file(config)
    log_path = start_run_log(home_dir.logs_dir, "validate")
    log = logging.getLogger(LOGGER_NAME)
    try:
        log.info("validate: source=%s as_of=%s home=%s", config.data.source, as_of, home_dir.root)
        found = validate_data(config, home_dir, as_of=as_of, refresh=refresh, progress=is_interactive())
        data, report, csv_path = found.data, found.report, found.csv_path

        close = data.close
        echo = click.echo
        echo(_RULE)
        echo("DATA VALIDATION")
        echo(_RULE)
        echo(f"Source: {data.source}" + (f" ({config.data.prices_file})" if data.source == "file" else ""))
        for note in data.notes:
            echo(f"Note: {_ascii(note)}")
        if refresh and data.source != "yfinance":
            echo(f"Note: --refresh only re-downloads yfinance prices; the {data.source} source was read as is")
        if len(close):
            echo(f"Date range: {close.index[0].date()} to {close.index[-1].date()} "
                 f"({len(close)} trading days)")
        if report.as_of is not None:
            echo(f"As of: {report.as_of.date()}")
        echo(f"Benchmark: {_ascii(data.benchmark.name) if data.benchmark is not None else 'none'}")
        checked = len(report.health)
        echo(f"Tickers: {checked} checked, {len(report.kept)} kept, {len(report.dropped)} dropped")
        if len(report.dropped):
            echo("Dropped by reason:")
            for rule, count in report.counts_by_rule().items():
                names = report.dropped.loc[report.dropped["rule"] == rule, "ticker"].tolist()
                shown = ", ".join(names[:_LIST_LIMIT]) + (", ..." if len(names) > _LIST_LIMIT else "")
                echo(f"  {RULES.get(rule, rule)}: {count} ({shown})")
        echo(f"Gaps forward-filled: at most {report.ffill_limit} trading days "
             "(longer gaps stay missing)")
        echo(f"History required: {report.min_history} trading days")
        echo(f"Data health CSV: {_shown(csv_path)}")
        echo(f"Log file: {_shown(log_path)}")
        if not found.passed:
            raise DataError(f"no ticker passed the data-quality checks ({len(report.dropped)} dropped); "
                            f"see {_shown(csv_path)} for the reasons")
    finally:
        stop_run_log()


def _shown(path: Path) -> str:
    """A path relative to the current folder when it is inside it (as the seed prints), else absolute."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except (ValueError, OSError):  # another drive on Windows
        return str(path)


def _ascii(text: str) -> str:
    return str(text).encode("ascii", "replace").decode("ascii")
