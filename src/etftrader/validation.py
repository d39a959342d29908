"""Checking price data: load the prices, apply the quality rules, write the data-health CSV.

What ``etftrader validate`` (the seed's ``scripts/validate_real_data.py`` step) does, as a library
function: :func:`validate_data` returns the loaded data, the quality report and the CSV's path;
the command only prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config

__all__ = ["Validation", "validate_data"]


@dataclass(frozen=True)
class Validation:
    """What :func:`validate_data` found: the data loaded, its quality report, the CSV written."""

    data: Any
    report: Any
    csv_path: Path

    @property
    def passed(self) -> bool:
        """At least one ticker passed the checks."""
        return bool(len(self.report.kept))


def validate_data(config: Config, home: Any, *, as_of: date | None = None, refresh: bool = False,
                  progress: bool = False) -> Validation:
    """Load ``config.data``'s prices, check their quality and write ``results/data_health_*.csv``
    (also when no ticker passes: :attr:`Validation.passed` says so, and the CSV says why).

    Raises
    ------
    ConfigError, DataError, SourceUnavailableError
        As :func:`etftrader.prices.load_prices`.
    """
    import logging

    from .prices import check_quality, load_prices
    from .runlog import LOGGER_NAME

    log = logging.getLogger(LOGGER_NAME)
    data = load_prices(config.data, home, as_of=as_of, refresh=refresh, progress=progress)
    report = check_quality(data, config.data, min_history=config.factors.min_history, as_of=as_of)
    csv_path = report.to_csv(_unique_path(home.results_dir, "data_health"))
    for row in report.dropped.itertuples():
        log.info("dropped %s (%s): %s", row.ticker, row.rule, row.reason)
    log.info("kept %d, dropped %d; health CSV %s", len(report.kept), len(report.dropped), csv_path)
    return Validation(data=data, report=report, csv_path=Path(csv_path))


def _unique_path(folder: Path, stem: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    path = folder / f"{stem}_{stamp}.csv"
    n = 1
    while path.exists():  # two runs in the same second keep both reports
        path = folder / f"{stem}_{stamp}_{n}.csv"
        n += 1
    return path
