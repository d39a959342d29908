"""The config's group limits turned into :class:`optimizers.limits.GroupLimit` records.

``[limits]`` names groups of the universe file's ``asset_class`` and ``category`` columns. The
universe is ``[data] universe`` when set, else the bundled list for the source: the sample's own
(``resources/sample_universe.csv``: the five factor ETFs are category ``US Factor``, the stocks
their GICS sector) or the bundled US ETF list. A named group with no ticker in that file is a
config mistake (a typo such as ``Bonds`` for ``Fixed Income``) and stops the run with exit 2 before
anything is written.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizers.limits import GroupLimit, members_of

from .config import GROUP_KINDS
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config

__all__ = ["asset_classes", "group_limits", "sample_universe_path", "universe_under_home"]


def sample_universe_path() -> Path:
    """The bundled classification of the sample's 25 instruments."""
    return Path(str(resources.files("etftrader") / "resources" / "sample_universe.csv"))


def group_limits(config: Config, home: Any = None) -> tuple[GroupLimit, ...]:
    """The run's group limits (empty when ``[limits]`` sets none).

    Raises
    ------
    ConfigError
        A limit names a group that no ticker of the universe file belongs to.
    DataError
        The universe file cannot be read (as :func:`etftrader.prices.load_universe`).
    """
    limits_config = config.limits
    if not limits_config.active:
        return ()
    from .prices.universe import load_universe

    universe = load_universe(_universe_path(config, home))
    out: list[GroupLimit] = []
    for kind in GROUP_KINDS:
        groups = members_of(zip(universe["ticker"], universe[kind]))
        lows, highs = getattr(limits_config, f"{kind}_min"), getattr(limits_config, f"{kind}_max")
        for name in sorted(set(lows) | set(highs) - {"*"}):
            if name not in groups:
                known = ", ".join(sorted(groups)) or "none"
                raise ConfigError(f"group limit {kind} '{name}': no ticker of the universe file belongs to it "
                                  f"({kind} values there: {known})")
        for name in sorted(groups):
            low = float(lows.get(name, 0.0))
            high = float(highs.get(name, highs.get("*", 1.0)))
            if low > 0 or high < 1:
                out.append(GroupLimit(kind, name, groups[name], low, high))
    return tuple(out)


def universe_under_home(config: Config, home: Any) -> Config:
    """``config`` with ``[data] universe`` as the absolute path of the file the weekly run would
    read (in the current folder, else under the home folder): the backtest and the sweep read the
    group limits and the asset classes far from the home, in their loop and in worker processes,
    and a sweep's cached cells must not depend on the folder it ran from. Unchanged when the file
    is found nowhere (it is then reported missing where it is read)."""
    name = config.data.universe
    if not name:
        return config
    path = _universe_path(config, home)
    if path is None or not path.exists():
        return config  # read (and reported missing) as it is
    # absolute wherever it was found, so that a sweep's cached cells do not depend on the folder
    resolved = str(path.resolve())
    return config if resolved == name else config.override(data={"universe": resolved})


def _universe_path(config: Config, home: Any) -> Path | None:
    data = config.data
    if data.universe:
        path = Path(data.universe).expanduser()
        if not path.is_absolute() and not path.exists() and home is not None and (Path(home.root) / path).exists():
            path = Path(home.root) / path
        return path
    return sample_universe_path() if data.source == "sample" else None


def asset_classes(config: Config, home: Any = None) -> dict[str, str]:
    """``{ticker: asset_class}`` of the run's universe file, for ``spread_bps`` by asset class
    (empty when no spread is given by class: the ``"*"`` spread applies).

    Raises
    ------
    DataError
        ``[data] universe`` names a file that cannot be read (as :func:`group_limits`).
    """
    if not [k for k in config.rebalance.spread_bps if k != "*"]:
        return {}
    from .errors import DataError
    from .prices.universe import load_universe

    try:
        universe = load_universe(_universe_path(config, home))
    except DataError:
        if config.data.universe:  # the analyst's own file: its spreads by class must not go unread
            raise
        return {}
    return {str(t): str(c) for t, c in zip(universe["ticker"], universe["asset_class"]) if str(c).strip()}
