"""The weekly run: prices -> scores -> target -> holdings -> drift -> trades -> workbook -> report.

Two steps are plain functions with data in and data out, so the backtest replays exactly what the
weekly command does on a date: :func:`build_target` (scores, top-N selection, optimizer) and
:func:`plan_rebalance` (drift and whole-share trades, from :mod:`etftrader.rebalance`).
:func:`run_weekly` does the I/O at both ends, in an order that keeps the ledger safe:

1. the workbook is checked for writability and read *before* any download, so a locked or corrupt
   workbook fails fast and nothing is recorded;
2. holdings come from the ledger (:mod:`etftrader.holdings`); this run's cash flows are applied;
3. prices are loaded and checked, the target built, the rebalance planned;
4. side files for the report are saved (``data/market_latest.parquet``,
   ``data/factor_scores_latest.parquet``);
5. the week is appended to the workbook once, atomically (:func:`etftrader.workbook.append_week`);
   a failure anywhere before leaves it byte-identical;
6. the monitoring report is rendered; its failure keeps the workbook and is returned, not raised.

A run's unexecuted trades stay live until the next run, which computes trades from executed
holdings only and *supersedes* them (reported, recorded in Metadata ``superseded_run``): running
twice in the same week replaces the trade list rather than doubling it.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError, LimitsError, ReportError, WorkbookError, first_line
from .holdings import LEDGER_SHEETS, Holdings, holdings_from_ledger, require_ledger_sheets
from .rebalance import RebalancePlan, plan_rebalance
from .week import decide_week

__all__ = [
    "Target",
    "WeeklyResult",
    "build_target",
    "score_prices",
    "plan_rebalance",
    "run_weekly",
    "new_run_id",
    "prices_today",
    "week_rows",
    "MARKET_FILE",
    "SCORES_FILE",
]

_log = logging.getLogger("etftrader.pipeline")

#: file names under ``home.data_dir`` (the seed names the scores file)
MARKET_FILE = "market_latest.parquet"
SCORES_FILE = "factor_scores_latest.parquet"
#: the week's warnings, valuation prices, efficient frontier and barbell sleeves, for the report
WEEK_FILE = "week_latest.json"
#: daily closes of the tickers held, targeted or traded, for the report's own-price figures
PRICES_FILE = "prices_latest.parquet"
#: trading days of closes kept in :data:`PRICES_FILE` (a year of returns for the stop-loss levels)
SIDE_PRICE_DAYS = 300

_TOP_SCORES_LOGGED = 10


@dataclass(frozen=True)
class Target:
    """The week's target portfolio.

    Attributes
    ----------
    scores : pd.DataFrame
        :func:`factors.score_universe` output, indexed by ticker, sorted by ``composite``.
    selected : list of str
        The tickers the optimizer weighted (top N by composite).
    result : optimizers.PortfolioResult
        Weights (sum 1), expected return / volatility / Sharpe, method used, fallback reason.
    notes : tuple of etftrader.week.Note
        What the user should know: positions capped to the usable universe, optimizer fallback.
    kept : tuple of optimizers.Kept
        Held tickers selected only thanks to the selection buffer (rank beyond ``positions``).
    """

    scores: pd.DataFrame
    selected: list[str]
    result: Any
    notes: tuple[Any, ...] = ()
    kept: tuple[Any, ...] = ()

    @property
    def weights(self) -> pd.Series:
        return self.result.weights


def build_target(prices: pd.DataFrame, config: Any, *, positions: int, optimizer: str,
                 scores: pd.DataFrame | None = None, held: Any = (),
                 current_weights: pd.Series | None = None, limits: Any = ()) -> Target:
    """Score the universe, select the top ``positions`` and weight them with ``optimizer``.

    Parameters
    ----------
    prices : DataFrame of shape (n_dates, n_tickers)
        Cleaned adjusted closes up to the as-of date (the quality step's ``prices``).
    config : etftrader.config.Config
        Uses ``config.factors`` and ``config.optimizer``.
    positions : int
        Positions wanted; capped (and noted) when fewer tickers can be scored.
    optimizer : str
        ``mvo``, ``minvar`` or ``rankbased``.
    scores : DataFrame, optional
        :func:`factors.score_universe` output for these same ``prices`` and ``config.factors``
        (see :func:`score_prices`), when the caller already has it: the backtest scores each
        week once for all its optimizers. Default: computed here.
    held : iterable of str
        Tickers held now: they stay selected within the selection buffer
        (``config.rebalance.buffer``).
    current_weights : Series, optional
        Weights held now; with ``config.rebalance.penalty > 0``, mvo and minvar pay
        ``k * sum|w - current|`` in their objective. None solves without the penalty.
    limits : sequence of optimizers.limits.GroupLimit
        Group limits (:func:`etftrader.groups.group_limits`): the selection swaps in members of a
        group that needs them (noted), and the optimizer holds the limits.

    Returns
    -------
    Target

    Raises
    ------
    ConfigError
        ``positions`` below 1.
    DataError
        No ticker has enough history to be scored.
    OptimizationError
        The optimizer failed and no fallback applied.
    """
    from optimizers import optimize, select_with_buffer, weight_bounds
    from optimizers.limits import InfeasibleLimits
    from optimizers.selection import meet_group_limits

    from .week import Note

    if positions < 1:
        raise ConfigError(f"`positions` must be at least 1, got {positions}")
    f = config.factors
    if scores is None:
        scores = score_prices(prices, config)
    usable = int(scores["composite"].notna().sum())
    if usable == 0:
        raise DataError(
            f"no ticker has enough history to be scored ({f.min_history} trading days needed, "
            f"{len(prices)} available up to {_day(prices.index[-1]) if len(prices) else 'the as-of date'}); "
            "use a later --as-of or a longer price history"
        )
    notes: list[Note] = []
    n = positions
    if positions > usable:
        n = usable
        notes.append(Note("positions_capped", f"`positions` {positions} is more than the usable universe of "
                          f"{usable} scored tickers: the target holds {usable}",
                          {"positions": positions, "usable": usable}, level="warning"))
    rules = config.rebalance
    selected, kept = select_with_buffer(scores["composite"], n, held, rules.buffer)
    o = config.optimizer
    if limits:
        lower, upper, _ = weight_bounds(len(selected), o.max_weight, o.min_weight)
        selected, swaps = meet_group_limits(selected, scores["composite"], limits, lower, upper)
        kept = [k for k in kept if k.ticker in selected]
        for swap in swaps:
            notes.append(Note("group_swap", f"selected {swap.added} in place of {swap.removed} so that "
                              f"{swap.group} can be met",
                              {"added": swap.added, "removed": swap.removed, "group": swap.group}))
    # The optimizer reads only the last cov_lookback + 1 rows: hand it those, not the whole history
    # (copying decades of the selected columns cost ~1 ms a call). A bad cov_lookback is left to
    # optimize(), which says what is wrong with it.
    lookback = o.cov_lookback
    window = prices.iloc[-(lookback + 1):] if isinstance(lookback, int) and lookback >= 2 else prices
    # By position: a label lookup with a list on pandas 3's string index costs ~0.5 ms each.
    composite = scores["composite"]
    column_at = {t: i for i, t in enumerate(window.columns.tolist())}
    score_at = {t: i for i, t in enumerate(composite.index.tolist())}
    momentum = scores["momentum"] if "momentum" in scores.columns else None
    try:
        result = optimize(
            optimizer, window.iloc[:, [column_at[t] for t in selected]],
            composite.iloc[[score_at[t] for t in selected]],
            risk_aversion=o.risk_aversion, max_weight=o.max_weight, min_weight=o.min_weight,
            information_coefficient=o.information_coefficient, risk_free_rate=o.risk_free_rate,
            cov_lookback=o.cov_lookback, solver=o.solver, cvar_beta=o.cvar_beta,
            current_weights=current_weights, turnover_penalty=rules.penalty if current_weights is not None else 0.0,
            momentum=momentum, view_confidence=o.bl_view_confidence, barbell_cap=o.barbell_sleeve,
            barbell_size=o.barbell_size, barbell_core=o.barbell_core, limits=limits,
            risk_budgets=dict(o.risk_budgets),
        )
    except InfeasibleLimits as e:
        raise LimitsError(f"{e} (as of {_day(prices.index[-1])})") from None
    if result.fallback_reason:
        notes.append(Note("optimizer_fallback",
                          f"optimizer {result.requested} fell back to {result.method}: {result.fallback_reason}",
                          {"requested": result.requested, "used": result.method}))
    notes.extend(Note("optimizer", text) for text in result.notes)
    return Target(scores=scores, selected=selected, result=result, notes=tuple(notes), kept=tuple(kept))


def score_prices(prices: pd.DataFrame, config: Any) -> pd.DataFrame:
    """:func:`factors.score_universe` of ``prices`` with ``config.factors``: what
    :func:`build_target` ranks on (the backtest computes it once per week for all optimizers)."""
    from factors import score_universe

    f = config.factors
    return score_universe(
        prices, weights=dict(f.weights), momentum_lookback=f.momentum_lookback,
        momentum_skip=f.momentum_skip, quality_lookback=f.quality_lookback,
        value_lookback=f.value_lookback, volatility_lookback=f.volatility_lookback,
        winsor_z=f.winsor_z,
    )


@dataclass(frozen=True)
class WeeklyResult:
    """Everything a weekly run decided, for the console summary, ``--json`` and the tests."""

    run_id: str
    timestamp: datetime
    as_of: date
    data_as_of: date
    optimizer: str
    positions: int
    target: Target
    plan: RebalancePlan
    holdings: Holdings
    prices: pd.Series
    first_run: bool
    cash_flows: pd.DataFrame
    dropped: pd.DataFrame
    superseded_run: str | None
    superseded_count: int
    superseded_value: float
    superseded_time: Any
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    workbook: Path
    data_source: str
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    report: Any = None
    report_error: ReportError | None = None
    open_message: str | None = None
    controls: tuple[Any, ...] = ()
    frontier: dict[str, Any] | None = None
    tax: dict[str, Any] | None = None
    details: pd.DataFrame | None = None

    def cost_parts(self) -> dict[str, float]:
        """The week's estimated costs split into commission, spread and impact."""
        from .costs import COST_COLUMNS, cost_breakdown

        d = self.details if self.details is not None else cost_breakdown(self.plan.trades, self.plan.costs)
        return {c: float(d[c].sum()) if c in d.columns and len(d) else 0.0 for c in COST_COLUMNS}

    @property
    def portfolio_value(self) -> float:
        """Holdings at the as-of prices plus cash (after this run's deposits/withdrawals)."""
        return self.plan.total_value

    @property
    def cash(self) -> float:
        """Cash left once this run's trades are executed (after estimated costs)."""
        return self.plan.cash_after

    def to_json(self, **extra: Any) -> dict[str, Any]:
        """The ``--json`` object: the keys issue 4 lists, then a few more."""
        res = self.target.result
        weights = res.weights
        target_rows = []
        shares = self.plan.shares_after  # what each position holds once this week's trades are done
        for ticker in weights.index:
            target_rows.append({
                "ticker": ticker,
                "weight": _num(weights[ticker]),
                "shares": _num(shares.get(ticker, 0.0)),
                "price": _num(self.prices.get(ticker)),
                "factor_score": _num(self.target.scores["composite"].get(ticker)),
            })
        details = self.details if self.details is not None else trade_details(self.plan)
        trades = []
        for (_, r), (_, d) in zip(self.plan.trades.iterrows(), details.reindex(self.plan.trades.index).iterrows()):
            row = {"ticker": r["ticker"], "action": r["action"], "shares": _num(r["shares"]),
                   "price": _num(r["price"]), "value": _num(r["value"]), "est_cost": _num(r["est_cost"]),
                   "commission": _num(d["commission"]), "spread_cost": _num(d["spread_cost"]),
                   "impact_cost": _num(d["impact_cost"])}
            if r["action"] == "BUY":
                row["wash_sale"] = bool(d["wash_sale"])
            if r["action"] == "SELL":
                row["lots"] = [{**u, "shares": _num(u["shares"]), "gain": _num(u["gain"])} for u in d["lots"]]
                row["est_gain"] = _num(d["est_gain"])
            trades.append(row)
        out = {
            "as_of": self.as_of.isoformat(),
            "optimizer": self.optimizer,
            "rebalanced": bool(self.plan.rebalance),
            "drift": _num(self.plan.drift),
            "drift_outside_band": _num(self.plan.drift_outside_band),
            "drift_threshold": _num(self.plan.threshold),
            "portfolio_value": _num(self.portfolio_value),
            "cash": _num(self.cash),
            "target": target_rows,
            "trades": trades,
            "metrics": {"expected_return": _num(res.expected_return),
                        "expected_volatility": _num(res.expected_volatility),
                        "expected_sharpe": _num(res.expected_sharpe)},
            "dropped": [{"ticker": r.ticker, "reason": r.reason} for r in self.dropped.itertuples()],
            "warnings": list(self.warnings),
            "workbook": str(self.workbook),
            "run_id": self.run_id,
            "data_as_of": self.data_as_of.isoformat(),
            "optimizer_used": res.method,
            "fallback_reason": res.fallback_reason,
            "cash_before": _num(self.plan.cash_before),
            "estimated_costs": _num(self.plan.total_cost),
            "skipped_trades": [{"ticker": r.ticker, "action": r.action, "shares": _num(r.shares),
                                "value": _num(r.value), "reason": r.reason}
                               for r in self.plan.skipped.itertuples()],
            # The live unexecuted trades of the latest earlier run (this run supersedes them).
            "pending": {"run_id": self.superseded_run, "count": self.superseded_count,
                        "value": _num(self.superseded_value)},
            "superseded": {"run_id": self.superseded_run, "count": self.superseded_count,
                           "value": _num(self.superseded_value)},
            "cash_flows": [{"type": r.type, "amount": _num(r.amount)} for r in self.cash_flows.itertuples()],
            "notes": list(self.notes),
            # What the turnover controls did this week: kind, message and the figures behind it.
            "turnover_controls": [n.to_json() for n in self.controls],
            # The efficient frontier of the selected tickers (risk = volatility, annual), with
            # the chosen portfolio, equal weight and each ticker; the barbell's two sleeves.
            "frontier": self.frontier,
            "sleeves": {k: list(v) for k, v in res.sleeves.items()},
            # Realised gains this year, what this week's sells would realise, wash-sale BUYs.
            "tax": self.tax,
            "report": str(self.report.html) if self.report is not None else None,
        }
        out.update(extra)
        return out


def _num(x: Any) -> float | None:
    """A JSON-safe float (NaN and None become null)."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _day(x: Any) -> date:
    return pd.Timestamp(x).date()


def new_run_id(now: datetime) -> str:
    """``YYYYMMDD-HHMMSS-xxxx``: sortable by time, unique with a short random suffix."""
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def run_weekly(config: Any, home: Any, *, as_of: date | None = None, workbook: Path | None = None,
               capital: float | None = None, deposit: float | None = None,
               withdraw: float | None = None, force: bool = False, refresh: bool = False,
               notebook: bool | None = None, open_workbook: bool | None = None,
               progress: bool = False, fetcher: Callable[..., pd.DataFrame] | None = None,
               now: datetime | None = None) -> WeeklyResult:
    """Run the week: read the ledger, build the target, plan trades, append the week, render.

    Parameters
    ----------
    config : etftrader.config.Config
        The config in force (file + flags); ``portfolio.capital`` seeds the first run.
    home : etftrader.paths.Home
        Home folder (created if missing).
    as_of : date, optional
        Run as of this date with prices up to it (default: the latest prices).
    workbook : Path, optional
        Tracking workbook (default ``home.workbook``).
    capital : float, optional
        ``--capital`` as the user typed it: only used to warn when it differs from the portfolio's
        value on a later run (it never moves money after the first run).
    deposit, withdraw : float, optional
        Cash put in or taken out this week, recorded in CashFlows.
    force : bool
        Rebalance whatever the drift.
    refresh : bool
        Re-download the whole price history (yfinance).
    notebook, open_workbook : bool, optional
        Render the monitoring report / open the workbook in Excel; default from ``config.report``.
    progress : bool
        Show a download counter on a terminal.
    fetcher : callable, optional
        Replacement for ``yfinance.download`` (tests).
    now : datetime, optional
        Wall-clock time of the run (tests).

    Returns
    -------
    WeeklyResult
        ``report_error`` is set (not raised) when the workbook was written but the report failed.
    """
    from .lock import home_lock

    now = (now or datetime.now()).replace(microsecond=0)
    home.ensure()
    book = Path(workbook) if workbook is not None else home.workbook
    if book.suffix.lower() != ".xlsx":
        raise ConfigError(f"--workbook must be an .xlsx file, got {book.name}; "
                          "the tracking workbook is an Excel workbook")
    # One writer at a time: from reading the ledger to replacing it (DESIGN.md, "One writer").
    with home_lock(home.root, timeout=config.run.lock_timeout, command="weekly"):
        return _run_weekly_locked(
            config, home, book, now=now, as_of=as_of, capital=capital, deposit=deposit,
            withdraw=withdraw, force=force, refresh=refresh, notebook=notebook,
            open_workbook=open_workbook, progress=progress, fetcher=fetcher)


def _run_weekly_locked(config: Any, home: Any, book: Path, *, now: datetime, as_of: date | None,
                       capital: float | None, deposit: float | None, withdraw: float | None,
                       force: bool, refresh: bool, notebook: bool | None, open_workbook: bool | None,
                       progress: bool, fetcher: Callable[..., pd.DataFrame] | None) -> WeeklyResult:
    """:func:`run_weekly` once the home folder's lock is held."""
    from . import __version__
    from .groups import asset_classes, group_limits
    from .interrupts import mark_recorded
    from .prices import check_quality, load_prices
    from .workbook import append_week, check_writable, read_ledger, remove_stale_temp_files

    run_id = new_run_id(now)
    notebook = config.report.notebook if notebook is None else notebook
    open_workbook = config.report.open_workbook if open_workbook is None else open_workbook
    positions = config.portfolio.positions
    optimizer = config.portfolio.optimizer
    _log.info("run %s: etftrader %s, workbook %s", run_id, __version__, book)
    _log.info("config in force: %s", config.to_dict())

    # 1. The ledger first: a locked or corrupt workbook must fail before any download. Temp files
    # of a run that was killed are removed first (under the lock no other run is writing).
    for left in remove_stale_temp_files(book, home.backups_dir):
        _log.info("removed %s, left by an interrupted earlier run", left)
    check_writable(book)
    ledger = read_ledger(book, sheets=(*LEDGER_SHEETS, "Performance"))  # Performance: the return columns
    require_ledger_sheets(ledger, book, home.backups_dir)
    holdings = holdings_from_ledger(ledger)
    last_as_of = _last_recorded_as_of(ledger)
    allow_earlier = force or config.run.allow_earlier_as_of
    if as_of is not None and last_as_of is not None and as_of < last_as_of and not allow_earlier:
        raise ConfigError(
            f"--as-of {as_of} is earlier than the last recorded week ({last_as_of}) in {book.name}; "
            "weeks are recorded in order. Pass --force (or set allow_earlier_as_of = true in [run]) "
            "to record it anyway")
    _log.info("ledger: %d executed trades, holdings %s, cash %.2f, last run %s",
              holdings.executed_trades, holdings.shares.round(4).to_dict(), holdings.cash,
              holdings.last_run_id)

    warnings: list[str] = []
    notes: list[str] = []

    # 2. This run's cash flows.
    first_run = not holdings.has_cashflows
    flows = []
    if first_run:
        flows.append(("DEPOSIT", float(config.portfolio.capital), "initial capital"))
    if deposit:
        flows.append(("DEPOSIT", float(deposit), "--deposit"))
    if withdraw:
        flows.append(("WITHDRAWAL", float(withdraw), "--withdraw"))
    cash = holdings.cash + sum(a if k == "DEPOSIT" else -a for k, a, _ in flows)
    if withdraw and cash < -1e-9:
        raise ConfigError(
            f"--withdraw {withdraw:,.2f} is more than the cash there is "
            f"({cash + withdraw:,.2f}); withdraw less, or sell first and withdraw next week"
        )
    holdings = holdings.with_cash(cash)
    cash_flows = pd.DataFrame(flows, columns=["type", "amount", "note"])

    # 3. Prices, quality, target, plan (the group limits first: a typo in a group name is exit 2).
    limits = group_limits(config, home)
    data = load_prices(config.data, home, as_of=as_of, refresh=refresh, progress=progress,
                       fetcher=fetcher, with_vix=True)
    if data.close.empty:
        raise DataError(f"no prices up to {as_of or 'today'} from the {data.source} source; "
                        "pick a later --as-of or check the source")
    quality = check_quality(data, config.data, min_history=config.factors.min_history, as_of=as_of)
    clean = quality.prices
    if clean.empty or not len(quality.kept):
        for r in quality.dropped.itertuples():
            _log.info("dropped %s (%s): %s", r.ticker, r.rule, r.reason)
        raise DataError(_all_dropped_message(quality, data, as_of))
    check_calendar_gaps(data.close, as_of=as_of, window=config.factors.min_history, source=data.source)
    data_as_of = _day(clean.index[-1])
    # One as-of per run: the last trading day of the data used, in every sheet, the JSON, the file
    # names and the report (--as-of 2022-04-15, Good Friday, is the week of 2022-04-14).
    run_as_of = data_as_of
    if as_of is not None and as_of != data_as_of:
        notes.append(f"--as-of {as_of} is not a trading day with prices; the run is as of {data_as_of}, "
                     "the last trading day before it")
    _log.info("prices: source %s, %d tickers, %s to %s; kept %d, dropped %d",
              data.source, data.close.shape[1], _day(data.close.index[0]), data_as_of,
              len(quality.kept), len(quality.dropped))
    _log.info("kept: %s", ", ".join(map(str, quality.kept)))
    for note in data.notes:
        notes.append(note)
    dropped = _dropped(quality.dropped, data.failed)
    for r in dropped.itertuples():
        _log.info("dropped %s: %s", r.ticker, r.reason)

    decision = decide_week(clean, data.close, holdings, config, optimizer=optimizer, positions=positions,
                           dropped=quality.dropped, force=force, explain=True, limits=limits,
                           volume=data.volume, asset_class=asset_classes(config, home))
    target, prices, plan = decision.target, decision.prices, decision.plan
    top = target.scores["composite"].head(_TOP_SCORES_LOGGED)
    _log.info("top scores: %s", ", ".join(f"{t} {s:+.3f}" for t, s in top.items()))
    res = target.result
    _log.info("optimizer %s (used %s%s): %s", res.requested, res.method,
              f", fallback: {res.fallback_reason}" if res.fallback_reason else "",
              ", ".join(f"{t} {w:.2%}" for t, w in res.weights.items()))
    for note in decision.notes:
        (warnings if note.level == "warning" else notes).append(note.message)
    _log_plan(plan)
    if plan.total_value <= 0:
        raise WorkbookError(_worthless_message(plan, holdings, ledger, prices))

    if (not first_run and capital is not None
            and abs(float(capital) - plan.total_value) > max(0.005, 1e-9 * plan.total_value)):
        warnings.append(
            f"--capital {capital:,.2f} is only used on the first run (the portfolio is worth "
            f"{plan.total_value:,.2f} now); use --deposit/--withdraw to move cash"
        )
    superseded = holdings.pending
    sup_count = int(len(superseded))
    sup_value = float(superseded["value"].sum()) if sup_count else 0.0
    sup_run = holdings.last_run_id if sup_count else None
    if sup_count:
        notes.append(
            f"superseded {sup_count} unexecuted trades from run {sup_run} "
            f"({_stamp(holdings.last_run_time)}), value {sup_value:,.2f}; "
            "they count only if you mark them executed"
        )
    tax_week = tax_lots(ledger, config, plan, prices, data_as_of, warnings, notes)
    tax = tax_week.figures
    details = trade_details(plan, tax_week.trade_lots)
    for message in warnings:
        _log.warning(message)
    for message in notes:
        _log.info(message)

    rows = week_rows(
        run_id=run_id, timestamp=now, as_of=run_as_of, data_as_of=data_as_of, target=target,
        plan=plan, prices=prices, holdings=holdings, optimizer=optimizer,
        cash_flows=cash_flows, dropped=dropped, superseded_run=sup_run, data_source=data.source,
        benchmark=data.benchmark, version=__version__,
        controls=_controls_text(decision.controls, config.rebalance),
        trade_details=details,
    )

    frontier = week_frontier(clean, target, config, limits)

    # 4. Side files for the report, then 5. the one write to the workbook.
    _save_side_files(home, run_as_of, target, data, frontier=frontier, clean=clean, prices=prices,
                     holdings=holdings, plan=plan, warnings=warnings, notes=notes,
                     tax={**tax, "lot_method": config.tax.lot_method, "long_term_days": config.tax.long_term_days,
                          "harvest_threshold": config.tax.harvest_threshold})
    from .weekview import holdings_rows

    add_returns(rows, ledger)
    sheet = holdings_rows(ledger, prices, plan.trades, target.weights, data_as_of)
    trades = ledger.trades
    # Every earlier trade is now executed or superseded (this run's list replaces what was pending).
    statuses = {int(r): ("executed" if bool(e) else "superseded")
                for r, e in zip(trades.get("_row", []), trades.get("executed", []))}
    append_week(book, rows, backups_dir=home.backups_dir, keep=config.report.backups, holdings=sheet,
                statuses=statuses, lots=tax_week.lots, gains=tax_week.gains)
    mark_recorded(str(book))
    _log.info("workbook %s: appended run %s (%s)", book, run_id,
              ", ".join(f"{k} {len(v)}" for k, v in rows.items() if len(v)))

    # 6. The report reads what was just written; its failure must not undo the week.
    report = report_error = None
    if notebook:
        from .report import render_monitoring

        try:
            report = render_monitoring(book, home, market_file=home.data_dir / MARKET_FILE, as_of=run_as_of)
            _log.info("report: %s", report.html)
        except ReportError as e:
            _log.error("report failed: %s", e)
            report_error = e
    message = None
    if open_workbook:
        from .ops.excel import open_workbook as _open

        message = _open(book)
        _log.info("open workbook: %s", message)

    return WeeklyResult(
        run_id=run_id, timestamp=now, as_of=run_as_of, data_as_of=data_as_of, optimizer=optimizer,
        positions=len(target.selected), target=target, plan=plan, holdings=holdings,
        prices=prices, first_run=first_run, cash_flows=cash_flows, dropped=dropped,
        superseded_run=sup_run, superseded_count=sup_count, superseded_value=sup_value,
        superseded_time=holdings.last_run_time, warnings=tuple(warnings), notes=tuple(notes),
        workbook=book, data_source=data.source, rows=rows, report=report,
        report_error=report_error, open_message=message, controls=decision.controls, frontier=frontier,
        tax=tax, details=details,
    )


@dataclass(frozen=True)
class TaxWeek:
    """The week's tax lots (:func:`tax_lots`): the Lots and Gains sheets, the lots each proposed
    SELL would close with its estimated gain (by trade row), and the figures ``--json`` carries."""

    lots: pd.DataFrame
    gains: pd.DataFrame
    trade_lots: pd.DataFrame
    figures: dict[str, Any]


def tax_lots(ledger: Any, config: Any, plan: RebalancePlan, prices: pd.Series, as_of: date,
             warnings: list[str], notes: list[str]) -> TaxWeek:
    """The week's tax lots (:mod:`etftrader.lots`); wash sales become warnings, what the week's
    sells would realise a note.

    Raises
    ------
    WorkbookError
        A SELL's ``lot`` cell the lots cannot honour (before anything is written).
    """
    from . import lots as lt

    t = config.tax
    lots = lt.build_lots(ledger, method=t.lot_method, long_term_days=t.long_term_days)
    sheet = lt.lots_rows(lots, prices, as_of, t.long_term_days)
    preview = lt.sell_preview(lots, plan.trades, as_of, method=t.lot_method, long_term_days=t.long_term_days)
    washes = lt.wash_sales(lots, plan.trades, as_of)
    for ticker in washes:
        warnings.append(f"wash sale: this week buys {ticker} within {lt.WASH_SALE_DAYS} days of selling it at a "
                        "loss; the loss may not be deductible")
    tax = lt.summary(lots, preview, washes, as_of.year)
    if len(preview):
        w = tax["week_sells_realise"]
        notes.append(f"this week's sells would realise {w['total']:,.2f} ({t.lot_method}: short-term "
                     f"{w['short_term']:,.2f}, long-term {w['long_term']:,.2f})")
    return TaxWeek(lots=sheet, gains=lt.gains_rows(lots, as_of), trade_lots=lt.trade_lots(plan.trades, preview, washes),
                   figures=tax)


def trade_details(plan: RebalancePlan, trade_lots: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per row of ``plan.trades``: the cost parts (:data:`etftrader.costs.COST_COLUMNS`), wash-sale
    aside, and for SELLs the lots used and the estimated realised gain."""
    from .costs import cost_breakdown

    parts = cost_breakdown(plan.trades, plan.costs)
    if trade_lots is None:
        from .lots import trade_lots as no_lots

        trade_lots = no_lots(plan.trades, pd.DataFrame())
    return pd.concat([parts, trade_lots.reindex(plan.trades.index)], axis=1)


def week_frontier(clean: pd.DataFrame, target: Target, config: Any, limits: Any = ()) -> dict[str, Any] | None:
    """:func:`optimizers.frontier.frontier_report` of the week's selected tickers (None if it fails:
    the frontier is an illustration, never a reason for the week to fail)."""
    from optimizers.frontier import frontier_report

    o = config.optimizer
    try:
        return frontier_report(clean[target.selected], target.scores["composite"], target.weights,
                               risk_aversion=o.risk_aversion, information_coefficient=o.information_coefficient,
                               risk_free_rate=o.risk_free_rate, cov_lookback=o.cov_lookback,
                               max_weight=o.max_weight, min_weight=o.min_weight, limits=limits)
    except Exception as e:  # noqa: BLE001 - logged; the week's decision does not depend on it
        _log.warning("efficient frontier not drawn: %s", first_line(e))
        return None


def _controls_text(controls: Any, rules: Any) -> str:
    """The Metadata cell: what the turnover controls did, or that they were off."""
    if not rules.turnover_control:
        return "off (turnover_control = false)"
    if not controls:
        return "no effect this week"
    return "; ".join(n.message for n in controls)


def _last_recorded_as_of(ledger: Any) -> date | None:
    """The latest ``as_of`` of a weekly run the ledger's Metadata records (None before the first).

    Only weekly runs write Metadata; a ``holdings import`` (dated the day it ran) does not count.
    """
    frame = ledger.metadata
    if "as_of" in frame and frame["as_of"].notna().any():
        return _day(pd.to_datetime(frame["as_of"]).max())
    return None


def _all_dropped_message(quality: Any, data: Any, as_of: date | None) -> str:
    """Why no ticker is left, in one line: the rules that dropped them, and the right advice."""
    counts = quality.counts_by_rule()
    from .prices import RULES

    why = ", ".join(f"{n} {RULES.get(rule, rule)}" for rule, n in counts.items())
    last = _day(data.close.index[-1])
    first = _day(data.close.index[0])
    if as_of is not None and counts.index[:1].tolist() == ["no_recent_data"] and as_of > last:
        advice = f"the {data.source} prices end on {last}: pick an --as-of on or before {last}"
    elif "stale" in counts.index and counts.get("stale", 0) == counts.sum():
        advice = "check `stale_days` in the [data] section of the config"
    elif "short_history" in counts.index and set(counts.index) <= {"short_history", "no_data"}:
        advice = (f"the prices start on {first}, and the factors need {quality.min_history} trading days: "
                  "pick a later --as-of or use shorter factor lookbacks")
    else:
        advice = "see `etftrader validate` for each ticker's reason"
    return (f"every ticker was dropped by the data-quality checks up to {as_of or last} "
            f"({why}); {advice}")


#: the longest stretch of calendar days without any price inside the factor window before the
#: run stops: a long weekend with a holiday is 4 days, a market closure of a week (9/11) about 7
MAX_CALENDAR_GAP_DAYS = 10


def check_calendar_gaps(close: pd.DataFrame, *, as_of: date | None, window: int, source: str) -> None:
    """Stop when the price history has a hole for every ticker inside the factor window.

    A file with months missing for all tickers reads as a shorter history (the empty days are
    not there at all), so every factor would quietly span a different period than it says.

    Raises
    ------
    DataError
        Naming the first and last day of the longest hole.
    """
    index = close.index[close.notna().any(axis=1).to_numpy()] if len(close) else close.index
    recent = index[-window:]
    if len(recent) < 2:
        return
    gaps = np.diff(recent.to_numpy()).astype("timedelta64[D]").astype(int)
    worst = int(np.argmax(gaps))
    if gaps[worst] > MAX_CALENDAR_GAP_DAYS:
        before, after = _day(recent[worst]), _day(recent[worst + 1])
        raise DataError(
            f"the {source} prices have no price for any ticker between {before} and {after} "
            f"({gaps[worst]} calendar days) inside the {window}-day factor window; fill the hole in "
            f"the prices, or pick an --as-of whose window does not include it")


def _worthless_message(plan: Any, holdings: Holdings, ledger: Any, prices: pd.Series) -> str:
    """A ledger whose executed trades leave nothing (or less) is a typo, not a portfolio."""
    trades = ledger.trades
    done = trades.loc[trades["executed"].astype(bool)] if len(trades) else trades
    hint = ""
    if len(done):
        value = done["shares"] * done["price"]
        top = done.loc[value.idxmax()]
        hint = (f"; the largest executed trade is Trades row {int(top['_row'])}: {top['action']} "
                f"{top['shares']:,.0f} {top['ticker']} at {top['price']:,.2f}")
    return (f"the executed trades in {ledger.path.name if ledger.path else 'the workbook'} leave a "
            f"portfolio worth {plan.total_value:,.2f} (cash {holdings.cash:,.2f}){hint}; fix the "
            "shares or price, or clear 'executed', then run again. Nothing was written")


def _stamp(ts: Any) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M") if ts is not None and not pd.isna(ts) else "?"


def _dropped(quality_dropped: pd.DataFrame, failed: dict[str, str]) -> pd.DataFrame:
    """Dropped tickers with reasons: quality drops, then tickers the source did not deliver."""
    rows = [(str(t), str(r)) for t, r in zip(quality_dropped.get("ticker", []), quality_dropped.get("reason", []))]
    seen = {t for t, _ in rows}
    rows += [(t, f"not delivered: {r}") for t, r in sorted(failed.items()) if t not in seen]
    return pd.DataFrame(rows, columns=["ticker", "reason"], dtype=object)


def prices_today(close: pd.DataFrame, clean: pd.DataFrame, holdings: Holdings,
                 warnings: list[str], dropped: pd.DataFrame) -> pd.Series:
    """Price per ticker on the as-of date: cleaned prices, else the raw last price for held tickers.

    ``close`` is the raw price frame up to the as-of date, ``clean`` the quality step's prices,
    ``dropped`` its ``ticker, reason`` frame; messages for the user are appended to ``warnings``.

    A held ticker the quality step dropped is still held: it is valued at its last raw price (and
    sold when rebalancing, since it is not in the target). One without any market price falls back
    to its last executed trade price, with a warning.
    """
    last_clean = _last_valid(clean)
    prices = last_clean[last_clean > 0].astype(float)
    reasons = dict(zip(dropped.get("ticker", []), dropped.get("reason", [])))
    for ticker in holdings.shares.index.difference(prices.index):
        raw = close[ticker].where(np.isfinite(close[ticker]) & (close[ticker] > 0)).dropna() \
            if ticker in close.columns else pd.Series(dtype=float)
        if len(raw):
            prices[ticker] = float(raw.iloc[-1])
            why = reasons.get(ticker, "not scored")
            warnings.append(f"held ticker {ticker} is out of the universe this week ({why}); valued at "
                            f"its last price {raw.iloc[-1]:,.2f} of {_day(raw.index[-1])}")
        elif ticker in holdings.last_price.index:
            prices[ticker] = float(holdings.last_price[ticker])
            warnings.append(f"held ticker {ticker} has no market price in the {len(close.columns)}-ticker "
                            f"source; valued at its last trade price {prices[ticker]:,.2f}")
        else:  # pragma: no cover - holdings always have a trade price
            raise DataError(f"held ticker {ticker} has no price; check the Trades sheet")
    return prices.sort_index()


def _last_valid(frame: pd.DataFrame) -> pd.Series:
    """``frame.ffill().iloc[-1]`` (each column's last non-NaN value, NaN if none) without
    forward-filling the whole history: the backtest prices every week, and on a 600-ticker
    universe the fill cost ~10 ms a call. Only columns missing on the last row are searched."""
    if len(frame) == 0 or not all(dtype == np.float64 for dtype in frame.dtypes):
        return frame.ffill().iloc[-1]
    values = frame.to_numpy(dtype="float64")
    last = values[-1].copy()
    for col in np.flatnonzero(np.isnan(last)):
        present = np.flatnonzero(~np.isnan(values[:, col]))
        if present.size:
            last[col] = values[present[-1], col]
    return pd.Series(last, index=frame.columns, name=frame.index[-1])


_prices_today = prices_today  # the name the backtest used first


def _log_plan(plan: RebalancePlan) -> None:
    verdict = "forced" if plan.forced else ("exceeds" if plan.rebalance else "within")
    _log.info("drift %.2f%% vs threshold %.2f%% (%s): rebalance %s; portfolio value %.2f, cash %.2f",
              plan.drift * 100, plan.threshold * 100, verdict, plan.rebalance, plan.total_value,
              plan.cash_before)
    if plan.rebalance:
        _log.info("target shares for %.2f investable: %s", plan.investable,
                  plan.target_shares.astype(int).to_dict())
    for r in plan.trades.itertuples():
        _log.info("trade %s %g %s @ %.2f = %.2f (est. cost %.2f)", r.action, r.shares, r.ticker,
                  r.price, r.value, r.est_cost)
    for r in plan.skipped.itertuples():
        _log.info("skipped %s %g %s (%.2f): %s", r.action, r.shares, r.ticker, r.value, r.reason)
    _log.info("cash after trades %.2f (estimated costs %.2f)", plan.cash_after, plan.total_cost)


def week_rows(*, run_id: str, timestamp: datetime, as_of: date, data_as_of: date, target: Target,
              plan: RebalancePlan, prices: pd.Series, holdings: Holdings, optimizer: str,
              cash_flows: pd.DataFrame, dropped: pd.DataFrame, superseded_run: str | None,
              data_source: str, benchmark: pd.Series | None, version: str,
              controls: str = "", trade_details: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The workbook rows of one week (``docs/contracts.md``), keyed by sheet name.

    ``trade_details`` (of :func:`trade_details`) adds each trade's cost parts, lots and gain."""
    res = target.result
    scores = target.scores["composite"]
    after = plan.shares_after
    value_after = after * prices.reindex(after.index)
    total_after = float(value_after.sum()) + plan.cash_after
    positions = pd.DataFrame({
        "timestamp": timestamp,
        "ticker": after.index.astype(object),
        "weight": (value_after / total_after).to_numpy() if total_after > 0 else 0.0,
        "value": value_after.to_numpy(),
        "shares": after.to_numpy(dtype=float),
        "price": prices.reindex(after.index).to_numpy(),
        "factor_score": scores.reindex(after.index).to_numpy(dtype=float),
        "run_id": run_id,
        "as_of": data_as_of,
        "target_weight": res.weights.reindex(after.index, fill_value=0.0).to_numpy(dtype=float),
        "current_weight": plan.current_weights.reindex(after.index, fill_value=0.0).to_numpy(dtype=float),
    })
    t = plan.trades
    trades = pd.DataFrame({
        "timestamp": timestamp,
        "ticker": t["ticker"].astype(object).to_numpy(),
        "action": t["action"].astype(object).to_numpy(),
        "shares": t["shares"].to_numpy(dtype=float),
        "price": t["price"].to_numpy(dtype=float),
        "value": t["value"].to_numpy(dtype=float),
        "executed": False,
        "run_id": run_id,
        "as_of": data_as_of,
        "est_cost": t["est_cost"].to_numpy(dtype=float),
        "note": "",
        "status": "pending",  # the value a status formula shows until recalculated
    })
    if trade_details is not None and len(t):
        from .workbook.schema import SCHEMA

        for column in trade_details.columns:
            if column in SCHEMA["Trades"]:
                trades[column] = trade_details[column].to_numpy()
    invested = plan.total_value - plan.cash_before
    bench_close = None
    bench_label = ""
    if benchmark is not None and len(benchmark.dropna()):
        b = benchmark.dropna()
        b = b[b.index <= pd.Timestamp(data_as_of)]
        bench_label = str(benchmark.name or "")
        bench_close = float(b.iloc[-1]) if len(b) else None
    performance = pd.DataFrame([{
        "timestamp": timestamp,
        "total_value": plan.total_value,
        "num_positions": int(len(after)),
        "expected_return": _num(res.expected_return),
        "expected_volatility": _num(res.expected_volatility),
        "expected_sharpe": _num(res.expected_sharpe),
        "run_id": run_id,
        "as_of": data_as_of,
        "cash": plan.cash_before,
        "invested_value": invested,
        "pending_value": float(t["value"].sum()),
        "drift": plan.drift,
        "benchmark": bench_label,
        "benchmark_close": bench_close,
        "warning": (f"NEGATIVE CASH {plan.cash_before:,.2f} before this week's trades"
                    if plan.cash_before < -0.005 else ""),
        "cash_before_trades": plan.cash_before,
    }])
    metadata = pd.DataFrame([{
        "timestamp": timestamp,
        "rebalanced": bool(plan.rebalance),
        "optimizer": optimizer,
        "drift_threshold": plan.threshold,
        "capital": plan.total_value,
        "num_positions": int(len(target.selected)),
        "run_id": run_id,
        "as_of": as_of,
        "drift": plan.drift,
        "cash": plan.cash_after,
        "data_source": data_source,
        "data_as_of": data_as_of,
        "optimizer_used": res.method,
        "fallback_reason": res.fallback_reason or "",
        "dropped_tickers": ", ".join(dropped["ticker"].astype(str)),
        "superseded_run": superseded_run or "",
        "version": version,
        "turnover_controls": controls,
        "portfolio_value": plan.total_value,
        "cash_after_trades": plan.cash_after,
    }])
    cashflows = pd.DataFrame({
        "timestamp": timestamp,
        "type": cash_flows["type"].astype(object).to_numpy(),
        "amount": cash_flows["amount"].to_numpy(dtype=float),
        "note": cash_flows["note"].astype(object).to_numpy(),
        "run_id": run_id,
        "as_of": data_as_of,
    })
    return {"Positions": positions, "Trades": trades, "Performance": performance,
            "Metadata": metadata, "CashFlows": cashflows}


def add_returns(rows: dict[str, pd.DataFrame], ledger: Any) -> None:
    """Fill this week's Performance return columns: the time-weighted weekly and cumulative
    return of the portfolio and of the benchmark, over every week recorded so far (deposits and
    withdrawals taken out, as the report computes them)."""
    from types import SimpleNamespace

    from .monitoring import performance_series

    perf_rows = rows["Performance"]
    old = getattr(ledger, "performance", None)
    old_flows = getattr(ledger, "cashflows", None)
    book = SimpleNamespace(
        performance=pd.concat([f for f in (old, perf_rows) if f is not None and len(f)], ignore_index=True),
        cashflows=pd.concat([f for f in (old_flows, rows["CashFlows"]) if f is not None and len(f)],
                            ignore_index=True) if rows["CashFlows"] is not None else old_flows,
        positions=None)
    series = performance_series(book)
    last = series.iloc[-1] if len(series) else None
    for column, source in (("week_return", "period_return"), ("cumulative_return", "cumulative_return"),
                           ("benchmark_week_return", "benchmark_return"),
                           ("benchmark_cumulative", "benchmark_cumulative")):
        value = float(last[source]) if last is not None and pd.notna(last[source]) else None
        perf_rows[column] = value


def _save_side_files(home: Any, as_of: date, target: Target, data: Any, *,
                     frontier: dict[str, Any] | None = None, clean: pd.DataFrame | None = None,
                     prices: pd.Series | None = None, holdings: Holdings | None = None,
                     plan: RebalancePlan | None = None, warnings: list[str] = (), notes: list[str] = (),
                     tax: dict[str, Any] | None = None) -> None:
    """Market series, factor scores, the week's closes and the week file for the report; each
    written whole (temp file, then replace).

    The market series is built from what the run already loaded (the benchmark, and the VIX that
    the yfinance source asks for along with the universe): no second download, no second read.
    """
    _atomic_parquet(market_frame(data, as_of), home.data_dir / MARKET_FILE)
    _atomic_parquet(target.scores, home.data_dir / SCORES_FILE)
    import json

    from .workbook.safety import atomic_write

    names = set(map(str, target.selected))
    if holdings is not None:
        names |= set(map(str, holdings.shares.index[holdings.shares > 0]))
    if plan is not None and len(plan.trades):
        names |= set(map(str, plan.trades["ticker"]))
    if clean is not None:
        closes = clean[[t for t in sorted(names) if t in clean.columns]].iloc[-SIDE_PRICE_DAYS:]
        _atomic_parquet(closes, home.data_dir / PRICES_FILE)
    used = {} if prices is None else {str(t): float(v) for t, v in prices.items()
                                      if str(t) in names and np.isfinite(v)}
    side = {"as_of": as_of.isoformat(), "optimizer": target.result.requested, "method": target.result.method,
            "warnings": list(warnings), "notes": list(notes), "prices": used, "tax": tax or {},
            "frontier": frontier, "sleeves": {k: list(v) for k, v in target.result.sleeves.items()},
            "weights": {str(t): float(w) for t, w in target.weights.items()}}
    text = json.dumps(side, indent=1, allow_nan=False, default=float).encode("utf-8")
    atomic_write(home.data_dir / WEEK_FILE, lambda fh: fh.write(text))


def market_frame(data: Any, as_of: date) -> pd.DataFrame:
    """The shape :func:`etftrader.prices.load_market_series` returns, from loaded ``PriceData``:
    daily closes up to ``as_of``, a column named by the benchmark label and ``VIX`` when known."""
    series = []
    if data.benchmark is not None and len(data.benchmark.dropna()):
        series.append(data.benchmark.dropna().rename(str(data.benchmark.name or "benchmark")))
    else:
        _log.warning("no benchmark in the %s source: the report's market view is empty", data.source)
    vix = getattr(data, "vix", None)
    if vix is not None and len(vix.dropna()):
        series.append(vix.dropna().rename("VIX"))
    elif data.source == "yfinance":
        _log.warning("VIX not available from Yahoo Finance; the report uses a labelled stand-in")
    if series:
        frame = pd.concat(series, axis=1, sort=True)
        frame = frame.loc[frame.index <= pd.Timestamp(as_of)]
    else:
        frame = pd.DataFrame(index=pd.DatetimeIndex([], dtype="datetime64[ns]"))
    frame.index.name = "date"
    return frame


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame = frame.copy()
        frame.attrs = {}  # notes are logged; parquet metadata needs JSON-able attrs
        frame.to_parquet(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
