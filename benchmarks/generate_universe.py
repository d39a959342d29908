"""Scale universe for the benchmarks: 600+ ETF-like tickers, ten years of daily prices, no network.

Built from real return behaviour. The bundled real sample (skfolio's S&P 500 index, 20 large US
stocks and 5 iShares factor ETFs, 2014-2022) is block-bootstrapped on whole blocks of trading days,
so every series drawn for a day comes from the same real day and cross-sectional structure and
volatility clustering survive. Each synthetic ticker is then

    r_i = alpha_i + beta_i * market + loading_i * sector_k(i) + idio_vol_i * regime * noise_i

where ``market`` is the bootstrapped index, the sector factors are the real residual returns (against
the index) of industry groups of the sample stocks and of the low-volatility ETF (a stand-in for a
rates factor), ``regime`` is the bootstrapped market's own local volatility relative to its average
(so idiosyncratic noise clusters with the market) and ``noise`` is Student-t. Asset classes (equity
sectors, bonds, commodities) get ETF-like betas and volatilities, which gives ETF-like pairwise
correlations (printed next to the real sample's).

A few realistic defects give the data-quality step work: short histories, delisted tickers, stale
prices, unadjusted split-like jumps, NaN gaps and illiquid tickers. ``SPY`` is the market series
itself, so the weekly run has its benchmark.

Writes a ``--source file`` input: ``prices.parquet`` (long: ``date, ticker, close, volume``, one row
per priced day, the layout that carries volume; or wide with ``--format wide``) and
``universe.csv`` (``ticker, name, asset_class, category``).

    python benchmarks/generate_universe.py --tickers 623 --years 10 --seed 7 --out DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Universe", "generate", "real_sample_returns", "median_pairwise_correlation", "write", "main"]

TRADING_DAYS = 252
BLOCK_DAYS = 21  # about a month: long enough to keep volatility clusters and short-term autocorrelation
DEFAULT_END = "2025-10-17"  # the seed's date; fixed so a seed always gives the same file

# Industry groups of the bundled sample stocks: their mean residual return is a real sector factor.
SECTOR_STOCKS = {
    "Technology": ("AAPL", "AMD", "MSFT"),
    "Financials": ("BAC", "JPM"),
    "Energy": ("CVX", "XOM", "RRC"),
    "Health Care": ("JNJ", "LLY", "MRK", "PFE", "UNH"),
    "Consumer Staples": ("KO", "PEP", "PG", "WMT"),
    "Consumer Discretionary": ("BBY", "HD"),
    "Industrials": ("GE",),
}
# Factor ETFs' residuals: style tilts on top of sectors, and USMV's as a defensive/rates stand-in.
STYLE_ETFS = ("MTUM", "QUAL", "SIZE", "VLUE")
RATES_ETF = "USMV"

# Asset-class mix and parameter ranges (uniform draws), chosen to look like a broad US ETF list:
# equity ETFs have betas near 1 and 15-30% volatility, bond ETFs 3-8%, commodities in between.
CLASS_SHARES = {"Equity": 0.72, "Fixed Income": 0.18, "Commodity": 0.10}
EQUITY = dict(beta=(0.7, 1.15), sector_loading=(0.3, 0.8), style_loading=(0.0, 0.6), idio_vol=(0.02, 0.06))
BONDS = dict(beta=(-0.05, 0.20), rates_vol=(0.03, 0.07), idio_vol=(0.01, 0.03))
COMMODITY = dict(beta=(0.15, 0.55), energy_loading=(0.3, 0.9), idio_vol=(0.10, 0.20))
ANNUAL_ALPHA_SD = 0.02  # cross-sectional spread of drifts, so momentum has something to find


@dataclass(frozen=True)
class Universe:
    """A generated universe.

    Attributes
    ----------
    close : DataFrame of shape (n_dates, n_tickers)
        Close prices, NaN where a ticker has no price that day (price frame contract).
    volume : DataFrame of shape (n_dates, n_tickers)
        Shares traded, NaN where close is NaN.
    info : DataFrame
        One row per ticker: ``ticker, name, asset_class, category``.
    defects : dict
        Defect kind -> list of tickers that carry it.
    """

    close: pd.DataFrame
    volume: pd.DataFrame
    info: pd.DataFrame
    defects: dict = field(default_factory=dict)


def real_sample_returns() -> pd.DataFrame:
    """Daily log returns of the bundled real sample on the days all its series exist (2014-2022).

    Returns
    -------
    DataFrame of shape (n_days, 26)
        The 5 factor ETFs, the 20 stocks and ``SP500`` (the index).
    """
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset, load_sp500_index

    frame = pd.concat([load_factors_dataset(), load_sp500_dataset(), load_sp500_index()], axis=1, join="inner")
    return np.log(frame.astype(float)).diff().dropna()


def median_pairwise_correlation(returns: pd.DataFrame) -> float:
    """Median of the off-diagonal pairwise correlations of the columns of ``returns``."""
    corr = returns.corr().to_numpy()
    upper = corr[np.triu_indices_from(corr, k=1)]
    return float(np.nanmedian(upper))


def _trading_days(end: str, years: int) -> pd.DatetimeIndex:
    """Weekdays less US federal holidays: close enough to an exchange calendar for timing."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    end_ts = pd.Timestamp(end)
    start_ts = end_ts - pd.DateOffset(years=years) + pd.Timedelta(days=1)
    holidays = USFederalHolidayCalendar().holidays(start_ts, end_ts)
    days = pd.bdate_range(start_ts, end_ts, freq="C", holidays=holidays)
    return pd.DatetimeIndex(days, name="date").as_unit("ns")


def _real_factors(real: pd.DataFrame) -> pd.DataFrame:
    """Market, sector, style and rates factor returns from the real sample (same real days)."""
    market = real["SP500"]
    var = market.var()

    def residual(col: str) -> pd.Series:
        beta = real[col].cov(market) / var
        return real[col] - beta * market

    factors = {"market": market}
    for sector, stocks in SECTOR_STOCKS.items():
        factors[sector] = pd.concat([residual(s) for s in stocks], axis=1).mean(axis=1)
    for etf in STYLE_ETFS:
        factors[etf] = residual(etf)
    rates = residual(RATES_ETF)
    factors["rates"] = rates / rates.std()  # unit daily vol; bond ETFs scale it to their own
    return pd.DataFrame(factors)


def _block_bootstrap(n_days: int, n_source: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions of ``n_days`` drawn as circular blocks of consecutive source days."""
    n_blocks = -(-n_days // BLOCK_DAYS)
    starts = rng.integers(0, n_source, size=n_blocks)
    rows = (starts[:, None] + np.arange(BLOCK_DAYS)[None, :]) % n_source
    return rows.ravel()[:n_days]


def _tickers(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 3-4 letter upper-case tickers (never SPY, which is the benchmark)."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    seen: set[str] = {"SPY"}
    out: list[str] = []
    while len(out) < n:
        length = 3 if rng.random() < 0.6 else 4
        name = "".join(rng.choice(letters, size=length))
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def generate(n_tickers: int = 623, years: int = 10, seed: int = 7, end: str = DEFAULT_END) -> Universe:
    """Build a universe of ``n_tickers`` ETF-like series plus ``SPY`` over ``years`` years.

    Parameters
    ----------
    n_tickers : int
        Synthetic tickers, not counting ``SPY``. At least 20.
    years : int
        Calendar years of daily history ending at ``end``.
    seed : int
        Seed of the only random generator used: same arguments, same universe.
    end : str
        Last date (``YYYY-MM-DD``).

    Returns
    -------
    Universe
    """
    if n_tickers < 20:
        raise ValueError(f"n_tickers must be at least 20 (room for the defects), got {n_tickers}")
    if years < 1:
        raise ValueError(f"years must be at least 1, got {years}")
    rng = np.random.default_rng(seed)
    dates = _trading_days(end, years)
    n_days = len(dates)

    factors = _real_factors(real_sample_returns())
    rows = _block_bootstrap(n_days, len(factors), rng)
    f = factors.to_numpy()[rows]  # (n_days, n_factors): every factor from the same real day
    col = {name: i for i, name in enumerate(factors.columns)}
    market = f[:, col["market"]]
    # Local market volatility relative to its average: idiosyncratic noise clusters with it.
    ewm_var = pd.Series(market**2).ewm(halflife=10, min_periods=1).mean().to_numpy()
    regime = np.sqrt(ewm_var / np.mean(market**2))

    classes = rng.choice(list(CLASS_SHARES), size=n_tickers, p=list(CLASS_SHARES.values()))
    sectors = list(SECTOR_STOCKS)
    daily = np.sqrt(TRADING_DAYS)
    loadings = np.zeros((len(col), n_tickers))
    idio_vol = np.zeros(n_tickers)
    category = np.empty(n_tickers, dtype=object)
    for i, cls in enumerate(classes):
        if cls == "Equity":
            sector = sectors[rng.integers(len(sectors))]
            style = STYLE_ETFS[rng.integers(len(STYLE_ETFS))]
            loadings[col["market"], i] = rng.uniform(*EQUITY["beta"])
            loadings[col[sector], i] = rng.uniform(*EQUITY["sector_loading"])
            loadings[col[style], i] = rng.uniform(*EQUITY["style_loading"])
            idio_vol[i] = rng.uniform(*EQUITY["idio_vol"])
            category[i] = sector
        elif cls == "Fixed Income":
            loadings[col["market"], i] = rng.uniform(*BONDS["beta"])
            loadings[col["rates"], i] = rng.uniform(*BONDS["rates_vol"]) / daily
            idio_vol[i] = rng.uniform(*BONDS["idio_vol"])
            category[i] = "Bonds"
        else:
            loadings[col["market"], i] = rng.uniform(*COMMODITY["beta"])
            loadings[col["Energy"], i] = rng.uniform(*COMMODITY["energy_loading"])
            idio_vol[i] = rng.uniform(*COMMODITY["idio_vol"])
            category[i] = "Commodities"

    # Student-t(5) scaled to unit variance: fat tails like daily ETF returns.
    noise = rng.standard_t(5, size=(n_days, n_tickers)) / np.sqrt(5 / 3)
    alpha = rng.normal(0.0, ANNUAL_ALPHA_SD, size=n_tickers) / TRADING_DAYS
    log_ret = f @ loadings + alpha + noise * regime[:, None] * (idio_vol / daily)
    log_ret[0] = 0.0
    start_price = np.exp(rng.uniform(np.log(15.0), np.log(400.0), size=n_tickers))
    close = start_price * np.exp(np.cumsum(log_ret, axis=0))

    spy = 200.0 * np.exp(np.cumsum(np.r_[0.0, market[1:]]))
    tickers = _tickers(n_tickers, rng)

    # Volume: a per-ticker level (ETF dollar volumes span 1e5..1e9 a day) times daily lognormal noise,
    # higher on big market days.
    dollar_level = np.exp(rng.uniform(np.log(3e5), np.log(5e8), size=n_tickers))
    day_noise = np.exp(rng.normal(0.0, 0.35, size=(n_days, n_tickers))) * (1 + 3 * np.abs(market))[:, None]
    volume = np.round(dollar_level * day_noise / close)

    defects = _apply_defects(close, volume, tickers, classes, rng)

    close_df = pd.DataFrame(close, index=dates, columns=tickers)
    volume_df = pd.DataFrame(volume, index=dates, columns=tickers)
    close_df["SPY"] = spy
    volume_df["SPY"] = np.round(2e10 * np.exp(rng.normal(0.0, 0.3, size=n_days)) / spy)
    close_df = close_df.sort_index(axis=1)
    volume_df = volume_df.sort_index(axis=1).where(close_df.notna())
    close_df.columns.name = volume_df.columns.name = None

    info = pd.DataFrame(
        {
            "ticker": tickers + ["SPY"],
            "name": [f"Synthetic {c} ETF {t}" for t, c in zip(tickers, category)] + ["Market (bootstrapped S&P 500)"],
            "asset_class": list(classes) + ["Equity"],
            "category": list(category) + ["Broad Market"],
        }
    ).sort_values("ticker", ignore_index=True)
    return Universe(close=close_df, volume=volume_df, info=info, defects=defects)


def _apply_defects(close: np.ndarray, volume: np.ndarray, tickers: list[str], classes: np.ndarray,
                   rng: np.random.Generator) -> dict[str, list[str]]:
    """Damage a few tickers in place, the way real vendor data is damaged; return who got what."""
    n_days, n = close.shape
    order = rng.permutation(n)
    taken = 0

    def pick(share: float, minimum: int = 1) -> np.ndarray:
        nonlocal taken
        k = max(minimum, int(round(share * n)))
        chosen = order[taken:taken + k]
        taken += k
        return chosen

    defects: dict[str, list[str]] = {}
    # Launched later: most still have > 1 year of history, some have too little to score.
    short = pick(0.06, 2)
    for j, i in enumerate(short):
        history = (rng.integers(60, min(240, n_days // 2)) if j % 3 == 0
                   else rng.integers(n_days // 4, 3 * n_days // 4))
        close[: n_days - history, i] = np.nan
    defects["short_history"] = [tickers[i] for i in short]
    # Delisted: prices stop months before the end.
    delisted = pick(0.01)
    for i in delisted:
        close[n_days - rng.integers(40, 200):, i] = np.nan
    defects["delisted"] = [tickers[i] for i in delisted]
    # Stale: the vendor repeats the last price for the final weeks.
    stale = pick(0.003)
    for i in stale:
        last = n_days - rng.integers(15, 30)
        close[last:, i] = close[last - 1, i]
    defects["stale"] = [tickers[i] for i in stale]
    # Unadjusted split in the last year: the price falls to 1/2 or 1/3 overnight and stays there.
    split = pick(0.003)
    for i in split:
        day = n_days - rng.integers(5, min(TRADING_DAYS, n_days // 2))
        close[day:, i] /= rng.choice([2.0, 3.0])
        volume[day:, i] *= 2.0
    defects["split_jump"] = [tickers[i] for i in split]
    # Isolated missing days (holidays abroad, vendor hiccups) and one long outage per ~100 tickers.
    gappy = pick(0.08)
    for i in gappy:
        close[rng.integers(1, n_days, size=rng.integers(1, 5)), i] = np.nan
    defects["nan_gaps"] = [tickers[i] for i in gappy]
    outage = pick(0.01)
    for i in outage:
        start = rng.integers(n_days // 2, n_days - 40)
        close[start:start + rng.integers(8, 20), i] = np.nan
    defects["long_gap"] = [tickers[i] for i in outage]
    # Illiquid: median dollar volume under the default 100k threshold.
    thin = pick(0.01)
    for i in thin:
        volume[:, i] = np.round(volume[:, i] * 2e4 / np.nanmedian(volume[:, i] * close[:, i]))
    defects["illiquid"] = [tickers[i] for i in thin]
    return defects


def to_long(universe: Universe) -> pd.DataFrame:
    """Long layout ``date, ticker, close, volume``, one row per priced day (missing days absent)."""
    close = universe.close.stack(future_stack=True).rename("close")
    volume = universe.volume.stack(future_stack=True).rename("volume")
    long = pd.concat([close, volume], axis=1).dropna(subset=["close"])
    long.index.names = ["date", "ticker"]
    return long.reset_index()


def write(universe: Universe, out: Path, *, layout: str = "long", universe_csv: bool = True) -> dict[str, Path]:
    """Write ``prices.parquet`` (``long`` or ``wide``) and ``universe.csv`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"prices": out / "prices.parquet"}
    if layout == "long":
        to_long(universe).to_parquet(paths["prices"], index=False)
    elif layout == "wide":
        universe.close.to_parquet(paths["prices"])
    else:
        raise ValueError(f"layout must be 'long' or 'wide', got {layout!r}")
    if universe_csv:
        paths["universe"] = out / "universe.csv"
        universe.info.to_csv(paths["universe"], index=False)
    return paths


def describe(universe: Universe) -> list[str]:
    """Lines comparing the universe with the real sample (correlations, volatilities, defects)."""
    rets = np.log(universe.close).diff()
    real = real_sample_returns()
    vols = rets.std() * np.sqrt(TRADING_DAYS)
    by_class = universe.info.set_index("ticker")["asset_class"]
    lines = [
        f"universe: {universe.close.shape[1]} tickers x {universe.close.shape[0]} days "
        f"({universe.close.index[0].date()} .. {universe.close.index[-1].date()})",
        f"median pairwise correlation: generated {median_pairwise_correlation(rets):.2f}; "
        f"equity only {median_pairwise_correlation(rets.loc[:, by_class == 'Equity']):.2f}; "
        f"real sample (25 series) {median_pairwise_correlation(real.drop(columns='SP500')):.2f}; "
        f"real factor ETFs (5) {median_pairwise_correlation(real[['MTUM', 'QUAL', 'SIZE', 'USMV', 'VLUE']]):.2f}",
    ]
    for cls in CLASS_SHARES:
        v = vols[by_class[by_class == cls].index]
        lines.append(f"annual volatility {cls:<12}: n={len(v):3d} median {v.median():.1%} "
                     f"(10%-90%: {v.quantile(0.1):.1%} .. {v.quantile(0.9):.1%})")
    lines.append(f"real factor ETFs' annual volatility: "
                 f"{(real[['MTUM', 'QUAL', 'SIZE', 'USMV', 'VLUE']].std() * np.sqrt(TRADING_DAYS)).median():.1%} median")
    for kind, names in universe.defects.items():
        lines.append(f"defect {kind:<13}: {len(names):2d} ({', '.join(names[:6])}{' ...' if len(names) > 6 else ''})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=int, default=623, help="synthetic tickers (SPY is added)")
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", default=DEFAULT_END, help="last date, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True, help="folder for prices.parquet and universe.csv")
    parser.add_argument("--format", choices=("long", "wide"), default="long",
                        help="long carries volume (default); wide is date x tickers close only")
    parser.add_argument("--no-universe-csv", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="skip the comparison with the real sample")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        universe = generate(args.tickers, args.years, args.seed, args.end)
    except ValueError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    paths = write(universe, args.out, layout=args.format, universe_csv=not args.no_universe_csv)
    elapsed = time.perf_counter() - started
    for name, path in paths.items():
        print(f"wrote {name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"generated in {elapsed:.1f} s")
    if not args.quiet:
        for line in describe(universe):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
