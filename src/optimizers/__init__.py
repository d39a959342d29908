"""Portfolio construction: the selected tickers' history and scores in, weights out.

Pure functions, no I/O; PyPortfolioOpt does the maths. :func:`select_top` picks the best N tickers
by composite score; :func:`optimize` weighs them by one of :data:`OPTIMIZERS`, falling back to a
simpler method when a solver fails, and returns a :class:`PortfolioResult`; :func:`allocate_shares`
turns weights into whole shares for a portfolio bought from scratch.

Names are loaded on first use, so ``optimizers.names`` (the optimizer names and fallbacks) can be
read without importing numpy, pandas or cvxpy.
"""

from __future__ import annotations

import importlib
from typing import Any

#: where each public name lives
_HOMES = {
    "FALLBACKS": ".names",
    "OPTIMIZERS": ".names",
    "PortfolioResult": ".base",
    "weight_bounds": ".base",
    "allocate_shares": ".allocation",
    "optimize": ".dispatch",
    "Kept": ".selection",
    "select_top": ".selection",
    "select_with_buffer": ".selection",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
