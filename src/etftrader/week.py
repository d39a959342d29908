"""The one step that decides a week, for ``etftrader weekly`` and every book of the backtest.

:func:`decide_week` takes the prices up to the as-of date (the quality step's cleaned frame and the
raw closes), what is held (shares and cash), the config and the optimizer, and returns the target,
the prices used, the trade plan and structured :class:`Note` records. Nothing here reads or writes
a file: the weekly command records the decision in the workbook, the backtest fills it in a
simulated account. A rule added to the week (a turnover control, a price guard) is written once,
here, so the backtest keeps telling the truth about the weekly run.

The week, in order:

1. today's prices (:func:`etftrader.target.prices_today`: cleaned closes, the last good price for
   a held ticker the quality step set aside);
2. the target (:func:`etftrader.target.build_target`): scores, the top N with the selection
   buffer for held tickers, the optimizer with the turnover penalty against the current weights;
   equal weight holds 1/N of every ticker the quality step kept (so the buffer does not apply);
3. the plan (:func:`etftrader.rebalance.plan_rebalance`): drift against that target, the
   threshold, whole-share trades, the no-trade band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pandas as pd

from .errors import DataError
from .labels import F64

if TYPE_CHECKING:
    from .config import Config

__all__ = ["EQUAL_WEIGHT", "Note", "WeekDecision", "decide_week", "equal_weight_target"]

#: the 1/N comparison book of the backtest (and a valid "optimizer" for this step)
EQUAL_WEIGHT = "equal_weight"

#: how a week's note begins when its rebalance was held back as too costly ([rebalance]
#: max_cost_fraction): the backtest and the sweep count these weeks
HELD_BACK = "held back the rebalance"


@dataclass(frozen=True)
class Note:
    """Something the week's decision did or met, as data: never parsed back from its message.

    Attributes
    ----------
    kind : str
        ``positions_capped``, ``optimizer_fallback``, ``optimizer``, ``held_price``, ``price_guard``,
        ``buffer_kept``, ``group_swap``, ``turnover_penalty``, ``no_trade_band``, ``liquidity_cap`` or
        ``cost_cap``.
    message : str
        One sentence for the summary, the log and the report.
    data : mapping
        The figures behind the message (tickers, ranks, amounts).
    level : str
        ``"warning"`` for what the analyst must look at, else ``"info"``.
    """

    kind: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)
    level: str = "info"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "message": self.message, "data": _plain(self.data)}


#: the kinds that say what the turnover controls did this week
CONTROL_KINDS = ("buffer_kept", "turnover_penalty", "no_trade_band")


@dataclass(frozen=True)
class WeekDecision:
    """What :func:`decide_week` decided: target, prices used, the plan, and notes."""

    target: Any
    prices: pd.Series
    plan: Any
    notes: tuple[Note, ...]

    @property
    def warnings(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.level == "warning")

    @property
    def controls(self) -> tuple[Note, ...]:
        """The notes of the turnover controls that changed the week."""
        return tuple(n for n in self.notes if n.kind in CONTROL_KINDS)


#: optimizers whose objective carries the turnover penalty (hrp and riskparity have none to add it to)
PENALISED = ("mvo", "minvar", "rankbased", "cvar", "blacklitterman")


def decide_week(clean: pd.DataFrame, close: pd.DataFrame, holdings: Any, config: Config, *, optimizer: str,
                positions: int, dropped: pd.DataFrame | Callable[[], pd.DataFrame],
                scores: pd.DataFrame | None = None,
                force: bool = False, explain: bool = False, limits: Any = (),
                volume: pd.DataFrame | None = None, asset_class: Mapping[str, str] | None = None,
                guard: Callable[[pd.Series, float], Any] | None = None, memo: dict | None = None
                ) -> WeekDecision:
    """Decide one week: target, prices, trade plan and notes.

    Parameters
    ----------
    clean : DataFrame of shape (n_dates, n_kept)
        The quality step's cleaned closes up to the as-of date.
    close : DataFrame of shape (n_dates, n_tickers)
        The raw closes up to the as-of date (for held tickers the quality step set aside).
    holdings : etftrader.holdings.Holdings
        Executed shares by ticker and cash.
    config : etftrader.config.Config
        Uses ``factors``, ``optimizer`` and ``rebalance`` (thresholds, costs, turnover controls).
    optimizer : str
        One of :data:`optimizers.OPTIMIZERS` or :data:`EQUAL_WEIGHT`.
    positions : int
        Positions wanted (ignored by equal weight, which holds every kept ticker).
    dropped : DataFrame or callable
        The quality step's ``ticker, rule, reason`` of tickers set aside, or a function returning
        it (the backtest's :meth:`~etftrader.prices.quality.QualityHistory.last_dropped`: the
        reasons are formatted only for a week that values a held ticker set aside).
    scores : DataFrame, optional
        ``target.score_prices(clean, config)`` when the caller has it (the backtest scores a
        week once for all its books).
    force : bool
        Rebalance whatever the drift.
    explain : bool
        Also solve without the turnover penalty, to say how far it moved the target (the weekly
        run does; the backtest does not need to, and the decision is the same either way).
    limits : sequence of optimizers.limits.GroupLimit
        The group limits (:func:`etftrader.groups.group_limits`); equal weight ignores them.
    volume : DataFrame, optional
        Daily volumes (shares) up to the as-of date: the market impact and the liquidity cap of
        :mod:`etftrader.costs` need them (without, trades pay commission and spread only).
    asset_class : mapping of ticker to asset class, optional
        For a ``spread_bps`` given by asset class (:func:`etftrader.groups.asset_classes`).
    guard : callable, optional
        ``(closes of a held ticker, max_daily_move) -> GuardedPrice or None``; default
        :func:`etftrader.prices.guard.guard_latest` (the backtest passes a
        :class:`~etftrader.prices.guard.GuardHistory`'s ``latest``: the same verdicts, each
        ticker walked once).
    memo : dict, optional
        One dict for all the books of one backtest week, which hand it the same ``clean``,
        ``close`` and ``volume`` unchanged: what each would compute from them alike (today's
        clean prices, the week's ADV and volatility) is computed for the first and read by the
        others. None (the weekly run): nothing is kept.

    Returns
    -------
    WeekDecision

    Raises
    ------
    DataError, OptimizationError, ConfigError
        As :func:`etftrader.target.build_target` and :func:`etftrader.rebalance.plan_rebalance`.
    """
    from .rebalance import current_weights, plan_rebalance
    from .target import build_target, prices_today

    notes: list[Note] = []
    warned: list[str] = []
    # Plain lists: pandas' boolean masks and set operations on a string index cost more than the
    # rest of the week step, and the backtest takes it for every book every week.
    held = _held(holdings)
    prices = prices_today(close, clean, holdings, warned, dropped, memo=memo)
    frozen = _guard_held_prices(close, clean, holdings, config, prices, warned, notes, guard, held=held,
                                memo=memo)
    notes += [Note("held_price", message, level="warning") for message in warned]
    current, current_total = current_weights(holdings.shares, prices, holdings.cash)
    invested = bool((current.to_numpy() > 0).any())
    rules = config.rebalance
    if optimizer == EQUAL_WEIGHT:
        target = equal_weight_target(clean)
    else:
        # All cash: nothing to stay close to, so solve without the penalty (k * sum|w| is constant).
        held_weights = current if invested else None
        target = build_target(clean, config, positions=positions, optimizer=optimizer, scores=scores,
                              held=held, current_weights=held_weights,
                              limits=limits)
        notes += list(target.notes)
        for kept in target.kept:
            notes.append(Note("buffer_kept", f"kept {kept.ticker}: rank {kept.rank}, inside the buffer of {kept.limit}",
                              {"ticker": kept.ticker, "rank": kept.rank, "limit": kept.limit}))
        if explain and rules.penalty > 0 and invested \
                and target.result.method in PENALISED and target.result.requested == target.result.method:
            notes += _penalty_notes(clean, config, target, holdings, current, positions=positions,
                                    optimizer=optimizer, limits=limits)
    negative = holdings.cash < -0.005
    if negative:
        notes.append(_negative_cash_note(holdings))
    # Negative cash is money owed: the week trades (sells first) to bring it back to zero or above.
    from .costs import cost_model

    def costs():
        """The week's cost model, built only for a week that trades (see plan_rebalance)."""
        weights = target.weights
        # Every ticker that may trade (the model deduplicates; its figures do not depend on the order).
        movers = [t for t, w in zip(weights.index.tolist(), weights.to_numpy().tolist()) if w > 0] + held
        return cost_model(rules, movers, close=close, volume=volume, asset_class=asset_class, memo=memo)

    plan = plan_rebalance(target.weights, holdings, prices, rules, optimizer=optimizer,
                          force=force or negative, frozen=frozen, costs_if_trading=costs,
                          current=(current, current_total))
    plan = _hold_back_if_costly(plan, holdings, rules, notes)
    # The plan's rows, not its frames: the backtest never reads the frames, and building them
    # costs more than the rest of a book's week.
    capped = [r for r in plan.skipped_rows if str(r["reason"]).startswith("liquidity cap")]
    if capped:
        tickers = [str(r["ticker"]) for r in capped]
        value = float(np.array([r["value"] for r in capped], dtype=F64).sum())  # numpy's sum, as the frame's
        notes.append(Note(
            "liquidity_cap",
            f"cut {len(capped)} trade{'s' if len(capped) != 1 else ''} to {rules.max_adv_fraction:.0%} of the "
            f"20-day average daily volume ({', '.join(tickers)}); {value:,.0f} waits for next week",
            {"tickers": tickers, "value": value}, level="warning"))
    if plan.banded_parts:
        banded, current_w, target_w, total = plan.banded_parts  # the rows of plan.banded
        value = float((np.abs(target_w - current_w) * total).sum())  # its value column's sum
        notes.append(Note(
            "no_trade_band",
            f"left {len(banded)} position{'s' if len(banded) != 1 else ''} inside the no-trade band (within "
            f"{rules.band:.0%} of target weight: {', '.join(banded)}), {value:,.0f} not traded",
            {"tickers": list(banded), "value": value, "band": rules.band}))
    return WeekDecision(target=target, prices=prices, plan=plan, notes=tuple(notes))


def _held(holdings: Any) -> list:
    """The tickers with shares, in the holdings' order."""
    shares = holdings.shares.to_numpy()
    some = shares > 0
    if some.all():
        return holdings.shares.index.tolist()
    return [t for t, k in zip(holdings.shares.index.tolist(), some.tolist()) if k]


def _guard_held_prices(close: pd.DataFrame, clean: pd.DataFrame, holdings: Any, config: Config, prices: pd.Series,
                       warned: list[str], notes: list[Note], guard: Any = None, *, held: list | None = None,
                       memo: dict | None = None) -> list[str]:
    """Held tickers the quality step set aside whose latest price fails the jump guard
    (:func:`etftrader.prices.guard.guard_latest`): valued at the last good price (``prices`` is
    updated) and frozen for the week. Returns the frozen tickers. ``held``: the tickers with
    shares, when the caller has them; ``memo``: as :func:`decide_week`'s (the kept tickers as a
    set, once for the week's books)."""
    from .prices.guard import guard_latest

    frozen: list[str] = []
    if held is None:
        held = _held(holdings)
    kept = memo.get("kept") if memo is not None else None
    if kept is None or kept[0] is not clean:
        kept = (clean, set(clean.columns.tolist()))
        if memo is not None:
            memo["kept"] = kept
    aside = sorted(t for t in held if t not in kept[1])  # held, set aside by the quality step
    if not aside:
        return frozen
    accepted = set(config.data.accept_prices)
    columns = set(close.columns.tolist())
    for ticker in aside:
        if ticker not in columns or ticker in accepted:
            continue
        guarded = (guard or guard_latest)(close[ticker], config.data.max_daily_move)
        if guarded is None or not math.isfinite(guarded.used):
            continue
        prices[ticker] = guarded.used
        frozen.append(str(ticker))
        warned[:] = [m for m in warned if not m.startswith(f"held ticker {ticker} ")]
        notes.append(Note(
            "price_guard",
            f"{ticker} {guarded.date.date()}: price {guarded.price:,.2f} failed the rule "
            f"'{guarded.rule}'; valued at {guarded.used:,.2f} of {guarded.used_date.date()} and not "
            f"traded this week (accept it with --accept-price {ticker})",
            {"ticker": str(ticker), "date": str(guarded.date.date()), "price": guarded.price,
             "used": guarded.used, "used_date": str(guarded.used_date.date()), "rule": guarded.rule},
            level="warning"))
    return frozen


def _penalty_notes(clean: pd.DataFrame, config: Config, target: Any, holdings: Any, current: pd.Series, *,
                   positions: int, optimizer: str, limits: Any) -> list[Note]:
    """How far the turnover penalty moved the target: the same week solved without it."""
    from .rebalance import drift
    from .target import build_target

    rules = config.rebalance
    free = build_target(clean, config, positions=positions, optimizer=optimizer, scores=target.scores,
                        held=holdings.shares.index[holdings.shares > 0], current_weights=None, limits=limits)
    if free.selected != target.selected:
        return []
    moved = 0.5 * drift(free.weights, target.weights)
    if moved <= 1e-4:
        return []
    with_pen, without = drift(target.weights, current), drift(free.weights, current)
    return [Note(
        "turnover_penalty",
        f"penalty moved the target {moved:.1%} toward current holdings (drift "
        f"{with_pen:.1%} instead of {without:.1%}, k = {rules.penalty:.4g})",
        {"moved": moved, "drift": with_pen, "drift_without": without, "k": rules.penalty})]


def _hold_back_if_costly(plan: Any, holdings: Any, rules: Any, notes: list[Note]) -> Any:
    """The plan, or its trades held back when their estimated costs exceed ``max_cost_fraction``
    of the portfolio. Never when forced (a forced or negative-cash week trades), and never the first
    investment of a portfolio that holds nothing: a cap meant against costly churn must not keep
    the money in cash for good."""
    cap = rules.max_cost_fraction * plan.total_value
    invested = bool((holdings.shares.to_numpy() > 0).any())
    if not (plan.rebalance and not plan.forced and invested and rules.max_cost_fraction > 0
            and plan.total_cost > cap):
        return plan
    cost = plan.total_cost
    notes.append(Note(
        "cost_cap",
        f"{HELD_BACK}: its estimated costs {cost:,.2f} ({cost / plan.total_value * 1e4:,.1f} bps "
        f"of the portfolio) exceed max_cost_fraction {rules.max_cost_fraction:.2%} ({cap:,.2f}); nothing "
        "trades this week (force it with --force-rebalance, or raise max_cost_fraction)",
        {"cost": cost, "cap": cap, "max_cost_fraction": rules.max_cost_fraction,
         "trades": len(plan.trade_rows)}, level="warning"))
    return plan.hold_back(holdings.shares)


def _negative_cash_note(holdings: Any) -> Note:
    """Cash below zero after the executed trades, with the likely cause."""
    cause = "more was bought than the cash and sells recorded can pay for"
    open_trades = pd.concat([holdings.pending, holdings.superseded]) if len(holdings.superseded) else holdings.pending
    sells = open_trades.loc[open_trades["action"] == "SELL"] if len(open_trades) else open_trades
    if len(sells):
        value = float((sells["shares"] * sells["price"]).sum())
        cause = (f"buys were marked executed but {len(sells)} sell(s) worth {value:,.2f} were not "
                 f"({', '.join(sorted(set(map(str, sells['ticker']))))})")
    return Note("negative_cash",
                f"cash is {holdings.cash:,.2f} after the executed trades: {cause}; mark the sells you made "
                "as executed, or this week's trades (sells first) bring cash back to zero or above",
                {"cash": float(holdings.cash), "unexecuted_sells": int(len(sells))}, level="warning")


#: the one column of equal weight's scores (an Index built once: a list is parsed every call)
_COMPOSITE = pd.Index(["composite"])


#: the last (column labels, target) equal_weight_target built: a backtest's kept tickers, and so
#: their column labels (one Index object, immutable), stay the same for weeks on end. One tuple,
#: read and replaced whole.
_LAST_EQUAL: tuple = (None, None)


def equal_weight_target(clean: pd.DataFrame):
    """1/N of every ticker the quality step kept, as a :class:`etftrader.target.Target`.

    The target of the same column labels (the same Index object) is the one built last time:
    read it, do not change it."""
    global _LAST_EQUAL
    columns, target = _LAST_EQUAL
    if columns is clean.columns:
        return target
    target = _equal_weight_target(clean)
    _LAST_EQUAL = (clean.columns, target)
    return target


def _equal_weight_target(clean: pd.DataFrame):
    from optimizers import PortfolioResult

    from .target import Target

    from .labels import ticker_index

    kept = list(map(str, clean.columns.tolist()))
    if not kept:
        raise DataError("no ticker passed the quality check")
    if clean.columns.dtype == object and kept == clean.columns.tolist():
        labels = clean.columns.rename(None)  # the same labels (an Index is immutable), no copy
    else:
        labels = ticker_index(kept, clean.columns)
    weights = pd.Series(1.0 / len(kept), index=labels, dtype=F64, name="weight")
    result = PortfolioResult(weights=weights, expected_return=math.nan, expected_volatility=math.nan,
                             expected_sharpe=math.nan, requested=EQUAL_WEIGHT, method="1/N",
                             fallback_reason=None, notes=())
    # (a copy of the one Index: the frame keeps the object it is given, and a name set on one
    # frame's columns must not reach another's)
    scores = pd.DataFrame(np.full((len(labels), 1), math.nan), index=labels, columns=_COMPOSITE.copy())
    return Target(scores=scores, selected=kept, result=result, notes=())


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value
