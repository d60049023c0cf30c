"""Vertex substitution and the neighbourhood search without bands: swap values against brute force, the search
against enumerated optima, and its determinism and monotonicity in the work it is given."""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terrplan.model import Problem
from terrplan.solve import SolveParams, solve
from terrplan.solve.interchange import SiteOrder, fast_interchange, shake_search, swap_deltas

FOREVER = time.perf_counter() + 3600.0


def value(cost: np.ndarray, centres) -> float:
    return float(cost[:, list(centres)].min(axis=1).sum())


def unbanded(k: int, weights: np.ndarray, **where) -> Problem:
    """A p-median: K territories, these weights, no band; `where` gives the geometry and coordinates or distances."""
    n = len(weights)
    return Problem(
        n_territories=k, weights=weights, metrics=np.ones((1, n)), metric_names=("m",), lower=-np.inf, upper=np.inf, **where
    )


def cost_matrix(seed: int, n: int, integer: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 100, size=(n, 2))
    weights = rng.integers(1, 5, size=n)
    cost = weights[:, None] * np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    return np.floor(cost / 10) if integer else cost  # integer costs make many ties with the second-nearest centre


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 30), st.integers(1, 6), st.booleans())
def test_swap_deltas_are_the_objective_changes(seed, n, p, integer):
    cost = cost_matrix(seed, n, integer)
    p = min(p, n - 1)
    centres = np.random.default_rng(seed + 1).choice(n, p, replace=False)
    delta = swap_deltas(SiteOrder.of(cost), centres)
    before = value(cost, centres)
    for c in range(n):
        for j in range(p):
            if c in centres:
                assert delta[c, j] == np.inf
                continue
            trial = centres.copy()
            trial[j] = c
            assert delta[c, j] == pytest.approx(value(cost, trial) - before, abs=1e-7)


def test_fast_interchange_ends_in_a_swap_local_optimum():
    cost = cost_matrix(7, 40, integer=False)
    sites = SiteOrder.of(cost)
    centres = fast_interchange(sites, np.arange(5), FOREVER)
    assert (swap_deltas(sites, centres) >= -1e-9).all()
    assert value(cost, centres) < value(cost, np.arange(5))


def test_shake_search_repeats_and_more_shakes_never_worse():
    cost = cost_matrix(3, 60, integer=True)
    sites = SiteOrder.of(cost)
    start = fast_interchange(sites, np.arange(8), FOREVER)
    values = [value(cost, shake_search(sites, start, shakes, seed=5, deadline=FOREVER)[0]) for shakes in (0, 5, 20, 80)]
    assert values[0] == value(cost, start)
    assert all(later <= earlier for earlier, later in itertools.pairwise(values))
    again, shaken = shake_search(sites, start, 80, seed=5, deadline=FOREVER)
    assert shaken == 80  # no stall within 80 (the stall rule needs at least 100 shakes without a gain)
    np.testing.assert_array_equal(again, shake_search(sites, start, 80, seed=5, deadline=FOREVER)[0])


def test_shake_search_stops_when_shakes_stop_paying():
    """From the enumerated optimum no shake can gain: the search ends after its stall count, not its budget, and
    keeps the optimum; from a poor start it gains, and each gain restarts the count."""
    cost = cost_matrix(4, 14, integer=False)
    sites = SiteOrder.of(cost)
    optimum = min(itertools.combinations(range(14), 3), key=lambda chosen: value(cost, chosen))
    centres, shaken = shake_search(sites, np.array(optimum), 10**6, seed=1, deadline=FOREVER)
    assert shaken == 100  # max(100, 10 x p)
    assert shake_search(sites, np.array(optimum), 10**6, seed=1, deadline=FOREVER, patience=2.0)[1] == 200
    assert value(cost, centres) == pytest.approx(value(cost, optimum))
    poor = np.array([0, 1, 2])
    centres, shaken = shake_search(sites, poor, 10**6, seed=1, deadline=FOREVER)
    assert value(cost, centres) == pytest.approx(value(cost, optimum))
    assert value(cost, poor) > value(cost, optimum) and shaken > 100


def test_solve_without_bands_finds_the_enumerated_optimum():
    """Four clusters of uneven weight on a plane, p = 4: 20 choose 4 = 4,845 centre sets, enumerated."""
    rng = np.random.default_rng(11)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    coords = np.concatenate([c + rng.normal(0, 2.5, size=(5, 2)) for c in centres])
    weights = rng.integers(1, 9, size=20).astype(float)
    problem = unbanded(4, weights, coords=coords, geometry="euclidean")
    cost = problem.travel_matrix(np.arange(20), np.arange(20))
    best = min(value(cost, chosen) for chosen in itertools.combinations(range(20), 4))
    for effort in (0.0, 1.0):
        result = solve(problem, SolveParams(time_limit_s=30, seed=2, effort=effort))
        assert result.objective == pytest.approx(best, rel=1e-9)
        assert result.lower_bound is not None and result.lower_bound <= best * (1 + 1e-9)


def test_solve_runs_the_search_where_no_bound_proves_the_start():
    """No bound (so nothing stops the search early) and one start: effort 1 reaches the enumerated optimum of 30
    uneven points, p = 5 (142,506 centre sets), and never ends above effort 0's alignment."""
    rng = np.random.default_rng(8)
    coords = rng.uniform(0, 100, size=(30, 2))
    problem = unbanded(5, rng.integers(1, 9, size=30).astype(float), coords=coords, geometry="euclidean")
    cost = problem.travel_matrix(np.arange(30), np.arange(30))
    sets = np.array(list(itertools.combinations(range(30), 5)))
    best = float(cost[:, sets].min(axis=2).sum(axis=0).min())
    params = SolveParams(time_limit_s=30, seed=1, starts=1, lower_bound=False)
    without = solve(problem, dataclasses.replace(params, effort=0.0))
    searched = solve(problem, params)
    assert searched.objective == pytest.approx(best, rel=1e-12)
    assert searched.objective <= without.objective


def test_solve_without_bands_on_a_matrix_with_more_sites_than_units():
    """Candidate sites that are not units (a distance matrix of 30 units x 45 sites): the search that moves a
    centre to its own unit's nearest sites does not apply, and the solve still ends in a local optimum."""
    rng = np.random.default_rng(2)
    units, sites = rng.uniform(0, 100, size=(30, 2)), rng.uniform(0, 100, size=(45, 2))
    distances = np.sqrt(((units[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    problem = unbanded(4, np.ones(30), geometry="matrix", distances=distances)
    result = solve(problem, SolveParams(time_limit_s=30, seed=3))
    chosen = result.alignment.centres
    assert value(distances, chosen) == pytest.approx(result.objective, rel=1e-12)
    assert (swap_deltas(SiteOrder.of(distances), chosen) >= -1e-9).all()
