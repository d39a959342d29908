"""The validation report: the framing notes, its tables, and rendering the 04 notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping
import pandas as pd


from .engine import EXECUTION_NOTE, SHORT_WINDOW_WEEKS


SURVIVORSHIP_NOTE = (
    "the universe is the list of tickers the price source holds today. Funds and companies that "
    "closed, merged or were delisted during the period are missing, which biases results upwards."
)


SAMPLE_SURVIVORSHIP_NOTE = (
    "The sample's 20 stocks are large companies picked in hindsight (they survived and grew to "
    "2022), and its 5 factor ETFs start in 2014: read its figures as a demonstration, not evidence."
)


ESTIMATES_NOTE = (
    "The optimizers' expected return, volatility and Sharpe are estimates from past prices; the "
    "realised figures here are one historical path, not a forecast. Costs are estimates too "
    "(basis points of value plus a per-share fee); spreads, market impact and taxes are not modelled."
)


def framing_text(run: Mapping[str, Any]) -> str:
    """What the reader must know before reading the figures, as Markdown (from ``run.json``)."""
    universe = run.get("universe", [])
    thresholds = ", ".join(f"{k} {v:.1%}" for k, v in (run.get("drift_threshold") or {}).items())
    lines = [
        f"**Period:** {run.get('start')} to {run.get('end')}, {run.get('weeks')} weekly decisions "
        f"(the last trading day of each week).",
        f"**Universe:** {len(universe)} tickers from the `{run.get('source')}` source: {', '.join(universe)}.",
        f"**Strategies:** {', '.join(run.get('strategies', []))}, each with {run.get('capital', 0):,.0f} "
        f"of starting cash and {run.get('positions')} positions (equal weight holds every usable ticker); "
        f"benchmark: {run.get('benchmark') or 'none available for this source'}.",
        f"**Rules:** drift thresholds {thresholds}; costs {run.get('cost_bps', 0):g} bps of value plus "
        f"{run.get('cost_per_share', 0):g} per share; trades below {run.get('min_trade_value', 0):,.0f} skipped.",
        f"**Execution:** {run.get('execution', EXECUTION_NOTE)}",
        f"**Survivorship:** {SURVIVORSHIP_NOTE}"
        + (f" {SAMPLE_SURVIVORSHIP_NOTE}" if run.get("source") == "sample" else ""),
        f"**Estimates:** {ESTIMATES_NOTE}",
    ]
    if (run.get("weeks") or 0) < SHORT_WINDOW_WEEKS:
        lines.append("**Short window:** less than a year of weekly decisions. Annualised figures "
                     "(CAGR, volatility, Sharpe, turnover) extrapolate a few weeks to a year and "
                     "say little; use at least a few years to compare settings.")
    lines += [f"**Note:** {n}" for n in run.get("notes", [])]
    return "\n\n".join(lines)


def format_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """The metrics table as display strings (percentages, ratios, currency), one row per series."""
    pct = ("cagr", "volatility", "max_drawdown")
    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        values = table[col].astype(float)
        if col in pct:
            out[col] = values.map(lambda v: f"{v:.1%}" if v == v else "n/a")
        elif col == "costs":
            out[col] = values.map(lambda v: f"{v:,.0f}" if v == v else "n/a")
        else:
            out[col] = values.map(lambda v: f"{v:.2f}" if v == v else "n/a")
    return out


def activity_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: weeks, rebalances, trades, skipped trades, traded value and costs."""
    if decisions.empty:
        return pd.DataFrame(columns=["weeks", "rebalances", "trades", "skipped", "traded_value", "costs"])
    grouped = decisions.groupby("strategy", sort=False)
    return pd.DataFrame({
        "weeks": grouped.size(),
        "rebalances": grouped["rebalanced"].sum().astype(int),
        "trades": grouped["trades"].sum().astype(int),
        "skipped": grouped["skipped"].sum().astype(int),
        "traded_value": grouped["traded_value"].sum().round(0),
        "costs": grouped["costs"].sum().round(2),
    })


def expected_vs_realised(decisions: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """The optimizers' beliefs against what happened, one row per optimizer strategy.

    ``expected_*`` are the weekly targets' own estimates (annual), averaged over the weeks;
    ``realised_*`` are the backtest's figures for the same strategy.
    """
    columns = ["expected_return", "realised_cagr", "expected_volatility", "realised_volatility",
               "expected_sharpe", "realised_sharpe"]
    if decisions.empty or "expected_return" not in decisions:
        return pd.DataFrame(columns=columns)
    believed = decisions.groupby("strategy", sort=False)[
        ["expected_return", "expected_volatility", "expected_sharpe"]].mean().dropna(how="all")
    table = believed.join(metrics[["cagr", "volatility", "sharpe"]].rename(columns={
        "cagr": "realised_cagr", "volatility": "realised_volatility", "sharpe": "realised_sharpe"}))
    return table[columns]


def latest_targets(targets: pd.DataFrame) -> pd.DataFrame:
    """The last decision day's target weights: one row per ticker, one column per strategy."""
    if targets.empty:
        return pd.DataFrame()
    last = targets[targets["date"] == targets["date"].max()]
    return last.pivot(index="ticker", columns="strategy", values="weight").fillna(0.0)


def yearly_returns(equity: pd.DataFrame) -> pd.DataFrame:
    """Calendar-year returns of every series (the first and last years may be partial)."""
    year_end = equity.groupby(equity.index.year).last()
    first = equity.iloc[0]
    previous = year_end.shift(1)
    previous.iloc[0] = first
    out = year_end / previous - 1.0
    out.index.name = "year"
    return out


NOTEBOOK_NAME = "04_real_data_validation_results.ipynb"

def render_backtest_report(out_dir: Path, *, home=None, cell_timeout: int | None = None,
                           start_timeout: int | None = None) -> Path:
    """Render the validation notebook on the outputs in ``out_dir``; return the HTML path.

    :func:`etftrader.report.execute_notebook` runs ``notebooks/04_real_data_validation_results.ipynb``
    (the analyst's copy in ``<home>/notebooks`` first) with ``RESULTS_DIR`` set to ``out_dir`` on a
    private kernel for this interpreter, time-bounded; nbconvert exports HTML without code. The
    executed notebook is kept beside the HTML (``validation_report.ipynb``), also when a cell fails.

    Raises
    ------
    ReportError
        The notebook is missing, or failed to execute or convert (one line, naming the cell).
    """
    from .. import report
    from ..errors import ReportError
    from ..paths import resolve_home

    out_dir = Path(out_dir).resolve()
    try:
        source = report.find_notebook(home or resolve_home(None), NOTEBOOK_NAME)
    except ReportError as e:  # its message speaks of the monitoring notebook
        raise ReportError(str(e).replace("monitoring notebook", "validation notebook", 1)) from e
    executed = out_dir / "validation_report.ipynb"
    html = out_dir / "validation_report.html"
    report.execute_notebook(
        source, executed, {"RESULTS_DIR": str(out_dir)}, cwd=out_dir, what="validation notebook",
        unaffected=f"the backtest outputs are kept in {out_dir}",
        cell_timeout=cell_timeout or report.CELL_TIMEOUT, start_timeout=start_timeout or report.START_TIMEOUT,
    )
    try:
        run = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
        title = f"Validation backtest {run.get('start')} to {run.get('end')}"
    except (OSError, ValueError):
        title = "Validation backtest"
    report.notebook_to_html(executed, html, title=title)
    return html
