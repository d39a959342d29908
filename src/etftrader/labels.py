"""Ticker labels of the kind the caller works with.

pandas 3 stores text labels as Arrow-backed ``str`` by default. The backtest's weekly loop builds
and aligns dozens of small ticker-labelled Series and frames for every book every week, and with
Arrow labels building and converting them cost about a fifth of the sample backtest
(benchmarks/README.md); so the loop hands the week step object labels (the same strings), and
what the week step builds follows the labels it was given. The weekly command keeps pandas'
default.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

__all__ = ["F64", "I64", "OBJ", "object_labels", "ticker_index"]

#: The dtypes as objects. pandas looks a dtype given as a string ("float64") up in its registry
#: of extension types, about 25 us a lookup and several per Series built; the week step builds
#: dozens of small Series per book and week (benchmarks/README.md).
F64 = np.dtype("float64")
I64 = np.dtype("int64")
OBJ = np.dtype(object)  # faster to hand pandas than the type ``object`` itself


def ticker_index(names: Iterable[str], like: pd.Index | None = None, name: object = None) -> pd.Index:
    """``names`` as an Index: object dtype when ``like`` is object labels, else pandas' default."""
    if like is not None and like.dtype == OBJ:
        return pd.Index(list(names), dtype=OBJ, name=name)
    return pd.Index(list(names), name=name)


def object_labels(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """``frame`` with its columns as object labels (the same strings; values not copied)."""
    if frame is None or frame.columns.dtype == object:
        return frame
    return frame.set_axis(pd.Index(frame.columns.tolist(), dtype=object, name=frame.columns.name), axis=1)
