"""Band repair by exact packing: the units of a few neighbouring territories re-assigned among them, centres fixed,
by CP-SAT, every band of every metric held exactly.

Heavy-tailed potential makes the bands a packing problem: on the national hospital universe (catchment potential,
K = 100) New York's hospitals each hold 0.2-0.3 of a territory's band, and the territories there need three of them
plus a few small units from farther away. The flow rounds that badly and the neighbourhood search's re-solves keep
missing it (two territories stay 7-11 % over their band); CP-SAT on the 20 nearest territories' 264 units finds an
alignment inside every band 0.7 % above the out-of-band one.

A group is the out-of-band territory and its nearest neighbours (whole territories, nearest centre first) until they
hold `_GROUP_UNITS` units and their bands can hold the group's totals (`lns.group_of`). Each unit may go to any
territory of the group that its rules allow; a centre stays in its own territory. Costs and metrics are scaled to
integers: the metrics finely (a group's total to 2^40, so rounding moves a total by under 1e-9 of a band), and the
result is checked against the float bands before it is kept. Work caps end each model (CP-SAT's deterministic time,
one worker, a fixed seed), so the same inputs give the same alignment; the clock only cuts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from terrplan.budget import TimeBudget
from terrplan.model import Alignment, Problem, bands_hold, in_band, objective
from terrplan.solve.lns import group_of

_GROUP_UNITS = 400  # units in a group, at least (the hospital case above needed about 250)
_WORK = 10.0  # CP-SAT deterministic time per group (about 10-15 s of wall time on a 400-unit group)
_MOST_CELLS = 100_000  # units x territories of the largest group modelled
_COST_SCALE = 2.0**40  # the group's largest possible objective maps to about this many integer units
_METRIC_SCALE = 2.0**40  # and each metric's group total to this many


@dataclass(frozen=True)
class Packed:
    """The alignment after the packing steps, its objective and the groups solved."""

    territory: np.ndarray
    value: float
    groups: int


def repair(problem: Problem, territory: np.ndarray, centres: np.ndarray, seed: int, budget: TimeBudget) -> Packed:
    """Each territory outside a band, in id order, anchors one group; a group's result is kept when every band of
    the group holds (the other territories are untouched). A second pass takes groups twice as large around the
    territories still outside. Ends when every band holds, each anchor had its turns, or the budget is spent.

    A group that failed is not modelled again while its units lie as they did: the same model fails the same way
    (on `hospitals_k200` a group of 49 territories held 17 of the 26 anchors and failed each time, 11-35 s a try)."""
    territory = np.array(territory, dtype=np.int64)
    groups = 0
    failed: set[tuple[bytes, bytes]] = set()
    for size in (_GROUP_UNITS, 2 * _GROUP_UNITS):
        for anchor in np.flatnonzero(~in_band(problem, territory)):
            if budget.expired() or bands_hold(problem, territory):
                break
            if in_band(problem, territory)[anchor]:  # an earlier group mended it
                continue
            group = group_of(problem, territory, centres, int(anchor), size, fit=True)
            key = (group.tobytes(), territory[np.isin(territory, group)].tobytes())  # the group, how its units lie
            if key in failed:
                continue
            found = _pack(problem, territory, centres, group, seed, budget)
            groups += 1
            if found is None:
                failed.add(key)
            else:
                territory = found
    return Packed(territory, objective(problem, Alignment(territory, centres)), groups)


def mend_whole(
    problem: Problem, territory: np.ndarray, centres: np.ndarray, seed: int, budget: TimeBudget
) -> Packed | None:
    """Where one group holds every territory outside a band, that group packed, before any other repair; None where
    no group holds them all, or its packing fails.

    Heavy tails gather where the big units are: on `hospitals_k100` all 8 territories outside lie in the group of
    27 around New York, and packing it costs 0.2 % of the objective, where the neighbourhood repair's steps (kept
    whenever the band excess falls) cost 37 % and its later steps did not win that back within the run (gap 43 %
    against 18 % at 120 s). Scattered misses (`national` with a second metric: 13 outside, at most 2 in a group)
    and a metro whose group cannot be packed (`hospitals_k200`: 17 of 26) go to the neighbourhood repair first."""
    outside = np.flatnonzero(~in_band(problem, territory))
    for anchor in outside:
        group = group_of(problem, territory, centres, int(anchor), _GROUP_UNITS, fit=True)
        if np.isin(outside, group).all():
            found = _pack(problem, territory, centres, group, seed, budget)
            if found is None:
                return None
            return Packed(found, objective(problem, Alignment(found, centres)), 1)
    return None


def _pack(
    problem: Problem, territory: np.ndarray, centres: np.ndarray, group: np.ndarray, seed: int, budget: TimeBudget
) -> np.ndarray | None:
    """The group's units re-assigned among the group's territories inside every band, at least travel; None when
    CP-SAT finds nothing within its work (or proves the group cannot hold its bands)."""
    units = np.flatnonzero(np.isin(territory, group))
    if len(units) * len(group) > _MOST_CELLS:
        return None  # no neighbourhood of a model's size can hold the bands (group_of took every territory)
    cost = problem.travel_matrix(units, centres[group])
    allowed = np.ones(cost.shape, dtype=bool)
    rules = problem.rules
    current = np.searchsorted(group, territory[units])
    if rules is not None:
        cost = cost + rules.move_penalty(units[:, None], group[None, :])
        allowed = rules.allowed(units[:, None], group[None, :], problem.n_territories)
        if not allowed[np.arange(len(units)), current].all():
            return None  # a lock or forbidden pair the current alignment breaks: not this repair's to mend
        # the distance limit as the flow keeps it (assign.Arcs): where some centre of the group meets it
        near = allowed & (problem.distance_matrix(units, centres[group]) <= rules.max_distance)
        allowed = np.where(near.any(axis=1)[:, None], near, allowed)
    if not problem.fixed:  # a centre (a unit) stays in its own territory, where its rules allow it there
        own = np.searchsorted(units, centres[group]).clip(max=len(units) - 1)
        pinned = (units[own] == centres[group]) & allowed[own, np.arange(len(group))]
        allowed[own[pinned], :] = False
        allowed[own[pinned], np.flatnonzero(pinned)] = True
    model = cp_model.CpModel()
    rows, cols = np.nonzero(allowed)
    x = [model.NewBoolVar(f"x{i}_{g}") for i, g in zip(rows, cols, strict=True)]
    for first, last in itertools.pairwise(np.searchsorted(rows, np.arange(len(units) + 1))):  # rows ascend
        model.AddExactlyOne(x[first:last])
    for m in range(problem.metrics.shape[0]):
        amount = problem.metrics[m, units]
        most, least = float(amount[amount > 0].sum()), float(amount[amount < 0].sum())  # any load lies in between
        if (problem.upper[m, group] < least).any() or (problem.lower[m, group] > most).any():
            return None  # no split of these units holds this band
        if most == least:
            continue  # nothing of this metric here: every load is 0, inside every band
        scale = _METRIC_SCALE / (most - least)
        weights = np.rint(amount[rows] * scale).astype(np.int64)
        for g, t in enumerate(group):
            on = np.flatnonzero(cols == g)
            load = cp_model.LinearExpr.WeightedSum([x[e] for e in on], weights[on].tolist())
            upper, lower = float(problem.upper[m, t]), float(problem.lower[m, t])
            if upper < most:  # a bound no load can break needs no constraint (nor an integer past int64)
                model.Add(load <= int(np.floor(upper * scale)))
            if lower > least:
                model.Add(load >= int(np.ceil(lower * scale)))
    spread = float(np.abs(cost[rows, cols]).max(initial=0.0)) * len(units)
    prices = np.rint(cost[rows, cols] * (_COST_SCALE / max(spread, 1e-300))).astype(np.int64)
    model.Minimize(cp_model.LinearExpr.WeightedSum(x, prices.tolist()))
    for e, (i, g) in enumerate(zip(rows, cols, strict=True)):
        model.AddHint(x[e], bool(current[i] == g))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed % 2**31
    solver.parameters.max_deterministic_time = _WORK
    solver.parameters.max_time_in_seconds = max(budget.remaining(), 0.01)
    if solver.Solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    chosen = np.array([solver.Value(v) for v in x], dtype=bool)
    trial = territory.copy()
    trial[units[rows[chosen]]] = group[cols[chosen]]
    return trial if in_band(problem, trial)[group].all() else None  # the float bands, not the scaled ones
