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

The sections live in their own modules: :mod:`.ledger` (inputs), :mod:`.portfolio`, :mod:`.performance`,
:mod:`.trades`, :mod:`.risk`, :mod:`.summary` and :mod:`.charts`; this package re-exports their public names.
"""

from __future__ import annotations

from .ledger import filter_as_of, read_market
from .portfolio import (
    allocation_slices, concentration, concentration_table, current_positions, latest_run, run_table,
    top_bottom, top_n_exposure,
)
from .performance import (
    PERIODS_PER_YEAR, drawdown_from_returns, expected_vs_realised, external_flows, weekly_metrics,
    performance_series,
)
from .trades import (
    buy_sell_split, executed_trades, most_traded, pending_trades, trade_activity, trade_history,
    trade_sizes,
)
from .risk import (
    REGIME_CALM_BELOW, REGIME_RULE, REGIME_STRESSED_ABOVE, STOP_DAILY_DAYS, STOP_LOSS_RULE,
    STOP_MIN_DAYS, VolatilityGauge, market_regime, stop_loss_levels, volatility_gauge,
)
from .summary import summary_text
from .text import money, percent
from .charts import (
    ChartNote, chart_allocation, chart_buy_sell, chart_cumulative, chart_drawdown, chart_exposure,
    chart_factor_scores, chart_frontier, chart_most_traded, chart_period_returns,
    chart_trade_activity, chart_trade_sizes, chart_volatility, chart_weights, format_table,
    weekly_metrics_table, show, sleeves_table,
)


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
    "drawdown_from_returns",
    "weekly_metrics",
    "expected_vs_realised",
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
    "weekly_metrics_table",
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
    "trade_history",
    "chart_frontier",
    "sleeves_table",
    "STOP_DAILY_DAYS",
    "STOP_MIN_DAYS",
]
