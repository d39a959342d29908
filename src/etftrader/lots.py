"""Tax lots from the ledger: which shares were bought when and at what cost, and what selling did.

Every executed BUY opens a lot (its shares, the week it was bought, or the ``acquired`` date an
imported lot carries, its cost per share including its share of the trade's estimated cost). A lot
is named by its ticker and acquisition date, ``SPY-2021-03-05`` (``-2``, ``-3`` for a second and
third lot of the same day): the name stays the same however many trades come later. Every executed
SELL closes shares of open lots: first the lots its ``lot`` cell names, if the analyst filled it
(``SPY-2021-03-05`` takes what that lot has, up to the sell's shares; ``SPY-2021-03-05: 10,
SPY-2022-01-07: 5`` takes those shares of each), then, for shares the cell does not cover, the
other lots in the order of ``[tax] lot_method`` (a lot given a share count gives no more):

- ``fifo`` (the default): oldest lot first;
- ``hifo``: highest cost per share first (the least gain, or the largest loss, first);
- ``tax_aware``: the sell that realises the least tax first: lots at a loss (largest loss first),
  then long-term lots (highest cost first), then short-term lots (highest cost first).

Each closed piece is a realised gain: proceeds (net of the sell's estimated cost) minus its cost,
long-term when held more than ``long_term_days`` (365 by default). The weekly run rewrites the
workbook's Lots sheet with the open lots, and reports the realised gains of the year, what this
week's proposed sells would realise, BUYs that would be wash sales (a ticker sold at a loss in the
last 30 days) and the lots worth harvesting (a loss beyond ``harvest_threshold``). No trade is
ever made for tax reasons alone.

A ``lot`` cell naming a lot the ticker never had, one already sold, or more shares than it holds,
or a ``lot`` on an executed BUY, stops the run with one line naming the sheet, the cell and the
value, before anything is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import WorkbookError
from .workbook.schema import GAINS_COLUMNS, LOTS_COLUMNS

__all__ = ["LOT_METHODS", "LOTS_COLUMNS", "Lots", "build_lots", "gains_rows", "harvest_candidates", "lots_rows",
           "sell_preview", "trade_lots", "wash_sales"]

LOT_METHODS = ("fifo", "hifo", "tax_aware")
#: days after a loss in which buying the ticker back is a wash sale (the US rule)
WASH_SALE_DAYS = 30


@dataclass(frozen=True)
class Lots:
    """Open lots and realised gains.

    Attributes
    ----------
    open : DataFrame
        ``ticker, lot, acquired, shares, cost_per_share`` of every lot with shares left.
    realised : DataFrame
        ``ticker, lot, acquired, sold, shares, proceeds, cost, gain, days_held, term`` of every
        piece of a lot a SELL closed.
    """

    open: pd.DataFrame
    realised: pd.DataFrame

    def realised_by_year(self) -> pd.DataFrame:
        """Realised gains per calendar year of the sale: short-term, long-term and total."""
        r = self.realised
        if r.empty:
            return pd.DataFrame(columns=["short_term", "long_term", "total"], index=pd.Index([], name="year"))
        table = r.assign(year=pd.to_datetime(r["sold"]).dt.year).pivot_table(
            index="year", columns="term", values="gain", aggfunc="sum", fill_value=0.0)
        out = pd.DataFrame({"short_term": table.get("short", 0.0), "long_term": table.get("long", 0.0)},
                           index=table.index)
        out["total"] = out["short_term"] + out["long_term"]
        return out


def _executed(ledger: Any) -> pd.DataFrame:
    from .monitoring.trades import _trades

    t = _trades(ledger)
    if t.empty:
        return t
    t = t.loc[t["executed"]].copy()
    t["ticker"] = t["ticker"].astype(str).str.strip().str.upper()
    t["shares"] = pd.to_numeric(t["shares"], errors="coerce").fillna(0.0)
    t["price"] = pd.to_numeric(t["price"], errors="coerce")
    t["est_cost"] = pd.to_numeric(t.get("est_cost", 0.0), errors="coerce").fillna(0.0)
    t["acquired"] = pd.to_datetime(t["acquired"], errors="coerce") if "acquired" in t.columns else pd.NaT
    t["lot"] = t["lot"].where(t["lot"].notna(), "").astype(str).str.strip() if "lot" in t.columns else ""
    # namedtuples rename a field with a leading underscore: the Excel row travels as ``row``
    t["row"] = t["_row"] if "_row" in t.columns else None
    order = ["date"] + (["_row"] if "_row" in t.columns else [])
    return t.sort_values(order, kind="stable")


class _BadLot:
    """Names the cell of a SELL's ``lot`` the analyst filled in, for the one-line error."""

    def __init__(self, trades: Any):
        cells = getattr(trades, "attrs", {}).get("cells", {}) if trades is not None else {}
        self.sheet = cells.get("sheet", "Trades")
        self.file = cells.get("file", "the workbook")
        self.column = cells.get("columns", {}).get("lot")

    def __call__(self, row: Any, value: str, why: str) -> WorkbookError:
        r = getattr(row, "row", None)
        where = f"{self.sheet}!{self.column}{int(r)}" if self.column and r is not None and r == r else self.sheet
        return WorkbookError(f"{where} (lot) {why}, got {value!r}; name open lots of the ticker as the Lots sheet "
                             f"shows them (e.g. SPY-2021-03-05 or SPY-2021-03-05: 10), fix the cell in "
                             f"{self.file} and run again")


_SPEC = re.compile(r"^\s*([^:=\s][^:=]*?)\s*(?:[:=]\s*([^\s].*?))?\s*$")


def shares_text(x: float) -> str:
    """Shares as a person reads and types them: ``10``, ``10.123456``, ``2000000`` (no exponent,
    no thousands separator, at most six decimals)."""
    x = float(x)
    if x == int(x):
        return str(int(x))
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _lot_spec(text: str) -> list[tuple[str, str | None]]:
    """``"A: 10, B"`` -> ``[("A", "10"), ("B", None)]`` (lot names upper case). Lots are separated
    by ``;``, a new line or a comma; a comma between digits (``1,000``) is a thousands separator."""
    out = []
    for part in re.split(r"[;\n]|,(?!\d{3}(?!\d))", text):
        if not part.strip():
            continue
        m = _SPEC.match(part)
        if m is None:
            out.append((part.strip().upper(), "?"))
        else:
            out.append((m.group(1).strip().upper(), m.group(2)))
    return out


def _term(days: int, long_term_days: int) -> str:
    return "long" if days > long_term_days else "short"


def _order(lots: list[dict], method: str, price: float, day: pd.Timestamp, long_term_days: int) -> list[dict]:
    if method == "hifo":
        return sorted(lots, key=lambda lot: (-lot["cost_per_share"], lot["acquired"]))
    if method == "tax_aware":
        def key(lot):
            gain = price - lot["cost_per_share"]
            long = (day - lot["acquired"]).days > long_term_days
            return (0 if gain < 0 else 1 if long else 2, gain if gain < 0 else -lot["cost_per_share"], lot["acquired"])
        return sorted(lots, key=key)
    return sorted(lots, key=lambda lot: lot["acquired"])  # stable: same-day lots in the order bought


def build_lots(ledger: Any, *, method: str = "fifo", long_term_days: int = 365) -> Lots:
    """The open lots and realised gains of the ledger's executed trades, in date order.

    Raises
    ------
    WorkbookError
        A SELL's ``lot`` cell names a lot the ticker never had or has no shares left in, asks for
        more shares than the lot holds, or cannot be read (the message names the cell).
    """
    if method not in LOT_METHODS:
        raise ValueError(f"`lot_method` must be one of {', '.join(LOT_METHODS)}, got {method!r}")
    open_lots: dict[str, list[dict]] = {}
    closed: dict[str, set[str]] = {}
    realised: list[dict] = []
    seen: dict[str, int] = {}
    bad = _BadLot(getattr(ledger, "trades", ledger))
    for row in _executed(ledger).itertuples():
        ticker, n, price, day = row.ticker, float(row.shares), float(row.price), pd.Timestamp(row.date)
        if not (n > 0 and math.isfinite(price)):
            continue
        if row.action == "BUY":
            if row.lot:
                raise bad(row, row.lot, "is filled on a BUY; a BUY opens a lot of its own (named by ticker and "
                                        "date on the Lots sheet), so leave the cell blank")
            acquired = pd.Timestamp(row.acquired) if pd.notna(row.acquired) else day
            name = f"{ticker}-{acquired:%Y-%m-%d}"
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name}-{seen[name]}"
            open_lots.setdefault(ticker, []).append({
                "ticker": ticker, "lot": name, "acquired": acquired, "shares": n,
                "cost_per_share": (n * price + float(row.est_cost)) / n})
        elif row.action == "SELL":
            fee_per_share = float(row.est_cost) / n
            held = open_lots.get(ticker, [])
            picks = _picked(row, ticker, n, held, closed.get(ticker, set()), bad) if row.lot else []
            left = n
            # The named lots first; the rest by the method, from the lots not given a share count
            # (a lot named with a count gives exactly that many).
            counted = {id(lot) for lot, wanted in picks if wanted is not None}
            # counted lots give their counts first, then named lots without a count cover the rest
            order = ([p for p in picks if p[1] is not None] + [p for p in picks if p[1] is None]
                     + [(lot, None) for lot in _order(held, method, price, day, long_term_days)
                        if id(lot) not in counted])
            for lot, wanted in order:
                if left <= 1e-9:
                    break
                take = min(lot["shares"], left, wanted if wanted is not None else math.inf)
                if take <= 1e-9:
                    continue
                days = int((day - lot["acquired"]).days)
                proceeds = take * (price - fee_per_share)
                cost = take * lot["cost_per_share"]
                realised.append({"ticker": ticker, "lot": lot["lot"], "acquired": lot["acquired"], "sold": day,
                                 "shares": take, "proceeds": proceeds, "cost": cost, "gain": proceeds - cost,
                                 "days_held": days, "term": _term(days, long_term_days)})
                lot["shares"] -= take
                left -= take
            if left > 5e-7 and counted:
                asked = sum(w for _, w in picks if w is not None)
                raise bad(row, row.lot, f"names {shares_text(asked)} shares of a SELL of {shares_text(n)} and leaves "
                                        "no other lot for the rest; name the lots of all the shares sold")
            for lot in held:
                if lot["shares"] <= 1e-9:
                    closed.setdefault(ticker, set()).add(lot["lot"])
            open_lots[ticker] = [lot for lot in held if lot["shares"] > 1e-9]
    rows = [lot for lots in open_lots.values() for lot in lots]
    open_frame = pd.DataFrame(rows, columns=["ticker", "lot", "acquired", "shares", "cost_per_share"])
    realised_frame = pd.DataFrame(realised, columns=["ticker", "lot", "acquired", "sold", "shares", "proceeds",
                                                     "cost", "gain", "days_held", "term"])
    return Lots(open=open_frame, realised=realised_frame)


def _picked(row: Any, ticker: str, n: float, held: list[dict], closed: set[str], bad: _BadLot
            ) -> list[tuple[dict, float | None]]:
    """The lots a SELL's ``lot`` cell names, with the shares asked of each (None: as many as needed)."""
    by_name = {lot["lot"].upper(): lot for lot in held}
    picks: list[tuple[dict, float | None]] = []
    asked = 0.0
    for name, count in _lot_spec(row.lot):
        if name in {p[0]["lot"].upper() for p in picks}:
            raise bad(row, row.lot, f"names lot {name} twice")
        lot = by_name.get(name)
        if lot is None:
            if name in {c.upper() for c in closed}:
                raise bad(row, row.lot, f"names lot {name}, which was already sold before "
                                        f"{pd.Timestamp(row.date).date()}")
            names = ", ".join(l["lot"] for l in held) or "none"
            raise bad(row, row.lot, f"names lot {name}, which is not an open lot of {ticker} "
                                    f"(open on {pd.Timestamp(row.date).date()}: {names})")
        shares = None
        if count is not None:
            try:
                shares = float(str(count).replace(",", ""))
            except ValueError:
                shares = math.nan
            if not (math.isfinite(shares) and shares > 0):
                raise bad(row, row.lot, f"asks lot {name} for {count!r} shares, which is not a positive number")
            if shares > lot["shares"] + 5e-7:  # the six decimals the tool shows
                raise bad(row, row.lot, f"asks lot {name} for {shares_text(shares)} shares, but it holds "
                                        f"{shares_text(lot['shares'])}")
            shares = min(shares, lot["shares"])
            asked += shares
        picks.append((lot, shares))
    if asked > n + 5e-7:
        raise bad(row, row.lot, f"asks for {shares_text(asked)} shares in all, but the SELL is of {shares_text(n)}")
    return picks


def lots_rows(lots: Lots, prices: Any, as_of: Any, long_term_days: int = 365) -> pd.DataFrame:
    """The Lots sheet: every open lot at the week's prices, with its unrealised gain and term."""
    day = pd.Timestamp(as_of)
    o = lots.open
    if o.empty:
        return pd.DataFrame(columns=LOTS_COLUMNS)
    price = o["ticker"].map(lambda t: float(prices.get(t, math.nan)) if hasattr(prices, "get") else math.nan)
    days = (day - pd.to_datetime(o["acquired"])).dt.days
    cost = o["shares"] * o["cost_per_share"]
    value = o["shares"] * price
    return pd.DataFrame({
        "as_of": day, "ticker": o["ticker"], "lot": o["lot"], "acquired": pd.to_datetime(o["acquired"]),
        "shares": o["shares"], "cost_per_share": o["cost_per_share"], "cost": cost, "price": price,
        "value": value, "unrealised": value - cost, "unrealised_pct": (value - cost) / cost,
        "days_held": days, "term": [_term(int(d), long_term_days) for d in days],
    })[LOTS_COLUMNS].reset_index(drop=True)


def sell_preview(lots: Lots, trades: pd.DataFrame, as_of: Any, *, method: str = "fifo",
                 long_term_days: int = 365) -> pd.DataFrame:
    """What this week's proposed SELLs would realise, lot by lot, if executed at their prices."""
    if trades is None or trades.empty or lots.open.empty:
        return pd.DataFrame(columns=["ticker", "lot", "shares", "gain", "term"])
    day = pd.Timestamp(as_of)
    book: dict[str, list[dict]] = {}
    for lot in lots.open.to_dict("records"):
        book.setdefault(lot["ticker"], []).append(dict(lot))
    rows = []
    for r in trades.loc[trades["action"] == "SELL"].itertuples():
        left, price = float(r.shares), float(r.price)
        fee = float(getattr(r, "est_cost", 0.0) or 0.0) / max(float(r.shares), 1e-12)
        for lot in _order(book.get(str(r.ticker), []), method, price, day, long_term_days):
            if left <= 1e-9:
                break
            take = min(lot["shares"], left)
            days = int((day - pd.Timestamp(lot["acquired"])).days)
            rows.append({"ticker": str(r.ticker), "lot": lot["lot"], "shares": take,
                         "gain": take * (price - fee - lot["cost_per_share"]), "term": _term(days, long_term_days)})
            lot["shares"] -= take
            left -= take
    return pd.DataFrame(rows, columns=["ticker", "lot", "shares", "gain", "term"])


def wash_sales(lots: Lots, trades: pd.DataFrame, as_of: Any, days: int = WASH_SALE_DAYS) -> list[str]:
    """Tickers this week's BUYs would buy back within ``days`` of selling them at a loss."""
    r = lots.realised
    if trades is None or trades.empty or r.empty:
        return []
    day = pd.Timestamp(as_of)
    recent = r.loc[(r["gain"] < 0) & ((day - pd.to_datetime(r["sold"])).dt.days <= days)]
    buys = set(trades.loc[trades["action"] == "BUY", "ticker"].astype(str))
    return sorted(buys & set(recent["ticker"].astype(str)))


def harvest_candidates(rows: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Open lots (of :func:`lots_rows`) with an unrealised loss beyond ``threshold`` of their cost."""
    if rows.empty:
        return rows
    return rows.loc[rows["unrealised_pct"] < -abs(threshold)].sort_values("unrealised").reset_index(drop=True)


def summary(lots: Lots, preview: pd.DataFrame, washes: list[str], year: int) -> dict[str, Any]:
    """The figures the weekly summary and ``--json`` carry."""
    by_year = lots.realised_by_year()
    this_year = by_year.loc[year] if year in by_year.index else pd.Series({"short_term": 0.0, "long_term": 0.0,
                                                                         "total": 0.0})
    gains = preview.groupby("term")["gain"].sum() if len(preview) else pd.Series(dtype=float)
    return {
        "realised_this_year": {k: float(this_year[k]) for k in ("short_term", "long_term", "total")},
        "week_sells_realise": {"short_term": float(gains.get("short", 0.0)), "long_term": float(gains.get("long", 0.0)),
                               "total": float(np.sum(gains.to_numpy())) if len(gains) else 0.0},
        "wash_sales": list(washes),
    }


def trade_lots(trades: pd.DataFrame, preview: pd.DataFrame, washes: Any = ()) -> pd.DataFrame:
    """Per row of a plan's ``trades`` (same index): ``est_lots`` (``"SPY-2021-03-05 x 10; ..."``),
    ``est_gain`` (what the SELL would realise) and ``lots`` (the same as records: lot, shares, gain,
    term); blank, NaN and an empty list for BUYs. A BUY of a ticker in ``washes`` (of
    :func:`wash_sales`) gets ``wash_sale`` True and a ``note`` saying so."""
    out = pd.DataFrame({"est_lots": "", "est_gain": math.nan, "wash_sale": False, "note": ""}, index=trades.index)
    out["lots"] = pd.Series([[] for _ in range(len(trades))], index=trades.index, dtype=object)
    if trades.empty:
        return out
    washed = (trades["action"] == "BUY") & trades["ticker"].astype(str).isin(set(map(str, washes)))
    out.loc[washed, "wash_sale"] = True
    out.loc[washed, "note"] = (f"wash sale: sold at a loss in the last {WASH_SALE_DAYS} days; "
                               "the loss may not be deductible")
    if preview.empty:
        return out
    for ticker, group in preview.groupby("ticker", sort=False):
        mask = (trades["action"] == "SELL") & (trades["ticker"].astype(str) == ticker)
        used = [{"lot": str(r.lot), "shares": float(r.shares), "gain": float(r.gain), "term": str(r.term)}
                for r in group.itertuples()]
        out.loc[mask, "est_lots"] = "; ".join(f"{u['lot']} x {shares_text(u['shares'])}" for u in used)
        out.loc[mask, "est_gain"] = float(group["gain"].sum())
        for i in out.index[mask]:
            out.at[i, "lots"] = used
    return out


def gains_rows(lots: Lots, as_of: Any) -> pd.DataFrame:
    """The Gains sheet: realised gains per calendar year of the sale, short- and long-term."""
    r = lots.realised
    if r.empty:
        return pd.DataFrame(columns=GAINS_COLUMNS)
    frame = r.assign(year=pd.to_datetime(r["sold"]).dt.year)
    rows = []
    for year, g in frame.groupby("year"):
        short, long = g.loc[g["term"] == "short", "gain"], g.loc[g["term"] == "long", "gain"]
        rows.append({"as_of": pd.Timestamp(as_of), "year": int(year), "short_term": float(short.sum()),
                     "long_term": float(long.sum()), "total": float(g["gain"].sum()),
                     "losses": float(g.loc[g["gain"] < 0, "gain"].sum()), "proceeds": float(g["proceeds"].sum()),
                     "cost": float(g["cost"].sum()), "lots_sold": int(g["lot"].nunique())})
    return pd.DataFrame(rows, columns=GAINS_COLUMNS)
