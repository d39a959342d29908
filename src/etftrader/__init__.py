"""etftrader: a weekly factor-based ETF portfolio tool.

The library behind the ``etftrader`` command: price sources and the local price store, data-quality
checks, the weekly pipeline (scores, target weights, drift, whole-share trades), the Excel tracking
workbook, the monitoring report, the walk-forward backtest and desktop operations. The pure scoring
and weighting code lives in the sibling packages :mod:`factors` and :mod:`optimizers`.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("etftrader")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

# Library logging stays silent unless a run log is attached (see runlog.start_run_log).
logging.getLogger(__name__).addHandler(logging.NullHandler())
