"""Lagrangian lower bound for the balanced p-median (and the fixed-centre assignment).

Relax "each unit assigned once" with multipliers lam_i. What is left splits by site j: pick fractional x_ij in
[0, 1] minimising sum_i (w_i d_ij - lam_i) x_ij under the site's band L <= sum_i a_i x_ij <= U on the primary
metric (a fractional knapsack, solved greedily in order of reduced cost per unit of metric), then open the K
best sites. A territory with locked units opens a site of its own, priced with the locked units' travel to it
(`_Groups`). Every other constraint (other metrics, per-territory differences in the band: each site gets the
loosest band of any territory) is dropped, which only loosens the bound, so every value it returns is a valid
lower bound. Subgradient steps (Held & Karp, Polyak step towards the best known objective) move lam. (The
Volume algorithm was measured against them and dropped: slower, and it ends at the same value, the relaxation's.)

Two layouts:

* dense (sites x units fits in memory): every site sees every unit, the lower band is kept.
* sparse: each unit lists its M nearest sites and each site its nearest units, at their true cost; every other
  pair is priced at a lower estimate, w_i x max(the unit's M-th site distance, the site's radius, its distance
  to the site's cluster less the cluster's radius), which it cannot beat. lam_i is capped at w_i x the unit's M-th
  site distance, so outside arcs never pay but can still fill a site's LOWER band: the band is kept. Each site's
  band knapsack is solved through its dual price (bisection), see `_SparseRelaxation`. Measurements:
  benchmarks/bound_study.md.

Results are deterministic: the iteration cap, the step rule or a closed gap end the loop; the clock only cuts
runs that hit the time limit.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from terrplan.geo import haversine_km
from terrplan.model import Problem, Rules
from terrplan.solve.assign import primary_metric
from terrplan.solve.candidates import nearest_sites, nearest_units

_DENSE_CELLS = 12_000_000  # sites x units up to which every site sees every unit (a few float64 matrices)
# Up to this many times _DENSE_CELLS, every site sees every unit also when the bound has at least _DENSE_CELL_STEP_S
# per cell (42 s on 28 million): a dense step is slower, but the sparse layout's plateau is higher. hospitals_k200
# (5,306 units and sites), the bound alone from one alignment, gap after 10 / 20 / 45 s: sparse 30.3 / 28.7 % (where it
# stops), dense 41.0 / 26.4 / 21.2 %. Beside a search the dense steps are slower (memory shared, 0.19 -> 0.33 s on
# hospitals_zip_k200): with 0.75e-6 s a cell hospitals_k200's bound, which gets 18-25 s there, once ended at a 96 %
# gap (benchmarks/bound_study.md, section 8).
_TIMED_DENSE_FACTOR, _DENSE_CELL_STEP_S = 3, 1.5e-6
_MIN_LIST, _MAX_LIST = 64, 384  # sparse layout: how many nearest sites each unit lists
_PATIENCE = 20  # non-improving steps before the step factor halves
# A bound the clock will end before 3/4 of its step cap halves its step sooner: one non-improving step in 30 of
# those it will run, at least 5 (`_patience`).
_CLOCKED, _STEPS_PER_PATIENCE, _PATIENCE_MIN = 0.75, 30, 5
_MU_START, _MU_MIN = 1.0, 1e-3
_DEFLECT = 0.3  # weight of the previous direction in the next step


def apart_problem(problem: Problem) -> tuple[Problem, float] | None:
    """A problem whose Lagrangian bound, less the returned offset, bounds `problem` when its members may go apart
    (`Members.apart`: ZIP units refined account by account); `problem` itself and 0 otherwise. None: no valid
    bound of this kind (negative weights or metric).

    Each unit at its own location with its total weight W_u, no members. For an account a of unit u at distance
    r_a from u's location, every site j has d(a, j) >= d(u, j) - r_a (triangle inequality), so any split of u's
    accounts over sites costs at least sum_j W_u xbar_uj d(u, j) - R_u, where xbar_uj is the weight-share of u
    sent to j and R_u = sum_a w_a r_a (`Problem.member_spread`). When the primary balance metric is the objective
    weight (potential and potential), xbar is also the metric share, so the unit's band constraint holds for it and
    the bands stay; otherwise they are dropped, which only loosens the bound."""
    members = problem.members
    if members is None or not members.apart:
        return problem, 0.0
    if (problem.weights < 0).any() or (members.weights < 0).any() or (problem.metrics < 0).any():
        return None
    row = primary_metric(problem)
    lower, upper = problem.lower, problem.upper
    if row is not None and not np.array_equal(problem.metrics[row], problem.weights):
        lower, upper = np.full_like(lower, -np.inf), np.full_like(upper, np.inf)
    # a locked unit's accounts are all in its territory: the locks stay (`_Groups` prices them), nothing else does
    locks = problem.rules
    rules = None if locks is None else dataclasses.replace(Rules.none(problem.n_units), locked=locks.locked)
    centroid = dataclasses.replace(problem, members=None, lower=lower, upper=upper, rules=rules, homes=None)
    return centroid, float(problem.member_spread().sum())


def multiplier_start(problem: Problem, territory: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Where the subgradient starts, from a known alignment: each unit's price for being assigned, halfway between
    its travel in the alignment and to its second-nearest centre."""
    units = np.arange(problem.n_units)
    near, distance = nearest_sites(problem, centres, min(2, len(centres)))
    own = problem.travel(units, centres[territory])
    return 0.5 * (own + problem.travel(units, centres[near[:, -1]], distance[:, -1]))


@dataclass(frozen=True)
class Bound:
    """The best Lagrangian value, the sites its relaxation opened, and the iterations run."""

    value: float
    sites: np.ndarray
    iterations: int


def lagrangian(
    problem: Problem, upper_bound: float, start: np.ndarray, time_limit_s: float, max_iter: int = 400
) -> Bound:
    """The best bound over `max_iter` subgradient steps from the multipliers `start` (or until the clock runs out).

    Each unit's price moves in proportion to its start, i.e. to the unit's own cost scale (a diagonal
    preconditioner). Units' weights can span four orders of magnitude (the sample: potential 0.6 to 6,060), and a
    step that moves every price alike either throws the smallest from site to site or barely moves the largest.
    Gap to the objective after 300 steps, alike (step factor 2) / scaled (1): the sample 5.6 / 1.19 %, the sample one
    unit per account 2.1 / 0.75 %, NC county units 5.4 / 2.4 %, pmed16 0.88 / 0.86 %, pmedcap1_20 6.60 / 6.49 %;
    `national` after 100 steps 17.4 / 17.9 %. Scaled, first step factor 0.5 / 1 / 2 / 4: the sample 1.22 / 1.19 /
    1.74 / 145 %, one unit per account 0.91 / 0.75 / 1.40 / 152 %.
    """
    deadline = time.perf_counter() + time_limit_s
    return descend(relaxation(problem, time_limit_s, max_iter), upper_bound, start, deadline, max_iter)


def relaxation(problem: Problem, time_limit_s: float, max_iter: int) -> _Relaxation | _SparseRelaxation | None:
    """The relaxation a bound of `max_iter` steps and `time_limit_s` seconds runs on; None where even its shortest
    lists would overrun the clock (no bound)."""
    # A layout that alone would overrun the clock: the shortest lists (valid for any length, weaker), else no bound.
    # Only a short clock changes the layout, so a run its caps end repeats exactly.
    lists = list_lengths(max_iter)
    dense = not sparse_layout(problem, time_limit_s)
    short = None if build_seconds(problem, None, lists, dense) <= time_limit_s + _BUILD_SLACK_S else _MIN_LIST
    if short is not None and build_seconds(problem, short, lists, dense) > time_limit_s + _BUILD_SLACK_S:
        return None
    return _Relaxation.build(problem, short, lists, dense)


def descend(
    relax: _Relaxation | _SparseRelaxation | None, upper_bound: float, start: np.ndarray, deadline: float, max_iter: int
) -> Bound:
    """`lagrangian`'s steps on a built relaxation, until `deadline` (time.perf_counter()) at the latest."""
    if relax is None:
        return Bound(-np.inf, np.zeros(0, dtype=np.int64), 0)
    start = np.asarray(start, dtype=float)[relax.units]
    lam = relax.clip(start)
    scale = np.abs(start) + 1e-3 * max(float(np.abs(start).mean()), 1e-12)  # a price starting at 0 still moves
    target = float(upper_bound)
    best, best_sites = -np.inf, np.zeros(0, dtype=np.int64)
    mu, stall, it = _MU_START, 0, 0
    direction: np.ndarray | None = None
    began = time.perf_counter()
    for it in range(1, max_iter + 1):
        value, x_sum, sites = relax.evaluate(lam)
        if value > best + 1e-12 * max(abs(value), 1.0):
            improved = value > best + 1e-6 * max(abs(value), 1.0)
            best, best_sites = value, sites
            stall = 0 if improved else stall + 1
        else:
            stall += 1
        if target - best <= 1e-7 * max(abs(target), 1.0) or mu < _MU_MIN:
            break
        if stall >= _patience(it, began, deadline, max_iter):  # (going back to the best multipliers: worse)
            mu, stall = mu / 2, 0
        g = 1.0 - x_sum
        if float(g @ g) <= 1e-12:
            break  # the relaxed solution assigns every unit exactly once: the bound is exact
        if time.perf_counter() > deadline:
            break
        # deflected direction (Camerini, Fratta & Maffioli): damps the zig-zag of plain subgradient steps
        direction = g if direction is None else g + _DEFLECT * direction
        # Polyak's step in the metric the scale defines: the scale's overall size cancels out
        norm = max(float(direction @ (scale * direction)), 1e-300)
        lam = relax.clip(lam + mu * max(target - value, 1e-9 * abs(target)) / norm * (scale * direction))
    if best < 0 and non_negative_costs(relax.problem):
        # Few steps from a start that overprices the units (a clock-cut run) can leave every value negative. At
        # lam = 0 the value is the cheapest filling of the sites' lower bands: never negative for such costs.
        value, _, sites = relax.evaluate(np.zeros_like(lam))
        if value > best:
            best, best_sites = value, sites
    return Bound(float(best), best_sites, it)


def _patience(done: int, began: float, deadline: float, max_iter: int) -> int:
    """Non-improving steps before the step factor halves: `_PATIENCE`, or where the clock will end the bound well
    before its cap (at the pace of its `done` steps since `began`), one in `_STEPS_PER_PATIENCE` of the steps it
    will run. A run its cap ends keeps `_PATIENCE`, so it repeats exactly; a clock-cut one repeats only as its clock
    does anyway. `national`, the bound alone from a 60-s alignment, gap after 100 / 150 / 300 steps: patience 20
    7.70 / 5.74 / 5.09 %, 8 6.58 / 5.30 / 4.96 %, 5 5.39 / 5.03 % / (stops itself at step 215: 5.01 %); a 60-s run
    gets 130-170 steps."""
    now = time.perf_counter()
    expected = done + max(deadline - now, 0.0) * done / max(now - began, 1e-9)
    if expected >= _CLOCKED * max_iter:
        return _PATIENCE
    return int(np.clip(round(expected / _STEPS_PER_PATIENCE), _PATIENCE_MIN, _PATIENCE))


def non_negative_costs(problem: Problem) -> bool:
    """Every cost of the relaxation is >= 0 (weights and members' weights)."""
    members = problem.members
    return bool((problem.weights >= 0).all() and (members is None or (members.weights >= 0).all()))


def checked_bound(bound: float | None, value: float, non_negative: bool = True) -> tuple[float | None, str]:
    """The bound as it may be reported against the objective `value`: within rounding noise of [0, value] it is
    kept (clipped to that range); otherwise it cannot be valid and is dropped, with the reason to warn about."""
    if bound is None:
        return None, ""
    slack = 1e-6 * max(abs(value), 1.0)  # what "optimal" allows (solve._OPTIMAL_RTOL): an exact model's tolerances
    low = 0.0 if non_negative else -np.inf
    if not np.isfinite(bound) or bound < low - slack or bound > value + slack:
        return (
            None,
            f"lower bound {bound:,.6g} dropped: a valid bound lies between {max(low, 0):g} and the "
            f"objective {value:,.6g} (please report this)",
        )
    return float(min(max(bound, low), value)), ""


# Seconds per entry of the layouts, to skip a bound whose layout alone would overrun its clock (measured: 100,000
# units' sparse layout, 40 million entries, 24 s on 2 busy cores).
_SPARSE_ENTRY_S, _DENSE_CELL_S = 0.6e-6, 0.1e-6
_BUILD_SLACK_S = 1.0  # a layout this far past the clock still runs (a spent budget still gets its one bound step)


def large_relaxation(problem: Problem) -> bool:
    """Is the relaxation past what a dense layout holds in any run (more than `_DENSE_CELLS` sites x units)? Such a
    bound runs beside the search where it can."""
    return problem.n_sites * problem.n_units > _DENSE_CELLS


def sparse_layout(problem: Problem, time_limit_s: float = 0.0) -> bool:
    """Does a bound with `time_limit_s` seconds list each unit's nearest sites only? Past `_DENSE_CELLS` sites x
    units, unless the cells are at most `_TIMED_DENSE_FACTOR` times that and the bound has the time for them."""
    cells = problem.n_sites * problem.n_units
    timed = cells <= _TIMED_DENSE_FACTOR * _DENSE_CELLS and time_limit_s >= _DENSE_CELL_STEP_S * cells
    return large_relaxation(problem) and not timed


def build_seconds(
    problem: Problem, most: int | None = None, lists: _Lists | None = None, dense: bool | None = None
) -> float:
    """About how long `_Relaxation.build` takes for `problem` (densely, or with lists of at most `most` sites;
    `dense` None: as in any run)."""
    n, sites = problem.n_units, problem.n_sites
    dense = not large_relaxation(problem) if dense is None else dense
    if dense:
        return _DENSE_CELL_S * n * sites
    lists = list_lengths(0) if lists is None else lists
    m = _list_size(n, sites, problem.n_territories, lists, most)
    return _SPARSE_ENTRY_S * n * (m + _site_list_size(n, m, lists))


@dataclass
class _Band:
    """Sites that may open under one band: per site lower/upper limit, how many open, last dual guesses."""

    lower: np.ndarray  # (S,)
    upper: np.ndarray  # (S,)
    count: int
    theta: np.ndarray  # (S,) last known marginal ratio of each site's band knapsack (for the floors)


_FLOOR_BLOCK = 32  # sites per block of the dense floors (32 x 3,000 float32: under 0.5 MB, fits in cache)
_MAX_BAND_CLASSES = 4  # territories with more distinct bands than this share the loosest one


# Listed entries at most (units x list size), so the sparse layout's arrays (about 50 bytes an entry while built)
# stay under 1 GB: 100,000 single-account units listed 384 sites each, 40 million entries, 4 GB at the peak.
_MAX_ENTRIES = 16_000_000


@dataclass(frozen=True)
class _Lists:
    """How long the sparse layout's lists are: each unit lists its nearest sites, at least `least` where `entries`
    allows, and each site its own nearest units, `share` x as many; both lists within 2 x `entries` pairs."""

    least: int
    share: float
    entries: int


def list_lengths(steps: int) -> _Lists:
    """The lists for a bound of at most `steps` steps: longer lists end higher but are slower per step and take more
    memory, so they pay on long runs only (`_LONG_STEPS`, `_LONGER_STEPS`)."""
    if steps >= _LONGER_STEPS:
        return _Lists(_LONGER_LIST, _LONG_SHARE, _LONGER_ENTRIES)
    return _Lists(_MIN_LIST, _LONG_SHARE if steps >= _LONG_STEPS else _REVERSE_SHARE, _MAX_ENTRIES)


def _list_size(n_units: int, n_sites: int, k: int, lists: _Lists, most: int | None = None) -> int:
    fits = max(lists.entries // max(n_units, 1), 8)
    size = min(n_sites, fits, max(lists.least, min(_MAX_LIST, max(_MIN_LIST, 4 * n_units // k))))
    return size if most is None else min(size, most)


def _site_list_size(n_units: int, m: int, lists: _Lists) -> int:
    """How many nearest units each site lists beside the units' lists of `m` sites: `lists.share` x m, cut to keep
    both lists within twice `lists.entries` (never under half of m)."""
    room = max(2 * lists.entries // max(n_units, 1) - m, m // 2)
    return min(n_units, max(1, min(int(lists.share * m), room)))


@dataclass
class _Relaxation:
    problem: Problem
    units: np.ndarray  # units that can matter (non-zero weight or metric)
    k: int
    fixed: bool
    amount: np.ndarray  # primary metric of `units`
    bands: list[_Band]  # one entry per class of territories with the same band
    capacitated: bool
    cost: np.ndarray  # (S, n') site-major
    cost32: np.ndarray | None = None  # the cost in float32, for the floors
    amount32: np.ndarray | None = None
    row_abs: np.ndarray | None = None  # (S,) sum over units of |cost|, for the float32 error margin
    groups: _Groups | None = None  # territories with locked units, priced with their centre

    @classmethod
    def build(
        cls, problem: Problem, most: int | None = None, lists: _Lists | None = None, dense: bool | None = None
    ) -> _Relaxation | _SparseRelaxation:
        """The dense layout (`dense` None: where it fits in any run), else the sparse one with lists of at most
        `most` sites."""
        dense = not large_relaxation(problem) if dense is None else dense
        units, amount, bands, capacitated, groups = _bands(problem, every_group=not dense)
        if not dense:
            amount = amount if capacitated else np.zeros_like(amount)
            return _SparseRelaxation.build(problem, units, amount, bands, most, lists, groups)
        cost = np.ascontiguousarray(problem.travel_matrix(units, np.arange(problem.n_sites)).T)
        fixed = problem.fixed
        return cls(problem, units, problem.n_territories, fixed, amount, bands, capacitated, cost, groups=groups)

    def clip(self, lam: np.ndarray) -> np.ndarray:
        return lam

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """L(lam), per unit the total fraction the chosen sites take of it, and the chosen sites."""
        return self._evaluate_dense(lam)

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
        if self.cost32 is None:
            self.cost32 = self.cost.astype(np.float32)
            self.amount32 = self.amount.astype(np.float32)
            self.row_abs = np.abs(self.cost).sum(axis=1)
        value = float(lam.sum())
        x_sum = np.zeros(n)
        chosen_all = []
        bands = self.groups.bands if self.groups is not None else []
        floors = self._floors(lam, [band.theta for band in [*self.bands, *bands]])  # each at its band's last prices
        for band, floor in zip(self.bands, floors[: len(self.bands)], strict=True):
            part, chosen = self._band_value(lam, floor, band, x_sum)
            value += part
            chosen_all.append(chosen)
        if self.groups is not None:
            under = [
                self._margined(lam, floor, band.theta, band)
                for band, floor in zip(bands, floors[len(self.bands) :], strict=True)
            ]
            part, sites = self.groups.value(
                np.array(under), lambda asks: [self._exact(lam, rows, bands[g])[0] for g, rows in asks]
            )
            value += part
            for band, site in sites:
                (idx, x), *_ = self._exact(lam, np.array([site]), band)[1]
                x_sum += np.bincount(idx, weights=x, minlength=n)
                chosen_all.append(np.array([site]))
        return value, x_sum, np.concatenate(chosen_all)

    def _margined(self, lam, floor, theta, band: _Band) -> np.ndarray:
        """Each site's floor under its knapsack value: `floor` (`_floors` at the prices theta) less far more than
        float32 rounding could have raised it, plus theta L (theta >= 0) or theta U (theta < 0)."""
        # float32 rounding moves each term by under ~1e-7 x (|cost| + |lam| + |theta a|), the pairwise sum by a
        # small multiple of that: 1e-5 of those magnitudes is a safe margin.
        floor -= 1e-5 * (self.row_abs + float(np.abs(lam).sum()) + np.abs(theta) * float(self.amount.sum())) + 1e-9
        floor += np.where(theta >= 0, theta * band.lower, theta * np.where(np.isfinite(band.upper), band.upper, 0.0))
        return floor

    def _floors(self, lam: np.ndarray, thetas: list[np.ndarray]) -> list[np.ndarray]:
        """Per price vector, each site's sum_i min(r_i - theta a_i, 0) in float32 (a band's last prices).

        Block by block of sites, so that each block of reduced costs is reused from cache for every band: the
        passes over the whole matrix bound the time of an iteration (same sums, row by row, as whole-matrix ones).
        """
        assert self.cost32 is not None and self.amount32 is not None
        lam32 = lam.astype(np.float32)
        n_sites = self.cost32.shape[0]
        floors = [np.empty(n_sites) for _ in thetas]
        for start in range(0, n_sites, _FLOOR_BLOCK):
            rows = slice(start, min(start + _FLOOR_BLOCK, n_sites))
            reduced = self.cost32[rows] - lam32
            for prices, floor in zip(thetas, floors, strict=True):
                theta = prices[rows].astype(np.float32)  # 0 where the site was never priced: then r_i alone
                priced = reduced - np.multiply.outer(theta, self.amount32) if theta.any() else reduced
                floor[rows] = np.minimum(priced, 0.0).sum(axis=1)
        return floors

    def _band_value(self, lam, floor, band: _Band, x_sum: np.ndarray) -> tuple[float, np.ndarray]:
        """Sum of the `band.count` smallest site knapsack values; adds the chosen fractions to x_sum."""
        # A floor under each site's knapsack value, for any theta (a guess at the band's dual price, from the
        # site's last exact solution): sum_i min(r_i - theta a_i, 0) + theta L (theta >= 0) or theta U (theta < 0).
        # Solve exactly only the sites with the smallest floors, widening until the count-th best exact value is
        # below every floor left out: then no skipped site could be among the best.
        # The floors only choose which sites to solve exactly, so they are summed in float32 and then lowered by
        # far more than float32 rounding could have raised them.
        floor = self._margined(lam, floor, band.theta, band)
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


def _bands(
    problem: Problem, every_group: bool = False
) -> tuple[np.ndarray, np.ndarray, list[_Band], bool, _Groups | None]:
    """Units that can matter, their primary metric, the band classes, whether any band limits a site, and the
    territories with locked units priced apart (`_Groups`, `every_group` as there: their units and bands are not in
    the others)."""
    k, n_sites = problem.n_territories, problem.n_sites
    row = primary_metric(problem)
    amount_all = problem.metrics[row] if row is not None else np.zeros(problem.n_units)
    groups = _Groups.build(problem, row, every_group)
    matter = (problem.weights != 0) | (amount_all != 0)
    if groups is not None and not (matter & ~groups.grouped(problem.n_units)).any():
        groups = None  # the relaxation keeps at least one unit, and a locked one would be counted twice
    units = np.flatnonzero(matter if groups is None else matter & ~groups.grouped(problem.n_units))
    if len(units) == 0:
        units = np.arange(min(1, problem.n_units))
    amount = amount_all[units]
    capacitated = row is not None and bool((amount >= 0).all())
    bands = [_Band(np.zeros(n_sites), np.full(n_sites, np.inf), n_sites if problem.fixed else k, np.zeros(n_sites))]
    if not capacitated:
        return units, amount, bands, False, None
    lo, hi = np.maximum(problem.lower[row], 0.0), problem.upper[row]
    if groups is not None:
        lo, hi = np.delete(lo, groups.territories), np.delete(hi, groups.territories)
        k -= len(groups.territories)
    if problem.fixed:
        bands = [_Band(lo.copy(), hi.copy(), n_sites, np.zeros(n_sites))]
    else:
        pairs = sorted(set(zip(lo.tolist(), hi.tolist(), strict=True)))
        if len(pairs) > _MAX_BAND_CLASSES:
            pairs, counts = [(float(lo.min()), float(hi.max()))], [k]
        else:
            counts = [int(((lo == a) & (hi == b)).sum()) for a, b in pairs]
        # A site opened for territory t meets t's band. Each class of equal bands opens its own count of sites;
        # letting classes share a site only loosens the bound.
        bands = [
            _Band(np.full(n_sites, a), np.full(n_sites, b), c, np.zeros(n_sites))
            for (a, b), c in zip(pairs, counts, strict=True)
        ]
    capacitated = any(np.isfinite(b.upper).any() or (b.lower > 0).any() for b in bands) or groups is not None
    return units, amount, [band for band in bands if band.count > 0], capacitated, groups


# Territories with locked units priced with their centre (`_Groups`): at most this many, and at most this many
# (locked units + 2) x sites in all (`national`: 10 territories, 565 x 33,120); past either the rest stay free units.
_MOST_GROUPS, _GROUP_CELLS = 64, 60_000_000
# Sites whose knapsack a group solves exactly per step, first and at most; past it, the floors left out bound the
# rest (a group whose floors lie close together, as a one-account group's do, would solve every site each step).
_GROUP_FIRST, _GROUP_EXACT = 4, 64


@dataclass
class _Groups:
    """Territories that hold locked units, each priced together with its centre (p-median with a band).

    The units S_t locked to territory t travel to t's centre j whatever else t holds: c_t(j) = sum_{i in S_t}
    w_i d_ij, known before any step, at every site. The relaxation opens one site for each such territory: its
    free units under t's band less what S_t holds, at the site's knapsack value v_t(j), plus c_t(j); it takes the
    least c_t(j) + v_t(j) over the sites. Without this, S_t were units free to split over fractionally opened
    sites: a remote region's exported units (Hawaii's, 3,900 km to the mainland) or a territory's accounts pinned
    by a rules file cost what that fractional opening lets them, far less than the trip they must make.
    Every site's floor under c_t(j) + v_t(j) (c_t plus the knapsack's dual at some price) orders the sites; they
    are solved exactly in that order until the best is below every floor left.

    In the sparse layout every group's floors come from one more pass over the arcs (at the first band's prices),
    so every group is priced so (`national` after 100 steps: 7.70 % with its 10 groups, 8.15 % with the 4 that
    travel far). In the dense layout each group's floors are its own pass, and only a group whose cheapest travel
    per unit of weight is a territory's reach or more (`_territory_reach`) is: one that must cross a gap (Hawaii's
    exported ZCTAs, 860 km a person at their best centre; a territory reaches 50 km). Locks that need not travel (a
    rules file's accounts) gain little there: the sample's three locked accounts slowed its dense steps twofold
    and, from its first start, ended 1.1 % lower after 300 steps."""

    territories: np.ndarray  # (g,) the territories priced apart
    units: list[np.ndarray]  # per territory, its locked units
    bands: list[_Band]  # per territory: its band less what its locked units hold, one site
    cost: np.ndarray  # (g, S) c_t(j)

    @classmethod
    def build(cls, problem: Problem, row: int | None, every: bool = False) -> _Groups | None:
        """None where no territory qualifies: no locks, no band on the primary metric, fixed centres (their locked
        units stay free units), or every locked territory's band without an upper limit, past `_GROUP_CELLS`, or
        (unless `every`) with a group that need not travel."""
        rules, n_sites = problem.rules, problem.n_sites
        if rules is None or row is None or problem.fixed or not (rules.locked >= 0).any():
            return None
        amount = problem.metrics[row]
        if (amount < 0).any():
            return None
        territories, units, bands, costs, cells = [], [], [], [], 0
        reach = None
        for t in np.unique(rules.locked[rules.locked >= 0]):
            group = np.flatnonzero(rules.locked == t)
            held = float(amount[group].sum())
            upper = float(problem.upper[row, t]) - held
            size = (len(group) + 2) * n_sites  # its travel, then its costs and prices at every site
            if not np.isfinite(upper) or len(territories) >= _MOST_GROUPS or cells + size > _GROUP_CELLS:
                continue
            cells += size
            cost = _group_travel(problem, group)  # and a group that need not travel stays free units
            reach = (0.0 if every else _territory_reach(problem)) if reach is None else reach
            if cost.min() < reach * float(problem.weights[group].sum()):
                continue
            lower = max(float(problem.lower[row, t]) - held, 0.0)
            territories.append(int(t))
            units.append(group)
            limits = np.broadcast_to(lower, (n_sites,)), np.broadcast_to(max(upper, 0.0), (n_sites,))
            bands.append(_Band(*limits, 1, np.zeros(n_sites)))
            costs.append(cost)
        if not territories:
            return None
        return cls(np.array(territories, dtype=np.int64), units, bands, np.array(costs))

    def grouped(self, n_units: int) -> np.ndarray:
        """(n,) is the unit in a group?"""
        mask = np.zeros(n_units, dtype=bool)
        for group in self.units:
            mask[group] = True
        return mask

    def value(
        self, floors: np.ndarray, exact: Callable[[list[tuple[int, np.ndarray]]], list[np.ndarray]]
    ) -> tuple[float, list[tuple[_Band, int]]]:
        """Sum over the groups of min_j c_t(j) + v_t(j), and each group's band and chosen site. `floors[g]`: a
        floor under v_t at every site; `exact([(g, rows), ...])`: v_t at those sites, for every group asked at
        once (the sparse layout bisects all their prices in one pass: national's 10 groups, 0.1 s a step apart)."""
        unders = self.cost + floors
        orders = [_smallest(under, _GROUP_EXACT + 1) for under in unders]  # all the rounds read of the sites' order
        ends = [min(len(order), _GROUP_FIRST) for order in orders]
        rows = [order[:end] for order, end in zip(orders, ends, strict=True)]
        values = [self.cost[g][r] + v for g, (r, v) in enumerate(zip(rows, exact(list(enumerate(rows))), strict=True))]
        while True:
            asks = []
            for g, (order, end) in enumerate(zip(orders, ends, strict=True)):
                if end < min(len(order), _GROUP_EXACT) and values[g].min() > unders[g][order[end]]:
                    ends[g] = min(len(order), 2 * end)
                    asks.append((g, order[end : ends[g]]))
            if not asks:
                break
            for (g, more), found in zip(asks, exact(asks), strict=True):
                rows[g] = np.concatenate([rows[g], more])
                values[g] = np.concatenate([values[g], self.cost[g][more] + found])
        total, chosen = 0.0, []
        for g, (band, order, end) in enumerate(zip(self.bands, orders, ends, strict=True)):
            best = int(np.argmin(values[g]))
            # past _GROUP_EXACT sites the floors left out bound the rest (a site's floor is a value at some price)
            total += min(float(values[g][best]), float(unders[g][order[end]]) if end < len(order) else np.inf)
            chosen.append((band, int(rows[g][best])))
        return total, chosen


def _smallest(values: np.ndarray, count: int) -> np.ndarray:
    """np.argsort(values, kind="stable")[:count], without sorting every value (a million sites at scale)."""
    if count >= len(values):
        return np.argsort(values, kind="stable")
    kth = np.partition(values, count - 1)[count - 1]
    below = np.flatnonzero(values < kth)
    pick = np.concatenate([below, np.flatnonzero(values == kth)[: count - len(below)]])
    return pick[np.argsort(values[pick], kind="stable")]


def _floor_prices(theta: np.ndarray) -> np.ndarray:
    """The band prices the groups' floors are taken at (sparse layout): the first band's last ones, and at the sites
    it never priced (most of them: it solves only the sites near its best few) the median of those it did. A floor
    is valid at any price, but at 0 it counts every unit a site would take without a band, and a group, which looks
    for its best site among all of them, then solved every site exactly. (The band's own floors at these prices,
    one pass for both, ended 300 steps of `national` lower: 5.17 against 5.09 %, 6.53 against 5.28 % at 200.)"""
    priced = theta != 0
    if priced.all() or not priced.any():
        return theta.copy()
    return np.where(priced, theta, float(np.median(theta[priced])))


def _territory_reach(problem: Problem) -> float:
    """How far a territory reaches: the median distance from a unit to its (n / K)-th nearest unit, over at most
    2,000 units spread through the list (0 for a distance matrix: every group then qualifies)."""
    n = problem.n_units
    if problem.geometry == "matrix" or n < 2:
        return 0.0
    probes = np.unique(np.linspace(0, n - 1, min(n, 2000)).astype(np.int64))  # units, and so sites (p-median)
    near = nearest_units(problem, probes, int(np.clip(n // max(problem.n_territories, 1), 2, n)))
    return float(np.median(problem.distance(near[:, -1], probes)))


def _group_travel(problem: Problem, group: np.ndarray) -> np.ndarray:
    """(S,) the group's travel to every site, a block of sites at a time (a group x block matrix stays small)."""
    sites = np.arange(problem.n_sites)
    block = max(1, 4_000_000 // max(len(group), 1))
    return np.concatenate(
        [problem.travel_matrix(group, sites[s : s + block]).sum(axis=0) for s in range(0, len(sites), block)]
    )


_BISECTIONS = 32  # halvings of each site's dual-price bracket (the value is valid at any price; this is precision:
# a 5,000 km bracket ends under 1.2e-6 km wide, and the band value off by under 1 per site on `national`)


@dataclass
class _SparseRelaxation:
    """The relaxation over each unit's M nearest sites, the other sites seen at a lower estimate of their cost.

    A site outside unit i's list is at least as far as its M-th nearest site, so pricing the arc at
    base_i = w_i x (that distance) underestimates its cost: the relaxation stays valid and every site sees every
    unit, which keeps the lower band. With lam_i <= base_i, outside arcs never pay (reduced cost >= 0); they only
    fill lower bands, so they form "filler" lists sorted once per evaluation. Each site also lists its own nearest
    units, so a unit it does not list is at least its radius away: sites are grouped by radius (`_radius_buckets`)
    and each group's filler prices unit i at max(base_i, w_i x the group's smallest radius - member spread); each
    radius group is split further into clusters of nearby sites (`_spatial_fillers`), whose filler also prices unit
    i at no less than w_i x (its distance to the cluster's seed - the cluster's radius) - member spread. Without
    it rural sites filled their lower band with urban units priced at their own small M-th-site distance (national:
    100 steps 17.8 -> 12.2 % gap). To stay simple a listed unit is also offered to its listed sites as filler: a
    relaxation, so still valid (taking the copies out was measured: no gain, 30 % slower).

    Each site's band knapsack is solved through its dual: for any price theta of the band,
    sum_i min(r_i - theta a_i, 0) + theta L (theta >= 0) or theta U (theta < 0) is a lower bound on it, and the
    best theta (found by bisection) attains it.
    """

    problem: Problem
    units: np.ndarray
    k: int
    amount: np.ndarray  # (n',) primary metric; zeros when no band limits a site
    bands: list[_Band]
    indptr: np.ndarray  # (S + 1,) site-major list entries
    entry_unit: np.ndarray  # (E,) local unit of each entry
    entry_cost: np.ndarray  # (E,)
    entry_amount: np.ndarray  # (E,)
    entry_site: np.ndarray  # (E,)
    cap: np.ndarray  # (n',) base_i: the lower estimate of unit i's cost at any site outside its list
    bucket: np.ndarray  # (S,) each site's filler: its radius bucket, or its cluster within that bucket
    far: np.ndarray  # (B, n') per bucket, the lower estimate of each unit's cost at a site that does not list it
    groups: _Groups | None = None  # territories with locked units, priced with their centre
    _fillers: list[_Filler] | None = field(default=None, init=False, repr=False)  # the last evaluation's
    _floors: _Floors = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._floors = _Floors.build(self.indptr, self.entry_unit, self.entry_cost, self.entry_amount, self.cap)

    @classmethod
    def build(
        cls,
        problem: Problem,
        units: np.ndarray,
        amount: np.ndarray,
        bands: list[_Band],
        most: int | None = None,
        lists: _Lists | None = None,
        groups: _Groups | None = None,
    ) -> _SparseRelaxation:
        n_sites = problem.n_sites
        lists = list_lengths(0) if lists is None else lists
        m = _list_size(problem.n_units, n_sites, problem.n_territories, lists, most)
        count = _site_list_size(problem.n_units, m, lists)  # how many nearest units each site lists
        mirror = not problem.fixed and problem.geometry != "matrix"  # the sites are the units: one query serves both
        site_all, dist_all = nearest_sites(problem, np.arange(n_sites), max(m, count) if mirror else m)
        site, dist = site_all[units, :m], dist_all[units, :m]
        # A site beyond the list is at least the M-th site's distance from the unit's centroid, and each member
        # is at most its own distance from that centroid farther (triangle inequality): the cap stays a lower
        # estimate for units with members.
        spread = problem.member_spread()[units]
        cap = np.maximum(problem.weights[units] * dist[:, -1] - spread, 0.0)
        if mirror:
            entry_site, entry_unit, cost, radius = _mirrored_entries(problem, units, site_all, dist_all, m, count)
        else:
            local_site, local_unit, radius = _reverse_lists(problem, units, count)
            entry_site, entry_unit, cost = _merge_entries(problem, units, site, dist, local_site, local_unit)
        indptr = np.searchsorted(entry_site, np.arange(n_sites + 1))
        bucket, reach = _radius_buckets(radius)
        # per bucket, every unit's cost at any site of the bucket that does not list it (see _SparseRelaxation)
        far = np.maximum(cap[None, :], problem.weights[units][None, :] * reach[:, None] - spread[None, :])
        if _SPATIAL_CLUSTERS > 1 and problem.geometry != "matrix":
            bucket, far = _spatial_fillers(problem, units, bucket, far, spread)
        return cls(
            problem, units, problem.n_territories, amount, bands, indptr, entry_unit, cost,
            amount[entry_unit], entry_site, cap, bucket, far, groups,
        )  # fmt: skip

    def clip(self, lam: np.ndarray) -> np.ndarray:
        return np.clip(lam, 0.0, self.cap)

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """L(lam), per unit the total fraction the chosen sites take of it, and the chosen sites."""
        reduced = self._floors.reduced(lam)
        last = self._fillers or [None] * len(self.far)
        self._fillers = [_Filler.build(far - lam, self.amount, old) for far, old in zip(self.far, last, strict=True)]
        filler = _Fillers(self._fillers, self.bucket)
        x_sum = np.zeros(len(lam))
        value, chosen = float(lam.sum()), []
        for band in self.bands:
            part, sites = self._band_value(reduced, filler, band, x_sum)
            value += part
            chosen.append(sites)
        if self.groups is not None:
            n_sites = len(self.indptr) - 1
            theta = _floor_prices(self.bands[0].theta) if self.bands else np.zeros(n_sites)
            sums = self._floor_sums(reduced, theta)
            bands = self.groups.bands
            for band in bands:  # a floor is a value at its prices: where it stays the best, the site takes at them
                band.theta[:] = theta
            under = np.array([sums + _band_term(theta, band.lower, band.upper, filler) for band in bands])

            def exact(asks: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
                rows = np.concatenate([r for _, r in asks])
                lower = np.concatenate([bands[g].lower[r] for g, r in asks])
                upper = np.concatenate([bands[g].upper[r] for g, r in asks])
                floor = np.concatenate([under[g][r] for g, r in asks])
                values, prices = self._best_price(reduced, filler, rows, lower, upper, floor, theta[rows])
                cuts = np.cumsum([len(r) for _, r in asks])[:-1]
                for (g, r), found in zip(asks, np.split(prices, cuts), strict=True):
                    bands[g].theta[r] = found
                return np.split(values, cuts)

            part, picked = self.groups.value(under, exact)
            value += part
            for band, site in picked:
                self._take(reduced, filler, band, np.array([site]), x_sum)
                chosen.append(np.array([site]))
        return value, x_sum, np.concatenate(chosen)

    def _floor_sums(self, reduced: _Reduced, theta: np.ndarray) -> np.ndarray:
        """Per site, a floor under sum_i min(r_i - theta a_i, 0) (the iteration's main cost: `_Floors`)."""
        return self._floors.sums(reduced, theta)

    def _band_value(self, reduced, filler: _Fillers, band: _Band, x_sum: np.ndarray) -> tuple[float, np.ndarray]:
        """Sum of the `band.count` smallest site values; adds the chosen sites' fractions to x_sum.

        Every site's dual at its last price is a floor under its value; the sites with the smallest floors get
        their best price, widening until the count-th best value is below every floor left out.
        """
        theta = band.theta.copy()
        n_rows, k = len(theta), min(band.count, len(theta))
        floor = self._floor_sums(reduced, theta) + _band_term(theta, band.lower, band.upper, filler)
        order = np.argsort(floor, kind="stable")
        end = min(n_rows, max(2 * k, 16))
        values = self._solve_sites(reduced, filler, band, order[:end], floor, theta)
        while end < n_rows and np.partition(values, k - 1)[k - 1] > floor[order[end]]:
            more = order[end : min(n_rows, 2 * end)]
            end = min(n_rows, 2 * end)
            values = np.concatenate([values, self._solve_sites(reduced, filler, band, more, floor, theta)])
        rows = order[:end]
        pick = np.arange(len(rows)) if k >= len(rows) else np.argpartition(values, k - 1)[:k]
        self._take(reduced, filler, band, rows[pick], x_sum)
        return float(values[pick].sum()), np.sort(rows[pick])

    def _solve_sites(self, reduced, filler: _Fillers, band: _Band, rows, floor, theta) -> np.ndarray:
        """The band's value at the given sites; their best prices go to band.theta."""
        values, band.theta[rows] = self._best_price(
            reduced, filler, rows, band.lower[rows], band.upper[rows], floor[rows], theta[rows]
        )
        return values

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entries of the given sites, and the position in `rows` each belongs to."""
        start, stop = self.indptr[rows], self.indptr[rows + 1]
        length = stop - start
        seg = np.repeat(np.arange(len(rows)), length)
        offset = np.arange(len(seg)) - np.repeat(np.cumsum(length) - length, length)
        return start[seg] + offset, seg

    def _best_price(self, reduced, filler: _Fillers, rows, lower, upper, floor, theta) -> tuple[np.ndarray, np.ndarray]:
        """Bisect each site's band price to the dual maximum: the values and the prices they are at. Per row: the
        site (one may come twice, under two bands), its band's limits, and a floor under its value at the price
        theta, which stays where no bisected price beats it."""
        idx, seg = self._gather(rows)
        r, a = reduced[idx], self.entry_amount[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(a > 0, r / np.where(a > 0, a, 1.0), np.where(r < 0, -np.inf, np.inf))
        finite = np.where(np.isfinite(ratio), ratio, 0.0)
        lo = np.minimum(_segment_min(finite, seg, len(rows)), 0.0) - 1.0
        hi = np.maximum(_segment_max(finite, seg, len(rows)), filler.price_of(lower, rows)) + 1.0
        # Only entries inside their site's bracket are still undecided: one below lo stays below every later mid,
        # one at or above hi never gets below one. Each halving drops the decided ones (their amount joins `below`),
        # so the work is a few passes over the entries instead of one per halving (national: 0.11 -> 0.04 s a step).
        below = np.zeros(len(rows))
        live_ratio, live_amount, live_seg = ratio, a, seg
        for _ in range(_BISECTIONS):
            mid = 0.5 * (lo + hi)
            under = live_ratio < mid[live_seg]
            part = np.bincount(live_seg, weights=live_amount * under, minlength=len(rows))
            taken = below + part + filler.amount_below(mid, rows)
            rising = np.where(mid >= 0, lower, upper) > taken  # the dual still increases at mid
            lo, hi = np.where(rising, mid, lo), np.where(rising, hi, mid)
            below += np.where(rising, part, 0.0)
            live = np.where(rising[live_seg], ~under, under)
            live_ratio, live_amount, live_seg = live_ratio[live], live_amount[live], live_seg[live]
        best, at = floor.copy(), theta.copy()
        for price in (lo, hi):
            price = np.where((price < 0) & ~np.isfinite(upper), 0.0, price)
            terms = np.minimum(r - price[seg] * a, 0.0)
            value = np.bincount(seg, weights=terms, minlength=len(rows)) + _band_term(price, lower, upper, filler, rows)
            better = value > best
            best, at = np.where(better, value, best), np.where(better, price, at)
        return best, at

    def _take(self, reduced, filler: _Fillers, band: _Band, rows: np.ndarray, x_sum: np.ndarray) -> None:
        """Add to x_sum what each chosen site takes at its price: items below it, listed ones and filler."""
        idx, seg = self._gather(rows)
        price = band.theta[rows]
        r, a = reduced[idx], self.entry_amount[idx]
        taken = (r - price[seg] * a < 0) | ((r < 0) & (a == 0))
        x_sum += np.bincount(self.entry_unit[idx[taken]], minlength=len(x_sum))
        filler.add_taken(price, rows, x_sum)


def _stable_argsort(values: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """np.argsort(values, kind="stable"), faster. `hint`, a permutation near the sorted order (the last step's), is
    sorted from instead: a stable sort of nearly sorted values is a tenth of a full sort."""
    if hint is not None and len(hint) == len(values):
        order = hint[np.argsort(values[hint], kind="stable")]
    else:
        order = np.argsort(values)
    ranked = values[order]
    tied = ranked[1:] == ranked[:-1]
    if not tied.any():
        return order
    # ties (units priced at their cap: reduced cost 0) in index order: only the positions in runs of equal values
    # move, sorted as one integer key (run, index), which has no ties and keeps each run where it is
    n = len(values)
    inside = np.zeros(n, dtype=bool)
    inside[1:] |= tied
    inside[:-1] |= tied
    at = np.flatnonzero(inside)
    run = np.r_[0, np.cumsum(~tied)][at]
    order[at] = np.sort(run * n + order[at]) % n
    return order


def _site_sums(padded: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per site, the sum of its entries; `padded` holds the entries and one trailing 0, so that every start in
    indptr is a valid index (reduceat would give a site without entries the next site's first value: masked)."""
    sums = np.add.reduceat(padded, indptr[:-1])
    return np.where(indptr[1:] > indptr[:-1], sums, 0.0)


_UNIT32 = 2.0**-24  # float32's unit roundoff


@dataclass(frozen=True)
class _Reduced:
    """One evaluation's reduced costs c_i - lam_i of the sparse layout's entries: in float32 over every entry, for
    the floors; exact (float64) where an exact value gathers them, `reduced[idx]`."""

    cost: np.ndarray  # (E,) float64
    unit: np.ndarray  # (E,)
    lam: np.ndarray
    all32: np.ndarray  # (E,) float32
    lam_sum: np.ndarray  # (S,) at least each site's sum over its entries of |lam_i|

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return self.cost[idx] - self.lam[self.unit[idx]]


@dataclass
class _Floors:
    """Each site's sum_i min(r_i - theta a_i, 0) over its entries, in float32, less far more than float32 can have
    raised it: a floor under the exact sum, which is what the floors need (they choose the sites solved exactly, and
    a floor is a valid value). Half the memory traffic of float64 over `national`'s 15 million entries, which
    bound a step's time (0.19 -> 0.09 s for the reduced costs and two passes, measured on arrays of that size).

    Each term's rounding is under 5 u (|c_i| + |lam_i| + |theta a_i|) (u: float32's unit roundoff; c, lam, theta
    and a are rounded once each, and three operations round), and summing n terms of one sign adds under n u |sum|.
    """

    indptr: np.ndarray
    unit: np.ndarray
    cost: np.ndarray
    cost32: np.ndarray
    amount32: np.ndarray
    counts: np.ndarray  # (S,) entries per site
    cost_abs: np.ndarray  # (S,) sum of |c_i| over each site's entries
    amount_abs: np.ndarray  # (S,) sum of |a_i|
    cap: np.ndarray  # (n',) the most lam_i may be (`_SparseRelaxation.clip`)
    cap_sum: np.ndarray  # (S,) sum of cap_i over each site's entries
    padded: np.ndarray  # (E + 1,) float32 scratch, last value 0
    lam32: np.ndarray  # (E,) float32 scratch

    @classmethod
    def build(cls, indptr, unit, cost, amount, cap) -> _Floors:
        def sums(values: np.ndarray) -> np.ndarray:
            return _site_sums(np.r_[values, 0.0], indptr)

        return cls(
            indptr, unit, cost, cost.astype(np.float32), amount.astype(np.float32), np.diff(indptr),
            sums(np.abs(cost)), sums(np.abs(amount)), cap, sums(cap[unit]),
            np.zeros(len(cost) + 1, dtype=np.float32), np.empty(len(cost), dtype=np.float32),
        )  # fmt: skip

    def reduced(self, lam: np.ndarray) -> _Reduced:
        all32 = np.empty_like(self.lam32)
        np.take(lam.astype(np.float32), self.unit, out=self.lam32)
        np.subtract(self.cost32, self.lam32, out=all32)
        clipped = bool((lam >= 0).all() and (lam <= self.cap).all())
        lam_sum = self.cap_sum if clipped else self.counts * float(np.abs(lam).max(initial=0.0))
        return _Reduced(self.cost, self.unit, lam, all32, lam_sum)

    def sums(self, reduced: _Reduced, theta: np.ndarray) -> np.ndarray:
        terms = self.padded[:-1]
        np.multiply(np.repeat(theta.astype(np.float32), self.counts), self.amount32, out=terms)
        np.subtract(reduced.all32, terms, out=terms)
        np.minimum(terms, 0.0, out=terms)
        total = _site_sums(self.padded, self.indptr).astype(np.float64)
        rounding = 5 * _UNIT32 * (self.cost_abs + reduced.lam_sum + np.abs(theta) * self.amount_abs)
        summing = 1.01 * _UNIT32 * self.counts * np.abs(total)
        return total - 2.0 * (rounding + summing) - 1e-9


def _segment_min(values: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.inf)
    np.minimum.at(out, seg, values)
    return np.where(np.isfinite(out), out, 0.0)


def _segment_max(values: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, seg, values)
    return np.where(np.isfinite(out), out, 0.0)


def _band_term(theta, lower, upper, filler: _Fillers, rows: np.ndarray | None = None) -> np.ndarray:
    """The filler's part of each site's dual plus theta L (theta >= 0) or theta U (theta < 0); `lower`, `upper` and
    theta per row (rows None: every site)."""
    rows = np.arange(len(lower)) if rows is None else rows
    upper = np.where(np.isfinite(upper), upper, 0.0)
    return filler.value_below(theta, rows) + np.where(theta >= 0, theta * lower, theta * upper)


@dataclass
class _Filler:
    """Units offered to every site at their lower-estimate cost, sorted by (cost - lam) per unit of metric."""

    price: np.ndarray  # sorted ratios (non-negative)
    amount: np.ndarray  # cumulative metric, with a leading 0
    cost: np.ndarray  # cumulative reduced cost, with a leading 0
    order: np.ndarray  # local unit of each sorted position
    rank: np.ndarray  # the sorting permutation of the useful units: the next step's sort starts from it

    @classmethod
    def build(cls, reduced: np.ndarray, amount: np.ndarray, last: _Filler | None = None) -> _Filler:
        useful = np.flatnonzero(amount > 0)  # a unit without metric and reduced cost >= 0 never helps a site
        ratio = reduced[useful] / amount[useful]
        rank = _stable_argsort(ratio, None if last is None else last.rank)
        unit = useful[rank]
        cost = np.r_[0.0, np.cumsum(reduced[unit])]
        return cls(ratio[rank], np.r_[0.0, np.cumsum(amount[unit])], cost, unit, rank)

    def _count(self, theta: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.price, np.maximum(theta, 0.0), side="left")  # items strictly below theta

    def value_below(self, theta: np.ndarray) -> np.ndarray:
        """sum over filler of min(reduced - theta a, 0): only items priced below theta count."""
        at = self._count(theta)
        return np.where(theta > 0, self.cost[at] - theta * self.amount[at], 0.0)

    def amount_below(self, theta: np.ndarray) -> np.ndarray:
        return np.where(theta > 0, self.amount[self._count(theta)], 0.0)

    def price_of(self, need: np.ndarray) -> np.ndarray:
        """A price at which the filler alone holds at least `need` (0 where it never does)."""
        at = np.minimum(np.searchsorted(self.amount[1:], need, side="left"), len(self.price) - 1)
        return self.price[at] if len(self.price) else np.zeros_like(need)

    def add_taken(self, theta: np.ndarray, x_sum: np.ndarray) -> None:
        """Each site at price theta takes every filler item below it: add one per site to those units."""
        counts = np.bincount(self._count(theta[theta > 0]), minlength=len(self.price) + 1)
        times = counts[::-1].cumsum()[::-1][1:]  # items at sorted position p are taken by sites with count > p
        x_sum[self.order] += times


@dataclass
class _Fillers:
    """One filler per group of sites (radius bucket, or cluster within it): each site sees its group's."""

    parts: list[_Filler]
    bucket: np.ndarray  # (S,) each site's bucket
    _last: tuple[np.ndarray, list] | None = None  # the last rows split, and their split

    def _split(self, rows: np.ndarray) -> list[tuple[np.ndarray, _Filler]]:
        # A site's bisection asks about the same rows 32 times, over dozens of fillers: split them once.
        if self._last is not None and self._last[0] is rows:
            return self._last[1]
        of = self.bucket[rows]
        order = np.argsort(of, kind="stable")
        bounds = np.searchsorted(of[order], np.arange(len(self.parts) + 1))
        split = [(order[a:b], self.parts[g]) for g, (a, b) in enumerate(itertools.pairwise(bounds)) if b > a]
        self._last = (rows, split)
        return split

    def value_below(self, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows))
        for at, part in self._split(rows):
            out[at] = part.value_below(theta[at])
        return out

    def amount_below(self, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows))
        for at, part in self._split(rows):
            out[at] = part.amount_below(theta[at])
        return out

    def price_of(self, need: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows))
        for at, part in self._split(rows):
            out[at] = part.price_of(need[at])
        return out

    def add_taken(self, theta: np.ndarray, rows: np.ndarray, x_sum: np.ndarray) -> None:
        for at, part in self._split(rows):
            part.add_taken(theta[at], x_sum)


# Each radius bucket split into this many clusters of nearby sites, one filler each. hospitals_zip_k100, 300 steps:
# 1 / 2 / 4 / 8 clusters 19.72 / 16.12 / 16.11 / 15.56 %; national, 150 steps: 11.67 / 11.62 / 10.93 % (noise-level),
# each filler one sort of the units per step (benchmarks/bound_study.md, section 6).
_SPATIAL_CLUSTERS = 2
_RADIUS_BUCKETS = 8  # site classes by the radius of their own nearest units, one filler each
# Each site also lists this share of the list size of its own nearest units: a unit a site does not list is then at
# least the site's radius away, which prices the fillers of its lower band. `national`, the bound alone from one 60-s
# alignment until the subgradient stops itself (gap / steps / seconds / peak of that process): 0.5 8.17 % / 590 /
# 106 s; 1.0 7.23 % / 612 / 128 s / 1.26 GB; 1.5 6.78 % / 446 / 115 s; 3.0 6.09 % / 562 / 219 s / 2.66 GB. After
# 57 s: 0.5 8.4 %, 1.5 7.2 %, 3.0 8.7 % (benchmarks/bound_study.md, section 7).
_REVERSE_SHARE = 1.5
# Bounds of this many steps or more (effort 2 and up, see SolveParams.bound_steps) list 3 times: `national` at
# --time-limit 900 --effort 3, gap 5.57 % -> 4.96 %, 446 -> 499 s, peak of both processes 2.29 -> 3.12 GB.
_LONG_STEPS, _LONG_SHARE = 600, 3.0
# Bounds of this many steps or more (effort 3 and up) list at least 512 sites a unit, within twice the entries. A
# price lam_i is capped at the unit's cost to its last listed site, and units far from any centre need the room.
# `national`, the bound alone from one 60-s alignment (benchmarks/bound_study.md, section 12), gap to that alignment
# where the subgradient stops itself: the lists of 600 steps (264 sites a unit there) 4.29 %, these 3.85 % (peak of
# that process 4.6 GB); 384 sites and 2 / 3.45 times as many a site 3.99 / 3.87 %; 264 and 5 times as many 3.97 %.
_LONGER_STEPS, _LONGER_LIST, _LONGER_ENTRIES = 900, 512, 32_000_000


def _mirrored_entries(
    problem: Problem, units: np.ndarray, site_all: np.ndarray, dist_all: np.ndarray, m: int, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Site-major entries (site, local unit, travel) and each site's radius when the sites are the units: site j's
    nearest units are unit j's nearest sites, so the one query gives both lists. A site's own nearest unit is added
    unless the unit surely lists the site already (closer than the unit's M-th site; a tie may list a pair twice,
    which only loosens the relaxation)."""
    n = len(units)
    local = np.full(problem.n_units, -1)
    local[units] = np.arange(n)
    reach = dist_all[units, m - 1]  # each unit's M-th site
    near, near_d = site_all[:, :count], dist_all[:, :count]
    back = local[near]
    extra = (back >= 0) & (near_d >= reach[np.maximum(back, 0)])
    extra_site = np.repeat(np.arange(problem.n_sites), extra.sum(axis=1))
    entry_site = np.concatenate([site_all[units, :m].ravel(), extra_site])
    entry_unit = np.concatenate([np.repeat(np.arange(n), m), back[extra]])
    entry_dist = np.concatenate([dist_all[units, :m].ravel(), near_d[extra]])
    order = np.argsort(entry_site, kind="stable")
    entry_site, entry_unit, entry_dist = entry_site[order], entry_unit[order], entry_dist[order]
    cost = problem.travel(units[entry_unit], entry_site, entry_dist)
    return entry_site, entry_unit, cost, dist_all[:, count - 1]


def _reverse_lists(problem: Problem, units: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each site's nearest units (local ids; only units that can matter) as extra entries, and each site's radius:
    a unit it does not list is at least that far from it. Returns (sites, units) of the pairs and the radii."""
    n_sites = problem.n_sites
    count = min(len(units), count)
    if count >= len(units):  # every site lists every unit: nothing is outside
        pairs_site = np.repeat(np.arange(n_sites), len(units))
        return pairs_site, np.tile(np.arange(len(units)), n_sites), np.full(n_sites, np.inf)
    local = np.full(problem.n_units, -1)
    local[units] = np.arange(len(units))
    sites = np.arange(n_sites)
    near = nearest_units(problem, sites, count)
    if problem.geometry == "matrix":  # a distance matrix's nearest units come unsorted
        order = np.argsort(problem.distance(near, sites[:, None]), axis=1, kind="stable")
        near = np.take_along_axis(near, order, axis=1)
    # units without weight or metric never need a site: left out; every unit not queried is at least as far as
    # the last one queried, which is at least as far as the last one kept
    ok = local[near] >= 0
    radius = problem.distance(near[:, -1], sites)
    return np.repeat(sites, ok.sum(axis=1)), local[near[ok]], radius


def _merge_entries(
    problem: Problem,
    units: np.ndarray,
    site: np.ndarray,
    dist: np.ndarray,
    extra_site: np.ndarray,
    extra_unit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Site-major entries (site, local unit, travel): every unit's listed sites and every site's nearest units, each
    pair once. (A sort, not np.unique: numpy's hashed unique takes 20 s on `national`'s 13 million pairs.)"""
    n = len(units)
    codes = np.concatenate(
        [site.ravel().astype(np.int64) * n + np.repeat(np.arange(n), site.shape[1]), extra_site * n + extra_unit]
    )
    order = np.argsort(codes, kind="stable")  # a listed pair comes before the same pair from the site's side
    codes = codes[order]
    first = np.r_[True, codes[1:] != codes[:-1]]
    order, codes = order[first], codes[first]
    entry_site, entry_unit = codes // n, codes % n
    cost = np.empty(len(codes))
    listed = order < site.size
    cost[listed] = problem.travel(units[entry_unit[listed]], entry_site[listed], dist.ravel()[order[listed]])
    cost[~listed] = problem.travel(units[entry_unit[~listed]], entry_site[~listed])
    return entry_site, entry_unit, cost


def _radius_buckets(radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sites grouped by their radius into quantile buckets, the top one split further at every doubling (remote
    sites, e.g. Alaska's, whose nearest units are a thousand km away, get their own); each bucket's smallest radius
    (a unit a site of the bucket does not list is at least that far from it)."""
    finite = np.where(np.isfinite(radius), radius, 0.0)
    edges = np.quantile(finite, np.linspace(0, 1, _RADIUS_BUCKETS + 1)[1:-1]) if len(finite) else np.zeros(0)
    if len(edges) and edges[-1] > 0:
        doublings = int(np.ceil(np.log2(max(float(finite.max()) / edges[-1], 1.0))))
        edges = np.r_[edges, edges[-1] * 2.0 ** np.arange(1, doublings + 1)]
    bucket = np.searchsorted(edges, finite, side="right")
    reach = np.array([finite[bucket == b].min() if (bucket == b).any() else 0.0 for b in range(len(edges) + 1)])
    return bucket, reach


def _spatial_fillers(
    problem: Problem, units: np.ndarray, bucket: np.ndarray, far: np.ndarray, spread: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each radius bucket's sites split into clusters of nearby sites (farthest-point seeds, each site to its
    nearest seed), with a filler each: a site j of a cluster with seed c and radius rho (the farthest site from c)
    is at least d(i, c) - rho from unit i (triangle inequality), so the cluster's filler prices unit i at no less
    than w_i (d(i, c) - rho) - spread_i. Far units stop being cheap filler for every site's lower band."""
    site_xy = problem.site_coords()
    unit_xy = problem.coords[units]
    groups, rows = np.full(len(bucket), -1), []
    for b in range(far.shape[0]):
        members = np.flatnonzero(bucket == b)
        if len(members) == 0:
            continue
        seeds = [int(members[0])]
        near = _raw_distance(site_xy[members], site_xy[seeds[0]], problem.geometry)
        owner = np.zeros(len(members), dtype=np.int64)
        for c in range(1, min(_SPATIAL_CLUSTERS, len(members))):
            seeds.append(int(members[np.argmax(near)]))
            d = _raw_distance(site_xy[members], site_xy[seeds[-1]], problem.geometry)
            owner = np.where(d < near, c, owner)
            near = np.minimum(near, d)
        for c, seed in enumerate(seeds):
            at = members[owner == c]
            if len(at) == 0:
                continue
            rho = float(_raw_distance(site_xy[at], site_xy[seed], problem.geometry).max())
            reach = np.maximum(_raw_distance(unit_xy, site_xy[seed], problem.geometry) - rho, 0.0)
            if problem.floor_distances and problem.members is not None:
                reach = reach - 1.0  # each member's distance is rounded down on its own: up to 1 less each
            elif problem.floor_distances:  # floor(d(i, j)) >= floor(any lower estimate of d(i, j)), less float noise
                reach = np.floor(reach * (1.0 - 1e-12))
            groups[at] = len(rows)
            rows.append(np.maximum(far[b], problem.weights[units] * reach - spread))
    return groups, np.array(rows)


def _raw_distance(a: np.ndarray, b: np.ndarray, geometry: str) -> np.ndarray:
    """Distances between points a (n, 2) and one point b, unfloored."""
    if geometry == "haversine":
        return haversine_km(a[:, 0], a[:, 1], b[0], b[1])
    return np.sqrt(((a - b) ** 2).sum(axis=1))
