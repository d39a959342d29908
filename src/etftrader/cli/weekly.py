"""``etftrader weekly``, ``etftrader init`` and ``etftrader holdings``: the Monday routine.

Thin Click commands: parse options, build the config in force (config file, then flags), call
:func:`etftrader.pipeline.run_weekly` (or the holdings helpers) and print a short plain-ASCII
summary like the seed's, or one JSON object with ``--json``. pandas and the pipeline are imported
inside the commands so ``etftrader --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import click

from ..errors import ConfigError, EtfTraderError
from ._common import (as_of_option, config_option, home_option, load_run_config, optimizer_choice, parse_date,
                      require_price_file, source_options, source_overrides, turnover_options,
                      turnover_overrides)

__all__ = ["weekly", "init", "holdings"]

_log = logging.getLogger("etftrader.cli.weekly")
_RULE = "=" * 80


def _positive(name: str, value: float | None) -> float | None:
    from ..config import check_amount

    return check_amount(name, value)


def _shown(path: Path) -> str:
    """A path as the seed shows it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@click.command("weekly")
@click.option("--capital", type=float, default=None,
              help="Starting cash, used on the first run only (default: config, else 1,000,000).")
@click.option("--positions", type=int, default=None, help="Number of positions (default: config, else 20).")
@click.option("--optimizer", type=optimizer_choice, default=None, help="Optimizer (default: config, else mvo).")
@click.option("--drift-threshold", type=float, default=None,
              help="Rebalance when drift exceeds this (default: 0.05 for mvo/rankbased, 0.075 for minvar).")
@click.option("--force-rebalance", is_flag=True, default=False, help="Rebalance regardless of drift.")
@click.option("--accept-price", "accept_prices", multiple=True, metavar="TICKER",
              help="Use this held ticker's latest price although a quality rule rejects it (repeatable).")
@click.option("--force", "force_record", is_flag=True, default=False,
              help="Record the week even though its --as-of is earlier than the last recorded week.")
@click.option("--deposit", type=float, default=None, help="Cash put into the portfolio this week (recorded in CashFlows).")
@click.option("--withdraw", type=float, default=None, help="Cash taken out this week (recorded in CashFlows).")
@turnover_options
@source_options
@as_of_option
@click.option("--workbook", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Tracking workbook (default: results/portfolio_tracking.xlsx in the home folder).")
@config_option
@home_option
@click.option("--no-notebook", is_flag=True, default=False, help="Do not render the monitoring report.")
@click.option("--open", "open_book", is_flag=True, default=False, help="Open the workbook in Excel afterwards.")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print one JSON object on stdout and nothing else.")
def weekly(capital, positions, optimizer, drift_threshold, force_rebalance, accept_prices, force_record, deposit, withdraw,
           selection_buffer, turnover_penalty, no_trade_band, no_turnover_control, source, prices_file,
           refresh, as_of, workbook, config_path, home, no_notebook, open_book, as_json) -> None:
    """Run the week: prices, scores, target, drift check, trades, workbook, report.

    Holdings come from the workbook's Trades sheet (rows marked executed); cash from its
    CashFlows sheet. --capital only seeds the first run; move cash later with --deposit and
    --withdraw. A re-run supersedes the earlier run's unexecuted trades.

    \b
    Examples:
      etftrader weekly --capital 1000000 --positions 20
      etftrader weekly --source sample --as-of 2021-03-05 --positions 8 --no-notebook
      etftrader weekly --optimizer minvar --drift-threshold 0.075 --json
      etftrader weekly --buffer 6 --band 0.03 --turnover-penalty 50
    """
    from ..paths import resolve_home
    from ..runlog import start_run_log, stop_run_log

    stop_run_log()  # a handler left by an earlier failed run in this process must not get our lines
    home_dir = resolve_home(home).ensure()
    log_path = start_run_log(home_dir.logs_dir, "weekly_automation")
    try:
        turnover = turnover_overrides(selection_buffer, turnover_penalty, no_trade_band, no_turnover_control)
        result = _run(home_dir, capital, positions, optimizer, drift_threshold, force_rebalance,
                      force_record, accept_prices, deposit, withdraw, source, prices_file, refresh, as_of, workbook,
                      config_path, no_notebook, open_book, as_json, turnover)
    except EtfTraderError as e:
        _log.error("%s", e)
        stop_run_log()
        raise
    # Any other exception propagates with the log attached, so cli.main writes its traceback there.
    try:
        if as_json:
            payload = result.to_json(log_file=str(log_path))
            if result.report_error is not None:
                payload["report_error"] = str(result.report_error)
            click.echo(json.dumps(payload, indent=2, allow_nan=False))
        else:
            _print_summary(result, log_path)
    finally:
        stop_run_log()
    if result.report_error is not None:
        raise result.report_error


def _run(home_dir, capital, positions, optimizer, drift_threshold, force_rebalance, force_record, accept_prices,
         deposit,
         withdraw, source, prices_file, refresh, as_of, workbook, config_path, no_notebook, open_book, as_json,
         turnover):
    from ..pipeline import run_weekly
    from ..runlog import is_interactive

    _positive("--deposit", deposit)
    _positive("--withdraw", withdraw)
    _positive("--capital", capital)
    if as_of is not None and as_of > date.today():
        raise ConfigError(f"--as-of {as_of} is in the future; give today or a past date")
    config = load_run_config(home_dir, config_path)
    accepted = tuple(config.data.accept_prices) + tuple(accept_prices)
    config = config.override(
        portfolio={"positions": positions, "optimizer": optimizer},
        data={**source_overrides(source, prices_file), "accept_prices": accepted or None},
        rebalance={"drift_override": drift_threshold, "force": True if force_rebalance else None, **turnover},
        run={"allow_earlier_as_of": True if force_record else None},
    )
    require_price_file(config)
    return run_weekly(
        config, home_dir, as_of=as_of, workbook=Path(workbook) if workbook else None, capital=capital,
        deposit=deposit, withdraw=withdraw, refresh=refresh,
        notebook=False if no_notebook else None, open_workbook=True if open_book else None,
        progress=(not as_json) and is_interactive(),
    )


def _echo_ascii(text: str) -> None:
    # Messages from data (ticker names, file paths) could carry characters a Windows console cannot show.
    click.echo(text.encode("ascii", "replace").decode("ascii"))


def _print_summary(result, log_path: Path) -> None:
    plan = result.plan
    res = result.target.result
    echo = _echo_ascii
    echo(_RULE)
    echo("WEEKLY AUTOMATION COMPLETED SUCCESSFULLY" if result.report_error is None
         else "WEEKLY RUN RECORDED; THE REPORT FAILED (see the error below)")
    echo(_RULE)
    used = res.method if res.method == result.optimizer else f"{res.method}, fallback from {result.optimizer}"
    echo(f"As of: {result.as_of} (prices to {result.data_as_of}); optimizer: {used}; "
         f"positions: {result.positions}")
    if plan.forced:
        why = f"forced; drift {plan.drift:.1%}, threshold {plan.threshold:.1%}"
    elif plan.held_back is not None:
        why = (f"drift {plan.drift_outside_band:.1%} > threshold {plan.threshold:.1%}, but held back: estimated "
               f"costs {plan.held_back:,.2f} exceed max_cost_fraction")
    else:
        shown = (f"drift {plan.drift:.1%}" if abs(plan.drift - plan.drift_outside_band) < 1e-9 else
                 f"drift {plan.drift:.1%}, {plan.drift_outside_band:.1%} outside the no-trade band")
        why = f"{shown} {'>' if plan.rebalance else '<='} threshold {plan.threshold:.1%}"
    echo(f"Rebalancing needed: {plan.rebalance or plan.held_back is not None} ({why})")
    echo(f"Trades to execute: {len(plan.trades)}")
    echo(f"  BUY orders: {plan.buys}")
    echo(f"  SELL orders: {plan.sells}")
    if len(plan.trades):
        bps = plan.total_cost / plan.total_value * 1e4 if plan.total_value > 0 else 0.0
        parts = result.cost_parts()
        echo(f"  Value traded: {plan.trades['value'].sum():,.2f}; estimated costs {plan.total_cost:,.2f} "
             f"({bps:,.1f} bps of the portfolio: commission {parts['commission']:,.2f}, spread "
             f"{parts['spread_cost']:,.2f}, impact {parts['impact_cost']:,.2f})")
    elif plan.held_back is not None:
        echo(f"  Held back: estimated costs {plan.held_back:,.2f} exceed max_cost_fraction (see the warning); "
             "nothing to trade this week")
    if len(plan.skipped):
        echo(f"  Skipped trades: {len(plan.skipped)} (worth {plan.skipped['value'].sum():,.2f}; see the log)")
    for r in result.cash_flows.itertuples():
        echo(f"Cash flow recorded: {r.type} {r.amount:,.2f} ({r.note})")
    echo(f"Portfolio value: {result.portfolio_value:,.2f} (cash {plan.cash_before:,.2f})")
    echo(f"Cash left after trades: {result.cash:,.2f}")
    if result.superseded_count:
        echo(f"Pending from run {result.superseded_run}: {result.superseded_count} unexecuted trades "
             f"({result.superseded_value:,.2f}), now superseded by this run")
    else:
        echo("Pending from earlier runs: none")
    echo(f"Expected return {_pct(res.expected_return)}, volatility {_pct(res.expected_volatility)}, "
         f"Sharpe {res.expected_sharpe:.2f}")
    if len(result.dropped):
        echo(f"Dropped tickers: {len(result.dropped)} ({', '.join(result.dropped['ticker'][:8])}"
             f"{', ...' if len(result.dropped) > 8 else ''}; reasons in the log)")
    if result.controls:
        echo("Turnover controls:")
        for n in result.controls:
            echo(f"  {n.message}")
    for w in result.warnings:
        echo(f"Warning: {w}")
    shown = {n.message for n in result.controls}
    for n in result.notes:
        if n not in shown:
            echo(f"Note: {n}")
    if result.open_message:
        echo(result.open_message)
    echo(f"Tracking workbook: {_shown(result.workbook)}")
    if result.report is not None:
        echo(f"Report: {_shown(result.report.html)}")
    echo(f"Log file: {_shown(log_path)}")


def _pct(x) -> str:
    return f"{x:.1%}" if x is not None and x == x else "n/a"


@click.command("init")
@home_option
@click.option("--force", is_flag=True, default=False, help="Overwrite an existing etftrader.toml.")
def init(home, force) -> None:
    """Write a commented default config and create data/, results/ and logs/.

    \b
    Examples:
      etftrader init
      etftrader init --home ~/etf --force
    """
    from ..config import DEFAULT_CONFIG_TOML
    from ..paths import resolve_home

    home_dir = resolve_home(home).ensure()
    path = home_dir.config_file
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; edit it, or pass --force to overwrite it with the defaults")
    try:
        path.write_text(DEFAULT_CONFIG_TOML, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}; choose another --home") from e
    click.echo(f"Wrote {path}")
    click.echo(f"Created {home_dir.data_dir}, {home_dir.results_dir} and {home_dir.logs_dir}")
    click.echo("Next: edit the config, then run `etftrader weekly` (try --source sample --as-of 2022-06-30 --positions 8).")


@click.group("holdings", context_settings={"help_option_names": ["-h", "--help"]})
def holdings() -> None:
    """Start from holdings you already have, and show what the ledger says you hold.

    \b
    Examples:
      etftrader holdings import my_positions.csv --cash 25000
      etftrader holdings show
    """


_workbook_option = click.option(
    "--workbook", type=click.Path(dir_okay=False, path_type=str), default=None,
    help="Tracking workbook (default: results/portfolio_tracking.xlsx in the home folder).")


@holdings.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--cash", type=float, default=0.0, show_default=True, help="Cash held besides the positions.")
@click.option("--force", is_flag=True, default=False, help="Import even though the ledger already records trades or cash.")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", callback=parse_date, default=None,
              help="The date the holdings are held on (default: today): the week of the deposit and the "
                   "acquisition date of a line without `acquired`. Give one on or before your first weekly --as-of.")
@_workbook_option
@home_option
def import_holdings(file, cash, force, as_of, workbook, home) -> None:
    """Record opening holdings from a CSV with columns ticker, shares, cost (per-share basis).

    Records a DEPOSIT of the cost basis plus --cash and one executed BUY per line at cost
    (note "opening holdings import"), so the next weekly run starts from them. With an optional
    `acquired` column (YYYY-MM-DD) each line is a tax lot: a ticker may have several, each with
    its date and cost, and the Lots sheet and the gains start from them.

    \b
    Example:
      etftrader holdings import my_positions.csv --cash 25000
    """
    from ..config import check_amount
    from ..opening import import_holdings as record
    from ..paths import resolve_home

    check_amount("--cash", cash, allow_zero=True)
    home_dir = resolve_home(home).ensure()
    book = Path(workbook) if workbook else home_dir.workbook
    if book.suffix.lower() != ".xlsx":
        raise ConfigError(f"--workbook must be an .xlsx file, got {book.name}")
    config = load_run_config(home_dir, None)
    done = record(file, home=home_dir, workbook=book, cash=cash, as_of=as_of, force=force,
                  backups=config.report.backups, lock_timeout=config.run.lock_timeout)
    def many(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"

    what = (f"{many(done.lines, 'lot')} of {many(done.tickers, 'holding')}" if done.lots
            else many(done.lines, "holding"))
    click.echo(f"Imported {what} (cost basis {done.basis:,.2f}) and cash {done.cash:,.2f} into {_shown(book)}")
    click.echo(f"Recorded a DEPOSIT of {done.basis + done.cash:,.2f} and {done.lines} executed BUY "
               f"trade{'' if done.lines == 1 else 's'} at cost.")


@holdings.command("show")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print one JSON object instead.")
@_workbook_option
@home_option
def show_holdings(as_json, workbook, home) -> None:
    """Print current holdings (executed trades), cash and pending trades from the workbook.

    Values use each ticker's last executed trade price (no prices are downloaded).

    \b
    Example:
      etftrader holdings show --home ~/etf
    """
    from ..holdings import LEDGER_SHEETS, holdings_from_ledger
    from ..paths import resolve_home
    from ..workbook import read_ledger

    home_dir = resolve_home(home)
    book = Path(workbook) if workbook else home_dir.workbook
    h = holdings_from_ledger(read_ledger(book, sheets=LEDGER_SHEETS))
    price = h.last_price.reindex(h.shares.index)
    if as_json:
        click.echo(json.dumps({
            "workbook": str(book),
            "holdings": [{"ticker": t, "shares": float(s), "last_price": float(price[t])}
                         for t, s in h.shares.items()],
            "cash": h.cash,
            "pending": {"run_id": h.last_run_id if len(h.pending) else None, "count": int(len(h.pending)),
                        "value": h.pending_value},
            "superseded": {"count": int(len(h.superseded)),
                           "value": float(h.superseded["value"].sum()) if len(h.superseded) else 0.0},
        }, indent=2))
        return
    click.echo(f"Holdings in {_shown(book)} (executed trades only, valued at the last trade price):")
    if h.shares.empty:
        click.echo("  (none)")
    for t, s in h.shares.items():
        click.echo(f"  {t:<8} {_shares(s):>14} shares  @ {price[t]:>12,.2f}  = {s * price[t]:>16,.2f}")
    click.echo(f"Cash: {h.cash:,.2f}")
    if len(h.pending):
        click.echo(f"Pending (run {h.last_run_id}): {len(h.pending)} unexecuted trades, value {h.pending_value:,.2f}")
        for r in h.pending.itertuples():
            click.echo(f"  {r.action:<4} {_shares(r.shares):>12} {r.ticker:<8} @ {r.price:,.2f}")
    else:
        click.echo("Pending: none")
    if len(h.superseded):
        click.echo(f"Superseded (older unexecuted, not counted): {len(h.superseded)} trades")


def _shares(n: float) -> str:
    """Whole shares without decimals; a fractional holding (from an import) with up to 4."""
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.4f}".rstrip("0")
