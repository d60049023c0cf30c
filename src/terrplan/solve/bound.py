"""Lagrangian lower bound for the balanced p-median (and the fixed-centre assignment).

Relax "each unit assigned once" with multipliers lam_i. What is left splits by site j: pick fractional x_ij in
[0, 1] minimising sum_i (w_i d_ij - lam_i) x_ij under the site's capacity sum_i a_i x_ij <= U (a fractional
knapsack), then open the K best sites. Lower bands are dropped, which only loosens the bound, so every value
it returns is a valid lower bound. Subgradient steps (Held & Karp) move lam towards the best bound.

Sparse and still exact: each unit keeps only its M nearest sites, and lam_i is capped at w_i x (distance to
its M-th nearest site); then no arc outside the list can have a negative reduced cost.
"""

from __future__ import annotations

import time

import numpy as np

from terrplan.model import Problem
from terrplan.solve.assign import primary_metric
from terrplan.solve.candidates import nearest_sites

_DENSE_SITES = 1000  # up to this many sites, every unit keeps every site


def lagrangian_bound(
    problem: Problem, upper_bound: float, start: np.ndarray, time_limit_s: float, max_iter: int = 400
) -> float:
    """Best Lagrangian bound found within the time limit; `start` gives initial multipliers (e.g. current costs)."""
    t0 = time.perf_counter()
    k, n = problem.n_territories, problem.n_units
    n_sites = problem.n_sites
    m = n_sites if n_sites <= _DENSE_SITES else min(n_sites, max(64, 4 * n // k), 384)
    site, dist = nearest_sites(problem, np.arange(n_sites), m)
    cost = problem.weights[:, None] * dist
    cap = cost[:, -1] if m < n_sites else np.full(n, np.inf)

    row = primary_metric(problem)
    amount = problem.metrics[row] if row is not None else np.zeros(n)
    if row is not None and np.isfinite(problem.upper[row]).any():
        capacity = problem.upper[row] if problem.fixed else np.full(n_sites, problem.upper[row].max())
    else:
        capacity = np.full(n_sites, np.inf)

    lam = np.clip(np.asarray(start, dtype=float), 0.0, cap)
    best = -np.inf
    mu, stall = 2.0, 0
    for _ in range(max_iter):
        value, x_sum = _evaluate(lam, cost, site, amount, capacity, k, problem.fixed, n_sites)
        if value > best + 1e-9 * max(abs(value), 1.0):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 8:
                mu, stall = mu / 2, 0
        gap = upper_bound - best
        if gap <= 1e-6 * max(abs(upper_bound), 1.0) or mu < 1e-4 or time.perf_counter() - t0 > time_limit_s:
            break
        g = 1.0 - x_sum
        norm = float(g @ g)
        if norm <= 1e-12:
            break  # the relaxed solution assigns every unit once: the bound is exact
        lam = np.clip(lam + mu * max(upper_bound - value, 1e-9 * abs(upper_bound)) / norm * g, 0.0, cap)
    return float(best)


def _evaluate(lam, cost, site, amount, capacity, k, fixed, n_sites):
    """L(lam) and, per unit, the total fraction the chosen sites take of it."""
    reduced = cost - lam[:, None]
    unit, col = np.nonzero(reduced < 0)
    r = reduced[unit, col]
    s = site[unit, col]
    a = amount[unit]
    x = _fractional_knapsack(r, s, a, capacity) if np.isfinite(capacity).any() else np.ones_like(r)
    rho = np.bincount(s, weights=r * x, minlength=n_sites)
    if fixed:
        chosen = np.ones(n_sites, dtype=bool)
    else:
        chosen = np.zeros(n_sites, dtype=bool)
        chosen[np.argpartition(rho, k - 1)[:k]] = True
    value = lam.sum() + rho[chosen].sum()
    taken = chosen[s]
    x_sum = np.bincount(unit[taken], weights=x[taken], minlength=len(lam))
    return float(value), x_sum


def _fractional_knapsack(r, s, a, capacity):
    """Per site, take items by most negative reduced cost per unit of metric until the capacity is full."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(a > 0, r / np.where(a > 0, a, 1.0), -np.inf)
    order = np.lexsort((ratio, s))
    s_sorted, a_sorted = s[order], a[order]
    cum = np.cumsum(a_sorted)
    starts = np.searchsorted(s_sorted, s_sorted, side="left")
    before = cum - a_sorted - np.where(starts > 0, cum[starts - 1], 0.0)
    room = capacity[s_sorted] - before
    with np.errstate(divide="ignore", invalid="ignore"):
        x_sorted = np.where(a_sorted > 0, np.clip(room / np.where(a_sorted > 0, a_sorted, 1.0), 0.0, 1.0), 1.0)
    x = np.empty_like(x_sorted)
    x[order] = x_sorted
    return x
