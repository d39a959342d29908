"""What a trade costs: commission, half the bid-ask spread and market impact; and how much may trade.

Per trade of ``n`` shares worth ``V``:

- **commission**: ``cost_bps x V / 1e4 + cost_per_share x n + commission_per_trade``, at least
  ``commission_min`` (``[rebalance]``; the first two are the flat costs the tool always charged);
- **half the spread**: ``spread_bps / 2 x V / 1e4``, the full quoted spread in basis points from
  ``spread_bps`` by ticker, else by the ticker's ``asset_class`` in the universe file, else ``"*"``;
- **market impact** on the square-root law: ``impact_k x sigma x sqrt(n / ADV) x V``, with ``ADV``
  the 20-day average daily volume in shares and ``sigma`` the daily volatility of the last 60
  closes. The law and its coefficient: Toth et al. (2011), "Anomalous price impact and the critical
  nature of liquidity in financial markets", Physical Review X 1, and Bouchaud, Bonart, Donier and
  Gould (2018), *Trades, Quotes and Prices*, ch. 12, which find the prefactor "of order unity";
  ``impact_k = 1.0`` is that order. It applies only where the source gives volume (yfinance, a
  long price file); the bundled sample has none, so its trades pay no impact.

**Liquidity cap**: no trade above ``max_adv_fraction`` (10%) of the ADV; a larger one is cut to the
cap, reported, and the rest waits for next week's drift. Without volume there is no cap.

The weekly run and the backtest build the same :class:`CostModel` from the same prices (one week
step, :mod:`etftrader.week`), so the backtest charges what the weekly run estimates.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from .labels import F64, I64

__all__ = ["ADV_DAYS", "COST_COLUMNS", "SIGMA_DAYS", "CostModel", "cost_breakdown", "cost_model"]

#: days of volume in the average daily volume, and of returns in the daily volatility
ADV_DAYS = 20
SIGMA_DAYS = 60
#: the parts of a trade's estimated cost, as the Trades sheet and ``--json`` show them
COST_COLUMNS = ["commission", "spread_cost", "impact_cost"]


@dataclass(frozen=True)
class CostModel:
    """The costs of one week's trades (see the module docstring for each term)."""

    cost_bps: float = 0.0
    cost_per_share: float = 0.0
    per_trade: float = 0.0
    minimum: float = 0.0
    half_spread_bps: Mapping[str, float] = field(default_factory=dict)
    impact_k: float = 0.0
    adv: Mapping[str, float] = field(default_factory=dict)
    sigma: Mapping[str, float] = field(default_factory=dict)
    max_adv_fraction: float = 0.0

    def __call__(self, ticker: str, value: float, shares: float) -> float:
        """Estimated cost of trading ``shares`` of ``ticker`` worth ``value`` (0 for no trade)."""
        commission, spread, impact = self.components(ticker, value, shares)
        return float(commission + spread + impact)

    def components(self, ticker: str, value: float, shares: float) -> tuple[float, float, float]:
        """``(commission, half spread, market impact)`` of one trade; their sum is its cost."""
        if shares <= 0 or value <= 0:
            return 0.0, 0.0, 0.0
        commission = self.cost_bps * value / 1e4 + self.cost_per_share * shares + self.per_trade
        commission = max(commission, self.minimum)
        spread = self.half_spread_bps.get(ticker, 0.0) * value / 1e4
        return float(commission), float(spread), self.impact(ticker, value, shares)

    def many(self, tickers: list, values: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """The cost of each of several trades: ``[self(t, v, n) for t, v, n in ...]`` as an array,
        the same floats (the same IEEE operations in the same order, on arrays): the week step
        costs every ticker that moves, some 600 for an equal-weight book, every week."""
        values, shares = np.asarray(values, dtype=F64), np.asarray(shares, dtype=F64)
        trades = ~((shares <= 0) | (values <= 0))  # the call's test: NaN is costed (to NaN), not skipped
        commission = np.maximum(self.cost_bps * values / 1e4 + self.cost_per_share * shares + self.per_trade,
                                self.minimum)
        half = self.half_spread_bps
        spread = (np.array([half.get(t, 0.0) for t in tickers], dtype=F64) if half else np.zeros(len(values))) \
            * values / 1e4
        total = commission + spread
        if self.impact_k > 0 and self.adv and self.sigma:
            adv = np.array([self.adv.get(t, 0.0) for t in tickers], dtype=F64)
            sigma = np.array([self.sigma.get(t, 0.0) for t in tickers], dtype=F64)
            hit = (adv > 0) & (sigma > 0) & (shares > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                impact = self.impact_k * sigma * np.sqrt(shares / adv) * values
            total = total + np.where(hit, impact, 0.0)
        else:
            total = total + 0.0  # what a trade without impact adds
        return np.where(trades, total, 0.0)

    def impact(self, ticker: str, value: float, shares: float) -> float:
        adv, sigma = self.adv.get(ticker, 0.0), self.sigma.get(ticker, 0.0)
        if self.impact_k <= 0 or not (adv > 0 and sigma > 0) or shares <= 0:
            return 0.0
        return float(self.impact_k * sigma * math.sqrt(shares / adv) * value)

    def cap(self, ticker: str) -> float | None:
        """The most shares of ``ticker`` one trade may have (None: no cap known)."""
        adv = self.adv.get(ticker, 0.0)
        if self.max_adv_fraction <= 0 or not adv > 0:
            return None
        return float(math.floor(self.max_adv_fraction * adv))


def cost_model(rules: Any, tickers: Iterable[str], *, close: pd.DataFrame | None = None,
               volume: pd.DataFrame | None = None, asset_class: Mapping[str, str] | None = None,
               memo: dict | None = None) -> CostModel | None:
    """The week's cost model for ``tickers``, or None when it is the flat one (bps and per share
    only: the plan then costs trades exactly as before the model existed).

    Parameters
    ----------
    rules : etftrader.config.RebalanceConfig
    tickers : iterable of str
        Tickers that may trade this week (held and target).
    close, volume : DataFrame, optional
        Daily closes and volumes up to the as-of date (volume: shares a day).
    asset_class : mapping of ticker to asset class, optional
        For ``spread_bps`` given by asset class.
    memo : dict, optional
        Shared by the books of one backtest week (the same ``close`` and ``volume``, unchanged):
        the week's ADV and volatility are computed for the first book and read by the others.
    """
    names = list(dict.fromkeys(map(str, tickers)))
    spreads = dict(rules.spread_bps)
    classes = asset_class or {}
    half: dict[str, float] = {}
    for t in names if spreads else ():  # no spreads (the default): nothing to look up
        full = spreads.get(t, spreads.get(classes.get(t, ""), spreads.get("*", 0.0)))
        if full:
            half[t] = float(full) / 2.0
    adv: dict[str, float] = {}
    sigma: dict[str, float] = {}
    if volume is not None and close is not None and (rules.impact_k > 0 or rules.max_adv_fraction > 0):
        # The figures of the tickers that may trade; a week's books share them (through memo),
        # each book adding the tickers the others did not ask about.
        known_adv, known_sigma = _liquidity(close, volume, memo, names)
        if any(t in known_adv for t in names):
            adv, sigma = known_adv, known_sigma
    plain = not (rules.commission_per_trade or rules.commission_min or half or
                 (adv and (rules.impact_k > 0 or rules.max_adv_fraction > 0)))
    if plain:
        return None
    return CostModel(cost_bps=float(rules.cost_bps), cost_per_share=float(rules.cost_per_share),
                     per_trade=float(rules.commission_per_trade), minimum=float(rules.commission_min),
                     half_spread_bps=half, impact_k=float(rules.impact_k), adv=adv, sigma=sigma,
                     max_adv_fraction=float(rules.max_adv_fraction))


#: the last column labels _liquidity read, with the tickers in both, their positions and where
#: each sits among them (labels only: the same every week of a backtest; one tuple, read and
#: replaced whole)
_last_columns: tuple = (None, None, [], None, None, None, {})


def _liquidity(close: pd.DataFrame, volume: pd.DataFrame, memo: dict | None = None,
               tickers: list | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """ADV and daily volatility of ``tickers`` (default every ticker) with both closes and volumes
    (positive and finite only), from the last rows of ``close`` and ``volume``; kept in ``memo``
    (one backtest week's) for the week's other books, which add the tickers not yet read.

    Each figure is computed column by column (numpy's nanmean and nanstd down each column of the
    gathered rows, laid out column-major), so a ticker's figures are the same floats whichever
    others are asked with it: a book's costs do not depend on what the other books hold.
    """
    global _last_columns
    kept = memo.get("liquidity") if memo is not None else None
    if kept is None or kept[0] is not close or kept[1] is not volume:
        kept = (close, volume, {}, {}, set())
        if memo is not None:
            memo["liquidity"] = kept
    adv, sigma, read = kept[2:]
    columns = _last_columns
    if not (columns[0] is not None and volume.columns.equals(columns[0]) and close.columns.equals(columns[1])):
        # the tickers in both frames and their columns (the same labels every backtest week)
        vat = {t: i for i, t in enumerate(volume.columns.tolist())}  # a dict: get_indexer with a list is slow
        cat = vat if volume.columns.equals(close.columns) else {t: i for i, t in enumerate(close.columns.tolist())}
        both = [t for t in vat if t in cat]
        columns = _last_columns = (volume.columns, close.columns, both, np.array([vat[t] for t in both], dtype=I64),
                                   np.array([cat[t] for t in both], dtype=I64), np.array(both, dtype=object),
                                   {t: i for i, t in enumerate(both)})
    names, vpos, cpos, labels, where = columns[2:]
    wanted = names if tickers is None else [t for t in dict.fromkeys(tickers) if t in where]
    todo = [t for t in wanted if t not in read]
    if todo:
        at = np.array([where[t] for t in todo], dtype=I64)
        # numpy on the last rows of the columns asked for only, column-major
        v = np.asfortranarray(volume.iloc[-ADV_DAYS:].to_numpy(dtype=F64)[:, vpos[at]])
        c = np.asfortranarray(close.iloc[-(SIGMA_DAYS + 1):].to_numpy(dtype=F64)[:, cpos[at]])
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no ADV, no sigma
            mean = np.nanmean(v, axis=0) if len(v) else np.full(len(at), np.nan)
            returns = c[1:] / c[:-1] - 1.0
            std = np.nanstd(returns, axis=0, ddof=1) if len(returns) else np.full(len(at), np.nan)
        asked = labels[at]
        for figures, into in ((mean, adv), (std, sigma)):
            good = np.isfinite(figures) & (figures > 0)
            into.update(zip(asked[good].tolist(), figures[good].tolist()))
        read.update(todo)
    return adv, sigma


def cost_breakdown(trades: pd.DataFrame, costs: CostModel | None) -> pd.DataFrame:
    """:data:`COST_COLUMNS` of each row of a plan's ``trades`` (same index), summing to its
    ``est_cost``. Without a model (the flat costs) the whole cost is commission."""
    if costs is None or trades.empty:
        out = pd.DataFrame(0.0, index=trades.index, columns=COST_COLUMNS)
        if len(trades):
            out["commission"] = trades["est_cost"].to_numpy(dtype=F64)
        return out
    parts = [costs.components(str(t), float(v), float(n))
             for t, v, n in zip(trades["ticker"], trades["value"], trades["shares"])]
    return pd.DataFrame(parts, index=trades.index, columns=COST_COLUMNS, dtype=F64)
