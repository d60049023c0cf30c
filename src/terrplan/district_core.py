"""Core-first start for districting: place the units too big to share a territory first, then split the rest.

A unit whose own amount exceeds half the band's upper bound (a "core": Fulton County in Georgia's 8 districts)
cannot share a territory with another core. Where cores crowd each other (within two steps on the graph), the
location-allocation search grows their territories against each other and ends outside the band
(benchmarks/districting.md, Sessions 8 and 9). This start avoids the collision:

1. For each crowded core, list every connected set in band that holds it, built from nearby units and no other
   big unit, whose complement falls into pieces that each hold a whole number of territories (`UnitBits`).
   "Nearby" grows in steps (`REACH`, times the radius of the ball of units nearest the cores that holds what they
   lack): near units first give few, compact sets; the steps stop when a listing reaches its cap.
2. Depth first, pick one set per core, all disjoint, the rest of the units still in whole-territory pieces.
3. Split each piece of the rest into its whole number of territories by recursive bisection: CP-SAT cuts a
   connected region into two connected sides holding k1 and k2 territories' worth (fewest cut edges, hinted with
   a sweep from the region's far end); a side that cannot be split in turn bars that cut, up to `TRIES` a level.

The first plan found is the start; the caller polishes it (`districting._rounds`). Work caps (sets visited and
kept per core, depth-first nodes, picks whose rest is split, CP-SAT's deterministic time per cut and in all) end
every step, with one CP-SAT worker and a fixed seed, so the start repeats; the budget's clock only cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from terrplan.budget import TimeBudget
from terrplan.district_columns import UnitBits, cap_row, integer_band, listing_applies, sat_solver
from terrplan.model import BAND_RTOL, Problem, band_excess, band_scale

# the cores' sets use units within these many times the group's ball radius, in turn
REACH = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5)
VISIT_CAP = 400_000  # connected sets grown per core
KEEP_CAP = 5_000  # sets kept per core
NODE_CAP = 200_000  # depth-first nodes over the picks
PICK_CAP = 20  # picks whose rest is split, per reach
_CLOCK_EVERY = 10_000  # sets visited between looks at the clock
TRIES = 3  # cuts tried per bisection level
CUT_EFFORT = 5.0  # CP-SAT deterministic time per cut
TOTAL_EFFORT = 60.0  # CP-SAT deterministic time over the whole start (Georgia 8: 15)


def big_units(problem: Problem) -> np.ndarray:
    """Units too big to share a territory: each holds more than half the capping band row's upper bound (none
    without such a row)."""
    row = cap_row(problem)
    if row is None:
        return np.zeros(0, dtype=np.int64)
    slack = BAND_RTOL * float(band_scale(problem)[row, 0])
    return np.flatnonzero(2.0 * problem.metrics[row] > problem.upper[row, 0] + slack)


def crowded_cores(problem: Problem, neighbours: list[np.ndarray]) -> np.ndarray:
    """The big units (`big_units`) within two steps of another: they compete for the same neighbours."""
    big = set(big_units(problem).tolist())
    crowded = []
    for core in sorted(big):
        near = {int(v) for u in neighbours[core] for v in (int(u), *neighbours[int(u)].tolist())}
        if (near - {core}) & big:
            crowded.append(core)
    return np.array(crowded, dtype=np.int64)


def core_applies(problem: Problem, neighbours: list[np.ndarray], interchangeable: bool) -> bool:
    """Districts can be listed (`listing_applies`) and two or more cores crowd each other."""
    return listing_applies(problem, neighbours, interchangeable) and len(crowded_cores(problem, neighbours)) >= 2


@dataclass
class _Work:
    """What the start has spent of its caps."""

    nodes: int = 0
    picks: int = 0
    effort: float = 0.0

    def spent(self, budget: TimeBudget | None) -> bool:
        caps = self.nodes >= NODE_CAP or self.picks >= PICK_CAP or self.effort >= TOTAL_EFFORT
        return caps or _late(budget)


def core_start(
    problem: Problem, neighbours: list[np.ndarray], budget: TimeBudget | None = None, seed: int = 0
) -> np.ndarray | None:
    """A contiguous alignment in band built core first (the cores' territories first, then the rest's), or None
    when the search finds none before a cap or the clock ends it. The cores' sets are drawn from units ever farther
    out (`REACH` steps): near ones first, so the few compact sets are tried before the many loose ones."""
    bits = UnitBits.of(problem, neighbours)
    cores = crowded_cores(problem, neighbours)
    n = problem.n_units
    big = np.isin(np.arange(n), big_units(problem))
    distance = problem.distance_matrix(cores, np.arange(n)).min(axis=0)  # to the nearest core
    # the group's ball: the units nearest the cores (other big ones left out) until they hold what the cores lack
    nearest = np.array([u for u in np.argsort(distance, kind="stable") if not big[u]], dtype=np.int64)
    lack = len(cores) * 0.5 * (bits.lower + bits.upper) - float(bits.amount[cores].sum())
    held = np.cumsum(bits.amount[nearest])
    radius = distance[nearest[min(int(np.searchsorted(held, lack)), len(nearest) - 1)]] if len(nearest) else 0.0
    work = _Work()
    for reach in REACH:
        allowed = (distance <= reach * radius) & ~big
        listed = [core_sets(problem, bits, int(core), allowed, budget) for core in cores]
        lists = [found for found, _ in listed]
        if all(lists):
            work.picks = 0
            plan = _pick(problem, bits, cores, lists, neighbours, budget, seed, work)
            if plan is not None:
                territory = np.empty(n, dtype=np.int64)
                for t, units in enumerate(plan):
                    territory[units] = t
                return territory
        if work.spent(budget) or not all(whole for _, whole in listed):  # farther out, the lists only grow
            return None
    return None


def _pick(
    problem: Problem,
    bits: UnitBits,
    cores: np.ndarray,
    lists: list[list[int]],
    neighbours: list[np.ndarray],
    budget: TimeBudget | None,
    seed: int,
    work: _Work,
) -> list[np.ndarray] | None:
    """Depth first, one listed set per core, all disjoint, the rest in whole-territory pieces at every level; the
    first pick whose rest `_split_rest` cuts gives the plan (units per territory)."""
    k, n = problem.n_territories, problem.n_units
    order = sorted(range(len(cores)), key=lambda c: (len(lists[c]), c))

    def search(level: int, used: int, chosen: list[int]) -> list[np.ndarray] | None:
        work.nodes += 1
        rest = ((1 << n) - 1) & ~used
        counts = [bits.whole(bits.value(piece), k) for piece in bits.pieces(rest)]
        if work.spent(budget) or not all(counts):  # a piece of the rest that is no whole number of territories
            return None
        if level == len(order):
            if sum(counts) != k - len(cores):
                return None
            work.picks += 1
            split = _split_rest(problem, bits, rest, neighbours, budget, seed, work)
            return None if split is None else [_units(mask, n) for mask in chosen] + split
        for members in lists[order[level]]:
            if not members & used:
                plan = search(level + 1, used | members, [*chosen, members])
                if plan is not None or work.spent(budget):
                    return plan
        return None

    return search(0, 0, [])


def core_sets(
    problem: Problem, bits: UnitBits, core: int, allowed: np.ndarray, budget: TimeBudget | None = None
) -> tuple[list[int], bool]:
    """Connected sets in band that hold `core` and otherwise only `allowed` units, whose complement falls into
    whole-territory pieces (bit masks, fewest units first), and whether that is all of them: a cap or the clock may
    end the listing early (then the sets met so far)."""
    n, most = problem.n_units, problem.n_territories - 1
    full = (1 << n) - 1
    banned = full & ~sum(1 << int(u) for u in np.flatnonzero(allowed))
    kept: list[int] = []
    whole = True
    for visits, (members, value) in enumerate(bits.connected_sets(core, banned), start=1):
        if visits > VISIT_CAP or len(kept) >= KEEP_CAP or (visits % _CLOCK_EVERY == 0 and _late(budget)):
            whole = False
            break
        if value >= bits.lower - bits.slack:
            rest = bits.pieces(full & ~members)
            if all(bits.whole(bits.value(piece), most) for piece in rest):
                kept.append(members)
    inside = [mask for mask in kept if _in_band(problem, _units(mask, n))]
    return sorted(inside, key=lambda mask: (mask.bit_count(), mask)), whole


def _late(budget: TimeBudget | None) -> bool:
    return budget is not None and budget.expired()


def _in_band(problem: Problem, units: np.ndarray) -> bool:
    """The units hold one territory's worth on every band row."""
    totals = problem.metrics[:, units].sum(axis=1, keepdims=True)
    return bool((band_excess(problem, totals, np.zeros(1, dtype=np.int64)) <= BAND_RTOL * band_scale(problem)).all())


def _split_rest(
    problem: Problem,
    bits: UnitBits,
    rest: int,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None,
    seed: int,
    work: _Work,
) -> list[np.ndarray] | None:
    """Each piece of `rest` cut into its whole number of territories (`_split`), or None."""
    plan: list[np.ndarray] = []
    for piece in bits.pieces(rest):
        j = bits.whole(bits.value(piece), problem.n_territories)
        parts = _split(problem, _units(piece, problem.n_units), j, neighbours, budget, seed, work)
        if parts is None:
            return None
        plan += parts
    return plan


def _split(
    problem: Problem,
    units: np.ndarray,
    j: int,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None,
    seed: int,
    work: _Work,
) -> list[np.ndarray] | None:
    """A connected region holding j territories' worth cut into j connected territories in band by recursive
    bisection, or None."""
    if j == 1:
        return [units] if _in_band(problem, units) else None
    halves = (j // 2, j - j // 2)
    barred: list[np.ndarray] = []
    for attempt in range(TRIES):
        side = _bisect(problem, units, halves, neighbours, barred, budget, seed + attempt, work)
        if side is None:
            return None
        left = _split(problem, units[side], halves[0], neighbours, budget, seed, work)
        right = _split(problem, units[~side], halves[1], neighbours, budget, seed, work) if left is not None else None
        if left is not None and right is not None:
            return left + right
        barred.append(side)
    return None


def _bisect(
    problem: Problem,
    units: np.ndarray,
    halves: tuple[int, int],
    neighbours: list[np.ndarray],
    barred: list[np.ndarray],
    budget: TimeBudget | None,
    seed: int,
    work: _Work,
) -> np.ndarray | None:
    """Two connected sides of `units` holding halves[0] and halves[1] territories' worth on every band row, with
    the fewest cut edges, none of the `barred` sides (CP-SAT: each side a spanning tree from a root it chooses);
    True marks the first side. None when CP-SAT finds none within its share of the effort."""
    effort = min(CUT_EFFORT, TOTAL_EFFORT - work.effort)
    if effort <= 0 or _late(budget):
        return None
    model = cp_model.CpModel()
    index = {int(u): a for a, u in enumerate(units)}
    size = len(units)
    side = [model.new_bool_var(f"x{a}") for a in range(size)]
    order = [model.new_int_var(0, size - 1, f"o{a}") for a in range(size)]
    roots = ([model.new_bool_var(f"r{a}") for a in range(size)], [model.new_bool_var(f"s{a}") for a in range(size)])
    model.add_exactly_one(roots[0])
    model.add_exactly_one(roots[1])
    cut = []
    for a, u in enumerate(units):
        model.add_implication(roots[0][a], side[a])
        model.add_implication(roots[1][a], side[a].Not())
        parents = []
        for v in neighbours[int(u)]:
            b = index.get(int(v))
            if b is None:
                continue
            arc = model.new_bool_var(f"p{a}_{b}")
            parents.append(arc)
            model.add(order[b] < order[a]).only_enforce_if(arc)
            model.add(side[a] == side[b]).only_enforce_if(arc)
            if b > a:
                crossing = model.new_bool_var(f"c{a}_{b}")
                model.add(side[a] != side[b]).only_enforce_if(crossing)
                model.add(side[a] == side[b]).only_enforce_if(crossing.Not())
                cut.append(crossing)
        model.add_exactly_one([*parents, roots[0][a], roots[1][a]])
    for row in range(len(problem.metric_names)):
        lower, upper = problem.lower[row, 0], problem.upper[row, 0]
        scaled, lows, highs = integer_band(
            problem.metrics[row, units], np.array(halves) * lower, np.array(halves) * upper, tighten=True
        )
        first = sum(int(a) * s for a, s in zip(scaled, side, strict=True) if a)
        for held, low, high in ((first, lows[0], highs[0]), (int(scaled.sum()) - first, lows[1], highs[1])):
            if low is not None:
                model.add(held >= low)
            if high is not None:
                model.add(held <= high)
    if halves[0] == halves[1]:  # interchangeable sides: the first holds the first unit
        model.add(side[0] == 1)
    for old in barred:
        model.add_bool_or([s.Not() if was else s for s, was in zip(side, old, strict=True)])
    model.minimize(sum(cut))
    hint = _sweep(problem, units, neighbours, halves[0] / sum(halves))
    if halves[0] == halves[1] and not hint[0]:
        hint = ~hint
    for var, value in zip(side, hint, strict=True):
        model.add_hint(var, bool(value))
    solver = sat_solver(budget, effort, seed)
    status = solver.solve(model)
    work.effort += solver.deterministic_time
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return np.array([solver.value(s) for s in side], dtype=bool)


def _sweep(problem: Problem, units: np.ndarray, neighbours: list[np.ndarray], share: float) -> np.ndarray:
    """A first side to hint the cut with: grown from the unit farthest from the region's first unit, always
    taking the touching unit nearest that root, until it holds `share` of the region's amount (cap row)."""
    row = cap_row(problem)
    assert row is not None
    amount = problem.metrics[row, units]
    distance = problem.distance_matrix(units, units)
    root = int(np.argmax(distance[0]))
    index = {int(u): a for a, u in enumerate(units)}
    side = np.zeros(len(units), dtype=bool)
    side[root] = True
    held, goal = float(amount[root]), share * float(amount.sum())
    while held < goal:
        edge = {index[int(v)] for a in np.flatnonzero(side) for v in neighbours[int(units[a])] if int(v) in index}
        edge = sorted(b for b in edge if not side[b])
        if not edge:
            break
        b = min(edge, key=lambda b: (distance[root, b], b))
        side[b] = True
        held += float(amount[b])
    return side


def _units(mask: int, n: int) -> np.ndarray:
    return np.array([u for u in range(n) if mask >> u & 1], dtype=np.int64)
