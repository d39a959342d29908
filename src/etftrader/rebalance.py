"""Drift and whole-share trades: from target weights and real holdings to a trade list.

Pure functions, data in and data out, shared by ``etftrader weekly`` and the backtest. Drift is the
sum of absolute differences between target and current weights over the *union* of held and target
tickers (a ticker leaving the target counts); current weights are holdings at today's prices over
the total value (holdings + cash), so an all-cash portfolio has drift 1.0.

When rebalancing, target shares are sized from scratch for the total value minus a cost reserve
(:func:`optimizers.allocate_shares`, PyPortfolioOpt's ``DiscreteAllocation``) and diffed against the
holdings. The rules the trade list keeps:

- sells come before buys; a sell never takes more than is held (no negative holding);
- trades worth less than ``min_trade_value`` are skipped and reported;
- buys never spend more than the cash there is (cash + sell proceeds - costs): when they would,
  every buy is scaled back by the same factor and rounded down to whole shares (the trade list
  keeps the target's proportions; rounding down can only leave cash over). A buy scaled below
  ``min_trade_value`` is then skipped;
- ``est_cost = cost_bps x value / 1e4 + cost_per_share x shares``; what cash is left is reported;
- the no-trade band (``RebalanceConfig.band``, relative to the target weight): a position both
  held and in the target whose weight is within ``band x target weight`` of it keeps its shares; the rest of the target is
  sized for what is left. Exits and new positions are always traded.

Why one module of this size: the drift rule, the whole-share sizing, the cash check and the
no-trade band are one decision (:func:`plan_rebalance`) and its trade list (:func:`plan_trades`);
split, each half would be read only with the other open.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from .errors import DataError
from .labels import F64, ticker_index

if TYPE_CHECKING:
    from .config import Config, RebalanceConfig

__all__ = [
    "RebalancePlan",
    "TRADE_COLUMNS",
    "SKIPPED_COLUMNS",
    "current_weights",
    "drift",
    "estimate_cost",
    "plan_trades",
    "plan_rebalance",
    "rows_frame",
]

_log = logging.getLogger(__name__)

TRADE_COLUMNS = ["ticker", "action", "shares", "price", "value", "est_cost"]
SKIPPED_COLUMNS = ["ticker", "action", "shares", "price", "value", "reason"]
BANDED_COLUMNS = ["ticker", "current_weight", "target_weight", "value"]
_EPS = 1e-9


@dataclass(frozen=True)
class RebalancePlan:
    """The week's rebalance decision and trade list.

    Attributes
    ----------
    drift : float
        Sum of |target weight - current weight| over held and target tickers.
    drift_outside_band : float
        ``drift`` less the deviations of held target positions inside the no-trade band: what is
        compared with the threshold (equal to ``drift`` without a band).
    threshold : float
        Drift threshold in force.
    rebalance : bool
        True when drift > threshold or forced.
    forced : bool
        True when the rebalance was forced (it may also have been needed).
    trades : pd.DataFrame
        ``ticker, action, shares, price, value, est_cost``; SELLs first, then BUYs, each by ticker
        (built from ``trade_rows`` when first read).
    target_shares : pd.Series
        Whole shares of the target sized for ``investable`` (empty when not rebalancing).
    shares_after : pd.Series
        Holdings once every proposed trade is executed (the current holdings without a rebalance).
    cash_before : float
        Cash before the trades.
    cash_after : float
        Cash once every proposed trade is executed, after estimated costs.
    total_value : float
        Holdings at today's prices plus cash.
    investable : float
        Value the target shares were sized for (total value minus the cost reserve).
    current_weights : pd.Series
        Weights of the holdings today over ``total_value``.
    skipped : pd.DataFrame
        ``ticker, action, shares, price, value, reason`` of trades not proposed.
    banded : pd.DataFrame
        ``ticker, current_weight, target_weight, value`` of the positions the no-trade band left
        as they are (``value``: what trading them to target would have moved).
    trade_rows, skipped_rows : tuple of dict
        The rows of ``trades`` and ``skipped``, one dict per row with their columns as keys. The
        frames are built from them when first read: the backtest reads the rows, and a small
        frame costs more to build than the rest of a book's week.
    banded_parts : tuple
        ``(tickers, current weights, target weights, total value)`` of ``banded``, or empty.
    costs : etftrader.costs.CostModel or None
        The cost model the trades were costed with (the backtest fills them with it too).
    held_back : float or None
        The estimated cost of the rebalance this plan held back as too costly
        (:meth:`hold_back`); None when nothing was held back.
    """

    drift: float
    drift_outside_band: float
    threshold: float
    rebalance: bool
    forced: bool
    target_shares: pd.Series
    shares_after: pd.Series
    cash_before: float
    cash_after: float
    total_value: float
    investable: float
    current_weights: pd.Series
    trade_rows: tuple = ()
    skipped_rows: tuple = ()
    banded_parts: tuple = ()
    costs: Any = None
    held_back: float | None = None

    @functools.cached_property
    def trades(self) -> pd.DataFrame:
        return rows_frame(list(self.trade_rows), TRADE_COLUMNS)

    @functools.cached_property
    def skipped(self) -> pd.DataFrame:
        return rows_frame(list(self.skipped_rows), SKIPPED_COLUMNS)

    @functools.cached_property
    def banded(self) -> pd.DataFrame:
        return _banded_frame(*self.banded_parts) if self.banded_parts else _empty(BANDED_COLUMNS)

    def hold_back(self, holdings_shares: pd.Series) -> "RebalancePlan":
        """This plan with its trades held back: nothing trades, the holdings stay as they are, and
        ``held_back`` keeps what the trades would have cost."""
        return dataclasses.replace(
            self, rebalance=False, trade_rows=(), target_shares=pd.Series(dtype=F64, name="shares"),
            shares_after=holdings_shares.copy(), cash_after=self.cash_before, investable=self.total_value,
            skipped_rows=(), banded_parts=(), held_back=self.total_cost)

    @property
    def buys(self) -> int:
        return int((self.trades["action"] == "BUY").sum())

    @property
    def sells(self) -> int:
        return int((self.trades["action"] == "SELL").sum())

    @property
    def total_cost(self) -> float:
        # numpy's sum, as trades["est_cost"].sum() does it (pairwise, not Python's left-to-right)
        return float(np.array([r["est_cost"] for r in self.trade_rows], dtype=F64).sum())


@functools.lru_cache(maxsize=None)
def _empty_template(columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=F64) for c in columns})
    for c in ("ticker", "action", "reason"):
        if c in frame:
            frame[c] = frame[c].astype(object)
    return frame


def _empty(columns: list[str]) -> pd.DataFrame:
    """An empty frame with ``columns`` (text columns object, the rest float).

    A shallow copy of one cached template: building an empty frame afresh is slow in pandas, and
    the backtest asks for one or two per strategy and week. pandas' copy-on-write keeps the
    template as it is whatever a caller does to the copy (tested).
    """
    return _empty_template(tuple(columns)).copy(deep=False)


def rows_frame(rows: list, columns: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """``rows`` (dicts with every key of ``columns``, or tuples in ``columns`` order) as a frame,
    built column by column.

    The same frame ``pd.DataFrame(rows, columns=columns)`` gives (text columns inferred as
    strings, numbers as float64), without pandas' row-by-row path; an empty ``rows`` gives
    :func:`_empty`.
    """
    if not rows:
        return _empty(columns)
    data = {}
    for i, c in enumerate(columns):
        values = [r[c] for r in rows] if isinstance(rows[0], dict) else [r[i] for r in rows]
        data[c] = values if c in ("ticker", "action", "reason") else np.array(values, dtype=F64)
    return pd.DataFrame(data)  # in column order already: columns= would reindex it again


def _by_ticker(series: pd.Series) -> dict:
    """``series`` as a plain ``{ticker: float}`` (the week step reads a few values of it, and a
    label lookup on pandas 3's string index costs far more than a dict's). A ticker twice is an
    error, as pandas' reindex made it."""
    by = dict(zip(series.index.tolist(), series.to_numpy(dtype=F64, na_value=np.nan).tolist()))
    if len(by) != len(series):
        raise ValueError("cannot reindex on an axis with duplicate labels: a ticker appears twice "
                         f"({', '.join(sorted(map(str, series.index[series.index.duplicated()])))})")
    return by


def _at(by: dict, tickers: list, fill: float) -> np.ndarray:
    """The values of ``by`` at ``tickers`` (``fill`` where missing), as float64."""
    return np.array([by.get(t, fill) for t in tickers], dtype=F64)


def _values_at(series: pd.Series, tickers: list) -> np.ndarray | None:
    """``series``' values as float64 when its index is ``tickers`` (unique, in that order): what
    ``_at(_by_ticker(series), tickers, ...)`` gathers, without the dict (a book that holds its
    whole universe looks its 600 prices up so every week). None otherwise."""
    index = series.index
    if len(index) != len(tickers) or not index.is_unique or index.tolist() != tickers:
        return None
    return series.to_numpy(dtype=F64, na_value=np.nan)


def _union(a: list, b: list) -> list:
    """``pd.Index(a).union(pd.Index(b))`` for unique string labels, as a list: ``a`` itself when
    ``b`` is empty or equal to it, ``b`` when ``a`` is empty, else the sorted union. The order is
    pandas' because the sums over it must be its floats to the last bit."""
    if not b or a == b:
        return a
    if not a:
        return b
    return sorted(set(a).union(b))


@dataclass(frozen=True)
class _Alignment:
    """Where a target's tickers and the held ones sit in their union (:func:`_union`'s order),
    and where each target ticker is held (-1: not held). Read-only arrays."""

    union: list
    names_at: np.ndarray
    held_at: np.ndarray
    held_of_name: np.ndarray


#: the last few (target tickers, held tickers, alignment), newest first: a book's lists come back
#: unchanged week after week (equal weight's ~600 change a few times a year), and aligning them
#: by ticker cost more than the rest of its week's plan. A backtest week plans several books in
#: turn, so one entry would be replaced by the next book's every time; a sweep of more books than
#: this rebuilds (the lists are compared, never trusted by identity).
_ALIGNMENTS: tuple = ()  # read and replaced whole (no list changed in place under a thread)
_ALIGNMENTS_KEPT = 8


def _alignment(names: list, held: list) -> _Alignment | None:
    """:class:`_Alignment` of two lists of tickers (``held`` unique); None when a ticker is in
    ``names`` twice (the lookups by ticker have their own rule for that)."""
    global _ALIGNMENTS
    kept = _ALIGNMENTS
    for entry in kept:
        if entry[0] == names and entry[1] == held:
            if entry is not kept[0]:  # the most recently used first, so the oldest is dropped
                _ALIGNMENTS = (entry, *(e for e in kept if e is not entry))
            return entry[2]
    union = _union(names, held)
    at = {t: i for i, t in enumerate(union)}
    if len(at) != len(union) or len(set(names)) != len(names):
        return None
    where_held = {t: i for i, t in enumerate(held)}
    arrays = [np.array([at[t] for t in names], dtype=np.intp), np.array([at[t] for t in held], dtype=np.intp),
              np.array([where_held.get(t, -1) for t in names], dtype=np.intp)]
    for a in arrays:
        a.flags.writeable = False
    placed = _Alignment(union, *arrays)
    _ALIGNMENTS = ((list(names), list(held), placed), *kept)[:_ALIGNMENTS_KEPT]
    return placed


def _placed(size: int, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` at positions ``at`` of ``size`` zeros (what a lookup with 0.0 for missing gathers)."""
    out = np.zeros(size, dtype=F64)
    out[at] = values
    return out


def current_weights(shares: pd.Series, prices: pd.Series, cash: float) -> tuple[pd.Series, float]:
    """Weights of the holdings at ``prices`` over holdings value + cash, and that total value.

    Raises
    ------
    DataError
        A held ticker has no positive price.
    """
    held = shares.index.tolist()
    px = _values_at(prices, held)
    out, total = _current(held, shares.to_numpy(dtype=F64), _by_ticker(prices) if px is None else px, cash)
    name = shares.name if shares.name == prices.name else None  # what Series arithmetic names it
    return pd.Series(out, index=shares.index, name=name), total


def _current(held: list, n: np.ndarray, px_by: dict | np.ndarray, cash: float) -> tuple[np.ndarray, float]:
    """:func:`current_weights` on plain values: the weights in ``held`` order and the total
    (``px_by``: the prices by ticker, or already in ``held`` order)."""
    px = px_by if isinstance(px_by, np.ndarray) else _at(px_by, held, math.nan)
    bad = [] if (px > 0).all() else [t for t, p in zip(held, px.tolist()) if not p > 0]
    if bad:
        raise DataError(
            f"no price for held ticker(s) {', '.join(map(str, bad))} on the as-of date; "
            "check the price source or the ledger's tickers"
        )
    values = n * px  # the products and the sum Series arithmetic does, on the aligned values
    total = float(values.sum()) + float(cash)
    return (values * 0.0 if total <= 0 else values / total), total


def drift(target: pd.Series, current: pd.Series) -> float:
    """Sum of |target - current| over the union of tickers (missing = weight 0).

    >>> round(drift(pd.Series({"A": .07, "B": .03, "C": .06}), pd.Series({"A": .05, "B": .05, "C": .05})), 6)
    0.05
    """
    return _drift(target.index.tolist(), _by_ticker(target), current.index.tolist(), _by_ticker(current))


def _drift(t_names: list, t_by: dict, c_names: list, c_by: dict) -> float:
    union = _union(t_names, c_names)
    return float(np.abs(_at(t_by, union, 0.0) - _at(c_by, union, 0.0)).sum())


def estimate_cost(value: Any, shares: Any, *, cost_bps: float, cost_per_share: float) -> Any:
    """``cost_bps x value / 1e4 + cost_per_share x shares`` (scalars or arrays)."""
    return cost_bps * value / 1e4 + cost_per_share * shares


def plan_trades(target_shares: pd.Series, shares: pd.Series, prices: pd.Series, cash: float, *,
                min_trade_value: float, cost_bps: float, cost_per_share: float, costs: Any = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, float]:
    """Trades that move ``shares`` to ``target_shares`` within the cash there is.

    Parameters
    ----------
    target_shares, shares : pd.Series
        Ticker -> shares wanted / held (a ticker missing from ``target_shares`` is sold out).
    prices : pd.Series
        Ticker -> price for every ticker of either series.
    cash : float
        Cash before trading.
    min_trade_value, cost_bps, cost_per_share : float
        See :class:`etftrader.config.RebalanceConfig`.
    costs : etftrader.costs.CostModel, optional
        The week's full cost model (commission with a minimum, half spread, market impact) and its
        liquidity cap: a trade above the cap is cut to it and the rest reported in ``skipped``.
        None: ``cost_bps`` and ``cost_per_share`` only.

    Returns
    -------
    trades : pd.DataFrame
        ``ticker, action, shares, price, value, est_cost``, SELLs first, then BUYs.
    skipped : pd.DataFrame
        ``ticker, action, shares, price, value, reason``.
    shares_after : pd.Series
        Holdings once the trades are executed (tickers with shares > 0).
    cash_after : float
        Cash once the trades are executed, after estimated costs (never below zero unless
        ``cash`` already was).
    """
    rows, skipped, shares_after, cash_after = _plan_trades(
        target_shares, shares, prices, cash, min_trade_value=min_trade_value, cost_bps=cost_bps,
        cost_per_share=cost_per_share, costs=costs)
    return rows_frame(list(rows), TRADE_COLUMNS), rows_frame(list(skipped), SKIPPED_COLUMNS), shares_after, cash_after


def _plan_trades(target_shares: pd.Series, shares: pd.Series, prices: pd.Series | dict, cash: float, *,
                 min_trade_value: float, cost_bps: float, cost_per_share: float, costs: Any = None
                 ) -> tuple[tuple, tuple, pd.Series, float]:
    """:func:`plan_trades` with the trades and the skipped trades as rows (dicts by column)."""
    # Plain floats by ticker: the same IEEE arithmetic as the Series would do, without pandas'
    # per-element indexing (this runs once per strategy and week in the backtest).
    tickers = _union(target_shares.index.tolist(), shares.index.tolist())
    held_by, want_by = _by_ticker(shares), _by_ticker(target_shares)
    px_by = prices if isinstance(prices, dict) else _by_ticker(prices)
    held = {t: held_by.get(t, 0.0) for t in tickers}
    px = {t: px_by.get(t, math.nan) for t in tickers}
    delta = {t: want_by.get(t, 0.0) - held[t] for t in tickers}

    def cost(ticker, value, n):
        if costs is not None:
            return costs(ticker, value, n)
        return estimate_cost(value, n, cost_bps=cost_bps, cost_per_share=cost_per_share)

    skipped: list[dict] = []

    def capped(ticker: str, action: str, n: float) -> float:
        """``n`` cut to the liquidity cap, the rest reported (it waits for next week)."""
        most = costs.cap(ticker) if costs is not None else None
        if most is None or n <= most:
            return n
        skipped.append({"ticker": ticker, "action": action, "shares": n - most, "price": px[ticker],
                        "value": (n - most) * px[ticker],
                        "reason": f"liquidity cap: at most {costs.max_adv_fraction:.0%} of the 20-day average "
                                  f"daily volume ({costs.adv[ticker]:,.0f} shares) trades in a week"})
        return most

    sells = []
    for ticker in (t for t in tickers if delta[t] < -_EPS):
        # Never sell more than is held: the target is never negative, so -delta <= held.
        n = capped(ticker, "SELL", min(-delta[ticker], held[ticker]))
        value = n * px[ticker]
        row = {"ticker": ticker, "action": "SELL", "shares": n, "price": px[ticker], "value": value}
        if value < min_trade_value or n <= 0:
            skipped.append({**row, "reason": f"below min_trade_value {min_trade_value:,.2f}"})
        else:
            sells.append({**row, "est_cost": cost(ticker, value, n)})

    buys = []
    for ticker in (t for t in tickers if delta[t] > _EPS):
        n = capped(ticker, "BUY", float(math.floor(delta[ticker] + _EPS)))
        value = n * px[ticker]
        row = {"ticker": ticker, "action": "BUY", "shares": n, "price": px[ticker], "value": value}
        if n < 1 or value < min_trade_value:
            skipped.append({**row, "reason": f"below min_trade_value {min_trade_value:,.2f}"})
        else:
            buys.append({**row, "est_cost": cost(ticker, value, n)})

    available = cash + sum(r["value"] - r["est_cost"] for r in sells)
    needed = sum(r["value"] + r["est_cost"] for r in buys)
    if buys and needed > available + _EPS:
        factor = max(available, 0.0) / needed
        if costs is not None:
            # A per-trade minimum and impact make cost non-linear in shares: shrink the factor
            # until the scaled buys and their costs fit the cash.
            for _ in range(50):
                total = sum(float(math.floor(r["shares"] * factor)) * r["price"]
                            + cost(r["ticker"], float(math.floor(r["shares"] * factor)) * r["price"],
                                   float(math.floor(r["shares"] * factor))) for r in buys)
                if total <= max(available, 0.0) + _EPS:
                    break
                factor *= max(available, 0.0) / total if total > 0 else 0.0
                factor = min(factor, 1.0) * (1 - 1e-9)
        scaled = []
        for r in buys:
            # Cost is linear in shares (or the factor was shrunk until it fits), so rounding each
            # scaled buy down keeps the total within cash.
            n = float(math.floor(r["shares"] * factor))
            value = n * r["price"]
            reason = (f"scaled back from {r['shares']:g} shares: buys needed {needed:,.2f} "
                      f"but {available:,.2f} cash is available")
            if n < 1 or value < min_trade_value:
                skipped.append({**{k: r[k] for k in ("ticker", "action", "shares", "price", "value")},
                                "reason": reason + " (too small after scaling)"})
                continue
            if n < r["shares"]:
                skipped.append({"ticker": r["ticker"], "action": "BUY", "shares": r["shares"] - n,
                                "price": r["price"], "value": (r["shares"] - n) * r["price"],
                                "reason": reason})
            scaled.append({**r, "shares": n, "value": value, "est_cost": cost(r["ticker"], value, n)})
        buys = scaled

    after = dict(held)
    for r in sells:
        after[r["ticker"]] -= r["shares"]
    for r in buys:
        after[r["ticker"]] += r["shares"]
    after_values = np.array([after[t] for t in tickers], dtype=F64)
    keep = after_values > _EPS
    like = shares.index if len(shares) else target_shares.index
    # named as pandas names a union: the common name, else none
    common = shares.index.name if shares.index.name == target_shares.index.name else None
    shares_after = pd.Series(after_values[keep], index=ticker_index([t for t, k in zip(tickers, keep.tolist()) if k],
                                                                    like, name=common), name="shares")
    if not shares_after.index.is_monotonic_increasing:
        shares_after = shares_after.sort_index()
    # numpy's sum, as trades["est_cost"].sum() does it (pairwise, not Python's left-to-right).
    paid = np.array([r["est_cost"] for r in sells + buys], dtype=F64).sum()
    cash_after = (cash + sum(r["value"] for r in sells) - sum(r["value"] for r in buys) - float(paid))
    return tuple(sells + buys), tuple(skipped), shares_after, float(cash_after)


def _default_allocator() -> Callable[[pd.Series, pd.Series, float], pd.Series]:
    from optimizers import allocate_shares

    return allocate_shares


def plan_rebalance(target_weights: pd.Series, holdings: Any, prices_today: pd.Series,
                   rules: RebalanceConfig | Config, *,
                   optimizer: str, force: bool = False, frozen: Any = (),
                   allocator: Callable[[pd.Series, pd.Series, float], pd.Series] | None = None,
                   costs: Any = None, current: tuple[pd.Series, float] | None = None,
                   costs_if_trading: Callable[[], Any] | None = None) -> RebalancePlan:
    """Drift check and, when rebalancing, the whole-share trade list.

    Parameters
    ----------
    target_weights : pd.Series
        Ticker -> target weight (>= 0, sum 1).
    holdings : etftrader.holdings.Holdings
        Executed holdings (``shares``) and ``cash``.
    prices_today : pd.Series
        Ticker -> price on the as-of date, for every held and target ticker.
    rules : etftrader.config.RebalanceConfig
        Thresholds, force, min trade value, costs, the no-trade band (a whole ``Config`` is taken
        for its ``rebalance`` section).
    optimizer : str
        Picks the drift threshold (unless ``rules.drift_override`` is set).
    force : bool
        Rebalance whatever the drift (``rules.force`` also forces).
    frozen : iterable of str
        Held tickers not to trade this week (a guarded price): they keep their shares and the
        rest of the target is sized for what is left.
    allocator : callable, optional
        ``(weights, prices, total_value) -> whole shares``; default
        :func:`optimizers.allocate_shares`.
    costs : etftrader.costs.CostModel, optional
        The week's cost model and liquidity cap (:func:`etftrader.costs.cost_model`); None: the
        flat ``cost_bps`` and ``cost_per_share``.
    current : (Series, float), optional
        ``current_weights(holdings.shares, prices_today, holdings.cash)`` when the caller has it
        (the week step does): the same weights and total, not computed again.
    costs_if_trading : callable, optional
        Instead of ``costs``: a function returning the week's cost model, called only when the
        week rebalances (the week step's: the model's ADV and volatility cost more than the rest
        of a week that does not trade, and no cost is read then).

    Returns
    -------
    RebalancePlan
    """
    rules = getattr(rules, "rebalance", rules)
    # Plain lists and floats by ticker throughout, in the orders pandas' own set operations give
    # (the sums below are its floats to the last bit): the backtest plans every book every week.
    held = holdings.shares.index.tolist()
    held_n = holdings.shares.to_numpy(dtype=F64)
    held_set = set(held)
    if len(held_set) != len(held):
        _by_ticker(holdings.shares)  # says which ticker appears twice
    frozen = [t for t in dict.fromkeys(map(str, frozen)) if t in held_set]
    tw = target_weights.to_numpy(dtype=F64, na_value=np.nan)
    positive = tw > 0  # NaN is not positive
    names = target_weights.index.tolist()
    if not positive.all():
        names = [t for t, k in zip(names, positive.tolist()) if k]
    w = tw[positive]
    if frozen:  # a frozen ticker is held as it is; the target is spread over the others
        gone = set(frozen)
        kept = [i for i, t in enumerate(names) if t not in gone]
        names, w = [names[i] for i in kept], w[kept]
        w = w / w.sum() if w.sum() > 0 else w
    # as float64 (to_numpy converts as astype would); by ticker only when the prices are not the
    # target's tickers in order, or the week trades
    px_names = _values_at(prices_today, names)
    px_by = _by_ticker(prices_today) if px_names is None else None
    if not ((_at(px_by, names, math.nan) if px_names is None else px_names) > 0).all():
        px_by = _by_ticker(prices_today) if px_by is None else px_by
        missing = sorted(t for t in names if not px_by.get(t, math.nan) > 0)
        raise DataError(f"no price on the as-of date for target ticker(s) {', '.join(missing)}")
    if current is None:
        px_by = _by_ticker(prices_today) if px_by is None else px_by
        cur_v, total = _current(held, held_n, px_by, holdings.cash)
        cur_name = holdings.shares.name if holdings.shares.name == prices_today.name else None
        cur = pd.Series(cur_v, index=holdings.shares.index, name=cur_name)
    else:
        cur, total = current
        cur_v = cur.to_numpy(dtype=F64)
    # The target's tickers are the held ones, in the same order (equal weight most weeks): the
    # aligned arrays are the values the lookups by ticker would gather, so the same floats (and
    # the lookups are built only when the week trades).
    aligned = (w, np.asarray(cur_v, dtype=F64), held_n) if names == held else None
    # Otherwise the two lists' union and where each list sits in it (the same lists come back week
    # after week): the arrays the lookups by ticker would gather, placed by position.
    placed = None if aligned is not None else _alignment(names, held)
    w_by = cur_by = None
    if aligned is not None:
        d = float(np.abs(aligned[0] - aligned[1]).sum())
    elif placed is not None:
        d = float(np.abs(_placed(len(placed.union), placed.names_at, w)
                         - _placed(len(placed.union), placed.held_at, np.asarray(cur_v, dtype=F64))).sum())
    else:  # a ticker twice in the target: the lookups' own rule (its last weight)
        w_by = dict(zip(names, w.tolist()))
        cur_by = dict(zip(held, cur_v.tolist()))
        d = _drift(names, w_by, held, cur_by)
    # With a no-trade band, what the band would leave untraded cannot be a reason to trade: the
    # drift compared with the threshold leaves out the deviations of held target positions inside it.
    # Negative cash is money owed: no position is "close enough" until it is repaid.
    band = float(rules.band) if holdings.cash >= 0 else 0.0
    banded, banded_cur, banded_w = _band(names, w_by, cur_by, held, held_n, band, aligned,
                                         placed=placed, weights=w, current=cur_v)
    tolerated = float(np.abs(banded_cur - banded_w).sum()) if banded else 0.0
    decisive = max(d - tolerated, 0.0)
    threshold = float(rules.threshold_for(optimizer))
    forced = bool(force or rules.force)
    # Strictly above, with a hair of tolerance so 0.05000000000000001 does not trip a 5% threshold.
    rebalance = forced or decisive > threshold + 1e-12
    if not rebalance or total <= 0:
        return RebalancePlan(
            drift=d, drift_outside_band=decisive, threshold=threshold,
            rebalance=bool(rebalance and total > 0), forced=forced,
            target_shares=pd.Series(dtype=F64, name="shares"),
            shares_after=holdings.shares.copy(), cash_before=float(holdings.cash),
            cash_after=float(holdings.cash), total_value=total, investable=total,
            current_weights=cur,
        )

    if px_by is None:
        px_by = _by_ticker(prices_today)
    if w_by is None:
        w_by = dict(zip(names, w.tolist()))
    if costs_if_trading is not None:
        if costs is not None:
            raise ValueError("give `costs` or `costs_if_trading`, not both")
        costs = costs_if_trading()
    # Reserve what the trades will cost, so the target can be bought with the cash there is: the
    # value traded is about drift x total value, the shares traded about |target - held| shares.
    union = _union(names, held)
    held_by = dict(zip(held, held_n.tolist()))
    prices_u = _at(px_by, union, math.nan)
    want_shares = _at(w_by, union, 0.0) * total / prices_u
    moves = np.abs(want_shares - _at(held_by, union, 0.0))
    if costs is None:
        reserve = float(estimate_cost(d * total, float(moves.sum()), cost_bps=rules.cost_bps,
                                      cost_per_share=rules.cost_per_share))
    else:  # each ticker's change costed as the model would cost it, summed in ticker order
        moving = (moves > _EPS) & (prices_u > 0)
        each = costs.many([str(t) for t, k in zip(union, moving.tolist()) if k], moves[moving] * prices_u[moving],
                          moves[moving])
        reserve = float(sum(each.tolist()))  # Python's sum of the same floats in the same order
    investable = max(total - reserve, 0.0)

    allocate = allocator or _default_allocator()
    # The banded positions are the same: nothing has moved since the drift was measured.
    held_fixed = _union(banded, frozen)
    if held_fixed:
        # Keep the banded positions as they are; size the rest of the target for what is left.
        keep = _at(held_by, held_fixed, math.nan)
        fixed = set(held_fixed)
        rest = [i for i, t in enumerate(names) if t not in fixed]
        budget = max(investable - float((keep * _at(px_by, held_fixed, math.nan)).sum()), 0.0)
        rest_names = [names[i] for i in rest]
        if rest and budget > 0:
            rest_w = w[rest]
            labels = ticker_index(rest_names, target_weights.index)
            sized = allocate(pd.Series(rest_w / rest_w.sum(), index=labels),
                             pd.Series(_at(px_by, rest_names, math.nan), index=labels),
                             budget)
            sized_by = dict(zip(sized.index.tolist(), sized.to_numpy(dtype=F64).tolist()))
        else:
            sized_by = {}
        wanted = list(zip(held_fixed, keep.tolist())) + list(sized_by.items())
    else:
        labels = ticker_index(names, target_weights.index)
        sized = allocate(pd.Series(w, index=labels), pd.Series(_at(px_by, names, math.nan), index=labels),
                         investable)
        wanted = list(zip(sized.index.tolist(), sized.to_numpy(dtype=F64).tolist()))
    wanted = sorted((t, n) for t, n in wanted if n > 0)
    target_shares = pd.Series([n for _, n in wanted], index=ticker_index([t for t, _ in wanted], target_weights.index,
                                                                         name=target_weights.index.name),
                              dtype=F64,
                              name="shares")
    trades, skipped, after, cash_after = _plan_trades(
        target_shares, holdings.shares, px_by, holdings.cash, min_trade_value=rules.min_trade_value,
        cost_bps=rules.cost_bps, cost_per_share=rules.cost_per_share, costs=costs)
    if cash_after < -_EPS and len(after):
        # Whole shares and skipped small trades can leave cash below zero (when the week starts
        # below zero): sell a little more of the largest position, so cash ends at zero or above.
        px = prices_today.astype(F64)
        target_shares = after.copy()
        biggest = (after * px.reindex(after.index)).idxmax()
        price = float(px[biggest])
        net = price * (1 - rules.cost_bps / 1e4) - rules.cost_per_share
        extra = float(math.ceil(-cash_after / net)) if net > 0 else float(after[biggest])
        target_shares[biggest] = max(float(after[biggest]) - extra, 0.0)
        target_shares = target_shares[target_shares > 0]
        trades, skipped, after, cash_after = _plan_trades(
            target_shares, holdings.shares, px_by, holdings.cash, min_trade_value=0.0,
            cost_bps=rules.cost_bps, cost_per_share=rules.cost_per_share, costs=costs)
    return RebalancePlan(
        drift=d, drift_outside_band=decisive, threshold=threshold, rebalance=True, forced=forced,
        target_shares=target_shares, shares_after=after, cash_before=float(holdings.cash),
        cash_after=cash_after, total_value=total, investable=investable, current_weights=cur,
        trade_rows=trades, skipped_rows=skipped, banded_parts=(banded, banded_cur, banded_w, total) if banded else (),
        costs=costs,
    )


def _band(names: list, w_by: dict | None, cur_by: dict | None, held: list, held_n: np.ndarray, band: float,
          aligned: tuple | None = None, *, placed: "_Alignment | None" = None, weights: np.ndarray | None = None,
          current: np.ndarray | None = None) -> tuple[list, np.ndarray, np.ndarray]:
    """The positions held and in the target within ``band`` of their target weight, in target
    order: their tickers, current weights and target weights.

    The band is relative to the target weight (``|current - target| <= band x target``), so it
    means the same for 8 positions of 12.5% as for 20 of 5%. ``aligned``: the target weights,
    current weights and shares as arrays in ``names`` order, when ``names`` is ``held``;
    ``placed``: :func:`_alignment` of ``names`` and ``held``, with the target and current
    weights as arrays in their lists' orders; else the weights by ticker.
    """
    if band <= 0 or not held:
        return [], np.empty(0), np.empty(0)
    if aligned is not None:
        w, cur_v, n = aligned
        owned = n > 0
        both = names if owned.all() else [t for t, k in zip(names, owned.tolist()) if k]
        cur, target = cur_v[owned], w[owned]
    elif placed is not None:
        # the target's tickers held with shares, in target order
        at = placed.held_of_name
        mine = np.flatnonzero(at >= 0)
        mine = mine[held_n[at[mine]] > 0]
        cur, target = np.asarray(current, dtype=F64)[at[mine]], weights[mine]
        close = np.abs(cur - target) <= band * target + 1e-12
        return [names[i] for i in mine[close].tolist()], cur[close], target[close]
    else:
        owned_set = {t for t, n in zip(held, held_n.tolist()) if n > 0}
        both = [t for t in names if t in owned_set]
        cur, target = _at(cur_by, both, math.nan), _at(w_by, both, math.nan)
    close = np.abs(cur - target) <= band * target + 1e-12
    return [both[i] for i in np.flatnonzero(close).tolist()], cur[close], target[close]


def _banded_frame(banded: list, current: np.ndarray, target: np.ndarray, total: float) -> pd.DataFrame:
    if not banded:
        return _empty(BANDED_COLUMNS)
    return pd.DataFrame({"ticker": pd.Index(banded, dtype=object), "current_weight": current,
                         "target_weight": target, "value": np.abs(target - current) * total})
