"""Large universes: ZIP units for the solve, accounts refined after it, and a bound that stays valid for the accounts.

The bound's validity is checked two ways: against enumeration on small instances whose units' accounts may go apart,
and at scale (tens of thousands of units) against a feasible alignment's objective and a trivially valid bound.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terrplan import pipeline
from terrplan.config import load_config
from terrplan.errors import ConfigError
from terrplan.model import Alignment, Members, Problem, bands_hold, objective
from terrplan.solve import SolveParams, bound, solve
from terrplan.solve.centres import bisection_centres
from terrplan.solve.refine import refine
from terrplan.solve.starts import assign as balanced_assignment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import scale  # noqa: E402  (benchmarks/scale.py: the seeded universe generator)


def account_optimum(unit_coords, account_of, coords, weights, metric, k, lower, upper) -> float:
    """Optimum by enumeration over accounts, each on its own, centres at k distinct unit locations."""
    n = len(weights)
    best = np.inf
    for assign in itertools.product(range(k), repeat=n):
        a = np.array(assign)
        totals = np.bincount(a, weights=metric, minlength=k)
        if (totals < lower - 1e-9).any() or (totals > upper + 1e-9).any():
            continue
        for centres in itertools.permutations(range(len(unit_coords)), k):
            site = unit_coords[np.array(centres)[a]]
            best = min(best, float((weights * np.sqrt(((coords - site) ** 2).sum(axis=1))).sum()))
    return best


@st.composite
def apart_instances(draw):
    units = draw(st.integers(2, 4))
    k = draw(st.integers(1, min(2, units)))
    ints = st.integers(0, 9)
    coords = np.array(draw(st.lists(st.tuples(ints, ints), min_size=2 * units, max_size=2 * units)), dtype=float)
    weights = np.array(draw(st.lists(st.integers(0, 5), min_size=2 * units, max_size=2 * units)), dtype=float)
    same = draw(st.booleans())  # balance on the objective weight (bands kept) or on another metric (bands dropped)
    metric = weights if same else np.array(draw(st.lists(st.integers(0, 5), min_size=2 * units, max_size=2 * units)))
    metric = metric.astype(float)
    slack = draw(st.sampled_from([0.1, 0.5, np.inf]))
    mean = metric.sum() / k
    lower, upper = np.full(k, mean * (1 - min(slack, 1.0))), np.full(k, mean * (1 + slack))
    of = np.repeat(np.arange(units), 2)
    w = np.bincount(of, weights=weights + 1e-9)
    unit_coords = np.column_stack([np.bincount(of, weights=(weights + 1e-9) * coords[:, i]) / w for i in (0, 1)])
    problem = Problem(
        n_territories=k,
        weights=np.bincount(of, weights=weights),
        metrics=np.bincount(of, weights=metric)[None, :],
        metric_names=("m",),
        lower=lower[None, :],
        upper=upper[None, :],
        coords=unit_coords,
        geometry="euclidean",
        members=Members.of_units(of, coords, weights, units, apart=True),
    )
    return problem, (unit_coords, of, coords, weights, metric, k, lower, upper)


@settings(max_examples=40, deadline=None)
@given(case=apart_instances())
def test_the_bound_of_units_whose_accounts_go_apart_never_exceeds_the_accounts_optimum(case) -> None:
    problem, account_case = case
    optimum = account_optimum(*account_case)
    if not np.isfinite(optimum):
        return
    relaxing, offset = bound.apart_problem(problem)
    assert relaxing.members is None
    start = relaxing.travel(np.arange(relaxing.n_units), np.zeros(relaxing.n_units, dtype=int))
    value = bound.lagrangian(relaxing, optimum * 1.3 + 1.0, start, time_limit_s=60.0, max_iter=60).value - offset
    assert value <= optimum + 1e-6 * max(1.0, optimum)


def trivial_bound(problem: Problem) -> float:
    """A bound any alignment meets: a unit is a centre (travel 0) or pays its weight times the distance to the
    nearest other site; at most K units are centres, so the K largest such costs are left out."""
    from scipy.spatial import cKDTree

    points = problem.unit_points()
    distance = cKDTree(points).query(points, k=2)[0][:, 1]
    cost = problem.weights * distance
    return float(cost.sum() - np.sort(cost)[-problem.n_territories :].sum())


@pytest.mark.parametrize("seed", [1, 2])
def test_the_bound_at_scale_lies_between_a_trivial_bound_and_the_objective(monkeypatch, seed: int) -> None:
    """Random instances of 20,000 units (clustered, heavy-tailed weights, a +-5 % band on the weight): the bound is
    not negative, at most the objective of a balanced alignment, and at least the trivially valid bound. (Each unit
    lists its 64 nearest sites, not 384: the sparse layout is valid for any list, and this keeps the test short.)"""
    monkeypatch.setattr(bound, "_MAX_LIST", 64)
    rng = np.random.default_rng(seed)
    n, k = 20_000, 100
    spots = rng.uniform(0, 1000, (40, 2))
    coords = spots[rng.integers(0, 40, n)] + rng.normal(0, 40, (n, 2))
    weights = rng.lognormal(0, 1, n)
    band = weights.sum() / k
    problem = Problem(
        n_territories=k,
        weights=weights,
        metrics=weights[None, :],
        metric_names=("m",),
        lower=0.95 * band,
        upper=1.05 * band,
        coords=coords,
        geometry="euclidean",
    )
    centres = bisection_centres(problem, 0, weights)
    # one balanced assignment: an objective the optimum cannot exceed
    territory = balanced_assignment(problem, centres, 10)
    assert bands_hold(problem, territory)
    value = objective(problem, Alignment(territory, centres))
    start = bound.multiplier_start(problem, territory, centres)
    found = bound.lagrangian(problem, value, start, time_limit_s=60.0, max_iter=10).value
    assert trivial_bound(problem) <= found <= value


def test_a_bound_outside_zero_to_the_objective_is_dropped() -> None:
    assert bound.checked_bound(5.0, 10.0) == (5.0, "")
    assert bound.checked_bound(10.0 + 1e-7, 10.0) == (10.0, "")  # rounding noise (an exact model's tolerance): clipped
    for wrong in (-3.0, 10.001, float("nan")):
        value, reason = bound.checked_bound(wrong, 10.0)
        assert value is None and "dropped" in reason
    assert bound.checked_bound(-3.0, 10.0, non_negative=False) == (-3.0, "")


@pytest.fixture(scope="module")
def universe(tmp_path_factory) -> Path:
    """3,000 accounts of the scale benchmark's generator (seeded), in a folder of its own."""
    folder = tmp_path_factory.mktemp("scale")
    accounts, volumes = scale._draw(3000, 5)
    accounts.to_csv(folder / "accounts.csv", index=False)
    volumes.to_csv(folder / "volumes.csv", index=False)
    (folder / "config.yaml").write_text(
        "inputs:\n  accounts: {path: accounts.csv}\n  volumes: {path: volumes.csv}\n"
        'scoring:\n  weights: {"27447": 1, "27130": 1, "29881": 0.3, "63030": 0.6, "22551": 0.8}\n'
        "territories:\n  count: 20\n  objective_weight: potential\nsolver:\n  seed: 0\n  time_limit: 30\n"
    )
    return folder


def test_many_accounts_are_solved_on_zip_units_then_refined_account_by_account(universe) -> None:
    config = load_config(universe / "config.yaml", {"units.aggregate_above": 1000})  # this universe counts as large
    loaded = pipeline.load_accounts(config)
    prepared = pipeline.prepare(loaded, config)
    problem = prepared.problem
    assert problem.n_units == loaded.accounts["zip"].nunique() < len(loaded.accounts)
    assert problem.members is not None and problem.members.apart
    # The starts' alignment, unbounded: the bounded solve's restart from the relaxation's sites left no border
    # account to move on this universe (the bound's validity for the accounts: test_optimize_on_zip_units_...).
    params = SolveParams(30.0, 0, starts=2, swaps=False, effort=0.0, lower_bound=False)
    result = solve(problem, params)
    accounts, alignment = pipeline.account_level(
        prepared.units, problem, result.alignment, loaded.accounts, config, None, prepared.rules
    )
    whole = result.alignment.territory[prepared.units.of_account]
    assert bands_hold(accounts, alignment.territory)
    refined = objective(accounts, alignment)
    assert refined <= objective(accounts, Alignment(whole, alignment.centres)) + 1e-6
    assert (alignment.territory != whole).any()  # some account left its ZIP's territory for a nearer centre


def test_keep_together_groups_stay_whole_on_zip_units(universe) -> None:
    """With keep-together groups the ZIP units are not let apart: a group's accounts stay in one territory."""
    accounts = pd.read_csv(universe / "accounts.csv", dtype=str)
    row = np.arange(len(accounts))
    accounts["system"] = np.where(row % 10 < 2, "S" + (row // 10).astype(str), "")  # pairs of accounts
    accounts.to_csv(universe / "grouped.csv", index=False)
    config = load_config(
        universe / "config.yaml",
        {"units.aggregate_above": 1000, "units.keep_together": ["system"], "inputs.accounts.path": "grouped.csv"},
    )
    loaded = pipeline.load_accounts(config)
    prepared = pipeline.prepare(loaded, config)
    assert prepared.problem.members is not None and not prepared.problem.members.apart


def test_a_wrong_aggregate_above_is_a_config_error_naming_the_key(universe) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(universe / "config.yaml", {"units.aggregate_above": 0})
    assert any(f.key == "units.aggregate_above" for f in caught.value.problems)


def test_refine_keeps_a_given_alignment_when_nothing_is_better() -> None:
    coords = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    problem = Problem(
        n_territories=2,
        weights=np.ones(4),
        metrics=np.ones((1, 4)),
        metric_names=("accounts",),
        lower=np.full((1, 2), 2.0),
        upper=np.full((1, 2), 2.0),
        coords=coords,
        geometry="euclidean",
        fixed_sites=np.array([[0.0, 0.5], [10.0, 0.5]]),
    )
    assert np.array_equal(refine(problem, np.array([0, 0, 1, 1])), [0, 0, 1, 1])
    assert np.array_equal(refine(problem, np.array([1, 1, 0, 0])), [0, 0, 1, 1])  # both sides swap back


def test_optimize_on_zip_units_writes_every_account_and_a_valid_bound(universe, tmp_path) -> None:
    """Through the command line, the universe counting as large (units.aggregate_above: 1000)."""
    config = universe / "large.yaml"
    config.write_text((universe / "config.yaml").read_text() + "units: {aggregate_above: 1000}\n")
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "terrplan", "optimize", str(config), "-o", str(out), "--no-report", "--time-limit", "20",
         "--effort", "0.2", "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assignments = pd.read_csv(out / "assignments.csv", dtype=str)
    assert len(assignments) == 3000 and assignments["account_id"].is_unique
    assert summary["units"] < 3000
    assert 0 <= summary["lower_bound"] <= summary["objective"]
    assert summary["runtime_s"] <= 23
