"""Price data: sources (yfinance, file, sample), the parquet price store, the universe and quality checks.

The public API other modules use::

    from etftrader.prices import PriceData, load_prices, check_quality, QualityReport, load_universe

``load_prices`` returns :class:`PriceData` in the price frame contract (see ``docs/contracts.md``);
``check_quality`` keeps or drops each ticker with a reason and forward-fills short gaps only.
"""

from .frame import SAMPLE_BENCHMARK_LABEL, PriceData
from .quality import RULES, QualityReport, check_quality
from .sources import SAMPLE_NOTE, load_market_series, load_prices, market_frame, read_price_file
from .universe import load_universe

__all__ = [
    "PriceData",
    "load_prices",
    "load_market_series",
    "market_frame",
    "read_price_file",
    "check_quality",
    "QualityReport",
    "RULES",
    "load_universe",
    "SAMPLE_BENCHMARK_LABEL",
    "SAMPLE_NOTE",
]
