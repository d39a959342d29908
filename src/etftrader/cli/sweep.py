"""``etftrader sweep``: the backtest over a grid of settings, on this machine or a Dask cluster.

Thin Click command: read the grid (a TOML file and/or comma-separated flags), validate every cell,
load the prices once, call :func:`etftrader.sweep.run_sweep`, write ``sweep.csv`` and the report,
and print the best cells. The work is in :mod:`etftrader.sweep`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from ..errors import ConfigError
from ._common import (command_log, config_option, home_option, load_run_config, require_price_file,
                      source_options, source_overrides)
from .backtest import _date, _num, _pct

__all__ = ["sweep"]

_log = logging.getLogger("etftrader.cli.sweep")
_RULE = "=" * 80

_LIST_FLAGS = {
    "optimizer": "optimizer", "positions": "positions", "drift_threshold": "drift_threshold",
    "cost_bps": "cost_bps", "turnover_control": "turnover_control", "selection_buffer": "selection_buffer",
    "turnover_penalty": "turnover_penalty", "no_trade_band": "no_trade_band", "fill": "fill",
}


def _split_list(key: str, text: str | None) -> list | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"--{key.replace('_', '-')} needs a comma-separated list, got {text!r}")
    out = []
    for item in items:
        if key in ("optimizer", "fill", "turnover_control"):
            out.append(item)
            continue
        try:
            number = float(item)
        except ValueError:
            raise ConfigError(f"--{key.replace('_', '-')}: {item!r} is not a number") from None
        out.append(int(number) if key in ("positions", "selection_buffer") and number.is_integer() else number)
    return out


@click.command("sweep")
@click.option("--grid", "grid_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="TOML grid file: [grid] lists of values, optional [sweep] start, end, split.")
@click.option("--optimizer", default=None, metavar="LIST", help="e.g. mvo,minvar,rankbased")
@click.option("--positions", default=None, metavar="LIST", help="e.g. 6,8")
@click.option("--drift-threshold", "drift_threshold", default=None, metavar="LIST", help="e.g. 0.05,0.1")
@click.option("--cost-bps", "cost_bps", default=None, metavar="LIST", help="e.g. 5,20")
@click.option("--turnover-control", "turnover_control", default=None, metavar="LIST", help="on,off")
@click.option("--buffer", "selection_buffer", default=None, metavar="LIST", help="selection buffers, e.g. 0,8")
@click.option("--turnover-penalty", "turnover_penalty", default=None, metavar="LIST", help="e.g. 0,100")
@click.option("--band", "no_trade_band", default=None, metavar="LIST", help="no-trade bands, e.g. 0,0.5")
@click.option("--fill", default=None, metavar="LIST", help="next-close,same-close")
@click.option("--start", default=None, metavar="DATE", help="First decision week (YYYY-MM-DD).")
@click.option("--end", default=None, metavar="DATE", help="Last day simulated (YYYY-MM-DD).")
@click.option("--split", default=None, metavar="DATE",
              help="Also report each cell before this date (in sample) and from it (out of sample).")
@source_options
@config_option
@home_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Output folder (default: results/sweep_YYYYMMDD_HHMMSS in the home folder).")
@click.option("--workers", default="auto", show_default=True, metavar="N|auto",
              help="Local processes (auto: one per CPU).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run the cells on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786.")
@click.option("--no-notebook", is_flag=True, default=False, help="Do not render the HTML sweep report.")
def sweep(grid_file, optimizer, positions, drift_threshold, cost_bps, turnover_control, selection_buffer,
          turnover_penalty, no_trade_band, fill, start, end, split, source, prices_file, refresh, config_path,
          home, out_dir, workers, scheduler, no_notebook) -> None:
    """Run the backtest for every combination of settings and rank them by net Sharpe.

    Each cell is a normal backtest configuration (validated before anything runs). Finished cells
    are cached under the home folder by their configuration and the prices, so an interrupted
    sweep resumes where it stopped and changed prices are recomputed. Writes sweep.csv (every
    metric of every cell, with equal weight and the benchmark under the same settings) and an HTML
    report with the ranking and turnover against net Sharpe.

    \b
    Examples:
      etftrader sweep --source sample --start 2016-01-01 --positions 8 --optimizer mvo,minvar --cost-bps 5,20
      etftrader sweep --source sample --grid grid.toml --split 2019-07-01
      etftrader sweep --grid grid.toml --scheduler tcp://127.0.0.1:8786
    """
    with command_log(home, "sweep", _log) as (home_dir, log_path):
        flags = {"optimizer": optimizer, "positions": positions, "drift_threshold": drift_threshold,
                 "cost_bps": cost_bps, "turnover_control": turnover_control, "selection_buffer": selection_buffer,
                 "turnover_penalty": turnover_penalty, "no_trade_band": no_trade_band, "fill": fill}
        result, paths, html, report_error = _run(home_dir, grid_file, flags, start, end, split, source,
                                                 prices_file, refresh, config_path, out_dir, workers,
                                                 scheduler, no_notebook)
        _print_summary(result, paths, html, log_path)
    if report_error is not None:
        raise report_error


def _run(home_dir, grid_file, flags, start, end, split, source, prices_file, refresh, config_path, out_dir,
         workers, scheduler, no_notebook):
    from .. import sweep as sw
    from ..backtest.command import sweep_to_folder
    from ..runlog import is_interactive

    grid: dict = {}
    period: dict = {}
    if grid_file:
        spec = sw.read_grid_file(grid_file)
        grid.update(spec["grid"])
        period = {k: spec[k] for k in ("start", "end", "split") if k in spec}
    for key, text in flags.items():
        values = _split_list(key, text)
        if values is not None:
            grid[key] = values
    start_day = _date("--start", start or period.get("start"))
    end_day = _date("--end", end or period.get("end"))
    split_day = _date("--split", split or period.get("split"))
    if start_day and end_day and start_day > end_day:
        raise ConfigError(f"--start {start_day} is after --end {end_day}; swap them")
    if split_day and ((start_day and split_day <= start_day) or (end_day and split_day >= end_day)):
        raise ConfigError(f"--split {split_day} must fall inside the period ({start_day} to {end_day})")
    base = load_run_config(home_dir, config_path).override(data=source_overrides(source, prices_file))
    cells = sw.expand_grid(grid, base)  # every cell validated before anything runs
    require_price_file(base)
    interactive = is_interactive()
    bar = _Bar(enabled=interactive and not scheduler)
    try:
        run = sweep_to_folder(base, home_dir, cells, start=start_day, end=end_day, split=split_day,
                              workers=_workers(workers), scheduler=scheduler,
                              out=Path(out_dir) if out_dir else None, refresh=refresh, notebook=not no_notebook,
                              progress=interactive, on_progress=bar.update)
    finally:
        bar.close()
    return run.result, run.paths, run.html, run.report_error


def _workers(value: str) -> int:
    if value == "auto":
        return max(os.cpu_count() or 1, 1)
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"--workers must be a whole number >= 1 or auto, got {value!r}")
    return n


class _Bar:
    """Cells done, elapsed and an estimate, on one terminal line (nothing when not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.shown = False

    def update(self, done: int, total: int, elapsed: float, eta: float | None) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / total) if total else width
        left = f"{eta:.0f} s left" if eta is not None else "estimating"
        text = f"\rsweep [{'#' * filled}{'.' * (width - filled)}] {done}/{total} cells, {elapsed:.0f} s, {left}"
        sys.stderr.write(text[:79].ljust(79))
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


def _print_summary(result, paths, html, log_path) -> None:
    from ..sweep import split_table, varying_keys

    table = result.table.sort_values(["sharpe", "cell"], ascending=[False, True], kind="stable")
    s = result.settings
    lines = [_RULE, "SWEEP COMPLETED", _RULE,
             f"Cells: {s['cells']} ({s['computed']} computed, {s['cached']} from the cache) in {result.elapsed:.1f} s",
             f"Period: {table['start'].iloc[0]} to {table['end'].iloc[0]}" if len(table) else "Period: -",
             "Figures are net of costs; equal weight and the benchmark ran under each cell's costs and fill.",
             "", f"{'cell':>4}  {'settings':<48} {'Sharpe':>6} {'CAGR':>7} {'Turn/yr':>7} {'EW Sh.':>6}"]
    keys = varying_keys(result.cells)
    for _, row in table.head(10).iterrows():
        label = result.cells[int(row["cell"]) - 1].label(keys, short=True)
        lines.append(f"{int(row['cell']):>4}  {label[:48]:<48} {_num(row['sharpe'])[-6:]:>6} {_pct(row['cagr'])} "
                     f"{_num(row['turnover'])} {_num(row['ew_sharpe'])[-6:]:>6}")
    if len(table) > 10:
        lines.append(f"      ... {len(table) - 10} more in sweep.csv")
    if bool(table["short_window"].any()):
        lines.append("Note: the period is shorter than a year: annualised figures are not meaningful.")
    split = split_table(result.table, top=5)
    if split is not None:
        lines += ["", f"Chosen before {s['split']}, shown from it (best 5 in sample):"]
        for cell, row in split.iterrows():
            lines.append(f"{cell:>4}  in-sample Sharpe {row['In-sample net Sharpe']:>6}  out-of-sample "
                         f"{row['Out-of-sample net Sharpe']:>6} (rank {row['Out-of-sample rank']})")
    lines += ["", f"Outputs: {paths['sweep.csv']}"]
    if html is not None:
        lines.append(f"Report: {html}")
    lines.append(f"Log file: {log_path}")
    for line in lines:
        click.echo(line.encode("ascii", "replace").decode("ascii"))
