"""Location-allocation with an exact assignment (solve/gap.py): real SCIP solves on small capacitated instances."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from terrplan.budget import TimeBudget
from terrplan.model import Alignment, Problem, Rules, bands_hold, objective
from terrplan.solve import SolveParams, solve
from terrplan.solve.exact import solve_exact
from terrplan.solve.gap import exact_assignment, gap_applies, gap_search, gap_solves


def _capacitated(seed: int, n: int = 40, k: int = 5, fill: float = 0.93) -> Problem:
    """A pmedcap-like instance: integer points, demands 1-20, capacity = mean load / fill (tight), travel counted
    per unit (weights 1) and floored, as in OR-Library's capacitated p-median."""
    rng = np.random.default_rng(seed)
    coords = rng.integers(0, 100, (n, 2)).astype(float)
    demand = rng.integers(1, 21, n).astype(float)
    return Problem(
        n_territories=k,
        weights=np.ones(n),
        metrics=demand[None, :],
        metric_names=("demand",),
        lower=-np.inf,
        upper=float(np.ceil(demand.sum() / k / fill)),
        coords=coords,
        geometry="euclidean",
        floor_distances=True,
    )


def _cost(problem: Problem) -> np.ndarray:
    return problem.travel_matrix(np.arange(problem.n_units), np.arange(problem.n_sites))


@pytest.fixture(scope="module")
def missed() -> tuple[Problem, float, float, np.ndarray]:
    """Seed 5: the heuristic alone (no exact models) ends at 651; SCIP proves 643 optimal (in about 0.3 s)."""
    problem = _capacitated(5)
    heuristic = solve(problem, SolveParams(time_limit_s=60.0, seed=0, exact=False))
    proof = solve_exact(problem, heuristic.alignment.territory, heuristic.alignment.centres, 60.0, nodes=10**7)
    assert proof.optimal
    return problem, proof.value, heuristic.objective, heuristic.alignment.centres


def test_the_search_reaches_the_proven_optimum_the_heuristic_misses(missed):
    problem, optimum, heuristic, centres = missed
    assert heuristic > optimum + 1  # what the old path ends with (integer objectives)
    found = gap_search(problem, centres, 0, gap_solves(problem, 1.0), TimeBudget.of(60.0), _cost(problem))
    assert found.territory is not None and found.centres is not None
    assert found.value == pytest.approx(optimum)
    assert found.value == objective(problem, Alignment(found.territory, found.centres))
    assert bands_hold(problem, found.territory)
    assert found.solves <= gap_solves(problem, 1.0)


def test_the_same_seed_repeats_and_more_work_is_never_worse(missed):
    problem, _, _, centres = missed
    cost = _cost(problem)
    runs = [gap_search(problem, centres, 7, solves, TimeBudget.of(60.0), cost) for solves in (5, 20, 20, 80)]
    values = [run.value for run in runs]
    assert values == sorted(values, reverse=True)  # more models continue the same sequence
    assert np.array_equal(runs[1].territory, runs[2].territory)
    assert np.array_equal(runs[1].centres, runs[2].centres)


def test_solve_runs_the_search_proves_the_optimum_and_repeats(missed):
    problem, optimum, _, _ = missed
    params = SolveParams(time_limit_s=60.0, seed=0)
    first, again = solve(problem, params), solve(problem, params)
    assert first.objective == pytest.approx(optimum) and first.status == "optimal"
    assert bands_hold(problem, first.alignment.territory)
    assert np.array_equal(first.alignment.territory, again.alignment.territory)
    assert np.array_equal(first.alignment.centres, again.alignment.centres)
    assert first.iterations == again.iterations


def test_the_exact_assignment_is_the_enumerated_best_inside_both_bounds_of_a_band():
    rng = np.random.default_rng(3)
    n = 10
    amount = rng.integers(1, 9, n).astype(float)
    problem = Problem(
        n_territories=2,
        weights=rng.uniform(0.5, 3.0, n),
        metrics=amount[None, :],
        metric_names=("m",),
        lower=0.45 * amount.sum(),
        upper=0.55 * amount.sum(),
        coords=rng.uniform(0, 50, (n, 2)),
        geometry="euclidean",
    )
    centres = np.array([0, 1])
    best = np.inf
    for split in itertools.product((0, 1), repeat=n):
        territory = np.array(split)
        if bands_hold(problem, territory):
            best = min(best, objective(problem, Alignment(territory, centres)))
    assert np.isfinite(best)
    territory = exact_assignment(problem, centres, _cost(problem), TimeBudget.of(30.0))
    assert territory is not None and bands_hold(problem, territory)
    assert objective(problem, Alignment(territory, centres)) == pytest.approx(best)


def test_the_search_applies_only_where_its_model_prices_everything():
    problem = _capacitated(5)
    assert gap_applies(problem)
    unbanded = dataclasses.replace(problem, upper=np.inf)
    assert not gap_applies(unbanded)  # the nearest centre is the best assignment: nothing to search
    two_sided = dataclasses.replace(problem, lower=0.5 * problem.upper)
    assert not gap_applies(two_sided)  # unmeasured: districting's tight bands need their time for contiguity
    ruled = dataclasses.replace(problem, rules=Rules.none(problem.n_units))
    assert not gap_applies(ruled)  # locks, limits and move costs are not in the model
    assert not gap_applies(_capacitated(5, n=8, k=2))  # tiny: the exact pass settles it alone
    assert not gap_applies(_capacitated(5, n=300, k=10))  # past what was measured
