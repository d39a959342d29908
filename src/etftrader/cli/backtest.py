"""``etftrader backtest``: replay the weekly process through history and compare it.

Thin Click command: parse options, build the config in force (config file, then flags), load the
prices, call :func:`etftrader.backtest.run_backtest`, write the outputs and render the validation
report, then print a plain-ASCII table of the results. pandas and the library are imported inside
the command so ``etftrader --help`` stays fast.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import click

from ..config import OPTIMIZERS
from ..errors import ConfigError
from ._common import (command_log, config_option, home_option, load_run_config, require_price_file, source_options,
                      source_overrides, turnover_options, turnover_overrides)

__all__ = ["backtest"]

_log = logging.getLogger("etftrader.cli.backtest")
_RULE = "=" * 80


def _date(name: str, value: str | None):
    """``YYYY-MM-DD`` -> date, or a one-line ConfigError naming the option."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ConfigError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


@click.command("backtest")
@click.option("--start", default=None, metavar="DATE",
              help="First decision week (YYYY-MM-DD; default: ten years before --end, or the earliest date the factor lookbacks allow).")
@click.option("--end", default=None, metavar="DATE", help="Last day simulated (YYYY-MM-DD; default: the last price).")
@click.option("--optimizer", default="mvo,minvar,rankbased", show_default=True, metavar="LIST|all",
              help=f"Optimizer(s) to replay: {', '.join(OPTIMIZERS)}, several comma-separated, or all; "
                   "equal weight and the benchmark are always compared.")
@click.option("--positions", type=int, default=None, help="Number of positions (default: config, else 20).")
@click.option("--drift-threshold", type=float, default=None,
              help="Rebalance when drift exceeds this (default: 0.05 for mvo/rankbased/equal weight, 0.075 for minvar).")
@click.option("--cost-bps", type=float, default=None, help="Cost per trade in basis points of its value (default: config, else 5).")
@click.option("--cost-per-share", type=float, default=None, help="Plus this cost per share traded (default: config, else 0).")
@click.option("--capital", type=float, default=None, help="Starting cash of every strategy (default: config, else 1,000,000).")
@click.option("--fill", type=click.Choice(["next-close", "same-close"]), default="next-close", show_default=True,
              help="When trades fill: the next trading day's close, or the decision day's own close.")
@turnover_options
@source_options
@config_option
@home_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Output folder (default: results/backtest_YYYYMMDD_HHMMSS in the home folder).")
@click.option("--no-notebook", is_flag=True, default=False, help="Do not render the HTML validation report.")
@click.option("--workers", default="auto", show_default=True, metavar="N|auto",
              help="Processes to spread the strategies over (auto: one per strategy up to the CPU count, when the run is long enough to repay starting them).")
def backtest(start, end, optimizer, positions, drift_threshold, cost_bps, cost_per_share, capital, fill,
             selection_buffer, turnover_penalty, no_trade_band, no_turnover_control, source,
             prices_file, refresh, config_path, home, out_dir, no_notebook, workers) -> None:
    """Replay the weekly process through history, with costs, against equal weight and the benchmark.

    Every simulated week runs the same steps as `etftrader weekly` (quality check, scores,
    selection, optimizer, drift rule, whole-share trades) on the prices up to that week; every
    proposed trade fills at the next trading day's close (--fill) and its cost is paid in cash.
    Writes equity.csv, trades.csv, metrics.json, PNG plots and an HTML report into --out.

    \b
    Examples:
      etftrader backtest --source sample --start 2019-01-01 --end 2022-12-31 --positions 8
      etftrader backtest --optimizer mvo --cost-bps 10 --drift-threshold 0.1 --no-notebook
      etftrader backtest --source sample --positions 8 --no-turnover-control
    """
    with command_log(home, "backtest", _log) as (home_dir, log_path):
        turnover = turnover_overrides(selection_buffer, turnover_penalty, no_trade_band, no_turnover_control)
        result, paths, html, report_error = _run(
            home_dir, start, end, optimizer, positions, drift_threshold, cost_bps, cost_per_share,
            capital, source, prices_file, refresh, config_path, out_dir, no_notebook, workers,
            {**turnover, "fill": fill.replace("-", "_")})
        _print_summary(result, paths, html, log_path)
    if report_error is not None:
        raise report_error


def _run(home_dir, start, end, optimizer, positions, drift_threshold, cost_bps, cost_per_share, capital,
         source, prices_file, refresh, config_path, out_dir, no_notebook, workers, turnover):
    from .. import backtest as bt
    from ..backtest.command import backtest_to_folder
    from ..runlog import is_interactive

    start_day, end_day = _date("--start", start), _date("--end", end)
    if start_day and end_day and start_day > end_day:
        raise ConfigError(f"--start {start_day} is after --end {end_day}; swap them")
    optimizers = bt.parse_optimizers(optimizer)
    turnover = dict(turnover)
    fill = turnover.pop("fill", "next_close")
    config = load_run_config(home_dir, config_path).override(
        portfolio={"capital": capital, "positions": positions},
        data=source_overrides(source, prices_file),
        rebalance={"drift_override": drift_threshold, "cost_bps": cost_bps, "cost_per_share": cost_per_share,
                   **turnover},
    )
    require_price_file(config)
    run = backtest_to_folder(config, home_dir, optimizers=optimizers, start=start_day, end=end_day,
                             workers=_workers(workers), fill=fill, out=Path(out_dir) if out_dir else None,
                             refresh=refresh, notebook=not no_notebook, progress=is_interactive())
    return run.result, run.paths, run.html, run.report_error


def _workers(value: str):
    """``auto`` or a whole number >= 1, else a one-line ConfigError."""
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"--workers must be a whole number >= 1 or auto, got {value!r}")
    return n


def _print_summary(result, paths, html, log_path) -> None:
    from ..metrics import metrics_table

    s = result.settings
    lines = [
        _RULE, "BACKTEST COMPLETED", _RULE,
        f"Period: {s['start']} to {s['end']} ({s['weeks']} weekly decisions), source {s['source']}",
        f"Universe: {len(s['universe'])} tickers; positions {s['positions']}; capital {s['capital']:,.2f}; "
        f"costs {s['cost_bps']:g} bps + {s['cost_per_share']:g} per share",
        ("Decisions on each week's last close; trades filled at the next trading day's close, costs paid in cash."
         if s.get("fill", "next_close") == "next_close" else
         "Every proposed trade is filled at the decision day's close (--fill same-close); costs are paid in cash."),
        "",
        f"{'series':<30} {'CAGR':>7} {'Vol':>7} {'Sharpe':>7} {'Sortino':>7} {'MaxDD':>7} "
        f"{'Calmar':>7} {'Turn/yr':>7} {'Costs':>12}",
    ]
    table = metrics_table(result.metrics)
    short = any("annualised_figures" in m for m in result.metrics.values())
    nm = f"{'n/m':>7}"
    for name, m in table.iterrows():
        if short:  # a few weeks annualised is noise: show what is not annualised only
            lines.append(f"{str(name)[:30]:<30} {nm} {nm} {nm} {nm} {_pct(m['max_drawdown'])} {nm} {nm} "
                         f"{m['costs']:>12,.2f}")
        else:
            lines.append(
                f"{str(name)[:30]:<30} {_pct(m['cagr'])} {_pct(m['volatility'])} {_num(m['sharpe'])} "
                f"{_num(m['sortino'])} {_pct(m['max_drawdown'])} {_num(m['calmar'])} {_num(m['turnover'])} "
                f"{m['costs']:>12,.2f}")
    if short:
        lines += ["", f"n/m = not meaningful: {s['weeks']} weekly decisions is less than a year, and annualised "
                  "figures (CAGR, volatility, Sharpe, Sortino, Calmar, turnover) would extrapolate a few weeks "
                  "to a year. metrics.json keeps the numbers, marked the same way; use a window of years."]
    lines += [f"Note: {n}" for n in result.notes if n.startswith("benchmark ")]
    lines += [f"Warning: {n}" for n in result.notes if "held back their rebalance" in n]
    lines += ["", f"Outputs: {paths['equity.csv'].parent}"]
    if html is not None:
        lines.append(f"Report: {html}")
    workers = result.timings.get("workers", 1)
    lines += [f"Log file: {log_path}",
              f"Simulation time: {result.elapsed:.1f} s" + (f" ({workers} processes)" if workers > 1 else "")]
    for line in lines:
        click.echo(line.encode("ascii", "replace").decode("ascii"))


def _pct(x: float) -> str:
    return f"{x:>7.1%}" if x == x else f"{'n/a':>7}"


def _num(x: float) -> str:
    return f"{x:>7.2f}" if x == x else f"{'n/a':>7}"
