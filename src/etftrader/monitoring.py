"""The analytics behind the weekly review: pure functions over the ledger frames.

Everything the monitoring notebook (``notebooks/06_portfolio_monitoring.ipynb``) shows is computed
here, so every number can be tested without a kernel: the current portfolio and its concentration,
time-weighted performance against the benchmark (deposits and withdrawals are not performance),
drawdowns, trade activity, the market regime from VIX (or a labelled realized-volatility stand-in),
suggested stop-loss levels, pending trades and the plain-text summary the seed saves as
``results/portfolio_summary_*.txt``.

Inputs are the frames of :func:`etftrader.workbook.read_ledger` (any object with ``positions``,
``trades``, ``performance``, ``metadata`` and ``cashflows`` attributes; see docs/contracts.md) and
the optional market frame written by the weekly run (:func:`read_market`). The only file access is
:func:`read_market`; the rest is pure. Output text is ASCII so it survives a Windows console. The last section builds the notebook's
charts (matplotlib, imported only when a chart is drawn) and display tables from the same
functions; a chart that needs more weeks than the ledger has is a :class:`ChartNote` line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from factors.names import TRADING_DAYS

__all__ = [
    "PERIODS_PER_YEAR",
    "REGIME_CALM_BELOW",
    "REGIME_STRESSED_ABOVE",
    "REGIME_RULE",
    "STOP_LOSS_RULE",
    "VolatilityGauge",
    "read_market",
    "filter_as_of",
    "run_table",
    "latest_run",
    "current_positions",
    "allocation_slices",
    "concentration",
    "top_bottom",
    "concentration_table",
    "top_n_exposure",
    "external_flows",
    "performance_series",
    "drawdown",
    "performance_metrics",
    "expected_vs_realized",
    "trade_activity",
    "trade_sizes",
    "most_traded",
    "buy_sell_split",
    "pending_trades",
    "executed_trades",
    "volatility_gauge",
    "market_regime",
    "stop_loss_levels",
    "summary_text",
    "money",
    "percent",
    "format_table",
    "metrics_table",
    "ChartNote",
    "show",
    "chart_allocation",
    "chart_weights",
    "chart_factor_scores",
    "chart_cumulative",
    "chart_period_returns",
    "chart_drawdown",
    "chart_trade_activity",
    "chart_trade_sizes",
    "chart_most_traded",
    "chart_buy_sell",
    "chart_volatility",
    "chart_exposure",
]

#: The ledger is written once a week; returns are annualised with 52 periods a year.
PERIODS_PER_YEAR = 52

#: Market regime thresholds on VIX (CBOE's long-run VIX median is near 17-19: below 15 is a
#: quiet market, above 25 is the zone practitioners treat as stressed).
REGIME_CALM_BELOW = 15.0
REGIME_STRESSED_ABOVE = 25.0
REGIME_RULE = (
    f"calm below {REGIME_CALM_BELOW:g}, normal {REGIME_CALM_BELOW:g}-{REGIME_STRESSED_ABOVE:g}, "
    f"stressed above {REGIME_STRESSED_ABOVE:g}"
)

#: Realized-volatility stand-in for VIX: 21 trading days (one month), annualised, x100 so it
#: reads on the VIX scale.
STANDIN_WINDOW = 21

#: Stop-loss rule parameters (see STOP_LOSS_RULE for the reasoning shown to the analyst).
STOP_K = 2.0
STOP_HORIZON_WEEKS = 4
STOP_FLOOR = 0.05
STOP_CAP = 0.25
STOP_MIN_WEEKS = 8
#: daily closes used for an ETF's own volatility (a year), and the fewest that count
STOP_DAILY_DAYS = 252
STOP_MIN_DAYS = 60
STOP_LOSS_RULE = (
    f"Trailing volatility stop, for each position held: stop = highest close since the position was "
    f"opened x (1 - {STOP_K:g} x sigma x sqrt({STOP_HORIZON_WEEKS}/52)), the distance clipped to "
    f"{STOP_FLOOR:.0%}-{STOP_CAP:.0%}. sigma is the ETF's own annualised volatility: of its last "
    f"{STOP_DAILY_DAYS} daily closes saved by the weekly run (at least {STOP_MIN_DAYS}), else of its "
    f"weekly prices in the ledger once it has {STOP_MIN_WEEKS} weeks, else the market's (VIX/100 or "
    f"its stand-in). Why: a {STOP_K:g}-sigma move over {STOP_HORIZON_WEEKS} weeks is rarely noise, so "
    f"volatile ETFs are not stopped out by ordinary swings, and trailing the peak locks in gains."
)

_POSITION_KEYS = ("run_id", "timestamp")


# --------------------------------------------------------------------------------------------
# inputs


def read_market(path: Path | str | None) -> pd.DataFrame | None:
    """The daily market frame written by the weekly run, or None when there is none.

    Parameters
    ----------
    path : Path or None
        ``data/market_latest.parquet``: a DataFrame with a DatetimeIndex, one column for the
        benchmark (its label is the column name) and a ``VIX`` column when ^VIX was available.

    Returns
    -------
    DataFrame or None
        Sorted by date with float columns; None when the path is None, missing or empty.
        A file that exists but cannot be read is an error (it is not silently ignored).
    """
    if path is None or str(path) == "":
        return None
    path = Path(path)
    if not path.exists():
        return None
    from .errors import DataError

    try:
        frame = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise DataError(
            f"market file {path} is not a readable parquet file ({type(e).__name__}); "
            f"delete it and the next weekly run writes a fresh one"
        ) from e
    if frame.empty:
        return None
    frame.index = pd.DatetimeIndex(frame.index)
    return frame.sort_index().astype(float)


def filter_as_of(ledger: Any, as_of=None) -> Any:
    """A copy of the ledger holding only runs with ``as_of`` (else timestamp) on or before ``as_of``.

    Lets the analyst look back at the review as it stood on a past date.
    """
    if as_of is None:
        return ledger
    cutoff = pd.Timestamp(as_of).normalize()
    frames = {}
    for name in ("positions", "trades", "performance", "metadata", "cashflows"):
        frame = getattr(ledger, name)
        if frame is None or frame.empty:
            frames[name] = frame
            continue
        frames[name] = frame.loc[_row_dates(frame) <= cutoff].copy()
    return _FilteredLedger(**frames)


@dataclass(frozen=True)
class _FilteredLedger:
    positions: pd.DataFrame
    trades: pd.DataFrame
    performance: pd.DataFrame
    metadata: pd.DataFrame
    cashflows: pd.DataFrame


def _row_dates(frame: pd.DataFrame) -> pd.Series:
    """The date each row belongs to: ``as_of`` where known, else the timestamp's date."""
    ts = pd.to_datetime(frame["timestamp"], errors="coerce") if "timestamp" in frame else None
    if "as_of" in frame:
        dates = pd.to_datetime(frame["as_of"], errors="coerce")
        if ts is not None:
            dates = dates.fillna(ts)
    elif ts is not None:
        dates = ts
    else:
        dates = pd.Series(pd.NaT, index=frame.index)
    return dates.dt.normalize()


def _run_ids(frame: pd.DataFrame) -> pd.Series:
    """A run key per row: ``run_id`` where present, else the run's timestamp as text."""
    stamp = pd.to_datetime(frame["timestamp"], errors="coerce").astype(str) if "timestamp" in frame else None
    if "run_id" in frame:
        ids = frame["run_id"].astype("object").where(frame["run_id"].notna())
        if stamp is not None:
            ids = ids.fillna(stamp)
        return ids.astype(str)
    if stamp is None:
        return pd.Series("run", index=frame.index)
    return stamp


# --------------------------------------------------------------------------------------------
# runs and current portfolio


def run_table(ledger: Any) -> pd.DataFrame:
    """One row per effective weekly run, oldest first.

    Of several runs on the same ``as_of`` date only the last (by timestamp) is kept: a re-run
    replaces the week, it does not add one. (Metadata ``superseded_run`` names a run whose
    *pending trades* a later run replaced; that run's valuation still counts as its week.)

    Returns
    -------
    DataFrame
        The Performance rows of the kept runs, indexed by ``as_of`` (DatetimeIndex named
        ``as_of``), with a ``run`` column (the run key used to match the other sheets).
    """
    perf = ledger.performance
    if perf is None or perf.empty:
        return pd.DataFrame(columns=["run", "total_value"], index=pd.DatetimeIndex([], name="as_of"))
    perf = perf.copy()
    perf["run"] = _run_ids(perf).to_numpy()
    perf["_date"] = _row_dates(perf).to_numpy()
    perf["_ts"] = pd.to_datetime(perf["timestamp"], errors="coerce") if "timestamp" in perf else pd.NaT
    perf = perf.dropna(subset=["_date"]).sort_values(["_date", "_ts"], kind="stable")
    perf = perf.drop_duplicates("_date", keep="last")
    perf.index = pd.DatetimeIndex(perf.pop("_date"), name="as_of")
    return perf.drop(columns="_ts")


def latest_run(ledger: Any) -> str | None:
    """The run key of the latest run (None for an empty ledger): :func:`etftrader.holdings.latest_run`,
    the last run written, whose trades are the pending ones."""
    from .holdings import latest_run as last_written

    return last_written(ledger)[0]


def current_positions(ledger: Any) -> pd.DataFrame:
    """The latest run's Positions rows, by weight descending (index: ticker).

    Returns
    -------
    DataFrame
        Columns as in the Positions sheet (``weight, value, shares, price, factor_score, ...``);
        empty when the ledger holds no positions.
    """
    positions = ledger.positions
    run = latest_run(ledger)
    if positions is None or positions.empty or run is None:
        return pd.DataFrame(columns=["weight", "value", "shares", "price", "factor_score"],
                            index=pd.Index([], name="ticker"))
    rows = positions.loc[_run_ids(positions).to_numpy() == run].copy()
    rows = rows.sort_values(["weight", "ticker"], ascending=[False, True], kind="stable")
    return rows.set_index("ticker")


def allocation_slices(weights: pd.Series, *, top: int = 10, cash: float | None = None) -> pd.Series:
    """Slices for the allocation pie: the ``top`` largest weights, ``Other`` and ``Cash``.

    Parameters
    ----------
    weights : Series
        Portfolio weights by ticker (fractions of total value).
    top : int
        How many positions get their own slice.
    cash : float, optional
        Cash as a fraction of total value; default ``1 - sum(weights)`` when that is positive.

    Returns
    -------
    Series
        Non-negative fractions summing to the total (1 for a fully described portfolio).
    """
    w = weights.astype(float).clip(lower=0).sort_values(ascending=False)
    slices = w.iloc[:top].copy()
    rest = float(w.iloc[top:].sum())
    if rest > 0:
        slices.loc["Other"] = rest
    if cash is None:
        cash = 1.0 - float(w.sum())
    if cash > 1e-4:
        slices.loc["Cash"] = cash
    return slices


def concentration(weights: Iterable[float]) -> tuple[float, float]:
    """Herfindahl-Hirschman index of the weights and the effective number of positions (1/HHI).

    Weights are normalised to sum to 1 first, so cash does not make a portfolio look diversified.

    >>> concentration([0.5, 0.3, 0.2])
    (0.38, 2.6315789473684212)
    """
    w = np.asarray(list(weights), dtype=float)
    w = w[np.isfinite(w) & (w > 0)]
    if w.size == 0:
        return (float("nan"), float("nan"))
    w = w / w.sum()
    hhi = float(np.round(np.sum(w * w), 12))
    return hhi, 1.0 / hhi


def top_bottom(positions: pd.DataFrame, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` largest and ``n`` smallest positions by weight (tables for the notebook).

    With fewer than ``2 n`` positions each table gets half (the larger half on top), so no
    position is listed twice.
    """
    cols = [c for c in ("weight", "value", "shares", "price", "factor_score") if c in positions]
    ordered = positions[cols].sort_values("weight", ascending=False, kind="stable")
    top = min(n, math.ceil(len(ordered) / 2))
    bottom = min(n, len(ordered) - top)
    return ordered.head(top), ordered.tail(bottom).iloc[::-1] if bottom else ordered.iloc[0:0]


def concentration_table(weights: pd.Series) -> pd.DataFrame:
    """HHI, effective number of positions and positions held, as display text."""
    hhi, eff = concentration(weights)
    return pd.DataFrame({"value": [_num(hhi, ".4f"), _num(eff, ".1f"), str(int((weights > 0).sum()))]},
                        index=pd.Index(["HHI (sum of squared weights)", "Effective number of positions (1/HHI)",
                                        "Positions held"], name="concentration"))


def top_n_exposure(weights: pd.Series, ns: Iterable[int] = (1, 3, 5, 10)) -> pd.Series:
    """Share of the invested portfolio held in the N largest positions, for each N in ``ns``."""
    w = weights.astype(float).clip(lower=0).sort_values(ascending=False)
    total = float(w.sum())
    out = {}
    for n in ns:
        if n <= len(w):
            out[f"Top {n}"] = float(w.iloc[:n].sum()) / total if total > 0 else float("nan")
    return pd.Series(out, name="exposure", dtype=float)


# --------------------------------------------------------------------------------------------
# performance


def external_flows(cashflows: pd.DataFrame | None) -> pd.Series:
    """Signed external flows by date: deposits positive, withdrawals negative.

    The ``type`` column decides the sign (the amount may be typed either way round).
    """
    if cashflows is None or cashflows.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], name="date"))
    kind = cashflows["type"].astype(str).str.strip().str.upper()
    amount = pd.to_numeric(cashflows["amount"], errors="coerce").abs().fillna(0.0)
    signed = np.where(kind.str.startswith("WITHDRAW"), -amount, amount)
    flows = pd.Series(signed, index=pd.DatetimeIndex(_row_dates(cashflows), name="date"), dtype=float)
    flows = flows[flows.index.notna()]
    return flows.groupby(level=0).sum().sort_index()


def performance_series(ledger: Any, market: pd.DataFrame | None = None) -> pd.DataFrame:
    """Weekly time-weighted returns of the portfolio and of the benchmark.

    Returns are net of external flows: a deposit or withdrawal dated in (previous run, this run]
    is taken out of this run's value before comparing with the previous one,
    ``r_t = (V_t - F_t) / V_{t-1} - 1``. The flow is assumed to arrive as cash by the run that
    first counts it (cash earns nothing in the ledger), which makes this the exact
    time-weighted return. Flows on or before the first run are the starting capital.

    Parameters
    ----------
    ledger : Ledger
        From :func:`etftrader.workbook.read_ledger`.
    market : DataFrame, optional
        From :func:`read_market`; used for benchmark closes the ledger does not hold.

    Returns
    -------
    DataFrame indexed by ``as_of`` (one row per effective run)
        ``total_value, net_flow, period_return, cumulative_return, benchmark_close,
        benchmark_return, benchmark_cumulative, expected_return, expected_volatility,
        expected_sharpe``. The first row's returns are NaN (nothing to compare with) and its
        cumulative returns 0. The benchmark label is in ``.attrs["benchmark"]``.
    """
    runs = run_table(ledger)
    out = pd.DataFrame(index=runs.index)
    out["total_value"] = pd.to_numeric(runs.get("total_value"), errors="coerce").astype(float)
    flows = external_flows(getattr(ledger, "cashflows", None))
    net = []
    dates = list(out.index)
    for i, day in enumerate(dates):
        if i == 0:
            net.append(0.0)
            continue
        window = flows[(flows.index > dates[i - 1]) & (flows.index <= day)]
        net.append(float(window.sum()))
    out["net_flow"] = np.asarray(net, dtype=float)
    previous = out["total_value"].shift(1)
    out["period_return"] = (out["total_value"] - out["net_flow"]) / previous - 1.0
    out["cumulative_return"] = (1.0 + out["period_return"].fillna(0.0)).cumprod() - 1.0

    label, closes = _benchmark_closes(runs, market)
    out["benchmark_close"] = closes
    bench_ret = out["benchmark_close"] / out["benchmark_close"].shift(1) - 1.0
    out["benchmark_return"] = bench_ret
    first_valid = out["benchmark_close"].first_valid_index()
    if first_valid is None:
        out["benchmark_cumulative"] = np.nan
    else:
        out["benchmark_cumulative"] = out["benchmark_close"] / out.loc[first_valid, "benchmark_close"] - 1.0
    for col in ("expected_return", "expected_volatility", "expected_sharpe"):
        out[col] = pd.to_numeric(runs[col], errors="coerce") if col in runs else np.nan
    out.attrs["benchmark"] = label
    return out


def _benchmark_closes(runs: pd.DataFrame, market: pd.DataFrame | None) -> tuple[str, pd.Series]:
    """Benchmark label and close per run: the ledger's own record first, the market file second."""
    label = None
    if "benchmark" in runs:
        names = runs["benchmark"].dropna().astype(str)
        names = names[names.str.strip() != ""]
        if not names.empty:
            label = names.iloc[-1]
    closes = pd.Series(np.nan, index=runs.index, dtype=float)
    if "benchmark_close" in runs:
        closes = pd.to_numeric(runs["benchmark_close"], errors="coerce").astype(float)
    bench_col = market_benchmark_column(market, label)
    if bench_col is not None and closes.isna().any() and len(runs):
        series = market[bench_col].dropna()
        filled = series.reindex(runs.index, method="ffill") if not series.empty else None
        if filled is not None:
            closes = closes.fillna(filled)
        label = label or bench_col
    return (label or "Benchmark"), closes


def market_benchmark_column(market: pd.DataFrame | None, label: str | None = None) -> str | None:
    """The market frame's benchmark column: ``label`` if present, else the first non-VIX column."""
    if market is None or market.empty:
        return None
    if label is not None and label in market.columns:
        return label
    others = [c for c in market.columns if str(c).upper() != "VIX"]
    return others[0] if others else None


def drawdown(returns: pd.Series) -> pd.Series:
    """Drawdown after each period: wealth over its running peak, minus 1 (0 at a new high).

    The starting wealth of 1 counts as a peak, so a loss in the first period is a drawdown.
    NaN returns (the first run) are treated as 0.
    """
    r = pd.Series(returns, dtype=float).fillna(0.0)
    wealth = (1.0 + r).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return wealth / peak - 1.0


def performance_metrics(perf: pd.DataFrame, *, periods_per_year: int = PERIODS_PER_YEAR) -> dict[str, float]:
    """Headline figures of a :func:`performance_series` frame.

    Sharpe is the mean weekly return over its sample standard deviation (ddof=1), times
    sqrt(52), with a zero risk-free rate (the convention of empyrical's ``sharpe_ratio``);
    it needs at least two weekly returns and is NaN before. Max drawdown is the worst value of
    :func:`drawdown` (a negative fraction, 0 with no loss).

    Returns
    -------
    dict
        ``weeks`` (number of weekly returns), ``total_return``, ``annual_return`` (compounded),
        ``annual_volatility``, ``sharpe``, ``max_drawdown``, ``win_rate``,
        ``benchmark_total_return``, ``excess_return`` and ``current_drawdown``.
    """
    r = perf["period_return"].dropna().astype(float) if len(perf) else pd.Series(dtype=float)
    n = int(r.size)
    total = float((1.0 + r).prod() - 1.0) if n else 0.0
    annual = float((1.0 + total) ** (periods_per_year / n) - 1.0) if n and total > -1 else float("nan")
    if n >= 2:
        sd = float(r.std(ddof=1))
        vol = sd * math.sqrt(periods_per_year)
        sharpe = float(r.mean()) / sd * math.sqrt(periods_per_year) if sd > 0 else float("nan")
    else:
        vol = sharpe = float("nan")
    dd = drawdown(r) if n else pd.Series([0.0])
    bench = perf["benchmark_cumulative"].dropna() if "benchmark_cumulative" in perf else pd.Series(dtype=float)
    bench_total = float(bench.iloc[-1]) if not bench.empty else float("nan")
    return {
        "weeks": n,
        "total_return": total,
        "annual_return": annual,
        "annual_volatility": vol,
        "sharpe": sharpe,
        "max_drawdown": float(dd.min()),
        "current_drawdown": float(dd.iloc[-1]),
        "win_rate": float((r > 0).mean()) if n else float("nan"),
        "benchmark_total_return": bench_total,
        "excess_return": total - bench_total if not math.isnan(bench_total) else float("nan"),
    }


def expected_vs_realized(perf: pd.DataFrame, metrics: dict[str, float] | None = None) -> pd.DataFrame:
    """What the optimizer expected (average over runs) against what was realized (annualised).

    Returns
    -------
    DataFrame
        Index ``Return, Volatility, Sharpe``; columns ``expected, realized, difference``.
    """
    metrics = metrics or performance_metrics(perf)
    expected = [float(perf[c].mean()) if c in perf and perf[c].notna().any() else float("nan")
                for c in ("expected_return", "expected_volatility", "expected_sharpe")]
    realized = [metrics["annual_return"], metrics["annual_volatility"], metrics["sharpe"]]
    table = pd.DataFrame({"expected": expected, "realized": realized},
                         index=pd.Index(["Return", "Volatility", "Sharpe"], name="annualised"))
    table["difference"] = table["realized"] - table["expected"]
    return table


# --------------------------------------------------------------------------------------------
# trades


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


# --------------------------------------------------------------------------------------------
# risk


@dataclass(frozen=True)
class VolatilityGauge:
    """The market's fear gauge: VIX when the weekly run saved it, else a labelled stand-in.

    ``series`` is daily on the VIX scale (annualised %, e.g. 18.5); ``label`` is what charts and
    tables show; ``is_standin`` says it is realized volatility, not VIX; ``level`` is the latest
    value (NaN when unknown); ``note`` explains missing data.
    """

    series: pd.Series
    label: str
    is_standin: bool
    level: float
    note: str

    @property
    def market_volatility(self) -> float | None:
        """The level as an annualised fraction (VIX 20 -> 0.20), None when unknown."""
        return self.level / 100.0 if np.isfinite(self.level) else None

    @property
    def regime(self) -> str:
        """:func:`market_regime` of the latest level."""
        return market_regime(self.level)

    def describe(self) -> str:
        """One Markdown paragraph: level, regime with the thresholds, and any caveat."""
        level = f"{self.level:.1f}" if np.isfinite(self.level) else "n/a"
        text = f"**{self.label}:** {level} -> market regime **{self.regime}** (thresholds: {REGIME_RULE})."
        return text + (f"\n\n*{self.note}*" if self.note else "")


def volatility_gauge(market: pd.DataFrame | None, benchmark: str | None = None,
                     as_of=None) -> VolatilityGauge:
    """VIX from the market file, or 21-day annualised realized volatility of the benchmark x 100.

    Nothing is downloaded: VIX comes only from the market file the weekly run wrote.
    """
    empty = pd.Series(dtype=float)
    if market is None or market.empty:
        return VolatilityGauge(empty, "VIX", False, float("nan"),
                               "No market file (data/market_latest.parquet): VIX and market regime "
                               "are unknown. The weekly run writes it.")
    if as_of is not None:
        market = market.loc[market.index <= pd.Timestamp(as_of)]
    vix_cols = [c for c in market.columns if str(c).upper() == "VIX"]
    if vix_cols:
        vix = market[vix_cols[0]].dropna()
        if not vix.empty:
            return VolatilityGauge(vix.rename("VIX"), "VIX", False, float(vix.iloc[-1]), "")
    col = market_benchmark_column(market, benchmark)
    prices = market[col].dropna() if col is not None else empty
    if len(prices) <= STANDIN_WINDOW:
        return VolatilityGauge(empty, "VIX", False, float("nan"),
                               "VIX is not in the market file and the benchmark has too little "
                               "history for a realized-volatility stand-in.")
    log_ret = np.log(prices).diff()
    realized = (log_ret.rolling(STANDIN_WINDOW).std() * math.sqrt(TRADING_DAYS) * 100).dropna()
    label = f"Realized volatility of {col} ({STANDIN_WINDOW}-day, annualised x100; VIX stand-in)"
    return VolatilityGauge(realized.rename(label), label, True, float(realized.iloc[-1]),
                           "VIX was not available; the stand-in is the benchmark's realized "
                           "volatility, which lags VIX and usually reads a few points lower.")


def market_regime(level: float, *, calm_below: float = REGIME_CALM_BELOW,
                  stressed_above: float = REGIME_STRESSED_ABOVE) -> str:
    """``calm``, ``normal`` or ``stressed`` for a VIX level (``unknown`` when NaN)."""
    if level is None or not np.isfinite(level):
        return "unknown"
    if level < calm_below:
        return "calm"
    if level > stressed_above:
        return "stressed"
    return "normal"


def stop_loss_levels(ledger: Any, *, market_volatility: float | None = None,
                     k: float = STOP_K, horizon_weeks: int = STOP_HORIZON_WEEKS,
                     floor: float = STOP_FLOOR, cap: float = STOP_CAP,
                     min_weeks: int = STOP_MIN_WEEKS, held: pd.DataFrame | None = None,
                     prices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Suggested stop-loss price per position (the rule is :data:`STOP_LOSS_RULE`).

    Parameters
    ----------
    ledger : Ledger
        Positions history supplies each ETF's weekly prices and its peak while held.
    market_volatility : float, optional
        Annualised market volatility as a fraction (VIX/100) used for ETFs with no history of
        their own; without it those rows have no stop.
    held : DataFrame, optional
        :func:`etftrader.weekview.held_now`: the stops are for what is held (its ``price``), not
        for the target. Default: the latest run's Positions rows.
    prices : DataFrame, optional
        Daily closes by ticker (the weekly run's ``prices_latest.parquet``): each ETF's own
        volatility and its peak since it was opened.

    Returns
    -------
    DataFrame indexed by ticker
        ``price, peak_price, volatility, volatility_source, stop_distance, stop_price,
        below_price`` (how far the stop is under today's price, a fraction).
    """
    current = current_positions(ledger) if held is None else held.drop(index="Cash", errors="ignore")
    cols = ["price", "peak_price", "volatility", "volatility_source", "stop_distance", "stop_price", "below_price"]
    if current.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="ticker"))
    history = _price_history(ledger)
    spells = _holding_spell_start(ledger)
    rows = []
    for ticker, pos in current.iterrows():
        price = float(pos["price"])
        series = history.get(ticker, pd.Series(dtype=float))
        daily = prices[ticker].dropna() if prices is not None and ticker in prices.columns else pd.Series(dtype=float)
        since = spells.get(ticker)
        spell = series[series.index >= since] if since is not None else series
        if len(daily):
            spell = pd.concat([spell, daily[daily.index >= since] if since is not None else daily.iloc[-STOP_DAILY_DAYS:]])
        peak = max(float(spell.max()) if not spell.empty else price, price)
        weekly = series.pct_change().dropna()
        own_daily = daily.iloc[-(STOP_DAILY_DAYS + 1):].pct_change().dropna()
        if own_daily.size >= STOP_MIN_DAYS:
            vol = float(own_daily.std(ddof=1) * math.sqrt(252))
            source = f"own daily closes ({own_daily.size} days)"
        elif weekly.size >= min_weeks:
            vol, source = float(weekly.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)), "own weekly prices"
        elif market_volatility is not None and np.isfinite(market_volatility):
            vol, source = float(market_volatility), "market (too few weeks of own prices)"
        else:
            vol, source = float("nan"), "unknown"
        distance = float(np.clip(k * vol * math.sqrt(horizon_weeks / PERIODS_PER_YEAR), floor, cap)) \
            if np.isfinite(vol) else float("nan")
        stop = peak * (1.0 - distance)
        rows.append((ticker, price, peak, vol, source, distance, stop, 1.0 - stop / price))
    out = pd.DataFrame(rows, columns=["ticker", *cols]).set_index("ticker")
    return out


def _price_history(ledger: Any) -> dict[str, pd.Series]:
    """Weekly price per ticker from the effective runs' Positions rows."""
    positions = ledger.positions
    if positions is None or positions.empty:
        return {}
    runs = run_table(ledger)
    p = positions.assign(_run=_run_ids(positions).to_numpy(), _date=_row_dates(positions).to_numpy())
    if not runs.empty:
        p = p.loc[p["_run"].isin(set(runs["run"]))]
    p = p.dropna(subset=["price"]).sort_values("_date")
    return {t: pd.Series(g["price"].astype(float).to_numpy(), index=pd.DatetimeIndex(g["_date"])).groupby(level=0).last()
            for t, g in p.groupby("ticker")}


def _holding_spell_start(ledger: Any) -> dict[str, pd.Timestamp]:
    """For each current ticker, the first run date of its unbroken run of weeks in Positions."""
    positions = ledger.positions
    runs = run_table(ledger)
    if positions is None or positions.empty or runs.empty:
        return {}
    keyed = positions.assign(_run=_run_ids(positions).to_numpy())
    held_by_run = keyed.groupby("_run")["ticker"].agg(set).to_dict()
    dates = list(runs.index)
    run_keys = list(runs["run"])
    starts: dict[str, pd.Timestamp] = {}
    for ticker in held_by_run.get(run_keys[-1], set()):
        start = dates[-1]
        for day, key in zip(reversed(dates), reversed(run_keys)):
            if ticker not in held_by_run.get(key, set()):
                break
            start = day
        starts[ticker] = start
    return starts


# --------------------------------------------------------------------------------------------
# summary


def money(x: float | None) -> str:
    """``$1,234.50`` (``-$1,234.50`` below zero); ``n/a`` for a missing value."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def percent(x: float | None) -> str:
    """``12.34%`` for 0.1234; ``n/a`` for a missing value."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2%}"


_money, _pct = money, percent


def _num(x: float, fmt: str = ".2f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, fmt)


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
    metrics = performance_metrics(perf)
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


# --------------------------------------------------------------------------------------------
# tables and charts for the notebook (matplotlib is imported only when a chart is drawn)

#: Charts that compare weeks need this many weekly runs before they mean anything.
MIN_RUNS_FOR_CHARTS = 2
_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


def format_table(frame: pd.DataFrame, formats: dict[str, str]) -> pd.DataFrame:
    """A copy with the named columns turned into display text (``"pct"``, ``"money"``, ``"num"``,
    ``"int"`` or a format spec); NaN shows as ``n/a``. For tables a person reads, not for maths."""
    out = frame.copy()
    for col, kind in formats.items():
        if col not in out:
            continue
        fn = {"pct": _pct, "money": _money, "num": _num,
              "int": lambda x: "n/a" if pd.isna(x) else f"{int(x):,d}"}.get(kind, lambda x, k=kind: _num(x, k))
        out[col] = [fn(float(v)) if not isinstance(v, str) else v for v in out[col]]
    return out


def metrics_table(perf: pd.DataFrame, metrics: dict[str, float] | None = None) -> pd.DataFrame:
    """The headline performance figures as a two-column table (label, value as text)."""
    m = metrics or performance_metrics(perf)
    bench = perf.attrs.get("benchmark", "Benchmark")
    short = m["weeks"] < MIN_RUNS_FOR_CHARTS
    rows = [
        ("Weekly returns recorded", str(m["weeks"])),
        ("Total return (time-weighted)", _pct(m["total_return"])),
        (f"Benchmark total return ({bench})", _pct(m["benchmark_total_return"])),
        ("Excess return", _pct(m["excess_return"])),
        ("Annualised return", _pct(m["annual_return"]) + (" (few weeks: not meaningful)" if m["weeks"] < 13 else "")),
        ("Annualised volatility", _pct(m["annual_volatility"]) + (" (needs 2+ weekly returns)" if short else "")),
        ("Sharpe ratio (annualised, rf = 0)", _num(m["sharpe"]) + (" (needs 2+ weekly returns)" if short else "")),
        ("Max drawdown", _pct(m["max_drawdown"])),
        ("Current drawdown", _pct(m["current_drawdown"])),
        ("Winning weeks", _pct(m["win_rate"])),
        ("Net deposits/withdrawals", _money(float(perf["net_flow"].sum())) if len(perf) else "n/a"),
    ]
    return pd.DataFrame(rows, columns=["metric", "value"]).set_index("metric")


@dataclass(frozen=True)
class ChartNote:
    """Stands in for a chart that cannot be drawn yet (too few weeks, no data): shown as text."""

    title: str
    note: str


def show(fig) -> None:
    """Display a figure in the notebook as an embedded PNG (or a :class:`ChartNote` as text).

    The kernel runs with ``MPLBACKEND=Agg`` (no GUI, no inline backend needed), so figures are
    rendered to PNG bytes here and handed to IPython's display as an image.
    """
    import io

    from IPython.display import Image, Markdown, display

    if isinstance(fig, ChartNote):
        display(Markdown(f"**{fig.title}:** *{fig.note}*"))
        return
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    # the chart's title travels with the image so the HTML export can use it as alt text
    titles = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) is not None else []
    titles += [ax.get_title() or ax.get_title(loc="left") for ax in fig.axes]
    alt = " - ".join(t for t in titles if t) or "chart"
    display(Image(data=buffer.getvalue(), format="png"), metadata={"image/png": {"alt": alt}})


def _figure(width: float = 10.0, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def _note_figure(title: str, note: str) -> ChartNote:
    """Why a chart is not drawn yet: a line of text instead of empty axes."""
    return ChartNote(title, note)


def chart_allocation(positions: pd.DataFrame, *, top: int = 10, cash: float | None = None):
    """Allocation pie: the ``top`` positions, ``Other`` and ``Cash`` (what the weights leave)."""
    if positions.empty:
        return _note_figure("Allocation", "No positions recorded yet.")
    slices = allocation_slices(positions["weight"], top=top, cash=cash)
    fig, ax = _figure(7.0, 5.0)
    ax.pie(slices.to_numpy(), labels=[str(i) for i in slices.index], autopct="%1.1f%%",
           startangle=90, counterclock=False, pctdistance=0.8, textprops={"fontsize": 8})
    ax.set_title(f"Allocation (top {top} + other)")
    ax.axis("equal")
    return fig


def chart_weights(positions: pd.DataFrame):
    """Horizontal bars of position weights, largest on top, with target weights when known."""
    if positions.empty:
        return _note_figure("Position weights", "No positions recorded yet.")
    w = positions["weight"].astype(float).sort_values()
    fig, ax = _figure(8.0, max(2.5, 0.3 * len(w) + 1))
    ax.barh(list(map(str, w.index)), w.to_numpy(), color=_BLUE, label="weight")
    if "target_weight" in positions and positions["target_weight"].notna().any():
        tgt = positions["target_weight"].astype(float).reindex(w.index)
        ax.scatter(tgt.to_numpy(), list(map(str, w.index)), color=_ORANGE, zorder=3, label="target")
        ax.legend(loc="lower right")
    ax.xaxis.set_major_formatter(_pct_formatter())
    ax.set_title("Position weights")
    return fig


def chart_factor_scores(positions: pd.DataFrame):
    """Each target position's composite factor score, best on top (a bar per ticker: with a
    handful of positions a histogram would hide them in a few bins)."""
    scores = pd.to_numeric(positions.get("factor_score", pd.Series(dtype=float)), errors="coerce").dropna()
    if scores.size < 2:
        return _note_figure("Factor scores", "Needs at least two positions with a factor score.")
    scores = scores.sort_values()
    fig, ax = _figure(10.0, max(2.5, 0.3 * len(scores) + 1))
    ax.barh(list(map(str, scores.index)), scores.to_numpy(),
            color=[_GREEN if v >= 0 else _RED for v in scores.to_numpy()])
    ax.axvline(float(scores.mean()), color=_ORANGE, linestyle="--", label=f"mean {scores.mean():.2f}")
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("composite factor score (cross-sectional z-score, higher is better)")
    ax.legend(loc="lower right", frameon=False)
    ax.set_title("Factor scores of the target positions")
    return fig


def _pct_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=None)


def _run_date_ticks(ax, dates) -> None:
    """Ticks on the runs' own dates (Fridays for a weekly run), at most about ten of them."""
    dates = pd.DatetimeIndex(dates)
    if not len(dates):
        return
    step = max(1, int(math.ceil(len(dates) / 10)))
    ticks = list(dates[::step])
    if ticks[-1] != dates[-1]:
        ticks.append(dates[-1])
    ax.set_xticks(ticks, [f"{d:%Y-%m-%d}" for d in ticks], rotation=30, ha="right", fontsize=8)


def _integer_axis(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _needs_weeks(title: str, perf: pd.DataFrame):
    have = len(perf)
    return _note_figure(title, f"Needs at least {MIN_RUNS_FOR_CHARTS} weekly runs; the ledger has {have} so far. "
                               f"Come back next week.")


def chart_cumulative(perf: pd.DataFrame):
    """Cumulative time-weighted return against the benchmark (labelled by its name)."""
    if len(perf) < MIN_RUNS_FOR_CHARTS:
        return _needs_weeks("Cumulative return", perf)
    fig, ax = _figure()
    ax.plot(perf.index, perf["cumulative_return"], color=_BLUE, marker="o", markersize=3, label="Portfolio (time-weighted)")
    if perf["benchmark_cumulative"].notna().any():
        ax.plot(perf.index, perf["benchmark_cumulative"], color=_GREY, marker="o", markersize=3,
                label=perf.attrs.get("benchmark", "Benchmark"))
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.legend(loc="best")
    ax.set_title("Cumulative return vs benchmark")
    _run_date_ticks(ax, perf.index)
    return fig


def chart_period_returns(perf: pd.DataFrame):
    """Weekly returns as bars (green up, red down), benchmark as a line."""
    r = perf["period_return"].dropna()
    if r.empty:
        return _needs_weeks("Weekly returns", perf)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, ax = _figure()
    ax.bar(r.index, r.to_numpy(), width=4, color=[_GREEN if x >= 0 else _RED for x in r])
    handles = [Patch(color=_GREEN, label="Portfolio, week up"), Patch(color=_RED, label="Portfolio, week down")]
    b = perf["benchmark_return"].reindex(r.index)
    if b.notna().any():
        ax.plot(b.index, b.to_numpy(), color=_GREY, marker=".")
        handles.append(Line2D([], [], color=_GREY, marker=".", label=perf.attrs.get("benchmark", "Benchmark")))
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.legend(handles=handles, loc="best", fontsize=8)
    ax.set_title("Weekly returns")
    _run_date_ticks(ax, r.index)
    return fig


def chart_drawdown(perf: pd.DataFrame):
    """Drawdown of the time-weighted wealth from its running peak."""
    if len(perf) < MIN_RUNS_FOR_CHARTS:
        return _needs_weeks("Drawdown", perf)
    dd = drawdown(perf["period_return"])
    fig, ax = _figure(8.0, 3.0)
    ax.fill_between(perf.index, dd.to_numpy(), 0.0, color=_RED, alpha=0.35)
    ax.plot(perf.index, dd.to_numpy(), color=_RED, linewidth=1)
    ax.set_ylim(min(float(dd.min()) * 1.1, -0.01), 0.0)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_title(f"Drawdown (max {float(dd.min()):.1%})")
    _run_date_ticks(ax, perf.index)
    return fig


def trade_history(ledger: Any) -> pd.DataFrame:
    """Per weekly run (weeks without trades included): trade value by status and the turnover.

    Returns
    -------
    DataFrame indexed by run date
        ``executed, pending, superseded`` (gross value), ``trades`` (count of all proposed),
        ``executed_trades`` and ``turnover``: executed value as a share of that week's portfolio
        value (buys and sells, so a full switch of holdings is 200%).
    """
    from .weekview import trade_status

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


def chart_trade_activity(ledger: Any):
    """Trade value per weekly run by status (executed, pending, superseded), every week shown,
    with the executed turnover as a share of the portfolio."""
    hist = trade_history(ledger) if hasattr(ledger, "trades") else pd.DataFrame()
    if hist.empty or hist["trades"].sum() == 0:
        return _note_figure("Trade activity", "No trades recorded yet.")
    fig, ax = _figure()
    x = np.arange(len(hist))
    bottom = np.zeros(len(hist))
    for status, color, hatch in (("executed", _GREEN, None), ("pending", _BLUE, "//"), ("superseded", _GREY, "xx")):
        values = hist[status].to_numpy()
        ax.bar(x, values, bottom=bottom, color=color, alpha=0.85 if hatch is None else 0.45, hatch=hatch,
               edgecolor="white" if hatch is None else color, label=f"{status} value")
        bottom += values
    ax.yaxis.set_major_formatter(_money_formatter())
    twin = ax.twinx()
    twin.plot(x, hist["turnover"].to_numpy(), color="black", marker="o", markersize=3, linewidth=1,
              label="executed turnover (share of portfolio)")
    twin.yaxis.set_major_formatter(_pct_formatter())
    twin.set_ylim(bottom=0)
    step = max(1, int(math.ceil(len(x) / 12)))
    ax.set_xticks(x[::step], [f"{d:%Y-%m-%d}" for d in hist.index[::step]], rotation=30, ha="right", fontsize=8)
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="upper right", fontsize=8, frameon=False)
    ax.set_title("Trades by week: executed, pending and superseded (weeks without trades show empty)")
    return fig


def _money_formatter():
    from matplotlib.ticker import FuncFormatter

    def label(v, _):
        text = f"${abs(v) / 1000:,.0f}k" if abs(v) >= 1000 else f"${abs(v):,.0f}"
        return f"-{text}" if v < 0 else text

    return FuncFormatter(label)


def chart_trade_sizes(ledger_or_trades: Any):
    """Histogram of trade values."""
    sizes = trade_sizes(ledger_or_trades)
    if sizes.size < 2:
        return _note_figure("Executed trade sizes", "Needs at least two executed trades.")
    fig, ax = _figure(8.0, 3.5)
    ax.hist(sizes.to_numpy(), bins=min(20, max(4, sizes.size // 3)), color=_BLUE, edgecolor="white")
    ax.xaxis.set_major_formatter(_money_formatter())
    _integer_axis(ax.yaxis)
    ax.set_xlabel("trade value")
    ax.set_ylabel("executed trades")
    ax.set_title(f"Executed trade sizes (median {_money(float(sizes.median()))})")
    return fig


def chart_most_traded(ledger_or_trades: Any, n: int = 10):
    """The most frequently traded ETFs."""
    top = most_traded(ledger_or_trades, n=n)
    if top.empty:
        return _note_figure("Most traded ETFs", "No executed trades recorded yet.")
    top = top.iloc[::-1]
    fig, ax = _figure(8.0, max(2.5, 0.3 * len(top) + 1))
    ax.barh(list(map(str, top.index)), top["trades"].to_numpy(), color=_BLUE)
    _integer_axis(ax.xaxis)
    ax.set_xlabel("number of executed trades")
    ax.set_title(f"Most traded ETFs (top {n}, executed trades)")
    return fig


def chart_buy_sell(ledger_or_trades: Any):
    """Number and value of BUY against SELL trades."""
    split = buy_sell_split(ledger_or_trades)
    if split["trades"].sum() == 0:
        return _note_figure("Buy/sell split", "No executed trades recorded yet.")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 3.0))
    ax1, ax2 = fig.subplots(1, 2)
    colors = [_GREEN, _RED]
    ax1.bar(split.index, split["trades"].to_numpy(), color=colors)
    _integer_axis(ax1.yaxis)
    ax1.set_title("Number of executed trades")
    ax2.bar(split.index, split["value"].to_numpy(), color=colors)
    ax2.yaxis.set_major_formatter(_money_formatter())
    ax2.set_title("Gross value")
    fig.suptitle("Buy/sell split (executed trades)")
    return fig


def chart_volatility(gauge: VolatilityGauge, *, days: int = 252):
    """VIX (or its labelled stand-in) over the last year with the regime bands shaded."""
    if gauge.series.empty:
        return _note_figure("VIX and market regime", gauge.note or "No volatility data.")
    s = gauge.series.iloc[-days:]
    fig, ax = _figure(8.0, 3.5)
    top = max(float(s.max()) * 1.1, REGIME_STRESSED_ABOVE + 5)
    ax.axhspan(0, REGIME_CALM_BELOW, color=_GREEN, alpha=0.10, label=f"calm (<{REGIME_CALM_BELOW:g})")
    ax.axhspan(REGIME_CALM_BELOW, REGIME_STRESSED_ABOVE, color=_ORANGE, alpha=0.08,
               label=f"normal ({REGIME_CALM_BELOW:g}-{REGIME_STRESSED_ABOVE:g})")
    ax.axhspan(REGIME_STRESSED_ABOVE, top, color=_RED, alpha=0.10, label=f"stressed (>{REGIME_STRESSED_ABOVE:g})")
    ax.plot(s.index, s.to_numpy(), color="black", linewidth=1, label=gauge.label)
    ax.set_ylim(0, top)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=7, frameon=False)
    title = "VIX" if not gauge.is_standin else "VIX stand-in: realized volatility (VIX unavailable)"
    ax.set_title(f"{title}: {gauge.level:.1f} -> {market_regime(gauge.level)}")
    return fig


def chart_exposure(positions: pd.DataFrame):
    """Share of the invested portfolio in the top 1/3/5/10 positions."""
    if positions.empty:
        return _note_figure("Top-N exposure", "No positions recorded yet.")
    exp = top_n_exposure(positions["weight"])
    fig, ax = _figure(8.0, 2.8)
    ax.bar(exp.index, exp.to_numpy(), color=_BLUE)
    for i, v in enumerate(exp.to_numpy()):
        ax.text(i, v, f"{v:.0%}", ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_title("Top-N exposure (share of invested value)")
    return fig


# --------------------------------------------------------------------------- frontier and sleeves


def chart_frontier(side: dict[str, Any] | None):
    """The efficient frontier of the week's selected tickers, with the chosen portfolio, equal
    weight and each ticker marked (annual volatility against annual expected return)."""
    frontier = (side or {}).get("frontier")
    if not frontier or not frontier.get("points"):
        return _note_figure("Efficient frontier", "Not available for this week (the weekly run saves it).")
    fig, ax = _figure(8.0, 4.8)
    points = pd.DataFrame(frontier["points"])
    ax.plot(points["risk"], points["return"], color=_BLUE, lw=2, label="efficient frontier")
    tickers = pd.DataFrame(frontier["tickers"])
    ax.scatter(tickers["risk"], tickers["return"], color=_GREY, s=18, zorder=3, label="single tickers")
    for name, risk, ret in zip(tickers["ticker"], tickers["risk"], tickers["return"]):
        ax.annotate(name, (risk, ret), xytext=(3, 3), textcoords="offset points", fontsize=8, color=_GREY)
    mine, equal = frontier["portfolio"], frontier["equal_weight"]
    ax.scatter([equal["risk"]], [equal["return"]], marker="s", color=_ORANGE, s=60, zorder=4, label="equal weight")
    ax.scatter([mine["risk"]], [mine["return"]], marker="*", color=_RED, s=160, zorder=5,
               label=f"target ({side.get('optimizer', 'chosen')})")
    ax.xaxis.set_major_formatter(_pct_formatter())
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_xlabel("volatility (annual)")
    ax.set_ylabel("expected return (annual)")
    ax.set_title(f"Efficient frontier of the selected tickers, {side.get('as_of', '')}")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return fig


def sleeves_table(side: dict[str, Any] | None) -> pd.DataFrame:
    """The barbell's two sleeves: their tickers and target weight (empty for other optimizers)."""
    sleeves = (side or {}).get("sleeves") or {}
    if not sleeves:
        return pd.DataFrame(columns=["Sleeve", "Tickers", "Weight"])
    weights = pd.Series((side or {}).get("weights") or {}, dtype="float64")
    rows = []
    for key, label in (("core", "Defensive core"), ("sleeve", "Aggressive sleeve")):
        names = [t for t in sleeves.get(key, [])]
        rows.append({"Sleeve": label, "Tickers": ", ".join(names),
                     "Weight": float(weights.reindex(names).fillna(0.0).sum())})
    return pd.DataFrame(rows)
