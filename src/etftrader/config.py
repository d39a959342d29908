"""Typed, frozen configuration: TOML file and CLI flags into one :class:`Config`.

Everything the seed workflow told users to edit inside the script (factor weights, lookbacks, risk
aversion, weight bounds, universe file, benchmark, drift thresholds, minimum trade value, cost
assumptions) lives here, with its default. ``load_config`` reads a TOML file (unknown keys and wrong
types are errors that name the key); :meth:`Config.override` applies CLI flags on top.
``DEFAULT_CONFIG_TOML`` is the commented file ``etftrader init`` writes; loading it gives the defaults.

Why one module of this size: one frozen dataclass per TOML section, each with its checks beside
its fields, and the commented template those fields must round-trip through
(``tests/test_config.py``); split, a new setting would need three files edited.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from factors.names import FACTOR_NAMES
from optimizers.names import OPTIMIZERS

from .errors import ConfigError

__all__ = [
    "OPTIMIZERS",
    "SOURCES",
    "FACTOR_NAMES",
    "PortfolioConfig",
    "DataConfig",
    "FactorConfig",
    "OptimizerConfig",
    "RebalanceConfig",
    "ScheduleConfig",
    "ReportConfig",
    "RunConfig",
    "Config",
    "load_config",
    "DEFAULT_CONFIG_TOML",
    "MAX_AMOUNT",
    "check_amount",
]

SOURCES = ("yfinance", "file", "sample")

#: the largest amount of money (capital, a deposit, a withdrawal, imported cash) a run accepts:
#: far above any desktop portfolio, and far below where whole-share arithmetic loses precision
MAX_AMOUNT = 1e12


def check_amount(name: str, value: float | None, *, allow_zero: bool = False) -> float | None:
    """``value`` if it is a finite amount in (0, MAX_AMOUNT] (or [0, ...] with ``allow_zero``).

    Raises
    ------
    ConfigError
        NaN, infinite, negative (or zero), or above :data:`MAX_AMOUNT`; the message names ``name``.
    """
    if value is None:
        return None
    low_ok = value >= 0 if allow_zero else value > 0
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low_ok and value <= MAX_AMOUNT):
        floor = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"`{name}` must be a finite amount {floor} and at most {MAX_AMOUNT:,.0f}, got {value!r}")
    return value

#: the cvxpy solvers a config may name (whether one is installed is checked when it is not the default)
_KNOWN_SOLVERS = ("CLARABEL", "SCS", "OSQP", "ECOS", "ECOS_BB", "HIGHS", "SCIPY", "CVXOPT", "GLPK",
                  "GLPK_MI", "CBC", "MOSEK", "GUROBI", "CPLEX", "XPRESS", "COPT", "PIQP", "PROXQP",
                  "DAQP", "SCIP", "NAG", "SDPA", "QOCO", "CUOPT")


@dataclass(frozen=True)
class PortfolioConfig:
    """What the weekly command builds: capital, number of positions and the optimizer."""

    capital: float = 1_000_000.0
    positions: int = 20
    optimizer: str = "mvo"

    def __post_init__(self) -> None:
        check_amount("capital", self.capital)
        if self.positions < 1:
            raise ConfigError(f"`positions` must be at least 1, got {self.positions}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"`optimizer` must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )


@dataclass(frozen=True)
class DataConfig:
    """Where prices come from and the data-quality rules applied before scoring.

    ``universe`` empty means the bundled list of US-listed ETFs. ``history_days`` is how many
    calendar days of history a first download asks for.
    """

    source: str = "yfinance"
    prices_file: str = ""
    universe: str = ""
    benchmark: str = "SPY"
    history_days: int = 3 * 365
    overlap_days: int = 5
    download_timeout: float = 60.0
    download_retries: int = 3
    max_ffill_days: int = 5
    max_missing_fraction: float = 0.10
    stale_days: int = 10
    max_daily_move: float = 0.45
    min_dollar_volume: float = 100_000.0
    accept_prices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        accepted = self.accept_prices
        if isinstance(accepted, str) or not all(isinstance(t, str) and t.strip() for t in accepted):
            raise ConfigError(f"`accept_prices` must be a list of tickers, got {accepted!r}")
        object.__setattr__(self, "accept_prices", tuple(t.strip().upper() for t in accepted))
        if self.source not in SOURCES:
            raise ConfigError(f"`source` must be one of {', '.join(SOURCES)}, got {self.source!r}")
        _require(0 <= self.max_missing_fraction < 1, "max_missing_fraction", "in [0, 1)", self.max_missing_fraction)
        _require(self.max_ffill_days >= 0, "max_ffill_days", ">= 0", self.max_ffill_days)
        _require(self.max_daily_move > 0, "max_daily_move", "> 0", self.max_daily_move)
        _require(self.download_timeout > 0, "download_timeout", "> 0 seconds", self.download_timeout)
        _require(self.download_retries >= 0, "download_retries", ">= 0", self.download_retries)
        _require(self.stale_days >= 1, "stale_days", ">= 1 trading day (it drops a ticker whose price "
                 "has not changed for that many days)", self.stale_days)
        _require(self.min_dollar_volume >= 0, "min_dollar_volume", ">= 0", self.min_dollar_volume)
        _require(self.history_days >= 1, "history_days", ">= 1", self.history_days)
        _require(self.overlap_days >= 0, "overlap_days", ">= 0", self.overlap_days)


@dataclass(frozen=True)
class FactorConfig:
    """Factor lookbacks and the weights of the composite score (normalised to sum to 1)."""

    weights: Mapping[str, float] = field(
        default_factory=lambda: {name: 0.25 for name in FACTOR_NAMES}
    )
    momentum_lookback: int = 252
    momentum_skip: int = 21
    quality_lookback: int = 252
    value_lookback: int = 252
    volatility_lookback: int = 60
    winsor_z: float = 3.0

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FACTOR_NAMES)
        if unknown:
            raise ConfigError(
                f"unknown factor(s) in `weights`: {', '.join(sorted(unknown))}; "
                f"valid: {', '.join(FACTOR_NAMES)}"
            )
        bad = {k: w for k, w in self.weights.items() if not (math.isfinite(w) and w >= 0)}
        if bad:
            raise ConfigError(f"factor weight(s) {', '.join(f'`{k}` = {w}' for k, w in bad.items())} "
                              "must be finite numbers >= 0; fix [factors] weights")
        if sum(self.weights.values()) <= 0:
            raise ConfigError(f"factor `weights` must be >= 0 with a positive sum, got {dict(self.weights)}")
        for name in ("momentum_lookback", "quality_lookback", "value_lookback", "volatility_lookback"):
            _require(getattr(self, name) >= 20, name, ">= 20 trading days", getattr(self, name))
        _require(0 <= self.momentum_skip < self.momentum_lookback, "momentum_skip",
                 "between 0 and momentum_lookback", self.momentum_skip)
        _require(math.isfinite(self.winsor_z) and self.winsor_z > 0, "winsor_z",
                 "a finite number > 0 (z-scores are clipped to +-winsor_z)", self.winsor_z)

    @property
    def min_history(self) -> int:
        """Trading days of history a ticker needs for every factor."""
        return max(self.momentum_lookback, self.quality_lookback, self.value_lookback,
                   self.volatility_lookback) + 1


@dataclass(frozen=True)
class OptimizerConfig:
    """Settings passed to :mod:`optimizers` (PyPortfolioOpt does the maths)."""

    risk_aversion: float = 1.5
    max_weight: float = 0.15
    min_weight: float = 0.02
    information_coefficient: float = 0.05
    risk_free_rate: float = 0.0
    cov_lookback: int = 252
    solver: str = "CLARABEL"
    cvar_beta: float = 0.95
    bl_view_confidence: float = 0.0
    barbell_sleeve: float = 0.10
    barbell_size: int = 2
    barbell_core: str = "minvar"
    risk_budgets: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ticker, budget in self.risk_budgets.items():
            _require(math.isfinite(budget) and budget > 0, f"risk_budgets.{ticker}",
                     "a relative risk budget > 0 (unlisted tickers have 1)", budget)
        _require(isinstance(self.cvar_beta, (int, float)) and 0.5 <= self.cvar_beta < 1, "cvar_beta",
                 "a confidence level in [0.5, 1), e.g. 0.95", self.cvar_beta)
        _require(math.isfinite(self.bl_view_confidence) and 0 <= self.bl_view_confidence < 1, "bl_view_confidence",
                 "in [0, 1) (0 = the information coefficient)", self.bl_view_confidence)
        _require(math.isfinite(self.barbell_sleeve) and 0 < self.barbell_sleeve < 1, "barbell_sleeve",
                 "a share of the portfolio in (0, 1), e.g. 0.10", self.barbell_sleeve)
        _require(isinstance(self.barbell_size, int) and self.barbell_size >= 1, "barbell_size",
                 "a whole number of tickers >= 1", self.barbell_size)
        _require(self.barbell_core in BARBELL_CORES, "barbell_core", f"one of {', '.join(BARBELL_CORES)}",
                 repr(self.barbell_core))
        _require(self.risk_aversion > 0, "risk_aversion", "> 0", self.risk_aversion)
        _require(0 < self.max_weight <= 1, "max_weight", "in (0, 1]", self.max_weight)
        _require(0 <= self.min_weight < self.max_weight, "min_weight", "in [0, max_weight)", self.min_weight)
        _require(self.cov_lookback >= 20, "cov_lookback", ">= 20 trading days", self.cov_lookback)
        for name in ("risk_aversion", "max_weight", "min_weight", "information_coefficient", "risk_free_rate"):
            _require(math.isfinite(getattr(self, name)), name, "a finite number", getattr(self, name))
        _check_solver(self.solver)


#: how the barbell's defensive core may be weighted
BARBELL_CORES = ("minvar", "hrp")
#: the universe columns group limits may name
GROUP_KINDS = ("asset_class", "category")


@dataclass(frozen=True)
class LimitsConfig:
    """Minimum and maximum total weight per ``asset_class`` or ``category`` of the universe file.

    Each key maps a group name to a share of the portfolio, e.g. ``asset_class_min = { "Fixed
    Income" = 0.20 }`` (bonds at least 20%) or ``category_max = { "*" = 0.30 }`` (``*``: every
    category at most 30%). Every optimizer but the 1/N comparison book holds them.
    """

    asset_class_min: Mapping[str, float] = field(default_factory=dict)
    asset_class_max: Mapping[str, float] = field(default_factory=dict)
    category_min: Mapping[str, float] = field(default_factory=dict)
    category_max: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind in GROUP_KINDS:
            lows, highs = getattr(self, f"{kind}_min"), getattr(self, f"{kind}_max")
            for bound, values in (("min", lows), ("max", highs)):
                for name, value in values.items():
                    _require(math.isfinite(value) and 0 <= value <= 1, f"{kind}_{bound}.{name}",
                             "a share of the portfolio between 0 and 1", value)
            if "*" in lows:
                raise ConfigError(f"`{kind}_min` cannot use \"*\" (a minimum for every {kind}); name the groups")
            for name, low in lows.items():
                high = highs.get(name, highs.get("*", 1.0))
                if low > high + 1e-12:
                    raise ConfigError(f"group limit {kind} '{name}': minimum {low:.1%} is above its maximum {high:.1%}")
            total = sum(lows.values())
            if total > 1 + 1e-12:
                raise ConfigError(f"`{kind}_min` asks for {total:.1%} in all ("
                                  + ", ".join(f"{n} {v:.1%}" for n, v in lows.items()) + "), more than 100%")

    @property
    def active(self) -> bool:
        return any(getattr(self, f"{kind}_{bound}") for kind in GROUP_KINDS for bound in ("min", "max"))


@dataclass(frozen=True)
class RebalanceConfig:
    """When to rebalance and how trades are sized and costed.

    ``drift_threshold`` is per optimizer (the seed: 5% for mvo and rankbased, 7.5% for minvar);
    ``drift_override`` (from ``--drift-threshold``) wins over it when set.

    The turnover controls (all applied by the one week step, in the weekly run and the backtest
    alike; ``turnover_control = false`` switches all three off and gives the behaviour before them):

    - ``selection_buffer``: a held ticker stays selected while its composite rank is within
      ``positions + selection_buffer``; a new ticker enters only from the top ``positions``
      (the buy/hold spread of Novy-Marx and Velikov 2016).
    - ``turnover_penalty``: for mvo, minvar, rankbased and cvar, ``k * sum|w - w_current|`` is added to
      the objective (rankbased then solves for the weights closest to its rank weights), with ``k = turnover_penalty * cost_bps / 1e4``: a multiple of the one-way cost,
      so the penalty grows with the costs assumed (and vanishes when trading is free).
    - ``no_trade_band``: when the week rebalances, a position held and in the target whose weight
      is within ``no_trade_band x target weight`` of its target is left as it is (relative, so it
      scales with the number of positions: 0.5 is +-6.25 points at 12.5%, +-2.5 points at 5%).
    """

    drift_threshold: Mapping[str, float] = field(
        default_factory=lambda: {"mvo": 0.05, "minvar": 0.075, "rankbased": 0.05}
    )
    drift_override: float | None = None
    force: bool = False
    min_trade_value: float = 500.0
    cost_bps: float = 5.0
    cost_per_share: float = 0.0
    commission_per_trade: float = 0.0
    commission_min: float = 0.0
    spread_bps: Mapping[str, float] = field(default_factory=dict)
    impact_k: float = 1.0
    max_adv_fraction: float = 0.10
    max_cost_fraction: float = 0.01
    turnover_control: bool = True
    selection_buffer: int = 8
    turnover_penalty: float = 100.0
    no_trade_band: float = 0.5

    def __post_init__(self) -> None:
        _require(isinstance(self.selection_buffer, int) and self.selection_buffer >= 0, "selection_buffer",
                 "a whole number of ranks >= 0", self.selection_buffer)
        _require(math.isfinite(self.turnover_penalty) and self.turnover_penalty >= 0, "turnover_penalty",
                 "a finite number >= 0 (a multiple of the one-way cost)", self.turnover_penalty)
        _require(math.isfinite(self.no_trade_band) and 0 <= self.no_trade_band <= 1, "no_trade_band",
                 "a share of the target weight between 0 and 1", self.no_trade_band)
        for name, value in {**self.drift_threshold, "drift_override": self.drift_override}.items():
            if value is not None and not 0 < value <= 2:
                raise ConfigError(f"drift threshold `{name}` must be in (0, 2], got {value}")
        _require(self.min_trade_value >= 0, "min_trade_value", ">= 0", self.min_trade_value)
        _require(self.cost_bps >= 0, "cost_bps", ">= 0", self.cost_bps)
        _require(self.cost_per_share >= 0, "cost_per_share", ">= 0", self.cost_per_share)
        for name in ("commission_per_trade", "commission_min", "impact_k"):
            _require(math.isfinite(getattr(self, name)) and getattr(self, name) >= 0, name, "a finite number >= 0",
                     getattr(self, name))
        _require(math.isfinite(self.max_adv_fraction) and 0 <= self.max_adv_fraction <= 1, "max_adv_fraction",
                 "a share of the average daily volume between 0 and 1 (0 = no cap)", self.max_adv_fraction)
        _require(math.isfinite(self.max_cost_fraction) and 0 <= self.max_cost_fraction < 1, "max_cost_fraction",
                 "a share of the portfolio between 0 and 1 (0 = never hold back), e.g. 0.01", self.max_cost_fraction)
        for key, value in self.spread_bps.items():
            _require(math.isfinite(value) and 0 <= value < 10_000, f"spread_bps.{key}",
                     "a bid-ask spread in basis points >= 0", value)

    @property
    def buffer(self) -> int:
        """The selection buffer in force (0 with the controls off)."""
        return self.selection_buffer if self.turnover_control else 0

    @property
    def penalty(self) -> float:
        """The L1 turnover coefficient ``k`` in the optimizer's objective (0 with the controls off)."""
        return self.turnover_penalty * self.cost_bps / 1e4 if self.turnover_control else 0.0

    @property
    def band(self) -> float:
        """The no-trade band in force (0 with the controls off)."""
        return self.no_trade_band if self.turnover_control else 0.0

    def threshold_for(self, optimizer: str) -> float:
        """The drift threshold in force for ``optimizer``."""
        if self.drift_override is not None:
            return self.drift_override
        return self.drift_threshold.get(optimizer, 0.05)


#: how a SELL picks the lots it closes (:mod:`etftrader.lots`)
LOT_METHODS = ("fifo", "hifo", "tax_aware")


@dataclass(frozen=True)
class TaxConfig:
    """Tax lots: how sells match lots, when a gain is long-term, which losses are worth harvesting.

    ``lot_method``: ``fifo`` (oldest first), ``hifo`` (highest cost first) or ``tax_aware`` (losses
    first, then long-term lots, highest cost first: the sells that realise the least tax). Nothing
    here ever makes a trade; it decides which lots a sell closes and what the report lists.
    """

    lot_method: str = "fifo"
    long_term_days: int = 365
    harvest_threshold: float = 0.10

    def __post_init__(self) -> None:
        _require(self.lot_method in LOT_METHODS, "lot_method", f"one of {', '.join(LOT_METHODS)}",
                 repr(self.lot_method))
        _require(isinstance(self.long_term_days, int) and self.long_term_days >= 0, "long_term_days",
                 "a whole number of days >= 0", self.long_term_days)
        _require(math.isfinite(self.harvest_threshold) and 0 <= self.harvest_threshold < 1, "harvest_threshold",
                 "a loss as a share of the lot's cost in [0, 1), e.g. 0.10", self.harvest_threshold)


@dataclass(frozen=True)
class ScheduleConfig:
    """When the scheduled weekly run happens (``etftrader schedule``)."""

    day: str = "MON"
    time: str = "09:30"


@dataclass(frozen=True)
class ReportConfig:
    """What happens after the workbook is written."""

    notebook: bool = True
    open_workbook: bool = False
    backups: int = 5

    def __post_init__(self) -> None:
        _require(self.backups >= 0, "backups", ">= 0 (how many earlier versions are kept)", self.backups)


@dataclass(frozen=True)
class RunConfig:
    """How runs that write the ledger behave towards each other and towards the ledger's history.

    ``lock_timeout`` is how many seconds a run waits for another run on the same home folder to
    finish before it stops (exit 9). ``allow_earlier_as_of`` records a week whose as-of date is
    earlier than the last recorded week (otherwise that needs ``--force``).
    """

    lock_timeout: float = 120.0
    allow_earlier_as_of: bool = False

    def __post_init__(self) -> None:
        _require(math.isfinite(self.lock_timeout) and 0 <= self.lock_timeout <= 86400, "lock_timeout",
                 "between 0 and 86400 seconds", self.lock_timeout)


@dataclass(frozen=True)
class Config:
    """The whole configuration of a run. Build with :func:`load_config`, then :meth:`override`."""

    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    data: DataConfig = field(default_factory=DataConfig)
    factors: FactorConfig = field(default_factory=FactorConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    rebalance: RebalanceConfig = field(default_factory=RebalanceConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    tax: TaxConfig = field(default_factory=TaxConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def override(self, **sections: Mapping[str, Any]) -> "Config":
        """A copy with ``section={field: value}`` replaced; ``None`` values are ignored.

        >>> Config().override(portfolio={"positions": 8}).portfolio.positions
        8
        """
        changes = {}
        for section, values in sections.items():
            current = getattr(self, section)
            kept = {k: v for k, v in values.items() if v is not None}
            changes[section] = dataclasses.replace(current, **kept) if kept else current
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for logs and the Metadata sheet)."""
        return dataclasses.asdict(self)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}
_SECTION_CLASSES = {
    "portfolio": PortfolioConfig,
    "data": DataConfig,
    "factors": FactorConfig,
    "optimizer": OptimizerConfig,
    "rebalance": RebalanceConfig,
    "limits": LimitsConfig,
    "tax": TaxConfig,
    "schedule": ScheduleConfig,
    "report": ReportConfig,
    "run": RunConfig,
}


def load_config(path: str | Path | None = None) -> Config:
    """Read a TOML config file (or return the defaults when ``path`` is None).

    Raises
    ------
    ConfigError
        The file is missing or not TOML, or has an unknown section/key or a value of the wrong type.
    """
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; create one with `etftrader init`") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
    sections: dict[str, Any] = {}
    for section, values in raw.items():
        cls = _SECTION_CLASSES.get(section)
        if cls is None:
            raise ConfigError(
                f"{path}: unknown section [{section}]; valid: {', '.join(_SECTION_CLASSES)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{section}] must be a table of keys, got {values!r}")
        sections[section] = _build_section(path, section, cls, values)
    return Config(**sections)


def _build_section(path: Path, section: str, cls: type, values: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"{path}: unknown key `{key}` in [{section}]; valid: {', '.join(fields)}"
            )
        expected = getattr(defaults, key)
        kwargs[key] = _coerce(path, f"{section}.{key}", value, expected)
    return cls(**kwargs)


def _coerce(path: Path, key: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of the default, allowing ints where floats are expected."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float) or (default is None and key.endswith("drift_override")):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, Mapping):
        ok = isinstance(value, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
        )
        value = {k: float(v) for k, v in value.items()} if ok else value
    else:
        ok = True
    if not ok:
        raise ConfigError(
            f"{path}: `{key}` must be {type(default).__name__}, got {value!r} ({type(value).__name__})"
        )
    return value


def _require(ok: bool, name: str, expectation: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"`{name}` must be {expectation}, got {got}")


def _check_solver(solver: str) -> None:
    """A solver name cvxpy knows and has installed (imported only for a non-default name)."""
    if solver == "CLARABEL":
        return
    if solver == "ECOS" or solver == "ECOS_BB":
        hint = "; ECOS is no longer installed with cvxpy, use CLARABEL"
    else:
        hint = ""
    if solver in _KNOWN_SOLVERS:
        import cvxpy

        installed = cvxpy.installed_solvers()
        if solver in installed:
            return
        raise ConfigError(f"`solver` {solver!r} is not installed{hint}; installed: {', '.join(installed)}")
    raise ConfigError(f"`solver` must be a cvxpy solver name such as CLARABEL, SCS or OSQP, got {solver!r}")


DEFAULT_CONFIG_TOML = """\
# etftrader configuration. Every key is optional: a missing key keeps the default shown here.
# Command-line flags (--capital, --positions, --optimizer, --drift-threshold, ...) override this file.

[portfolio]
capital = 1000000.0        # starting cash on the first run; later runs value what the workbook says you hold
positions = 20             # how many ETFs the target portfolio holds (top N by composite score)
optimizer = "mvo"          # mvo | minvar | rankbased | hrp | riskparity | cvar | blacklitterman | barbell

[data]
source = "yfinance"        # yfinance | file | sample (sample = bundled demo universe, offline)
prices_file = ""           # for source = "file": a CSV or parquet, wide (date x tickers) or long (date, ticker, close[, volume])
universe = ""              # CSV of tickers (ticker, name, asset_class, category); empty = the bundled US ETF list
benchmark = "SPY"          # compared against in reports and the backtest
history_days = 1095        # calendar days fetched on the first download
overlap_days = 5           # an incremental update re-fetches this many days to catch revisions
download_timeout = 60.0    # seconds one download call (a chunk of up to 100 tickers) may take
download_retries = 3       # retries with backoff when a download fails
max_ffill_days = 5         # gaps up to this many trading days are forward-filled; longer gaps stay missing
max_missing_fraction = 0.1 # drop a ticker missing more than this share of days in its lookback window
stale_days = 10            # drop a ticker whose price has not changed for this many trading days
max_daily_move = 0.45      # a one-day move larger than this is set aside until it holds 3 sessions (a close that comes back is a bad print, repaired)
min_dollar_volume = 100000.0  # drop a ticker whose median daily dollar volume is lower (when volume is known)
accept_prices = []         # held tickers whose latest price you checked and accept although a quality rule rejects it

[factors]
# weights of the composite score; they are normalised to sum to 1. The seed's example: 0.30 0.30 0.20 0.20
weights = { momentum = 0.25, quality = 0.25, value = 0.25, volatility = 0.25 }
momentum_lookback = 252    # 12-1 month momentum: return over 252 trading days...
momentum_skip = 21         # ...skipping the most recent 21
quality_lookback = 252
value_lookback = 252
volatility_lookback = 60   # the seed uses 60 to 90 days
winsor_z = 3.0             # z-scores are clipped to +-winsor_z before they are combined

[optimizer]
risk_aversion = 1.5        # mvo only: higher = more conservative
max_weight = 0.15          # no position above this weight (raised to 1/positions when needed to be feasible)
min_weight = 0.02          # no selected position below this weight
information_coefficient = 0.05  # Grinold: expected alpha = IC x volatility x score
risk_free_rate = 0.0       # annual, for Sharpe ratios
cov_lookback = 252         # trading days in the Ledoit-Wolf covariance
solver = "CLARABEL"        # cvxpy solver for PyPortfolioOpt (ECOS is not installed with current cvxpy)
cvar_beta = 0.95           # cvar: the confidence level of the conditional value at risk it minimises
bl_view_confidence = 0.0   # blacklitterman: confidence in the score views, 0-1 (0 = the information coefficient)
barbell_sleeve = 0.10      # barbell: total weight of the aggressive sleeve (highest momentum)
barbell_size = 2           # barbell: tickers in the aggressive sleeve
barbell_core = "minvar"    # barbell: the defensive core's method, minvar | hrp
risk_budgets = {}          # riskparity: relative risk budgets by ticker, e.g. { USMV = 2.0 }; unlisted tickers have 1

[rebalance]
drift_threshold = { mvo = 0.05, minvar = 0.075, rankbased = 0.05 }
force = false              # same as --force-rebalance
min_trade_value = 500.0    # trades smaller than this (in currency) are skipped and reported
cost_bps = 5.0             # estimated cost per trade, basis points of its value
cost_per_share = 0.0       # plus this much per share
commission_per_trade = 0.0 # plus this much per trade...
commission_min = 0.0       # ...with at least this commission per trade
spread_bps = {}            # full bid-ask spread in bps, half paid per trade: by ticker, asset class or "*", e.g. { "*" = 2.0, "Fixed Income" = 1.0 }
impact_k = 1.0             # market impact k x daily vol x sqrt(shares / 20-day ADV) x value (square-root law; needs volume)
max_adv_fraction = 0.1     # no trade above this share of the 20-day average daily volume (0 = no cap; needs volume)
max_cost_fraction = 0.01   # a rebalance whose estimated costs exceed this share of the portfolio is held back unless forced (0 = never)
# Turnover controls (docs/turnover.md has the evidence behind the defaults):
turnover_control = true    # false switches the three below off (the behaviour before them)
selection_buffer = 8       # a held ETF stays selected while its rank is within positions + this
turnover_penalty = 100.0   # mvo/minvar/rankbased: L1 penalty on the weight change, as a multiple of the one-way cost
no_trade_band = 0.5        # when rebalancing, leave a position within this share of its target weight (0.5 = +-50%)

[limits]
# Total weight per asset_class or category of the universe file (the sample has categories:
# US Factor and the stocks' sectors). "*" = every group. For example:
#   asset_class_min = { "Fixed Income" = 0.20 }   # bonds at least 20%
#   category_max = { "*" = 0.30 }                  # any one category at most 30%
asset_class_min = {}
asset_class_max = {}
category_min = {}
category_max = {}

[tax]
lot_method = "fifo"        # which lots a sell closes: fifo | hifo | tax_aware (losses first, then long-term, highest cost first)
long_term_days = 365       # a gain on a lot held longer than this is long-term
harvest_threshold = 0.1    # the report lists lots with an unrealised loss beyond this share of their cost

[schedule]
day = "MON"                # etftrader schedule: day of the weekly run
time = "09:30"

[report]
notebook = true            # render notebooks/06_portfolio_monitoring.ipynb to HTML after each run
open_workbook = false      # open the workbook in Excel after the run (Windows and macOS, needs xlwings)
backups = 5                # how many earlier versions of the workbook are kept in results/backups/

[run]
lock_timeout = 120.0       # seconds a run waits for another run on this home folder before it stops (exit 9)
allow_earlier_as_of = false  # record a week whose --as-of is before the last recorded week (else pass --force)
"""
