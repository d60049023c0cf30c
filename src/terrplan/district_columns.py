"""The exact districting model on graphs with few units per territory: every district, then the best plan of them.

When a territory holds only a handful of units (South Carolina's 46 counties into 7 districts), the connected unit
sets whose totals lie inside the band can be listed in full: `columns` grows every connected set from its lowest
unit, never past the band's upper bound, and keeps the sets inside the band whose complement can still be cut
into whole territories (each of its pieces holds j territories' worth, for some whole j). `partition` then picks K
disjoint sets that cover every unit (a set partition, CP-SAT), of least travel, each set's centre its best member.

Both answers are exact: a plan found is the optimum of the contiguous p-median in band (centres in their
territories, as the site model defines it), and no plan means none exists. The listing stops at a work cap
(sets visited, sets kept), so it either finishes the same way every run or reports that it did not (None), and
the caller's search carries on as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from terrplan.budget import TimeBudget
from terrplan.model import BAND_RTOL, Problem, band_excess, band_scale

UNITS_PER_TERRITORY = 8.0  # listed only up to this many units per territory: beyond, the sets run to the billions
VISIT_CAP = 4_000_000  # connected sets grown (South Carolina 7: 2.8 million)
KEEP_CAP = 200_000  # in-band sets kept after the complement check (South Carolina 7: 29,100)
_COST_RANGE = 1e7  # integer scale of the set costs in CP-SAT
_CLOCK_EVERY = 50_000  # sets visited between looks at the clock
_CHUNK = 20_000  # sets priced at a time: (chunk, units) floats


@dataclass(frozen=True)
class Columns:
    """Every connected unit set inside the band that can be part of a plan: membership (sets, units), each set's
    least travel and the member that gives it (its centre)."""

    members: np.ndarray  # (C, n) bool
    cost: np.ndarray  # (C,)
    centre: np.ndarray  # (C,) unit index


@dataclass(frozen=True)
class Plan:
    """The set partition's answer: a territory per unit and its centres (None when there is none), whether that is
    proven (optimal, or no plan at all), and the lower bound on the travel of every contiguous plan in band."""

    territory: np.ndarray | None
    centres: np.ndarray | None
    proven: bool
    bound: float = -np.inf


def columns_apply(problem: Problem, neighbours: list[np.ndarray], interchangeable: bool) -> bool:
    """The listing covers the problem (`listing_applies`) and there are few units per territory."""
    return listing_applies(problem, neighbours, interchangeable) and (
        problem.n_units <= UNITS_PER_TERRITORY * problem.n_territories
    )


def listing_applies(problem: Problem, neighbours: list[np.ndarray], interchangeable: bool) -> bool:
    """Districts can be listed as connected unit sets: interchangeable territories (one band, no rules, no sites;
    the caller knows), units that are the centres' candidates, no islands (they are exempt from contiguity, so they
    are in no connected set), and a band row that caps every set (finite upper, no negative amounts)."""
    return (
        interchangeable
        and problem.geometry != "matrix"
        and all(len(near) for near in neighbours)
        and cap_row(problem) is not None
    )


def cap_row(problem: Problem) -> int | None:
    """The first band row with a finite upper bound and no negative amount: a set stops growing past it."""
    for row in range(len(problem.metric_names)):
        if np.isfinite(problem.upper[row, 0]) and (problem.metrics[row] >= 0).all():
            return row
    return None


def columns(problem: Problem, neighbours: list[np.ndarray], budget: TimeBudget | None = None) -> Columns | None:
    """Every connected set in band whose complement's pieces each hold a whole number of territories' worth
    (necessary for any plan to use it), priced; None when a work cap (or the budget's clock) stops the listing
    first."""
    bits = UnitBits.of(problem, neighbours)
    n, most = problem.n_units, problem.n_territories - 1  # the complement of a district holds at most K - 1
    full, total = (1 << n) - 1, float(bits.amount.sum())
    found: list[int] = []
    visits = 0

    def fits(members: int, value: float) -> bool:  # the complement's pieces could each be whole territories
        piece_list = bits.pieces(full & ~members)
        if len(piece_list) == 1:
            return bits.whole(total - value, most) > 0
        return all(bits.whole(bits.value(piece), most) for piece in piece_list)

    # Each connected set is grown once, from its lowest unit (the units below it barred).
    for start in range(n):
        for members, value in bits.connected_sets(start, (1 << (start + 1)) - 1):
            visits += 1
            if visits > VISIT_CAP or (budget is not None and visits % _CLOCK_EVERY == 0 and budget.expired()):
                return None
            if value >= bits.lower - bits.slack and (members == full or fits(members, value)):
                found.append(members)
                if len(found) > KEEP_CAP:
                    return None
    return _priced(problem, found)


@dataclass(frozen=True)
class UnitBits:
    """Unit sets as bit masks (bit i: unit i) for listing districts: each unit's neighbours, the capping band row's
    amounts and band (`cap_row`), and byte tables that look up a set's amount and its neighbours a byte at a time
    (far fewer Python steps than bit by bit)."""

    amount: np.ndarray  # the cap row's amount per unit
    lower: float
    upper: float
    slack: float  # the band test's rounding noise (`model.outside_band`)
    near: list[int]  # each unit's neighbours
    width: int  # bytes per mask
    table: list[list[float]]  # table[b][v]: amount of the units byte b's value v holds
    reach: list[list[int]]  # reach[b][v]: their neighbours

    @classmethod
    def of(cls, problem: Problem, neighbours: list[np.ndarray]) -> UnitBits:
        row = cap_row(problem)
        assert row is not None
        amount = problem.metrics[row].astype(float)
        scale = float(band_scale(problem)[row, 0])
        n, width = problem.n_units, (problem.n_units + 7) // 8
        near = [sum(1 << int(j) for j in ring) for ring in neighbours]
        table = _byte_table(width, lambda u: float(amount[u]) if u < n else 0.0, sum, 0.0)
        reach = _byte_table(width, lambda u: near[u] if u < n else 0, _union, 0)
        lower, upper = float(problem.lower[row, 0]), float(problem.upper[row, 0])
        return cls(amount, lower, upper, BAND_RTOL * scale, near, width, table, reach)

    def value(self, mask: int) -> float:
        return sum(map(_lookup, self.table, mask.to_bytes(self.width, "little")))

    def whole(self, value: float, most: int) -> int:
        """The least whole j in 1..most such that `value` is j territories' worth, else 0."""
        for j in range(1, most + 1):
            if j * self.lower - j * self.slack <= value <= j * self.upper + j * self.slack:
                return j
        return 0

    def pieces(self, mask: int) -> list[int]:
        return _pieces(mask, self.reach, self.width)

    def connected_sets(self, start: int, banned: int):
        """(members, amount) of every connected set that holds `start` and no unit of `banned`, with an amount up to
        the band's upper bound, each once: a unit passed over at one level joins no set below it (the classic
        enumeration of connected induced subgraphs)."""
        stack = [(1 << start, float(self.amount[start]), self.near[start] & ~banned, banned | 1 << start)]
        while stack:
            members, value, frontier, banned = stack.pop()
            yield members, value
            while frontier:
                low = frontier & -frontier
                u = low.bit_length() - 1
                frontier ^= low
                if value + self.amount[u] <= self.upper + self.slack:
                    grown = frontier | (self.near[u] & ~members & ~banned & ~low)
                    stack.append((members | low, value + float(self.amount[u]), grown, banned | low))
                banned |= low


def _byte_table(width: int, of_unit, combine, empty) -> list[list]:
    """table[b][v]: `combine` over the units (8 b + i) that bit i of byte value v marks, `of_unit` giving each."""
    return [
        [combine((of_unit(8 * b + i) for i in range(8) if v >> i & 1), empty) for v in range(256)] for b in range(width)
    ]


def _union(masks, empty: int) -> int:
    out = empty
    for mask in masks:
        out |= mask
    return out


def _lookup(row: list[float], byte: int) -> float:
    return row[byte]


def _bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _pieces(mask: int, reach: list[list[int]], width: int) -> list[int]:
    """Connected pieces of the unit set `mask` (bit masks); `reach[b][v]`: the neighbours of the units byte b's value
    v holds, so a step of the breadth-first search takes one lookup per byte."""
    out = []
    while mask:
        piece = frontier = mask & -mask
        while frontier:
            grown = 0
            for row, byte in zip(reach, frontier.to_bytes(width, "little"), strict=True):
                grown |= row[byte]
            frontier = grown & mask & ~piece
            piece |= frontier
        out.append(piece)
        mask &= ~piece
    return out


def _priced(problem: Problem, found: list[int]) -> Columns:
    """Membership, the full band test on every metric row, and each set's least travel over its members."""
    n = problem.n_units
    width = (n + 7) // 8
    raw = np.frombuffer(b"".join(mask.to_bytes(width, "little") for mask in found), dtype=np.uint8)
    members = np.unpackbits(raw.reshape(len(found), width), axis=1, bitorder="little")[:, :n].astype(bool)
    totals = problem.metrics @ members.T  # (m, C)
    inside = band_excess(problem, totals, np.zeros(len(found), dtype=np.int64)) <= BAND_RTOL * band_scale(problem)
    members = members[inside.all(axis=0)]
    travel = problem.travel_matrix(np.arange(n), np.arange(n))  # travel[i, c]: unit i served from unit c
    cost, centre = np.empty(len(members)), np.empty(len(members), dtype=np.int64)
    for start in range(0, len(members), _CHUNK):
        block = members[start : start + _CHUNK]
        per_centre = np.where(block, block.astype(float) @ travel, np.inf)  # a centre is a member
        centre[start : start + _CHUNK] = per_centre.argmin(axis=1)
        cost[start : start + _CHUNK] = per_centre.min(axis=1)
    return Columns(members, cost, centre)


def sat_solver(budget: TimeBudget | None, effort: float, seed: int) -> cp_model.CpSolver:
    """CP-SAT as every districting model runs it: one worker and a seed, so one search, the same every run; `effort`
    units of deterministic time as the work cap; the budget's clock only cuts."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = effort
    if budget is not None:
        solver.parameters.max_time_in_seconds = max(budget.remaining(), 0.01)
    return solver


_INT_RANGE = 2.0**40  # integer scale of the band metrics in CP-SAT (sums far below int64)


def integer_band(
    amount: np.ndarray, lower: np.ndarray, upper: np.ndarray, tighten: bool
) -> tuple[np.ndarray, list[int | None], list[int | None]]:
    """One band row on integers, as the CP-SAT models take it: the amounts scaled and rounded, and each column's
    bounds moved by the largest rounding error a sum can carry (inwards to find, `tighten`, or outwards, so a proof
    holds), not at all when the amounts are whole numbers; None where a bound is open (infinite, a lower one <= 0)."""
    finite = np.abs(np.concatenate([amount, lower[np.isfinite(lower)], upper[np.isfinite(upper)]]))
    whole = bool((amount == np.rint(amount)).all()) and finite.max(initial=0.0) * len(amount) < _INT_RANGE
    scale = 1.0 if whole else _INT_RANGE / max(finite.max(initial=0.0) * len(amount), 1e-12)
    scaled = np.rint(amount * scale).astype(np.int64)
    slack = 0.0 if whole else 0.5 * len(amount) + 1.0
    slack = slack if tighten else -slack
    lows = [int(np.ceil(low * scale + slack)) if np.isfinite(low) and low > 0 else None for low in lower]
    highs = [int(np.floor(high * scale - slack)) if np.isfinite(high) else None for high in upper]
    return scaled, lows, highs


_PROVEN_RTOL = 1e-6  # the gap solve() reports as optimal


def partition(problem: Problem, found: Columns, budget: TimeBudget | None, effort: float, seed: int = 0) -> Plan:
    """K disjoint listed sets covering every unit, of least travel (CP-SAT, one worker, `effort` units of
    deterministic time). Costs are rounded to integers: the bound subtracts the most the K chosen can lose."""
    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"s{c}") for c in range(len(found.cost))]
    for unit in range(problem.n_units):
        model.add_exactly_one(chosen[c] for c in np.flatnonzero(found.members[:, unit]))
    model.add(sum(chosen) == problem.n_territories)
    cost_scale = _COST_RANGE / max(float(found.cost.max(initial=0.0)), 1e-12)
    scaled = np.rint(found.cost * cost_scale).astype(np.int64)
    model.minimize(sum(int(a) * v for a, v in zip(scaled, chosen, strict=True) if a))
    solver = sat_solver(budget, effort, seed)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Plan(None, None, status == cp_model.INFEASIBLE)
    picked = [c for c in range(len(chosen)) if solver.value(chosen[c])]
    picked.sort(key=lambda c: int(found.centre[c]))  # territories numbered by their centres' order
    territory = np.empty(problem.n_units, dtype=np.int64)
    for t, c in enumerate(picked):
        territory[found.members[c]] = t
    bound = (solver.best_objective_bound - 0.5 * problem.n_territories) / cost_scale
    value = float(found.cost[picked].sum())
    # optimal on the rounded costs is optimal on the true ones only when the rounding's bound closes the gap too
    proven = status == cp_model.OPTIMAL and value - bound <= _PROVEN_RTOL * max(abs(value), 1.0)
    return Plan(territory, found.centre[picked], proven, bound)
