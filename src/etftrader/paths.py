"""The tool's home folder and the files in it.

The home folder defaults to the current directory (the seed workflow runs from the project folder)
and can be set with ``--home DIR`` or the ``ETFTRADER_HOME`` environment variable, so scheduled
runs do not depend on the working directory. All paths are :class:`pathlib.Path`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

__all__ = ["HOME_ENV", "Home", "resolve_home"]

HOME_ENV = "ETFTRADER_HOME"


@dataclass(frozen=True)
class Home:
    """Layout of a home folder: ``data/``, ``results/``, ``logs/`` and the config file."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def price_cache_dir(self) -> Path:
        """Parquet price cache, one folder per source."""
        return self.data_dir / "prices"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def reports_dir(self) -> Path:
        return self.results_dir / "reports"

    @property
    def backups_dir(self) -> Path:
        return self.results_dir / "backups"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def workbook(self) -> Path:
        """Default tracking workbook, as the seed names it."""
        return self.results_dir / "portfolio_tracking.xlsx"

    @property
    def config_file(self) -> Path:
        return self.root / "etftrader.toml"

    def ensure(self) -> "Home":
        """Create the folder layout (idempotent). Raises ConfigError when it cannot."""
        for folder in (self.data_dir, self.results_dir, self.logs_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot create {folder}: {e.strerror or e}; choose another --home") from e
        return self


def resolve_home(home: str | Path | None = None) -> Home:
    """``--home`` if given, else ``$ETFTRADER_HOME``, else the current directory (absolute)."""
    chosen = home or os.environ.get(HOME_ENV) or Path.cwd()
    root = Path(chosen).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"home folder {root} is a file, not a folder; pass --home DIR")
    return Home(root.resolve())
