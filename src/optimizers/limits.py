"""Group limits: a minimum and a maximum total weight per asset class or category.

A :class:`GroupLimit` says "the tickers of this group hold between ``low`` and ``high`` of the
portfolio" (for example ``asset_class 'Fixed Income'`` at least 20%, or every ``category`` at most
30%). The optimizers that solve a problem (``mvo``, ``minvar``, ``cvar``, ``blacklitterman`` and
the core of ``barbell``) carry them as linear constraints in that problem, through
PyPortfolioOpt's ``add_constraint`` (the same constraints ``add_sector_constraints`` writes). The
methods that compute weights by a rule (``rankbased``, ``hrp``, ``riskparity``, the last-resort
``equal``) have their weights moved to the nearest weights (least squares) that meet the limits and
the per-position bounds: :func:`project`.

:func:`check_feasible` tells, before any solve, whether the limits can be met by the selected
tickers within the per-position bounds, and raises :class:`InfeasibleLimits` with one line naming
the group and the numbers when they cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = ["GroupLimit", "InfeasibleLimits", "breaches", "check_feasible", "masks", "project"]

#: How far a weight sum may sit outside a limit after cleaning (5-decimal rounding and the refit)
TOLERANCE = 1e-4


class InfeasibleLimits(ValueError):
    """The group limits cannot be met by the selected tickers within the per-position bounds."""


@dataclass(frozen=True)
class GroupLimit:
    """Tickers of one group hold between ``low`` and ``high`` of the portfolio in total.

    Attributes
    ----------
    kind : str
        The universe column the group comes from: ``asset_class`` or ``category``.
    name : str
        The group's name in that column (``Fixed Income``).
    members : frozenset of str
        Every ticker of the universe in the group (not only the selected ones).
    low, high : float
        Total weight bounds, ``0 <= low <= high <= 1``.
    """

    kind: str
    name: str
    members: frozenset[str]
    low: float = 0.0
    high: float = 1.0

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.name}'"

    def describe(self) -> str:
        parts = []
        if self.low > 0:
            parts.append(f"at least {self.low:.1%}")
        if self.high < 1:
            parts.append(f"at most {self.high:.1%}")
        return f"{self.label} {' and '.join(parts) or 'unlimited'}"


def masks(limits: Sequence[GroupLimit], tickers: Sequence[str]) -> np.ndarray:
    """Membership matrix of shape (n_limits, n_tickers): 1.0 where the ticker is in the group."""
    names = [str(t) for t in tickers]
    return np.array([[1.0 if t in g.members else 0.0 for t in names] for g in limits],
                    dtype="float64").reshape(len(limits), len(names))


def check_feasible(limits: Sequence[GroupLimit], tickers: Sequence[str], lower: float, upper: float) -> None:
    """Raise :class:`InfeasibleLimits` (one line) when no weights meet the limits and the bounds.

    Each group is checked on its own first, so the message can name it and give its numbers: its
    selected tickers can hold at most ``count * upper`` and must hold at least ``count * lower``.
    Then the limits are checked together with a small linear programme.
    """
    if not limits:
        return
    n = len(tickers)
    member = masks(limits, tickers)
    for g, row in zip(limits, member):
        count = int(row.sum())
        most, least = min(count * upper, 1.0), count * lower
        if most < g.low - 1e-9:
            raise InfeasibleLimits(
                f"group limit {g.label} needs at least {g.low:.1%} but {count} of the {n} selected tickers "
                f"belong to it, at most {upper:.1%} each ({most:.1%} in all); lower the minimum, raise "
                "max_weight or hold more positions")
        if least > g.high + 1e-9:
            raise InfeasibleLimits(
                f"group limit {g.label} allows at most {g.high:.1%} but its {count} selected tickers must "
                f"each hold at least min_weight {lower:.1%} ({least:.1%} in all); raise the maximum or "
                "lower min_weight")
    from scipy.optimize import linprog

    a_ub = np.vstack([member, -member])
    b_ub = np.concatenate([[g.high for g in limits], [-g.low for g in limits]])
    found = linprog(np.zeros(n), A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, n)), b_eq=[1.0],
                    bounds=[(lower, upper)] * n, method="highs")
    if found.status != 0:
        shown = "; ".join(g.describe() for g in limits)
        raise InfeasibleLimits(
            f"the group limits cannot all be met by the {n} selected tickers at {lower:.1%}-{upper:.1%} "
            f"each ({shown}); loosen one of them")


def breaches(weights: np.ndarray, tickers: Sequence[str], limits: Sequence[GroupLimit],
             tolerance: float = TOLERANCE) -> list[str]:
    """The limits ``weights`` break by more than ``tolerance``, as ``label total`` strings."""
    if not limits:
        return []
    totals = masks(limits, tickers) @ np.asarray(weights, dtype="float64")
    return [f"{g.label} {total:.2%} (limits {g.low:.1%}-{g.high:.1%})"
            for g, total in zip(limits, totals) if total < g.low - tolerance or total > g.high + tolerance]


def add_to(optimizer: object, limits: Sequence[GroupLimit], tickers: Sequence[str]) -> None:
    """Add the limits to a PyPortfolioOpt optimizer as linear constraints (``add_constraint``)."""
    for g, row in zip(limits, masks(limits, tickers)):
        if g.low > 0:
            optimizer.add_constraint(lambda w, row=row, low=g.low: row @ w >= low)
        if g.high < 1:
            optimizer.add_constraint(lambda w, row=row, high=g.high: row @ w <= high)


def project(weights: np.ndarray, tickers: Sequence[str], limits: Sequence[GroupLimit], lower: float,
            upper: float, solver: str = "CLARABEL") -> np.ndarray:
    """The weights nearest to ``weights`` (least squares) that meet the limits and the bounds."""
    import cvxpy as cp

    start = np.asarray(weights, dtype="float64")
    if not breaches(start, tickers, limits, tolerance=0.0):
        return start
    member = masks(limits, tickers)
    w = cp.Variable(start.size)
    constraints = [cp.sum(w) == 1, w >= lower, w <= upper,
                   member @ w >= np.array([g.low for g in limits]),
                   member @ w <= np.array([g.high for g in limits])]
    problem = cp.Problem(cp.Minimize(cp.sum_squares(w - start)), constraints)
    problem.solve(solver=solver)
    if w.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(f"the weights could not be fitted into the group limits (status {problem.status})")
    return np.asarray(w.value, dtype="float64")


def members_of(column: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """``{group: tickers}`` from ``(ticker, group)`` pairs; blank groups are left out."""
    groups: dict[str, set[str]] = {}
    for ticker, group in column:
        group = str(group).strip()
        if group:
            groups.setdefault(group, set()).add(str(ticker))
    return {name: frozenset(tickers) for name, tickers in groups.items()}
