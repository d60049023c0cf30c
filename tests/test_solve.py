"""The optimizer against hand-solved and brute-forced instances, plus properties on small random ones."""

from __future__ import annotations

import dataclasses
import itertools
import sys

import numpy as np
import pytest
from conftest import ROOT, requires_shared
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrplan.errors import InfeasibleError
from terrplan.model import Problem, Rules, bands_hold, objective
from terrplan.solve import SolveParams, auto_starts, solve
from terrplan.solve.assign import Arcs, flow_assignment
from terrplan.solve.exact import lp_bound

PARAMS = SolveParams(time_limit_s=20.0, seed=3, bound_iterations=300)
REL = 1e-9


def line_problem(xs, k, weights=None, metric=None, lower=-np.inf, upper=np.inf, **extra) -> Problem:
    xs = np.asarray(xs, dtype=float)
    n = len(xs)
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    metric = np.ones(n) if metric is None else np.asarray(metric, dtype=float)
    return Problem(
        n_territories=k,
        weights=weights,
        metrics=metric[None, :],
        metric_names=("m",),
        lower=lower,
        upper=upper,
        coords=np.column_stack([xs, np.zeros(n)]),
        geometry="euclidean",
        **extra,
    )


def brute_force(problem: Problem) -> float:
    """Optimum by enumeration: every set of K distinct centre sites x every assignment meeting the bands."""
    n, k = problem.n_units, problem.n_territories
    units = np.arange(n)
    assignments = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int64)  # (k^n, n)
    totals = np.stack(
        [
            np.stack([(problem.metrics[m] * (assignments == t)).sum(axis=1) for t in range(k)], axis=1)
            for m in range(problem.metrics.shape[0])
        ],
        axis=1,
    )  # (k^n, m, k)
    tol = 1e-9 * max(1.0, np.abs(problem.upper[np.isfinite(problem.upper)]).max(initial=1.0))
    ok = ((totals >= problem.lower[None] - tol) & (totals <= problem.upper[None] + tol)).all(axis=(1, 2))
    assignments = assignments[ok]
    if len(assignments) == 0:
        return np.inf
    best = np.inf
    sites = range(problem.n_sites)
    centre_sets = itertools.permutations(sites, k) if problem.fixed_sites is None else [tuple(range(k))]
    for centres in centre_sets:
        cost = problem.weights[:, None] * problem.distance_matrix(units, np.array(centres))  # (n, k)
        values = cost[units[None, :], assignments].sum(axis=1)
        best = min(best, float(values.min()))
    return best


def check_result(problem: Problem, result, params: SolveParams = PARAMS) -> None:
    territory = result.alignment.territory
    assert territory.shape == (problem.n_units,)
    assert territory.min() >= 0 and territory.max() < problem.n_territories
    assert len(result.alignment.centres) == problem.n_territories
    if problem.fixed_sites is None:
        assert len(set(result.alignment.centres.tolist())) == problem.n_territories
    assert result.objective == pytest.approx(objective(problem, result.alignment), rel=1e-9, abs=1e-9)
    if result.status in ("optimal", "feasible"):
        assert bands_hold(problem, territory)
        assert result.lower_bound is not None
    else:  # unknown (nothing found) or infeasible (proven): either way the alignment misses a band
        assert not bands_hold(problem, territory)
    if result.lower_bound is not None:
        assert result.lower_bound <= result.objective * (1 + REL) + 1e-9


# -- known by hand -------------------------------------------------------------------------------------------


def test_two_clusters_unbalanced_is_optimal():
    problem = line_problem([0, 1, 10, 11], 2)
    result = solve(problem, PARAMS)
    check_result(problem, result)
    assert result.objective == pytest.approx(2.0)
    assert result.status == "optimal"
    assert result.lower_bound == pytest.approx(2.0)
    territory = result.alignment.territory
    assert territory[0] == territory[1] != territory[2] == territory[3]


def test_balance_forces_a_longer_assignment():
    # two units per territory: {0, 1} and {2, 10} cost 1 + 8 = 9; every other split costs more
    problem = line_problem([0, 1, 2, 10], 2, lower=2, upper=2)
    result = solve(problem, PARAMS)
    check_result(problem, result)
    assert result.objective == pytest.approx(9.0)
    assert result.lower_bound <= 9.0 + 1e-9
    assert brute_force(problem) == pytest.approx(9.0)


def test_fixed_sites_assignment():
    problem = line_problem([0, 1, 2, 10, 11, 12], 2, lower=3, upper=3, fixed_sites=np.array([[1.0, 0.0], [11.0, 0.0]]))
    result = solve(problem, PARAMS)
    check_result(problem, result)
    assert result.objective == pytest.approx(4.0)
    assert result.status == "optimal"


def test_impossible_band_is_reported():
    # one unit alone exceeds every territory's maximum
    with pytest.raises(InfeasibleError):
        solve(line_problem([0, 1, 2, 3], 2, metric=[10, 1, 1, 1], upper=7), PARAMS)


# -- random instances ----------------------------------------------------------------------------------------


@st.composite
def small_problems(draw, max_units: int = 7, max_k: int = 3):
    n = draw(st.integers(3, max_units))
    k = draw(st.integers(1, min(max_k, n)))
    xy = np.array(draw(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=n, max_size=n)), float)
    weights = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), float)
    same = draw(st.booleans())
    metric = weights.copy() if same else np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), float)
    tol = draw(st.sampled_from([None, 0.1, 0.3, 0.6]))
    half = k > 1 and draw(st.booleans())  # the last territory has a half-time rep: half the target
    if tol is None or metric.sum() == 0:
        lower, upper = -np.inf, np.inf
    else:
        share = np.ones(k)
        if half:
            share[-1] = 0.5
        target = metric.sum() * share / share.sum()
        lower, upper = ((1 - tol) * target)[None, :], ((1 + tol) * target)[None, :]
    return Problem(
        n_territories=k,
        weights=weights,
        metrics=metric[None, :],
        metric_names=("m",),
        lower=lower,
        upper=upper,
        coords=xy,
        geometry="euclidean",
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_random_small_against_brute_force(problem):
    optimum = brute_force(problem)
    try:
        result = solve(problem, PARAMS)
    except InfeasibleError:
        assert optimum == np.inf
        return
    check_result(problem, result)
    if result.status == "infeasible":  # proven by the exact model: enumeration agrees
        assert optimum == np.inf
        return
    if result.status == "unknown":  # the search found nothing and proved nothing
        return
    assert result.objective >= optimum - 1e-9 * max(optimum, 1.0)
    assert result.lower_bound <= optimum + 1e-7 * max(optimum, 1.0)
    # the reported gap covers the true distance to the optimum
    if result.objective > 0:
        assert (result.objective - optimum) / result.objective <= result.gap + 1e-7


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(30, 120), st.integers(2, 8), st.sampled_from([0.05, 0.2]), st.integers(0, 10_000))
def test_random_medium_properties(n, k, tol, seed):
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 0.7, n)
    mean = weights.sum() / k
    problem = Problem(
        n_territories=k,
        weights=weights,
        metrics=weights[None, :],
        metric_names=("w",),
        lower=(1 - tol) * mean,
        upper=(1 + tol) * mean,
        coords=rng.uniform(0, 100, (n, 2)),
        geometry="euclidean",
    )
    # the heuristic and the Lagrangian bound on their own (the exact pass, slow at this size, is tested apart)
    params = SolveParams(time_limit_s=20.0, seed=seed % 5, bound_iterations=100, exact=False)
    try:
        first = solve(problem, params)
    except InfeasibleError:
        return
    check_result(problem, first, params)
    again = solve(problem, params)
    np.testing.assert_array_equal(first.alignment.territory, again.alignment.territory)
    np.testing.assert_array_equal(first.alignment.centres, again.alignment.centres)
    assert first.objective == again.objective
    assert first.lower_bound == again.lower_bound


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_units=7, max_k=3), st.integers(0, 100))
def test_random_fixed_sites_against_brute_force(problem, seed):
    rng = np.random.default_rng(seed)
    sites = rng.integers(0, 21, (problem.n_territories, 2)).astype(float)
    fixed = Problem(
        n_territories=problem.n_territories,
        weights=problem.weights,
        metrics=problem.metrics,
        metric_names=problem.metric_names,
        lower=problem.lower,
        upper=problem.upper,
        coords=problem.coords,
        geometry="euclidean",
        fixed_sites=sites,
    )
    optimum = brute_force(fixed)
    try:
        result = solve(fixed, PARAMS)
    except InfeasibleError:
        assert optimum == np.inf
        return
    check_result(fixed, result)
    if result.status == "infeasible":
        assert optimum == np.inf
    elif result.status != "unknown":
        assert result.objective >= optimum - 1e-9 * max(optimum, 1.0)
        assert result.lower_bound <= optimum + 1e-7 * max(optimum, 1.0)


def test_matrix_geometry_small():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 10, (7, 2))
    dist = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    problem = Problem(
        n_territories=3,
        weights=np.ones(7),
        metrics=np.ones((1, 7)),
        metric_names=("units",),
        lower=-np.inf,
        upper=np.inf,
        geometry="matrix",
        distances=dist,
    )
    result = solve(problem, PARAMS)
    check_result(problem, result)
    optimum = brute_force(problem)
    assert result.lower_bound <= optimum + 1e-9
    assert result.objective >= optimum - 1e-9


def weight_banded(
    weights: np.ndarray, coords: np.ndarray, k: int, geometry: str, sites: np.ndarray | None = None
) -> Problem:
    """K territories whose weight, also the balance metric, lies within ±5 % of the mean."""
    mean = weights.sum() / k
    return Problem(
        n_territories=k,
        weights=weights,
        metrics=weights[None, :],
        metric_names=("w",),
        lower=0.95 * mean,
        upper=1.05 * mean,
        coords=coords,
        geometry=geometry,
        fixed_sites=sites,
    )


def banded_random(n: int, k: int, seed: int, sites: np.ndarray | None = None) -> Problem:
    """n units in a 100 x 100 square with lognormal weights (also the balance metric), K territories within ±5 %."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 0.7, n)
    return weight_banded(weights, rng.uniform(0, 100, (n, 2)), k, "euclidean", sites)


def test_the_exact_pass_proves_what_the_lagrangian_bound_cannot():
    # 25 units, 3 territories within ±5 %: the Lagrangian bound leaves a gap of about 12 %; the exact model
    # (SCIP, bounded by nodes, not the clock) closes it, and the proven result repeats exactly.
    problem = banded_random(25, 3, seed=11)
    without = solve(problem, SolveParams(time_limit_s=30, seed=1, exact=False))
    assert without.gap > 0.05
    proven = solve(problem, SolveParams(time_limit_s=30, seed=1))
    check_result(problem, proven)
    assert proven.status == "optimal" and proven.lower_bound == pytest.approx(proven.objective)
    assert proven.objective <= without.objective + 1e-9
    again = solve(problem, SolveParams(time_limit_s=30, seed=1))
    np.testing.assert_array_equal(again.alignment.territory, proven.alignment.territory)


def test_fixed_centres_get_the_assignment_lp_bound():
    # 300 units to 4 fixed centres within ±5 %: the assignment's LP relaxation bounds at least as tightly as the
    # Lagrangian relaxation, stays below the objective, and solve() reports a bound no weaker than it.
    problem = banded_random(300, 4, seed=5, sites=np.array([[20.0, 20.0], [80.0, 20.0], [20.0, 80.0], [80.0, 80.0]]))
    lagrangian_only = solve(problem, SolveParams(time_limit_s=30, seed=1, exact=False))
    lp = lp_bound(problem)
    assert lagrangian_only.lower_bound - 1e-6 * lagrangian_only.objective <= lp <= lagrangian_only.objective
    with_lp = solve(problem, SolveParams(time_limit_s=30, seed=1))
    assert with_lp.lower_bound >= lp - 1e-9 * abs(lp)
    assert with_lp.lower_bound <= with_lp.objective


def test_a_split_lump_is_fixed_and_the_flow_rebalances_the_rest():
    # Two rep homes at x=0 and x=10. A 30-unit system midway and 30 one-unit practices near each home: the flow
    # splits the system, and rounding it whole into one territory would put 60 there against a band of 42.75-47.25.
    coords = np.array([[5.0, 0.0]] + [[0.5, 0.0]] * 30 + [[9.5, 0.0]] * 30)
    amount = np.array([30.0] + [1.0] * 60)
    problem = Problem(
        n_territories=2,
        weights=amount,
        metrics=amount[None, :],
        metric_names=("potential",),
        lower=np.full((1, 2), 42.75),
        upper=np.full((1, 2), 47.25),
        coords=coords,
        geometry="euclidean",
        fixed_sites=np.array([[0.0, 0.0], [10.0, 0.0]]),
    )
    territory = flow_assignment(problem, Arcs.build(problem, np.arange(2), 2))
    assert territory is not None and bands_hold(problem, territory)  # nothing left for the repair step


def test_automatic_starts_follow_the_instance_size_and_an_explicit_count_wins():
    small = line_problem(np.arange(10.0), 2)
    large = line_problem(np.arange(40_000.0), 10)
    assert auto_starts(small) == 200  # cheap starts: many of them
    assert auto_starts(large) == 12  # the floor, as before the automatic count
    assert auto_starts(line_problem(np.arange(1_000.0), 20)) == 20  # 400,000 cells of work / 20,000 cells
    # The same seed gives the same first starts whatever the count, so an explicit count is a prefix of the seeds.
    few = solve(small, SolveParams(seed=4, starts=3, lower_bound=False))
    again = solve(small, SolveParams(seed=4, starts=3, lower_bound=False))
    assert np.array_equal(few.alignment.territory, again.alignment.territory)
    many = solve(small, SolveParams(seed=4, lower_bound=False))
    assert many.objective <= few.objective + 1e-9


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12), st.sampled_from([None, 0.3]))
def test_pinning_arcs_gives_the_rows_a_lock_there_builds(seed, pins, light):
    """`Arcs.pinned_rows` (the refresh's pins, `BandMoves.pin`) gives the pinned units the rows `Arcs.build` gives
    them under locks to the same territories, whether the territory is among a unit's nearest centres or not; with a second
    metric, light units' floor weight included."""
    rng = np.random.default_rng(seed)
    n, k = 120, 8
    weights = rng.lognormal(0.0, 1.0, n)
    metrics = weights[None, :] if light is None else np.vstack([weights, rng.uniform(1, 2, n)])
    names = ("w",) if light is None else ("w", "load")
    problem = Problem(
        n_territories=k,
        weights=weights,
        metrics=metrics,
        metric_names=names,
        lower=np.full((len(names), k), 0.5 * weights.sum() / k),
        upper=np.full((len(names), k), np.inf),
        coords=rng.uniform(0, 100, (n, 2)),
        geometry="euclidean",
    )
    centres = rng.choice(n, size=k, replace=False)
    arcs = Arcs.build(problem, centres, 3)
    units = rng.choice(n, size=pins, replace=False)
    to = rng.integers(0, k, size=pins)
    locked = np.full(n, -1)
    locked[units] = to
    rules = Rules(locked, np.zeros(0, dtype=np.int64), np.inf, np.full(n, -1), np.zeros(n))
    expected = Arcs.build(dataclasses.replace(problem, rules=rules), centres, 3)
    territory, distance, cost = arcs.pinned_rows(problem, centres, units, to)
    np.testing.assert_array_equal(territory, expected.territory[units])
    np.testing.assert_array_equal(distance, expected.distance[units])
    np.testing.assert_array_equal(cost, expected.cost[units])


def _hospitals(states: tuple[str, ...], k: int | None = None) -> Problem:
    """The hospitals of these states (CMS Hospital General Information, benchmarks/hospitals.py's catchment
    potential), potential within +-5 %; K such that the largest holds 0.3 of a territory where not given."""
    sys.path.insert(0, str(ROOT))  # the benchmark's reader builds the instance
    from benchmarks import hospitals

    table = hospitals.hospital_table()
    chosen = table[table["state"].isin(states)]
    potential = chosen["potential"].to_numpy(dtype=np.float64)
    k = round(0.3 * potential.sum() / potential.max()) if k is None else k
    return weight_banded(potential, chosen[["lat", "lon"]].to_numpy(dtype=np.float64), k, "haversine")


@requires_shared
def test_a_state_whose_every_start_misses_a_band_is_packed_before_the_exact_model():
    """Massachusetts' 79 hospitals, K = 12: every start misses a band. The exact model's first alignment inside them
    (50 nodes) is 5.4 times the optimum SCIP proves (1.0873e9, 200 s), and within 10 s it took the time the packing
    needed (before: 6.2e9). The best start packed first holds every band (1.25e9 at 10 s)."""
    problem = _hospitals(("MA",))
    assert (problem.n_units, problem.n_territories) == (79, 12)
    result = solve(problem, SolveParams(seed=0, time_limit_s=10.0))
    assert bands_hold(problem, result.alignment.territory)
    assert result.objective <= 1.5 * 1.0873e9, result.objective
    assert result.lower_bound is not None and result.lower_bound <= 1.0873e9


@requires_shared
def test_a_mid_size_problem_whose_every_start_misses_a_band_is_packed():
    """New York's and New Jersey's 264 hospitals, K = 21 (their share of 100 national territories; the largest 0.29
    of a territory): every start misses a band. Too large for the exact model and too small for the neighbourhood
    repair, it ended `unknown` after 3 s of a 30-s limit; packed, every band holds (1.359e10, gap 10.3 %; SCIP in
    600 s found 4.68e10 and a bound of 1.220e10)."""
    problem = _hospitals(("NY", "NJ"), k=21)
    assert problem.n_units == 264
    result = solve(problem, SolveParams(seed=0, time_limit_s=60.0))
    assert bands_hold(problem, result.alignment.territory)
    assert result.status in ("feasible", "optimal")
    assert result.lower_bound is not None and result.lower_bound <= result.objective
    assert result.objective <= 1.25 * 1.220e10, result.objective


def test_heavy_units_packed_from_the_best_start_outside_a_band():
    """A metro of 30 heavy units (0.2-0.32 of a territory each) and a rural area of 50 small ones, K = 9: the starts
    nearest the optimum miss a band, and the alignments that hold them lie far above. The best start outside, packed
    with its centres fixed, holds every band (before: 118.5, gap 31.8 % to the solver's own bound; now 92.6, 13.8 %)."""
    rng = np.random.default_rng(2)
    metro = np.column_stack([42.35 + rng.normal(0, 0.08, 30), -71.1 + rng.normal(0, 0.1, 30)])
    rural = np.column_stack([42.3 + rng.uniform(-0.4, 0.4, 50), -72.5 + rng.uniform(-0.6, 0.8, 50)])
    potential = np.concatenate([rng.uniform(0.2, 0.32, 30), rng.uniform(0.005, 0.03, 50)])
    problem = weight_banded(potential, np.vstack([metro, rural]), round(potential.sum()), "haversine")
    result = solve(problem, SolveParams(seed=0, time_limit_s=10.0))
    assert bands_hold(problem, result.alignment.territory)
    assert result.lower_bound is not None and result.lower_bound <= result.objective
    assert result.objective - result.lower_bound <= 0.2 * result.objective, (result.objective, result.lower_bound)
