"""``etftrader schedule`` (cron / Windows Task Scheduler) and ``etftrader doctor``.

Thin: options in, :mod:`etftrader.ops` builds the text or runs the checks, plain ASCII out.
Nothing is installed unless ``--install`` is given.
"""

from __future__ import annotations

import click

from ..config import OPTIMIZERS, SOURCES
from ._common import config_option, home_option

__all__ = ["schedule", "doctor"]


def _weekly_options(func):
    """The ``etftrader weekly`` options a scheduled run carries, plus ``--day`` and ``--time``."""
    options = [
        click.option("--day", default=None, metavar="DAY",
                     help="Day of the week: MON..SUN (default: [schedule] day in the config, else MON)."),
        click.option("--time", "at", default=None, metavar="HH:MM",
                     help="Local time, 24-hour clock (default: [schedule] time in the config, else 09:30)."),
        home_option,
        config_option,
        click.option("--capital", type=float, default=None, help="Passed to the weekly run (default: config)."),
        click.option("--positions", type=int, default=None, help="Passed to the weekly run (default: config)."),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None,
                     help="Passed to the weekly run (default: config)."),
        click.option("--drift-threshold", type=float, default=None,
                     help="Passed to the weekly run (default: config, per optimizer)."),
        click.option("--source", type=click.Choice(SOURCES), default=None,
                     help="Passed to the weekly run (default: config, else yfinance)."),
        click.option("--prices", "prices_file", type=click.Path(dir_okay=False, path_type=str), default=None,
                     help="Price file for --source file (made absolute)."),
        click.option("--workbook", type=click.Path(dir_okay=False, path_type=str), default=None,
                     help="Tracking workbook (default: results/portfolio_tracking.xlsx in the home folder)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _build_job(home, config_path, day, at, capital, positions, optimizer, drift_threshold, source,
               prices_file, workbook):
    """Validate the options the way the weekly run will, then build the job."""
    from ..errors import ConfigError
    from ..ops.schedule import parse_day, parse_time, weekly_job
    from ..paths import resolve_home
    from ._common import load_run_config, require_price_file, source_overrides

    resolved = resolve_home(home)
    config = load_run_config(resolved, config_path)
    config_file = config_path or resolved.config_file
    for given, from_config, check in ((day, config.schedule.day, parse_day),
                                      (at, config.schedule.time, parse_time)):
        if given is None:
            try:
                check(from_config)
            except ConfigError as e:  # say where the bad value lives
                raise ConfigError(f"{config_file}: {e}; fix [schedule] there or pass the option") from e
    # fail now rather than every Monday: the same validation the weekly run applies
    effective = config.override(
        portfolio={"capital": capital, "positions": positions, "optimizer": optimizer},
        rebalance={"drift_override": drift_threshold},
        data=source_overrides(source, prices_file),
    )
    require_price_file(effective)
    return weekly_job(
        resolved.root,
        day=day or config.schedule.day,
        time=at or config.schedule.time,
        capital=capital,
        positions=positions,
        optimizer=optimizer,
        drift_threshold=drift_threshold,
        source=source,
        prices_file=prices_file,
        workbook=workbook,
        config_path=config_path,
    )


@click.group("schedule")
def schedule() -> None:
    """Schedule the weekly run with cron (Linux/macOS) or Task Scheduler (Windows).

    Prints what to install; installs only with --install. The job runs this Python
    interpreter by its absolute path with `-m etftrader weekly` and an absolute --home.

    \b
    Examples:
      etftrader schedule cron --home ~/etf --positions 10
      etftrader schedule cron --home ~/etf --day FRI --time 17:45 --install
      etftrader schedule windows --home C:\\etf --xml etftrader_weekly.xml
    """


@schedule.command("cron")
@_weekly_options
@click.option("--install", is_flag=True, default=False,
              help="Add the line to your crontab (replacing an earlier one for this home folder).")
def cron(install: bool, **options) -> None:
    """Print the crontab line for the weekly run (or install it with --install).

    The run's console output is appended to <home>/logs/scheduled_weekly.log; cron mails
    you two short lines only when the run fails.

    \b
    Example:
      etftrader schedule cron --home ~/etf --positions 10 --optimizer mvo
    """
    from ..ops.schedule import cron_line, install_cron

    job = _build_job(**options)
    # the log redirect in the line needs the folder to exist before the first run
    job.log_file.parent.mkdir(parents=True, exist_ok=True)
    click.echo(cron_line(job))
    if install:
        click.echo(install_cron(job), err=True)
        return
    click.echo(
        f"Runs every {job.day} at {job.time} (this computer's local time). To install it, run "
        "`crontab -e`, paste the line above on a line of its own, save and quit; "
        "or run this command again with --install. Check with `crontab -l`.",
        err=True,
    )


@schedule.command("windows")
@_weekly_options
@click.option("--name", default=None, metavar="NAME",
              help='Task name in Task Scheduler (default: "etftrader weekly").')
@click.option("--xml", "xml_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the task as Task Scheduler XML to this file instead of printing schtasks.")
@click.option("--install", is_flag=True, default=False,
              help="Create the task now with schtasks (Windows only; replaces a task of the same name).")
def windows(name: str | None, xml_file: str | None, install: bool, **options) -> None:
    """Print the schtasks command for the weekly run (or write XML, or install it).

    The exit status of each run shows in Task Scheduler's "Last Run Result"; details are in
    <home>/logs/weekly_*.log.

    \b
    Examples:
      etftrader schedule windows --home C:\\etf --positions 10
      etftrader schedule windows --home C:\\etf --xml etftrader_weekly.xml
    """
    from pathlib import Path

    from ..ops.schedule import (DEFAULT_TASK_NAME, SCHTASKS_TR_LIMIT, install_windows,
                                schtasks_command, task_command_line, task_xml)

    name = name or DEFAULT_TASK_NAME
    job = _build_job(**options)
    if xml_file:
        target = Path(xml_file).expanduser().absolute()
        try:
            target.write_bytes(task_xml(job, name))
        except OSError as e:
            from ..errors import ConfigError

            raise ConfigError(f"cannot write {target}: {e.strerror or e}; choose another --xml path") from e
        click.echo(f"Wrote Task Scheduler XML to {target}")
        click.echo(
            f'Import it on Windows with: schtasks /Create /XML "{target}" /TN "{name}" '
            "(or Task Scheduler > Action > Import Task).",
            err=True,
        )
        return
    click.echo(schtasks_command(job, name))
    if len(task_command_line(job)) > SCHTASKS_TR_LIMIT:
        click.echo(
            f"Warning: the task command is {len(task_command_line(job))} characters; schtasks accepts "
            f"at most {SCHTASKS_TR_LIMIT}. Use --xml FILE instead (no such limit).",
            err=True,
        )
    if install:
        click.echo(install_windows(job, name), err=True)
        return
    click.echo(
        f"Runs every {job.day} at {job.time} while you are logged on. To install it, paste the "
        "command above into a Command Prompt (cmd.exe), or run this command again with --install "
        "(Windows). Check with: schtasks /Query /TN "
        f'"{name}"; remove with: schtasks /Delete /TN "{name}" /F',
        err=True,
    )


@click.command("doctor")
@home_option
@config_option
@click.option("--workbook", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Tracking workbook to check (default: results/portfolio_tracking.xlsx in the home folder).")
@click.option("--offline", is_flag=True, default=False, help="Do not try to reach Yahoo Finance.")
def doctor(home: str | None, config_path: str | None, workbook: str | None, offline: bool) -> None:
    """Check what a weekly run needs and say what to fix.

    One line per check: OK, WARN (part of a run may fail) or FAIL (a run will fail).
    Exit status 1 when any check FAILs, else 0. Changes nothing on disk.

    \b
    Example:
      etftrader doctor --home ~/etf
      etftrader doctor --home ~/etf --offline
    """
    from pathlib import Path

    from ..errors import ConfigError
    from ..ops.doctor import FAIL, WARN, iter_checks
    from ..paths import resolve_home
    from ._common import load_run_config

    resolved = resolve_home(home)
    config, config_error = None, None
    try:
        config = load_run_config(resolved, config_path)
    except ConfigError as e:
        config_error = str(e)
    checks = []
    for check in iter_checks(resolved, config, workbook=Path(workbook) if workbook else None,
                             offline=offline, config_error=config_error):
        checks.append(check)
        click.echo(check.line())
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    verdict = "a weekly run will fail until the FAIL lines are fixed" if fails else "ready for a weekly run"
    click.echo(f"doctor: {len(checks) - fails - warns} OK, {warns} WARN, {fails} FAIL: {verdict}")
    if fails:
        raise click.exceptions.Exit(1)
