"""Ledger rows shaped exactly like docs/contracts.md (helpers shared by the report tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd


POSITIONS_COLS = ["timestamp", "ticker", "weight", "value", "shares", "price", "factor_score",
                  "run_id", "as_of", "target_weight", "current_weight"]
TRADES_COLS = ["timestamp", "ticker", "action", "shares", "price", "value", "executed",
               "run_id", "as_of", "est_cost", "note"]
PERF_COLS = ["timestamp", "total_value", "num_positions", "expected_return", "expected_volatility",
             "expected_sharpe", "run_id", "as_of", "cash", "invested_value", "pending_value", "drift",
             "benchmark", "benchmark_close"]
META_COLS = ["timestamp", "rebalanced", "optimizer", "drift_threshold", "capital", "num_positions",
             "run_id", "as_of", "drift", "cash", "data_source", "data_as_of", "optimizer_used",
             "fallback_reason", "dropped_tickers", "superseded_run", "version"]
CASH_COLS = ["timestamp", "type", "amount", "note", "run_id", "as_of"]


@dataclass(frozen=True)
class FakeLedger:
    """Stand-in for etftrader.workbook.Ledger (same attribute names)."""

    positions: pd.DataFrame
    trades: pd.DataFrame
    performance: pd.DataFrame
    metadata: pd.DataFrame
    cashflows: pd.DataFrame


def empty_ledger() -> FakeLedger:
    return FakeLedger(*(pd.DataFrame(columns=c) for c in (POSITIONS_COLS, TRADES_COLS, PERF_COLS, META_COLS, CASH_COLS)))


def build_weeks(sample_close: pd.DataFrame, *, weeks: int, start: str = "2021-01-08",
                tickers=("MTUM", "QUAL", "VLUE", "USMV", "SIZE", "AAPL", "JNJ", "XOM"),
                capital: float = 1_000_000.0, deposit_week: int | None = None,
                deposit: float = 50_000.0, last_executed: bool = False, seed: int = 7) -> dict[str, list[pd.DataFrame]]:
    """Week-by-week rows for each sheet, as the weekly command would append them.

    The portfolio buys equal-ish weights of ``tickers`` in week 1 (trades executed) and holds
    them; every fourth week it rebalances two names (trades of the latest week stay pending unless
    ``last_executed``). Values are marked to the real sample closes. A deposit may land before
    ``deposit_week``'s run (it sits in cash).
    """
    rng = np.random.default_rng(seed)
    close = sample_close.loc[:, list(tickers)].dropna()
    fridays = pd.date_range(start, periods=weeks, freq="W-FRI")
    days = [close.index[close.index <= d][-1] for d in fridays]
    bench = close.mean(axis=1).rename("S&P 500 index (SPY stand-in)")
    out = {"positions": [], "trades": [], "performance": [], "metadata": [], "cashflows": []}
    raw = rng.uniform(0.8, 1.2, len(tickers))
    target = pd.Series(raw / raw.sum(), index=list(tickers))
    shares = pd.Series(0.0, index=list(tickers))
    cash = capital
    for i, day in enumerate(days):
        ts = datetime(2026, 1, 1, 9, 0) + timedelta(days=7 * i)
        run_id = f"run{i + 1:03d}"
        prices = close.loc[day]
        if deposit_week is not None and i == deposit_week:
            flow_ts = ts - timedelta(days=2)
            out["cashflows"].append(pd.DataFrame([{
                "timestamp": pd.Timestamp(flow_ts), "type": "DEPOSIT", "amount": deposit,
                "note": "top-up", "run_id": None, "as_of": pd.Timestamp(day) - pd.Timedelta(days=2)}], columns=CASH_COLS))
            cash += deposit
        trades = []
        rebalance = i == 0 or (i % 4 == 0)
        if rebalance:
            total = cash + float((shares * prices).sum())
            want = np.floor(target * total * 0.98 / prices)
            if i > 0:  # rotate a little so there are sells too
                want.iloc[0] = max(want.iloc[0] - 20, 0)
                want.iloc[1] = want.iloc[1] + 15
            delta = want - shares
            executed = (i < weeks - 1) or last_executed
            for t, d in delta.items():
                if d == 0:
                    continue
                trades.append({"timestamp": pd.Timestamp(ts), "ticker": t, "action": "BUY" if d > 0 else "SELL",
                               "shares": abs(d), "price": float(prices[t]), "value": abs(d) * float(prices[t]),
                               "executed": executed, "run_id": run_id, "as_of": pd.Timestamp(day),
                               "est_cost": abs(d) * float(prices[t]) * 0.001, "note": ""})
            if executed:
                cash -= float((delta * prices).sum())
                shares = want
        held = shares if (shares > 0).any() else np.floor(target * capital * 0.98 / prices)
        values = held * prices
        invested = float((shares * prices).sum())
        total_value = cash + invested
        weights = values / max(total_value, 1.0)
        pos = pd.DataFrame({
            "timestamp": pd.Timestamp(ts), "ticker": list(tickers), "weight": weights.to_numpy(),
            "value": values.to_numpy(), "shares": held.to_numpy(), "price": prices.to_numpy(),
            "factor_score": np.round(rng.normal(0.5, 0.4, len(tickers)), 4), "run_id": run_id,
            "as_of": pd.Timestamp(day), "target_weight": target.to_numpy(), "current_weight": weights.to_numpy()})
        out["positions"].append(pos[POSITIONS_COLS])
        tr = pd.DataFrame(trades, columns=TRADES_COLS)
        out["trades"].append(tr)
        pending_value = float(tr.loc[~tr["executed"].astype(bool), "value"].sum()) if len(tr) else 0.0
        out["performance"].append(pd.DataFrame([{
            "timestamp": pd.Timestamp(ts), "total_value": total_value, "num_positions": len(tickers),
            "expected_return": 0.11, "expected_volatility": 0.16, "expected_sharpe": 0.11 / 0.16,
            "run_id": run_id, "as_of": pd.Timestamp(day), "cash": cash, "invested_value": invested,
            "pending_value": pending_value, "drift": 0.01, "benchmark": bench.name,
            "benchmark_close": float(bench.loc[day])}], columns=PERF_COLS))
        out["metadata"].append(pd.DataFrame([{
            "timestamp": pd.Timestamp(ts), "rebalanced": rebalance, "optimizer": "mvo", "drift_threshold": 0.05,
            "capital": capital, "num_positions": len(tickers), "run_id": run_id, "as_of": pd.Timestamp(day),
            "drift": 0.01, "cash": cash, "data_source": "sample", "data_as_of": pd.Timestamp(day),
            "optimizer_used": "mvo", "fallback_reason": "", "dropped_tickers": "", "superseded_run": "",
            "version": "0.1.0"}], columns=META_COLS))
    return out


def ledger_from_weeks(weeks: dict[str, list[pd.DataFrame]]) -> FakeLedger:
    cols = {"positions": POSITIONS_COLS, "trades": TRADES_COLS, "performance": PERF_COLS,
            "metadata": META_COLS, "cashflows": CASH_COLS}
    frames = {}
    for name, parts in weeks.items():
        parts = [p for p in parts if len(p)]
        frames[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols[name])
    return FakeLedger(**frames)


def market_frame(sample_close: pd.DataFrame, *, end: str, vix: bool = True) -> pd.DataFrame:
    """The market file the weekly run writes: benchmark column (+ VIX), daily, up to ``end``."""
    close = sample_close.loc[:end, ["MTUM", "QUAL", "VLUE", "USMV", "SIZE", "AAPL", "JNJ", "XOM"]].dropna()
    frame = close.mean(axis=1).rename("S&P 500 index (SPY stand-in)").to_frame()
    if vix:
        rv = np.log(frame.iloc[:, 0]).diff().rolling(21).std() * np.sqrt(252) * 100 + 3.0
        frame["VIX"] = rv
    return frame.dropna()




def write_workbook(path, weeks: dict[str, list[pd.DataFrame]], *, backups_dir) -> None:
    """Append the weeks one by one with etftrader.workbook.append_week, as weekly runs would."""
    from etftrader.workbook import append_week

    n = len(weeks["performance"])
    for i in range(n):
        day = weeks["performance"][i]["as_of"].iloc[0]
        prev = weeks["performance"][i - 1]["as_of"].iloc[0] if i else pd.Timestamp.min
        flows = [c for c in weeks["cashflows"] if len(c) and prev < c["as_of"].iloc[0] <= day]
        rows = {"Positions": weeks["positions"][i], "Trades": weeks["trades"][i],
                "Performance": weeks["performance"][i], "Metadata": weeks["metadata"][i]}
        if flows:
            rows["CashFlows"] = pd.concat(flows, ignore_index=True)
        append_week(path, rows, backups_dir=backups_dir, keep=0)
