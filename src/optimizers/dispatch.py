"""The one entry point: :func:`optimize` runs a method and falls back when it fails.

Each method has a chain of simpler methods behind it (:data:`FALLBACKS`): ``mvo -> minvar ->
rankbased -> equal``, ``minvar -> rankbased -> equal``, ``rankbased -> equal``, and the other five
(``hrp``, ``riskparity``, ``cvar``, ``blacklitterman``, ``barbell``) ``-> minvar -> rankbased -> equal``.
Group limits (:mod:`optimizers.limits`) hold whichever method produced the weights; limits that
cannot be met raise :class:`optimizers.limits.InfeasibleLimits` before any solve. Solver trouble
(an infeasible or failed solve, a covariance that cannot be estimated) never raises: the next
method in the chain runs and :attr:`PortfolioResult.fallback_reason` says what happened. Bad
arguments (an unknown method, scores missing for a ticker) do raise ``ValueError``: they are bugs
or configuration mistakes that a fallback would hide.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .barbell import CORE_METHODS
from .base import F64, PortfolioResult, clean_weights, portfolio_performance, shrunk_covariance, weight_bounds
from .black_litterman import view_confidence as view_confidence_for
from .expected_returns import expected_returns_from_scores
from .limits import GroupLimit, breaches, check_feasible, project
from .names import FALLBACKS, OPTIMIZERS

__all__ = ["FALLBACKS", "OPTIMIZERS", "optimize"]

logger = logging.getLogger(__name__)

#: Methods that need the covariance (or the returns of its window)
_RISK_MODEL = ("mvo", "minvar", "hrp", "riskparity", "cvar", "blacklitterman", "barbell")
#: Methods that solve a problem: group limits are constraints in it (the others are fitted into them)
_SOLVED = ("mvo", "minvar", "cvar", "blacklitterman")


def _check_number(name: str, value: object, low: float, high: float, *, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"`{name}` must be a number in {bracket}{low:g}, {high:g}], got {value!r}")
    return float(value)


@functools.lru_cache(maxsize=1)
def _installed_solvers() -> tuple[str, ...]:
    """cvxpy's installed solvers; cached: the lookup is slow and the backtest asks every week."""
    import cvxpy

    return tuple(cvxpy.installed_solvers())


def _check_inputs(method: str, prices: pd.DataFrame, scores: pd.Series, solver: str) -> pd.Series:
    """Scores aligned to the price columns as floats, or ValueError/TypeError saying what is wrong."""
    if method not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {method!r}; valid: {', '.join(OPTIMIZERS)}")
    if not isinstance(prices, pd.DataFrame) or prices.shape[1] == 0:
        raise ValueError("`prices` must be a DataFrame with one column per selected ticker, got none")
    columns = prices.columns.tolist()
    if len(set(columns)) != len(columns):
        raise ValueError("`prices` must have one column per ticker, got duplicate columns")
    if not isinstance(scores, pd.Series):
        raise TypeError(f"`scores` must be a pandas Series by ticker, got {type(scores).__name__}")
    labels = scores.index.tolist()
    if scores.dtype == "float64" and labels == columns:  # already in the columns' order (build_target's)
        aligned = pd.Series(scores.to_numpy(), index=prices.columns, name=scores.name)
    elif scores.dtype == "float64" and len(set(labels)) == len(labels):  # the usual case, without a reindex
        by_ticker = dict(zip(labels, scores.to_numpy().tolist()))
        aligned = pd.Series([by_ticker.get(t, np.nan) for t in columns], index=prices.columns,
                            dtype=F64, name=scores.name)
    else:
        aligned = pd.to_numeric(scores.reindex(prices.columns), errors="coerce")
    missing = [str(t) for t, v in zip(aligned.index.tolist(), aligned.to_numpy(dtype=F64).tolist())
               if not np.isfinite(v)]
    if missing:
        raise ValueError(
            f"`scores` must hold a finite score for every selected ticker; missing or NaN for: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}"
        )
    installed = _installed_solvers()
    if not isinstance(solver, str) or solver.upper() not in installed:
        raise ValueError(f"`solver` must be an installed cvxpy solver ({', '.join(installed)}), "
                         f"got {solver!r}")
    return aligned if aligned.dtype == "float64" else aligned.astype(F64)


def optimize(
    method: str,
    prices: pd.DataFrame,
    scores: pd.Series,
    *,
    risk_aversion: float = 1.5,
    max_weight: float = 0.15,
    min_weight: float = 0.02,
    information_coefficient: float = 0.05,
    risk_free_rate: float = 0.0,
    cov_lookback: int = 252,
    solver: str = "CLARABEL",
    current_weights: pd.Series | None = None,
    turnover_penalty: float = 0.0,
    cvar_beta: float = 0.95,
    momentum: pd.Series | None = None,
    view_confidence: float = 0.0,
    barbell_cap: float = 0.10,
    barbell_size: int = 2,
    barbell_core: str = "minvar",
    limits: Sequence[GroupLimit] = (),
    risk_budgets: Mapping[str, float] | None = None,
) -> PortfolioResult:
    """Weights for the selected tickers by ``method``, falling back when it cannot solve.

    Every method's expected return, volatility and Sharpe ratio come from the same Ledoit-Wolf
    covariance and score-based expected returns, so the numbers of ``rankbased`` compare with
    those of ``mvo`` and ``minvar``.

    Parameters
    ----------
    method : {"mvo", "minvar", "rankbased", "hrp", "riskparity", "cvar", "blacklitterman", "barbell"}
        ``mvo``: PyPortfolioOpt ``max_quadratic_utility`` (:mod:`optimizers.mean_variance`);
        ``minvar``: ``min_volatility`` (:mod:`optimizers.min_variance`); ``rankbased``: weights
        proportional to score rank (:mod:`optimizers.rank_based`); ``hrp``, ``riskparity`` and
        ``cvar``: hierarchical risk parity, equal risk contribution and minimum CVaR
        (:mod:`optimizers.risk_based`); ``blacklitterman``: mean-variance on Black-Litterman
        returns with the scores as views (:mod:`optimizers.black_litterman`); ``barbell``: a
        minimum-variance core and a momentum sleeve (:mod:`optimizers.barbell`).
    prices : DataFrame of shape (n_dates, n_selected)
        Adjusted closes of the selected tickers only, history up to the as-of date.
    scores : Series
        Composite score by ticker; must cover every column of ``prices`` (extra entries ignored).
    risk_aversion : float, default 1.5
        ``mvo``'s utility, and the equilibrium returns every method reports; higher is more
        conservative.
    max_weight, min_weight : float, default 0.15, 0.02
        Per-position bounds; adjusted when infeasible for the number of tickers (see
        :func:`optimizers.base.weight_bounds`), which is recorded in ``notes``.
    information_coefficient : float, default 0.05
        Grinold's IC in ``alpha = IC * volatility * score``, added to the equilibrium returns of
        the equally weighted basket (:mod:`optimizers.expected_returns`).
    risk_free_rate : float, default 0.0
        Annual; for the Sharpe ratio.
    cov_lookback : int, default 252
        Daily returns in the covariance window.
    solver : str, default "CLARABEL"
        Installed cvxpy solver passed to PyPortfolioOpt.
    current_weights : Series, optional
        Weights held now by ticker (of the whole portfolio; missing tickers count as 0).
    turnover_penalty : float, default 0
        ``k`` in ``k * sum|w - current_weights|``, added to the objective of ``mvo`` and
        ``minvar`` (PyPortfolioOpt's ``transaction_cost``) and of ``rankbased``, which then solves
        for the weights closest to its rank weights (:func:`optimizers.rank_based.penalised_rank_weights`);
        equal weight ignores it. ``cvar`` adds it too (PyPortfolioOpt's ``transaction_cost``);
        ``hrp`` and ``riskparity`` have no objective to add it to and ignore it.
    cvar_beta : float, default 0.95
        ``cvar``'s confidence level.
    momentum : Series, optional
        Momentum scores by ticker: ``barbell`` puts its aggressive sleeve in the highest (the
        composite stands in when missing).
    view_confidence : float, default 0
        ``blacklitterman``'s confidence in the score views, in (0, 1); 0 ties it to the information
        coefficient (:mod:`optimizers.black_litterman`).
    barbell_cap, barbell_size, barbell_core : float, int, str
        ``barbell``'s sleeve weight (10%), number of sleeve tickers (2) and core method
        (``minvar`` or ``hrp``), :mod:`optimizers.barbell`.
    limits : sequence of GroupLimit
        Total weight bounds per asset class or category (:mod:`optimizers.limits`): constraints of
        the solved methods, the nearest fitting weights for the others.
    risk_budgets : mapping of ticker to float, optional
        ``riskparity``'s relative risk budgets (a ticker not named has 1); equal risk by default.

    Returns
    -------
    PortfolioResult
        Weights indexed like ``prices.columns``: >= 0, summing to 1, within the bounds.

    Raises
    ------
    ValueError
        For an unknown method or solver, scores missing for a selected ticker, or bad parameters.
    """
    aligned = _check_inputs(method, prices, scores, solver)
    risk_aversion, max_weight, min_weight, information_coefficient, risk_free_rate, turnover_penalty, \
        cvar_beta, view_confidence, barbell_cap = _check_parameters(
            risk_aversion=risk_aversion, max_weight=max_weight, min_weight=min_weight,
            information_coefficient=information_coefficient, risk_free_rate=risk_free_rate,
            turnover_penalty=turnover_penalty, cvar_beta=cvar_beta, view_confidence=view_confidence,
            barbell_cap=barbell_cap, barbell_size=barbell_size, barbell_core=barbell_core,
            cov_lookback=cov_lookback)
    limits = tuple(limits)
    current = None
    if current_weights is not None and turnover_penalty > 0:
        held = current_weights if current_weights.dtype == F64 else pd.to_numeric(current_weights, errors="coerce")
        by_ticker = dict(zip(held.index.tolist(), held.to_numpy(dtype=F64, na_value=np.nan).tolist()))
        current = np.array([by_ticker.get(t, 0.0) for t in prices.columns.tolist()], dtype=F64)
        current[np.isnan(current)] = 0.0  # what fillna(0.0) did
        if not (np.isfinite(current).all() and (current >= -1e-12).all()):
            raise ValueError("`current_weights` must be finite and >= 0")

    tickers = prices.columns
    n = len(tickers)
    lower, upper, notes = weight_bounds(n, max_weight, min_weight)
    notes = list(notes)
    # Limits that cannot be met are the analyst's to change, not a solver failure to fall back from.
    check_feasible(limits, [str(t) for t in tickers], lower, upper)
    try:
        # Only the covariance window is ever read (shrunk_covariance): converting the whole
        # history (decades for some tickers) cost more than the rest of the call.
        if len(prices) > int(cov_lookback) + 1:  # (build_target hands over the window itself)
            prices = prices.iloc[-(int(cov_lookback) + 1):]
        if prices.to_numpy().dtype != F64:  # a float frame is read as it is (one block: a view)
            prices = prices.astype(F64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"`prices` must hold numbers (adjusted closes), got: {e}") from e

    cov, cov_problem = shrunk_covariance(prices, int(cov_lookback))
    mu = None
    if cov is not None:
        mu = expected_returns_from_scores(aligned, cov,
                                          information_coefficient=information_coefficient,
                                          risk_aversion=risk_aversion,
                                          risk_free_rate=risk_free_rate)
        if not np.isfinite(mu.to_numpy()).all():
            cov, mu, cov_problem = None, None, "the expected returns are not finite"
    if cov_problem:
        notes.append(f"no risk model ({cov_problem}): expected return, volatility and Sharpe are NaN")

    failures: list[str] = []
    weights = None
    used = method
    budgets = None
    if risk_budgets:
        budgets = np.array([float(risk_budgets.get(str(t), 1.0)) for t in tickers])
        if not (np.isfinite(budgets).all() and (budgets > 0).all()):
            raise ValueError("`risk_budgets` must be finite and > 0")
    settings = {"budgets": budgets, "momentum": momentum,
                "confidence": view_confidence_for(information_coefficient, view_confidence),
                "risk_free_rate": risk_free_rate, "cap": barbell_cap, "size": int(barbell_size),
                "core": barbell_core}
    sleeves: dict[str, tuple[str, ...]] = {}
    for candidate in FALLBACKS[method]:
        if cov is None and candidate in _RISK_MODEL:
            # One reason for the whole chain, not one per covariance-based method.
            if not failures:
                failures.append(f"{method} needs a covariance ({cov_problem})")
            continue
        try:
            weights = _weights_by(candidate, n, aligned, mu, cov, lower, upper,
                                  risk_aversion, solver.upper(), current, turnover_penalty,
                                  prices=prices, cvar_beta=cvar_beta, notes=notes, settings=settings,
                                  limits=limits, sleeves=sleeves)
        except Exception as e:  # noqa: BLE001 - any solver failure must fall back, never crash
            failures.append(f"{candidate} failed ({_describe(e)})")
            logger.warning("optimizer %s failed: %s", candidate, _describe(e))
            continue
        used = candidate
        break
    if weights is None:  # pragma: no cover - "equal" cannot fail
        raise RuntimeError("no optimizer produced weights")

    fallback_reason = None
    if used != method:
        fallback_reason = "; ".join(failures) + f"; used {used}"
    mu_values = None if mu is None else mu.to_numpy()
    cov_values = None if cov is None else cov.to_numpy()
    ret, vol, sharpe = portfolio_performance(weights, mu_values, cov_values, risk_free_rate)
    return PortfolioResult(
        weights=pd.Series(weights, index=tickers, name="weight", dtype=F64),
        expected_return=ret,
        expected_volatility=vol,
        expected_sharpe=sharpe,
        requested=method,
        method=used,
        fallback_reason=fallback_reason,
        notes=tuple(notes),
        sleeves=sleeves if used == "barbell" else {},
    )


def _weights_by(candidate: str, n: int, scores: pd.Series, mu: pd.Series | None,
                cov: pd.DataFrame | None, lower: float, upper: float, risk_aversion: float,
                solver: str, current: np.ndarray | None = None, penalty: float = 0.0, *,
                prices: pd.DataFrame | None = None, cvar_beta: float = 0.95,
                notes: list[str] | None = None, settings: dict | None = None,
                limits: tuple[GroupLimit, ...] = (), sleeves: dict | None = None) -> np.ndarray:
    """Weights from one method, within the group limits; raises on any failure so the caller can
    fall back."""
    weights = _method_weights(candidate, n, scores, mu, cov, lower, upper, risk_aversion, solver, current,
                              penalty, prices=prices, cvar_beta=cvar_beta, notes=notes,
                              settings=settings or {}, limits=limits, sleeves=sleeves)
    if not limits:
        return weights
    tickers = [str(t) for t in scores.index]
    if candidate not in _SOLVED + ("barbell",) and breaches(weights, tickers, limits, tolerance=0.0):
        weights = clean_weights(project(weights, tickers, limits, lower, upper, solver), lower, upper)
        if notes is not None:
            notes.append(f"{candidate} weights moved to the nearest weights within the group limits")
    broken = breaches(weights, tickers, limits)
    if broken:
        raise ValueError(f"{candidate} weights break the group limits: {'; '.join(broken)}")
    return weights


def _method_weights(candidate: str, n: int, scores: pd.Series, mu: pd.Series | None,
                    cov: pd.DataFrame | None, lower: float, upper: float, risk_aversion: float,
                    solver: str, current: np.ndarray | None, penalty: float, *,
                    prices: pd.DataFrame | None, cvar_beta: float, notes: list[str] | None,
                    settings: dict, limits: tuple[GroupLimit, ...], sleeves: dict | None) -> np.ndarray:
    """Weights from one method (the solved ones carry ``limits`` as constraints)."""
    from .mean_variance import mean_variance_weights
    from .min_variance import min_variance_weights
    from .rank_based import penalised_rank_weights, rank_weights
    from .risk_based import hrp_weights, min_cvar_weights, risk_parity_weights

    if n == 1:
        return np.ones(1)
    if candidate == "equal":
        return np.full(n, 1.0 / n)
    if candidate == "rankbased":
        if current is not None and penalty > 0:
            return penalised_rank_weights(scores, bounds=(lower, upper), current=current, penalty=penalty,
                                          solver=solver)
        return rank_weights(scores, bounds=(lower, upper))
    if candidate in ("hrp", "riskparity"):
        if candidate == "hrp":
            weights, fitted = hrp_weights(cov, bounds=(lower, upper))
        else:
            weights, fitted = risk_parity_weights(cov, bounds=(lower, upper), solver=solver,
                                                  budgets=settings.get("budgets"))
        if fitted and notes is not None:
            notes.append(f"{candidate} weights fitted into the bounds [{lower:.2%}, {upper:.2%}] "
                         "(its own weights fell outside them)")
        return weights
    if candidate == "barbell":
        from .barbell import barbell_weights

        momentum = settings.get("momentum")
        momentum = momentum if isinstance(momentum, pd.Series) else pd.Series(dtype=F64)
        made = barbell_weights(cov, momentum, scores, cap=settings["cap"], size=settings["size"],
                               core_method=settings["core"], bounds=(lower, upper), solver=solver,
                               current=current, penalty=penalty, limits=limits)
        if notes is not None:
            notes.extend(made.notes)
            notes.append(f"barbell: defensive core ({settings['core']}) {1 - settings['cap']:.1%} in "
                         f"{len(made.core)} tickers; aggressive sleeve {settings['cap']:.1%} in "
                         f"{', '.join(made.sleeve)} (highest momentum)")
        if sleeves is not None:
            sleeves.update({"core": made.core, "sleeve": made.sleeve})
        return made.weights
    if candidate == "blacklitterman":
        from .black_litterman import posterior_returns

        posterior = posterior_returns(scores, cov, confidence=settings["confidence"], risk_aversion=risk_aversion,
                                      risk_free_rate=settings.get("risk_free_rate", 0.0))
        return mean_variance_weights(posterior, cov, risk_aversion=risk_aversion, bounds=(lower, upper),
                                     solver=solver, current=current, penalty=penalty, limits=limits)
    if candidate == "cvar":
        values = prices.to_numpy(dtype=F64)
        with np.errstate(divide="ignore", invalid="ignore"):
            daily = values[1:] / values[:-1] - 1.0
        returns = pd.DataFrame(daily[np.isfinite(daily).all(axis=1)], columns=prices.columns)
        return min_cvar_weights(mu, returns, beta=cvar_beta, bounds=(lower, upper), solver=solver,
                                current=current, penalty=penalty, limits=limits)
    if candidate == "mvo":
        return mean_variance_weights(mu, cov, risk_aversion=risk_aversion, bounds=(lower, upper),
                                     solver=solver, current=current, penalty=penalty, limits=limits)
    return min_variance_weights(cov, bounds=(lower, upper), solver=solver, current=current, penalty=penalty,
                                limits=limits)


def _describe(error: BaseException) -> str:
    """``Type: first line of the message``, short enough for a workbook cell."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _check_parameters(*, risk_aversion, max_weight, min_weight, information_coefficient, risk_free_rate,
                      turnover_penalty, cvar_beta, view_confidence, barbell_cap, barbell_size, barbell_core,
                      cov_lookback) -> tuple[float, ...]:
    """:func:`optimize`'s numeric parameters, checked and as floats (ValueError naming the bad one)."""
    checked = (
        _check_number("risk_aversion", risk_aversion, 0.0, math.inf, low_open=True),
        _check_number("max_weight", max_weight, 0.0, 1.0, low_open=True),
    )
    checked += (
        _check_number("min_weight", min_weight, 0.0, checked[1]),
        _check_number("information_coefficient", information_coefficient, -1.0, 1.0),
        _check_number("risk_free_rate", risk_free_rate, -1.0, 1.0),
        _check_number("turnover_penalty", turnover_penalty, 0.0, math.inf),
        _check_number("cvar_beta", cvar_beta, 0.5, 0.999),
        _check_number("view_confidence", view_confidence, 0.0, 1.0),
        _check_number("barbell_cap", barbell_cap, 0.0, 1.0, low_open=True),
    )
    if isinstance(barbell_size, bool) or not isinstance(barbell_size, (int, np.integer)) or barbell_size < 1:
        raise ValueError(f"`barbell_size` must be a whole number >= 1, got {barbell_size!r}")
    if barbell_core not in CORE_METHODS:
        raise ValueError(f"`barbell_core` must be one of {', '.join(CORE_METHODS)}, got {barbell_core!r}")
    if isinstance(cov_lookback, bool) or not isinstance(cov_lookback, (int, np.integer)) \
            or cov_lookback < 2:
        raise ValueError(f"`cov_lookback` must be an integer >= 2 (trading days), got {cov_lookback!r}")
    return checked
