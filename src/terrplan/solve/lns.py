"""Large-neighbourhood search: ruin a few neighbouring territories and recreate them, keep what improves.

The multi-start search ends in a local optimum of its moves: no single unit, and no single centre swap, improves it.
A group of neighbouring territories re-solved together from fresh seeds escapes that: its units are re-split among
the same territories (so every other territory, and so every band elsewhere, stays as it is) and the group's part
of the objective either falls or the old part is kept. Each step is a whole subproblem (`model.subproblem`) handed
to the same solver, so bands, rules, rep homes and members hold inside it exactly as in the full problem.

Work, not the clock, decides: step i draws its group and its seed from (seed, i) alone, so a run with more steps
repeats every step of a run with fewer and then goes on; as a step is only ever accepted when it lowers the
objective, more effort never returns a worse alignment. The clock only cuts a run short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from terrplan.budget import TimeBudget
from terrplan.errors import InfeasibleError
from terrplan.model import Alignment, Problem, Result, bands_hold, objective, subproblem

# Units re-solved together in one step (a target drawn per step; whole territories are added, nearest first, until
# the group holds that many, and at least two territories). A step's time grows with its units, not its territories.
# Gain in 60 steps on `national` (66 units a territory) from one start, by territories per group: 2-6 0.17 %, 4-10
# 0.54 %, 6-14 (400-900 units) 0.98 %, 8-20 1.14 % at three times the time of 6-14.
_UNITS_MIN, _UNITS_MAX = 400, 900
_GROUP_MIN = 2  # territories re-solved together in one step (drawn per step)
_IMPROVE_RTOL = 1e-9  # a step is kept when it lowers the objective by more than this (relative)

SolvePart = Callable[[Problem, int, TimeBudget], Result]  # (subproblem, seed, budget) -> its best alignment


@dataclass(frozen=True)
class Searched:
    """What the search ended with: the alignment, its objective, steps run and steps kept."""

    territory: np.ndarray
    centres: np.ndarray
    value: float
    steps: int
    kept: int


def applies(problem: Problem) -> bool:
    """The search moves centres and re-splits units: not for fixed centres, and a matrix needs its units as sites."""
    if problem.fixed or problem.n_territories < 2:
        return False
    return problem.geometry != "matrix" or problem.n_sites == problem.n_units


def search(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    steps: int,
    seed: int,
    budget: TimeBudget,
    solve_part: SolvePart,
) -> Searched:
    """Up to `steps` ruin-and-recreate steps from an alignment inside every band (the clock may stop it sooner)."""
    territory, centres = np.array(territory, dtype=np.int64), np.array(centres, dtype=np.int64)
    value = objective(problem, Alignment(territory, centres))
    k = problem.n_territories
    kept = done = 0
    for step in range(steps):
        if budget.expired():
            break
        done += 1
        rng = np.random.default_rng([seed, step])
        target = int(rng.integers(_UNITS_MIN, _UNITS_MAX + 1))
        group = _group(problem, territory, centres, _anchor(seed, step, k), target)
        units = np.flatnonzero(np.isin(territory, group))
        if _locked_elsewhere(problem, units, group):
            continue  # an alignment that breaks a lock (a rescue's) is not this search's to repair
        before = _part(problem, territory, centres, units, group)
        try:
            found = solve_part(subproblem(problem, units, group), int(rng.integers(2**31 - 1)), budget)
        except InfeasibleError:
            continue
        sub_territory, sub_centres = found.alignment.territory, found.alignment.centres
        if found.status not in ("optimal", "feasible") or found.objective >= before - _IMPROVE_RTOL * max(value, 1):
            continue
        trial_territory, trial_centres = territory.copy(), centres.copy()
        trial_territory[units] = group[sub_territory]
        trial_centres[group] = units[sub_centres]
        trial = objective(problem, Alignment(trial_territory, trial_centres))
        # The subproblem's objective is the group's part of the whole (see model.subproblem); check it anyway, as
        # the whole is what is reported.
        if trial < value and bands_hold(problem, trial_territory):
            territory, centres, value = trial_territory, trial_centres, trial
            kept += 1
    return Searched(territory, centres, value, done, kept)


def _anchor(seed: int, step: int, k: int) -> int:
    """The territory step `step` starts its group from: every territory once per sweep of k steps, in an order
    drawn per sweep, so the search covers the map evenly and each step depends on (seed, step) only."""
    sweep, position = divmod(step, k)
    return int(np.random.default_rng([seed, sweep, 1]).permutation(k)[position])


def _group(problem: Problem, territory: np.ndarray, centres: np.ndarray, anchor: int, target: int) -> np.ndarray:
    """The anchor territory and the territories whose centres lie nearest its centre, nearest first, until they
    hold `target` units (at least two territories; sorted ids)."""
    if problem.geometry == "matrix":
        assert problem.distances is not None
        near = np.argsort(problem.distances[centres[anchor], centres], kind="stable")
    else:
        points = problem.site_points()[centres]
        _, near = cKDTree(points).query(points[anchor], k=problem.n_territories)
        near = np.atleast_1d(near)
    order = np.array([anchor, *(int(t) for t in near if int(t) != anchor)], dtype=np.int64)
    sizes = np.bincount(territory, minlength=problem.n_territories)[order]
    count = max(int(np.searchsorted(np.cumsum(sizes), target)) + 1, _GROUP_MIN)
    return np.sort(order[: min(count, problem.n_territories)])


def _locked_elsewhere(problem: Problem, units: np.ndarray, group: np.ndarray) -> bool:
    if problem.rules is None:
        return False
    locked = problem.rules.locked[units]
    return bool(((locked >= 0) & ~np.isin(locked, group)).any())


def _part(problem: Problem, territory: np.ndarray, centres: np.ndarray, units: np.ndarray, group: np.ndarray) -> float:
    """The group's part of the objective as its subproblem counts it: its units' travel, their disruption when their
    current territory is in the group (the others pay theirs wherever they go), its territories' home term."""
    value = float(problem.travel(units, centres[territory[units]]).sum())
    value += float(problem.home_cost(group, centres[group]).sum())
    if problem.rules is not None:
        own = np.isin(problem.rules.home[units], group)
        value += float(problem.rules.move_penalty(units[own], territory[units[own]]).sum())
    return value
