"""Selection: the top N tickers by composite score, the step before weighting."""

from __future__ import annotations

import logging
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd
from .base import F64

__all__ = ["select_top", "select_with_buffer", "meet_group_limits", "Kept", "Swap"]

logger = logging.getLogger(__name__)


def select_top(scores: pd.Series, n: int) -> list[str]:
    """The ``n`` best-scoring tickers, best first.

    Tickers with a NaN (or infinite) score are skipped. Equal scores are ordered by ticker so the
    selection never depends on the input order. When fewer than ``n`` tickers have a score, all of
    them are returned; the caller reports the shortfall (``len(result) < n``).

    Parameters
    ----------
    scores : Series of shape (n_tickers,)
        Composite score by ticker, higher is better.
    n : int
        Number of positions wanted (>= 1).

    Returns
    -------
    list of str
        At most ``n`` tickers.

    Examples
    --------
    >>> import pandas as pd
    >>> select_top(pd.Series({"B": 1.0, "A": 1.0, "C": 2.0, "D": float("nan")}), 3)
    ['C', 'A', 'B']
    """
    if not isinstance(scores, pd.Series):
        raise TypeError(f"`scores` must be a pandas Series by ticker, got {type(scores).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`n` (number of positions) must be an integer >= 1, got {n!r}")
    values = (scores if scores.dtype == F64 else pd.to_numeric(scores, errors="coerce")).to_numpy(dtype=F64)
    usable = np.flatnonzero(np.isfinite(values))
    keys = -values[usable]
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    if (ranked[1:] == ranked[:-1]).any():  # a tie: by ticker among the tied (the order of the rest stands)
        tickers = np.array([str(t) for t in scores.index], dtype=object)[usable]
        order = np.lexsort((tickers, keys))
    labels = scores.index
    chosen = [str(labels[i]) for i in usable[order[: int(n)]].tolist()]
    if len(chosen) < n:
        logger.warning("asked for %d positions, only %d tickers have a score", n, len(chosen))
    return chosen


class Kept(NamedTuple):
    """A held ticker the buffer kept although it is outside the top ``n``: its rank and the limit."""

    ticker: str
    rank: int
    limit: int


def select_with_buffer(scores: pd.Series, n: int, held: Iterable[str], buffer: int) -> tuple[list[str], list[Kept]]:
    """The top ``n`` with a buy/hold spread: held tickers stay while ranked within ``n + buffer``.

    A held ticker whose rank (1 = best, in :func:`select_top`'s order) is at most ``n + buffer``
    stays selected; the places left are filled from the top ``n`` in rank order, so a new ticker
    enters only from the top ``n`` (Novy-Marx and Velikov 2016, "A Taxonomy of Anomalies and
    Their Trading Costs", buy/hold spreads). With ``buffer = 0`` this is :func:`select_top`.

    Parameters
    ----------
    scores : Series of shape (n_tickers,)
        Composite score by ticker, higher is better.
    n : int
        Number of positions wanted (>= 1).
    held : iterable of str
        Tickers held now.
    buffer : int
        Extra ranks a held ticker may fall before it is dropped (>= 0).

    Returns
    -------
    selected : list of str
        At most ``n`` tickers, in rank order.
    kept : list of Kept
        The held tickers selected only thanks to the buffer (rank > n).

    Examples
    --------
    >>> s = pd.Series({"A": 5.0, "B": 4.0, "C": 3.0, "D": 2.0})
    >>> select_with_buffer(s, 2, held=["C"], buffer=1)
    (['A', 'C'], [Kept(ticker='C', rank=3, limit=3)])
    """
    if isinstance(buffer, bool) or not isinstance(buffer, (int, np.integer)) or buffer < 0:
        raise ValueError(f"`buffer` must be an integer >= 0, got {buffer!r}")
    ranked = select_top(scores, int(n) + int(buffer))
    if buffer == 0:
        return ranked[: int(n)], []
    held_set = {str(t) for t in held}
    limit = int(n) + int(buffer)
    keep = [t for t in ranked if t in held_set][: int(n)]
    chosen = set(keep)
    for t in ranked[: int(n)]:
        if len(chosen) >= n:
            break
        chosen.add(t)
    selected = [t for t in ranked if t in chosen]
    kept = [Kept(t, ranked.index(t) + 1, limit) for t in selected if ranked.index(t) >= n]
    return selected, kept


class Swap(NamedTuple):
    """A ticker selected in place of another so that a group limit can be met."""

    added: str
    removed: str
    group: str


def meet_group_limits(selected: list[str], scores: pd.Series, limits: Iterable, lower: float,
                      upper: float) -> tuple[list[str], list[Swap]]:
    """The selection changed as little as possible so that the group limits can be met.

    A group with a minimum needs at least ``ceil(min / upper)`` selected members; a group with a
    maximum at most ``floor(max / lower)``. While a group has too few, its best-scored unselected
    member replaces the worst-scored selected ticker that no limit needs; while it has too many, its
    worst-scored member gives way to the best-scored ticker outside it. When no swap can help the
    selection is returned as it is, and :func:`optimizers.limits.check_feasible` names the group.

    Parameters
    ----------
    selected : list of str
        The selection (from :func:`select_with_buffer`).
    scores : Series
        Composite scores by ticker (NaN: not selectable).
    limits : iterable of GroupLimit
    lower, upper : float
        The per-position bounds the optimizer will use.
    """
    import math

    limits = list(limits)
    chosen = list(selected)
    if not limits:
        return chosen, []
    ranked = select_top(scores, int(scores.notna().sum()))
    position = {t: i for i, t in enumerate(ranked)}
    need = [math.ceil(g.low / upper - 1e-9) if g.low > 0 else 0 for g in limits]
    allow = [math.floor(g.high / lower + 1e-9) if lower > 0 and g.high < 1 else len(ranked) for g in limits]
    swaps: list[Swap] = []

    def count(i: int) -> int:
        return sum(1 for t in chosen if t in limits[i].members)

    def removable(ticker: str) -> bool:
        """Dropping ``ticker`` leaves every minimum still reachable."""
        return all(ticker not in g.members or count(i) > need[i] for i, g in enumerate(limits))

    for _ in range(len(ranked)):
        changed = False
        for i, g in enumerate(limits):
            if count(i) < need[i]:
                add = next((t for t in ranked if t in g.members and t not in chosen), None)
                out = next((t for t in sorted(chosen, key=lambda t: -position.get(t, -1))
                            if t not in g.members and removable(t)), None)
            elif count(i) > allow[i]:
                out = next((t for t in sorted(chosen, key=lambda t: -position.get(t, -1)) if t in g.members), None)
                add = next((t for t in ranked if t not in g.members and t not in chosen
                            and all(t not in h.members or count(j) < allow[j] for j, h in enumerate(limits))), None)
            else:
                continue
            if add is None or out is None:
                continue
            chosen[chosen.index(out)] = add
            swaps.append(Swap(add, out, g.describe()))
            changed = True
        if not changed:
            break
    order = {t: i for i, t in enumerate(ranked)}
    return sorted(chosen, key=lambda t: order.get(t, len(order))), swaps
