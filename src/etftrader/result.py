"""What a weekly run decided (:class:`WeeklyResult`): for the console summary, ``--json`` and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ReportError
from .holdings import Holdings
from .rebalance import RebalancePlan
from .records import _num, trade_details
from .target import Target

__all__ = ["WeeklyResult"]


@dataclass(frozen=True)
class WeeklyResult:
    """Everything a weekly run decided, for the console summary, ``--json`` and the tests."""

    run_id: str
    timestamp: datetime
    as_of: date
    data_as_of: date
    optimizer: str
    positions: int
    target: Target
    plan: RebalancePlan
    holdings: Holdings
    prices: pd.Series
    first_run: bool
    cash_flows: pd.DataFrame
    dropped: pd.DataFrame
    superseded_run: str | None
    superseded_count: int
    superseded_value: float
    superseded_time: Any
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    workbook: Path
    data_source: str
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    report: Any = None
    report_error: ReportError | None = None
    open_message: str | None = None
    controls: tuple[Any, ...] = ()
    frontier: dict[str, Any] | None = None
    tax: dict[str, Any] | None = None
    details: pd.DataFrame | None = None

    def cost_parts(self) -> dict[str, float]:
        """The week's estimated costs split into commission, spread and impact."""
        from .costs import COST_COLUMNS, cost_breakdown

        d = self.details if self.details is not None else cost_breakdown(self.plan.trades, self.plan.costs)
        return {c: float(d[c].sum()) if c in d.columns and len(d) else 0.0 for c in COST_COLUMNS}

    @property
    def portfolio_value(self) -> float:
        """Holdings at the as-of prices plus cash (after this run's deposits/withdrawals)."""
        return self.plan.total_value

    @property
    def cash(self) -> float:
        """Cash left once this run's trades are executed (after estimated costs)."""
        return self.plan.cash_after

    def to_json(self, **extra: Any) -> dict[str, Any]:
        """The ``--json`` object: the keys issue 4 lists, then a few more."""
        res = self.target.result
        weights = res.weights
        target_rows = []
        shares = self.plan.shares_after  # what each position holds once this week's trades are done
        for ticker in weights.index:
            target_rows.append({
                "ticker": ticker,
                "weight": _num(weights[ticker]),
                "shares": _num(shares.get(ticker, 0.0)),
                "price": _num(self.prices.get(ticker)),
                "factor_score": _num(self.target.scores["composite"].get(ticker)),
            })
        details = self.details if self.details is not None else trade_details(self.plan)
        trades = []
        for (_, r), (_, d) in zip(self.plan.trades.iterrows(), details.reindex(self.plan.trades.index).iterrows()):
            row = {"ticker": r["ticker"], "action": r["action"], "shares": _num(r["shares"]),
                   "price": _num(r["price"]), "value": _num(r["value"]), "est_cost": _num(r["est_cost"]),
                   "commission": _num(d["commission"]), "spread_cost": _num(d["spread_cost"]),
                   "impact_cost": _num(d["impact_cost"])}
            if r["action"] == "BUY":
                row["wash_sale"] = bool(d["wash_sale"])
            if r["action"] == "SELL":
                row["lots"] = [{**u, "shares": _num(u["shares"]), "gain": _num(u["gain"])} for u in d["lots"]]
                row["est_gain"] = _num(d["est_gain"])
            trades.append(row)
        out = {
            "as_of": self.as_of.isoformat(),
            "optimizer": self.optimizer,
            "rebalanced": bool(self.plan.rebalance),
            # A rebalance the cost cap held back: what its trades would have cost (null otherwise).
            "held_back": ({"estimated_costs": _num(self.plan.held_back)} if self.plan.held_back is not None
                          else None),
            "drift": _num(self.plan.drift),
            "drift_outside_band": _num(self.plan.drift_outside_band),
            "drift_threshold": _num(self.plan.threshold),
            "portfolio_value": _num(self.portfolio_value),
            "cash": _num(self.cash),
            "target": target_rows,
            "trades": trades,
            "metrics": {"expected_return": _num(res.expected_return),
                        "expected_volatility": _num(res.expected_volatility),
                        "expected_sharpe": _num(res.expected_sharpe)},
            "dropped": [{"ticker": r.ticker, "reason": r.reason} for r in self.dropped.itertuples()],
            "warnings": list(self.warnings),
            "workbook": str(self.workbook),
            "run_id": self.run_id,
            "data_as_of": self.data_as_of.isoformat(),
            "optimizer_used": res.method,
            "fallback_reason": res.fallback_reason,
            "cash_before": _num(self.plan.cash_before),
            "estimated_costs": _num(self.plan.total_cost),
            "skipped_trades": [{"ticker": r.ticker, "action": r.action, "shares": _num(r.shares),
                                "value": _num(r.value), "reason": r.reason}
                               for r in self.plan.skipped.itertuples()],
            # The live unexecuted trades of the latest earlier run (this run supersedes them).
            "pending": {"run_id": self.superseded_run, "count": self.superseded_count,
                        "value": _num(self.superseded_value)},
            "superseded": {"run_id": self.superseded_run, "count": self.superseded_count,
                           "value": _num(self.superseded_value)},
            "cash_flows": [{"type": r.type, "amount": _num(r.amount)} for r in self.cash_flows.itertuples()],
            "notes": list(self.notes),
            # What the turnover controls did this week: kind, message and the figures behind it.
            "turnover_controls": [n.to_json() for n in self.controls],
            # The efficient frontier of the selected tickers (risk = volatility, annual), with
            # the chosen portfolio, equal weight and each ticker; the barbell's two sleeves.
            "frontier": self.frontier,
            "sleeves": {k: list(v) for k, v in res.sleeves.items()},
            # Realised gains this year, what this week's sells would realise, wash-sale BUYs.
            "tax": self.tax,
            "report": str(self.report.html) if self.report is not None else None,
        }
        out.update(extra)
        return out
