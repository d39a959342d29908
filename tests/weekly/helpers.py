"""Tiny hand-built ledgers for the weekly tests (frames shaped like etftrader.workbook.read_ledger)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

TRADE_COLS = ["timestamp", "ticker", "action", "shares", "price", "value", "executed",
              "run_id", "as_of", "est_cost", "note"]
FLOW_COLS = ["timestamp", "type", "amount", "note", "run_id", "as_of"]
META_COLS = ["timestamp", "rebalanced", "optimizer", "run_id"]


def frame(rows, columns):
    """A ledger frame from tuples (missing trailing cells are NaN), index = Excel row number."""
    data = [list(r) + [None] * (len(columns) - len(r)) for r in rows]
    out = pd.DataFrame(data, columns=columns)
    out.index = range(2, 2 + len(out))
    return out


def trade(ts, ticker, action, shares, price, executed, run_id, est_cost=0.0, value=None):
    """One Trades row; ``value`` defaults to shares x price (pass another to fake a stale cell)."""
    return (pd.Timestamp(ts), ticker, action, shares, price,
            shares * price if value is None else value, executed, run_id, None, est_cost, "")


def flow(ts, kind, amount, run_id="r0"):
    return (pd.Timestamp(ts), kind, amount, "", run_id, None)


def make_ledger(trades=(), cashflows=(), metadata=()):
    """A stand-in for ``etftrader.workbook.Ledger`` with the frames holdings need."""
    return SimpleNamespace(
        trades=frame(trades, TRADE_COLS),
        cashflows=frame(cashflows, FLOW_COLS),
        metadata=frame(metadata, META_COLS),
        positions=pd.DataFrame(),
        performance=pd.DataFrame(),
    )
