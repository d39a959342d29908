"""A simulated account: cash and shares, fills with costs, marks to market."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping, Sequence
import numpy as np
import pandas as pd
from ..labels import F64, OBJ


@functools.lru_cache(maxsize=1)
def _holdings_template():
    from ..holdings import Holdings

    return Holdings.all_cash(0.0)


class _Book:
    """One strategy's simulated account: whole shares by ticker and cash, plus its history."""

    def __init__(self, capital: float):
        self.shares: dict[str, float] = {}
        self.cash = float(capital)
        self.history: list[tuple[pd.Timestamp, dict[str, float], float]] = []
        self._holdings = None  # holdings() until the next trade (most weeks trade nothing)

    def holdings(self):
        """This account as the weekly pipeline sees holdings (everything executed, nothing pending)."""
        if self._holdings is not None:
            return self._holdings
        if self.shares:
            # Built in ticker order (the same Series as from the dict, then sort_index; 3x cheaper).
            tickers = sorted(self.shares)
            # Object labels, as the backtest's loop works with (etftrader.labels).
            shares = pd.Series(np.array([self.shares[t] for t in tickers], dtype=F64),
                               index=pd.Index(tickers, dtype=OBJ), name="shares")
        else:
            shares = pd.Series([], index=pd.Index([], dtype=object), dtype=F64, name="shares")
        # replace() reuses the template's empty pending/superseded frames: building fresh empty
        # frames every week costs more than the rest of this bookkeeping.
        self._holdings = dataclasses.replace(_holdings_template(), shares=shares, cash=self.cash)
        return self._holdings

    def execute(self, plan) -> None:
        """Fill every trade the plan proposes at its price (the day's close), costs paid in cash.

        The account becomes the plan's ``shares_after`` and ``cash_after``: the weekly trade list
        already states what holding and cash every proposed trade leads to.
        """
        self._holdings = None
        self.shares = {str(t): float(n) for t, n in plan.shares_after.items() if n}
        self.cash = float(plan.cash_after)

    def fill(self, trades: Sequence[Mapping[str, Any]], prices: Mapping[str, float], rules,
             costs=None) -> list[tuple]:
        """Fill ``trades`` (decided earlier; a plan's ``trade_rows``) at ``prices``: sells first,
        then buys within the cash.

        Shares are those decided; a sell never takes more than is held; when the buys cost more at
        these prices than the cash there is, every buy is scaled back by the same factor and
        rounded down, so cash never goes below zero. Returns the fills as rows ``(ticker, action,
        shares, price, value, est_cost)`` at the prices used (the loop builds one frame of all
        of them at the end).
        """
        from ..rebalance import estimate_cost

        self._holdings = None

        def cost_of(ticker, value, n):
            if costs is not None:  # the week's cost model, as the weekly run estimated it
                return float(costs(ticker, value, n))
            return float(estimate_cost(value, n, cost_bps=rules.cost_bps, cost_per_share=rules.cost_per_share))

        rows = []
        # The columns as plain lists: iterating a frame's rows is slow, and every book fills every week.
        planned = [(r["ticker"], r["action"], float(r["shares"])) for r in trades]
        for ticker, action, shares in planned:
            px = prices.get(ticker, math.nan)
            if action != "SELL" or not (px == px and px > 0):
                continue
            n = min(shares, self.shares.get(ticker, 0.0))
            if n <= 0:
                continue
            value = n * px
            rows.append((ticker, "SELL", n, px, value, cost_of(ticker, value, n)))
            self.cash += value - rows[-1][-1]
            left = self.shares.pop(ticker) - n  # what is left goes to the end of the dict's order
            if left > 1e-9:
                self.shares[ticker] = left
        buys = [(ticker, shares, prices.get(ticker, math.nan)) for ticker, action, shares in planned
                if action == "BUY"]
        buys = [(t, n, px) for t, n, px in buys if px == px and px > 0]
        need = sum(n * px + cost_of(t, n * px, n) for t, n, px in buys)
        factor = min(1.0, max(self.cash, 0.0) / need) if need > 0 else 1.0
        for t, n, px in buys:
            n = float(math.floor(n * factor + 1e-9)) if factor < 1.0 else n
            if n < 1:
                continue
            value = n * px
            c = cost_of(t, value, n)
            if value + c > self.cash + 1e-9:  # rounding: never below zero
                n = float(math.floor((self.cash / (px * (1 + rules.cost_bps / 1e4) + rules.cost_per_share))))
                while n >= 1 and n * px + cost_of(t, n * px, n) > self.cash + 1e-9:
                    n -= 1.0  # the model's minimum, spread or impact: one share less until it fits
                if n < 1:
                    continue
                value, c = n * px, cost_of(t, n * px, n)
            rows.append((t, "BUY", n, px, value, c))
            self.cash -= value + c
            self.shares[t] = self.shares.get(t, 0.0) + n
        return rows

    def value(self, marks_today: Mapping[str, float]) -> float:
        """Cash plus the shares at ``marks_today`` (ticker -> close)."""
        return self.cash + sum(n * marks_today[t] for t, n in self.shares.items())

    def mark(self, day: pd.Timestamp) -> None:
        """Remember what is held from ``day``'s close on (for the daily valuation)."""
        self.history.append((day, dict(self.shares), self.cash))

    def idle(self, name: str, day: pd.Timestamp, marks_today: Mapping[str, float], note: str) -> dict[str, Any]:
        """A week without a decision: holdings carried, the reason recorded."""
        self.mark(day)
        return {"strategy": name, "date": day, "drift": math.nan, "threshold": math.nan,
                "rebalanced": False, "trades": 0, "skipped": 0, "traded_value": 0.0, "costs": 0.0,
                "cash": self.cash, "value": self.value(marks_today), "method": "", "note": note,
                "controls": ""}


def _equity(books: Mapping[str, _Book], strategies: Sequence[str], marks: pd.DataFrame) -> pd.DataFrame:
    """Daily values of every book: the holdings after each decision, marked at each day's close."""
    columns = {}
    prices = marks.fillna(0.0)  # the same for every book
    for name in strategies:
        history = list({h[0]: h for h in books[name].history}.values())  # a day's last state
        days = pd.DatetimeIndex([h[0] for h in history])
        # Shares by day and ticker, 0 where none are held (what a frame of the dicts, NaN filled
        # with 0, holds), written into one array by position.
        at = {t: j for j, t in enumerate(marks.columns.tolist())}
        held = np.zeros((len(history), len(at)), dtype=F64)
        for i, h in enumerate(history):
            if h[1]:
                held[i, [at[t] for t in h[1]]] = list(h[1].values())
        shares = pd.DataFrame(held, index=days, columns=marks.columns)
        cash = pd.Series([h[2] for h in history], index=days, dtype=F64)
        shares = shares.reindex(marks.index, method="ffill").fillna(0.0)
        cash = cash.reindex(marks.index, method="ffill")
        columns[name] = (shares * prices).sum(axis=1) + cash
    equity = pd.DataFrame(columns, index=marks.index)
    equity.index.name = "date"
    return equity


def _buy_and_hold(series: pd.Series, dates: pd.DatetimeIndex, capital: float) -> pd.Series:
    """``capital`` invested in ``series`` at the first date, valued daily (forward-filled)."""
    level = series.astype(F64).reindex(series.index.union(dates)).ffill().reindex(dates)
    first = level.dropna()
    if first.empty:
        return pd.Series(np.nan, index=dates)
    return capital * level / first.iloc[0]
