"""Centre counts in remote regions, for the Lagrangian bound (issue 12, item 7).

A remote region (Hawaii, Alaska, Puerto Rico: units cut off from the rest by a wide gap) whose weight is not a whole
number of bands forces weight across the gap in every alignment, but a relaxation that may open a fraction of a
site there hides it. Every alignment opens some whole number c of sites in each region, so the bound can be split
by those counts: per class of counts a relaxation that opens exactly (or at most, or at least) that many sites in
each region, and the bound is the smallest over the classes. Each class's value is a valid bound for the alignments
in it, and the classes cover every alignment, so the minimum is valid for any grouping of the sites; the grouping
only decides how much it gains.

Regions are found as in `terrplan.regions` (which the solver may not import): single-linkage components of the
units at the gap, i.e. of the graph joining every two units at most the gap apart, built from a nearest-neighbour
graph and merged while one component has a unit of another within the gap.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from terrplan.config import DEFAULT_REMOTE_GAP_KM
from terrplan.geo import EARTH_RADIUS_KM
from terrplan.model import Problem

_NEIGHBOURS = 8  # k of the nearest-neighbour graph the components start from
_MAX_CLASSES = 6  # a region with more count classes than this is left free (a large region gains little)
_MAX_VECTORS = 48  # class vectors at most (the product over regions): regions are dropped, lightest first

EXACT, AT_MOST, AT_LEAST = 0, 1, 2


@dataclass(frozen=True)
class Counts:
    """The remote regions' sites and the class vectors: per vector and region, a kind and a count."""

    regions: list[np.ndarray]  # site ids of each region
    kinds: np.ndarray  # (V, R) EXACT, AT_MOST or AT_LEAST
    counts: np.ndarray  # (V, R)

    @property
    def n_vectors(self) -> int:
        return len(self.kinds)


def region_counts(problem: Problem, amount: np.ndarray, lower: float, upper: float) -> Counts | None:
    """The count classes of each remote region of a lat/lon p-median problem (None when there are none).

    `amount`: every unit's primary metric; [lower, upper]: the loosest band of any territory. A region holding W
    needs between floor(W / upper) and ceil(W / lower) sites to keep its weight inside; counts in between are
    classes of their own, and the ones outside are two classes, "at most one fewer" and "at least one more"."""
    if problem.fixed or problem.geometry != "haversine" or problem.n_units < 2 or not upper > 0 or not lower > 0:
        return None
    if not np.isfinite(upper):
        return None
    label = components(problem.unit_points(), _chord(DEFAULT_REMOTE_GAP_KM))
    totals = np.bincount(label, weights=np.maximum(amount, 0.0))
    mainland = int(np.argmax(totals))
    regions, options, weights = [], [], []
    for r in np.flatnonzero(totals > 0):
        if r == mainland:
            continue
        sites = np.flatnonzero(label == r)
        low, high = int(np.floor(totals[r] / upper)), int(np.ceil(totals[r] / lower))
        high = min(high, len(sites))
        classes = [(AT_MOST, low - 1)] if low >= 1 else []
        classes += [(EXACT, c) for c in range(max(low, 0), high + 1)]
        if high + 1 <= len(sites):
            classes.append((AT_LEAST, high + 1))
        if len(classes) <= _MAX_CLASSES:
            regions.append(sites)
            options.append(classes)
            weights.append(float(totals[r]))
    while regions and int(np.prod([len(o) for o in options])) > _MAX_VECTORS:
        drop = int(np.argmin(weights))  # the lightest region moves the least weight across its gap
        del regions[drop], options[drop], weights[drop]
    if not regions:
        return None
    vectors = list(itertools.product(*options))
    kinds = np.array([[kind for kind, _ in v] for v in vectors], dtype=np.int64)
    counts = np.array([[count for _, count in v] for v in vectors], dtype=np.int64)
    return Counts(regions, kinds, counts)


def class_values(
    main: np.ndarray, region_values: list[np.ndarray], k: int, counts: Counts
) -> tuple[np.ndarray, list[tuple[np.ndarray, list[np.ndarray]]]]:
    """Per class vector, the smallest sum of k site values opening the vector's counts in each region, and which
    sites: (positions into `main`, per region positions into its values). `main` holds at least the k smallest
    mainland values, sorted; each region's values are all of its sites', sorted. +inf where a vector cannot be met.

    A region's forced sites are its c smallest (any c sites would do, the smallest are cheapest); the other slots go
    to the smallest values of the pool: the mainland, a region's sites beyond its c (at least c) or its c smallest
    (at most c)."""
    out = np.full(counts.n_vectors, np.inf)
    none = np.zeros(0, dtype=np.int64)
    picks: list[tuple[np.ndarray, list[np.ndarray]]] = []
    for v in range(counts.n_vectors):
        forced, slots, fixed_all = 0.0, k, []
        vals, tags, index = [main], [np.full(len(main), -1)], [np.arange(len(main))]
        feasible = True
        for r, values in enumerate(region_values):
            kind, c = int(counts.kinds[v, r]), int(counts.counts[v, r])
            if kind == AT_MOST:
                fixed, extra = none, np.arange(min(c, len(values)))
            elif c > len(values):
                feasible = False
                break
            else:
                fixed, extra = np.arange(c), (np.arange(c, len(values)) if kind == AT_LEAST else none)
            forced += float(values[fixed].sum())
            slots -= len(fixed)
            fixed_all.append(fixed)
            vals.append(values[extra])
            tags.append(np.full(len(extra), r))
            index.append(extra)
        pool, tag, at = np.concatenate(vals), np.concatenate(tags), np.concatenate(index)
        if not feasible or not 0 <= slots <= len(pool):
            picks.append((none, [none for _ in region_values]))
            continue
        take = np.argsort(pool, kind="stable")[:slots]
        out[v] = forced + float(pool[take].sum())
        tag, at = tag[take], at[take]
        picks.append((at[tag == -1], [np.concatenate([fixed_all[r], at[tag == r]]) for r in range(len(region_values))]))
    return out, picks


def components(points: np.ndarray, reach: float) -> np.ndarray:
    """Single-linkage components of `points` at `reach` (straight-line)."""
    n = len(points)
    tree = cKDTree(points)
    k = min(_NEIGHBOURS + 1, n)
    dist, idx = tree.query(points, k=k)
    dist, idx = dist.reshape(n, k), idx.reshape(n, k)
    keep = (dist <= reach).ravel()
    rows = np.repeat(np.arange(n), k)[keep]
    comp = connected_components(coo_matrix((np.ones(len(rows)), (rows, idx.ravel()[keep])), shape=(n, n)))[1]
    while True:  # Borůvka rounds: every component but the largest joins its nearest other one within reach
        sizes = np.bincount(comp)
        present = np.flatnonzero(sizes)
        largest = present[np.argmax(sizes[present])]
        pairs = [(c, _nearest_other(tree, points, comp, c, reach)) for c in present if c != largest]
        pairs = [(a, b) for a, b in pairs if b >= 0]
        if not pairs:
            return comp
        m = int(comp.max()) + 1
        a, b = np.array(pairs).T
        comp = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(m, m)), directed=False)[1][comp]


def _nearest_other(tree: cKDTree, points: np.ndarray, comp: np.ndarray, c: int, reach: float) -> int:
    """The component of the nearest unit outside component c within reach of it, or -1."""
    members = np.flatnonzero(comp == c)
    k = min(len(members) + 1, len(points))
    dist, idx = tree.query(points[members], k=k, distance_upper_bound=reach)
    dist, idx = dist.reshape(len(members), k), idx.reshape(len(members), k)
    found = np.isfinite(dist)
    other = np.zeros_like(found)
    other[found] = comp[idx[found]] != c
    if not other.any():
        return -1
    r, col = np.unravel_index(int(np.argmin(np.where(other, dist, np.inf))), dist.shape)
    return int(comp[idx[r, col]])


def _chord(km: float) -> float:
    """The straight-line length of a great-circle arc of `km` (what the 3-D tree measures)."""
    return float(2 * EARTH_RADIUS_KM * np.sin(min(km / (2 * EARTH_RADIUS_KM), np.pi / 2)))
