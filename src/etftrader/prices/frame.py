"""The price frame contract and :class:`PriceData`, what every price source returns.

A price frame is a DataFrame of shape (n_dates, n_tickers): a tz-naive ``DatetimeIndex`` named
``date`` (sorted, unique), upper-case ticker columns (sorted ``str``) and float64 adjusted closes,
NaN where a ticker has no price that day. Rows where every ticker is NaN are dropped. Infinite and
non-positive values are *kept* here on purpose: the quality step reports the tickers that carry them
instead of a silent clean-up hiding a broken feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

__all__ = ["PriceData", "normalize_frame", "truncate", "SAMPLE_BENCHMARK_LABEL", "SAMPLE_BENCHMARK_DIVIDEND_GAP"]

#: label of the sample source's benchmark: skfolio's S&P 500 *price* index standing in for SPY.
#: It has no dividends while every portfolio's prices are dividend-adjusted, and says so wherever
#: it is shown (30 characters: the width of the console's series column).
SAMPLE_BENCHMARK_LABEL = "S&P 500 price index (no div.)"

#: the S&P 500's average dividend yield over the sample's ETF years (2014-2022, S&P Dow Jones
#: Indices annual figures, about 1.3-2.1%): what the price index leaves out each year
SAMPLE_BENCHMARK_DIVIDEND_GAP = 0.018


@dataclass(frozen=True)
class PriceData:
    """Prices as delivered by a source, before any quality filtering.

    Attributes
    ----------
    close : DataFrame of shape (n_dates, n_tickers)
        Adjusted close, price frame contract.
    volume : DataFrame of shape (n_dates, n_tickers) or None
        Shares traded, same shape as ``close``; None when the source has no volume.
    source : str
        ``"yfinance"``, ``"file"`` or ``"sample"``.
    benchmark : Series or None
        Benchmark closes by date; ``.name`` is the label shown to users.
    failed : dict
        Ticker -> reason, for tickers requested but not delivered.
    vix : Series or None
        CBOE VIX closes (named ``"VIX"``) when the source has them (yfinance ``^VIX``, asked along
        with the universe); None otherwise. Never required: a missing VIX fails nothing.
    notes : tuple of str
        Plain-ASCII remarks shown to the user (e.g. that the sample is a demo universe).
    """

    close: pd.DataFrame
    volume: pd.DataFrame | None = None
    source: str = ""
    benchmark: pd.Series | None = None
    failed: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    vix: pd.Series | None = None

    @property
    def tickers(self) -> list[str]:
        """Tickers delivered (the columns of ``close``)."""
        return list(self.close.columns)


def normalize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Bring a wide date x ticker frame to the price frame contract.

    Parameters
    ----------
    frame : DataFrame
        Index convertible to dates, one column per ticker, numeric values.

    Returns
    -------
    DataFrame
        DatetimeIndex named ``date`` (tz-naive, ns, sorted), upper-case sorted ``str`` columns,
        float64 values, all-NaN rows dropped. Duplicate dates must have been rejected before.
    """
    out = frame.copy()
    index = pd.DatetimeIndex(pd.to_datetime(out.index))
    if index.tz is not None:
        index = index.tz_localize(None)
    # Session dates only: yfinance and vendors sometimes stamp a time of day.
    out.index = index.normalize().as_unit("ns")
    out.index.name = "date"
    out.columns = pd.Index([str(c).strip().upper() for c in out.columns], dtype=str)
    out.columns.name = None
    out = out.astype("float64")
    out = out.loc[:, ~out.columns.duplicated(keep="last")]
    # Sources reject duplicate dates with a clear error; this is the safety net of the contract.
    out = out.loc[~out.index.duplicated(keep="last")]
    out = out.sort_index().sort_index(axis=1)
    out = out.loc[out.notna().any(axis=1)]
    return out


def truncate(frame: pd.DataFrame | pd.Series | None, as_of: date | None):
    """Rows dated on or before ``as_of`` (everything when ``as_of`` is None)."""
    if frame is None or as_of is None:
        return frame
    if frame.index.is_monotonic_increasing:  # a slice, not a boolean mask: cheap in weekly loops
        return frame.iloc[: frame.index.searchsorted(pd.Timestamp(as_of), side="right")]
    return frame.loc[frame.index <= pd.Timestamp(as_of)]

