"""Territory centres in p-median mode: seeding and re-centering on the weighted 1-median of each territory."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from terrplan.model import Problem, _embed

_MAX_MEDIAN_CANDIDATES = 400  # 1-median candidates per territory: the members nearest its weighted mean


def initial_centres(problem: Problem, seed: int) -> np.ndarray:
    """K distinct unit ids spread by weighted k-means++ (seeded), snapped to the nearest unit; with rep homes, a
    territory with a rep starts at one of the few units nearest the home instead (picked by the seed)."""
    k = problem.n_territories
    if problem.fixed:
        return np.arange(k)
    rng = np.random.default_rng(seed)
    if problem.homes is not None:
        return _home_centres(problem, rng)
    weights = problem.weights + 1e-9 * max(problem.weights.max(initial=0.0), 1.0)
    if problem.geometry == "matrix":
        first = int(rng.choice(problem.n_units, p=weights / weights.sum()))
        return _farthest_first(problem, first, k)
    from sklearn.cluster import kmeans_plusplus  # about 1 s to load: only a solve needs it (validate does not)

    points = problem.unit_points()
    _, chosen = kmeans_plusplus(points, k, sample_weight=weights, random_state=int(rng.integers(2**31 - 1)))
    return _distinct(chosen, problem.n_units)


_HOME_START = 4  # a territory with a rep starts at one of the units this near its home (in rank)


def _home_centres(problem: Problem, rng: np.random.Generator) -> np.ndarray:
    """Territory t at a unit among the few nearest its rep's home; vacancies at the heaviest units left."""
    assert problem.homes is not None
    near = _near_homes(problem)
    assert near is not None
    taken: set[int] = set()
    centres = np.full(problem.n_territories, -1, dtype=np.int64)
    for t in np.flatnonzero(problem.homes.weight > 0):
        free = [int(u) for u in near[t] if int(u) not in taken]
        if free:
            centres[t] = free[int(rng.integers(min(_HOME_START, len(free))))]
            taken.add(int(centres[t]))
    spare = (int(u) for u in np.argsort(-problem.weights, kind="stable") if int(u) not in taken)
    for t in np.flatnonzero(centres < 0):
        centres[t] = next(spare)
        taken.add(int(centres[t]))
    return centres


def _distinct(ids: np.ndarray, n: int) -> np.ndarray:
    """Drop repeated ids (k-means++ can pick a unit twice when weights are zero) and top up with unused ones."""
    unique = list(dict.fromkeys(int(i) for i in ids))
    if len(unique) < len(ids):
        used = set(unique)
        unique.extend([i for i in range(n) if i not in used][: len(ids) - len(unique)])
    return np.array(unique, dtype=np.int64)


def _farthest_first(problem: Problem, first: int, k: int) -> np.ndarray:
    chosen = [first]
    nearest = problem.distances[:, first].astype(float).copy()
    for _ in range(k - 1):
        nxt = int(np.argmax(nearest * np.maximum(problem.weights, 1e-12)))
        chosen.append(nxt)
        nearest = np.minimum(nearest, problem.distances[:, nxt])
    return np.array(chosen, dtype=np.int64)


def recentre(
    problem: Problem, territory: np.ndarray, centres: np.ndarray, cost: np.ndarray | None = None
) -> np.ndarray:
    """Each territory's centre moves to the member minimising sum(weight x distance) over its members.

    With rep homes (`Problem.homes`) the home term joins that sum, and the current centre and the units nearest the
    home compete too, members or not: the step never raises the objective, a few far members do not drag the
    centre from the home, and a territory that lost the accounts around its rep's home can win them back.

    `cost`: the (units, sites) travel matrix when the caller holds one; it spares recomputing distances every round
    (on the sample they were a quarter of the heuristic's time)."""
    if problem.fixed:
        return centres
    new = centres.copy()
    order = np.argsort(territory, kind="stable")
    bounds = np.searchsorted(territory[order], np.arange(problem.n_territories + 1))
    near_home = _near_homes(problem)
    taken = set()
    for t in range(problem.n_territories):
        members = order[bounds[t] : bounds[t + 1]]
        if len(members) == 0:
            continue
        candidates = _median_candidates(problem, members)
        if near_home is not None and problem.homes is not None and problem.homes.weight[t] > 0:
            others = np.delete(centres, t)  # another territory's centre is not free to take
            extra = np.r_[near_home[t][~np.isin(near_home[t], others)], int(centres[t])]
            candidates = np.unique(np.r_[candidates, extra])
        travel = problem.travel_matrix(members, candidates) if cost is None else cost[np.ix_(members, candidates)]
        total = travel.sum(axis=0) + problem.home_cost(t, candidates)
        best = int(candidates[int(np.argmin(total))])
        if best in taken:  # two territories cannot share a centre unit
            best = int(centres[t])
        taken.add(best)
        new[t] = best
    return new


def travel_centres(problem: Problem, territory: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each territory's weighted 1-median over its members, the home term left out: where an alignment the home
    term has shaped is measured from, as `evaluate` would place its centres (unchanged without homes)."""
    if problem.homes is None:
        return centres
    return recentre(dataclasses.replace(problem, homes=None), territory, centres)


_HOME_CANDIDATES = 30  # units nearest a rep's home that compete as its territory's centre


def _near_homes(problem: Problem) -> np.ndarray | None:
    """(K, h) the units nearest each territory's home, or None without homes."""
    if problem.homes is None:
        return None
    count = min(_HOME_CANDIDATES, problem.n_units)
    homes = _embed(problem.homes.coords, problem.geometry)
    _, near = cKDTree(problem.unit_points()).query(homes, k=count)
    return np.asarray(near, dtype=np.int64).reshape(problem.n_territories, count)


def _median_candidates(problem: Problem, members: np.ndarray) -> np.ndarray:
    if len(members) <= _MAX_MEDIAN_CANDIDATES or problem.geometry == "matrix":
        return members
    points = problem.unit_points()[members]
    w = problem.weights[members] + 1e-12
    mean = (points * w[:, None]).sum(axis=0) / w.sum()
    _, idx = cKDTree(points).query(mean, k=_MAX_MEDIAN_CANDIDATES)
    return members[np.sort(idx)]


def bisection_centres(problem: Problem, seed: int, metric: np.ndarray) -> np.ndarray:
    """K centres of compact regions of (nearly) equal `metric`, by recursive bisection of the unit points.

    Each split cuts a region across its widest direction (seed 0) or a randomly tilted one (other seeds) so that
    the two sides hold metric in proportion to the territories they get. Centre = the unit nearest the region's
    weighted mean. Good seeds for banded problems: the first balanced assignment is then almost feasible.
    """
    k = problem.n_territories
    rng = np.random.default_rng(seed)
    points = problem.unit_points()
    mass = np.maximum(metric, 0.0) + 1e-12 * max(float(np.abs(metric).max(initial=0.0)), 1.0)
    regions: list[tuple[np.ndarray, int]] = [(np.arange(problem.n_units), k)]
    done: list[np.ndarray] = []
    while regions:
        members, count = regions.pop()
        if count == 1 or len(members) <= 1:
            done.append(members)
            continue
        pts = points[members]
        centred = pts - pts.mean(axis=0)
        extent = centred.max(axis=0) - centred.min(axis=0)
        direction = np.eye(pts.shape[1])[int(np.argmax(extent))]
        if seed:
            direction = direction + 0.5 * rng.normal(size=pts.shape[1])
            direction /= np.linalg.norm(direction)
        order = members[np.argsort(centred @ direction, kind="stable")]
        left = count // 2
        cum = np.cumsum(mass[order])
        cut = int(np.searchsorted(cum, cum[-1] * left / count))
        cut = min(max(cut, left), len(order) - (count - left))
        regions.append((order[:cut], left))
        regions.append((order[cut:], count - left))
    centres = []
    taken: set[int] = set()
    tree_points = points
    for members in done:
        w = mass[members]
        mean = (tree_points[members] * w[:, None]).sum(axis=0) / w.sum()
        near = members[np.argsort(((tree_points[members] - mean) ** 2).sum(axis=1), kind="stable")]
        pick = next((int(u) for u in near if int(u) not in taken), None)
        if pick is None:
            pick = next(i for i in range(problem.n_units) if i not in taken)
        taken.add(pick)
        centres.append(pick)
    return np.array(centres, dtype=np.int64)


def fit_to_rules(problem: Problem, centres: np.ndarray) -> np.ndarray:
    """Centres reordered so territory t's centre lies near what ties t to a place: the units pinned to t (locked
    there, or at home there) and t's rep home.

    Under rules or rep homes territories have identities; seeds from k-means++ or bisection do not. A minimum-cost
    matching of centres to territories (cost: the pinned units' weighted distance plus the home term) gives each
    identity its nearest seed, and a territory with pinned units then starts from their 1-median (with its home
    term: a rep's home outweighs a few far locked accounts, so the centre stays near the home).
    """
    rules, homes = problem.rules, problem.homes
    if problem.fixed or (rules is None and homes is None):
        return centres
    k = problem.n_territories
    pin = np.full(problem.n_units, -1, dtype=np.int64)
    if rules is not None:
        pin = np.where(rules.locked >= 0, rules.locked, rules.home)
    pinned = np.flatnonzero(pin >= 0)
    if len(pinned) == 0 and homes is None:
        return centres
    cost = np.zeros((k, k))
    if len(pinned):
        assert rules is not None
        # a lock binds harder than a home: its units count ten times
        strength = np.where(rules.locked[pinned] >= 0, 10.0, 1.0) * (problem.weights[pinned] + 1e-9)
        distance = problem.distance_matrix(pinned, centres)  # (pinned, K) - only when rules pin units
        np.add.at(cost, pin[pinned], strength[:, None] * distance)
    if homes is not None:
        cost += problem.home_cost(np.arange(k)[:, None], centres[None, :])
    rows, cols = linear_sum_assignment(cost)
    ordered = centres[cols[np.argsort(rows)]]
    if len(pinned) == 0:
        return ordered
    return recentre(problem, pin, ordered)
