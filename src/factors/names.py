"""Names and constants of the factor package, importable without numpy or pandas.

The command-line tool reads these at start-up (config validation, ``--help``), where loading the
numerical stack would cost a second; :mod:`factors` re-exports them.
"""

from __future__ import annotations

__all__ = ["FACTOR_NAMES", "TRADING_DAYS"]

#: The four factors a composite score combines, in the order every table shows them.
FACTOR_NAMES: tuple[str, ...] = ("momentum", "quality", "value", "volatility")
#: Trading days in a year, used to annualise daily statistics everywhere in the project.
TRADING_DAYS = 252
