"""Reps live in their territories: the home term (territories.rep_home_weight) keeps each free territory tied to its
roster row near the rep's home, a lock on a far account does not pull the rep across the map, and every run reports
how far each home lies from its territory (territories.csv, summary.json's reps, a warning past the limit)."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIG, invoke

from terrplan.geo import haversine_km
from terrplan.model import Homes, Problem, home_term, objective
from terrplan.solve import SolveParams, solve
from terrplan.solve.exact import exact_applies

# Ann lives in Raleigh and holds EAST, Bob in Charlotte and holds WEST; a rule locks B3 (Matthews, a Charlotte
# suburb, potential 40) to EAST, Ann's territory, ~200 km from her home.
REPS = "rep_id,name,home_zip,fte,territory\nR1,Ann,27601,1.0,EAST\nR2,Bob,28202,1.0,WEST\n"
RULES = "account_id,territory,rule\nB3,EAST,lock\n"
ROSTER = "  volumes: {path: volumes.csv}\n  reps: {path: reps.csv}"


@pytest.fixture
def far_lock(tiny):
    tiny.write("reps.csv", REPS)
    tiny.write("rules.csv", RULES)
    config = TINY_CONFIG.replace("  volumes: {path: volumes.csv}", ROSTER) + "rules: {path: rules.csv}\n"
    tiny.write("config.yaml", config)
    return tiny


def _with(tiny, line: str) -> None:
    """Add a line to the territories section of the tiny config."""
    text = tiny.config.read_text(encoding="utf-8")
    tiny.write("config.yaml", text.replace("  count: 2\n", f"  count: 2\n  {line}\n"))


def _outputs(tiny) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    territories = pd.read_csv(tiny.out / "territories.csv").set_index("territory")
    assignments = pd.read_csv(tiny.out / "assignments.csv").set_index("account_id")
    summary = json.loads((tiny.out / "summary.json").read_text(encoding="utf-8"))
    return territories, assignments, summary


def test_a_lock_on_a_far_account_does_not_pull_the_rep_from_home(far_lock):
    result = invoke("optimize", str(far_lock.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    territories, assignments, summary = _outputs(far_lock)
    # The lock holds, and B3 joins Ann's territory as a far account; both territories stay by their rep's home
    # (EAST is measured from its 1-median, Duke in Durham, 37 km from Ann's home in Raleigh).
    assert assignments.loc["B3", "territory"] == "EAST" and assignments.loc["B3", "distance_km"] > 150
    assert list(territories["rep_id"]) == ["R1", "R2"]
    assert territories.loc["EAST", "home_to_centre_km"] < 40 and territories.loc["WEST", "home_to_centre_km"] < 5
    assert (territories["home_to_territory_km"] < 15).all()
    assert summary["rules"]["locks_kept"] == 1
    assert "rep(s) live more than" not in result.stderr
    assert "reps: every home within 50 km of its territory (farthest 8.6 km); home term 1,776.0, not in the objective\n" in (
        result.stderr
    )

    # Without the home term the lock drags EAST to Charlotte: Ann would live ~200 km from her territory.
    _with(far_lock, "rep_home_weight: 0")
    result = invoke("optimize", str(far_lock.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    territories, _, _ = _outputs(far_lock)
    assert territories.loc["EAST", "home_to_centre_km"] > 150


def test_home_distances_are_measured_to_the_nearest_account_and_summarised(far_lock):
    result = invoke("optimize", str(far_lock.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    territories, assignments, summary = _outputs(far_lock)
    for name, row in territories.iterrows():
        mine = assignments.loc[assignments["territory"] == name]
        nearest = haversine_km(row["home_lat"], row["home_lon"], mine["lat"].to_numpy(), mine["lon"].to_numpy())
        assert row["home_to_territory_km"] == pytest.approx(float(nearest.min()), abs=0.02)  # CSV: 4 decimals
        assert row["home_to_territory_km"] <= row["home_to_centre_km"] + 1e-3  # the centre is one of its accounts
    reps = summary["reps"]
    assert reps["over_limit"] == 0 and reps["limit_km"] == 50.0 and reps["home_weight"] == 0.15
    assert reps["max_home_to_territory_km"] == pytest.approx(territories["home_to_territory_km"].max(), abs=1e-3)
    assert reps["max_home_to_centre_km"] == pytest.approx(territories["home_to_centre_km"].max(), abs=1e-3)
    # home term = 0.15 x each territory's target weight (600 potential / 2) x km from home to centre
    assert reps["home_term"] == pytest.approx(0.15 * 300 * territories["home_to_centre_km"].sum(), rel=1e-4)
    # The reported objective is the accounts' travel; the home term is not in it.
    travel = float((assignments["potential"] * assignments["distance_km"]).sum())
    assert summary["objective"] == pytest.approx(travel, rel=1e-6)
    assert summary["lower_bound"] <= summary["objective"]


def test_reps_beyond_the_limit_are_warned_about_with_the_farthest(far_lock):
    _with(far_lock, "rep_home_weight: 0")
    result = invoke("optimize", str(far_lock.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    assert (
        "warning: 2 rep(s) live more than 50 km from their territory's nearest account; farthest: Bob (R2), "
        "territory WEST, 195.7 km (raise territories.rep_home_weight to keep reps closer)\n"
    ) in result.stderr
    _, _, summary = _outputs(far_lock)
    assert summary["reps"] == {
        "max_home_to_territory_km": 195.712,
        "max_home_to_centre_km": 209.403,
        "over_limit": 2,
        "limit_km": 50.0,
        "home_weight": 0.0,
        "home_term": 0.0,
    }
    # The limit is a config key; -q silences the log, never a warning.
    _with(far_lock, "rep_home_warn_km: 200")
    result = invoke("optimize", str(far_lock.config), "--no-report", "-q")
    assert result.stderr == ""
    assert _outputs(far_lock)[2]["reps"]["over_limit"] == 0


def test_anchored_reps_far_from_their_accounts_are_warned_about_without_the_weight_hint(tiny):
    """centres: rep_homes: the home is the centre, the home term does not apply, and the warning has no hint."""
    tiny.write("reps.csv", REPS.replace("R2,Bob,28202", "R2,Bob,28801"))  # Bob lives in Asheville, 150 km west
    config = TINY_CONFIG.replace("  volumes: {path: volumes.csv}", ROSTER).replace("  count: 2\n", "  centres: rep_homes\n")
    tiny.write("config.yaml", config.replace("tolerance: 0.05", "tolerance: 0.15"))
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    territories, _, summary = _outputs(tiny)
    assert territories.loc["WEST", "home_to_territory_km"] == pytest.approx(161.7363, abs=1e-4)  # to Charlotte
    assert territories.loc["WEST", "home_to_centre_km"] == 0.0
    assert (
        "warning: 1 rep(s) live more than 50 km from their territory's nearest account; farthest: Bob (R2), "
        "territory WEST, 161.7 km\n"
    ) in result.stderr
    assert summary["reps"]["home_weight"] == 0.0 and summary["reps"]["home_term"] == 0.0


def test_free_territories_follow_their_reps_without_rules(tiny):
    """No rules: territory t is roster row t's from the seed on, named by the roster."""
    tiny.write("reps.csv", REPS)
    tiny.write("config.yaml", TINY_CONFIG.replace("  volumes: {path: volumes.csv}", ROSTER))
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    territories, assignments, _ = _outputs(tiny)
    assert list(territories.index) == ["EAST", "WEST"] and list(territories["rep_name"]) == ["Ann", "Bob"]
    assert sorted(assignments.index[assignments["territory"] == "EAST"]) == ["A1", "A2", "A3", "A4"]
    assert (territories["home_to_territory_km"] < 15).all() and (territories["home_to_centre_km"] < 40).all()


def test_a_roster_of_another_size_is_matched_after_the_solve(tiny):
    """Two reps for three territories: no territory is tied to a row, so no home term; reps are matched after."""
    tiny.write("reps.csv", REPS)
    config = TINY_CONFIG.replace("  volumes: {path: volumes.csv}", ROSTER).replace("  count: 2\n", "  count: 3\n")
    tiny.write("config.yaml", config.replace("tolerance: 0.05", "tolerance: 0.15"))
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    territories = pd.read_csv(tiny.out / "territories.csv", keep_default_na=False).set_index("territory")
    summary = json.loads((tiny.out / "summary.json").read_text(encoding="utf-8"))
    assert list(territories.index) == ["T01", "T02", "T03"]  # north to south: not the roster's names
    assert sorted(territories["rep_name"]) == ["Ann", "Bob", "VACANT"]
    assert summary["reps"]["home_weight"] == 0.0 and summary["reps"]["home_term"] == 0.0


def test_same_inputs_give_the_same_bytes(far_lock, tmp_path):
    outputs = []
    for run in range(2):
        out = tmp_path / f"run{run}"
        result = invoke("optimize", str(far_lock.config), "--no-report", "-o", str(out), "-q")
        assert result.exit_code == 0, result.stderr
        outputs.append([(out / name).read_bytes() for name in ("territories.csv", "assignments.csv")])
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("bad, message", [
    ("rep_home_weight: -1", "key 'territories.rep_home_weight': must not be negative (got '-1')"),
    ("rep_home_warn_km: 0", "key 'territories.rep_home_warn_km': must be positive (got '0')\n    hint: e.g. 50"),
])  # fmt: skip
def test_bad_home_keys_are_config_errors(far_lock, bad, message):
    _with(far_lock, bad)
    result = invoke("optimize", str(far_lock.config), "--no-report")
    assert result.exit_code == 3
    assert message in result.stderr


def _random_problem(seed: int, k: int) -> Problem:
    rng = np.random.default_rng(seed)
    n = 7
    xy = rng.uniform(0, 100, size=(n, 2))
    weights = rng.integers(1, 10, size=n).astype(float)
    total = weights.sum()
    homes = Homes(rng.uniform(0, 100, size=(k, 2)), np.full(k, rng.uniform(0.05, 1.0) * total / k))
    return Problem(
        n_territories=k,
        weights=weights,
        metrics=weights[None, :],
        metric_names=("m",),
        lower=total / k * 0.6,
        upper=total / k * 1.4,
        coords=xy,
        geometry="euclidean",
        homes=homes,
    )


def _enumerated_optimum(problem: Problem) -> float:
    """Every assignment, each territory centred on its best unit for travel plus the home term."""
    n, k = problem.n_units, problem.n_territories
    sites = np.arange(n)
    best = np.inf
    for labels in itertools.product(range(k), repeat=n):
        territory = np.array(labels)
        if not ((problem.metrics[0] @ (territory[:, None] == np.arange(k))) >= problem.lower[0] - 1e-9).all():
            continue
        if not ((problem.metrics[0] @ (territory[:, None] == np.arange(k))) <= problem.upper[0] + 1e-9).all():
            continue
        value = 0.0
        for t in range(k):
            members = np.flatnonzero(territory == t)
            cost = problem.travel_matrix(members, sites).sum(axis=0) + problem.home_cost(t, sites)
            value += float(cost.min())
        best = min(best, value)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_the_bound_stays_below_the_objective_with_the_home_term(seed):
    problem = _random_problem(seed, k=2 + seed % 2)
    result = solve(problem, SolveParams(time_limit_s=10.0, seed=seed, starts=4))
    alignment = result.alignment
    travel = objective(dataclasses.replace(problem, homes=None), alignment)
    assert result.objective == pytest.approx(travel + home_term(problem, alignment.centres), rel=1e-9)
    optimum = _enumerated_optimum(problem)
    assert result.lower_bound is not None
    # a bound on travel alone: below the least travel plus home term, so below the solver's objective
    assert result.lower_bound <= optimum + 1e-6
    assert optimum <= result.objective + 1e-6
    assert home_term(problem, alignment.centres) > 0


def test_problem_rejects_homes_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"homes need coordinates, one per territory \(2\)"):
        Problem(
            n_territories=2,
            weights=np.ones(3),
            metrics=np.ones((1, 3)),
            metric_names=("m",),
            lower=-np.inf,
            upper=np.inf,
            coords=np.zeros((3, 2)),
            geometry="euclidean",
            homes=Homes(np.zeros((3, 2)), np.ones(3)),
        )


def test_the_exact_pass_leaves_problems_with_homes_to_the_heuristic():
    # The exact model prices travel only; on a problem with homes it would trade a rep's home for travel.
    problem = _random_problem(0, 2)
    assert not exact_applies(problem)
    assert exact_applies(dataclasses.replace(problem, homes=None))
