"""County units (a county FIPS column, else the ZIP's county) and rook or queen county contiguity."""

from __future__ import annotations

import json

import pandas as pd
from conftest import SHARED, TINY_CONFIG, invoke, requires_shared

from terrplan.adjacency import corner_only, county_touch, read_graph
from terrplan.units import account_counties, zip_county

# The Four Corners: AZ Apache, CO Montezuma, NM San Juan, UT San Juan meet at one point.
APACHE, MONTEZUMA, SAN_JUAN_NM, SAN_JUAN_UT = "04001", "08083", "35045", "49037"
CENSUS_ADJACENCY = SHARED / "data" / "census-county-adjacency" / "county_adjacency.txt"


def four_corners_file(path):
    """The Census layout for the four counties, each listing the other three (and itself), as the Census does."""
    names = {APACHE: "Apache County, AZ", MONTEZUMA: "Montezuma County, CO", SAN_JUAN_NM: "San Juan County, NM",
             SAN_JUAN_UT: "San Juan County, UT"}  # fmt: skip
    lines = []
    for county, name in names.items():
        for i, (other, other_name) in enumerate(names.items()):
            lines.append("\t".join([f'"{name}"' if i == 0 else "", county if i == 0 else "", f'"{other_name}"', other]))
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


def test_the_shipped_pair_file_knows_the_four_corners():
    assert corner_only(APACHE, MONTEZUMA) and corner_only(MONTEZUMA, APACHE)
    assert corner_only(SAN_JUAN_NM, SAN_JUAN_UT)
    assert not corner_only(APACHE, SAN_JUAN_NM) and not corner_only(APACHE, SAN_JUAN_UT)
    assert county_touch()[(APACHE, SAN_JUAN_NM)] == "edge"
    assert len(county_touch()) == 9341


def test_rook_drops_corner_pairs_from_a_county_file(tmp_path):
    path = four_corners_file(tmp_path / "county_adjacency.txt")
    queen = read_graph(path)
    rook = read_graph(path, "rook")
    assert queen[APACHE] == {MONTEZUMA, SAN_JUAN_NM, SAN_JUAN_UT}
    assert rook[APACHE] == {SAN_JUAN_NM, SAN_JUAN_UT}
    assert rook[MONTEZUMA] == {SAN_JUAN_NM, SAN_JUAN_UT}
    assert rook[SAN_JUAN_NM] == {APACHE, MONTEZUMA}


@requires_shared
def test_apache_and_montezuma_are_queen_not_rook_neighbours_in_the_census_file():
    queen = read_graph(CENSUS_ADJACENCY)
    rook = read_graph(CENSUS_ADJACENCY, "rook")
    assert MONTEZUMA in queen[APACHE] and MONTEZUMA not in rook[APACHE] and APACHE not in rook[MONTEZUMA]
    assert SAN_JUAN_UT in queen[SAN_JUAN_NM] and SAN_JUAN_UT not in rook[SAN_JUAN_NM]
    assert {SAN_JUAN_NM, SAN_JUAN_UT} <= rook[APACHE]
    pairs = {frozenset((a, b)) for a, listed in queen.items() for b in listed}
    kept = {frozenset((a, b)) for a, listed in rook.items() for b in listed}
    assert (len(pairs), len(pairs) - len(kept)) == (9483, 375)  # 375 Census pairs touch at a corner only
    assert set(rook) == set(queen)  # no county disappears


def test_rook_is_refused_for_a_zip_graph(tiny):
    tiny.write("graph.json", '{"27710": ["27607"], "27607": ["27710"]}')
    tiny.write(
        "config.yaml",
        TINY_CONFIG + "units: {by: zip}\ncontiguity: {graph: graph.json, neighbours: rook}\n",
    )
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[:3] == [
        "error: contiguity.neighbours: rook needs the Census county adjacency file",
        "  config: key 'contiguity.neighbours': graph.json is a ZIP graph (JSON): its pairs do not say whether areas "
        "share a border or only a corner (got 'rook')",
        "    hint: set contiguity.neighbours: queen to use the graph's pairs as they are, or use units.by: county "
        "with the Census county_adjacency.txt",
    ]


# -- county units -------------------------------------------------------------------------------------------------

COUNTY_CONFIG = (
    TINY_CONFIG.replace("count: 2", "count: 2\n  balance: {metric: potential, tolerance: 0.5}").replace(
        "  balance: {metric: potential, tolerance: 0.05}\n", ""
    )
    + "units: {by: county}\n"
)


def county_case(tiny, rows: str, header: str = "account_id,state,zip,lat,lon,county"):
    tiny.write("accounts.csv", f"{header}\n{rows}")
    ids = [line.split(",")[0] for line in rows.strip().splitlines()]
    tiny.write("volumes.csv", "account_id,code,volume,period\n" + "".join(f"{a},27447,10,2025\n" for a in ids))
    tiny.write("config.yaml", COUNTY_CONFIG)


def test_the_county_column_decides_and_lost_zeros_are_restored():
    accounts = pd.DataFrame(
        {"account_id": ["a", "b", "c"], "state": ["OK", "AL", "LA"], "zip": ["73099", "36003", ""],
         "lat": [35.5, 32.5, 29.8], "lon": [-97.7, -86.6, -89.7], "county": ["40099", "01001", ""]}
    )  # fmt: skip
    counties, mismatch = account_counties(accounts)
    assert counties.tolist() == ["40099", "01001", "22087"]
    assert not mismatch.any()


def test_without_a_county_column_the_zip_decides_then_the_nearest_zip_in_the_state():
    accounts = pd.DataFrame(
        {"account_id": ["davis-po-box", "st-bernard", "typo"], "state": ["OK", "LA", "VA"],
         "zip": ["73039", "", "27710"], "lat": [34.50, 29.90, 36.0], "lon": [-97.10, -89.60, -78.9]}
    )  # fmt: skip
    counties, mismatch = account_counties(accounts)
    # 73039 (Davis, OK's PO box) names 'Oklahoma' county; its city and the nearest ZIP agree on Murray (40099).
    # St. Bernard Parish, LA by lat/lon only: the nearest ZIP within LA, not Hancock County, MS across the water.
    assert counties.tolist() == ["40099", "22087", "37063"]
    assert mismatch.tolist() == [False, False, True]  # Durham County, NC is not in VA
    assert zip_county()["73039"] == "40099" and zip_county()["73030"] == "40099"


def test_county_units_use_the_column(tiny):
    county_case(tiny, "a,OK,73039,,,40099\nb,OK,73030,,,40099\nc,OK,73102,,,\nd,OK,73086,,,40099\n")
    result = invoke("optimize", str(tiny.config), "-q", "--no-report")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["units"] == 2  # Murray (3 accounts) and Oklahoma County
    assert summary["accounts"]["county_outside_state"] == 0


def test_a_county_that_is_not_a_fips_code_is_a_bad_row(tiny):
    county_case(tiny, "a,OK,73039,,,40099\nb,OK,73030,,,Murray\nc,OK,73102,,,401099\nd,OK,73086,,,1001.0\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[:5] == [
        "error: 2 row(s) cannot be used (to set them aside in rejects.csv and go on, set inputs.on_bad_rows: reject)",
        f"  {tiny.dir / 'accounts.csv'}:3: column 'county': county must be a 5-digit county FIPS code (got 'Murray')",
        "    hint: state and county digits, e.g. 40099 for Murray County, OK; leave blank to use the ZIP's",
        f"  {tiny.dir / 'accounts.csv'}:4: column 'county': county must be a 5-digit county FIPS code (got '401099')",
        "    hint: state and county digits, e.g. 40099 for Murray County, OK; leave blank to use the ZIP's",
    ]


def test_a_county_names_column_is_left_alone(tiny):
    county_case(tiny, "a,OK,73039,,,Murray\nb,OK,73102,,,Oklahoma\n")
    result = invoke("optimize", str(tiny.config), "-q", "--no-report")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tiny.out / "summary.json").read_text())["units"] == 2


def test_counties_from_zips_outside_the_account_state_are_warned_about(tiny):
    county_case(tiny, "a,NC,27710,,\nb,VA,27607,,\nc,NC,28203,,\nd,SC,28207,,\n", "account_id,state,zip,lat,lon")
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    assert (
        "2 account(s) have a county from their ZIP outside their state; first: account b (line 3), state VA, "
        "ZIP 27607, county 37183 (give each account's county FIPS in a county column: inputs.accounts.columns.county)"
    ) in result.stderr
    assert json.loads((tiny.out / "summary.json").read_text())["accounts"]["county_outside_state"] == 2
