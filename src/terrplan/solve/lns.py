"""Large-neighbourhood search: ruin a few neighbouring territories and recreate them, keep what improves.

The multi-start search ends in a local optimum of its moves: no single unit, and no single centre swap, improves it.
A group of neighbouring territories re-solved together from fresh seeds escapes that: its units are re-split among
the same territories (so every other territory, and so every band elsewhere, stays as it is) and the group's part
of the objective either falls or the old part is kept. Each step is a whole subproblem (`model.subproblem`) handed
to the same solver, so bands, rules, rep homes and members hold inside it exactly as in the full problem.

Work, not the clock, decides: step i draws its group and its seed from (seed, i) alone, so a run with more steps
repeats every step of a run with fewer and then goes on; as a step is only ever accepted when it lowers the
objective, more effort never returns a worse alignment. The clock only cuts a run short.

`repair` uses the same steps on an alignment outside some band: groups around out-of-band territories, kept when
the band excess falls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from terrplan.budget import TimeBudget
from terrplan.errors import InfeasibleError
from terrplan.model import (
    Alignment,
    Problem,
    Result,
    band_excess,
    band_scale,
    bands_hold,
    objective,
    subproblem,
    territory_totals,
)

# Units re-solved together in one step (a target drawn per step; whole territories are added, nearest first, until
# the group holds that many, and at least two territories). A step's time grows with its units, not its territories.
# Gain in 60 steps on `national` (66 units a territory) from one start, by territories per group: 2-6 0.17 %, 4-10
# 0.54 %, 6-14 (400-900 units) 0.98 %, 8-20 1.14 % at three times the time of 6-14.
_UNITS_MIN, _UNITS_MAX = 400, 900
# Banded problems of this many units and up, below twice _UNITS_MAX, take groups of a quarter to half of their units:
# their multi-start ends in 2-3 s of a 60-s run. The capacitated suite's ASCs of New York (324 units, K = 15): the
# objective 9.3 % lower with effort 1 (groups of 80-160 units), 10.3 % with effort 5; Arizona's 0.6 / 0.9 %.
_MID_UNITS = 300
_GROUP_MIN = 2  # territories in a group, at least
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
    """The search moves centres and re-splits units: not for fixed centres, and a matrix needs its units as sites.
    Nor on small problems, nor on mid-size ones without a band, where a group would be most of the problem: its
    steps would be restarts of the whole, which the multi-start already makes (on `pmed` with K of 40 and more they
    ran every instance to the clock for no gain: pmed30 2,010 either way; the centre search runs there instead)."""
    least = _MID_UNITS if problem.banded else 2 * _UNITS_MAX
    if problem.fixed or problem.n_territories < 2 or problem.n_units < least:
        return False
    return problem.geometry != "matrix" or problem.n_sites == problem.n_units


def group_units(problem: Problem) -> tuple[int, int]:
    """The least and the most units a step's group is drawn to hold: _UNITS_MIN to _UNITS_MAX, on mid-size problems
    a quarter to half of their units."""
    n = problem.n_units
    return min(_UNITS_MIN, n // 4), min(_UNITS_MAX, n // 2)


def search(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    steps: int,
    seed: int,
    budget: TimeBudget,
    solve_part: SolvePart,
    on_kept: Callable[[float, np.ndarray], None] | None = None,
) -> Searched:
    """Up to `steps` ruin-and-recreate steps from an alignment inside every band (the clock may stop it sooner).
    `on_kept` (progress) hears the objective and centres after each kept step."""
    territory, centres = np.array(territory, dtype=np.int64), np.array(centres, dtype=np.int64)
    value = objective(problem, Alignment(territory, centres))
    k = problem.n_territories
    least, most = group_units(problem)
    kept = done = 0
    for step in range(steps):
        if budget.expired():
            break
        done += 1
        rng = np.random.default_rng([seed, step])
        target = int(rng.integers(least, most + 1))
        group = group_of(problem, territory, centres, _anchor(seed, step, k), target)
        before = _part(problem, territory, centres, np.flatnonzero(np.isin(territory, group)), group)
        found = _resolve(problem, territory, centres, group, rng, budget, solve_part)
        if found is None or found[0].status not in ("optimal", "feasible"):
            continue
        if found[0].objective >= before - _IMPROVE_RTOL * max(value, 1):
            continue
        _, trial_territory, trial_centres = found
        trial = objective(problem, Alignment(trial_territory, trial_centres))
        # The subproblem's objective is the group's part of the whole (see model.subproblem); check it anyway, as
        # the whole is what is reported.
        if trial < value and bands_hold(problem, trial_territory):
            territory, centres, value = trial_territory, trial_centres, trial
            kept += 1
            if on_kept is not None:
                on_kept(value, centres)
    return Searched(territory, centres, value, done, kept)


def repair(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    steps: int,
    seed: int,
    budget: TimeBudget,
    solve_part: SolvePart,
    trail: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> Searched:
    """Up to `steps` ruin-and-recreate steps from an alignment outside some band, each on a territory still outside
    its band and enough of its neighbours to hold their bands' total; a step is kept when the total band excess falls
    (or stays and the objective falls). Ends as soon as every band holds. `trail` gets the alignment (territory,
    centres) each kept step replaced, the start first: less band excess is not always easier to pack (`solve` packs
    these earlier ones when the last fails).

    Heavy-tailed potential (one unit over half a territory's band) leaves the whole-problem flow a packing problem
    it rounds badly; a group of a few territories is a small packing problem that the same solver often settles."""
    territory, centres = np.array(territory, dtype=np.int64), np.array(centres, dtype=np.int64)
    excess = _excess(problem, territory)
    value = objective(problem, Alignment(territory, centres))
    least, most = group_units(problem)
    kept = done = 0
    for step in range(steps):
        outside = np.flatnonzero(excess > 0)
        if len(outside) == 0 or budget.expired():
            break
        done += 1
        rng = np.random.default_rng([seed, step, 2])
        target = int(rng.integers(least, most + 1))
        anchor = int(outside[int(rng.integers(len(outside)))])
        group = group_of(problem, territory, centres, anchor, target, fit=True)
        found = _resolve(problem, territory, centres, group, rng, budget, solve_part)
        if found is None:
            continue
        _, trial_territory, trial_centres = found
        trial_excess = _excess(problem, trial_territory)
        trial = objective(problem, Alignment(trial_territory, trial_centres))
        less = trial_excess.sum() < excess.sum() * (1 - 1e-9)
        if less or (trial_excess.sum() <= excess.sum() and trial < value):
            if trail is not None:
                trail.append((territory, centres))
            territory, centres, value, excess = trial_territory, trial_centres, trial, trial_excess
            kept += 1
    return Searched(territory, centres, value, done, kept)


def _resolve(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    group: np.ndarray,
    rng: np.random.Generator,
    budget: TimeBudget,
    solve_part: SolvePart,
) -> tuple[Result, np.ndarray, np.ndarray] | None:
    """The group's units re-solved among the group's territories: the subproblem's result and the whole alignment
    with it put in place; None when the group holds a unit locked elsewhere (an alignment that breaks a lock, a
    rescue's, is not this search's to mend) or its bands cannot be met."""
    units = np.flatnonzero(np.isin(territory, group))
    if _locked_elsewhere(problem, units, group):
        return None
    try:
        found = solve_part(subproblem(problem, units, group), int(rng.integers(2**31 - 1)), budget)
    except InfeasibleError:
        return None
    trial_territory, trial_centres = territory.copy(), centres.copy()
    trial_territory[units] = group[found.alignment.territory]
    trial_centres[group] = units[found.alignment.centres]
    return found, trial_territory, trial_centres


def _excess(problem: Problem, territory: np.ndarray) -> np.ndarray:
    """(K,) each territory's band excess summed over the metrics, each in its row's scale; 0 where in band (the band
    test's own tolerance: `model.in_band`)."""
    scaled = band_excess(problem, territory_totals(problem, territory)) / band_scale(problem)
    return np.where(scaled > 1e-9, scaled, 0.0).sum(axis=0)


def _anchor(seed: int, step: int, k: int) -> int:
    """The territory step `step` starts its group from: every territory once per sweep of k steps, in an order
    drawn per sweep, so the search covers the map evenly and each step depends on (seed, step) only."""
    sweep, position = divmod(step, k)
    return int(np.random.default_rng([seed, sweep, 1]).permutation(k)[position])


def group_of(
    problem: Problem, territory: np.ndarray, centres: np.ndarray, anchor: int, target: int, fit: bool = False
) -> np.ndarray:
    """The anchor territory and the territories whose centres lie nearest its centre, nearest first, until they
    hold `target` units (at least two territories; sorted ids). `fit`: also until the units' totals lie within the
    sums of the group's bands for every metric (else the group cannot be put inside its bands)."""
    if problem.geometry == "matrix":
        assert problem.distances is not None
        near = np.argsort(problem.distances[centres[anchor], centres], kind="stable")
    else:
        points = problem.site_points()[centres]
        _, near = cKDTree(points).query(points[anchor], k=problem.n_territories)
        near = np.atleast_1d(near)
    order = np.array([anchor, *(int(t) for t in near if int(t) != anchor)], dtype=np.int64)
    sizes = np.bincount(territory, minlength=problem.n_territories)[order]
    enough = np.cumsum(sizes) >= target
    enough[: _GROUP_MIN - 1] = False
    if fit:
        held = np.cumsum(territory_totals(problem, territory)[:, order], axis=1)
        low, high = np.cumsum(problem.lower[:, order], axis=1), np.cumsum(problem.upper[:, order], axis=1)
        enough &= ((held >= low - 1e-9 * np.abs(low)) & (held <= high + 1e-9 * np.abs(high))).all(axis=0)
    count = int(np.argmax(enough)) + 1 if enough.any() else problem.n_territories
    return np.sort(order[:count])


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
