"""The backtest's tearsheet: monthly returns, rolling Sharpe and volatility, excess return over the
benchmark, the worst drawdowns, weights over time, one drawdown panel per strategy and a one-line
conclusion.

Figures come from the backtest's output folder (:func:`etftrader.backtest.load_outputs`): daily
portfolio values net of costs. empyrical (the library behind the backtest's metrics) computes the
monthly aggregation and the rolling one-year Sharpe ratio and volatility; it has no drawdown table,
so :func:`worst_drawdowns` reads the periods off the same underwater curve empyrical's
``max_drawdown`` uses (QuantStats, which has one, pins an old pandas and is not a dependency).
Charts are matplotlib figures for :func:`etftrader.monitoring.show`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from factors.names import TRADING_DAYS

__all__ = ["conclusion", "daily_returns", "monthly_returns", "rolling_figures", "worst_drawdowns",
           "chart_monthly_heatmaps", "chart_rolling", "chart_excess", "chart_weights_over_time",
           "chart_drawdown_panels"]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def daily_returns(equity: pd.DataFrame) -> pd.DataFrame:
    """Simple daily returns of every series (first day dropped)."""
    return equity.astype(float).pct_change().iloc[1:]


def monthly_returns(equity: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per series, a year x month table of compounded monthly returns (empyrical ``aggregate_returns``)."""
    import empyrical

    out = {}
    for name, returns in daily_returns(equity).items():
        monthly = empyrical.aggregate_returns(returns.dropna(), "monthly")
        table = monthly.unstack()
        table.columns = [MONTHS[int(m) - 1] for m in table.columns]
        table.index.name = "year"
        out[str(name)] = table.reindex(columns=MONTHS)
    return out


def rolling_figures(equity: pd.DataFrame, window: int = TRADING_DAYS,
                    risk_free_rate: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rolling one-year Sharpe ratio and annualised volatility of every series (empyrical)."""
    import empyrical

    returns = daily_returns(equity)
    excess = returns - risk_free_rate / TRADING_DAYS
    sharpe = pd.DataFrame({c: empyrical.roll_sharpe_ratio(excess[c], window=window) for c in returns})
    vol = pd.DataFrame({c: empyrical.roll_annual_volatility(returns[c], window=window) for c in returns})
    return sharpe, vol


def worst_drawdowns(values: pd.Series, n: int = 5) -> pd.DataFrame:
    """The ``n`` deepest drawdowns of a value series: peak, trough, recovery, depth and length.

    A drawdown runs from a peak to the day the value first gets back to it (``recovered`` NaT when
    it has not by the end). Depth is negative (-0.25 for a 25% fall), as empyrical reports it.
    """
    v = values.astype(float).dropna()
    empty = pd.DataFrame({"peak": pd.Series(dtype="datetime64[ns]"), "trough": pd.Series(dtype="datetime64[ns]"),
                          "recovered": pd.Series(dtype="datetime64[ns]"), "depth": pd.Series(dtype=float),
                          "days": pd.Series(dtype="int64")})
    if v.empty:
        return empty
    peak = v.cummax()
    under = v / peak - 1.0
    rows = []
    in_dd, start = False, None
    for day, level in under.items():
        if level < 0 and not in_dd:
            in_dd, start = True, day
        elif level >= 0 and in_dd:
            window = under.loc[start:day]
            rows.append((_peak_before(v, start), window.idxmin(), day, float(window.min())))
            in_dd = False
    if in_dd:
        window = under.loc[start:]
        rows.append((_peak_before(v, start), window.idxmin(), pd.NaT, float(window.min())))
    if not rows:  # never below a peak
        return empty
    table = pd.DataFrame(rows, columns=["peak", "trough", "recovered", "depth"])
    table["recovered"] = pd.to_datetime(table["recovered"])
    end = table["recovered"].fillna(v.index[-1])
    table["days"] = (end - table["peak"]).dt.days
    return table.sort_values("depth", kind="stable").head(n).reset_index(drop=True)


def _peak_before(values: pd.Series, start: pd.Timestamp) -> pd.Timestamp:
    before = values.loc[:start].iloc[:-1]
    return before.index[-1] if len(before) else start


def conclusion(metrics: pd.DataFrame, run: Mapping[str, Any]) -> str:
    """One plain sentence: how the best optimizer did against equal weight and the benchmark."""
    strategies = [s for s in run.get("optimizers", []) if s in metrics.index]
    if not strategies or "equal_weight" not in metrics.index:
        return "Not enough series to compare."
    ew = metrics.loc["equal_weight"]
    best = max(strategies, key=lambda s: _finite(metrics.loc[s, "sharpe"]))
    b = metrics.loc[best]
    bench = str(run.get("benchmark") or "")
    bench_text = f"; {bench} had {metrics.loc[bench, 'sharpe']:.2f}" if bench in metrics.index else ""
    short = " (under a year of weeks: not meaningful)" if int(run.get("weeks") or 0) < 52 else ""
    ew_turn, best_turn = _finite(ew["turnover"]), _finite(b["turnover"])
    if _finite(ew["sharpe"]) >= _finite(b["sharpe"]) - 0.05:
        share = f"{ew_turn / best_turn:.0%} of" if best_turn > 0 else "no more than"
        return (f"Equal weight matched the best optimizer ({best}): a Sharpe ratio of {ew['sharpe']:.2f} against "
                f"{b['sharpe']:.2f}, net of costs, at {share} its turnover ({ew_turn:.2f} against {best_turn:.2f} a "
                f"year){bench_text}{short}.")
    times = f"{best_turn / ew_turn:.1f} times" if ew_turn > 0 else "more than"
    return (f"{best} had the best Sharpe ratio, {b['sharpe']:.2f} against equal weight's {ew['sharpe']:.2f}, net "
            f"of costs, trading {times} as much as equal weight ({best_turn:.2f} against {ew_turn:.2f} a year)"
            f"{bench_text}{short}.")


def _finite(x: Any) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return -math.inf
    return value if math.isfinite(value) else -math.inf


# --------------------------------------------------------------------------------------------- charts


def _grid(count: int, columns: int = 2, height: float = 2.6, width: float = 11.0):
    from matplotlib.figure import Figure

    rows = max(1, math.ceil(count / columns))
    fig = Figure(figsize=(width, height * rows))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def chart_monthly_heatmaps(equity: pd.DataFrame):
    """A monthly-returns heatmap per series (green up, red down, the figure in each cell)."""
    tables = monthly_returns(equity)
    fig, axes = _grid(len(tables), columns=2, height=0.28 * max(len(t) for t in tables.values()) + 1.2)
    for ax, (name, table) in zip(axes, tables.items()):
        values = table.to_numpy(dtype=float)
        limit = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.1
        ax.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(12), MONTHS, fontsize=7)
        ax.set_yticks(range(len(table)), [str(y) for y in table.index], fontsize=7)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0%}" if abs(v) >= 0.095 else f"{v:.1%}", ha="center", va="center", fontsize=5.5)
        ax.set_title(f"{name}: monthly returns", fontsize=9)
    fig.suptitle("Monthly returns, net of costs")
    fig.tight_layout()
    return fig


def chart_rolling(equity: pd.DataFrame, risk_free_rate: float = 0.0):
    """Rolling one-year Sharpe ratio and volatility of every series."""
    from matplotlib.figure import Figure

    from .monitoring.charts import _pct_formatter

    sharpe, vol = rolling_figures(equity, risk_free_rate=risk_free_rate)
    fig = Figure(figsize=(11.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True)
    for name in sharpe.columns:
        style = {"color": "black", "linewidth": 1.6} if name not in _optimizers(equity) and name != "equal_weight" \
            else {"linewidth": 1.0}
        top.plot(sharpe.index, sharpe[name], label=str(name), **style)
        bottom.plot(vol.index, vol[name], label=str(name), **style)
    top.axhline(0, color="grey", linewidth=0.6)
    top.set_title("Rolling one-year Sharpe ratio")
    bottom.set_title("Rolling one-year volatility (annualised)")
    bottom.yaxis.set_major_formatter(_pct_formatter())
    top.legend(loc="upper left", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _optimizers(equity: pd.DataFrame) -> list[str]:
    from .config import OPTIMIZERS

    return [c for c in equity.columns if c in OPTIMIZERS]


def chart_excess(equity: pd.DataFrame, benchmark: str):
    """Cumulative return of each strategy minus the benchmark's (both net of nothing but costs)."""
    from matplotlib.figure import Figure

    from .monitoring.charts import _pct_formatter

    fig = Figure(figsize=(11.0, 3.6))
    ax = fig.subplots()
    if benchmark not in equity.columns:
        ax.text(0.5, 0.5, "no benchmark in this backtest", ha="center")
        return fig
    growth = equity / equity.iloc[0]
    for name in equity.columns:
        if name == benchmark:
            continue
        ax.plot(growth.index, growth[name] - growth[benchmark], label=str(name), linewidth=1.0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_title(f"Excess cumulative return over {benchmark}")
    ax.legend(loc="upper left", ncol=5, fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def chart_weights_over_time(targets: pd.DataFrame, top: int = 8):
    """Each optimizer's target weights week by week (stacked; the ``top`` most held tickers, the
    rest as ``other``)."""
    names = [s for s in dict.fromkeys(targets["strategy"]) if s != "equal_weight"] if len(targets) else []
    fig, axes = _grid(len(names) or 1, columns=2, height=2.6)
    for ax, name in zip(axes, names):
        wide = targets.loc[targets["strategy"] == name].pivot_table(index="date", columns="ticker", values="weight",
                                                                     aggfunc="sum", fill_value=0.0)
        order = wide.mean().sort_values(ascending=False).index
        shown = wide[order[:top]]
        if len(order) > top:
            shown = shown.assign(other=wide[order[top:]].sum(axis=1))
        ax.stackplot(shown.index, shown.to_numpy().T, labels=[str(c) for c in shown.columns], linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name}: target weights", fontsize=9)
        ax.legend(loc="upper left", ncol=5, fontsize=5.5, frameon=False)
    fig.tight_layout()
    return fig


def chart_drawdown_panels(equity: pd.DataFrame):
    """One underwater panel per series, on the same scale."""
    from .monitoring.charts import _pct_formatter

    under = equity / equity.cummax() - 1.0
    low = float(under.min().min()) * 1.05
    fig, axes = _grid(under.shape[1], columns=2, height=2.0)
    for ax, name in zip(axes, under.columns):
        ax.fill_between(under.index, under[name].to_numpy(), 0.0, color="#d62728", alpha=0.35)
        ax.set_ylim(low, 0)
        ax.yaxis.set_major_formatter(_pct_formatter())
        ax.set_title(f"{name}: drawdown (worst {under[name].min():.1%})", fontsize=9)
    fig.tight_layout()
    return fig
