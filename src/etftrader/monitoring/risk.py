"""Risk: the market regime from VIX (or a labelled stand-in) and suggested stop-loss levels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from factors.names import TRADING_DAYS

from .ledger import _row_dates, _run_ids
from .portfolio import current_positions, run_table
from .performance import PERIODS_PER_YEAR, market_benchmark_column


#: Market regime thresholds on VIX (CBOE's long-run VIX median is near 17-19: below 15 is a
#: quiet market, above 25 is the zone practitioners treat as stressed).
REGIME_CALM_BELOW = 15.0
REGIME_STRESSED_ABOVE = 25.0
REGIME_RULE = (
    f"calm below {REGIME_CALM_BELOW:g}, normal {REGIME_CALM_BELOW:g}-{REGIME_STRESSED_ABOVE:g}, "
    f"stressed above {REGIME_STRESSED_ABOVE:g}"
)
#: Realized-volatility stand-in for VIX: 21 trading days (one month), annualised, x100 so it
#: reads on the VIX scale.
STANDIN_WINDOW = 21
#: Stop-loss rule parameters (see STOP_LOSS_RULE for the reasoning shown to the analyst).
STOP_K = 2.0
STOP_HORIZON_WEEKS = 4
STOP_FLOOR = 0.05
STOP_CAP = 0.25
STOP_MIN_WEEKS = 8
#: daily closes used for an ETF's own volatility (a year), and the fewest that count
STOP_DAILY_DAYS = 252
STOP_MIN_DAYS = 60
STOP_LOSS_RULE = (
    f"Trailing volatility stop, for each position held: stop = highest close since the position was "
    f"opened x (1 - {STOP_K:g} x sigma x sqrt({STOP_HORIZON_WEEKS}/52)), the distance clipped to "
    f"{STOP_FLOOR:.0%}-{STOP_CAP:.0%}. sigma is the ETF's own annualised volatility: of its last "
    f"{STOP_DAILY_DAYS} daily closes saved by the weekly run (at least {STOP_MIN_DAYS}), else of its "
    f"weekly prices in the ledger once it has {STOP_MIN_WEEKS} weeks, else the market's (VIX/100 or "
    f"its stand-in). Why: a {STOP_K:g}-sigma move over {STOP_HORIZON_WEEKS} weeks is rarely noise, so "
    f"volatile ETFs are not stopped out by ordinary swings, and trailing the peak locks in gains."
)
_POSITION_KEYS = ("run_id", "timestamp")


@dataclass(frozen=True)
class VolatilityGauge:
    """The market's fear gauge: VIX when the weekly run saved it, else a labelled stand-in.

    ``series`` is daily on the VIX scale (annualised %, e.g. 18.5); ``label`` is what charts and
    tables show; ``is_standin`` says it is realized volatility, not VIX; ``level`` is the latest
    value (NaN when unknown); ``note`` explains missing data.
    """

    series: pd.Series
    label: str
    is_standin: bool
    level: float
    note: str

    @property
    def market_volatility(self) -> float | None:
        """The level as an annualised fraction (VIX 20 -> 0.20), None when unknown."""
        return self.level / 100.0 if np.isfinite(self.level) else None

    @property
    def regime(self) -> str:
        """:func:`market_regime` of the latest level."""
        return market_regime(self.level)

    def describe(self) -> str:
        """One Markdown paragraph: level, regime with the thresholds, and any caveat."""
        level = f"{self.level:.1f}" if np.isfinite(self.level) else "n/a"
        text = f"**{self.label}:** {level} -> market regime **{self.regime}** (thresholds: {REGIME_RULE})."
        return text + (f"\n\n*{self.note}*" if self.note else "")


def volatility_gauge(market: pd.DataFrame | None, benchmark: str | None = None,
                     as_of=None) -> VolatilityGauge:
    """VIX from the market file, or 21-day annualised realized volatility of the benchmark x 100.

    Nothing is downloaded: VIX comes only from the market file the weekly run wrote.
    """
    empty = pd.Series(dtype=float)
    if market is None or market.empty:
        return VolatilityGauge(empty, "VIX", False, float("nan"),
                               "No market file (data/market_latest.parquet): VIX and market regime "
                               "are unknown. The weekly run writes it.")
    if as_of is not None:
        market = market.loc[market.index <= pd.Timestamp(as_of)]
    vix_cols = [c for c in market.columns if str(c).upper() == "VIX"]
    if vix_cols:
        vix = market[vix_cols[0]].dropna()
        if not vix.empty:
            return VolatilityGauge(vix.rename("VIX"), "VIX", False, float(vix.iloc[-1]), "")
    col = market_benchmark_column(market, benchmark)
    prices = market[col].dropna() if col is not None else empty
    if len(prices) <= STANDIN_WINDOW:
        return VolatilityGauge(empty, "VIX", False, float("nan"),
                               "VIX is not in the market file and the benchmark has too little "
                               "history for a realized-volatility stand-in.")
    log_ret = np.log(prices).diff()
    realized = (log_ret.rolling(STANDIN_WINDOW).std() * math.sqrt(TRADING_DAYS) * 100).dropna()
    label = f"Realized volatility of {col} ({STANDIN_WINDOW}-day, annualised x100; VIX stand-in)"
    return VolatilityGauge(realized.rename(label), label, True, float(realized.iloc[-1]),
                           "VIX was not available; the stand-in is the benchmark's realized "
                           "volatility, which lags VIX and usually reads a few points lower.")


def market_regime(level: float, *, calm_below: float = REGIME_CALM_BELOW,
                  stressed_above: float = REGIME_STRESSED_ABOVE) -> str:
    """``calm``, ``normal`` or ``stressed`` for a VIX level (``unknown`` when NaN)."""
    if level is None or not np.isfinite(level):
        return "unknown"
    if level < calm_below:
        return "calm"
    if level > stressed_above:
        return "stressed"
    return "normal"


def stop_loss_levels(ledger: Any, *, market_volatility: float | None = None,
                     k: float = STOP_K, horizon_weeks: int = STOP_HORIZON_WEEKS,
                     floor: float = STOP_FLOOR, cap: float = STOP_CAP,
                     min_weeks: int = STOP_MIN_WEEKS, held: pd.DataFrame | None = None,
                     prices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Suggested stop-loss price per position (the rule is :data:`STOP_LOSS_RULE`).

    Parameters
    ----------
    ledger : Ledger
        Positions history supplies each ETF's weekly prices and its peak while held.
    market_volatility : float, optional
        Annualised market volatility as a fraction (VIX/100) used for ETFs with no history of
        their own; without it those rows have no stop.
    held : DataFrame, optional
        :func:`etftrader.weekview.held_now`: the stops are for what is held (its ``price``), not
        for the target. Default: the latest run's Positions rows.
    prices : DataFrame, optional
        Daily closes by ticker (the weekly run's ``prices_latest.parquet``): each ETF's own
        volatility and its peak since it was opened.

    Returns
    -------
    DataFrame indexed by ticker
        ``price, peak_price, volatility, volatility_source, stop_distance, stop_price,
        below_price`` (how far the stop is under today's price, a fraction).
    """
    current = current_positions(ledger) if held is None else held.drop(index="Cash", errors="ignore")
    cols = ["price", "peak_price", "volatility", "volatility_source", "stop_distance", "stop_price", "below_price"]
    if current.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="ticker"))
    history = _price_history(ledger)
    spells = _holding_spell_start(ledger)
    rows = []
    for ticker, pos in current.iterrows():
        price = float(pos["price"])
        series = history.get(ticker, pd.Series(dtype=float))
        daily = prices[ticker].dropna() if prices is not None and ticker in prices.columns else pd.Series(dtype=float)
        since = spells.get(ticker)
        spell = series[series.index >= since] if since is not None else series
        if len(daily):
            spell = pd.concat([spell, daily[daily.index >= since] if since is not None else daily.iloc[-STOP_DAILY_DAYS:]])
        peak = max(float(spell.max()) if not spell.empty else price, price)
        weekly = series.pct_change().dropna()
        own_daily = daily.iloc[-(STOP_DAILY_DAYS + 1):].pct_change().dropna()
        if own_daily.size >= STOP_MIN_DAYS:
            vol = float(own_daily.std(ddof=1) * math.sqrt(252))
            source = f"own daily closes ({own_daily.size} days)"
        elif weekly.size >= min_weeks:
            vol, source = float(weekly.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)), "own weekly prices"
        elif market_volatility is not None and np.isfinite(market_volatility):
            vol, source = float(market_volatility), "market (too few weeks of own prices)"
        else:
            vol, source = float("nan"), "unknown"
        distance = float(np.clip(k * vol * math.sqrt(horizon_weeks / PERIODS_PER_YEAR), floor, cap)) \
            if np.isfinite(vol) else float("nan")
        stop = peak * (1.0 - distance)
        rows.append((ticker, price, peak, vol, source, distance, stop, 1.0 - stop / price))
    out = pd.DataFrame(rows, columns=["ticker", *cols]).set_index("ticker")
    return out


def _price_history(ledger: Any) -> dict[str, pd.Series]:
    """Weekly price per ticker from the effective runs' Positions rows."""
    positions = ledger.positions
    if positions is None or positions.empty:
        return {}
    runs = run_table(ledger)
    p = positions.assign(_run=_run_ids(positions).to_numpy(), _date=_row_dates(positions).to_numpy())
    if not runs.empty:
        p = p.loc[p["_run"].isin(set(runs["run"]))]
    p = p.dropna(subset=["price"]).sort_values("_date")
    return {t: pd.Series(g["price"].astype(float).to_numpy(), index=pd.DatetimeIndex(g["_date"])).groupby(level=0).last()
            for t, g in p.groupby("ticker")}


def _holding_spell_start(ledger: Any) -> dict[str, pd.Timestamp]:
    """For each current ticker, the first run date of its unbroken run of weeks in Positions."""
    positions = ledger.positions
    runs = run_table(ledger)
    if positions is None or positions.empty or runs.empty:
        return {}
    keyed = positions.assign(_run=_run_ids(positions).to_numpy())
    held_by_run = keyed.groupby("_run")["ticker"].agg(set).to_dict()
    dates = list(runs.index)
    run_keys = list(runs["run"])
    starts: dict[str, pd.Timestamp] = {}
    for ticker in held_by_run.get(run_keys[-1], set()):
        start = dates[-1]
        for day, key in zip(reversed(dates), reversed(run_keys)):
            if ticker not in held_by_run.get(key, set()):
                break
            start = day
        starts[ticker] = start
    return starts


