"""The notebook's tables and charts (matplotlib, imported only when a chart is drawn)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


from .portfolio import allocation_slices, top_n_exposure
from .performance import drawdown_from_returns, weekly_metrics
from .trades import buy_sell_split, most_traded, trade_history, trade_sizes
from .risk import REGIME_CALM_BELOW, REGIME_STRESSED_ABOVE, VolatilityGauge, market_regime
from .text import _money, _num, _pct


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


def weekly_metrics_table(perf: pd.DataFrame, metrics: dict[str, float] | None = None) -> pd.DataFrame:
    """The headline performance figures as a two-column table (label, value as text)."""
    m = metrics or weekly_metrics(perf)
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
    dd = drawdown_from_returns(perf["period_return"])
    fig, ax = _figure(8.0, 3.0)
    ax.fill_between(perf.index, dd.to_numpy(), 0.0, color=_RED, alpha=0.35)
    ax.plot(perf.index, dd.to_numpy(), color=_RED, linewidth=1)
    ax.set_ylim(min(float(dd.min()) * 1.1, -0.01), 0.0)
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_title(f"Drawdown (max {float(dd.min()):.1%})")
    _run_date_ticks(ax, perf.index)
    return fig


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
