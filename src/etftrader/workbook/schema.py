"""Sheets and columns of the tracking workbook, and how each column looks and reads.

The seed's columns come first in each sheet, in the seed's order and names, so that the seed's
users feel at home; ours follow. Each column has a *kind* that decides its Excel number format,
its width and the pandas dtype it is read back as. See ``docs/contracts.md``.
"""

from __future__ import annotations

__all__ = [
    "SHEETS",
    "SCHEMA",
    "SEED_COLUMNS",
    "LAYOUT",
    "HOLDINGS_SHEET",
    "HOLDINGS_COLUMNS",
    "LOTS_SHEET",
    "LOTS_COLUMNS",
    "GAINS_SHEET",
    "GAINS_COLUMNS",
    "COLUMN_KINDS",
    "KIND_FORMATS",
    "KIND_DTYPES",
    "ROW_COLUMN",
    "REQUIRED_COLUMNS",
    "column_kind",
]

#: Column names the seed's users know, per seed sheet, in the seed's order.
SEED_COLUMNS: dict[str, list[str]] = {
    "Positions": ["timestamp", "ticker", "weight", "value", "shares", "price", "factor_score"],
    "Trades": ["timestamp", "ticker", "action", "shares", "price", "value", "executed"],
    "Performance": [
        "timestamp", "total_value", "num_positions",
        "expected_return", "expected_volatility", "expected_sharpe",
    ],
    "Metadata": ["timestamp", "rebalanced", "optimizer", "drift_threshold", "capital", "num_positions"],
}

_OURS: dict[str, list[str]] = {
    "Positions": ["run_id", "as_of", "target_weight", "current_weight"],
    "Trades": ["run_id", "as_of", "est_cost", "note", "status", "commission", "spread_cost", "impact_cost",
               "est_lots", "est_gain", "lot", "acquired"],
    "Performance": [
        "run_id", "as_of", "cash", "invested_value", "pending_value", "drift",
        "benchmark", "benchmark_close", "warning", "cash_before_trades", "week_return",
        "cumulative_return", "benchmark_week_return", "benchmark_cumulative",
    ],
    "Metadata": [
        "run_id", "as_of", "drift", "cash", "data_source", "data_as_of", "optimizer_used",
        "fallback_reason", "dropped_tickers", "superseded_run", "version", "turnover_controls",
        "portfolio_value", "cash_after_trades",
    ],
    "CashFlows": ["run_id", "as_of"],
}

#: Every sheet of the workbook in its tab order: the seed's four, then ours.
SHEETS: tuple[str, ...] = ("Positions", "Trades", "Performance", "Metadata", "CashFlows")

#: All columns per sheet: the seed's first (CashFlows is ours alone), then ours.
SCHEMA: dict[str, list[str]] = {
    sheet: SEED_COLUMNS.get(sheet, ["timestamp", "type", "amount", "note"]) + _OURS[sheet]
    for sheet in SHEETS
}

#: Where a new workbook puts each sheet's columns: ``as_of`` first (the week a row belongs to is
#: what the analyst looks for), then the seed's in their order, then ours. Existing workbooks keep
#: the order they have: every column is found by its header's name.
LAYOUT: dict[str, list[str]] = {sheet: ["as_of"] + [c for c in columns if c != "as_of"]
                                for sheet, columns in SCHEMA.items()}
#: The run's own sheet, rewritten whole by every weekly run (not part of the ledger: nothing the
#: analyst types there is kept): what is held now, at the week's prices, and what is pending.
HOLDINGS_SHEET = "Holdings"
HOLDINGS_COLUMNS: list[str] = [
    "as_of", "ticker", "shares", "price", "value", "weight", "target_weight", "cost", "unrealised",
    "unrealised_pct", "pending_action", "pending_shares", "pending_value", "status",
]
#: The run's other own sheet: the open tax lots at the week's prices (:mod:`etftrader.lots`).
LOTS_SHEET = "Lots"
LOTS_COLUMNS: list[str] = ["as_of", "ticker", "lot", "acquired", "shares", "cost_per_share", "cost", "price",
                           "value", "unrealised", "unrealised_pct", "days_held", "term"]
#: And its third: realised gains per calendar year of the sale (:func:`etftrader.lots.gains_rows`).
GAINS_SHEET = "Gains"
GAINS_COLUMNS: list[str] = ["as_of", "year", "short_term", "long_term", "total", "losses", "proceeds", "cost",
                            "lots_sold"]
#: Columns a sheet must have for the ledger to be read or appended to (a renamed ``executed`` would
#: otherwise read as "nothing executed"): the seed's, and CashFlows' first three.
REQUIRED_COLUMNS: dict[str, list[str]] = {**SEED_COLUMNS, "CashFlows": ["timestamp", "type", "amount"]}

#: Name of the column :func:`read_ledger` adds with each row's Excel row number (1-based).
ROW_COLUMN = "_row"

# Kind of every schema column; a name not listed is text.
COLUMN_KINDS: dict[str, str] = {
    "timestamp": "datetime",
    "as_of": "date",
    "data_as_of": "date",
    "weight": "percent",
    "target_weight": "percent",
    "current_weight": "percent",
    "expected_return": "percent",
    "expected_volatility": "percent",
    "drift_threshold": "percent",
    "drift": "percent",
    "value": "money",
    "price": "money",
    "total_value": "money",
    "capital": "money",
    "cash": "money",
    "invested_value": "money",
    "pending_value": "money",
    "amount": "money",
    "est_cost": "money",
    "commission": "money",
    "spread_cost": "money",
    "impact_cost": "money",
    "est_gain": "money",
    "benchmark_close": "money",
    "shares": "shares",
    "num_positions": "count",
    "factor_score": "score",
    "expected_sharpe": "ratio",
    "executed": "bool",
    "rebalanced": "bool",
    "cash_before_trades": "money",
    "cash_after_trades": "money",
    "portfolio_value": "money",
    "week_return": "percent",
    "cumulative_return": "percent",
    "benchmark_week_return": "percent",
    "benchmark_cumulative": "percent",
    "cost": "money",
    "unrealised": "money",
    "unrealised_pct": "percent",
    "pending_shares": "shares",
    "acquired": "date",
    "cost_per_share": "money",
    "days_held": "count",
    "year": "count",
    "short_term": "money",
    "long_term": "money",
    "total": "money",
    "losses": "money",
    "proceeds": "money",
    "lots_sold": "count",
}

#: Excel number format per kind (what the analyst sees).
KIND_FORMATS: dict[str, str] = {
    "datetime": "yyyy-mm-dd hh:mm:ss",
    "date": "yyyy-mm-dd",
    "percent": "0.00%",
    "money": "#,##0.00",
    "shares": "#,##0",
    "count": "0",
    "score": "0.0000",
    "ratio": "0.00",
    "bool": "General",
    "text": "General",
}

#: pandas dtype per kind (what the code gets back). Numbers are float64 throughout so a blank
#: cell is NaN and an analyst's fractional correction (a partial fill) is never truncated.
KIND_DTYPES: dict[str, str] = {
    "datetime": "datetime64[ns]",
    "date": "datetime64[ns]",
    "percent": "float64",
    "money": "float64",
    "shares": "float64",
    "count": "float64",
    "score": "float64",
    "ratio": "float64",
    "bool": "bool",
    "text": "str",
}

# Column widths in Excel character units; kinds not listed get the default.
KIND_WIDTHS: dict[str, float] = {"datetime": 20.0, "date": 12.0, "bool": 10.0, "percent": 11.0}
NAME_WIDTHS: dict[str, float] = {
    "ticker": 10.0, "action": 8.0, "run_id": 24.0, "note": 40.0, "fallback_reason": 40.0,
    "dropped_tickers": 40.0, "superseded_run": 24.0, "type": 12.0,
}
DEFAULT_WIDTH = 14.0


def column_kind(name: str) -> str:
    """Kind of a schema column (``"text"`` for names we do not know, e.g. the analyst's)."""
    return COLUMN_KINDS.get(name, "text")


def column_width(name: str) -> float:
    """Width in Excel character units that fits the header and typical values of a column."""
    width = NAME_WIDTHS.get(name) or KIND_WIDTHS.get(column_kind(name), DEFAULT_WIDTH)
    return max(width, len(name) + 4.0)
