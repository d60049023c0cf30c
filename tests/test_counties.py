"""County units (a county FIPS column, else the ZIP's county) and rook or queen county contiguity."""

from __future__ import annotations

from conftest import SHARED, TINY_CONFIG, invoke, requires_shared

from terrplan.adjacency import corner_only, county_touch, read_graph

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
