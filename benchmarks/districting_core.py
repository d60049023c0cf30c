"""Offline search for a whole-county plan where the product's search ends `unknown` (Georgia, 8 districts, ±0.5 %).

The experiment behind benchmarks/districting.md, Session 8; since Session 9 the product has its own version of the
method (`src/terrplan/district_core.py`, called by `districting.districts`). Counties too big to share a
district (each holds more than half of a district's population: Fulton, Gwinnett, DeKalb, Cobb) are the hard core.
The method:

1. For each big county, list every connected district that holds it inside the band. The list uses only the
   counties within RADIUS_KM of the big counties' centroid and no other big county. Smallest districts come first.
2. Depth first, pick one district per big county, all four disjoint. Keep a pick only when every piece of the rest
   of the state holds a whole number of districts' population.
3. Split each such piece by recursive bisection with CP-SAT. Each side is connected through a spanning tree whose
   root it chooses, each side's population is k1 x and k2 x the band, and the objective is the fewest cut edges.
   Up to 3 tries per level, each new try barring the last side.
4. Polish with the product's own location-allocation rounds (`terrplan.districting._rounds`: tabu search that
   keeps the bands and contiguity, the exact assignment, re-centering).

Usage: python benchmarks/districting_core.py [ST:K] (default GA:8); prints each district's deviation, the check of
bands and contiguity, the objective, and the plan's counties by district.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from districting import ADJACENCY, TOLERANCE, counties  # benchmarks/districting.py
from ortools.sat.python import cp_model

from terrplan.adjacency import read_graph
from terrplan.budget import TimeBudget
from terrplan.contiguity import is_contiguous, pieces, unit_neighbours
from terrplan.district_columns import sat_solver
from terrplan.districting import _rounds
from terrplan.model import Alignment, Problem, bands_hold, objective
from terrplan.solve.centres import recentre

RADIUS_KM = 100.0
TRIES = 3
EFFORT = 5.0  # CP-SAT deterministic time per bisection


def bisect(units, neighbours, pop, bands, symmetric, seed, barred):
    """A connected split of `units` whose sides' populations lie in bands[0] and bands[1]; None if none is found."""
    model = cp_model.CpModel()
    index = {int(u): a for a, u in enumerate(units)}
    n = len(units)
    side = [model.new_bool_var(f"x{a}") for a in range(n)]
    order = [model.new_int_var(0, n - 1, f"o{a}") for a in range(n)]
    root_a = [model.new_bool_var(f"ra{a}") for a in range(n)]
    root_b = [model.new_bool_var(f"rb{a}") for a in range(n)]
    model.add_exactly_one(root_a)
    model.add_exactly_one(root_b)
    cut = []
    for a, u in enumerate(units):
        model.add_implication(root_a[a], side[a])
        model.add_implication(root_b[a], side[a].Not())
        parents = []
        for v in neighbours[u]:
            b = index.get(int(v))
            if b is None:
                continue
            arc = model.new_bool_var("")
            parents.append(arc)
            model.add(order[b] < order[a]).only_enforce_if(arc)
            model.add(side[a] == side[b]).only_enforce_if(arc)
            if b > a:
                crossing = model.new_bool_var("")
                model.add(side[a] != side[b]).only_enforce_if(crossing)
                model.add(side[a] == side[b]).only_enforce_if(crossing.Not())
                cut.append(crossing)
        model.add_exactly_one([*parents, root_a[a], root_b[a]])
    first = sum(int(pop[u]) * s for u, s in zip(units, side, strict=True))
    total = int(pop[units].sum())
    model.add(first >= bands[0][0])
    model.add(first <= bands[0][1])
    model.add(total - first >= bands[1][0])
    model.add(total - first <= bands[1][1])
    if symmetric:
        model.add(side[0] == 1)
    for old in barred:
        model.add_bool_or([s.Not() if o else s for s, o in zip(side, old, strict=True)])
    model.minimize(sum(cut))
    solver = sat_solver(None, EFFORT, seed)
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return np.array([solver.value(s) for s in side], dtype=bool)


def districts_of(units, k, neighbours, pop, lower, upper):
    """Recursive bisection of a connected region into k districts in band (lists of units), or None."""
    if k == 1:
        return [units]
    k1, k2 = k // 2, k - k // 2
    barred = []
    for attempt in range(TRIES):
        bands = ((k1 * lower, k1 * upper), (k2 * lower, k2 * upper))
        side = bisect(units, neighbours, pop, bands, k1 == k2, attempt, barred)
        if side is None:
            return None
        left = districts_of(units[side], k1, neighbours, pop, lower, upper)
        right = districts_of(units[~side], k2, neighbours, pop, lower, upper) if left is not None else None
        if left is not None and right is not None:
            return left + right
        barred.append(side)
    return None


def rooted_districts(root, allowed, near, pop, lower, upper):
    """Every connected unit set holding `root`, inside `allowed` (bit mask), with population in [lower, upper]."""
    found = []
    stack = [(1 << root, int(pop[root]), near[root] & allowed, 1 << root)]
    while stack:
        members, value, frontier, banned = stack.pop()
        if value >= lower:
            found.append(members)
        while frontier:
            low = frontier & -frontier
            u = low.bit_length() - 1
            frontier ^= low
            if value + pop[u] <= upper:
                grown = frontier | (near[u] & allowed & ~members & ~banned & ~low)
                stack.append((members | low, value + int(pop[u]), grown, banned | low))
            banned |= low
    return sorted(found, key=lambda m: (m.bit_count(), m))


def main() -> None:
    state, k = (sys.argv[1] if len(sys.argv) > 1 else "GA:8").split(":")
    k = int(k)
    table = counties(state)
    pop = table["population"].to_numpy(dtype=np.int64)
    target = pop.sum() / k
    lower, upper = int(np.ceil(target * (1 - TOLERANCE))), int(np.floor(target * (1 + TOLERANCE)))
    neighbours = unit_neighbours(tuple(frozenset([f]) for f in table["county"]), read_graph(ADJACENCY, "rook"))
    n = len(pop)
    started = time.perf_counter()
    big = [int(u) for u in np.flatnonzero(pop > upper / 2)]  # no two can share a district
    km = table[["lat", "lon"]].to_numpy(dtype=float) * [111.0, 111.0 * np.cos(np.radians(table["lat"].mean()))]
    close = np.linalg.norm(km - km[big].mean(axis=0), axis=1) <= RADIUS_KM
    allowed = sum(1 << int(u) for u in np.flatnonzero(close) if u not in big)
    near = [sum(1 << int(v) for v in ring) for ring in neighbours]
    lists = {u: rooted_districts(u, allowed, near, pop, lower, upper) for u in big}
    print("big units", [table["name"][u] for u in big], "districts listed", [len(lists[u]) for u in big])
    order = sorted(big, key=lambda u: len(lists[u]))

    def rest_split(used: int):
        rest = np.array([i for i in range(n) if not used >> i & 1], dtype=np.int64)
        plan = []
        for piece in pieces(rest, neighbours):
            j = round(pop[piece].sum() / target)
            if j < 1 or not j * lower <= pop[piece].sum() <= j * upper:
                return None
            split = districts_of(piece, j, neighbours, pop, lower, upper)
            if split is None:
                return None
            plan += split
        return plan

    def search(level: int, used: int, chosen: list[int]):
        if level == len(order):
            rest = rest_split(used)
            return None if rest is None else (chosen, rest)
        for members in lists[order[level]]:
            if not members & used:
                found = search(level + 1, used | members, [*chosen, members])
                if found is not None:
                    return found
        return None

    found = search(0, 0, [])
    if found is None:
        print("no plan found")
        return
    territory = np.empty(n, dtype=np.int64)
    for t, members in enumerate(found[0]):
        territory[[i for i in range(n) if members >> i & 1]] = t
    for t, part in enumerate(found[1]):
        territory[part] = len(found[0]) + t
    weights = pop.astype(float)
    problem = Problem(k, weights, weights[None, :], ("population",), target * (1 - TOLERANCE),
                      target * (1 + TOLERANCE), coords=table[["lat", "lon"]].to_numpy(dtype=float))  # fmt: skip
    print(f"found in {time.perf_counter() - started:.1f} s: in band {bands_hold(problem, territory)}, contiguous "
          f"{bool(is_contiguous(territory, k, neighbours).all())}")  # fmt: skip
    centres = recentre(problem, territory, np.array([np.flatnonzero(territory == t)[0] for t in range(k)]))
    print(f"objective {objective(problem, Alignment(territory, centres)):,.0f}")
    best = _rounds(problem, territory, centres, neighbours, TimeBudget.of(120), 0)
    territory = best[2]
    deviation = np.round((np.bincount(territory, weights=weights) / target - 1) * 100, 3).tolist()
    print(f"polished in {time.perf_counter() - started:.1f} s: objective {best[1]:,.0f}, in band "
          f"{bands_hold(problem, territory)}, contiguous {bool(is_contiguous(territory, k, neighbours).all())}, "
          f"deviation % {deviation}")  # fmt: skip
    for t in range(k):
        print(f"district {t + 1}: " + " ".join(table["county"][territory == t]))


if __name__ == "__main__":
    main()
