"""Lagrangian lower bound for the balanced p-median (and the fixed-centre assignment).

Relax "each unit assigned once" with multipliers lam_i. What is left splits by site j: pick fractional x_ij in
[0, 1] minimising sum_i (w_i d_ij - lam_i) x_ij under the site's band L <= sum_i a_i x_ij <= U on the primary
metric (a fractional knapsack, solved greedily in order of reduced cost per unit of metric), then open the K
best sites. Every other constraint (other metrics, per-territory differences in the band: each site gets the
loosest band of any territory) is dropped, which only loosens the bound, so every value it returns is a valid
lower bound. Subgradient steps (Held & Karp, Polyak step towards the best known objective) move lam.

Two layouts:

* dense (sites x units fits in memory): every site sees every unit, the lower band is kept.
* sparse: each unit keeps only its M nearest sites, and lam_i is capped at w_i x (distance to its M-th nearest
  site); then no arc outside the list can have a negative reduced cost. Outside arcs could still be needed to
  fill a site's LOWER band (at a non-negative cost we do not see), so the sparse layout drops the lower band.

Results are deterministic: the iteration cap, the step rule or a closed gap end the loop; the clock only cuts
runs that hit the time limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from terrplan.model import Problem
from terrplan.solve.assign import primary_metric
from terrplan.solve.candidates import nearest_sites

_DENSE_CELLS = 12_000_000  # sites x units up to which every site sees every unit (a few float64 matrices)
_PATIENCE = 20  # non-improving steps before the step factor halves
_MU_START, _MU_MIN = 2.0, 1e-3
_DEFLECT = 0.3  # weight of the previous direction in the next step
_RESET = False  # when the step halves, restart from the best multipliers (tried: worse on the sample)


@dataclass(frozen=True)
class Bound:
    """The best Lagrangian value, the sites its relaxation opened, and the iterations run."""

    value: float
    sites: np.ndarray
    iterations: int


def lagrangian_bound(
    problem: Problem,
    upper_bound: float,
    start: np.ndarray,
    time_limit_s: float,
    max_iter: int = 400,
) -> float:
    """Best Lagrangian bound found within the time limit; `start` gives initial multipliers (e.g. current costs)."""
    return lagrangian(problem, upper_bound, start, time_limit_s, max_iter).value


def lagrangian(
    problem: Problem, upper_bound: float, start: np.ndarray, time_limit_s: float, max_iter: int = 400
) -> Bound:
    t0 = time.perf_counter()
    relax = _Relaxation.build(problem)
    lam = relax.clip(np.asarray(start, dtype=float)[relax.units])
    target = float(upper_bound)
    best, best_sites = -np.inf, np.zeros(0, dtype=np.int64)
    mu, stall, it = _MU_START, 0, 0
    direction: np.ndarray | None = None
    best_lam = lam
    for it in range(1, max_iter + 1):  # noqa: B007 - reported
        value, x_sum, sites = relax.evaluate(lam)
        if value > best + 1e-12 * max(abs(value), 1.0):
            improved = value > best + 1e-6 * max(abs(value), 1.0)
            best, best_sites, best_lam = value, sites, lam
            stall = 0 if improved else stall + 1
        else:
            stall += 1
        if target - best <= 1e-7 * max(abs(target), 1.0) or mu < _MU_MIN:
            break
        if stall >= _PATIENCE:
            mu, stall = mu / 2, 0
            if _RESET and best_lam is not lam:
                lam, direction = best_lam, None  # halve the step and go back to the best multipliers
                continue
        g = 1.0 - x_sum
        if float(g @ g) <= 1e-12:
            break  # the relaxed solution assigns every unit exactly once: the bound is exact
        if time.perf_counter() - t0 > time_limit_s:
            break
        # deflected direction (Camerini, Fratta & Maffioli): damps the zig-zag of plain subgradient steps
        direction = g if direction is None else g + _DEFLECT * direction
        norm = float(direction @ direction)
        lam = relax.clip(lam + mu * max(target - value, 1e-9 * abs(target)) / norm * direction)
    return Bound(float(best), best_sites, it)


@dataclass
class _Band:
    """Sites that may open under one band: per site lower/upper limit, how many open, last dual guesses."""

    lower: np.ndarray  # (S,)
    upper: np.ndarray  # (S,)
    count: int
    theta: np.ndarray  # (S,) last known marginal ratio of each site's band knapsack (for the floors)


_MAX_BAND_CLASSES = 4  # territories with more distinct bands than this share the loosest one


@dataclass
class _Relaxation:
    problem: Problem
    units: np.ndarray  # units that can matter (non-zero weight or metric)
    k: int
    fixed: bool
    amount: np.ndarray  # primary metric of `units`
    bands: list[_Band]  # dense: one entry per class of territories with the same band
    upper: np.ndarray  # sparse: (S,) capacity per site
    capacitated: bool
    dense: bool
    cost: np.ndarray  # dense: (S, n') site-major; sparse: (n', M) unit-major
    site: np.ndarray | None  # sparse: (n', M) site ids
    cap: np.ndarray  # upper limit of each multiplier
    buffers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # float32 cost, reduced, shifted
    amount32: np.ndarray | None = None
    row_abs: np.ndarray | None = None  # (S,) sum over units of |cost|, for the float32 error margin

    @classmethod
    def build(cls, problem: Problem) -> _Relaxation:
        k, n_sites = problem.n_territories, problem.n_sites
        row = primary_metric(problem)
        amount_all = problem.metrics[row] if row is not None else np.zeros(problem.n_units)
        units = np.flatnonzero((problem.weights != 0) | (amount_all != 0))
        if len(units) == 0:
            units = np.arange(min(1, problem.n_units))
        amount = amount_all[units]
        capacitated = row is not None and bool((amount >= 0).all())
        bands = [_Band(np.zeros(n_sites), np.full(n_sites, np.inf), n_sites if problem.fixed else k, np.zeros(n_sites))]
        if capacitated:
            lo, hi = np.maximum(problem.lower[row], 0.0), problem.upper[row]
            if problem.fixed:
                bands = [_Band(lo.copy(), hi.copy(), n_sites, np.zeros(n_sites))]
            else:
                pairs = sorted(set(zip(lo.tolist(), hi.tolist(), strict=True)))
                if len(pairs) > _MAX_BAND_CLASSES:
                    pairs, counts = [(float(lo.min()), float(hi.max()))], [k]
                else:
                    counts = [int(((lo == a) & (hi == b)).sum()) for a, b in pairs]
                # A site opened for territory t meets t's band. Each class of equal bands opens its own count of
                # sites; letting classes share a site only loosens the bound.
                bands = [
                    _Band(np.full(n_sites, a), np.full(n_sites, b), c, np.zeros(n_sites))
                    for (a, b), c in zip(pairs, counts, strict=True)
                ]
            capacitated = any(np.isfinite(b.upper).any() or (b.lower > 0).any() for b in bands)
        upper = np.maximum.reduce([b.upper for b in bands])
        dense = n_sites * len(units) <= _DENSE_CELLS
        if dense:
            cost = np.ascontiguousarray(
                (problem.weights[units][:, None] * problem.distance_matrix(units, np.arange(n_sites))).T
            )
            return cls(
                problem, units, k, problem.fixed, amount, bands, upper, capacitated, True, cost, None,
                np.full(len(units), np.inf),
            )  # fmt: skip
        m = min(n_sites, max(64, 4 * problem.n_units // k), 384)
        site, dist = nearest_sites(problem, np.arange(n_sites), m)
        site, dist = site[units], dist[units]
        cost = problem.weights[units][:, None] * dist
        return cls(
            problem, units, k, problem.fixed, amount, bands, upper, bool(np.isfinite(upper).any()), False, cost,
            site, cost[:, -1].copy(),
        )  # fmt: skip

    def clip(self, lam: np.ndarray) -> np.ndarray:
        if self.dense:
            return lam
        return np.clip(lam, 0.0, self.cap)

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """L(lam), per unit the total fraction the chosen sites take of it, and the chosen sites."""
        return self._evaluate_dense(lam) if self.dense else self._evaluate_sparse(lam)

    def _choose(self, rho: np.ndarray) -> np.ndarray:
        if self.fixed or self.k >= len(rho):
            return np.arange(len(rho))
        return np.sort(np.argpartition(rho, self.k - 1)[: self.k])

    def _evaluate_dense(self, lam):
        n = len(lam)
        if not self.capacitated:
            reduced = self.cost - lam[None, :]
            rho = np.minimum(reduced, 0.0).sum(axis=1)
            chosen = self._choose(rho)
            x_sum = (reduced[chosen] < 0).sum(axis=0).astype(float)
            return float(lam.sum() + rho[chosen].sum()), x_sum, chosen
        if self.buffers is None:
            cost32 = self.cost.astype(np.float32)
            self.buffers = (cost32, np.empty_like(cost32), np.empty_like(cost32))
            self.amount32 = self.amount.astype(np.float32)
            self.row_abs = np.abs(self.cost).sum(axis=1)
        cost32, reduced, shifted = self.buffers
        np.subtract(cost32, lam[None, :].astype(np.float32), out=reduced)
        base = np.minimum(reduced, 0.0, out=shifted).sum(axis=1)
        value = float(lam.sum())
        x_sum = np.zeros(n)
        chosen_all = []
        for band in self.bands:
            part, chosen = self._band_value(lam, reduced, base, band, x_sum)
            value += part
            chosen_all.append(chosen)
        return value, x_sum, np.concatenate(chosen_all)

    def _band_value(self, lam, reduced, base, band: _Band, x_sum: np.ndarray) -> tuple[float, np.ndarray]:
        """Sum of the `band.count` smallest site knapsack values; adds the chosen fractions to x_sum."""
        # A floor under each site's knapsack value, for any theta (a guess at the band's dual price, from the
        # site's last exact solution): sum_i min(r_i - theta a_i, 0) + theta L (theta >= 0) or theta U (theta < 0).
        # Solve exactly only the sites with the smallest floors, widening until the count-th best exact value is
        # below every floor left out: then no skipped site could be among the best.
        # The floors only choose which sites to solve exactly, so they are summed in float32 and then lowered by
        # far more than float32 rounding could have raised them.
        theta = band.theta
        floor = base.astype(np.float64)
        priced = np.flatnonzero(theta != 0)  # sites solved exactly before; the rest have theta 0
        if len(priced):
            sub = reduced[priced] - np.multiply.outer(theta[priced].astype(np.float32), self.amount32)
            floor[priced] = np.minimum(sub, 0.0).sum(axis=1)
        # float32 rounding moves each term by under ~1e-7 x (|cost| + |lam| + |theta a|), the pairwise sum by a
        # small multiple of that: 1e-5 of those magnitudes is a safe margin.
        floor -= 1e-5 * (self.row_abs + float(np.abs(lam).sum()) + np.abs(theta) * float(self.amount.sum())) + 1e-9
        floor += np.where(theta >= 0, theta * band.lower, theta * np.where(np.isfinite(band.upper), band.upper, 0.0))
        order = np.argsort(floor, kind="stable")
        n_rows, k = len(floor), min(band.count, len(floor))
        end = min(n_rows, max(2 * k, 16))
        rows = order[:end]
        rho, taken = self._exact(lam, rows, band)
        while end < n_rows:
            kth = np.partition(rho, k - 1)[k - 1]
            if kth <= floor[order[end]]:
                break
            more = order[end : min(n_rows, 2 * end)]
            end = min(n_rows, 2 * end)
            rho_m, taken_m = self._exact(lam, more, band)
            rows = np.concatenate([rows, more])
            rho = np.concatenate([rho, rho_m])
            taken = taken + taken_m
        pick = np.arange(len(rows)) if k >= len(rows) else np.argpartition(rho, k - 1)[:k]
        for i in pick:
            idx, x = taken[i]
            x_sum += np.bincount(idx, weights=x, minlength=len(x_sum))
        return float(rho[pick].sum()), np.sort(rows[pick])

    def _exact(self, lam, rows, band: _Band):
        """Exact band knapsack values of the given site rows, and each row's (items, fractions) taken."""
        n = len(lam)
        a = self.amount
        sub = self.cost[rows] - lam[None, :]
        positive = a > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = sub * np.where(positive, 1.0 / np.where(positive, a, 1.0), 0.0)[None, :]
            if not positive.all():
                ratio[:, ~positive] = np.where(sub[:, ~positive] < 0, -np.inf, np.inf)
        count = min(n, max(32, 2 * n // max(self.k, 1) + 32))
        rho = np.zeros(len(rows))
        out: list = [None] * len(rows)
        todo = np.arange(len(rows))
        while len(todo):
            lower, upper = band.lower[rows[todo]], band.upper[rows[todo]]
            rho_t, idx, x, r = _knapsack(sub[todo], ratio[todo], a, lower, upper, count)
            # a row whose last kept item is still (partly) taken may need more items: redo it with more
            short = x[:, -1] > 0 if count < n else np.zeros(len(todo), dtype=bool)
            for pos in np.flatnonzero(~short):
                i = todo[pos]
                taken = x[pos] > 0
                rho[i] = rho_t[pos]
                out[i] = (idx[pos][taken], x[pos][taken])
                last = np.flatnonzero(taken)
                theta = float(r[pos, last[-1]]) if len(last) else 0.0
                if not np.isfinite(theta) or (theta < 0 and not np.isfinite(band.upper[rows[i]])):
                    theta = 0.0
                band.theta[rows[i]] = theta
            todo = todo[short]
            count = min(n, 2 * count)
        return rho, out

    def _evaluate_sparse(self, lam):
        n_sites = self.problem.n_sites
        reduced = self.cost - lam[:, None]
        unit, col = np.nonzero(reduced < 0)
        r = reduced[unit, col]
        s = self.site[unit, col]
        a = self.amount[unit]
        x = _fractional_knapsack(r, s, a, self.upper) if self.capacitated else np.ones_like(r)
        rho = np.bincount(s, weights=r * x, minlength=n_sites)
        chosen = self._choose(rho)
        taken = np.zeros(n_sites, dtype=bool)
        taken[chosen] = True
        keep = taken[s]
        x_sum = np.bincount(unit[keep], weights=x[keep], minlength=len(lam))
        return float(lam.sum() + rho[chosen].sum()), x_sum, chosen


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


def _knapsack(reduced, ratio, amount, lower, upper, count):
    """Greedy fractional knapsack with a band, one per row, over each row's `count` smallest ratios.

    Items go in by increasing ratio (reduced cost per unit of metric): every negative one while the upper limit
    allows, then positive ones until the lower limit is met. Returns values, items, fractions and ratios, sorted.
    """
    n = reduced.shape[1]
    if count < n:
        part = np.argpartition(ratio, count - 1, axis=1)[:, :count]
        order = np.argsort(np.take_along_axis(ratio, part, axis=1), axis=1, kind="stable")
        idx = np.take_along_axis(part, order, axis=1)
    else:
        idx = np.argsort(ratio, axis=1, kind="stable")
    r = np.take_along_axis(ratio, idx, axis=1)
    red = np.take_along_axis(reduced, idx, axis=1)
    a = amount[idx]
    before = np.cumsum(a, axis=1) - a
    room = np.where(r < 0, upper[:, None], lower[:, None]) - before
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(a > 0, np.clip(room / np.where(a > 0, a, 1.0), 0.0, 1.0), (r < 0).astype(float))
    return (red * x).sum(axis=1), idx, x, r
