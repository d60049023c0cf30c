"""Rep roster and sizing: anchored territories at rep homes with FTE-scaled targets, and free territories matched to reps."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from conftest import TINY_CONFIG, invoke

from terrplan.reps import kept_potential, rep_for_territory

REPS = "rep_id,name,home_zip,fte,territory\nR1,Ann,27601,1.0,EAST\nR2,Bob,28202,0.5,WEST\n"


def test_anchored_territories_are_centred_at_rep_homes_and_sized_by_fte(tiny):
    tiny.write("reps.csv", REPS)
    tiny.write(
        "config.yaml",
        TINY_CONFIG.replace(
            "  volumes: {path: volumes.csv}", "  volumes: {path: volumes.csv}\n  reps: {path: reps.csv}"
        )
        .replace("  count: 2\n", "  centres: rep_homes\n")
        .replace("tolerance: 0.05", "tolerance: 0.15"),
    )
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    t = pd.read_csv(tiny.out / "territories.csv").set_index("territory")
    assert list(t.index) == ["EAST", "WEST"]  # the roster's territory names
    assert list(t["rep_id"]) == ["R1", "R2"]
    assert list(t["home_to_centre_km"]) == [0.0, 0.0]
    # Targets 400 / 200 (FTE 1 : 0.5 of 600), ±15 %: index is relative to the FTE-scaled target.
    assert 340 <= t.loc["EAST", "potential"] <= 460 and 170 <= t.loc["WEST", "potential"] <= 230
    assert t["in_band"].all()


def test_free_territories_get_the_nearest_rep_and_vacancies_show(tiny):
    tiny.write("reps.csv", "rep_id,name,home_zip,fte\nR1,Ann,28202,1\nR2,VACANT,27601,1\n")
    tiny.write(
        "config.yaml",
        TINY_CONFIG.replace(
            "  volumes: {path: volumes.csv}", "  volumes: {path: volumes.csv}\n  reps: {path: reps.csv}"
        ),
    )
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    t = pd.read_csv(tiny.out / "territories.csv", keep_default_na=False)
    by_rep = dict(zip(t["rep_name"], t["centre_lat"] < 35.5, strict=True))
    assert by_rep == {"Ann": True, "VACANT": False}  # Ann lives in Charlotte (south), the Raleigh one is vacant


def test_bad_roster_rows_are_all_reported(tiny):
    tiny.write("reps.csv", "rep_id,name,home_zip,fte\nR1,Ann,28202,0\nR1,Bob,28202,1\n,Cy,27601,1\nR3,Di,99999,1\n")
    tiny.write(
        "config.yaml",
        TINY_CONFIG.replace(
            "  volumes: {path: volumes.csv}", "  volumes: {path: volumes.csv}\n  reps: {path: reps.csv}"
        ),
    )
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    assert "reps.csv: the rep roster has 4 problem(s)" in result.stderr
    assert "reps.csv:2: column 'fte': FTE must be a number above 0 (got '0')" in result.stderr
    assert "reps.csv:3: column 'rep_id': duplicate rep id (got 'R1')" in result.stderr
    assert "reps.csv:4: column 'rep_id': blank rep id" in result.stderr
    assert (
        "reps.csv:5: column 'home_zip': cannot place the rep: ZIP not in the offline ZIP table (got '99999')"
        in result.stderr
    )


def test_rep_homes_without_a_roster_is_a_config_error(tiny):
    tiny.write("config.yaml", TINY_CONFIG.replace("  count: 2\n", "  centres: rep_homes\n"))
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    assert "key 'territories.centres': centres at rep homes need a rep roster" in result.stderr


def test_size_tabulates_each_k_and_recommends_the_smallest_that_fits(tiny):
    # The tiny case has 70 call hours a year in all; travel comes on top and depends on K.
    result = invoke("size", str(tiny.config), "--k-range", "1:3", "--capacity", "400", "--time-limit", "5")
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table["k"]) == [1, 2, 3]
    assert (table["call_hours_per_rep"] * table["k"]).round(2).tolist() == [70.0] * 3  # the same total split K ways
    assert (table["workload_per_rep"] >= table["call_hours_per_rep"]).all()
    fits = table.loc[table["utilisation"] <= 1, "k"]
    expected = int(fits.min()) if len(fits) else None
    assert f"recommended: {expected} territories" in result.stderr


def test_size_rejects_a_malformed_range(tiny):
    result = invoke("size", str(tiny.config), "--k-range", "3-1")
    assert result.exit_code == 2
    assert "expected MIN:MAX" in result.output


def test_hierarchy_puts_district_and_region_in_every_output(tiny):
    tiny.write(
        "config.yaml",
        TINY_CONFIG.replace("  count: 2\n", "  count: 4\n").replace("tolerance: 0.05", "tolerance: 0.5")
        + "hierarchy: {districts: 2, regions: 1, tolerance: 0.5}\n",
    )
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    territories = pd.read_csv(tiny.out / "territories.csv")
    assignments = pd.read_csv(tiny.out / "assignments.csv")
    assert sorted(territories["district"].unique()) == ["D1", "D2"]
    assert set(territories["region"]) == {"R1"}
    # Districts are compact: each holds the territories of one city cluster (north-east vs south-west).
    by_district = assignments.groupby("district")["account_id"].apply(lambda s: {a[0] for a in s})
    assert sorted(map(sorted, by_district)) == [["A"], ["B"]]
    joined = assignments.merge(territories[["territory", "district"]], on="territory", suffixes=("", "_t"))
    assert (joined["district"] == joined["district_t"]).all()


def test_more_districts_than_territories_is_a_config_error(tiny):
    tiny.write("config.yaml", TINY_CONFIG + "hierarchy: {districts: 3}\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    assert "key 'hierarchy.districts': more districts than territories (got '3')" in result.stderr


def test_min_and_max_accounts_per_territory_hold(tiny):
    tiny.write(
        "config.yaml",
        TINY_CONFIG.replace("  count: 2\n", "  count: 3\n  min_accounts: 2\n  max_accounts: 3\n").replace(
            "tolerance: 0.05", "tolerance: 0.9"
        ),
    )
    result = invoke("optimize", str(tiny.config), "-q", "--no-report")
    assert result.exit_code == 0, result.stderr
    counts = pd.read_csv(tiny.out / "territories.csv")["accounts"]
    assert counts.between(2, 3).all() and counts.sum() == 8


def test_account_limits_that_cannot_add_up_are_explained(tiny):
    tiny.write("config.yaml", TINY_CONFIG.replace("  count: 2\n", "  count: 2\n  max_accounts: 3\n"))
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 4
    assert "total accounts 8 exceeds the sum of the territory maxima 6" in result.stderr


def test_free_territories_go_to_the_rep_whose_book_they_keep_before_the_nearest_home():
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "name": ["a", "b"],
            "territory": ["T1", "T2"],
            "fte": [1.0, 1.0],
            "vacant": [False, False],
            "lat": [35.0, 35.0],
            "lon": [-80.0, -79.0],  # homes ~91 km apart
        }
    )
    centres = np.array([[35.0, -80.05], [35.0, -78.95]])  # territory 0 by R1's home, 1 by R2's (~9 km apart)
    assert rep_for_territory(reps, centres, False, np.ones(2)).tolist() == [0, 1]
    # R1's current accounts (T1) all land in territory 1, R2's in territory 0: swapping costs each rep ~86 km
    # more driving but keeps both books (each worth BOOK_KM = 200 km), so the books win.
    kept = kept_potential(reps, np.array(["T1", "T1", "T2"]), np.array([1, 1, 0]), np.array([5.0, 3.0, 4.0]), 2)
    assert kept.tolist() == [[0.0, 8.0], [4.0, 0.0]]
    assert rep_for_territory(reps, centres, False, np.ones(2), kept).tolist() == [1, 0]
