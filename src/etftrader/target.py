"""The week's target: factor scores, the top N with the selection buffer, the optimizer; and the
prices the week is valued at.

:func:`build_target` and :func:`prices_today` are plain functions of the prices up to the as-of
date: the weekly run and every book of the backtest call them through the one week step
(:func:`etftrader.week.decide_week`), so both decide the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError, LimitsError
from .holdings import Holdings
from .labels import F64, ticker_index

if TYPE_CHECKING:
    from .config import Config

__all__ = ["Target", "build_target", "prices_today", "score_prices"]


def _day(x: Any) -> date:
    return pd.Timestamp(x).date()


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


def build_target(prices: pd.DataFrame, config: Config, *, positions: int, optimizer: str,
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
    composite = scores["composite"]  # read once: each column read builds a new Series
    usable = int(np.count_nonzero(~np.isnan(composite.to_numpy(dtype=F64, na_value=np.nan))))
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
    selected, kept = select_with_buffer(composite, n, held, rules.buffer)
    o = config.optimizer
    if limits:
        lower, upper, _ = weight_bounds(len(selected), o.max_weight, o.min_weight)
        selected, swaps = meet_group_limits(selected, composite, limits, lower, upper)
        kept = [k for k in kept if k.ticker in selected]
        for swap in swaps:
            notes.append(Note("group_swap", f"selected {swap.added} in place of {swap.removed} so that "
                              f"{swap.group} can be met",
                              {"added": swap.added, "removed": swap.removed, "group": swap.group}))
    # The optimizer reads only the last cov_lookback + 1 rows: hand it those, not the whole history
    # (not decades of the selected columns copied every week). A bad cov_lookback is left to
    # optimize(), which says what is wrong with it.
    lookback = o.cov_lookback
    rows = slice(-(lookback + 1), None) if isinstance(lookback, int) and lookback >= 2 else slice(None)
    momentum = scores["momentum"] if "momentum" in scores.columns else None
    columns = _positions(prices.columns, selected)
    values = prices.to_numpy()  # a view of the quality step's one float block
    labels = ticker_index(selected, prices.columns, name=prices.columns.name)
    if values.dtype == np.float64:  # the window of the selected columns, from the array
        window = pd.DataFrame(values[rows][:, columns], index=prices.index[rows], columns=labels)
    else:
        window = prices.iloc[rows].iloc[:, columns]
    if composite.index.name != labels.name:
        labels = labels.rename(composite.index.name)
    chosen = pd.Series(composite.to_numpy()[_positions(composite.index, selected)], index=labels, name=composite.name)
    try:
        result = optimize(
            optimizer, window, chosen,
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


def _positions(index: pd.Index, names: list) -> list[int]:
    """The positions of ``names`` in ``index`` (each must be there once; KeyError if not). Object
    labels (the backtest's) one by one through the index's own hash table, which pandas keeps with
    the index (the quality step hands out the same column labels week after week); pandas 3's
    string labels through a dict (a lookup there costs far more)."""
    if index.dtype == object and index.is_unique:
        return [index.get_loc(t) for t in names]
    where = {t: i for i, t in enumerate(index.tolist())}
    return [where[t] for t in names]


def score_prices(prices: pd.DataFrame, config: Config, *, usable: bool = False) -> pd.DataFrame:
    """:func:`factors.score_universe` of ``prices`` with ``config.factors``: what
    :func:`build_target` ranks on (the backtest computes it once per week for all optimizers).
    ``usable``: ``prices`` holds only positive finite closes and NaN (see score_universe)."""
    from factors import score_universe

    f = config.factors
    return score_universe(
        prices, weights=dict(f.weights), momentum_lookback=f.momentum_lookback,
        momentum_skip=f.momentum_skip, quality_lookback=f.quality_lookback,
        value_lookback=f.value_lookback, volatility_lookback=f.volatility_lookback,
        winsor_z=f.winsor_z, usable=usable,
    )


def prices_today(close: pd.DataFrame, clean: pd.DataFrame, holdings: Holdings,
                 warnings: list[str], dropped: pd.DataFrame, *, memo: dict | None = None) -> pd.Series:
    """Price per ticker on the as-of date: cleaned prices, else the raw last price for held tickers.

    ``close`` is the raw price frame up to the as-of date, ``clean`` the quality step's prices,
    ``dropped`` its ``ticker, reason`` frame (or a function returning it, called only when a held
    ticker has no clean price); messages for the user are appended to ``warnings``.
    ``memo``: shared by the books of one backtest week (the same ``clean``, unchanged), which
    then read its last prices once.

    A held ticker the quality step dropped is still held: it is valued at its last raw price (and
    sold when rebalancing, since it is not in the target). One without any market price falls back
    to its last executed trade price, with a warning.
    """
    kept = memo.get("prices_today") if memo is not None else None
    if kept is not None and kept[0] is clean:  # the same week's prices for another book of the backtest
        last_clean, priced, clean_series = kept[1:]
    else:
        last_clean = _last_valid(clean)
        # Plain sets and lists: the backtest asks this of every book every week, and pandas'
        # set operations on a string index cost more than the rest of it.
        labels = last_clean.index.tolist()
        positive = last_clean.to_numpy(dtype=F64) > 0
        priced = set(labels) if positive.all() else {t for t, k in zip(labels, positive.tolist()) if k}
        clean_series = None
    held = holdings.shares.index
    # (a book holding every kept ticker, all priced: nothing to look for, ticker by ticker)
    every = clean_series is not None and held.equals(clean_series.index)
    extra = [] if every else sorted(dict.fromkeys(t for t in held.tolist() if t not in priced))
    if not extra:  # every held ticker has a clean price (most weeks): the same Series as the last book's
        if clean_series is None:
            if last_clean.dtype == F64 and last_clean.index.is_monotonic_increasing and last_clean.index.is_unique:
                # the columns in ticker order already: the priced ones, as _price_series orders them
                clean_series = last_clean[last_clean.to_numpy(dtype=F64) > 0]
            else:
                clean_series = _price_series(_clean_by(last_clean), last_clean)
        if memo is not None:
            memo["prices_today"] = (clean, last_clean, priced, clean_series)
        return clean_series.copy()
    if memo is not None:
        memo["prices_today"] = (clean, last_clean, priced, clean_series)
    by_ticker = _clean_by(last_clean)
    columns = reasons = None
    for ticker in extra:
        if columns is None:
            columns = {t: i for i, t in enumerate(close.columns.tolist())}
            if callable(dropped):  # the backtest's: built only now, for a held ticker set aside
                dropped = dropped()
            reasons = dict(zip(dropped.get("ticker", []), dropped.get("reason", [])))
        raw = close.iloc[:, columns[ticker]].to_numpy(dtype=F64) if ticker in columns else np.empty(0)
        good = np.flatnonzero(np.isfinite(raw) & (raw > 0))
        if len(good):
            by_ticker[ticker] = float(raw[good[-1]])
            why = reasons.get(ticker, "not scored")
            warnings.append(f"held ticker {ticker} is out of the universe this week ({why}); valued at "
                            f"its last price {raw[good[-1]]:,.2f} of {_day(close.index[good[-1]])}")
        elif ticker in holdings.last_price.index:
            by_ticker[ticker] = float(holdings.last_price[ticker])
            warnings.append(f"held ticker {ticker} has no market price in the {len(close.columns)}-ticker "
                            f"source; valued at its last trade price {by_ticker[ticker]:,.2f}")
        else:  # pragma: no cover - holdings always have a trade price
            raise DataError(f"held ticker {ticker} has no price; check the Trades sheet")
    return _price_series(by_ticker, last_clean)


def _clean_by(last_clean: pd.Series) -> dict:
    """``{ticker: price}`` of the clean last prices that are positive (NaN is not)."""
    return {t: v for t, v in zip(last_clean.index.tolist(), last_clean.to_numpy(dtype=F64).tolist()) if v > 0}


def _price_series(by_ticker: dict, last_clean: pd.Series) -> pd.Series:
    names = sorted(by_ticker)
    index = pd.Index(names, dtype=last_clean.index.dtype, name=last_clean.index.name)
    return pd.Series([by_ticker[t] for t in names], index=index, dtype=F64, name=last_clean.name)


def _last_valid(frame: pd.DataFrame) -> pd.Series:
    """``frame.ffill().iloc[-1]`` (each column's last non-NaN value, NaN if none) without
    forward-filling the whole history, which the backtest would do every week. Only columns
    missing on the last row are searched."""
    # A frame of one float64 block (what the quality step gives) is read as a view, not copied.
    values = frame.to_numpy() if len(frame) else None
    if values is None or values.dtype != np.float64:
        return frame.ffill().iloc[-1]
    last = values[-1].copy()
    for col in np.flatnonzero(np.isnan(last)):
        present = np.flatnonzero(~np.isnan(values[:, col]))
        if present.size:
            last[col] = values[present[-1], col]
    return pd.Series(last, index=frame.columns, name=frame.index[-1])
