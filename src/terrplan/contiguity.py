"""Contiguous territories over a ZIP or county adjacency graph.

Policy: units are areas (ZIPs or counties); two units are neighbours when any of their areas touch in the graph.
A unit with no neighbour at all (an island, or an area the graph does not know) is exempt: it may join any
territory and does not break its territory's contiguity.

Method: after the balanced solve, (1) every detached piece of a territory (all but the piece holding its centre)
joins the neighbouring territory it shares the longest border with (then the nearest centre); (2) band repair
by single-unit moves across a border, never cutting the giving territory in two, the move that removes the most
band violation per unit of extra travel first; (3) on graphs small enough for its exact models (county districting:
see `districting`), a search for contiguous alignments inside tight bands, which may also prove there is none.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
import pandas as pd

from terrplan.budget import TimeBudget
from terrplan.districting import districts, exact_applies
from terrplan.geo import area_points
from terrplan.model import (
    BAND_RTOL,
    Alignment,
    Problem,
    Result,
    Status,
    band_excess,
    band_scale,
    bands_hold,
    objective,
    territory_totals,
)
from terrplan.solve.bound import lagrangian, multiplier_start
from terrplan.solve.centres import recentre
from terrplan.units import Units

_MAX_REPAIR_MOVES = 20_000
_OPTIMAL_RTOL = 1e-6  # a gap this small is reported as optimal, as the solver does
_PROOF_MESSAGE = "no contiguous alignment meets the bands (proven by the districting model, CP-SAT)"
_SOLVE_SHARE = 0.4  # of the budget, when the districting search follows the solve (it gets the rest)
_BOUND_ITERATIONS = 300  # subgradient steps when the solver left no bound (its own default)


def unit_neighbours(areas: tuple[frozenset[str], ...], graph: dict[str, set[str]]) -> list[np.ndarray]:
    """Neighbouring unit ids per unit."""
    unit_of_area: dict[str, int] = {}
    for unit, keys in enumerate(areas):
        for key in keys:
            unit_of_area[key] = unit
    out = []
    for unit, keys in enumerate(areas):
        near = {unit_of_area[o] for key in keys for o in graph.get(key, ()) if o in unit_of_area}
        near.discard(unit)
        out.append(np.array(sorted(near), dtype=np.int64))
    return out


def pieces(members: np.ndarray, neighbours: list[np.ndarray]) -> list[np.ndarray]:
    """Connected pieces of a territory (islands left out: they do not count)."""
    inside = set(int(m) for m in members if len(neighbours[m]))
    seen: set[int] = set()
    found = []
    for start in sorted(inside):
        if start in seen:
            continue
        piece, queue = [], deque([start])
        seen.add(start)
        while queue:
            u = queue.popleft()
            piece.append(u)
            for v in neighbours[u]:
                if int(v) in inside and int(v) not in seen:
                    seen.add(int(v))
                    queue.append(int(v))
        found.append(np.array(sorted(piece), dtype=np.int64))
    return found


def is_contiguous(territory: np.ndarray, k: int, neighbours: list[np.ndarray]) -> np.ndarray:
    """Per territory: True when its (non-island) units form one connected piece."""
    return np.array([len(pieces(np.flatnonzero(territory == t), neighbours)) <= 1 for t in range(k)])


def make_contiguous(
    problem: Problem, territory: np.ndarray, centres: np.ndarray, neighbours: list[np.ndarray]
) -> np.ndarray:
    """Reattach detached pieces to a neighbour, then repair the bands with border moves that keep contiguity."""
    territory = _reattach(problem, territory.copy(), centres, neighbours)
    return _repair(problem, territory, centres, neighbours)


def _reattach(problem: Problem, territory: np.ndarray, centres: np.ndarray, neighbours: list[np.ndarray]) -> np.ndarray:
    """Move every piece that does not hold its territory's centre to the neighbour it borders most."""
    centre_points = problem.site_coords()[centres]
    for _ in range(problem.n_units):  # each pass moves at least one piece, or stops
        moved = False
        for t in range(problem.n_territories):
            parts = pieces(np.flatnonzero(territory == t), neighbours)
            if len(parts) <= 1:
                continue
            keep = _main_piece(parts, int(centres[t]), problem.weights)
            for part in parts:
                if part is keep:
                    continue
                border = np.concatenate([neighbours[u] for u in part])
                others = territory[border][territory[border] != t]
                counts = np.bincount(others, minlength=problem.n_territories)
                counts[[d for d in range(problem.n_territories) if not _may_move(problem, part, d)]] = 0
                if counts.max() == 0:
                    continue  # its rules keep the piece here (locks win over contiguity)
                best = np.flatnonzero(counts == counts.max())
                if len(best) > 1:  # a tie: the centre nearest the piece
                    middle = problem.coords[part].mean(axis=0)
                    best = best[np.argsort(((centre_points[best] - middle) ** 2).sum(axis=1), kind="stable")]
                territory[part] = int(best[0])
                moved = True
        if not moved:
            break
    return territory


def _gain(problem: Problem, totals, viol, scale, s: int, d: int, amount: np.ndarray) -> float:
    """Band violation removed by moving `amount` (per metric) from territory s to d."""
    before = viol[:, s].sum() + viol[:, d].sum()
    after = _violation(problem, totals[:, s] - amount, s, scale[:, 0]).sum()
    after += _violation(problem, totals[:, d] + amount, d, scale[:, 0]).sum()
    return float(before - after)


def _extra_cost(problem: Problem, centres: np.ndarray, units: np.ndarray, to: np.ndarray, away: np.ndarray) -> float:
    """Objective change when `units` move from territories `away` to `to`: weighted travel, plus the rules' move
    costs (as the solver's arcs price them)."""
    change = float((problem.travel(units, centres[to]) - problem.travel(units, centres[away])).sum())
    if problem.rules is not None:
        change += float((problem.rules.move_penalty(units, to) - problem.rules.move_penalty(units, away)).sum())
    return float(change)


def _may_move(problem: Problem, chunk: np.ndarray, destination: int) -> bool:
    """Do the rules (locks, forbidden pairs) let every unit of the chunk join `destination`?"""
    if problem.rules is None:
        return True
    return bool(problem.rules.allowed(chunk, np.full(len(chunk), destination), problem.n_territories).all())


def _main_piece(parts: list[np.ndarray], centre: int, weights: np.ndarray) -> np.ndarray:
    """The piece holding the centre, else the heaviest."""
    for part in parts:
        if centre in part:
            return part
    return max(parts, key=lambda p: (weights[p].sum(), -int(p[0])))


def _repair(problem: Problem, territory: np.ndarray, centres: np.ndarray, neighbours: list[np.ndarray]) -> np.ndarray:
    """Border moves towards the bands, best violation removed per extra travel first, never splitting a territory.

    A move takes a border unit and everything that would be cut off with it (e.g. the empty counties behind a
    hospital county), so the giving territory stays connected and the chunk joins the receiver through the unit.
    """
    scale = band_scale(problem)
    totals = territory_totals(problem, territory)
    for _ in range(_MAX_REPAIR_MOVES):
        viol = _violation(problem, totals, slice(None), scale)
        bad = (viol > BAND_RTOL).any(axis=0)  # outside its band, as `in_band` decides
        if not bad.any():
            break
        best = None
        for u, s, d in zip(*_border_moves(territory, neighbours, bad), strict=True):
            if u == centres[s]:
                continue
            chunk = _chunk(territory, int(s), int(u), int(centres[s]), neighbours)
            if not _may_move(problem, chunk, int(d)):
                continue
            gain = _gain(problem, totals, viol, scale, int(s), int(d), problem.metrics[:, chunk].sum(axis=1))
            if gain <= 1e-12:
                continue
            extra = _extra_cost(problem, centres, chunk, np.full(len(chunk), d), np.full(len(chunk), s))
            key = (extra / gain, int(u), int(d))
            if best is None or key < best[0]:
                best = (key, chunk, int(s), int(d))
        if best is None:
            best = _best_region_move(problem, territory, centres, neighbours, totals, viol, scale)
        if best is None:
            swap = _best_swap(problem, territory, centres, neighbours, totals, viol, scale)
            if swap is None:
                break
            _, a, b, s, d = swap
            territory[a], territory[b] = d, s
            delta = problem.metrics[:, a] - problem.metrics[:, b]
            totals[:, s] -= delta
            totals[:, d] += delta
            continue
        _, chunk, s, d = best
        territory[chunk] = d
        moved = problem.metrics[:, chunk].sum(axis=1)
        totals[:, s] -= moved
        totals[:, d] += moved
    return territory


def _best_swap(problem, territory, centres, neighbours, totals, viol, scale):
    """Trade a border unit of a territory outside its band for one of a neighbour's, when the net change fits
    where no one-way move does (lumpy units: a big county out, a smaller one back)."""
    best = None
    borders: dict[tuple[int, int], list[int]] = {}
    for u, near in enumerate(neighbours):
        for d in np.unique(territory[near]) if len(near) else ():
            if d != territory[u] and u != centres[territory[u]]:
                borders.setdefault((int(territory[u]), int(d)), []).append(u)
    for (s, d), give in borders.items():
        if (viol[:, [s, d]] <= BAND_RTOL).all():
            continue
        for a in give:
            for b in borders.get((d, s), []):
                if not (_may_move(problem, np.array([a]), d) and _may_move(problem, np.array([b]), s)):
                    continue
                gain = _gain(problem, totals, viol, scale, s, d, problem.metrics[:, a] - problem.metrics[:, b])
                if gain <= 1e-12:
                    continue
                trial = territory.copy()
                trial[a], trial[b] = d, s
                if len(pieces(np.flatnonzero(trial == s), neighbours)) > 1:
                    continue
                if len(pieces(np.flatnonzero(trial == d), neighbours)) > 1:
                    continue
                extra = _extra_cost(problem, centres, np.array([a, b]), np.array([d, s]), np.array([s, d]))
                key = (extra / gain, a, b)
                if best is None or key < best[0]:
                    best = (key, a, b, s, d)
    return best


def _best_region_move(problem, territory, centres, neighbours, totals, viol, scale):
    """When no single border unit helps (the border holds only empty areas, say), move a connected region grown
    from the border inward, breadth first, until it carries enough of the primary metric."""
    best = None
    k = problem.n_territories
    for s in range(k):
        for d in range(k):
            if s == d or (viol[:, [s, d]] <= BAND_RTOL).all():
                continue
            region = _grow(territory, s, d, int(centres[s]), neighbours, problem, totals)
            if region is None or not _may_move(problem, np.asarray(region), d):
                continue
            gain = _gain(problem, totals, viol, scale, s, d, problem.metrics[:, region].sum(axis=1))
            if gain <= 1e-12 or not _stays_whole(territory, s, region, neighbours):
                continue
            region = np.asarray(region)
            extra = _extra_cost(problem, centres, region, np.full(len(region), d), np.full(len(region), s))
            key = (extra / gain, s, d)
            if best is None or key < best[0]:
                best = (key, region, s, d)
    return best


def _grow(territory, s, d, centre, neighbours, problem, totals):
    """Units of s reached breadth first from its border with d, until the moved amount covers s's excess or d's
    shortfall (primary metric), never taking s's centre. None when s and d do not touch."""
    row = 0
    need = max(totals[row, s] - problem.upper[row, s], problem.lower[row, d] - totals[row, d], 0.0)
    members = set(np.flatnonzero(territory == s).tolist())
    frontier = [u for u in sorted(members) if u != centre and (territory[neighbours[u]] == d).any()]
    if not frontier or need <= 0:
        return None
    seen, queue, region, carried = set(frontier), deque(frontier), [], 0.0
    while queue and carried < need:
        u = queue.popleft()
        region.append(u)
        carried += problem.metrics[row, u]
        for v in neighbours[u]:
            v = int(v)
            if v in members and v not in seen and v != centre:
                seen.add(v)
                queue.append(v)
    return np.array(region, dtype=np.int64) if carried >= need else None


def _stays_whole(territory: np.ndarray, t: int, leaving: np.ndarray, neighbours: list[np.ndarray]) -> bool:
    members = np.setdiff1d(np.flatnonzero(territory == t), leaving)
    return len(members) > 0 and len(pieces(members, neighbours)) <= 1


def _chunk(territory: np.ndarray, t: int, unit: int, centre: int, neighbours: list[np.ndarray]) -> np.ndarray:
    """`unit` plus every piece of territory t cut off from t's centre when `unit` leaves."""
    members = np.flatnonzero(territory == t)
    rest = members[members != unit]
    parts = pieces(rest, neighbours)
    cut = [p for p in parts if centre not in p]
    return np.concatenate([np.array([unit], dtype=np.int64), *cut]) if cut else np.array([unit], dtype=np.int64)


def _border_moves(territory: np.ndarray, neighbours: list[np.ndarray], bad: np.ndarray):
    """(unit, from, to) for every unit on a border where either side is outside its band."""
    units, src, dst = [], [], []
    for u, near in enumerate(neighbours):
        if not len(near):
            continue
        s = int(territory[u])
        for d in np.unique(territory[near]):
            if d != s and (bad[s] or bad[d]):
                units.append(u)
                src.append(s)
                dst.append(int(d))
    return np.array(units, dtype=np.int64), np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)


def _violation(problem: Problem, totals: np.ndarray, columns, scale: np.ndarray) -> np.ndarray:
    """Band excess of `totals` (territories `columns`) in units of each row's band scale: > BAND_RTOL is outside."""
    return band_excess(problem, totals, columns) / scale


def contiguous_result(
    problem: Problem, result: Result, neighbours: list[np.ndarray], budget: TimeBudget | None = None, seed: int = 0
) -> tuple[Result, dict]:
    """The solver's result made contiguous and re-centred; its lower bound stays valid (it ignores contiguity,
    so it is a relaxation of the contiguous problem).

    On graphs small enough for the exact models (county districting), the districting search follows: it finds an
    alignment inside tight bands where the repair alone does not, lowers travel, and may prove that no contiguous
    alignment in band exists. Status: infeasible when proven (by the solver for the bands alone, or by the proof
    model), unknown when nothing in band was found, else feasible (optimal when the gap closes)."""
    territory = make_contiguous(problem, result.alignment.territory, result.alignment.centres, neighbours)
    centres = recentre(problem, territory, result.alignment.centres)
    proven = result.status == "infeasible"  # the bands alone cannot be met: contiguity cannot help
    starts, optimal, site_bound, listed = 0, False, -np.inf, 0
    if not proven and exact_applies(problem):
        found = districts(problem, territory, centres, neighbours, budget, seed)
        territory, centres, proven, starts = found.territory, found.centres, found.infeasible, found.starts
        optimal, site_bound, listed = found.optimal, found.bound, found.columns
    alignment = Alignment(territory, centres)
    value = objective(problem, alignment)
    bound = result.lower_bound
    if bound is None and bands_hold(problem, territory):  # the solver missed the bands, so it left no bound
        bound = _bound(problem, alignment, value, budget)
    if bound is not None:  # the site or column model's bound sees contiguity: where they run it is the tighter one
        bound = min(max(bound, site_bound), value)
    message = _PROOF_MESSAGE if proven and result.status != "infeasible" else result.message
    done = dataclasses.replace(result, alignment=alignment, objective=value, lower_bound=bound, message=message)
    done = dataclasses.replace(done, status=_status(problem, done, neighbours, proven, optimal))
    figures = {
        "territories_contiguous": int(is_contiguous(territory, problem.n_territories, neighbours).sum()),
        "island_units": int(sum(1 for near in neighbours if not len(near))),
        "units_moved_for_contiguity": int((territory != result.alignment.territory).sum()),
        "districting_starts": starts,
        "districting_columns": listed,  # districts listed by the exact column model (0: not used)
    }
    return done, figures


def solve_share(problem: Problem) -> float:
    """The share of a contiguous run's solve budget the (contiguity-blind) solve may take: the districting search
    after it gets the rest on graphs it covers."""
    return _SOLVE_SHARE if exact_applies(problem) else 1.0


def _status(
    problem: Problem, result: Result, neighbours: list[np.ndarray], proven_infeasible: bool, proven_optimal: bool
) -> Status:
    territory = result.alignment.territory
    if not (bands_hold(problem, territory) and is_contiguous(territory, problem.n_territories, neighbours).all()):
        return "infeasible" if proven_infeasible else "unknown"
    gap = result.gap
    return "optimal" if proven_optimal or (gap is not None and gap <= _OPTIMAL_RTOL) else "feasible"


def _bound(problem: Problem, alignment: Alignment, value: float, budget: TimeBudget | None) -> float:
    """The Lagrangian lower bound (contiguity relaxed), from the alignment's prices. On graphs the districting
    search covers its steps take milliseconds: the iteration cap ends it even when the search spent the budget."""
    prices = multiplier_start(problem, alignment.territory, alignment.centres)
    small = exact_applies(problem)
    seconds = budget.remaining() if budget is not None and not small else np.inf
    return min(lagrangian(problem, value, prices, seconds, _BOUND_ITERATIONS).value, value)


def add_empty_areas(units: Units, by: str, graph: dict[str, set[str]], states: set[str]) -> Units:
    """Areas of the graph in the accounts' states that hold no account become empty units, so a territory owns
    whole stretches of map and contiguity runs through places without customers."""
    used = set().union(*units.areas) if units.areas else set()
    points = area_points(by)
    empty = sorted(
        key for key in graph if key not in used and key in points.index and points.at[key, "state"] in states
    )
    if not empty:
        return units
    prefix = "ZIP " if by == "zip" else "county "
    extra = pd.DataFrame(
        {
            "unit": [prefix + key for key in empty],
            "lat": points.loc[empty, "lat"].to_numpy(),
            "lon": points.loc[empty, "lon"].to_numpy(),
            "potential": 0.0,
            "workload_hours": 0.0,
            "accounts": 0,
        }
    )
    frame = pd.concat([units.frame, extra], ignore_index=True)
    return Units(units.of_account, frame, units.areas + tuple(frozenset([key]) for key in empty))
