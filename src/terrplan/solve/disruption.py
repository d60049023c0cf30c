"""A lower bound on the disruption cost any alignment within the bands must pay.

A territory whose current (home) units hold more of the primary metric than its upper band must let at least the
excess go; the cheapest way to do that is a fractional knapsack over its home units by move cost per unit of
metric. Territories have disjoint home units, so the floors add up. Added to the travel bound (which ignores
disruption), the sum stays a valid lower bound on travel + disruption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from terrplan.config import Disruption as DisruptionConfig
from terrplan.model import Problem, band_excess
from terrplan.solve.assign import primary_metric


def forced_move(problem: Problem, home: np.ndarray, row: int | None) -> float:
    """Least amount of metric `row` that must leave its home territory (`home`, -1: none) for the bands to hold:
    what lies above the upper bands, or (when every unit has a home) below the lower bands, whichever is larger."""
    if row is None:
        return 0.0
    placed = home >= 0
    totals = np.zeros(problem.band_shape)
    totals[row] = np.bincount(home[placed], weights=problem.metrics[row][placed], minlength=problem.n_territories)
    excess = band_excess(problem, totals)[row]
    above = totals[row] > problem.upper[row]
    over = float(excess[above].sum())
    if not placed.all():
        return over  # units without a home could fill any shortfall without a move
    return max(over, float(excess[~above].sum()))


def disruption_floor(problem: Problem) -> float:
    """Least disruption cost the bands force (0 without move costs or a primary metric)."""
    rules, row = problem.rules, primary_metric(problem)
    if rules is None or row is None or not (rules.move_cost > 0).any():
        return 0.0
    amount = problem.metrics[row]
    if (amount < 0).any():
        return 0.0  # negative amounts could offset an excess without moving it: no floor
    floor = 0.0
    for t in range(problem.n_territories):
        home = np.flatnonzero(rules.home == t)
        excess = amount[home].sum() - problem.upper[row, t]
        if len(home) == 0 or not excess > 0:
            continue
        home = home[amount[home] > 0]
        ratio = rules.move_cost[home] / amount[home]
        order = np.argsort(ratio, kind="stable")
        carried = np.cumsum(amount[home][order])
        full = int(np.searchsorted(carried, excess))  # units moved whole before the one that covers the rest
        paid = rules.move_cost[home][order][:full].sum()
        left = excess - (carried[full - 1] if full else 0.0)
        floor += float(paid + left * ratio[order][min(full, len(order) - 1)])
    return floor


@dataclass(frozen=True)
class Budget:
    """What may change territory: a share of potential, a number of accounts, a share of each territory's."""

    share: float | None = None
    accounts: int | None = None
    per_territory: float | None = None

    @classmethod
    def from_config(cls, disruption: DisruptionConfig) -> Budget:
        return cls(disruption.budget, disruption.budget_accounts, disruption.budget_per_territory)

    @property
    def set(self) -> bool:
        return self.share is not None or self.accounts is not None or self.per_territory is not None

    def breaches(
        self, potential: np.ndarray, home: np.ndarray, territory: np.ndarray, names: Sequence[str] | None = None
    ) -> list[str]:
        """Each limit the move from `home` (-1: none, never a move) to `territory` breaks, in words."""
        moved = (home >= 0) & (territory != home)
        total = float(potential[home >= 0].sum())
        out = []
        if self.share is not None and potential[moved].sum() > self.share * total + 1e-9 * max(total, 1.0):
            out.append(f"{potential[moved].sum() / total:.1%} of potential moves, over the budget of {self.share:.1%}")
        if self.accounts is not None and moved.sum() > self.accounts:
            out.append(f"{int(moved.sum())} accounts move, over the budget of {self.accounts}")
        if self.per_territory is not None:
            k = int(max(home.max(initial=-1), territory.max(initial=-1))) + 1
            held = np.bincount(home[home >= 0], weights=potential[home >= 0], minlength=k)
            left = np.bincount(home[moved], weights=potential[moved], minlength=k)
            for t in np.flatnonzero(left > self.per_territory * held + 1e-9 * np.maximum(held, 1.0)):
                name = names[t] if names is not None else f"territory {t + 1}"
                out.append(
                    f"{name} loses {left[t] / held[t]:.1%} of its potential, over the per-territory budget of "
                    f"{self.per_territory:.1%}"
                )
        return out
