"""Remote regions (terrplan.regions): detection by single linkage at a gap, and the rules that keep a region whole
or give it whole territories of its own plus at most one shared with the mainland."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import TINY_CONFIG, invoke

from terrplan import regions
from terrplan.model import Members, Problem, Rules, bands_hold
from terrplan.solve import SolveParams, solve

KM_PER_DEGREE = 6371.0088 * np.pi / 180  # along the equator (a meridian for latitude)


def _grid(lat: float, lon: float, rows: int, cols: int, step: float) -> np.ndarray:
    return np.array([(lat + step * r, lon + step * c) for r in range(rows) for c in range(cols)]).reshape(-1, 2)


def _island_problem(island: int, mainland: int, k: int) -> Problem:
    """`mainland` unit-weight units on a grid in Kansas (steps of 0.3 degrees, ~30 km) and `island` on a grid by
    Honolulu (0.05 degrees), 4,000 km apart; K territories, +-5 % around the mean."""
    coords = np.vstack([_grid(38.0, -100.0, 6, 10, 0.3)[:mainland], _grid(21.3, -158.0, 1, island, 0.05)])
    weights = np.ones(len(coords))
    mean = weights.sum() / k
    return Problem(k, weights, weights[None, :], ("potential",), 0.95 * mean, 1.05 * mean, coords=coords)


def _labels(problem: Problem, island: int) -> np.ndarray:
    return np.array(["KS"] * (problem.n_units - island) + ["HI"] * island)


# -- detection --------------------------------------------------------------------------------------------------------


def test_a_chain_spaced_under_the_gap_stays_one_region():
    lon = np.arange(20) * 250 / KM_PER_DEGREE  # 250 km apart, 4,750 km end to end
    coords = np.column_stack([np.zeros(20), lon])
    found = regions.detect(coords, np.ones(20), 300.0)
    assert found.n_regions == 0
    assert found.label.tolist() == [0] * 20


def test_one_step_over_the_gap_cuts_the_chain_and_the_lighter_side_is_the_region():
    lon = np.r_[np.arange(12) * 250, 11 * 250 + 350 + np.arange(8) * 250] / KM_PER_DEGREE
    coords = np.column_stack([np.zeros(20), lon])
    found = regions.detect(coords, np.ones(20), 300.0)
    assert found.label.tolist() == [0] * 12 + [1] * 8
    # by weight, not by count: three heavy units outweigh twelve light ones
    found = regions.detect(coords, np.r_[np.ones(12), np.full(8, 2.0)], 300.0)
    assert found.label.tolist() == [1] * 12 + [0] * 8


def test_dense_clusters_closer_than_the_gap_merge_although_no_nearest_neighbour_links_them():
    # 20 units within 1 km of each other, twice, 100 km apart: every unit's 8 nearest lie in its own cluster
    rng = np.random.default_rng(5)
    a = np.column_stack([40 + rng.uniform(0, 0.005, 20), -100 + rng.uniform(0, 0.005, 20)])
    b = a + np.array([0, 100 / (KM_PER_DEGREE * np.cos(np.radians(40)))])
    far = np.array([[21.3, -158.0]])
    coords = np.vstack([a, b, far])
    points = regions._points(coords, "haversine")
    nearest_only = regions._knn_components(regions.cKDTree(points), points, regions._chord(300.0))
    assert len(np.unique(nearest_only)) == 3  # the merge rounds, not the neighbour graph, join the two clusters
    found = regions.detect(coords, np.ones(41), 300.0)
    assert found.label.tolist() == [0] * 40 + [1]


def test_a_light_island_group_beside_a_remote_region_joins_it_not_the_mainland():
    mainland = _grid(38.0, -100.0, 5, 6, 0.3)  # 30 units
    alaska = _grid(61.0, -150.0, 2, 6, 0.3)  # 12 units
    pribilofs = np.array([[57.1, -170.3], [57.2, -170.2]])  # ~ 1,100 km from the Alaska grid
    coords = np.vstack([mainland, alaska, pribilofs])
    weights = np.ones(len(coords))
    problem = Problem(6, weights, weights[None, :], ("potential",), 0.95 * 44 / 6, 1.05 * 44 / 6, coords=coords)
    assert regions.detect(coords, weights, 300.0).label.tolist() == [0] * 30 + [1] * 12 + [2] * 2
    found = regions.find(problem, 300.0)
    assert found is not None
    assert found.label.tolist() == [0] * 30 + [1] * 14


# -- rules and the solve ----------------------------------------------------------------------------------------------


def test_an_island_of_1_3_bands_gets_one_own_territory_and_one_shared_never_two_mainland_halves():
    # 13 island units, 27 mainland, K = 4: mean 10, band [9.5, 10.5]. The island holds 1.3 bands: one territory of
    # its own (10 units, centred on the island) and 3 units exported to a mainland-centred territory (2.5 to 3.5
    # must leave; importing instead would bring 2 x 9.5 - 13 = 6 across the ocean).
    problem = _island_problem(13, 27, 4)
    ruled, plans = regions.keep_whole(problem, 300.0, _labels(problem, 13))
    assert [plan.describe("potential") for plan in plans] == [
        "HI: 13 units, 32.50% of potential, 1 own territory and 1 shared with the mainland (exports 2.5)"
    ]
    (plan,) = plans
    assert (plan.mode, plan.own, plan.shared, plan.moved, plan.territories) == ("export", 1, 1, 2.5, (3, 2))
    island = np.arange(27, 40)
    assert ruled.rules is not None
    assert sorted(ruled.rules.locked[island].tolist()) == [2] * 3 + [3] * 10
    result = solve(ruled, SolveParams(time_limit_s=30, seed=0))
    territory, centres = result.alignment.territory, result.alignment.centres
    assert bands_hold(ruled, territory)
    assert sorted(np.unique(territory[island]).tolist()) == [2, 3]
    assert np.flatnonzero(territory == 3).tolist() == [i for i in island if ruled.rules.locked[i] == 3]
    assert centres[3] >= 27  # the own territory is centred on the island
    assert centres[2] < 27  # the shared one on the mainland, holding 7 mainland units and the 3 exported
    assert np.bincount(territory[:27], minlength=4).tolist()[2] == 7


def test_an_island_that_fits_in_one_territory_stays_whole():
    problem = _island_problem(5, 35, 4)  # mean 10, band [9.5, 10.5]: 5 units is below one territory's minimum
    ruled, plans = regions.keep_whole(problem, 300.0, _labels(problem, 5))
    assert [plan.describe() for plan in plans] == [
        "HI: 5 units, 12.50% of weight, 0 own territories and 1 shared with the mainland"
    ]
    result = solve(ruled, SolveParams(time_limit_s=30, seed=0))
    assert bands_hold(ruled, result.alignment.territory)
    assert len(np.unique(result.alignment.territory[35:])) == 1


def test_an_island_of_over_half_a_band_is_the_centre_of_its_territory_filled_from_the_nearest_mainland():
    # 6 island units, mean 10: serving 4 mainland units from the island costs less than 6 island units from the
    # mainland, so the shared territory is locked whole: the island and the 4 mainland units nearest it.
    problem = _island_problem(6, 34, 4)
    ruled, plans = regions.keep_whole(problem, 300.0)
    assert [(plan.mode, plan.own, plan.shared, plan.territories) for plan in plans] == [("whole", 0, 1, (3,))]
    assert ruled.rules is not None
    nearest = np.argsort(problem.distance(np.arange(34), np.full(34, 34)), kind="stable")[:4]
    assert np.flatnonzero(ruled.rules.locked == 3).tolist() == sorted(nearest.tolist()) + list(range(34, 40))
    result = solve(ruled, SolveParams(time_limit_s=30, seed=0))
    assert bands_hold(ruled, result.alignment.territory)
    assert result.alignment.centres[3] >= 34


def test_an_island_of_exactly_one_band_gets_a_territory_no_mainland_unit_may_join():
    problem = _island_problem(10, 30, 4)
    ruled, plans = regions.keep_whole(problem, 300.0, _labels(problem, 10))
    assert [(plan.mode, plan.own, plan.shared, plan.territories) for plan in plans] == [("whole", 1, 0, (3,))]
    assert ruled.rules is not None
    assert ruled.rules.locked.tolist() == [-1] * 30 + [3] * 10
    assert ruled.rules.forbidden.tolist() == [unit * 4 + 3 for unit in range(30)]
    result = solve(ruled, SolveParams(time_limit_s=30, seed=0))
    assert np.flatnonzero(result.alignment.territory == 3).tolist() == list(range(30, 40))


def test_a_region_of_two_whole_bands_is_split_in_two_own_territories_by_a_sub_solve():
    problem = _island_problem(20, 30, 5)  # mean 10: the island is exactly two territories
    ruled, plans = regions.keep_whole(problem, 300.0)
    assert [(plan.name, plan.mode, plan.own, plan.shared) for plan in plans] == [
        ("lat 21.3..21.3, lon -158.0..-157.1", "own", 2, 0)
    ]
    assert ruled.rules is not None
    parts = ruled.rules.locked[30:]
    assert sorted(np.bincount(parts)[parts.min() :].tolist()) == [10, 10]
    # each part is a contiguous run along the island's row
    assert (np.diff(parts) != 0).sum() == 1


def test_a_region_keeps_its_current_territory_unless_a_lock_puts_other_units_there():
    problem = _island_problem(10, 30, 4)
    home = np.r_[np.arange(30) % 3, np.full(10, 3)]  # the island is T4 today
    rules = Rules(np.full(40, -1), np.zeros(0), np.inf, home, np.ones(40))
    _, plans = regions.keep_whole(dataclasses.replace(problem, rules=rules), 300.0)
    assert [(plan.mode, plan.territories) for plan in plans] == [("whole", (3,))]
    locked = np.r_[3, np.full(39, -1)]  # a mainland unit locked to T4: the island gets the last free id
    rules = Rules(locked, np.zeros(0), np.inf, home, np.ones(40))
    ruled, plans = regions.keep_whole(dataclasses.replace(problem, rules=rules), 300.0)
    assert [(plan.mode, plan.territories) for plan in plans] == [("whole", (2,))]
    assert ruled.rules is not None and ruled.rules.locked.tolist() == [3] + [-1] * 29 + [2] * 10


def test_a_region_whose_units_are_locked_is_left_to_its_locks():
    problem = _island_problem(10, 30, 4)
    rules = Rules(np.r_[np.full(39, -1), 0], np.zeros(0), np.inf, np.full(40, -1), np.zeros(40))
    ruled, plans = regions.keep_whole(dataclasses.replace(problem, rules=rules), 300.0)
    assert [plan.describe() for plan in plans] == [
        "lat 21.3..21.3, lon -158.0..-157.6: 10 units, 25.00% of weight, not kept whole "
        "(its units carry rules of their own)"
    ]
    assert ruled.rules is not None and np.array_equal(ruled.rules.locked, rules.locked)


def test_an_island_without_potential_still_lands_in_one_territory():
    coords = _island_problem(4, 40, 4).coords
    weights = np.r_[np.ones(40), np.zeros(4)]
    problem = Problem(4, weights, weights[None, :], ("potential",), 9.5, 10.5, coords=coords)
    ruled, plans = regions.keep_whole(problem, 300.0)
    assert [(plan.mode, plan.own, plan.shared, plan.weight) for plan in plans] == [("whole", 0, 1, 0.0)]
    result = solve(ruled, SolveParams(time_limit_s=30, seed=0))
    assert bands_hold(ruled, result.alignment.territory)
    assert len(np.unique(result.alignment.territory[40:])) == 1


def test_a_region_of_zip_units_is_split_by_its_members_travel():
    # each island unit holds two accounts 0.02 degrees apart: the sub-solve sees the members
    problem = _island_problem(20, 30, 5)
    coords = problem.coords
    member_coords = np.vstack([np.vstack([c, c + np.array([0.0, 0.02])]) for c in coords[30:]])
    indptr = np.r_[np.zeros(31, dtype=np.int64), 2 * np.arange(1, 21)]
    members = Members(indptr, member_coords, np.full(40, 0.5))
    ruled, plans = regions.keep_whole(dataclasses.replace(problem, members=members), 300.0)
    assert [(plan.mode, plan.own) for plan in plans] == [("own", 2)]
    assert ruled.rules is not None
    assert sorted(np.bincount(ruled.rules.locked[30:])[3:].tolist()) == [10, 10]


def test_off_or_without_a_region_the_problem_is_unchanged():
    problem = _island_problem(13, 27, 4)
    assert regions.keep_whole(problem, None) == (problem, ())
    mainland = _island_problem(0, 27, 3)
    assert regions.keep_whole(mainland, 300.0) == (mainland, ())


def test_same_seed_same_rules_and_same_alignment():
    problem = _island_problem(13, 27, 4)
    first, plans_a = regions.keep_whole(problem, 300.0)
    again, plans_b = regions.keep_whole(problem, 300.0)
    assert plans_a == plans_b
    assert first.rules is not None and again.rules is not None
    assert np.array_equal(first.rules.locked, again.rules.locked)
    assert np.array_equal(first.rules.forbidden, again.rules.forbidden)
    a = solve(first, SolveParams(time_limit_s=30, seed=4))
    b = solve(again, SolveParams(time_limit_s=30, seed=4))
    assert np.array_equal(a.alignment.territory, b.alignment.territory)
    assert np.array_equal(a.alignment.centres, b.alignment.centres)
    assert a.objective == b.objective


# -- through the CLI --------------------------------------------------------------------------------------------------

# ids that sort first (outputs list accounts by id): the region's territories are looked up by id, not by row
HONOLULU = """0H1,Queens Ortho,Hospital,96813,,,,
0H2,Kapiolani Bone,ASC,96826,,,,
0H3,Kalihi Joint,Practice,96817,,,,
0H4,Manoa Hip,Practice,96822,,,,
"""
HONOLULU_VOLUMES = """0H1,27447,150,2025
0H2,27130,80,2025
0H3,27447,40,2025
0H4,27130,30,2025
"""


@pytest.fixture
def three(tiny):
    """The tiny case plus a Honolulu cluster of the same potential (300), in three territories."""
    tiny.write("accounts.csv", (tiny.dir / "accounts.csv").read_text() + HONOLULU)
    tiny.write("volumes.csv", (tiny.dir / "volumes.csv").read_text() + HONOLULU_VOLUMES)
    tiny.write("config.yaml", TINY_CONFIG.replace("count: 2", "count: 3"))
    return tiny


def test_summary_and_log_name_the_region_and_what_it_got(three):
    result = invoke("optimize", str(three.config))
    assert result.exit_code == 0, result.stderr
    assert "remote region HI: 4 units, 33.33% of potential, 1 own territory: T03" in result.stderr
    summary = json.loads((three.out / "summary.json").read_text())
    assert summary["remote_regions"] == [
        {
            "name": "HI",
            "units": 4,
            "metric": "potential",
            "weight": 300.0,
            "weight_share": 0.33333333,
            "kept_whole": True,
            "mode": "whole",
            "own_territories": 1,
            "shared_territories": 0,
            "moved": 0.0,
            "territories": ["T03"],
            "reason": "",
        }
    ]


def test_null_gap_turns_remote_regions_off(three):
    three.write("config.yaml", TINY_CONFIG.replace("count: 2", "count: 3") + "units: {remote_gap_km: null}\n")
    result = invoke("optimize", str(three.config), "-q")
    assert result.exit_code == 0, result.stderr
    assert "remote_regions" not in json.loads((three.out / "summary.json").read_text())


def test_a_gap_of_zero_is_refused(three):
    three.write("config.yaml", TINY_CONFIG + "units: {remote_gap_km: 0}\n")
    result = invoke("validate", str(three.config))
    assert result.exit_code == 3
    assert (
        "config.yaml: key 'units.remote_gap_km': must be positive (got '0')\n"
        "    hint: e.g. 300, or null for no remote regions"
    ) in result.stderr


def test_same_seed_same_bytes_through_the_cli(three):
    for out in ("a", "b"):
        result = invoke("optimize", str(three.config), "-q", "-o", str(three.dir / out), "--no-report")
        assert result.exit_code == 0, result.stderr
    for name in ("assignments.csv", "territories.csv"):
        assert (three.dir / "a" / name).read_bytes() == (three.dir / "b" / name).read_bytes()
    first, second = (json.loads((three.dir / out / "summary.json").read_text()) for out in ("a", "b"))
    assert first["remote_regions"] == second["remote_regions"]
