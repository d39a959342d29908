"""The validation backtest: the weekly process replayed through history, with costs.

Each simulated week calls the very functions ``etftrader weekly`` calls, with only the prices up to
that week: the data-quality check (:func:`etftrader.prices.check_quality`), the target
(:func:`etftrader.target.build_target`: scores, selection, optimizer), the week's prices
(:func:`etftrader.target.prices_today`) and the drift rule and whole-share trade list
(:func:`etftrader.rebalance.plan_rebalance`). Nothing here selects, weighs, measures drift or sizes
trades on its own; the quality check runs once per week for all strategies.

Simulation assumptions (stated in every report):

- Decisions are taken on the last trading day of each calendar week (the week's last date in the
  price index) between ``start`` and ``end``, using prices up to and including that day.
- Every proposed trade is executed at the next trading day's close by default (``fill="next_close"``:
  the analyst trades after the run), or at the decision day's own close (``fill="same_close"``);
  its estimated cost (``cost_bps`` of the value plus ``cost_per_share`` per share, as the weekly
  trade list computes it) is paid in cash.
- Between decisions the portfolio is marked to market daily at closing prices (forward-filled over
  gaps); cash earns nothing.
- Equal weight holds 1/N of the tickers the quality check kept that week, with the same drift rule,
  whole shares and costs. The benchmark is a frictionless buy and hold of the benchmark series.

The library entry points are :func:`run_backtest` (prices and config in, a :class:`BacktestResult`
out, no files; strategies may run in separate processes, with the same result),
:func:`write_outputs` (equity.csv, trades.csv, metrics.json, ..., PNG plots) and
:func:`render_backtest_report` (the 04 validation notebook as HTML).

The package's modules: :mod:`.engine` (the weekly loop), :mod:`.account` (a simulated book),
:mod:`.outputs` (the folder a run writes), :mod:`.plots` and :mod:`.report`; the names below are
re-exported from them.
"""

from __future__ import annotations

from .engine import (
    AUTO_WORKERS_MIN_SECONDS, BacktestResult, BookSpec, DEFAULT_OPTIMIZERS, DEFAULT_YEARS,
    EQUAL_WEIGHT, EXECUTION_NOTE, EXECUTION_NOTES, FILLS, SHORT_WINDOW_WEEKS, STRATEGY_CHOICES,
    backtest_window, earliest_start, parse_optimizers, rebalance_dates, run_backtest, run_books,
)
from .outputs import controls_table, load_outputs, turnover_over_time, write_outputs
from .report import (
    NOTEBOOK_NAME, activity_table, expected_vs_realised, format_metrics, framing_text,
    latest_targets, render_backtest_report, yearly_returns,
)


__all__ = [
    "EQUAL_WEIGHT",
    "BookSpec",
    "run_books",
    "STRATEGY_CHOICES",
    "EXECUTION_NOTE",
    "DEFAULT_YEARS",
    "AUTO_WORKERS_MIN_SECONDS",
    "BacktestResult",
    "parse_optimizers",
    "rebalance_dates",
    "earliest_start",
    "backtest_window",
    "run_backtest",
    "write_outputs",
    "load_outputs",
    "render_backtest_report",
    "framing_text",
    "format_metrics",
    "activity_table",
    "yearly_returns",
    "expected_vs_realised",
    "latest_targets",
    "controls_table",
    "turnover_over_time",
    "DEFAULT_OPTIMIZERS",
    "FILLS",
    "SHORT_WINDOW_WEEKS",
    "EXECUTION_NOTES",
    "NOTEBOOK_NAME",
]
