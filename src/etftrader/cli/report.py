"""``etftrader report``: render the weekly review (monitoring notebook -> HTML + summary) on demand."""

from __future__ import annotations

import click

from ._common import as_of_option, home_option


@click.command("report")
@click.option("--workbook", "workbook", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Tracking workbook to review (default: results/portfolio_tracking.xlsx in the home folder).")
@home_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder for the notebook, HTML and summary (default: results/reports/ and results/).")
@as_of_option
def report(workbook: str | None, home: str | None, out_dir: str | None, as_of) -> None:
    """Render the monitoring report: executed notebook, HTML without code, text summary.

    Reads the tracking workbook (never writes it) and the market file the weekly run saved
    (data/market_latest.parquet); nothing is downloaded. The notebook used is
    <home>/notebooks/06_portfolio_monitoring.ipynb when the analyst keeps a copy there, else the
    project's.

    \b
    Example:
      etftrader report --home ~/etf --as-of 2022-06-30
      etftrader report --workbook results/portfolio_tracking.xlsx --out review/
    """
    from pathlib import Path

    from ..paths import resolve_home
    from ..report import render_monitoring

    where = resolve_home(home)
    book = Path(workbook).expanduser() if workbook else where.workbook
    result = render_monitoring(book, where, as_of=as_of, out_dir=Path(out_dir).expanduser() if out_dir else None)
    click.echo(f"Report (HTML): {result.html}")
    click.echo(f"Summary: {result.summary}")
    click.echo(f"Executed notebook: {result.notebook}")
