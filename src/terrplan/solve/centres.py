"""Territory centres in p-median mode: seeding and re-centering on the weighted 1-median of each territory."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from sklearn.cluster import kmeans_plusplus

from terrplan.model import Problem

_MAX_MEDIAN_CANDIDATES = 400  # 1-median candidates per territory: the members nearest its weighted mean


def initial_centres(problem: Problem, seed: int) -> np.ndarray:
    """K distinct unit ids spread by weighted k-means++ (seeded), snapped to the nearest unit."""
    k = problem.n_territories
    if problem.fixed:
        return np.arange(k)
    rng = np.random.default_rng(seed)
    weights = problem.weights + 1e-9 * max(problem.weights.max(initial=0.0), 1.0)
    if problem.geometry == "matrix":
        first = int(rng.choice(problem.n_units, p=weights / weights.sum()))
        return _farthest_first(problem, first, k)
    points = problem.unit_points()
    _, chosen = kmeans_plusplus(points, k, sample_weight=weights, random_state=int(rng.integers(2**31 - 1)))
    return _distinct(chosen, problem.n_units)


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

    `cost`: the (units, sites) travel matrix when the caller holds one; it spares recomputing distances every round
    (on the sample they were a quarter of the heuristic's time)."""
    if problem.fixed:
        return centres
    new = centres.copy()
    order = np.argsort(territory, kind="stable")
    bounds = np.searchsorted(territory[order], np.arange(problem.n_territories + 1))
    taken = set()
    for t in range(problem.n_territories):
        members = order[bounds[t] : bounds[t + 1]]
        if len(members) == 0:
            continue
        candidates = _median_candidates(problem, members)
        travel = problem.travel_matrix(members, candidates) if cost is None else cost[np.ix_(members, candidates)]
        best = int(candidates[int(np.argmin(travel.sum(axis=0)))])
        if best in taken:  # two territories cannot share a centre unit
            best = int(centres[t])
        taken.add(best)
        new[t] = best
    return new


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
    """Centres reordered so territory t's centre lies near the units pinned to t (locked there, or at home there).

    Under rules territories have identities; seeds from k-means++ or bisection do not. A minimum-cost matching of
    centres to territories (cost: the pinned units' weighted distance) gives each identity its nearest seed, and
    a territory with pinned units then starts from their 1-median.
    """
    rules = problem.rules
    if rules is None or problem.fixed:
        return centres
    pin = np.where(rules.locked >= 0, rules.locked, rules.home)
    pinned = np.flatnonzero(pin >= 0)
    if len(pinned) == 0:
        return centres
    # a lock binds harder than a home: its units count ten times
    strength = np.where(rules.locked[pinned] >= 0, 10.0, 1.0) * (problem.weights[pinned] + 1e-9)
    k = problem.n_territories
    cost = np.zeros((k, k))
    distance = problem.distance_matrix(pinned, centres)  # (pinned, K) - only when rules pin units
    np.add.at(cost, pin[pinned], strength[:, None] * distance)
    rows, cols = linear_sum_assignment(cost)
    ordered = centres[cols[np.argsort(rows)]]
    return recentre(problem, np.where(pin >= 0, pin, -1), ordered)
