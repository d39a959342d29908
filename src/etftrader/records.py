"""What a week writes to the workbook: the rows of each ledger sheet, the trades' cost parts and
lots, the Lots and Gains sheets, and the return columns of Performance (``docs/contracts.md``).

Pure: frames in, frames out. :func:`etftrader.pipeline.run_weekly` appends them in one write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from .holdings import Holdings
from .rebalance import RebalancePlan
from .target import Target

if TYPE_CHECKING:
    from .config import Config

__all__ = ["TaxWeek", "add_returns", "tax_lots", "trade_details", "week_rows"]


def _num(x: Any) -> float | None:
    """A JSON-safe float (NaN and None become null)."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class TaxWeek:
    """The week's tax lots (:func:`tax_lots`): the Lots and Gains sheets, the lots each proposed
    SELL would close with its estimated gain (by trade row), and the figures ``--json`` carries."""

    lots: pd.DataFrame
    gains: pd.DataFrame
    trade_lots: pd.DataFrame
    figures: dict[str, Any]


def tax_lots(lots: Any, config: Config, plan: RebalancePlan, prices: pd.Series, as_of: date,
             warnings: list[str], notes: list[str]) -> TaxWeek:
    """The week's tax figures from the ledger's lots (:func:`etftrader.lots.build_lots`): the Lots
    and Gains sheets, what each proposed SELL would close; wash sales become warnings, what the
    week's sells would realise a note."""
    from . import lots as lt

    t = config.tax
    sheet = lt.lots_rows(lots, prices, as_of, t.long_term_days)
    preview = lt.sell_preview(lots, plan.trades, as_of, method=t.lot_method, long_term_days=t.long_term_days)
    washes = lt.wash_sales(lots, plan.trades, as_of)
    for ticker in washes:
        warnings.append(f"wash sale: this week buys {ticker} within {lt.WASH_SALE_DAYS} days of selling it at a "
                        "loss; the loss may not be deductible")
    tax = lt.summary(lots, preview, washes, as_of.year)
    if len(preview):
        w = tax["week_sells_realise"]
        notes.append(f"this week's sells would realise {w['total']:,.2f} ({t.lot_method}: short-term "
                     f"{w['short_term']:,.2f}, long-term {w['long_term']:,.2f})")
    return TaxWeek(lots=sheet, gains=lt.gains_rows(lots, as_of), trade_lots=lt.trade_lots(plan.trades, preview, washes),
                   figures=tax)


def trade_details(plan: RebalancePlan, trade_lots: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per row of ``plan.trades``: the cost parts (:data:`etftrader.costs.COST_COLUMNS`), wash-sale
    aside, and for SELLs the lots used and the estimated realised gain."""
    from .costs import cost_breakdown

    parts = cost_breakdown(plan.trades, plan.costs)
    if trade_lots is None:
        from .lots import trade_lots as no_lots

        trade_lots = no_lots(plan.trades, pd.DataFrame())
    return pd.concat([parts, trade_lots.reindex(plan.trades.index)], axis=1)


def _controls_text(controls: Any, rules: Any) -> str:
    """The Metadata cell: what the turnover controls did, or that they were off."""
    if not rules.turnover_control:
        return "off (turnover_control = false)"
    if not controls:
        return "no effect this week"
    return "; ".join(n.message for n in controls)


def week_rows(*, run_id: str, timestamp: datetime, as_of: date, data_as_of: date, target: Target,
              plan: RebalancePlan, prices: pd.Series, holdings: Holdings, optimizer: str,
              cash_flows: pd.DataFrame, dropped: pd.DataFrame, superseded_run: str | None,
              data_source: str, benchmark: pd.Series | None, version: str,
              controls: str = "", trade_details: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The workbook rows of one week (``docs/contracts.md``), keyed by sheet name.

    ``trade_details`` (of :func:`trade_details`) adds each trade's cost parts, lots and gain."""
    res = target.result
    after = plan.shares_after
    positions = _positions_rows(plan, prices, target, timestamp=timestamp, run_id=run_id, as_of=data_as_of)
    trades = _trades_rows(plan, trade_details, timestamp=timestamp, run_id=run_id, as_of=data_as_of)
    t = plan.trades
    invested = plan.total_value - plan.cash_before
    bench_close = None
    bench_label = ""
    if benchmark is not None and len(benchmark.dropna()):
        b = benchmark.dropna()
        b = b[b.index <= pd.Timestamp(data_as_of)]
        bench_label = str(benchmark.name or "")
        bench_close = float(b.iloc[-1]) if len(b) else None
    performance = pd.DataFrame([{
        "timestamp": timestamp,
        "total_value": plan.total_value,
        "num_positions": int(len(after)),
        "expected_return": _num(res.expected_return),
        "expected_volatility": _num(res.expected_volatility),
        "expected_sharpe": _num(res.expected_sharpe),
        "run_id": run_id,
        "as_of": data_as_of,
        "cash": plan.cash_before,
        "invested_value": invested,
        "pending_value": float(t["value"].sum()),
        "drift": plan.drift,
        "benchmark": bench_label,
        "benchmark_close": bench_close,
        "warning": (f"NEGATIVE CASH {plan.cash_before:,.2f} before this week's trades"
                    if plan.cash_before < -0.005 else ""),
        "cash_before_trades": plan.cash_before,
    }])
    metadata = pd.DataFrame([{
        "timestamp": timestamp,
        "rebalanced": bool(plan.rebalance),
        "optimizer": optimizer,
        "drift_threshold": plan.threshold,
        "capital": plan.total_value,
        "num_positions": int(len(target.selected)),
        "run_id": run_id,
        "as_of": as_of,
        "drift": plan.drift,
        "cash": plan.cash_after,
        "data_source": data_source,
        "data_as_of": data_as_of,
        "optimizer_used": res.method,
        "fallback_reason": res.fallback_reason or "",
        "dropped_tickers": ", ".join(dropped["ticker"].astype(str)),
        "superseded_run": superseded_run or "",
        "version": version,
        "turnover_controls": controls,
        "portfolio_value": plan.total_value,
        "cash_after_trades": plan.cash_after,
    }])
    cashflows = pd.DataFrame({
        "timestamp": timestamp,
        "type": cash_flows["type"].astype(object).to_numpy(),
        "amount": cash_flows["amount"].to_numpy(dtype=float),
        "note": cash_flows["note"].astype(object).to_numpy(),
        "run_id": run_id,
        "as_of": data_as_of,
    })
    return {"Positions": positions, "Trades": trades, "Performance": performance,
            "Metadata": metadata, "CashFlows": cashflows}


def add_returns(rows: dict[str, pd.DataFrame], ledger: Any) -> None:
    """Fill this week's Performance return columns: the time-weighted weekly and cumulative
    return of the portfolio and of the benchmark, over every week recorded so far (deposits and
    withdrawals taken out, as the report computes them)."""
    from types import SimpleNamespace

    from .monitoring import performance_series

    perf_rows = rows["Performance"]
    old = getattr(ledger, "performance", None)
    old_flows = getattr(ledger, "cashflows", None)
    book = SimpleNamespace(
        performance=pd.concat([f for f in (old, perf_rows) if f is not None and len(f)], ignore_index=True),
        cashflows=pd.concat([f for f in (old_flows, rows["CashFlows"]) if f is not None and len(f)],
                            ignore_index=True) if rows["CashFlows"] is not None else old_flows,
        positions=None)
    series = performance_series(book)
    last = series.iloc[-1] if len(series) else None
    for column, source in (("week_return", "period_return"), ("cumulative_return", "cumulative_return"),
                           ("benchmark_week_return", "benchmark_return"),
                           ("benchmark_cumulative", "benchmark_cumulative")):
        value = float(last[source]) if last is not None and pd.notna(last[source]) else None
        perf_rows[column] = value


def _positions_rows(plan: RebalancePlan, prices: pd.Series, target: Target, *, timestamp: datetime,
                    run_id: str, as_of: date) -> pd.DataFrame:
    """Positions: what is held once the week's trades are executed, at the week's prices."""
    res = target.result
    scores = target.scores["composite"]
    after = plan.shares_after
    value_after = after * prices.reindex(after.index)
    total_after = float(value_after.sum()) + plan.cash_after
    return pd.DataFrame({
        "timestamp": timestamp,
        "ticker": after.index.astype(object),
        "weight": (value_after / total_after).to_numpy() if total_after > 0 else 0.0,
        "value": value_after.to_numpy(),
        "shares": after.to_numpy(dtype=float),
        "price": prices.reindex(after.index).to_numpy(),
        "factor_score": scores.reindex(after.index).to_numpy(dtype=float),
        "run_id": run_id,
        "as_of": as_of,
        "target_weight": res.weights.reindex(after.index, fill_value=0.0).to_numpy(dtype=float),
        "current_weight": plan.current_weights.reindex(after.index, fill_value=0.0).to_numpy(dtype=float),
    })


def _trades_rows(plan: RebalancePlan, trade_details: pd.DataFrame | None, *, timestamp: datetime, run_id: str,
                 as_of: date) -> pd.DataFrame:
    """Trades: the week's proposals, pending until the analyst marks them executed."""
    t = plan.trades
    trades = pd.DataFrame({
        "timestamp": timestamp,
        "ticker": t["ticker"].astype(object).to_numpy(),
        "action": t["action"].astype(object).to_numpy(),
        "shares": t["shares"].to_numpy(dtype=float),
        "price": t["price"].to_numpy(dtype=float),
        "value": t["value"].to_numpy(dtype=float),
        "executed": False,
        "run_id": run_id,
        "as_of": as_of,
        "est_cost": t["est_cost"].to_numpy(dtype=float),
        "note": "",
        "status": "pending",  # the value a status formula shows until recalculated
    })
    if trade_details is not None and len(t):
        from .workbook.schema import SCHEMA

        for column in trade_details.columns:
            if column in SCHEMA["Trades"]:
                trades[column] = trade_details[column].to_numpy()
    return trades
