"""The backtest's saved charts: portfolio values, drawdowns, turnover and costs."""

from __future__ import annotations

from pathlib import Path
import numpy as np
import pandas as pd

from ..metrics import drawdown
from .outputs import turnover_over_time


def _plot_turnover(decisions: pd.DataFrame, png: Path) -> None:
    """Trailing 52-week turnover and cumulative costs of every strategy, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = turnover_over_time(decisions)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for name in series["turnover"].columns:
        top.plot(series["turnover"].index, series["turnover"][name], label=name, linewidth=1.1)
        bottom.plot(series["costs"].index, series["costs"][name], label=name, linewidth=1.1)
    top.set_title("One-way turnover over the trailing 52 weeks (x portfolio value)")
    bottom.set_title("Cumulative costs paid")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    top.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _plot(equity: pd.DataFrame, equity_png: Path, drawdowns_png: Path) -> None:
    """Equity curves (log scale, growth of the starting capital) and drawdowns, as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a scheduled or headless run
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(10, 5))
    for name in equity.columns:
        ax.plot(equity.index, equity[name], label=name, linewidth=1.2)
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}")  # 1,250,000 rather than 1.25 x 10^6
    ax.yaxis.set_major_formatter(plain)
    values = equity.to_numpy(dtype=float)
    if np.nanmax(values) < 10 * np.nanmin(values):  # within one decade only minor ticks carry labels
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="minor", labelsize="x-small")
    ax.set_title("Portfolio value (log scale), costs included")
    ax.set_ylabel("value")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(equity_png, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    for name in equity.columns:
        ax.plot(equity.index, 100 * drawdown(equity[name].dropna()), label=name, linewidth=1.0)
    ax.set_title("Drawdown from the running peak (%)")
    ax.set_ylabel("%")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(drawdowns_png, dpi=110)
    plt.close(fig)
