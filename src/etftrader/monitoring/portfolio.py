"""The runs and the current portfolio: the run table, the latest run, positions, concentration."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd


from .ledger import _row_dates, _run_ids
from .text import _num


def run_table(ledger: Any) -> pd.DataFrame:
    """One row per effective weekly run, oldest first.

    Of several runs on the same ``as_of`` date only the last (by timestamp) is kept: a re-run
    replaces the week, it does not add one. (Metadata ``superseded_run`` names a run whose
    *pending trades* a later run replaced; that run's valuation still counts as its week.)

    Returns
    -------
    DataFrame
        The Performance rows of the kept runs, indexed by ``as_of`` (DatetimeIndex named
        ``as_of``), with a ``run`` column (the run key used to match the other sheets).
    """
    perf = ledger.performance
    if perf is None or perf.empty:
        return pd.DataFrame(columns=["run", "total_value"], index=pd.DatetimeIndex([], name="as_of"))
    perf = perf.copy()
    perf["run"] = _run_ids(perf).to_numpy()
    perf["_date"] = _row_dates(perf).to_numpy()
    perf["_ts"] = pd.to_datetime(perf["timestamp"], errors="coerce") if "timestamp" in perf else pd.NaT
    perf = perf.dropna(subset=["_date"]).sort_values(["_date", "_ts"], kind="stable")
    perf = perf.drop_duplicates("_date", keep="last")
    perf.index = pd.DatetimeIndex(perf.pop("_date"), name="as_of")
    return perf.drop(columns="_ts")


def latest_run(ledger: Any) -> str | None:
    """The run key of the latest run (None for an empty ledger): :func:`etftrader.holdings.latest_run`,
    the last run written, whose trades are the pending ones."""
    from ..holdings import latest_run as last_written

    return last_written(ledger)[0]


def current_positions(ledger: Any) -> pd.DataFrame:
    """The latest run's Positions rows, by weight descending (index: ticker).

    Returns
    -------
    DataFrame
        Columns as in the Positions sheet (``weight, value, shares, price, factor_score, ...``);
        empty when the ledger holds no positions.
    """
    positions = ledger.positions
    run = latest_run(ledger)
    if positions is None or positions.empty or run is None:
        return pd.DataFrame(columns=["weight", "value", "shares", "price", "factor_score"],
                            index=pd.Index([], name="ticker"))
    rows = positions.loc[_run_ids(positions).to_numpy() == run].copy()
    rows = rows.sort_values(["weight", "ticker"], ascending=[False, True], kind="stable")
    return rows.set_index("ticker")


def allocation_slices(weights: pd.Series, *, top: int = 10, cash: float | None = None) -> pd.Series:
    """Slices for the allocation pie: the ``top`` largest weights, ``Other`` and ``Cash``.

    Parameters
    ----------
    weights : Series
        Portfolio weights by ticker (fractions of total value).
    top : int
        How many positions get their own slice.
    cash : float, optional
        Cash as a fraction of total value; default ``1 - sum(weights)`` when that is positive.

    Returns
    -------
    Series
        Non-negative fractions summing to the total (1 for a fully described portfolio).
    """
    w = weights.astype(float).clip(lower=0).sort_values(ascending=False)
    slices = w.iloc[:top].copy()
    rest = float(w.iloc[top:].sum())
    if rest > 0:
        slices.loc["Other"] = rest
    if cash is None:
        cash = 1.0 - float(w.sum())
    if cash > 1e-4:
        slices.loc["Cash"] = cash
    return slices


def concentration(weights: Iterable[float]) -> tuple[float, float]:
    """Herfindahl-Hirschman index of the weights and the effective number of positions (1/HHI).

    Weights are normalised to sum to 1 first, so cash does not make a portfolio look diversified.

    >>> concentration([0.5, 0.3, 0.2])
    (0.38, 2.6315789473684212)
    """
    w = np.asarray(list(weights), dtype=float)
    w = w[np.isfinite(w) & (w > 0)]
    if w.size == 0:
        return (float("nan"), float("nan"))
    w = w / w.sum()
    hhi = float(np.round(np.sum(w * w), 12))
    return hhi, 1.0 / hhi


def top_bottom(positions: pd.DataFrame, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` largest and ``n`` smallest positions by weight (tables for the notebook).

    With fewer than ``2 n`` positions each table gets half (the larger half on top), so no
    position is listed twice.
    """
    cols = [c for c in ("weight", "value", "shares", "price", "factor_score") if c in positions]
    ordered = positions[cols].sort_values("weight", ascending=False, kind="stable")
    top = min(n, math.ceil(len(ordered) / 2))
    bottom = min(n, len(ordered) - top)
    return ordered.head(top), ordered.tail(bottom).iloc[::-1] if bottom else ordered.iloc[0:0]


def concentration_table(weights: pd.Series) -> pd.DataFrame:
    """HHI, effective number of positions and positions held, as display text."""
    hhi, eff = concentration(weights)
    return pd.DataFrame({"value": [_num(hhi, ".4f"), _num(eff, ".1f"), str(int((weights > 0).sum()))]},
                        index=pd.Index(["HHI (sum of squared weights)", "Effective number of positions (1/HHI)",
                                        "Positions held"], name="concentration"))


def top_n_exposure(weights: pd.Series, ns: Iterable[int] = (1, 3, 5, 10)) -> pd.Series:
    """Share of the invested portfolio held in the N largest positions, for each N in ``ns``."""
    w = weights.astype(float).clip(lower=0).sort_values(ascending=False)
    total = float(w.sum())
    out = {}
    for n in ns:
        if n <= len(w):
            out[f"Top {n}"] = float(w.iloc[:n].sum()) / total if total > 0 else float("nan")
    return pd.Series(out, name="exposure", dtype=float)


