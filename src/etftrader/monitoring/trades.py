"""Trade activity: by week and status, sizes, the most traded, pending and executed trades."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


from .ledger import _row_dates, _run_ids
from .portfolio import latest_run, run_table


def _trades(ledger_or_trades: Any) -> pd.DataFrame:
    trades = getattr(ledger_or_trades, "trades", ledger_or_trades)
    if trades is None or trades.empty:
        return pd.DataFrame(columns=["ticker", "action", "shares", "price", "value", "executed", "date"])
    trades = trades.copy()
    trades["action"] = trades["action"].astype(str).str.strip().str.upper()
    trades["value"] = pd.to_numeric(trades["value"], errors="coerce").abs().fillna(0.0)
    trades["executed"] = trades["executed"].fillna(False).astype(bool)
    trades["date"] = _row_dates(trades).to_numpy()
    trades["run"] = _run_ids(trades).to_numpy()
    return trades


def trade_activity(trades: Any) -> pd.DataFrame:
    """Trades per rebalance date: counts and values of buys and sells, and how many were executed.

    Returns
    -------
    DataFrame indexed by date
        ``trades, buys, sells, buy_value, sell_value, executed``.
    """
    t = _trades(trades)
    cols = ["trades", "buys", "sells", "buy_value", "sell_value", "executed"]
    if t.empty:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="date"))
    t["is_buy"] = t["action"] == "BUY"
    t["is_sell"] = t["action"] == "SELL"
    t["buy_value"] = t["value"].where(t["is_buy"], 0.0)
    t["sell_value"] = t["value"].where(t["is_sell"], 0.0)
    g = t.groupby("date")
    out = pd.DataFrame({
        "trades": g.size(),
        "buys": g["is_buy"].sum(),
        "sells": g["is_sell"].sum(),
        "buy_value": g["buy_value"].sum(),
        "sell_value": g["sell_value"].sum(),
        "executed": g["executed"].sum(),
    })
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out.astype({"trades": int, "buys": int, "sells": int, "executed": int})


def trade_sizes(trades: Any) -> pd.Series:
    """Absolute value of each executed trade (for the size distribution)."""
    t = _trades(trades)
    return t.loc[t["executed"], "value"].astype(float).rename("value") if len(t) else t["value"].astype(float)


def most_traded(trades: Any, n: int = 10) -> pd.DataFrame:
    """The ``n`` most frequently traded tickers by executed trades: ``trades`` (count) and
    ``value`` (gross); proposals never executed do not count."""
    t = _trades(trades)
    t = t.loc[t["executed"]] if len(t) else t
    if t.empty:
        return pd.DataFrame(columns=["trades", "value"], index=pd.Index([], name="ticker"))
    g = t.groupby("ticker").agg(trades=("value", "size"), value=("value", "sum"))
    return g.sort_values(["trades", "value"], ascending=[False, False]).head(n)


def buy_sell_split(trades: Any) -> pd.DataFrame:
    """Count and gross value of executed BUY and SELL trades (index ``BUY, SELL``), and how many
    were proposed but are still pending or were superseded."""
    t = _trades(trades)
    done = t.loc[t["executed"]] if len(t) else t
    out = pd.DataFrame(index=pd.Index(["BUY", "SELL"], name="action"))
    out["trades"] = [int((done["action"] == a).sum()) for a in out.index]
    out["value"] = [float(done.loc[done["action"] == a, "value"].sum()) for a in out.index]
    out["not_executed"] = [int(((t["action"] == a) & ~t["executed"]).sum()) for a in out.index]
    return out


def pending_trades(ledger: Any) -> pd.DataFrame:
    """Unexecuted trades of the latest run: what the analyst still has to place.

    Older unexecuted trades are superseded by the latest run's list and are not shown. The
    latest run is the one :func:`current_positions` shows (latest ``as_of``, then timestamp, then
    sheet order), so ties between runs written in the same second resolve to the later row.
    ``.attrs`` holds ``total_value`` (gross), ``buy_value`` and ``sell_value``.
    """
    t = _trades(ledger)
    run = latest_run(ledger) if not t.empty else None
    cols = [c for c in ("ticker", "action", "shares", "price", "value", "est_cost", "note") if c in t]
    pending = t.loc[(t["run"] == run) & ~t["executed"], cols].reset_index(drop=True) if run else t.iloc[0:0][cols]
    blank = [c for c in ("est_cost", "note") if c in pending and len(pending)
             and pending[c].astype(str).str.strip().isin(["", "nan", "None", "<NA>"]).all()]
    pending = pending.drop(columns=blank)
    pending.attrs["total_value"] = float(pending["value"].sum())
    pending.attrs["buy_value"] = float(pending.loc[pending["action"] == "BUY", "value"].sum())
    pending.attrs["sell_value"] = float(pending.loc[pending["action"] == "SELL", "value"].sum())
    return pending


def executed_trades(ledger: Any) -> pd.DataFrame:
    """Every trade marked executed, newest first."""
    t = _trades(ledger)
    cols = [c for c in ("date", "ticker", "action", "shares", "price", "value") if c in t]
    return t.loc[t["executed"], cols].sort_values("date", ascending=False, kind="stable").reset_index(drop=True)


def trade_history(ledger: Any) -> pd.DataFrame:
    """Per weekly run (weeks without trades included): trade value by status and the turnover.

    Returns
    -------
    DataFrame indexed by run date
        ``executed, pending, superseded`` (gross value), ``trades`` (count of all proposed),
        ``executed_trades`` and ``turnover``: executed value as a share of that week's portfolio
        value (buys and sells, so a full switch of holdings is 200%).
    """
    from ..weekview import trade_status

    runs = run_table(ledger)
    cols = ["executed", "pending", "superseded", "trades", "executed_trades", "turnover"]
    if runs.empty:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="date"))
    t = trade_status(ledger)
    out = pd.DataFrame(0.0, index=pd.DatetimeIndex(runs.index, name="date"), columns=cols)
    if len(t):
        t = t.loc[t["date"].isin(out.index)]
        values = t.pivot_table(index="date", columns="status", values="value", aggfunc="sum", fill_value=0.0)
        for status in ("executed", "pending", "superseded"):
            if status in values:
                out[status] = values[status].reindex(out.index, fill_value=0.0)
        out["trades"] = t.groupby("date").size().reindex(out.index, fill_value=0)
        out["executed_trades"] = t.loc[t["status"] == "executed"].groupby("date").size().reindex(out.index, fill_value=0)
    total = pd.to_numeric(runs["total_value"], errors="coerce").to_numpy()
    out["turnover"] = np.where(total > 0, out["executed"].to_numpy() / np.where(total > 0, total, 1.0), np.nan)
    return out.astype({"trades": int, "executed_trades": int})
