"""The analyst's Monday at a glance: the "This week" panel and what is held now, from the ledger.

Everything here reads the workbook (and the weekly run's side files, when they belong to the same
week) and returns plain frames and text for the monitoring notebook; nothing is written.

- :func:`trade_status`: every trade is ``executed``, ``pending`` (the latest run's, not yet done)
  or ``superseded`` (an earlier run's that was never done and no longer counts).
- :func:`held_now`: what the executed trades hold at the as-of prices, with the average cost and
  the unrealised gain of each position, cash as a position of its own.
- :func:`week_panel`: the week's decision: value, cash, returns against the benchmark, drift against
  the threshold, what the turnover controls did, the trades to place and every warning.

Why one module of this size: the panel, what is held now, the Holdings sheet and the tax tables
are all views of one week of the ledger for the notebook, built from the same helpers.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["STATUSES", "WeekPanel", "held_now", "panel_html", "read_side_file", "read_week_prices",
           "trade_status", "week_panel"]

#: the status of a trade, in the order the report lists them
STATUSES = ("executed", "pending", "superseded")


def read_side_file(path: str | Path | None, as_of: str | None = None) -> dict[str, Any] | None:
    """The weekly run's side file (``data/week_latest.json``), or None.

    None when there is no file, it cannot be read, or it belongs to another week than ``as_of``
    (a report of an earlier week must not show this week's warnings or frontier).
    """
    if not path:
        return None
    try:
        side = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(side, dict) or (as_of and side.get("as_of") != str(as_of)):
        return None
    return side


def read_week_prices(path: str | Path | None, as_of: str | None = None) -> pd.DataFrame | None:
    """Daily closes the weekly run saved for the tickers held, targeted or traded (``data/prices_latest.parquet``),
    up to ``as_of``; None when missing or unreadable."""
    if not path or not Path(path).is_file():
        return None
    try:
        frame = pd.read_parquet(path)
    except Exception:  # noqa: BLE001 - a damaged side file only costs the report its own-price figures
        return None
    frame.index = pd.DatetimeIndex(frame.index)
    return frame.loc[: pd.Timestamp(as_of)] if as_of else frame


def trade_status(ledger: Any) -> pd.DataFrame:
    """Every trade with its ``status``: executed, pending (the latest run's) or superseded.

    Returns
    -------
    DataFrame
        The Trades rows with ``date`` (the run's as-of), ``run``, ``value`` (absolute) and
        ``status`` columns, oldest first.
    """
    from .monitoring.portfolio import latest_run
    from .monitoring.trades import _trades

    t = _trades(ledger)
    if t.empty:
        return t.assign(status=pd.Series(dtype=object), run=pd.Series(dtype=object))
    run = latest_run(ledger)
    t["status"] = np.where(t["executed"], "executed", np.where(t["run"] == run, "pending", "superseded"))
    return t.sort_values("date", kind="stable").reset_index(drop=True)


def held_now(ledger: Any, prices: pd.DataFrame | None = None, as_of: Any = None,
             used: dict[str, float] | None = None) -> pd.DataFrame:
    """What the executed trades hold, valued at the as-of prices, with cash as a position.

    Parameters
    ----------
    ledger : Ledger
        Filtered to the week shown (:func:`etftrader.monitoring.filter_as_of`).
    prices : DataFrame, optional
        Daily closes (the weekly run's ``prices_latest.parquet``); a ticker without a close there
        is valued at the latest price the ledger records for it (a Positions or Trades row of the
        latest run, else its last executed trade), and ``price_date`` says which.
    as_of : date-like, optional
        The valuation day (default: the latest run's as-of).
    used : mapping of ticker to price, optional
        The prices the weekly run valued the week at (its side file): they win, so a price the
        run's guard set aside is not brought back here.

    Returns
    -------
    DataFrame indexed by ticker (``Cash`` last)
        ``shares, price, price_date, value, weight, cost, unrealised, unrealised_pct``; weights
        are of the whole portfolio, cash included. ``cost`` is the average cost of the shares held
        (buys at their executed price plus their estimated cost; sells take shares out at the
        average). Empty when nothing was ever held and no cash is recorded.
    """
    from .holdings import holdings_from_ledger
    from .monitoring.ledger import _row_dates, _run_ids
    from .monitoring.portfolio import latest_run

    held = holdings_from_ledger(ledger)
    shares = held.shares[held.shares > 1e-9]
    run = latest_run(ledger)
    day = pd.Timestamp(as_of) if as_of is not None else None
    if day is None and getattr(ledger, "performance", None) is not None and len(ledger.performance):
        day = pd.to_datetime(_row_dates(ledger.performance)).max()
    rows = []
    used = used or {}
    for ticker, count in shares.items():
        if str(ticker) in used and math.isfinite(float(used[str(ticker)])):
            rows.append({"ticker": str(ticker), "shares": float(count), "price": float(used[str(ticker)]),
                         "price_date": day})
            continue
        price, when = _price_of(str(ticker), ledger, prices, day, run, _row_dates, _run_ids, held.last_price)
        rows.append({"ticker": str(ticker), "shares": float(count), "price": price, "price_date": when})
    frame = pd.DataFrame(rows, columns=["ticker", "shares", "price", "price_date"]).set_index("ticker")
    frame["value"] = frame["shares"] * frame["price"]
    frame["cost"] = _average_cost(ledger).reindex(frame.index)
    frame["unrealised"] = frame["value"] - frame["cost"]
    frame["unrealised_pct"] = frame["unrealised"] / frame["cost"]
    cash = float(held.cash)
    total = float(frame["value"].sum()) + cash
    frame = frame.sort_values("value", ascending=False, kind="stable")
    cash_row = pd.DataFrame({"shares": [np.nan], "price": [np.nan], "price_date": [day], "value": [cash],
                             "cost": [np.nan], "unrealised": [np.nan], "unrealised_pct": [np.nan]},
                            index=pd.Index(["Cash"], name="ticker"))
    frame = pd.concat([frame, cash_row]) if len(frame) else cash_row
    frame["weight"] = frame["value"] / total if total > 0 else np.nan
    frame.attrs.update(total_value=total, cash=cash, as_of=day)
    return frame[["shares", "price", "price_date", "value", "weight", "cost", "unrealised", "unrealised_pct"]]


def _price_of(ticker, ledger, prices, day, run, row_dates, run_ids, last_executed):
    if prices is not None and ticker in prices.columns:
        column = prices[ticker].dropna()
        if day is not None:
            column = column.loc[:day]
        if len(column):
            return float(column.iloc[-1]), column.index[-1]
    for sheet in ("positions", "trades"):
        frame = getattr(ledger, sheet, None)
        if frame is None or frame.empty or run is None:
            continue
        mine = frame.loc[(run_ids(frame).to_numpy() == run) & (frame["ticker"].astype(str) == ticker)]
        value = pd.to_numeric(mine.get("price"), errors="coerce").dropna() if len(mine) else pd.Series(dtype=float)
        if len(value):
            return float(value.iloc[-1]), pd.Timestamp(row_dates(mine).iloc[-1])
    if ticker in last_executed.index:
        return float(last_executed[ticker]), pd.NaT
    return math.nan, pd.NaT


def _average_cost(ledger: Any) -> pd.Series:
    """Average cost of the shares held per ticker, from the executed trades in order."""
    from .monitoring.trades import _trades

    t = _trades(ledger)
    t = t.loc[t["executed"]] if len(t) else t
    cost: dict[str, float] = {}
    count: dict[str, float] = {}
    for row in t.sort_values("date", kind="stable").itertuples():
        ticker = str(row.ticker).strip().upper()
        shares = float(pd.to_numeric(row.shares, errors="coerce") or 0.0)
        price = float(pd.to_numeric(row.price, errors="coerce") or 0.0)
        fee = float(pd.to_numeric(getattr(row, "est_cost", 0.0), errors="coerce") or 0.0) \
            if hasattr(row, "est_cost") else 0.0
        fee = fee if math.isfinite(fee) else 0.0
        held = count.get(ticker, 0.0)
        if row.action == "BUY":
            cost[ticker] = cost.get(ticker, 0.0) + shares * price + fee
            count[ticker] = held + shares
        elif row.action == "SELL" and held > 0:
            cost[ticker] = cost.get(ticker, 0.0) * max(0.0, 1.0 - shares / held)
            count[ticker] = max(0.0, held - shares)
    return pd.Series(cost, dtype="float64")


@dataclass(frozen=True)
class WeekPanel:
    """The figures of the "This week" panel (every money figure in the portfolio's currency)."""

    as_of: str
    total_value: float
    cash: float
    cash_after: float
    week_return: float
    since_start: float
    benchmark: str
    benchmark_week: float
    benchmark_since: float
    weeks: int
    drift: float
    threshold: float
    rebalance: bool
    optimizer: str
    controls: str
    trades: pd.DataFrame
    buy_value: float
    sell_value: float
    costs: float
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def decision(self) -> str:
        if self.rebalance:
            return (f"Rebalance: drift {self.drift:.1%} is above the {self.threshold:.1%} threshold; place "
                    f"{len(self.trades)} trade{'s' if len(self.trades) != 1 else ''}")
        if len(self.trades):
            return (f"No rebalance (drift {self.drift:.1%} within the {self.threshold:.1%} threshold), "
                    f"but {len(self.trades)} trade{'s' if len(self.trades) != 1 else ''} to place")
        return f"No rebalance: drift {self.drift:.1%} is within the {self.threshold:.1%} threshold; nothing to trade"


def week_panel(ledger: Any, market: pd.DataFrame | None = None, side: dict[str, Any] | None = None) -> WeekPanel | None:
    """The latest run's decision and warnings (None for a ledger with no run yet)."""
    from .monitoring.ledger import _run_ids
    from .monitoring.performance import performance_series
    from .monitoring.portfolio import latest_run, run_table

    runs = run_table(ledger)
    run = latest_run(ledger)
    if runs.empty or run is None:
        return None
    perf = performance_series(ledger, market)
    # The latest run written (its trades are the pending ones), which is the latest week unless a
    # week was recorded later with an earlier --as-of.
    mine = runs.loc[runs["run"] == run]
    last = mine.iloc[-1] if len(mine) else runs.iloc[-1]
    day = mine.index[-1] if len(mine) else runs.index[-1]
    week = perf.loc[day] if day in perf.index else perf.iloc[-1]
    meta = ledger.metadata
    meta = meta.loc[_run_ids(meta).to_numpy() == run] if meta is not None and len(meta) else meta
    m = meta.iloc[-1] if meta is not None and len(meta) else pd.Series(dtype=object)
    status = trade_status(ledger)
    pending = status.loc[status["status"] == "pending"] if len(status) else status
    superseded = status.loc[status["status"] == "superseded"] if len(status) else status
    columns = [c for c in ("ticker", "action", "shares", "price", "value", "est_cost") if c in pending]
    trades = pending[columns].reset_index(drop=True)
    buy = float(trades.loc[trades["action"] == "BUY", "value"].sum()) if len(trades) else 0.0
    sell = float(trades.loc[trades["action"] == "SELL", "value"].sum()) if len(trades) else 0.0
    costs = float(pd.to_numeric(trades.get("est_cost"), errors="coerce").fillna(0.0).sum()) if len(trades) else 0.0

    cash = _number(last.get("cash"))
    warnings: list[str] = []
    if math.isfinite(cash) and cash < -0.005:
        warnings.append(f"Negative cash: {cash:,.2f} before this week's trades (more was bought than the "
                        "recorded cash and sells pay for); mark the sells you made as executed")
    if len(superseded):
        by_ticker = superseded.groupby("ticker")["value"].sum().sort_values(ascending=False)
        sells = superseded.loc[superseded["action"] == "SELL"]
        if len(sells):
            warnings.append(f"Unexecuted sells from earlier weeks: {len(sells)} worth {sells['value'].sum():,.2f} ("
                            + ", ".join(sorted(set(sells["ticker"].astype(str)))) + ")")
        warnings.append(f"Superseded trades (never executed, no longer count): {len(superseded)} worth "
                        f"{superseded['value'].sum():,.2f}: "
                        + ", ".join(f"{t} {v:,.0f}" for t, v in by_ticker.head(10).items())
                        + (" ..." if len(by_ticker) > 10 else ""))
    fallback = str(m.get("fallback_reason") or "").strip()
    if fallback and fallback.lower() != "nan":
        warnings.append(f"Optimizer fallback: {m.get('optimizer')} used {m.get('optimizer_used')} ({fallback})")
    for text in (side or {}).get("warnings", []):
        if text not in warnings and not text.lower().startswith("negative cash") and "cash is" not in text[:12]:
            warnings.append(str(text))
    controls = str(m.get("turnover_controls") or "").strip()
    return WeekPanel(
        as_of=f"{day:%Y-%m-%d}",
        total_value=_number(last.get("total_value")),
        cash=cash,
        cash_after=_number(m.get("cash")),
        week_return=_number(week["period_return"]) if len(perf) else math.nan,
        since_start=_number(week["cumulative_return"]) if len(perf) else math.nan,
        benchmark=str(perf.attrs.get("benchmark") or "benchmark"),
        benchmark_week=_number(week["benchmark_return"]) if len(perf) else math.nan,
        benchmark_since=_number(week["benchmark_cumulative"]) if len(perf) else math.nan,
        weeks=int((perf.index <= day).sum()) if len(perf) else 0,
        drift=_number(m.get("drift", last.get("drift"))),
        threshold=_number(m.get("drift_threshold")),
        rebalance=bool(m.get("rebalanced")) if len(m) else False,
        optimizer=str(m.get("optimizer") or ""),
        controls="" if controls.lower() == "nan" else controls,
        trades=trades, buy_value=buy, sell_value=sell, costs=costs,
        warnings=tuple(warnings),
        notes=tuple(str(n) for n in (side or {}).get("notes", [])),
    )


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _pct(x: float, signed: bool = True) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:+.2%}" if signed else f"{x:.2%}"


def _money(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.2f}"


_PANEL_CSS = """
<style>
.etf-panel {border: 2px solid #1f77b4; border-radius: 6px; padding: 12px 18px; margin: 8px 0 18px 0;
  font-family: Arial, Helvetica, sans-serif; max-width: 1100px; break-inside: avoid; page-break-inside: avoid;}
.etf-panel h2 {margin: 0 0 8px 0; font-size: 1.35em;}
.etf-panel .figures {display: flex; flex-wrap: wrap; gap: 10px 28px; margin-bottom: 8px;}
.etf-panel .figure {min-width: 150px;}
.etf-panel .figure .label {color: #555; font-size: 0.85em;}
.etf-panel .figure .value {font-size: 1.25em; font-weight: bold;}
.etf-panel .negative {color: #d62728;}
.etf-panel .decision {font-size: 1.1em; font-weight: bold; margin: 6px 0;}
.etf-panel ul.warnings {background: #fff4e5; border-left: 4px solid #ff7f0e; padding: 6px 6px 6px 26px; margin: 8px 0;}
.etf-panel table {border-collapse: collapse; margin-top: 6px;}
.etf-panel td, .etf-panel th {padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right;}
.etf-panel td:first-child, .etf-panel th:first-child, .etf-panel td:nth-child(2), .etf-panel th:nth-child(2) {text-align: left;}
h2, h3 {break-after: avoid; page-break-after: avoid;}
img {max-width: 100%; height: auto;}
.jp-OutputArea-output img {display: block; margin: 0 auto;}
</style>
"""


def panel_html(panel: WeekPanel | None) -> str:
    """The panel as a self-contained HTML block (inline CSS, no script, nothing fetched)."""
    if panel is None:
        return _PANEL_CSS + '<div class="etf-panel"><h2>This week</h2><p>No weekly run recorded yet.</p></div>'
    e = html.escape

    def figure(label: str, value: str, negative: bool = False) -> str:
        cls = "value negative" if negative else "value"
        return f'<div class="figure"><div class="label">{e(label)}</div><div class="{cls}">{e(value)}</div></div>'

    short = panel.weeks < 2
    figures = [
        figure("As of", panel.as_of),
        figure("Total value", _money(panel.total_value)),
        figure("Cash now", _money(panel.cash), panel.cash < -0.005),
        figure("Cash after this week's trades", _money(panel.cash_after), panel.cash_after < -0.005),
        figure("This week", "n/a (first week)" if short else
               f"{_pct(panel.week_return)} vs {_pct(panel.benchmark_week)} {panel.benchmark}"),
        figure("Since start", f"{_pct(panel.since_start)} vs {_pct(panel.benchmark_since)} ({panel.weeks} weeks)"),
        figure("Drift / threshold", f"{_pct(panel.drift, False)} / {_pct(panel.threshold, False)}"),
    ]
    parts = [_PANEL_CSS, '<div class="etf-panel">', f"<h2>This week: {e(panel.as_of)}</h2>",
             f'<div class="figures">{"".join(figures)}</div>',
             f'<div class="decision">{e(panel.decision)}</div>']
    if panel.controls:
        parts.append(f"<div><b>Turnover controls:</b> {e(panel.controls)}</div>")
    if panel.warnings:
        parts.append('<ul class="warnings">' + "".join(f"<li><b>Warning:</b> {e(w)}</li>" for w in panel.warnings)
                     + "</ul>")
    if len(panel.trades):
        rows = "".join(
            f"<tr><td>{e(str(r.ticker))}</td><td>{e(str(r.action))}</td><td>{r.shares:,.0f}</td>"
            f"<td>{_money(r.price)}</td><td>{_money(r.value)}</td></tr>"
            for r in panel.trades.itertuples())
        parts.append(
            "<div><b>Trades to place at the broker</b> (then mark them executed in the workbook):</div>"
            "<table><thead><tr><th>Ticker</th><th>Action</th><th>Shares</th><th>Price</th><th>Value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            f"<div>Buys {_money(panel.buy_value)}, sells {_money(panel.sell_value)}, estimated costs "
            f"{_money(panel.costs)}.</div>")
    parts.append("</div>")
    return "".join(parts)


#: column headers a person reads, for the names the ledger and the monitoring functions use
HEADERS = {
    "ticker": "Ticker", "action": "Action", "shares": "Shares", "price": "Price", "value": "Value",
    "weight": "Weight", "target_weight": "Target weight", "current_weight": "Weight before trades",
    "factor_score": "Factor score", "est_cost": "Est. cost", "note": "Note", "date": "Date",
    "status": "Status", "price_date": "Price of", "cost": "Cost (average)", "unrealised": "Unrealised P&L",
    "unrealised_pct": "Unrealised %", "peak_price": "Peak close", "volatility": "Volatility (annual)",
    "volatility_source": "Volatility from", "stop_distance": "Stop distance", "stop_price": "Stop price",
    "below_price": "Stop below price", "trades": "Trades", "not_executed": "Not executed",
    "metric": "Metric", "expected": "Expected", "realized": "Realised", "difference": "Difference",
    "concentration": "Concentration", "executed_trades": "Executed trades", "turnover": "Turnover",
    "executed": "Executed", "pending": "Pending", "superseded": "Superseded",
}


def table(frame: pd.DataFrame, formats: dict[str, str] | None = None, *, index: bool = True):
    """A frame as a person reads it: human headers, %/money formats, no index column and no NaN.

    ``index=True`` turns the index into the first column (named by :data:`HEADERS`); the
    pandas index itself is never shown. Returns a pandas ``Styler`` for ``display``.
    """
    from .monitoring import format_table

    out = frame.reset_index() if index else frame.reset_index(drop=True)
    if index and out.columns[0] == "index":
        out = out.rename(columns={"index": ""})
    out = format_table(out, formats or {})
    out = out.astype(object).where(out.notna(), "")
    out = out.replace({"n/a": "", "nan": "", "NaT": "", "None": ""})
    out.columns = [HEADERS.get(str(c), str(c).replace("_", " ").capitalize()) for c in out.columns]
    out.columns.name = None
    return out.style.hide(axis="index")


def holdings_rows(ledger: Any, prices: pd.Series, trades: pd.DataFrame, target_weights: pd.Series,
                  as_of: Any) -> pd.DataFrame:
    """The rows of the workbook's Holdings sheet: what is held now at the week's prices (with
    average cost and unrealised P&L), the target weight, this week's pending trade per ticker,
    tickers the target adds, and cash.

    Parameters
    ----------
    ledger : Ledger
        As the weekly run read it (before this week's rows).
    prices : Series
        The prices the week was valued at, by ticker.
    trades : DataFrame
        This week's proposed trades (``ticker, action, shares, value``).
    target_weights : Series
        The week's target weights by ticker.
    as_of : date
    """
    used = {str(t): float(v) for t, v in prices.items() if pd.notna(v)}
    held = held_now(ledger, None, as_of, used=used)
    day = pd.Timestamp(as_of)
    pending = pd.DataFrame(columns=["action", "shares", "value"])
    if len(trades):
        signed = trades.assign(n=np.where(trades["action"] == "BUY", 1.0, -1.0) * trades["shares"].astype(float),
                               v=np.where(trades["action"] == "BUY", 1.0, -1.0) * trades["value"].astype(float))
        net = signed.groupby("ticker")[["n", "v"]].sum()
        pending = pd.DataFrame({"action": np.where(net["n"] >= 0, "BUY", "SELL"), "shares": net["n"].abs(),
                                "value": net["v"].abs()}, index=net.index.astype(str))
    names = [t for t in held.index if t != "Cash"]
    names += [str(t) for t in target_weights.index if str(t) not in names and target_weights[t] > 0]
    rows = []
    for ticker in names:
        row = held.loc[ticker] if ticker in held.index else None
        trade = pending.loc[ticker] if ticker in pending.index else None
        shares = float(row["shares"]) if row is not None else 0.0
        if row is not None and trade is not None:
            status = "held, to sell" if trade["action"] == "SELL" else "held, to buy more"
            if trade["action"] == "SELL" and abs(trade["shares"] - shares) < 1e-9:
                status = "held, to sell all"
        elif row is not None:
            status = "held"
        else:
            status = "to buy" if trade is not None else "in target, not bought"
        price = float(row["price"]) if row is not None else float(used.get(ticker, math.nan))
        rows.append({
            "as_of": day, "ticker": ticker, "shares": shares, "price": price,
            "value": float(row["value"]) if row is not None else 0.0,
            "weight": float(row["weight"]) if row is not None else 0.0,
            "target_weight": float(target_weights.get(ticker, 0.0)),
            "cost": float(row["cost"]) if row is not None else math.nan,
            "unrealised": float(row["unrealised"]) if row is not None else math.nan,
            "unrealised_pct": float(row["unrealised_pct"]) if row is not None else math.nan,
            "pending_action": trade["action"] if trade is not None else "",
            "pending_shares": float(trade["shares"]) if trade is not None else math.nan,
            "pending_value": float(trade["value"]) if trade is not None else math.nan,
            "status": status,
        })
    cash = held.loc["Cash"]
    rows.append({"as_of": day, "ticker": "CASH", "shares": math.nan, "price": math.nan, "value": float(cash["value"]),
                 "weight": float(cash["weight"]), "target_weight": math.nan, "cost": math.nan, "unrealised": math.nan,
                 "unrealised_pct": math.nan, "pending_action": "", "pending_shares": math.nan,
                 "pending_value": math.nan, "status": "NEGATIVE CASH" if cash["value"] < -0.005 else "cash"})
    return pd.DataFrame(rows)


def tax_tables(ledger: Any, side: dict[str, Any] | None, held: pd.DataFrame) -> dict[str, Any]:
    """The report's tax section: unrealised gains by position and term, realised gains by year,
    the lots worth harvesting and this week's wash-sale BUYs (:mod:`etftrader.lots`), with the lot
    method and thresholds the weekly run used (the defaults when its side file is not this week's)."""
    from . import lots as lt

    tax = (side or {}).get("tax") or {}
    method = tax.get("lot_method", "fifo")
    long_days = int(tax.get("long_term_days", 365))
    threshold = float(tax.get("harvest_threshold", 0.10))
    lots = lt.build_lots(ledger, method=method if method in lt.LOT_METHODS else "fifo", long_term_days=long_days)
    prices = held["price"].drop(index="Cash", errors="ignore").to_dict() if len(held) else {}
    day = held.attrs.get("as_of") or (held["price_date"].dropna().max() if len(held) else pd.Timestamp.today())
    rows = lt.lots_rows(lots, prices, day, long_days)
    by_position = pd.DataFrame(columns=["cost", "value", "unrealised", "unrealised_pct", "short_term", "long_term"])
    if len(rows):
        grouped = rows.groupby("ticker")
        by_position = pd.DataFrame({
            "cost": grouped["cost"].sum(), "value": grouped["value"].sum(), "unrealised": grouped["unrealised"].sum()})
        by_position["unrealised_pct"] = by_position["unrealised"] / by_position["cost"]
        terms = rows.pivot_table(index="ticker", columns="term", values="unrealised", aggfunc="sum", fill_value=0.0)
        by_position["short_term"] = terms.get("short", 0.0)
        by_position["long_term"] = terms.get("long", 0.0)
        by_position = by_position.sort_values("unrealised")
    return {"method": method, "long_term_days": long_days, "threshold": threshold, "by_position": by_position,
            "realised": lots.realised_by_year(), "harvest": lt.harvest_candidates(rows, threshold),
            "wash_sales": list(tax.get("wash_sales", [])), "week_sells": tax.get("week_sells_realise")}
