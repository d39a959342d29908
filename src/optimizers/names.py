"""The optimizer names and their fallback chains, importable without numpy, pandas or cvxpy.

The command-line tool validates ``--optimizer`` and the config at start-up from here;
:mod:`optimizers` re-exports both.
"""

from __future__ import annotations

__all__ = ["FALLBACKS", "OPTIMIZERS"]

#: Methods :func:`optimizers.optimize` accepts.
OPTIMIZERS: tuple[str, ...] = ("mvo", "minvar", "rankbased", "hrp", "riskparity", "cvar", "blacklitterman",
                               "barbell")
#: The methods tried, in order, for each requested method; ``equal`` cannot fail.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "mvo": ("mvo", "minvar", "rankbased", "equal"),
    "minvar": ("minvar", "rankbased", "equal"),
    "rankbased": ("rankbased", "equal"),
    "hrp": ("hrp", "minvar", "rankbased", "equal"),
    "riskparity": ("riskparity", "minvar", "rankbased", "equal"),
    "cvar": ("cvar", "minvar", "rankbased", "equal"),
    "blacklitterman": ("blacklitterman", "minvar", "rankbased", "equal"),
    "barbell": ("barbell", "minvar", "rankbased", "equal"),
}
