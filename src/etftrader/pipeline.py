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

Why one module of this size: it is the run's order of steps and the checks between them (each a
short function below); the target, the rows, the side files and the result live in
:mod:`etftrader.target`, :mod:`etftrader.records`, :mod:`etftrader.sidefiles` and
:mod:`etftrader.result` (``docs/architecture.md``).
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError, ReportError, WorkbookError, first_line
from .holdings import LEDGER_SHEETS, Holdings, holdings_from_ledger, require_ledger_sheets
from .rebalance import RebalancePlan, plan_rebalance
from .records import _controls_text, add_returns, tax_lots, trade_details, week_rows
from .result import WeeklyResult
from .sidefiles import MARKET_FILE, PRICES_FILE, SCORES_FILE, WEEK_FILE, save_side_files
from .target import Target, build_target, prices_today, score_prices
from .week import decide_week

if TYPE_CHECKING:
    from .config import Config

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
    "PRICES_FILE",
    "WEEK_FILE",
]

_log = logging.getLogger("etftrader.pipeline")


_TOP_SCORES_LOGGED = 10


def _day(x: Any) -> date:
    return pd.Timestamp(x).date()


def new_run_id(now: datetime) -> str:
    """``YYYYMMDD-HHMMSS-xxxx``: sortable by time, unique with a short random suffix."""
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def run_weekly(config: Config, home: Any, *, as_of: date | None = None, workbook: Path | None = None,
               capital: float | None = None, deposit: float | None = None,
               withdraw: float | None = None, refresh: bool = False,
               notebook: bool | None = None, open_workbook: bool | None = None,
               progress: bool = False, fetcher: Callable[..., pd.DataFrame] | None = None,
               now: datetime | None = None) -> WeeklyResult:
    """Run the week: read the ledger, build the target, plan trades, append the week, render.

    Parameters
    ----------
    config : etftrader.config.Config
        The config in force (file + flags); ``portfolio.capital`` seeds the first run unless
        ``capital`` is given, ``rebalance.force`` forces a rebalance, ``run.allow_earlier_as_of``
        lets an ``as_of`` before the last recorded week through.
    home : etftrader.paths.Home
        Home folder (created if missing).
    as_of : date, optional
        Run as of this date with prices up to it (default: the latest prices).
    workbook : Path, optional
        Tracking workbook (default ``home.workbook``).
    capital : float, optional
        ``--capital`` as the user typed it: the first run's cash (over ``portfolio.capital``); on a
        later run only a warning when it differs from the portfolio's
        value on a later run (it never moves money after the first run).
    deposit, withdraw : float, optional
        Cash put in or taken out this week, recorded in CashFlows.
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
            withdraw=withdraw, refresh=refresh, notebook=notebook,
            open_workbook=open_workbook, progress=progress, fetcher=fetcher)


def _run_weekly_locked(config: Config, home: Any, book: Path, *, now: datetime, as_of: date | None,
                       capital: float | None, deposit: float | None, withdraw: float | None,
                       refresh: bool, notebook: bool | None, open_workbook: bool | None,
                       progress: bool, fetcher: Callable[..., pd.DataFrame] | None) -> WeeklyResult:
    """:func:`run_weekly` once the home folder's lock is held: the six steps of the module
    docstring, each a function below."""
    from . import __version__
    from .groups import asset_classes, group_limits

    run_id = new_run_id(now)
    notebook = config.report.notebook if notebook is None else notebook
    open_workbook = config.report.open_workbook if open_workbook is None else open_workbook
    positions = config.portfolio.positions
    optimizer = config.portfolio.optimizer
    _log.info("run %s: etftrader %s, workbook %s", run_id, __version__, book)
    _log.info("config in force: %s", config.to_dict())
    warnings: list[str] = []
    notes: list[str] = []

    # 1. The ledger first: a locked or corrupt workbook must fail before any download.
    ledger, holdings = _read_ledger(config, home, book, as_of=as_of)
    # The tax lots too, so a bad `lot` cell stops the run here, before any download.
    from .lots import build_lots

    lots = build_lots(ledger, method=config.tax.lot_method, long_term_days=config.tax.long_term_days)
    # 2. This run's cash flows.
    holdings, cash_flows, first_run = _apply_cash_flows(config, holdings, capital=capital, deposit=deposit,
                                                        withdraw=withdraw)
    # 3. Prices, quality, target, plan (the group limits first: a typo in a group name is exit 2).
    limits = group_limits(config, home)
    week = _week_prices(config, home, as_of=as_of, refresh=refresh, progress=progress, fetcher=fetcher,
                        notes=notes)
    decision = decide_week(week.clean, week.data.close, holdings, config, optimizer=optimizer,
                           positions=positions, dropped=week.quality.dropped, explain=True,
                           limits=limits, volume=week.data.volume, asset_class=asset_classes(config, home))
    target, prices, plan = decision.target, decision.prices, decision.plan
    _log_decision(decision, warnings, notes)
    if plan.total_value <= 0:
        raise WorkbookError(_worthless_message(plan, holdings, ledger, prices))
    if (not first_run and capital is not None
            and abs(float(capital) - plan.total_value) > max(0.005, 1e-9 * plan.total_value)):
        warnings.append(
            f"--capital {capital:,.2f} is only used on the first run (the portfolio is worth "
            f"{plan.total_value:,.2f} now); use --deposit/--withdraw to move cash"
        )
    superseded = _superseded(holdings, notes)
    tax_week = tax_lots(lots, config, plan, prices, week.as_of, warnings, notes)
    details = trade_details(plan, tax_week.trade_lots)
    for message in warnings:
        _log.warning(message)
    for message in notes:
        _log.info(message)
    rows = week_rows(
        run_id=run_id, timestamp=now, as_of=week.as_of, data_as_of=week.as_of, target=target,
        plan=plan, prices=prices, holdings=holdings, optimizer=optimizer,
        cash_flows=cash_flows, dropped=week.dropped, superseded_run=superseded.run, data_source=week.data.source,
        benchmark=week.data.benchmark, version=__version__,
        controls=_controls_text(decision.controls, config.rebalance), trade_details=details,
    )
    frontier = week_frontier(week.clean, target, config, limits)

    # 4. Side files for the report, then 5. the one write to the workbook.
    save_side_files(home, week.as_of, target, week.data, frontier=frontier, clean=week.clean, prices=prices,
                    holdings=holdings, plan=plan, warnings=warnings, notes=notes,
                    tax={**tax_week.figures, "lot_method": config.tax.lot_method,
                         "long_term_days": config.tax.long_term_days,
                         "harvest_threshold": config.tax.harvest_threshold})
    _record(config, home, book, run_id, rows, ledger, prices, plan, target, week.as_of, tax_week)

    # 6. The report reads what was just written; its failure must not undo the week.
    report, report_error = _render(home, book, week.as_of) if notebook else (None, None)
    message = None
    if open_workbook:
        from .ops.excel import open_workbook as _open

        message = _open(book)
        _log.info("open workbook: %s", message)

    return WeeklyResult(
        run_id=run_id, timestamp=now, as_of=week.as_of, data_as_of=week.as_of, optimizer=optimizer,
        positions=len(target.selected), target=target, plan=plan, holdings=holdings,
        prices=prices, first_run=first_run, cash_flows=cash_flows, dropped=week.dropped,
        superseded_run=superseded.run, superseded_count=superseded.count, superseded_value=superseded.value,
        superseded_time=holdings.last_run_time, warnings=tuple(warnings), notes=tuple(notes),
        workbook=book, data_source=week.data.source, rows=rows, report=report,
        report_error=report_error, open_message=message, controls=decision.controls, frontier=frontier,
        tax=tax_week.figures, details=details,
    )


def _read_ledger(config: Config, home: Any, book: Path, *, as_of: date | None) -> tuple[Any, Holdings]:
    """Step 1: the ledger and the executed holdings. Temp files of a run that was killed are
    removed first (under the lock no other run is writing); an --as-of before the last recorded
    week needs ``run.allow_earlier_as_of`` (``--force``)."""
    from .workbook import check_writable, read_ledger, remove_stale_temp_files

    for left in remove_stale_temp_files(book, home.backups_dir):
        _log.info("removed %s, left by an interrupted earlier run", left)
    check_writable(book)
    ledger = read_ledger(book, sheets=(*LEDGER_SHEETS, "Performance"))  # Performance: the return columns
    require_ledger_sheets(ledger, book, home.backups_dir)
    holdings = holdings_from_ledger(ledger)
    last_as_of = _last_recorded_as_of(ledger)
    if as_of is not None and last_as_of is not None and as_of < last_as_of and not config.run.allow_earlier_as_of:
        raise ConfigError(
            f"--as-of {as_of} is earlier than the last recorded week ({last_as_of}) in {book.name}; "
            "weeks are recorded in order. Pass --force (or set allow_earlier_as_of = true in [run]) "
            "to record it anyway")
    _log.info("ledger: %d executed trades, holdings %s, cash %.2f, last run %s",
              holdings.executed_trades, holdings.shares.round(4).to_dict(), holdings.cash,
              holdings.last_run_id)
    return ledger, holdings


def _apply_cash_flows(config: Config, holdings: Holdings, *, capital: float | None, deposit: float | None,
                      withdraw: float | None) -> tuple[Holdings, pd.DataFrame, bool]:
    """Step 2: the first run's capital, --deposit and --withdraw, as holdings with that cash, the
    CashFlows rows and whether this is the first run."""
    first_run = not holdings.has_cashflows
    flows = []
    if first_run:
        flows.append(("DEPOSIT", float(capital if capital is not None else config.portfolio.capital),
                      "initial capital"))
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
    return holdings.with_cash(cash), pd.DataFrame(flows, columns=["type", "amount", "note"]), first_run


@dataclass(frozen=True)
class _WeekPrices:
    data: Any  # etftrader.prices.PriceData
    quality: Any  # etftrader.prices.QualityReport
    clean: pd.DataFrame
    as_of: date  # the last trading day of the data used: the run's one as-of
    dropped: pd.DataFrame


def _week_prices(config: Config, home: Any, *, as_of: date | None, refresh: bool, progress: bool,
                 fetcher: Callable[..., pd.DataFrame] | None, notes: list[str]) -> _WeekPrices:
    """Step 3a: the prices up to the as-of date and the quality step's verdict on them."""
    from .prices import check_quality, load_prices

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
    if as_of is not None and as_of != data_as_of:
        notes.append(f"--as-of {as_of} is not a trading day with prices; the run is as of {data_as_of}, "
                     "the last trading day before it")
    _log.info("prices: source %s, %d tickers, %s to %s; kept %d, dropped %d",
              data.source, data.close.shape[1], _day(data.close.index[0]), data_as_of,
              len(quality.kept), len(quality.dropped))
    _log.info("kept: %s", ", ".join(map(str, quality.kept)))
    notes.extend(data.notes)
    dropped = _dropped(quality.dropped, data.failed)
    for r in dropped.itertuples():
        _log.info("dropped %s: %s", r.ticker, r.reason)
    return _WeekPrices(data=data, quality=quality, clean=clean, as_of=data_as_of, dropped=dropped)


def _log_decision(decision: Any, warnings: list[str], notes: list[str]) -> None:
    """Step 3b, in the log: the top scores, the optimizer's weights and the plan; the decision's
    notes go to ``warnings`` or ``notes`` by their level."""
    target = decision.target
    top = target.scores["composite"].head(_TOP_SCORES_LOGGED)
    _log.info("top scores: %s", ", ".join(f"{t} {s:+.3f}" for t, s in top.items()))
    res = target.result
    _log.info("optimizer %s (used %s%s): %s", res.requested, res.method,
              f", fallback: {res.fallback_reason}" if res.fallback_reason else "",
              ", ".join(f"{t} {w:.2%}" for t, w in res.weights.items()))
    for note in decision.notes:
        (warnings if note.level == "warning" else notes).append(note.message)
    _log_plan(decision.plan)


@dataclass(frozen=True)
class _Superseded:
    run: str | None
    count: int
    value: float


def _superseded(holdings: Holdings, notes: list[str]) -> _Superseded:
    """The earlier run's unexecuted trades this run's list replaces (noted when there are any)."""
    pending = holdings.pending
    count = int(len(pending))
    value = float(pending["value"].sum()) if count else 0.0
    run = holdings.last_run_id if count else None
    if count:
        notes.append(
            f"superseded {count} unexecuted trades from run {run} "
            f"({_stamp(holdings.last_run_time)}), value {value:,.2f}; "
            "they count only if you mark them executed"
        )
    return _Superseded(run=run, count=count, value=value)


def _record(config: Config, home: Any, book: Path, run_id: str, rows: dict[str, pd.DataFrame], ledger: Any,
            prices: pd.Series, plan: RebalancePlan, target: Target, as_of: date, tax_week: Any) -> None:
    """Step 5: the one write to the workbook: the week's rows, the run's own sheets (Holdings,
    Lots, Gains) and the shown status of earlier trades."""
    from .interrupts import mark_recorded
    from .weekview import holdings_rows
    from .workbook import append_week

    add_returns(rows, ledger)
    sheet = holdings_rows(ledger, prices, plan.trades, target.weights, as_of)
    trades = ledger.trades
    # Every earlier trade is now executed or superseded (this run's list replaces what was pending).
    statuses = {int(r): ("executed" if bool(e) else "superseded")
                for r, e in zip(trades.get("_row", []), trades.get("executed", []))}
    append_week(book, rows, backups_dir=home.backups_dir, keep=config.report.backups, holdings=sheet,
                statuses=statuses, lots=tax_week.lots, gains=tax_week.gains)
    mark_recorded(str(book))
    _log.info("workbook %s: appended run %s (%s)", book, run_id,
              ", ".join(f"{k} {len(v)}" for k, v in rows.items() if len(v)))


def _render(home: Any, book: Path, as_of: date) -> tuple[Any, ReportError | None]:
    """Step 6: the monitoring report, or the error that stopped it (logged, not raised)."""
    from .report import render_monitoring

    try:
        report = render_monitoring(book, home, market_file=home.data_dir / MARKET_FILE, as_of=as_of)
    except ReportError as e:
        _log.error("report failed: %s", e)
        return None, e
    _log.info("report: %s", report.html)
    return report, None


def week_frontier(clean: pd.DataFrame, target: Target, config: Config, limits: Any = ()) -> dict[str, Any] | None:
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


