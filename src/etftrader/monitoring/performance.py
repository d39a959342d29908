"""Time-weighted performance against the benchmark, drawdowns and the headline metrics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


from .ledger import _row_dates
from .portfolio import run_table


#: The ledger is written once a week; returns are annualised with 52 periods a year.
PERIODS_PER_YEAR = 52


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


def drawdown_from_returns(returns: pd.Series) -> pd.Series:
    """Drawdown after each period: wealth over its running peak, minus 1 (0 at a new high).

    The starting wealth of 1 counts as a peak, so a loss in the first period is a drawdown.
    NaN returns (the first run) are treated as 0.
    """
    r = pd.Series(returns, dtype=float).fillna(0.0)
    wealth = (1.0 + r).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return wealth / peak - 1.0


def weekly_metrics(perf: pd.DataFrame, *, periods_per_year: int = PERIODS_PER_YEAR) -> dict[str, float]:
    """Headline figures of a :func:`performance_series` frame.

    The annual return, volatility, Sharpe (zero risk-free rate) and maximum drawdown are
    :func:`etftrader.metrics.return_metrics` of the weekly returns with 52 periods a year, the
    same definitions as the backtest's on daily values; they need at least two weekly returns and
    are NaN before (0 drawdown with fewer than two).

    Returns
    -------
    dict
        ``weeks`` (number of weekly returns), ``total_return``, ``annual_return`` (compounded),
        ``annual_volatility``, ``sharpe``, ``max_drawdown``, ``win_rate``,
        ``benchmark_total_return``, ``excess_return`` and ``current_drawdown``.
    """
    from ..metrics import return_metrics

    r = perf["period_return"].dropna().astype(float) if len(perf) else pd.Series(dtype=float)
    n = int(r.size)
    total = float((1.0 + r).prod() - 1.0) if n else 0.0
    figures = return_metrics(r, periods_per_year=periods_per_year)
    dd = drawdown_from_returns(r) if n else pd.Series([0.0])
    bench = perf["benchmark_cumulative"].dropna() if "benchmark_cumulative" in perf else pd.Series(dtype=float)
    bench_total = float(bench.iloc[-1]) if not bench.empty else float("nan")
    return {
        "weeks": n,
        "total_return": total,
        "annual_return": figures["cagr"],
        "annual_volatility": figures["volatility"],
        "sharpe": figures["sharpe"],
        "max_drawdown": figures["max_drawdown"] if n >= 2 else float(dd.min()),
        "current_drawdown": float(dd.iloc[-1]),
        "win_rate": float((r > 0).mean()) if n else float("nan"),
        "benchmark_total_return": bench_total,
        "excess_return": total - bench_total if not math.isnan(bench_total) else float("nan"),
    }


def expected_vs_realised(perf: pd.DataFrame, metrics: dict[str, float] | None = None) -> pd.DataFrame:
    """What the optimizer expected (average over runs) against what was realized (annualised).

    Returns
    -------
    DataFrame
        Index ``Return, Volatility, Sharpe``; columns ``expected, realized, difference``.
    """
    metrics = metrics or weekly_metrics(perf)
    expected = [float(perf[c].mean()) if c in perf and perf[c].notna().any() else float("nan")
                for c in ("expected_return", "expected_volatility", "expected_sharpe")]
    realized = [metrics["annual_return"], metrics["annual_volatility"], metrics["sharpe"]]
    table = pd.DataFrame({"expected": expected, "realized": realized},
                         index=pd.Index(["Return", "Volatility", "Sharpe"], name="annualised"))
    table["difference"] = table["realized"] - table["expected"]
    return table


