"""How numbers read in the report's text and tables: money, percents, plain numbers (``n/a`` when missing)."""

from __future__ import annotations

import numpy as np


__all__ = ["money", "percent"]


def money(x: float | None) -> str:
    """``$1,234.50`` (``-$1,234.50`` below zero); ``n/a`` for a missing value."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def percent(x: float | None) -> str:
    """``12.34%`` for 0.1234; ``n/a`` for a missing value."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2%}"


_money, _pct = money, percent


def _num(x: float, fmt: str = ".2f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, fmt)
