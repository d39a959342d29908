"""The backtest engine: the weekly loop over history, the schedule, and the run's result.

Why one module of this size: the loop, the schedule it walks and the result it returns change
together; the simulated account, the outputs, the plots and the report are modules of their own
in this package.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping, Sequence
import numpy as np
import pandas as pd

from ..config import OPTIMIZERS, Config
from ..errors import ConfigError, DataError, LimitsError, OptimizationError
from ..metrics import performance_metrics
from ..progress import Progress
from ..runlog import LOGGER_NAME
from ..prices.frame import SAMPLE_BENCHMARK_DIVIDEND_GAP, SAMPLE_BENCHMARK_LABEL
from ..week import EQUAL_WEIGHT, HELD_BACK, decide_week
from .account import _Book, _buy_and_hold, _equity
from ..labels import F64, I64
from ..rebalance import TRADE_COLUMNS as PLAN_COLUMNS, rows_frame


_log = logging.getLogger(f"{LOGGER_NAME}.backtest")


#: what ``--optimizer`` accepts
STRATEGY_CHOICES = (*OPTIMIZERS, "all")


#: what a backtest replays unless told otherwise: the seed's three optimizers
DEFAULT_OPTIMIZERS = ("mvo", "minvar", "rankbased")


#: fewer weekly decisions than this and annualised figures are marked "not meaningful"
SHORT_WINDOW_WEEKS = 52


#: years simulated when no start is given (fewer when the history is shorter)
DEFAULT_YEARS = 10


#: estimated seconds of simulation from which ``workers="auto"`` spreads strategies over processes:
#: a spawned process first spends a few seconds importing pandas and the solvers and checking
#: the prices' quality again, which a shorter run never earns back on two cores
AUTO_WORKERS_MIN_SECONDS = 10.0


#: estimated seconds of one strategy-week: a fixed part and a part per ticker of the universe
#: (measured on this project's 2-core machine: about 2 ms at 25 tickers, 6 ms at 624)
STEP_SECONDS = (0.0018, 0.0000065)


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


#: the columns of a fill row: the week's plan's trade columns
FILL_COLUMNS = tuple(PLAN_COLUMNS)


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
        (an estimated :data:`AUTO_WORKERS_MIN_SECONDS` of simulation, from the strategy-weeks and
        the universe's width: :data:`STEP_SECONDS`).
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
    from ..groups import asset_classes, group_limits

    group_limits(config)  # a group limit naming no ticker is exit 2 before any week is simulated
    asset_classes(config)  # an unreadable universe file for the spreads by class: exit 3, the same
    data, schedule = _scheduled(data, config, start, end)
    strategies = (*strategies_opt, EQUAL_WEIGHT) if equal_weight else strategies_opt
    groups = _groups(strategies, workers, len(schedule), len(data.close.columns))
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
    held = decisions["note"].astype(str).str.contains(HELD_BACK, regex=False)
    for name, count in decisions.loc[held, "strategy"].value_counts(sort=False).items():
        notes.append(f"{name}: {count} of {len(schedule)} weeks held back their rebalance: its estimated costs "
                     "exceeded [rebalance] max_cost_fraction (raise it, or 0 for no cap)")
    for name, count in decisions.loc[decisions["note"].astype(bool), "strategy"].value_counts(sort=False).items():
        notes.append(f"{name}: {count} of {len(schedule)} weeks carry a note (an optimizer fallback, fewer "
                     "usable tickers than positions, a rebalance held back as too costly, or no decision); "
                     "see the note column of decisions.csv")
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
    start_ts, end_ts = backtest_window(close.index, config, start, end)
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


def _groups(strategies: Sequence[str], workers: int | str | None, weeks: int, tickers: int = 0
            ) -> list[tuple[str, ...]]:
    """Strategies dealt round-robin to at most ``workers`` processes (1: all in this process)."""
    if workers == "auto":
        # A spawned process needs a few seconds to import pandas and the solvers: only a run
        # estimated to take longer than that many times over is spread.
        steps = weeks * len(strategies)
        estimate = steps * (STEP_SECONDS[0] + STEP_SECONDS[1] * tickers)
        long_run = estimate >= AUTO_WORKERS_MIN_SECONDS
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
    from ..target import score_prices
    from ..groups import asset_classes, group_limits
    from ..prices.quality import QualityHistory

    # Closes forward-filled, for marking positions to market (a held ticker keeps its last
    # price over a gap; a zero, negative or infinite print is a gap, not a price).
    from ..prices.guard import GuardHistory, guarded_closes

    from ..labels import object_labels

    # The week step on object labels: the same tickers, far cheaper to build and align than
    # pandas 3's Arrow strings in the loop's small per-week objects (etftrader.labels).
    data = dataclasses.replace(data, close=object_labels(data.close), volume=object_labels(data.volume))
    close = data.close
    # check_quality(prices up to each week) without re-scanning the whole history every week.
    history = QualityHistory(data, config.data, min_history=config.factors.min_history)
    # The weekly run's price guard, day by day: a close the quality rules reject is not a mark
    # (a x100 print must not show as a 100-fold gain); gaps and bad prints carry the last good
    # close. (The quality history has walked the same columns already.)
    marks = guarded_closes(close, config.data.max_daily_move, walks=history.guard_walks())
    specs = dict(specs or {})
    for name in strategies:
        specs.setdefault(name, BookSpec(name, config, positions, fill))
    books = {name: _Book(float(specs[name].config.portfolio.capital)) for name in strategies}
    limits = {name: group_limits(specs[name].config) for name in strategies}
    classes = {name: asset_classes(specs[name].config) for name in strategies}
    trades_rows: list[tuple[str, pd.Timestamp, list[tuple]]] = []
    decision_rows: list[dict[str, Any]] = []
    target_rows: list[tuple[str, pd.Timestamp, pd.Index, np.ndarray]] = []
    notes: list[str] = []
    spent = {"quality": 0.0, "target": 0.0, "plan": 0.0}
    stream = sys.stderr if progress else None
    guard = GuardHistory(close, config.data.max_daily_move).latest  # held tickers set aside, each walked once
    position = {d: i for i, d in enumerate(marks.index)}
    volume_aligned = data.volume is not None and data.volume.index.equals(close.index)
    # Plain lists and arrays for the per-week lookups (iterating an Arrow-backed index is slow,
    # and these are read every week).
    mark_columns = marks.columns.tolist()
    mark_values = marks.to_numpy()
    unfilled = False
    next_marks: tuple = (-1, None)
    with Progress("backtest", total=len(schedule), stream=stream) as bar:
        for day, row in zip(schedule, marks.loc[schedule].to_numpy()):
            mark = dict(zip(mark_columns, row.tolist()))
            # The prices as the weekly run on this day would load them: nothing after it (by
            # position: the same rows as cutting at the date).
            row_end = position[day] + 1
            week_close = close.iloc[:row_end]
            week_volume = None if data.volume is None else (
                data.volume.iloc[:row_end] if volume_aligned else data.volume.loc[:day])
            tick = time.perf_counter()
            try:
                # The kept tickers' prices; the dropped ones' reasons only if a book asks for them.
                quality = history.at(day.date(), health=False, dropped=False)
            except DataError as e:
                notes.append(f"{day.date()}: no decision for any strategy ({e})")
                _log.warning("week %s skipped: %s", day.date(), e)
                decision_rows.extend(books[n].idle(n, day, mark, f"data: {e}") for n in strategies)
                bar.advance(str(day.date()))
                continue
            spent["quality"] += time.perf_counter() - tick
            scores: list[pd.DataFrame] = []  # the week's factor scores, computed once for all optimizers
            memo: dict = {}  # what the week's books compute alike from its prices (decide_week)
            for name in strategies:
                book = books[name]
                spec = specs[name]
                try:
                    tick = time.perf_counter()
                    if spec.optimizer != EQUAL_WEIGHT and not scores:
                        # the quality step's closes are positive and finite or NaN
                        scores.append(score_prices(quality.prices, config, usable=True))
                    # The weekly command's own step (etftrader.week): prices, target with the
                    # turnover controls, drift, trades. Equal weight has no threshold of its own:
                    # --drift-threshold, else the default.
                    decision = decide_week(quality.prices, week_close, book.holdings(), spec.config,
                                           optimizer=spec.optimizer, positions=spec.positions,
                                           dropped=history.last_dropped,
                                           scores=scores[0] if scores else None,
                                           limits=() if spec.optimizer == EQUAL_WEIGHT else limits[name],
                                           volume=week_volume, asset_class=classes[name], guard=guard,
                                           memo=memo)
                    spent["target"] += time.perf_counter() - tick
                    weights, plan = decision.target.weights, decision.plan
                    if weights.dtype != F64:
                        weights = weights.astype(F64)
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
                k = position[day] + 1
                if spec.fill != "same_close" and k < len(marks.index):
                    if next_marks[0] != k:  # the next day's closes, read once for the week's books
                        next_marks = (k, (marks.index[k], dict(zip(mark_columns, mark_values[k].tolist()))))
                    later = next_marks[1]
                else:
                    later = None
                fills, valued_at = _fill(book, spec, plan, day, mark, later)
                unfilled = unfilled or (later is None and spec.fill != "same_close" and bool(plan.trade_rows))
                if len(fills):
                    trades_rows.append((name, day, fills))
                decision_rows.append(_decision_row(name, day, plan, fills, book, valued_at, about))
            bar.advance(str(day.date()))
    if unfilled:
        notes.append("the last decision's trades are not filled: there is no later price to fill them at")
    equity = _equity(books, strategies, marks.loc[schedule[0]:])
    trades, targets = _frames(trades_rows, target_rows)
    return _Part(equity=equity, trades=trades, decisions=decision_rows, targets=targets,
                 notes=notes, spent=spent)


def _frames(trades_rows: list, target_rows: list) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """The loop's trades and targets, one frame each, labelled by strategy and week (built once at
    the end: a small frame per strategy and week costs far more)."""
    trades = []
    if trades_rows:
        frame = rows_frame([row for _, _, f in trades_rows for row in f], FILL_COLUMNS)
        trades = [_labelled(frame, [(name, day, len(f)) for name, day, f in trades_rows])]
    targets = []
    if target_rows:
        targets = [_labelled(pd.DataFrame({
            "ticker": np.concatenate([np.asarray(t, dtype=object) for _, _, t, _ in target_rows]),
            "weight": np.concatenate([w for _, _, _, w in target_rows]).astype(F64)}),
            [(name, day, len(t)) for name, day, t, _ in target_rows])[TARGET_COLUMNS]]
    return trades, targets


def _labelled(frame: pd.DataFrame, runs: list[tuple[str, pd.Timestamp, int]]) -> pd.DataFrame:
    """``frame`` with ``strategy`` and ``date`` columns: each (name, day, count) labels the next
    ``count`` rows (the rows of one strategy's week, in the order they were produced)."""
    counts = [n for _, _, n in runs]
    names = np.repeat(np.array([name for name, _, _ in runs], dtype=object), counts)
    days = np.repeat(pd.DatetimeIndex([day for _, day, _ in runs]).to_numpy(), counts)
    return frame.assign(strategy=pd.array(names, dtype="str"), date=pd.DatetimeIndex(days))


def _fill(book: "_Book", spec: "BookSpec", plan: Any, day: pd.Timestamp, mark: dict[str, float],
          later: tuple[pd.Timestamp, dict[str, float]] | None) -> tuple[list[tuple], dict[str, float]]:
    """Fill a week's plan in its book by the book's fill rule; returns the fills (rows of
    :data:`FILL_COLUMNS`) and the prices the book is valued at after them (the next trading day's
    closes with ``next_close``; with no later day the trades stay unfilled)."""
    book.mark(day)
    if spec.fill == "same_close":
        book.execute(plan)
        book.mark(day)
        return [tuple(r[c] for c in FILL_COLUMNS) for r in plan.trade_rows], mark
    if later is None:  # no later price: the last decision's trades stay unfilled
        return [], mark
    when, prices = later
    fills = book.fill(plan.trade_rows, prices, spec.config.rebalance, plan.costs)
    book.mark(when)
    return fills, prices


def _decision_row(name: str, day: pd.Timestamp, plan: Any, fills: list[tuple], book: "_Book",
                  valued_at: dict[str, float], about: dict[str, Any]) -> dict[str, Any]:
    """One row of decisions.csv: the plan's figures, what filled, the book after it."""
    return {
        "strategy": name, "date": day, "drift": float(plan.drift),
        "threshold": float(plan.threshold), "rebalanced": bool(plan.rebalance),
        "trades": len(fills), "skipped": len(plan.skipped_rows),
        # numpy's sums, as the fills' frame columns sum (pairwise, not Python's left-to-right)
        "traded_value": float(np.abs(np.array([r[4] for r in fills], dtype=F64)).sum()) if fills else 0.0,
        "costs": float(np.array([r[5] for r in fills], dtype=F64).sum()) if fills else 0.0,
        # after the fill, valued at the fill day's close (the decision day's with same_close)
        "cash": book.cash, "value": book.value(valued_at),
        **about,
    }


def _in_order(frames: list[pd.DataFrame], columns: list[str], rank: Mapping[str, int]) -> pd.DataFrame:
    """All strategies' rows by date, then strategy (in column order), then as produced."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(frames, ignore_index=True).rename(columns={"est_cost": "cost"})[columns]
    codes, names = pd.factorize(frame["strategy"])
    ranks = np.array([rank.get(n, np.nan) for n in names], dtype=F64)[codes]
    days = frame["date"].to_numpy(dtype="datetime64[ns]").view(I64)
    # One process produces its rows in this order already (week by week, books in column order):
    # only rows from several processes need the sort.
    if len(frame) < 2 or not (np.isnan(ranks).any() or (codes < 0).any()) and bool(
            ((days[1:] > days[:-1]) | ((days[1:] == days[:-1]) & (ranks[1:] >= ranks[:-1]))).all()):
        return frame
    keys = pd.DataFrame({"date": frame["date"], "rank": frame["strategy"].map(rank),
                         "seq": np.arange(len(frame))})
    order = keys.sort_values(["date", "rank", "seq"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _about(decision) -> dict[str, Any]:
    """What a week's decision row records besides the plan's figures.

    The method that produced the target, the target's notes (an optimizer fallback and its
    reason, or fewer usable tickers than ``positions``) and a rebalance held back as too costly,
    what the turnover controls did, and the
    optimizer's expected annual return, volatility and Sharpe (NaN for equal weight).
    """
    result = decision.target.result
    target_notes = [n.message for n in decision.notes if n.kind in ("positions_capped", "optimizer_fallback", "cost_cap")]
    return {"method": str(result.method), "note": "; ".join(target_notes),
            "controls": "; ".join(n.message for n in decision.controls),
            "expected_return": float(result.expected_return),
            "expected_volatility": float(result.expected_volatility),
            "expected_sharpe": float(result.expected_sharpe)}


def backtest_window(index: pd.DatetimeIndex, config: Config, start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The backtest's first decision day and last day: ``start``/``end`` checked against the data
    and the factor lookbacks; without ``start``, the last :data:`DEFAULT_YEARS` years the history
    allows."""
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
