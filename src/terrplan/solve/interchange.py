"""Vertex substitution (Teitz & Bart 1968, in Whitaker's fast-interchange form) for the uncapacitated p-median,
and a variable neighbourhood search on top of it (Hansen & Mladenovic 1997).

Each step evaluates every swap (open site c, close centre j) at once from the nearest and second-nearest open
centre of each unit, and applies the best one, until no swap improves the objective. Only the sites a unit
reaches for less than its second-nearest centre change its part of a swap's value, so each unit's sites are
sorted once (`SiteOrder`) and a step touches only that prefix of each list (Resende & Werneck's observation): on
OR-Library pmed34 (700 units, p = 140) a descent from random centres takes 0.28 s instead of 1.8 s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SiteOrder:
    """Each unit's sites from nearest to farthest, with their weighted distances (built once per solve)."""

    cost: np.ndarray  # (n units, S sites) weighted distance
    order: np.ndarray  # (n, S) site indices, nearest first
    ranked: np.ndarray  # (n, S) cost[i, order[i]], ascending per row

    @classmethod
    def of(cls, cost: np.ndarray) -> SiteOrder:
        order = np.argsort(cost, axis=1, kind="stable").astype(np.int32)
        return cls(cost, order, np.take_along_axis(cost, order, axis=1))

    def below(self, limit: np.ndarray) -> np.ndarray:
        """Per unit, how many of its sites cost less than limit[i] (a bisection on every row at once)."""
        n, width = self.ranked.shape
        rows = np.arange(n)
        lo, hi = np.zeros(n, dtype=np.int64), np.full(n, width, dtype=np.int64)
        while (lo < hi).any():
            mid = (lo + hi) // 2
            less = self.ranked[rows, np.minimum(mid, width - 1)] < limit
            open_ = lo < hi
            lo = np.where(open_ & less, mid + 1, lo)
            hi = np.where(open_ & ~less, mid, hi)
        return lo


def fast_interchange(
    sites: SiteOrder, centres: np.ndarray, deadline: float, max_swaps: int = 100_000, rtol: float = 1e-12
) -> np.ndarray:
    """Best-improvement swaps of the open sites until none improves; returns the sites."""
    centres = np.array(centres, dtype=np.int64)
    p, n_sites = len(centres), sites.cost.shape[1]
    if p >= n_sites or p == 0:
        return centres
    for _ in range(max_swaps):
        if time.perf_counter() > deadline:
            break
        delta = swap_deltas(sites, centres)
        c, j = divmod(int(np.argmin(delta)), p)
        if not delta[c, j] < -rtol * max(abs(_value(sites, centres)), 1.0):
            break
        centres[j] = c
    return centres


def swap_deltas(sites: SiteOrder, centres: np.ndarray) -> np.ndarray:
    """(S, p) change of the uncapacitated objective when site c opens in place of centre j (inf for open c).

    Unit i served by centre a (cost d1) with second-nearest centre cost d2: opening c in place of j changes its cost
    by min(cost_ic, d2) - d1 when j = a, and by min(cost_ic, d1) - d1 otherwise. For sites with cost_ic >= d2 the
    first is d2 - d1 (summed per centre once) and the second 0, so only each unit's sites below d2 are visited.
    """
    cost = sites.cost
    n, n_sites = cost.shape
    p = len(centres)
    units = np.arange(n)
    open_cost = cost[:, centres]
    if p == 1:
        nearest = np.zeros(n, dtype=np.int64)
        d1 = open_cost[:, 0]
        d2 = np.full(n, 2.0 * float(np.abs(cost).max()) + 1.0)  # above every cost: the unit always moves to c
    else:
        two = np.argpartition(open_cost, 1, axis=1)[:, :2]
        first = open_cost[units, two[:, 0]] <= open_cost[units, two[:, 1]]
        nearest = np.where(first, two[:, 0], two[:, 1])
        d1 = open_cost[units, nearest]
        d2 = open_cost[units, np.where(first, two[:, 1], two[:, 0])]
    counts = sites.below(d2)
    rows = np.repeat(units, counts)
    cols = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    site, value = sites.order[rows, cols].astype(np.int64), sites.ranked[rows, cols]
    lo, hi = d1[rows], d2[rows]
    gain = np.bincount(site, weights=np.maximum(lo - value, 0.0), minlength=n_sites)
    # j = a: (min(cost, d2) - d1) on the listed sites, (d2 - d1) on every other: the per-centre sum of d2 - d1,
    # corrected on the listed pairs. j != a: min(cost, d1) - d1 = -max(d1 - cost, 0), which `gain` already counts.
    pair = site * p + nearest[rows]
    listed = np.bincount(pair, weights=np.minimum(value, hi) - hi + np.maximum(lo - value, 0.0), minlength=n_sites * p)
    delta = listed.reshape(n_sites, p) + np.bincount(nearest, weights=d2 - d1, minlength=p)[None, :] - gain[:, None]
    delta[centres, :] = np.inf
    return delta


def balanced_interchange(sites: SiteOrder, centres, territory, value, evaluate, deadline, top=8, max_passes=1000):
    """Swaps of centres under the bands: screen every swap by its uncapacitated change, re-solve the `top` most
    promising with `evaluate(centres) -> (value, territory)`, apply the best if it improves, repeat.
    """
    centres = np.array(centres, dtype=np.int64)
    p = len(centres)
    for _ in range(max_passes):
        if time.perf_counter() > deadline:
            break
        delta = swap_deltas(sites, centres)
        flat = np.argsort(delta, axis=None, kind="stable")
        best = None
        tried_sites: set[int] = set()
        for pos in flat:
            c, j = divmod(int(pos), p)
            if not np.isfinite(delta[c, j]) or len(tried_sites) >= top:
                break
            if c in tried_sites:
                continue
            tried_sites.add(c)
            trial = centres.copy()
            trial[j] = c
            new_value, new_territory = evaluate(trial)
            if new_value < value - 1e-9 * max(abs(value), 1.0) and (best is None or new_value < best[0]):
                best = (new_value, new_territory, trial)
            if time.perf_counter() > deadline:
                break
        if best is None:
            break
        value, territory, centres = best
    return value, territory, centres


_SHAKE_MOST = 10  # largest neighbourhood: this many centres moved at once before the search starts over at one
# The search stops after this many shakes in a row without a gain: max(_STALL_MIN, _STALL_PER_CENTRE x p). On pmed
# 1-40 from the solver's start (effort 1) the longest run without a gain that still ended in one was 647 shakes
# (pmed25, p = 167) and 365 (pmed14, p = 60); the 13 instances with p <= 10 never gained, yet spent 1.4-7.4 s each.
_STALL_MIN, _STALL_PER_CENTRE = 100, 10


def shake_search(
    sites: SiteOrder, centres: np.ndarray, shakes: int, seed: int, deadline: float, patience: float = 1.0
) -> tuple[np.ndarray, int]:
    """Variable neighbourhood search: move k random centres each to one of its own nearest sites, descend with
    fast interchange, keep the result only if it is better (then k = 1, else k + 1, back to 1 after
    `_SHAKE_MOST`). At most `shakes` descents, fewer when a long run of them gains nothing (`_STALL_MIN`, times
    `patience`: the solver passes its effort, so more effort also waits longer for a gain); the clock only cuts.
    The same seed gives the same sites, and more shakes continue the same trajectory. Returns the best centres and
    the shakes run.

    Moves to a centre's own neighbourhood, not to any site: on pmed30 (600 units, p = 200) 6 s of search end 0.05 %
    above the optimum with shakes anywhere and at the optimum with local ones."""
    rng = np.random.default_rng(seed)
    best = np.array(centres, dtype=np.int64)
    p, n_sites = len(best), sites.cost.shape[1]
    if p == 0 or p >= n_sites:
        return best, 0
    value = _value(sites, best)
    reach = shake_reach(n_sites, p)
    k, stall, since, done = 1, round(patience * max(_STALL_MIN, _STALL_PER_CENTRE * p)), 0, 0
    while done < shakes and since < stall and time.perf_counter() <= deadline:
        done, since = done + 1, since + 1
        trial = best.copy()
        for j in rng.choice(p, min(k, p), replace=False):
            trial[j] = sites.order[trial[j], 1 + rng.integers(reach)]
        if len(np.unique(trial)) == p:
            trial = fast_interchange(sites, trial, deadline)
            found = _value(sites, trial)
            if found < value - 1e-12 * max(abs(value), 1.0):
                best, value, k, since = trial, found, 1, 0
                continue
        k = k + 1 if k < _SHAKE_MOST else 1
    return best, done


def shake_reach(n_sites: int, p: int) -> int:
    """How many of a centre's nearest sites a shake may move it to: its own area holds about S / p sites, so twice
    that (at least 4, at most every other site)."""
    return min(max(4, 2 * n_sites // p), n_sites - 1)


def _value(sites: SiteOrder, centres: np.ndarray) -> float:
    return float(sites.cost[:, centres].min(axis=1).sum())
