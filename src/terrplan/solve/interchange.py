"""Vertex substitution (Teitz & Bart 1968, in Whitaker's fast-interchange form) for the uncapacitated p-median.

Each step evaluates every swap (open site c, close centre j) at once from the nearest and second-nearest open
centre of each unit, and applies the best one, until no swap improves the objective.
"""

from __future__ import annotations

import time

import numpy as np


def fast_interchange(
    cost: np.ndarray, centres: np.ndarray, deadline: float, max_swaps: int = 100_000, rtol: float = 1e-12
) -> np.ndarray:
    """Best-improvement swaps of the open sites. `cost` is (n units, S sites) weighted distance; returns sites."""
    centres = np.array(centres, dtype=np.int64)
    n, n_sites = cost.shape
    p = len(centres)
    if p >= n_sites or p == 0:
        return centres
    for _ in range(max_swaps):
        if time.perf_counter() > deadline:
            break
        delta = swap_deltas(cost, centres)
        c, j = divmod(int(np.argmin(delta)), p)
        total = float(cost[np.arange(n)[:, None], centres[None, :]].min(axis=1).sum())
        if not delta[c, j] < -rtol * max(abs(total), 1.0):
            break
        centres[j] = c
    return centres


def swap_deltas(cost: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(S, p) change of the uncapacitated objective when site c opens in place of centre j (inf for open c)."""
    n = cost.shape[0]
    p = len(centres)
    units = np.arange(n)
    open_cost = cost[:, centres]
    if p == 1:
        nearest = np.zeros(n, dtype=np.int64)
        d1 = open_cost[:, 0]
        d2 = np.full(n, np.finfo(float).max / 4)
    else:
        two = np.argpartition(open_cost, 1, axis=1)[:, :2]
        first = open_cost[units, two[:, 0]] <= open_cost[units, two[:, 1]]
        nearest = np.where(first, two[:, 0], two[:, 1])
        d1 = open_cost[units, nearest]
        d2 = open_cost[units, np.where(first, two[:, 1], two[:, 0])]
    gain = np.maximum(d1[:, None] - cost, 0.0).sum(axis=0)
    extra = np.minimum(cost, d2[:, None]) - np.minimum(cost, d1[:, None])
    member = np.zeros((n, p))
    member[units, nearest] = 1.0
    delta = extra.T @ member - gain[:, None]
    delta[centres, :] = np.inf
    return delta


def balanced_interchange(cost, centres, territory, value, evaluate, deadline, top=8, max_passes=1000):
    """Swaps of centres under the bands: screen every swap by its uncapacitated change, re-solve the `top` most
    promising with `evaluate(centres) -> (value, territory)`, apply the best if it improves, repeat.
    """
    centres = np.array(centres, dtype=np.int64)
    p = len(centres)
    for _ in range(max_passes):
        if time.perf_counter() > deadline:
            break
        delta = swap_deltas(cost, centres)
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
