"""The validation backtest: the weekly process replayed through history, with costs.

Each simulated week calls the very functions ``etftrader weekly`` calls, with only the prices up to
that week: the data-quality check (:func:`etftrader.prices.check_quality`), the target
(:func:`etftrader.pipeline.build_target`: scores, selection, optimizer), the week's prices
(:func:`etftrader.pipeline.prices_today`) and the drift rule and whole-share trade list
(:func:`etftrader.pipeline.plan_rebalance`). Nothing here selects, weighs, measures drift or sizes
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
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .config import OPTIMIZERS, Config
from .errors import ConfigError, DataError, LimitsError, OptimizationError
from .metrics import METRIC_NAMES, drawdown, performance_metrics
from .progress import Progress
from .runlog import LOGGER_NAME
from .prices.frame import SAMPLE_BENCHMARK_DIVIDEND_GAP, SAMPLE_BENCHMARK_LABEL
from .week import EQUAL_WEIGHT, decide_week

__all__ = [
    "EQUAL_WEIGHT",
    "BookSpec",
    "run_books",
    "STRATEGY_CHOICES",
    "EXECUTION_NOTE",
    "DEFAULT_YEARS",
    "AUTO_WORKERS_MIN_STEPS",
    "BacktestResult",
    "parse_optimizers",
    "rebalance_dates",
    "earliest_start",
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
]

_log = logging.getLogger(f"{LOGGER_NAME}.backtest")


#: what ``--optimizer`` accepts
STRATEGY_CHOICES = (*OPTIMIZERS, "all")
#: what a backtest replays unless told otherwise: the seed's three optimizers
DEFAULT_OPTIMIZERS = ("mvo", "minvar", "rankbased")

#: fewer weekly decisions than this and annualised figures are marked "not meaningful"
SHORT_WINDOW_WEEKS = 52

#: years simulated when no start is given (fewer when the history is shorter)
DEFAULT_YEARS = 10

#: strategy-weeks from which ``workers="auto"`` spreads strategies over processes
AUTO_WORKERS_MIN_STEPS = 400

#: how the backtest fills a week's trades: the next trading day's close (the documented routine:
#: decide on the week's close, trade at the broker afterwards), or the decision day's own close
FILLS = ("next_close", "same_close")

#: the execution assumption of each fill rule, written into run.json and the report
EXECUTION_NOTES = {
    "next_close": (
        "Decisions are taken on the close of the last trading day of each week; the trades are filled at "
        "the next trading day's close, sells first, buys scaled back to the cash there is then (cash never "
        "goes below zero); the last decision's trades are not filled. Estimated costs are paid in cash. "
        "Cash earns nothing. The benchmark is a frictionless buy and hold."),
    "same_close": (
        "Every proposed trade is executed at the close of the decision day (the last trading day of "
        "each week): the close that made the signal, an optimistic assumption; its estimated cost is "
        "paid in cash. Cash earns nothing. The benchmark is a frictionless buy and hold."),
}
EXECUTION_NOTE = EXECUTION_NOTES["next_close"]

TRADE_COLUMNS = ["strategy", "date", "ticker", "action", "shares", "price", "value", "cost"]
DECISION_COLUMNS = [
    "strategy", "date", "drift", "threshold", "rebalanced", "trades", "skipped",
    "traded_value", "costs", "cash", "value", "method", "note", "controls",
    "expected_return", "expected_volatility", "expected_sharpe",
]
TARGET_COLUMNS = ["strategy", "date", "ticker", "weight"]


@dataclass(frozen=True)
class BacktestResult:
    """Everything a backtest produced; :func:`write_outputs` turns it into files.

    Attributes
    ----------
    equity : pd.DataFrame
        Daily values, index ``date`` (first decision day to the last day <= end), one column per
        strategy (``mvo``, ``minvar``, ``rankbased``, ``equal_weight``) and one for the benchmark,
        named by its label.
    trades : pd.DataFrame
        Every simulated trade: ``strategy, date, ticker, action, shares, price, value, cost``.
    decisions : pd.DataFrame
        One row per strategy and week: drift, threshold, whether it rebalanced, trade count,
        traded value, costs, cash and value after the trades, optimizer used and notes.
    targets : pd.DataFrame
        The target weights computed each week: ``strategy, date, ticker, weight``.
    metrics : dict
        Series name (the columns of ``equity``) -> :data:`etftrader.metrics.METRIC_NAMES` figures.
    schedule : pd.DatetimeIndex
        The decision days.
    strategies : tuple of str
        The simulated strategies, in column order.
    benchmark : str or None
        Label of the benchmark column, None when the source has no benchmark.
    settings : dict
        The settings that shaped the run (positions, capital, costs, thresholds, ...).
    notes : tuple of str
        What the reader must know: the data source's notes, weeks with problems, caveats.
    elapsed : float
        Seconds spent in the simulation.
    timings : dict
        Seconds spent in each weekly step summed over the run: ``quality`` (check_quality),
        ``target`` (the week step: prices, target and plan), ``plan`` (0, kept for old readers), ``total``.
    """

    equity: pd.DataFrame
    trades: pd.DataFrame
    decisions: pd.DataFrame
    targets: pd.DataFrame
    metrics: dict[str, dict[str, float]]
    schedule: pd.DatetimeIndex
    strategies: tuple[str, ...]
    benchmark: str | None
    settings: dict[str, Any]
    notes: tuple[str, ...]
    elapsed: float
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


def parse_optimizers(choice: str | Sequence[str]) -> tuple[str, ...]:
    """``"all"`` -> every optimizer; a name, ``"mvo,minvar"`` or a list of names -> those, validated.

    Raises
    ------
    ConfigError
        A name that is not an optimizer (the message lists the valid ones).
    """
    names = [n.strip() for n in choice.split(",")] if isinstance(choice, str) else list(choice)
    if names == ["all"]:
        return tuple(OPTIMIZERS)
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown or not names:
        raise ConfigError(
            f"`optimizer` must be one of {', '.join(STRATEGY_CHOICES)}, got {', '.join(map(repr, unknown or names))}"
        )
    return tuple(dict.fromkeys(names))


def rebalance_dates(index: pd.DatetimeIndex, start: pd.Timestamp | None = None,
                    end: pd.Timestamp | None = None) -> pd.DatetimeIndex:
    """The decision days: the last date of each calendar week in ``index`` within [start, end].

    Weeks are Monday to Sunday, so the decision day is the Friday, or the week's last trading day
    when the Friday is a holiday. A week cut by ``end`` decides on its last date <= ``end``.
    """
    index = pd.DatetimeIndex(index)
    if end is not None:
        index = index[index <= end]
    if len(index) == 0:
        return pd.DatetimeIndex([], name="date")
    weeks = pd.Series(index, index=index).groupby(index.to_period("W-SUN")).max()
    days = pd.DatetimeIndex(weeks.to_numpy(), name="date")
    if start is not None:
        days = days[days >= start]
    return days


def earliest_start(index: pd.DatetimeIndex, config: Config) -> pd.Timestamp | None:
    """First day with the factor lookbacks of history behind it (None when the data is too short).

    The first decision needs ``config.factors.min_history`` trading days up to and including it.
    """
    needed = config.factors.min_history
    return pd.Timestamp(index[needed - 1]) if len(index) >= needed else None


def run_backtest(
    data,
    config: Config,
    *,
    optimizers: str | Sequence[str] = DEFAULT_OPTIMIZERS,
    start: date | pd.Timestamp | None = None,
    end: date | pd.Timestamp | None = None,
    positions: int | None = None,
    progress: bool = False,
    workers: int | str | None = 1,
    fill: str = "next_close",
    equal_weight: bool = True,
) -> BacktestResult:
    """Replay the weekly process from ``start`` to ``end`` for each optimizer, 1/N and the benchmark.

    Parameters
    ----------
    data : etftrader.prices.PriceData
        Prices of the whole universe (the close frame, optional volume, the benchmark series).
        Each week sees only the rows up to its decision day.
    config : Config
        The run's configuration: capital (``portfolio.capital``), factor and optimizer settings,
        drift thresholds and costs (``rebalance``), data-quality rules (``data``).
    optimizers : str or sequence of str
        ``"all"`` (every optimizer), one of :data:`etftrader.config.OPTIMIZERS`, or several;
        default the seed's three, mvo, minvar and rankbased.
    start, end : date, optional
        First and last day considered. ``end`` defaults to the last price, ``start`` to
        :data:`DEFAULT_YEARS` years before ``end`` or the earliest day with enough history for the
        factor lookbacks, whichever is later.
    positions : int, optional
        Number of positions (default ``config.portfolio.positions``).
    progress : bool
        Show a one-line week counter on a terminal.
    fill : {"next_close", "same_close"}
        When a week's trades fill: at the next trading day's close (default), or at the close of
        the decision day itself (the close that made the signal).
    workers : int or "auto", optional
        Processes to spread the strategies over. Strategies are independent, so the result is
        the same for any value; 1 (default) runs everything in this process; ``"auto"`` uses one
        per strategy up to the CPU count when the run is long enough to repay starting them
        (:data:`AUTO_WORKERS_MIN_STEPS` strategy-weeks).
    equal_weight : bool, default True
        Carry the 1/N book along. A sweep runs it once for all the cells that share its settings
        (``optimizers=()`` with ``equal_weight=True`` runs it alone).

    Returns
    -------
    BacktestResult

    Raises
    ------
    ConfigError
        ``start`` after ``end``, a ``start`` earlier than the lookbacks allow (the message gives the
        earliest possible start), no decision day in the window, an unknown optimizer.
    DataError
        The price frame is empty.
    """
    clock = time.perf_counter()
    if fill not in FILLS:
        raise ConfigError(f"`fill` must be one of {', '.join(FILLS)}, got {fill!r}")
    strategies_opt = parse_optimizers(optimizers) if (optimizers or not equal_weight) else ()
    positions = int(positions if positions is not None else config.portfolio.positions)
    if positions < 1:
        raise ConfigError(f"`positions` must be at least 1, got {positions}")
    from .groups import group_limits

    group_limits(config)  # a group limit naming no ticker is exit 2 before any week is simulated
    data, schedule = _scheduled(data, config, start, end)
    strategies = (*strategies_opt, EQUAL_WEIGHT) if equal_weight else strategies_opt
    groups = _groups(strategies, workers, len(schedule))
    if len(groups) == 1:
        parts = [_simulate(data, config, strategies, schedule, positions, progress, fill)]
    else:
        parts = _simulate_in_processes(data, config, groups, schedule, positions, progress, fill)

    capital = float(config.portfolio.capital)
    equity = pd.concat([p.equity for p in parts], axis=1)[list(strategies)]
    notes: list[str] = list(getattr(data, "notes", ()) or ())
    notes += list(dict.fromkeys(n for p in parts for n in p.notes))  # a week's data note only once
    benchmark = getattr(data, "benchmark", None)
    label = None
    if benchmark is not None and len(benchmark.dropna()):
        label = str(benchmark.name or "benchmark")
        equity[label] = _buy_and_hold(benchmark, equity.index, capital)
        if equity[label].isna().all():
            equity = equity.drop(columns=label)
            notes.append(f"benchmark {label} has no prices in the backtest window; left out")
            label = None
    else:
        notes.append("no benchmark series for this source; the comparison shows equal weight only")

    rank = {name: i for i, name in enumerate(strategies)}
    trades = _in_order([f for p in parts for f in p.trades], TRADE_COLUMNS, rank)
    decisions = _in_order([pd.DataFrame(p.decisions, columns=DECISION_COLUMNS) for p in parts],
                          DECISION_COLUMNS, rank)
    targets = _in_order([f for p in parts for f in p.targets], TARGET_COLUMNS, rank)
    for name, count in decisions.loc[decisions["note"].astype(bool), "strategy"].value_counts(sort=False).items():
        notes.append(f"{name}: {count} of {len(schedule)} weeks carry a note (an optimizer fallback, fewer "
                     "usable tickers than positions, or no decision); see the note column of decisions.csv")
    metrics = _metrics(equity, trades, strategies, label, config)
    for name, figures in metrics.items():
        figures["fill"] = fill if name in strategies else "none (buy and hold)"
    if label == SAMPLE_BENCHMARK_LABEL and math.isfinite(metrics[label].get("cagr", math.nan)):
        cagr = metrics[label]["cagr"]
        notes.append(f"benchmark {label}: its {cagr:.1%} a year is a price return; with its dividends "
                     f"(about {SAMPLE_BENCHMARK_DIVIDEND_GAP:.1%} a year) it would be about "
                     f"{(1 + cagr) * (1 + SAMPLE_BENCHMARK_DIVIDEND_GAP) - 1:.1%}, so excess returns "
                     "against it are overstated by about that gap")
    if len(schedule) < SHORT_WINDOW_WEEKS:
        # Annualised figures of a few weeks extrapolate noise to a year: say so where they are read.
        flag = (f"not meaningful: {len(schedule)} weekly decisions, less than a year "
                "(CAGR, volatility, Sharpe, Sortino, Calmar and turnover are annualised)")
        for figures in metrics.values():
            figures["annualised_figures"] = flag
    settings = _settings(config, strategies_opt, positions, schedule, equity, data, label, fill)
    spent = {k: sum(p.spent[k] for p in parts) for k in ("quality", "target", "plan")}
    elapsed = time.perf_counter() - clock
    timings = {**{k: round(v, 3) for k, v in spent.items()}, "total": round(elapsed, 3),
               "workers": len(groups)}
    _log.info("backtest: %d weeks x %d strategies in %.1f s (%s)", len(schedule), len(strategies), elapsed,
              ", ".join(f"{k} {v:g}" for k, v in timings.items()))
    return BacktestResult(
        equity=equity, trades=trades, decisions=decisions, targets=targets, metrics=metrics,
        schedule=schedule, strategies=strategies, benchmark=label, settings=settings,
        notes=tuple(notes), elapsed=elapsed, timings=timings,
    )


def run_books(data, config: Config, specs: Mapping[str, "BookSpec"], *, start=None, end=None
              ) -> dict[str, Any]:
    """Several books with their own settings in one weekly loop (the sweep's engine).

    Each book's equity, trades, decisions and metrics are those ``run_backtest`` gives for it
    alone (``run_backtest(data, spec.config, optimizers=[spec.optimizer], positions=...,
    fill=...)``); the quality check and the factor scores of each week are computed once for
    all of them. ``config`` gives the period rules, the data-quality rules and the factor settings,
    which every book shares.

    Returns
    -------
    dict
        ``books``: label -> {``metrics``, ``equity``, ``trades``, ``decisions``}; ``benchmark``:
        its label and metrics (or None); ``schedule``; ``end``; ``short_window`` (bool).
    """
    data, schedule = _scheduled(data, config, start, end)
    labels = list(specs)
    part = _simulate(data, config, labels, schedule, 1, False, specs=specs)
    equity = part.equity[labels]
    capital = float(config.portfolio.capital)
    rank = {name: i for i, name in enumerate(labels)}
    trades = _in_order(part.trades, TRADE_COLUMNS, rank)
    decisions = _in_order([pd.DataFrame(part.decisions, columns=DECISION_COLUMNS)], DECISION_COLUMNS, rank)
    books = {}
    for label in labels:
        mine = trades[trades["strategy"] == label]
        books[label] = {"metrics": _metrics(equity, mine, [label], None, specs[label].config)[label],
                        "equity": equity[label], "trades": mine,
                        "decisions": decisions[decisions["strategy"] == label]}
    benchmark = getattr(data, "benchmark", None)
    bench = None
    if benchmark is not None and len(benchmark.dropna()):
        name = str(benchmark.name or "benchmark")
        values = _buy_and_hold(benchmark, equity.index, capital)
        if not values.isna().all():
            frame = pd.DataFrame({name: values})
            bench = {"label": name, "equity": values,
                     "metrics": _metrics(frame, trades.iloc[:0], [], name, config)[name]}
    return {"books": books, "benchmark": bench, "schedule": schedule, "end": str(equity.index[-1].date()),
            "short_window": len(schedule) < SHORT_WINDOW_WEEKS}


def _scheduled(data, config: Config, start, end):
    """The decision days in [start, end] and the data cut after the last of them (nothing later
    is ever needed); a one-line error when there are no prices or no decision day."""
    close = data.close
    if close is None or close.empty:
        raise DataError(f"no prices to backtest (source {data.source!r} returned an empty frame)")
    start_ts, end_ts = _window(close.index, config, start, end)
    schedule = rebalance_dates(close.index, start_ts, end_ts)
    if len(schedule) == 0:
        raise ConfigError(
            f"no weekly decision day between {start_ts.date()} and {end_ts.date()}; widen --start/--end"
        )
    return _slice(data, schedule[-1]), schedule


@dataclass(frozen=True)
class BookSpec:
    """One simulated account of :func:`_simulate`: what it optimizes and under which settings."""

    optimizer: str
    config: Config
    positions: int
    fill: str = "next_close"


@dataclass
class _Part:
    """What simulating some of the strategies produced (merged by :func:`run_backtest`)."""

    equity: pd.DataFrame
    trades: list[pd.DataFrame]
    decisions: list[dict[str, Any]]
    targets: list[pd.DataFrame]
    notes: list[str]
    spent: dict[str, float]


def _groups(strategies: Sequence[str], workers: int | str | None, weeks: int) -> list[tuple[str, ...]]:
    """Strategies dealt round-robin to at most ``workers`` processes (1: all in this process)."""
    if workers == "auto":
        # A spawned process needs a few seconds to import pandas and the solvers.
        long_run = weeks * len(strategies) >= AUTO_WORKERS_MIN_STEPS
        workers = min(os.cpu_count() or 1, len(strategies)) if long_run else 1
    workers = 1 if workers is None else int(workers)
    if workers < 1:
        raise ConfigError(f"`workers` must be at least 1, got {workers}")
    n = min(workers, len(strategies))
    return [tuple(strategies[i::n]) for i in range(n)]


def _simulate_in_processes(data, config: Config, groups: list[tuple[str, ...]], schedule: pd.DatetimeIndex,
                           positions: int, progress: bool, fill: str = "next_close") -> list[_Part]:
    """Each group of strategies in its own process.

    "spawn" on every platform: it is the only start method on Windows, and it is safe with the
    threads the numerical libraries start (fork is not). Only the first group draws the counter.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=context) as pool:
        futures = [pool.submit(_simulate, data, config, group, schedule, positions, progress and i == 0, fill)
                   for i, group in enumerate(groups)]
        return [f.result() for f in futures]


def _simulate(data, config: Config, strategies: Sequence[str], schedule: pd.DatetimeIndex,
              positions: int, progress: bool, fill: str = "next_close",
              specs: Mapping[str, "BookSpec"] | None = None) -> _Part:
    """The weekly loop for ``strategies``: one account each, the weekly pipeline's steps each week.

    ``specs`` gives a book its own optimizer, configuration, positions and fill (a sweep runs
    many cells in one loop, so each week's quality check and scores are computed once for all of
    them); by default every book is named after its optimizer and uses ``config``, ``positions``
    and ``fill``. The data rules and factor settings are ``config``'s for every book.
    """
    from . import pipeline
    from .groups import group_limits
    from .prices.quality import QualityHistory

    # Closes forward-filled, for marking positions to market (a held ticker keeps its last
    # price over a gap; a zero, negative or infinite print is a gap, not a price).
    from .prices.guard import guarded_closes

    close = data.close
    # The weekly run's price guard, day by day: a close the quality rules reject is not a mark
    # (a x100 print must not show as a 100-fold gain); gaps and bad prints carry the last good close.
    marks = guarded_closes(close, config.data.max_daily_move)
    specs = dict(specs or {})
    for name in strategies:
        specs.setdefault(name, BookSpec(name, config, positions, fill))
    books = {name: _Book(float(specs[name].config.portfolio.capital)) for name in strategies}
    limits = {name: group_limits(specs[name].config) for name in strategies}
    trades_rows: list[tuple[str, pd.Timestamp, pd.DataFrame]] = []
    decision_rows: list[dict[str, Any]] = []
    target_rows: list[tuple[str, pd.Timestamp, pd.Index, np.ndarray]] = []
    notes: list[str] = []
    spent = {"quality": 0.0, "target": 0.0, "plan": 0.0}
    stream = sys.stderr if progress else None
    # check_quality(prices up to each week) without re-scanning the whole history every week.
    history = QualityHistory(data, config.data, min_history=config.factors.min_history)
    position = {d: i for i, d in enumerate(marks.index)}
    # Plain lists and arrays for the per-week lookups (iterating an Arrow-backed index costs
    # ~1 us a ticker, every week, twice).
    mark_columns = marks.columns.tolist()
    mark_values = marks.to_numpy()
    unfilled = False
    with Progress("backtest", total=len(schedule), stream=stream) as bar:
        for day, row in zip(schedule, marks.loc[schedule].to_numpy()):
            mark = dict(zip(mark_columns, row.tolist()))
            week = _slice(data, day)
            tick = time.perf_counter()
            try:
                quality = history.at(day.date())
            except DataError as e:
                notes.append(f"{day.date()}: no decision for any strategy ({e})")
                _log.warning("week %s skipped: %s", day.date(), e)
                decision_rows.extend(books[n].idle(n, day, mark, f"data: {e}") for n in strategies)
                bar.advance(str(day.date()))
                continue
            spent["quality"] += time.perf_counter() - tick
            scores: list[pd.DataFrame] = []  # the week's factor scores, computed once for all optimizers
            for name in strategies:
                book = books[name]
                spec = specs[name]
                try:
                    tick = time.perf_counter()
                    if spec.optimizer != EQUAL_WEIGHT and not scores:
                        scores.append(pipeline.score_prices(quality.prices, config))
                    # The weekly command's own step (etftrader.week): prices, target with the
                    # turnover controls, drift, trades. Equal weight has no threshold of its own:
                    # --drift-threshold, else the default.
                    decision = decide_week(quality.prices, week.close, book.holdings(), spec.config,
                                           optimizer=spec.optimizer, positions=spec.positions,
                                           dropped=quality.dropped,
                                           scores=scores[0] if scores else None,
                                           limits=() if spec.optimizer == EQUAL_WEIGHT else limits[name])
                    spent["target"] += time.perf_counter() - tick
                    weights, plan = decision.target.weights.astype(float), decision.plan
                    about = _about(decision)
                    for note in decision.notes:
                        if note.kind == "held_price":
                            _log.info("%s %s: %s", name, day.date(), note.message)
                except (OptimizationError, DataError, LimitsError) as e:
                    msg = f"{name} {day.date()}: no decision, holdings kept ({e})"
                    notes.append(msg)
                    _log.warning(msg)
                    decision_rows.append(book.idle(name, day, mark, str(e)))
                    continue
                target_rows.append((name, day, weights.index, weights.to_numpy()))
                book.mark(day)
                valued_at = mark
                if spec.fill == "same_close":
                    book.execute(plan)
                    fills = plan.trades
                    book.mark(day)
                else:
                    k = position[day] + 1
                    if k < len(marks.index):
                        when = marks.index[k]
                        valued_at = dict(zip(mark_columns, mark_values[k].tolist()))
                        fills = book.fill(plan.trades, valued_at, spec.config.rebalance)
                        book.mark(when)
                    else:  # no later price: the last decision's trades stay unfilled
                        fills = plan.trades.iloc[0:0]
                        unfilled = unfilled or bool(len(plan.trades))
                if len(fills):
                    trades_rows.append((name, day, fills))
                decision_rows.append({
                    "strategy": name, "date": day, "drift": float(plan.drift),
                    "threshold": float(plan.threshold), "rebalanced": bool(plan.rebalance),
                    "trades": int(len(fills)), "skipped": int(len(plan.skipped)),
                    "traded_value": float(fills["value"].abs().sum()) if len(fills) else 0.0,
                    "costs": float(fills["est_cost"].sum()) if len(fills) else 0.0,
                    # after the fill, valued at the fill day's close (the decision day's with same_close)
                    "cash": book.cash, "value": book.value(valued_at),
                    **about,
                })
            bar.advance(str(day.date()))
    if unfilled:
        notes.append("the last decision's trades are not filled: there is no later price to fill them at")
    equity = _equity(books, strategies, marks.loc[schedule[0]:])
    # One frame each at the end: a small frame per strategy and week cost ~1 ms apiece.
    trades = []
    if trades_rows:
        trades = [_labelled(pd.concat([f for _, _, f in trades_rows], ignore_index=True),
                            [(name, day, len(f)) for name, day, f in trades_rows])]
    targets = []
    if target_rows:
        targets = [_labelled(pd.DataFrame({
            "ticker": np.concatenate([np.asarray(t, dtype=object) for _, _, t, _ in target_rows]),
            "weight": np.concatenate([w for _, _, _, w in target_rows]).astype("float64")}),
            [(name, day, len(t)) for name, day, t, _ in target_rows])[TARGET_COLUMNS]]
    return _Part(equity=equity, trades=trades, decisions=decision_rows, targets=targets,
                 notes=notes, spent=spent)


def _labelled(frame: pd.DataFrame, runs: list[tuple[str, pd.Timestamp, int]]) -> pd.DataFrame:
    """``frame`` with ``strategy`` and ``date`` columns: each (name, day, count) labels the next
    ``count`` rows (the rows of one strategy's week, in the order they were produced)."""
    counts = [n for _, _, n in runs]
    names = np.repeat(np.array([name for name, _, _ in runs], dtype=object), counts)
    days = np.repeat(pd.DatetimeIndex([day for _, day, _ in runs]).to_numpy(), counts)
    return frame.assign(strategy=pd.array(names, dtype="str"), date=pd.DatetimeIndex(days))


def _in_order(frames: list[pd.DataFrame], columns: list[str], rank: Mapping[str, int]) -> pd.DataFrame:
    """All strategies' rows by date, then strategy (in column order), then as produced."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True).rename(columns={"est_cost": "cost"})[columns]
    keys = pd.DataFrame({"date": frame["date"], "rank": frame["strategy"].map(rank),
                         "seq": np.arange(len(frame))})
    order = keys.sort_values(["date", "rank", "seq"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _holdings_template():
    from .holdings import Holdings

    return Holdings.all_cash(0.0)


def _about(decision) -> dict[str, Any]:
    """What a week's decision row records besides the plan's figures.

    The method that produced the target, the target's notes (an optimizer fallback and its
    reason, or fewer usable tickers than ``positions``), what the turnover controls did, and the
    optimizer's expected annual return, volatility and Sharpe (NaN for equal weight).
    """
    result = decision.target.result
    target_notes = [n.message for n in decision.notes if n.kind in ("positions_capped", "optimizer_fallback")]
    return {"method": str(result.method), "note": "; ".join(target_notes),
            "controls": "; ".join(n.message for n in decision.controls),
            "expected_return": float(result.expected_return),
            "expected_volatility": float(result.expected_volatility),
            "expected_sharpe": float(result.expected_sharpe)}


class _Book:
    """One strategy's simulated account: whole shares by ticker and cash, plus its history."""

    def __init__(self, capital: float):
        self.shares: dict[str, float] = {}
        self.cash = float(capital)
        self.history: list[tuple[pd.Timestamp, dict[str, float], float]] = []

    def holdings(self):
        """This account as the weekly pipeline sees holdings (everything executed, nothing pending)."""
        if self.shares:
            # Built in ticker order (the same Series as from the dict, then sort_index; 3x cheaper).
            tickers = sorted(self.shares)
            shares = pd.Series([self.shares[t] for t in tickers], index=pd.Index(tickers), dtype=float,
                               name="shares")
        else:
            shares = pd.Series(self.shares, dtype=float, name="shares")
        # replace() reuses the template's empty pending/superseded frames: building fresh empty
        # frames every week costs more than the rest of this bookkeeping.
        return dataclasses.replace(_holdings_template(), shares=shares, cash=self.cash)

    def execute(self, plan) -> None:
        """Fill every trade the plan proposes at its price (the day's close), costs paid in cash.

        The account becomes the plan's ``shares_after`` and ``cash_after``: the weekly trade list
        already states what holding and cash every proposed trade leads to.
        """
        self.shares = {str(t): float(n) for t, n in plan.shares_after.items() if n}
        self.cash = float(plan.cash_after)

    def fill(self, trades: pd.DataFrame, prices: Mapping[str, float], rules) -> pd.DataFrame:
        """Fill ``trades`` (decided earlier) at ``prices``: sells first, then buys within the cash.

        Shares are those decided; a sell never takes more than is held; when the buys cost more at
        these prices than the cash there is, every buy is scaled back by the same factor and
        rounded down, so cash never goes below zero. Returns the fills (``ticker, action, shares,
        price, value, est_cost``) at the prices used.
        """
        from .rebalance import TRADE_COLUMNS, estimate_cost

        def cost(value, n):
            return float(estimate_cost(value, n, cost_bps=rules.cost_bps, cost_per_share=rules.cost_per_share))

        rows = []
        for r in trades.itertuples():
            px = prices.get(r.ticker, math.nan)
            if r.action != "SELL" or not (px == px and px > 0):
                continue
            n = min(float(r.shares), self.shares.get(r.ticker, 0.0))
            if n <= 0:
                continue
            value = n * px
            rows.append((r.ticker, "SELL", n, px, value, cost(value, n)))
            self.cash += value - rows[-1][-1]
            left = self.shares[r.ticker] - n
            self.shares = {t: v for t, v in self.shares.items() if t != r.ticker}
            if left > 1e-9:
                self.shares[r.ticker] = left
        buys = [(r.ticker, float(r.shares), prices.get(r.ticker, math.nan)) for r in trades.itertuples()
                if r.action == "BUY"]
        buys = [(t, n, px) for t, n, px in buys if px == px and px > 0]
        need = sum(n * px + cost(n * px, n) for t, n, px in buys)
        factor = min(1.0, max(self.cash, 0.0) / need) if need > 0 else 1.0
        for t, n, px in buys:
            n = float(math.floor(n * factor + 1e-9)) if factor < 1.0 else n
            if n < 1:
                continue
            value = n * px
            c = cost(value, n)
            if value + c > self.cash + 1e-9:  # rounding: never below zero
                n = float(math.floor((self.cash / (px * (1 + rules.cost_bps / 1e4) + rules.cost_per_share))))
                if n < 1:
                    continue
                value, c = n * px, cost(n * px, n)
            rows.append((t, "BUY", n, px, value, c))
            self.cash -= value + c
            self.shares[t] = self.shares.get(t, 0.0) + n
        return pd.DataFrame(rows, columns=TRADE_COLUMNS) if rows else trades.iloc[0:0].copy()

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


def _window(index: pd.DatetimeIndex, config: Config, start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Validate ``start``/``end`` against the data and the factor lookbacks."""
    first_possible = earliest_start(index, config)
    if first_possible is None:
        raise ConfigError(
            f"the prices hold {len(index)} trading days ({index[0].date()} to {index[-1].date()}); "
            f"the factor lookbacks need {config.factors.min_history} before the first decision; "
            "use a longer price history or shorter lookbacks"
        )
    end_ts = pd.Timestamp(end) if end is not None else pd.Timestamp(index[-1])
    if start is not None:
        start_ts = pd.Timestamp(start)
    else:  # the last DEFAULT_YEARS, or as much as the history allows
        start_ts = max(first_possible, end_ts - pd.DateOffset(years=DEFAULT_YEARS))
    if start_ts > end_ts:
        raise ConfigError(f"--start {start_ts.date()} is after --end {end_ts.date()}; swap them")
    if start_ts < first_possible:
        raise ConfigError(
            f"--start {start_ts.date()} leaves too little history: the factor lookbacks need "
            f"{config.factors.min_history} trading days before the first decision; the earliest "
            f"possible start with these prices is {first_possible.date()}"
        )
    if start_ts > index[-1]:
        raise ConfigError(
            f"--start {start_ts.date()} is after the last price ({index[-1].date()}); choose an earlier start"
        )
    return start_ts, end_ts


def _slice(data, day: pd.Timestamp):
    """The price data as the weekly run on ``day`` would load it: nothing after ``day``."""
    changes = {"close": data.close.loc[:day]}
    if getattr(data, "volume", None) is not None:
        changes["volume"] = data.volume.loc[:day]
    if getattr(data, "benchmark", None) is not None:
        changes["benchmark"] = data.benchmark.loc[:day]
    return dataclasses.replace(data, **changes)


def _equity(books: Mapping[str, _Book], strategies: Sequence[str], marks: pd.DataFrame) -> pd.DataFrame:
    """Daily values of every book: the holdings after each decision, marked at each day's close."""
    columns = {}
    for name in strategies:
        history = list({h[0]: h for h in books[name].history}.values())  # a day's last state
        days = pd.DatetimeIndex([h[0] for h in history])
        shares = pd.DataFrame([h[1] for h in history], index=days, columns=marks.columns,
                              dtype=float).fillna(0.0)
        cash = pd.Series([h[2] for h in history], index=days, dtype=float)
        shares = shares.reindex(marks.index, method="ffill").fillna(0.0)
        cash = cash.reindex(marks.index, method="ffill")
        columns[name] = (shares * marks.fillna(0.0)).sum(axis=1) + cash
    equity = pd.DataFrame(columns, index=marks.index)
    equity.index.name = "date"
    return equity


def _buy_and_hold(series: pd.Series, dates: pd.DatetimeIndex, capital: float) -> pd.Series:
    """``capital`` invested in ``series`` at the first date, valued daily (forward-filled)."""
    level = series.astype(float).reindex(series.index.union(dates)).ffill().reindex(dates)
    first = level.dropna()
    if first.empty:
        return pd.Series(np.nan, index=dates)
    return capital * level / first.iloc[0]


def _metrics(equity: pd.DataFrame, trades: pd.DataFrame, strategies: Sequence[str],
             label: str | None, config: Config) -> dict[str, dict[str, float]]:
    rf = config.optimizer.risk_free_rate
    out = {}
    for name in strategies:
        mine = trades[trades["strategy"] == name]
        out[name] = performance_metrics(
            equity[name], traded_value=float(mine["value"].abs().sum()),
            costs=float(mine["cost"].sum()), risk_free_rate=rf,
        )
    if label is not None:
        out[label] = performance_metrics(equity[label].dropna(), risk_free_rate=rf)
    return out


def _settings(config: Config, optimizers: Sequence[str], positions: int, schedule, equity,
              data, label, fill: str = "next_close") -> dict[str, Any]:
    rb = config.rebalance
    return {
        "start": str(schedule[0].date()),
        "end": str(equity.index[-1].date()),
        "weeks": int(len(schedule)),
        "optimizers": list(optimizers),
        "positions": positions,
        "capital": float(config.portfolio.capital),
        "cost_bps": float(rb.cost_bps),
        "cost_per_share": float(rb.cost_per_share),
        "min_trade_value": float(rb.min_trade_value),
        "turnover_control": bool(rb.turnover_control),
        "selection_buffer": int(rb.buffer),
        "turnover_penalty": float(rb.turnover_penalty if rb.turnover_control else 0.0),
        "turnover_penalty_k": float(rb.penalty),
        "no_trade_band": float(rb.band),
        "drift_threshold": {name: rb.threshold_for(name) for name in (*optimizers, EQUAL_WEIGHT)},
        "risk_free_rate": float(config.optimizer.risk_free_rate),
        "source": str(getattr(data, "source", "")),
        "universe": [str(t) for t in data.close.columns],
        "benchmark": label,
        "execution": EXECUTION_NOTES[fill],
        "fill": fill,
    }


# --------------------------------------------------------------------------- outputs


def write_outputs(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """Write the result into ``out_dir`` (created); return the paths by name.

    Files: ``equity.csv`` (date + one column per series), ``trades.csv``, ``metrics.json`` (keyed
    by the equity columns), ``decisions.csv``, ``targets.csv``, ``run.json`` (period, universe,
    settings, notes), ``equity.png`` and ``drawdowns.png``.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the output folder {out_dir}: {e.strerror or e}; choose another --out") from e
    paths = {name: out_dir / name for name in (
        "equity.csv", "trades.csv", "metrics.json", "decisions.csv", "targets.csv", "run.json",
        "equity.png", "drawdowns.png", "turnover.png")}
    result.equity.to_csv(paths["equity.csv"], index_label="date", float_format="%.6f")
    _dated(result.trades).to_csv(paths["trades.csv"], index=False)
    _dated(result.decisions).to_csv(paths["decisions.csv"], index=False)
    _dated(result.targets).to_csv(paths["targets.csv"], index=False)
    paths["metrics.json"].write_text(json.dumps(_json_safe(result.metrics), indent=2), encoding="utf-8")
    run = {**result.settings, "strategies": list(result.strategies), "notes": list(result.notes),
           "elapsed_seconds": round(result.elapsed, 3), "timings_seconds": result.timings,
           "metric_names": list(METRIC_NAMES)}
    paths["run.json"].write_text(json.dumps(_json_safe(run), indent=2), encoding="utf-8")
    _plot(result.equity, paths["equity.png"], paths["drawdowns.png"])
    _plot_turnover(result.decisions, paths["turnover.png"])
    return paths


def turnover_over_time(decisions: pd.DataFrame, *, weeks: int = 52) -> dict[str, pd.DataFrame]:
    """Trailing one-way turnover (traded value / 2 over the trailing ``weeks``, divided by the
    average value) and cumulative costs, one column per strategy, indexed by decision day."""
    if decisions is None or decisions.empty:
        return {"turnover": pd.DataFrame(), "costs": pd.DataFrame()}
    d = decisions.assign(date=pd.to_datetime(decisions["date"]))
    traded = d.pivot_table(index="date", columns="strategy", values="traded_value", aggfunc="sum", sort=False)
    value = d.pivot_table(index="date", columns="strategy", values="value", aggfunc="mean", sort=False)
    costs = d.pivot_table(index="date", columns="strategy", values="costs", aggfunc="sum", sort=False)
    rolling = (traded.fillna(0.0).rolling(weeks, min_periods=weeks).sum() / 2) / value.rolling(weeks, min_periods=1).mean()
    order = list(dict.fromkeys(d["strategy"]))
    return {"turnover": rolling[order], "costs": costs.fillna(0.0).cumsum()[order]}


def controls_table(run: Mapping[str, Any], decisions: pd.DataFrame) -> pd.DataFrame:
    """The turnover controls of the run and how often each acted, one row per strategy."""
    rows = []
    d = decisions if decisions is not None else pd.DataFrame()
    text = d["controls"].fillna("").astype(str) if "controls" in d else pd.Series(dtype=str)
    for name in dict.fromkeys(d.get("strategy", pd.Series(dtype=str))):
        mine = text[d["strategy"] == name]
        rows.append({
            "strategy": name,
            "weeks": int(len(mine)),
            "weeks with trades": int((d.loc[d["strategy"] == name, "trades"] > 0).sum()),
            "buffer kept a holding": int(mine.str.contains("inside the buffer").sum()),
            "penalty moved the target": int(mine.str.contains("penalty moved").sum()),
            "band left positions": int(mine.str.contains("band").sum()),
        })
    table = pd.DataFrame(rows).set_index("strategy") if rows else pd.DataFrame()
    table.attrs["settings"] = (
        f"turnover_control = {run.get('turnover_control', True)}; selection_buffer = {run.get('selection_buffer', 0)}; "
        f"turnover_penalty = {run.get('turnover_penalty', 0):g} x cost (k = {run.get('turnover_penalty_k', 0):.4g}); "
        f"no_trade_band = {run.get('no_trade_band', 0):.2%}; cost = {run.get('cost_bps', 0):g} bps")
    return table


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


def load_outputs(out_dir: Path) -> dict[str, Any]:
    """Read what :func:`write_outputs` wrote (for the validation notebook and tests).

    Returns a dict with ``equity`` (DataFrame indexed by date), ``trades``, ``decisions``,
    ``targets`` (DataFrames), ``metrics`` (table: one row per series) and ``run`` (dict).
    """
    from .metrics import metrics_table

    out_dir = Path(out_dir)
    missing = [n for n in ("equity.csv", "trades.csv", "metrics.json", "run.json") if not (out_dir / n).exists()]
    if missing:
        raise DataError(f"{out_dir} is not a backtest output folder: missing {', '.join(missing)}; "
                        "run `etftrader backtest --out DIR` first")
    metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    return {
        "equity": pd.read_csv(out_dir / "equity.csv", index_col="date", parse_dates=["date"]),
        "trades": pd.read_csv(out_dir / "trades.csv", parse_dates=["date"]),
        "decisions": _read_optional(out_dir / "decisions.csv"),
        "targets": _read_optional(out_dir / "targets.csv"),
        "metrics": metrics_table(metrics),
        "run": json.loads((out_dir / "run.json").read_text(encoding="utf-8")),
    }


def _read_optional(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, parse_dates=["date"]) if path.exists() else pd.DataFrame()


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates written as YYYY-MM-DD (no midnight times in the CSVs)."""
    if "date" in frame and len(frame):
        frame = frame.assign(date=pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"))
    return frame


def _json_safe(value):
    """NaN and infinities become null: strict JSON readers (and Excel's) reject them."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


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


# --------------------------------------------------------------------------- report helpers

SURVIVORSHIP_NOTE = (
    "the universe is the list of tickers the price source holds today. Funds and companies that "
    "closed, merged or were delisted during the period are missing, which biases results upwards."
)
SAMPLE_SURVIVORSHIP_NOTE = (
    "The sample's 20 stocks are large companies picked in hindsight (they survived and grew to "
    "2022), and its 5 factor ETFs start in 2014: read its figures as a demonstration, not evidence."
)
ESTIMATES_NOTE = (
    "The optimizers' expected return, volatility and Sharpe are estimates from past prices; the "
    "realised figures here are one historical path, not a forecast. Costs are estimates too "
    "(basis points of value plus a per-share fee); spreads, market impact and taxes are not modelled."
)


def framing_text(run: Mapping[str, Any]) -> str:
    """What the reader must know before reading the figures, as Markdown (from ``run.json``)."""
    universe = run.get("universe", [])
    thresholds = ", ".join(f"{k} {v:.1%}" for k, v in (run.get("drift_threshold") or {}).items())
    lines = [
        f"**Period:** {run.get('start')} to {run.get('end')}, {run.get('weeks')} weekly decisions "
        f"(the last trading day of each week).",
        f"**Universe:** {len(universe)} tickers from the `{run.get('source')}` source: {', '.join(universe)}.",
        f"**Strategies:** {', '.join(run.get('strategies', []))}, each with {run.get('capital', 0):,.0f} "
        f"of starting cash and {run.get('positions')} positions (equal weight holds every usable ticker); "
        f"benchmark: {run.get('benchmark') or 'none available for this source'}.",
        f"**Rules:** drift thresholds {thresholds}; costs {run.get('cost_bps', 0):g} bps of value plus "
        f"{run.get('cost_per_share', 0):g} per share; trades below {run.get('min_trade_value', 0):,.0f} skipped.",
        f"**Execution:** {run.get('execution', EXECUTION_NOTE)}",
        f"**Survivorship:** {SURVIVORSHIP_NOTE}"
        + (f" {SAMPLE_SURVIVORSHIP_NOTE}" if run.get("source") == "sample" else ""),
        f"**Estimates:** {ESTIMATES_NOTE}",
    ]
    if (run.get("weeks") or 0) < SHORT_WINDOW_WEEKS:
        lines.append("**Short window:** less than a year of weekly decisions. Annualised figures "
                     "(CAGR, volatility, Sharpe, turnover) extrapolate a few weeks to a year and "
                     "say little; use at least a few years to compare settings.")
    lines += [f"**Note:** {n}" for n in run.get("notes", [])]
    return "\n\n".join(lines)


def format_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """The metrics table as display strings (percentages, ratios, currency), one row per series."""
    pct = ("cagr", "volatility", "max_drawdown")
    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        values = table[col].astype(float)
        if col in pct:
            out[col] = values.map(lambda v: f"{v:.1%}" if v == v else "n/a")
        elif col == "costs":
            out[col] = values.map(lambda v: f"{v:,.0f}" if v == v else "n/a")
        else:
            out[col] = values.map(lambda v: f"{v:.2f}" if v == v else "n/a")
    return out


def activity_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: weeks, rebalances, trades, skipped trades, traded value and costs."""
    if decisions.empty:
        return pd.DataFrame(columns=["weeks", "rebalances", "trades", "skipped", "traded_value", "costs"])
    grouped = decisions.groupby("strategy", sort=False)
    return pd.DataFrame({
        "weeks": grouped.size(),
        "rebalances": grouped["rebalanced"].sum().astype(int),
        "trades": grouped["trades"].sum().astype(int),
        "skipped": grouped["skipped"].sum().astype(int),
        "traded_value": grouped["traded_value"].sum().round(0),
        "costs": grouped["costs"].sum().round(2),
    })


def expected_vs_realised(decisions: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """The optimizers' beliefs against what happened, one row per optimizer strategy.

    ``expected_*`` are the weekly targets' own estimates (annual), averaged over the weeks;
    ``realised_*`` are the backtest's figures for the same strategy.
    """
    columns = ["expected_return", "realised_cagr", "expected_volatility", "realised_volatility",
               "expected_sharpe", "realised_sharpe"]
    if decisions.empty or "expected_return" not in decisions:
        return pd.DataFrame(columns=columns)
    believed = decisions.groupby("strategy", sort=False)[
        ["expected_return", "expected_volatility", "expected_sharpe"]].mean().dropna(how="all")
    table = believed.join(metrics[["cagr", "volatility", "sharpe"]].rename(columns={
        "cagr": "realised_cagr", "volatility": "realised_volatility", "sharpe": "realised_sharpe"}))
    return table[columns]


def latest_targets(targets: pd.DataFrame) -> pd.DataFrame:
    """The last decision day's target weights: one row per ticker, one column per strategy."""
    if targets.empty:
        return pd.DataFrame()
    last = targets[targets["date"] == targets["date"].max()]
    return last.pivot(index="ticker", columns="strategy", values="weight").fillna(0.0)


def yearly_returns(equity: pd.DataFrame) -> pd.DataFrame:
    """Calendar-year returns of every series (the first and last years may be partial)."""
    year_end = equity.groupby(equity.index.year).last()
    first = equity.iloc[0]
    previous = year_end.shift(1)
    previous.iloc[0] = first
    out = year_end / previous - 1.0
    out.index.name = "year"
    return out


# --------------------------------------------------------------------------- report

NOTEBOOK_NAME = "04_real_data_validation_results.ipynb"


def render_backtest_report(out_dir: Path, *, home=None, cell_timeout: int | None = None,
                           start_timeout: int | None = None) -> Path:
    """Render the validation notebook on the outputs in ``out_dir``; return the HTML path.

    :func:`etftrader.report.execute_notebook` runs ``notebooks/04_real_data_validation_results.ipynb``
    (the analyst's copy in ``<home>/notebooks`` first) with ``RESULTS_DIR`` set to ``out_dir`` on a
    private kernel for this interpreter, time-bounded; nbconvert exports HTML without code. The
    executed notebook is kept beside the HTML (``validation_report.ipynb``), also when a cell fails.

    Raises
    ------
    ReportError
        The notebook is missing, or failed to execute or convert (one line, naming the cell).
    """
    from . import report
    from .errors import ReportError
    from .paths import resolve_home

    out_dir = Path(out_dir).resolve()
    try:
        source = report.find_notebook(home or resolve_home(None), NOTEBOOK_NAME)
    except ReportError as e:  # its message speaks of the monitoring notebook
        raise ReportError(str(e).replace("monitoring notebook", "validation notebook", 1)) from e
    executed = out_dir / "validation_report.ipynb"
    html = out_dir / "validation_report.html"
    report.execute_notebook(
        source, executed, {"RESULTS_DIR": str(out_dir)}, cwd=out_dir, what="validation notebook",
        unaffected=f"the backtest outputs are kept in {out_dir}",
        cell_timeout=cell_timeout or report.CELL_TIMEOUT, start_timeout=start_timeout or report.START_TIMEOUT,
    )
    try:
        run = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
        title = f"Validation backtest {run.get('start')} to {run.get('end')}"
    except (OSError, ValueError):
        title = "Validation backtest"
    report.notebook_to_html(executed, html, title=title)
    return html
