"""The plain-text summary the seed saves as ``results/portfolio_summary_*.txt``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd


from .ledger import filter_as_of
from .text import _money, _num, _pct
from .portfolio import concentration, current_positions, run_table, top_n_exposure
from .performance import performance_series, weekly_metrics
from .trades import executed_trades, pending_trades
from .risk import REGIME_RULE, market_regime, volatility_gauge


def _run_cell(ledger: Any, sheet: str, column: str, run_id: Any) -> str:
    """The text in ``column`` of run ``run_id``'s row of ``sheet`` (``"performance"``,
    ``"metadata"``), or "" when the sheet has no such column or row (older workbooks)."""
    frame = getattr(ledger, sheet, None)
    if frame is None or column not in frame or "run_id" not in frame:
        return ""
    rows = frame.loc[frame["run_id"].astype(str) == str(run_id), column].dropna().astype(str)
    return rows.iloc[-1].strip() if len(rows) else ""


def summary_text(ledger: Any, market: pd.DataFrame | None = None, *, as_of=None,
                 now: datetime | None = None, top: int = 5) -> str:
    """The plain-text portfolio summary the seed saves as ``results/portfolio_summary_*.txt``.

    Every figure comes from the functions of this module; the text is ASCII.
    """
    ledger = filter_as_of(ledger, as_of)
    now = now or datetime.now()
    perf = performance_series(ledger, market)
    metrics = weekly_metrics(perf)
    positions = current_positions(ledger)
    weights = positions["weight"].astype(float) if not positions.empty else pd.Series(dtype=float)
    hhi, eff = concentration(weights)
    exposure = top_n_exposure(weights)
    pending = pending_trades(ledger)
    executed = executed_trades(ledger)
    last = perf.iloc[-1] if len(perf) else None
    runs = run_table(ledger)
    gauge = volatility_gauge(market, perf.attrs.get("benchmark"), as_of=perf.index[-1] if len(perf) else None)
    regime = market_regime(gauge.level)

    bar = "=" * 72
    lines = [bar, "PORTFOLIO SUMMARY REPORT", bar, f"Generated: {now:%Y-%m-%d %H:%M:%S}"]
    if last is None:
        lines += ["The tracking workbook has no runs yet: run `etftrader weekly` first.", bar]
        return "\n".join(lines) + "\n"
    as_of_day = perf.index[-1]
    lines += [f"As of: {as_of_day:%Y-%m-%d} (run {runs['run'].iloc[-1]})", ""]
    warning = _run_cell(ledger, "performance", "warning", runs["run"].iloc[-1])
    if warning:
        lines += [f"WARNING: {warning} (buys executed, sells not? see the Trades sheet)", ""]
    controls = _run_cell(ledger, "metadata", "turnover_controls", runs["run"].iloc[-1])
    if controls:
        lines += ["TURNOVER CONTROLS THIS WEEK"] + [f"  {part}" for part in controls.split("; ")] + [""]
    lines += ["PORTFOLIO",
              f"  Total value: {_money(float(last['total_value']))}",
              f"  Positions: {len(positions)}"]
    if "cash" in runs and pd.notna(runs["cash"].iloc[-1]):
        cash = float(runs["cash"].iloc[-1])
        if len(pending):
            # Positions show the portfolio once the pending trades are done; say what cash that leaves.
            costs = float(pd.to_numeric(pending.get("est_cost"), errors="coerce").fillna(0).sum()) \
                if "est_cost" in pending else 0.0
            after = cash - pending.attrs["buy_value"] + pending.attrs["sell_value"] - costs
            lines.append(f"  Cash: {_money(cash)} now; {_money(after)} once the pending trades are executed")
        else:
            lines.append(f"  Cash: {_money(cash)}")
    lines += [f"  Concentration: HHI {_num(hhi, '.4f')}, effective positions {_num(eff, '.1f')}"]
    if not exposure.empty:
        lines.append("  Exposure: " + ", ".join(f"{k} {v:.1%}" for k, v in exposure.items()))
    if not positions.empty:
        lines.append(f"  Largest {min(top, len(positions))} positions:")
        for ticker, row in positions.head(top).iterrows():
            lines.append(f"    {ticker:<8} {float(row['weight']):7.2%}  {_money(float(row.get('value', np.nan)))}")
    lines += ["", f"PERFORMANCE (time-weighted, net of deposits and withdrawals; {metrics['weeks']} weekly returns)"]
    if metrics["weeks"] == 0:
        lines.append("  First week: performance needs at least two weekly runs.")
    else:
        lines += [f"  Total return: {_pct(metrics['total_return'])}",
                  f"  {perf.attrs.get('benchmark', 'Benchmark')}: {_pct(metrics['benchmark_total_return'])}",
                  f"  Excess return: {_pct(metrics['excess_return'])}",
                  f"  Sharpe (annualised): {_num(metrics['sharpe'])}"
                  + ("  (needs 2+ weekly returns)" if metrics["weeks"] < 2 else ""),
                  f"  Max drawdown: {_pct(metrics['max_drawdown'])}",
                  f"  Net deposits/withdrawals since start: {_money(float(perf['net_flow'].sum()))}"]
    lines += ["", "RISK"]
    if np.isfinite(gauge.level):
        lines.append(f"  {gauge.label}: {gauge.level:.1f} -> market regime {regime} ({REGIME_RULE})")
    else:
        lines.append(f"  Market regime unknown. {gauge.note}")
    lines += ["", "EXECUTION",
              f"  Pending trades: {len(pending)} (value {_money(pending.attrs['total_value'])}: "
              f"buy {_money(pending.attrs['buy_value'])}, sell {_money(pending.attrs['sell_value'])})"]
    for _, row in pending.iterrows():
        lines.append(f"    {row['action']:<4} {int(row['shares']) if pd.notna(row['shares']) else '?':>8} "
                     f"{row['ticker']:<8} {_money(float(row['value']))}")
    lines += [f"  Executed trades to date: {len(executed)}", bar]
    text = "\n".join(lines) + "\n"
    return text.encode("ascii", "replace").decode("ascii")


