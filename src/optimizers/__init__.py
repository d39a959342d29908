"""Portfolio construction: the selected tickers' history and scores in, weights out.

Pure functions, no I/O; PyPortfolioOpt does the maths. :func:`select_top` picks the best N tickers
by composite score; :func:`optimize` weighs them by mean-variance (``mvo``), minimum variance
(``minvar``) or score rank (``rankbased``), falling back to a simpler method when a solver fails,
and returns a :class:`PortfolioResult`; :func:`allocate_shares` turns weights into whole shares for
a portfolio bought from scratch.
"""

from .allocation import allocate_shares
from .base import PortfolioResult, weight_bounds
from .dispatch import FALLBACKS, OPTIMIZERS, optimize
from .selection import Kept, select_top, select_with_buffer

__all__ = [
    "FALLBACKS",
    "OPTIMIZERS",
    "PortfolioResult",
    "allocate_shares",
    "optimize",
    "select_top",
    "select_with_buffer",
    "Kept",
    "weight_bounds",
]
