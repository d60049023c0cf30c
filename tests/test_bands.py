"""One band test everywhere (model.in_band), figures printed with the decimals their band needs, and one
objective / bound / gap in summary.json, the log and the report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIG, TINY_VOLUMES, invoke

from terrplan.metrics import band_decimals, percent
from terrplan.model import BAND_RTOL, Problem, band_excess, band_scale, bands_hold, in_band, outside_band
from terrplan.solve.assign import Arcs, BandMoves, repair_bands

CHECK_FAILED = 5
INF = np.inf


def problem(lower, upper, metrics, k=3) -> Problem:
    metrics = np.atleast_2d(np.asarray(metrics, dtype=float))
    n = metrics.shape[1]
    xy = np.arange(2 * n, dtype=float).reshape(n, 2)
    names = ("potential", "accounts")[: metrics.shape[0]]
    return Problem(k, np.ones(n), metrics, names, lower, upper, coords=xy, geometry="euclidean")


# -- the one band test ---------------------------------------------------------------------------------------------


def test_a_minimum_without_a_maximum_is_still_a_limit():
    # Row 0: potential within 90-110. Row 1: accounts, at least 3, no maximum (the bug: an infinite upper bound
    # made the tolerance infinite, so every territory read as inside).
    lower = np.array([[90.0] * 3, [3.0] * 3])
    upper = np.array([[110.0] * 3, [INF] * 3])
    metrics = np.array([[50, 50, 100, 40, 30, 30], [1, 1, 1, 1, 1, 1]])
    p = problem(lower, upper, metrics)
    territory = np.array([0, 0, 1, 2, 2, 2])  # potential 100 / 100 / 100; accounts 2 / 1 / 3
    assert band_scale(p).ravel().tolist() == [110.0, 3.0]  # per row, finite bounds only
    excess = band_excess(p, np.array([[100.0, 100.0, 100.0], [2.0, 1.0, 3.0]]))
    assert excess.tolist() == [[0.0, 0.0, 0.0], [1.0, 2.0, 0.0]]
    assert in_band(p, territory).tolist() == [False, False, True]
    assert not bands_hold(p, territory)


def test_a_maximum_without_a_minimum_and_rows_bounded_nowhere():
    lower = np.array([[-INF] * 2, [-INF] * 2])
    upper = np.array([[INF] * 2, [2.0] * 2])
    p = problem(lower, upper, [[5, 5, 5], [1, 1, 1]], k=2)
    assert band_scale(p).ravel().tolist() == [1.0, 2.0]  # no finite bound: scale 1
    assert in_band(p, np.array([0, 0, 1])).tolist() == [True, True]
    assert in_band(p, np.array([0, 0, 0])).tolist() == [False, True]  # 3 accounts > 2


def test_the_tolerance_is_per_row_so_a_big_row_cannot_hide_a_small_one():
    # Potential in the millions, accounts in units: half an account over must count, a millionth of potential not.
    lower = np.array([[0.0, 0.0], [0.0, 0.0]])
    upper = np.array([[1e6, 1e6], [2.0, 2.0]])
    p = problem(lower, upper, [[1e6, 0.0, 0.0], [1.0, 1.0, 0.5]], k=2)
    assert not in_band(p, np.array([0, 0, 0]))[0]  # 2.5 accounts > 2: outside, though 0.5 << 1e-9 x 1e6
    noise = np.array([[1e6 * (1 + BAND_RTOL / 2), 0.0], [2.0, 0.0]])
    assert not outside_band(p, noise).any()  # beyond the bound by rounding noise only: inside
    assert outside_band(p, np.array([[1e6 * (1 + 1e-6), 0.0], [2.0, 0.0]])).tolist() == [[True, False], [False, False]]


def test_band_excess_takes_any_columns():
    p = problem(np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 3.0, 4.0]]), [[1, 1, 1]])
    assert band_excess(p, np.array([[0.0, 5.0, 0.0]]), np.array([2, 2, 0])).tolist() == [[3.0, 1.0, 1.0]]


def test_evaluate_names_the_territory_below_min_accounts(tiny):
    # T1 = A1 + B1 = 290, T2 = the other six = 310: potential inside 285-315, but T1 holds 2 accounts, under 3.
    tiny.write("config.yaml", TINY_CONFIG.replace("  count: 2\n", "  count: 2\n  min_accounts: 3\n"))
    tiny.write("split.csv", "account_id,territory\nA1,T1\nB1,T1\nA2,T2\nA3,T2\nA4,T2\nB2,T2\nB3,T2\nB4,T2\n")
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.dir / "split.csv"))
    assert result.exit_code == CHECK_FAILED, result.stderr
    assert "potential index 96.7-103.3 (band 95.0-105.0), 1 of 2 in band" in result.stderr
    assert "error: 1 check(s) failed" in result.stderr
    assert (
        "territories: T1 is outside the accounts limit: 2 accounts, below the minimum of 3\n"
        "    hint: territories.min_accounts is 3"
    ) in result.stderr


def test_evaluate_names_every_band_a_territory_breaks(tiny):
    # T1 = A1 alone: potential 150 (index 50) and 1 account; T2 = 7 accounts, over a maximum of 6.
    tiny.write("config.yaml", TINY_CONFIG.replace("  count: 2\n", "  count: 2\n  min_accounts: 2\n  max_accounts: 6\n"))
    tiny.write("split.csv", "account_id,territory\nA1,T1\nA2,T2\nA3,T2\nA4,T2\nB1,T2\nB2,T2\nB3,T2\nB4,T2\n")
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.dir / "split.csv"), "-o", str(tiny.out))
    assert result.exit_code == CHECK_FAILED, result.stderr
    assert "error: 4 check(s) failed" in result.stderr
    found = re.findall(r"territories: (.*)\n    hint: (.*)", result.stderr)
    assert found == [
        ("T1 is outside the band: index 50.0", "band 95.0-105.0"),
        ("T1 is outside the accounts limit: 1 accounts, below the minimum of 2", "territories.min_accounts is 2"),
        ("T2 is outside the band: index 150.0", "band 95.0-105.0"),
        ("T2 is outside the accounts limit: 7 accounts, above the maximum of 6", "territories.max_accounts is 6"),
    ]
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["balance"]["territories_in_band"] == 0 and summary["checks_failed"] == 4


def test_optimize_meets_a_minimum_without_a_maximum(tiny):
    tiny.write("config.yaml", TINY_CONFIG.replace("  count: 2\n", "  count: 2\n  min_accounts: 4\n"))
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["balance"]["territories_in_band"] == 2


# -- figures with the precision their band needs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "text"), [(0.05, "5%"), (0.1, "10%"), (0.005, "0.5%"), (0.0125, "1.25%"), (0.001, "0.1%")]
)
def test_percent_shows_a_tolerance_exactly(share, text):
    assert percent(share) == text


def test_band_decimals_follow_the_band_width_and_never_print_outside_as_on_the_bound():
    assert band_decimals(95.0, 105.0) == 1
    assert band_decimals(90.0, 110.0, 120.0) == 1
    assert band_decimals(99.5, 100.5) == 2
    assert band_decimals(99.5, 100.5, 100.52) == 2
    assert band_decimals(99.5, 100.5, 100.501) == 3  # 100.50 would read as on the bound
    assert band_decimals(95.0, 105.0, 105.04) == 2  # 105.0 would read as on the bound
    assert band_decimals(95.0, 105.0, 105.0 + 1e-12) == 1  # rounding noise is inside, as in_band says
    assert band_decimals(99.95, 100.05) == 3


def _volumes(a4: str, b4: str) -> str:
    """The tiny volumes with A4 and B4 changed (T1 = A1-A4, T2 = B1-B4 then hold 270 + A4 and 270 + B4)."""
    return TINY_VOLUMES.replace("A4,27130,30,", f"A4,27130,{a4},").replace("B4,27130,30,", f"B4,27130,{b4},")


ALIGNED = "account_id,territory\nA1,T1\nA2,T1\nA3,T1\nA4,T1\nB1,T2\nB2,T2\nB3,T2\nB4,T2\n"


@pytest.mark.parametrize(
    ("a4", "b4", "t1", "t2", "band"),
    [
        ("31.56", "28.44", "100.52", "99.48", "99.50-100.50"),  # printed :.1f this was "index 100.5, band 99.5-100.5"
        ("31.503", "28.497", "100.501", "99.499", "99.500-100.500"),
    ],
)
def test_a_territory_just_outside_a_narrow_band_prints_outside_it(tiny, a4, b4, t1, t2, band):
    tiny.write("volumes.csv", _volumes(a4, b4))
    tiny.write("aligned.csv", ALIGNED)
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.dir / "aligned.csv"), "--tolerance", "0.005")
    assert result.exit_code == CHECK_FAILED, result.stderr
    assert f"potential index {t2}-{t1} (band {band}), 0 of 2 in band" in result.stderr
    assert f"territories: T1 is outside the band: index {t1}\n    hint: band {band}" in result.stderr
    assert f"territories: T2 is outside the band: index {t2}\n    hint: band {band}" in result.stderr


def test_a_territory_on_the_bound_is_inside_and_prints_on_it(tiny):
    tiny.write("volumes.csv", _volumes("31.5", "28.5"))  # T1 301.5 = 300 x 1.005 exactly
    tiny.write("aligned.csv", ALIGNED)
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.dir / "aligned.csv"), "--tolerance", "0.005")
    assert result.exit_code == 0, result.stderr
    assert "potential index 99.50-100.50 (band 99.50-100.50), 2 of 2 in band" in result.stderr


def test_the_solve_line_shows_a_half_percent_tolerance(tiny):
    result = invoke("optimize", str(tiny.config), "--tolerance", "0.005", "--no-report")
    assert result.exit_code == 0, result.stderr
    assert "solving: 8 accounts into 2 territories, potential within ±0.5%" in result.stderr


# -- one objective, bound and gap with contiguity ---------------------------------------------------------------------

# Each account in its own ZIP. Cary (27518, A4) touches only Concord (28025, B4), so the compact optimum
# (A1-A4 | B1-B4) leaves A4 cut off from its territory: contiguity moves it to the Charlotte territory and the
# objective rises above what the contiguity-blind solver proved optimal. The districting site model (graphs of up to
# 30 units) then bounds the contiguous problem itself, so the gap closes again, and every output reports that one
# objective, bound and gap.
GRAPH = {
    "27710": ["27607"],
    "27607": ["27610"],
    "27610": ["28025"],
    "27518": ["28025"],
    "28025": ["28203"],
    "28203": ["28207"],
    "28207": ["28105"],
}


def test_contiguity_reports_one_objective_bound_and_gap_everywhere(tiny):
    tiny.write("graph.json", json.dumps(GRAPH))
    config = TINY_CONFIG.replace("tolerance: 0.05", "tolerance: 0.25")
    tiny.write("config.yaml", config + "units: {by: zip}\ncontiguity: {graph: graph.json}\n")
    result = invoke("optimize", str(tiny.config))
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["contiguity"]["units_moved_for_contiguity"] == 1
    objective, bound, gap = summary["objective"], summary["lower_bound"], summary["gap"]
    assert 0 < bound <= objective
    assert gap == pytest.approx((objective - bound) / objective, abs=1e-8)
    assert gap < 1e-4  # a bound of the contiguous problem: the blind solver's optimum was 1 % and more below
    line = re.search(r"(?:feasible|optimal): objective ([\d,.]+), lower bound ([\d,.]+), gap ([\d.]+)%", result.stderr)
    assert line is not None, result.stderr
    assert line.groups() == (f"{objective:,.1f}", f"{bound:,.1f}", f"{gap * 100:.2f}")
    report = (tiny.out / "report.html").read_text()
    assert f"<b>{gap * 100:.2f} %</b>" in report
    territory = pd.read_csv(tiny.out / "assignments.csv", index_col="account_id")["territory"]
    assert territory["A4"] == territory["B4"]  # Cary sits with Concord, its only neighbour


def test_a_repair_pass_makes_the_cheapest_moves_one_per_territory():
    """Band repair (solve/assign.repair_bands): a pass makes the moves that shrink the band excess, cheapest extra
    travel per unit of excess first, skipping any whose territory an earlier move of the pass touched."""
    x = np.array([0, 2, 3, 100, 101, 104, 10, 107], dtype=float)  # on a line; centres: units 0, 3, 6, 7
    p = Problem(4, np.ones(8), np.ones((1, 8)), ("potential",), np.full((1, 4), 2.0), np.full((1, 4), 2.0),
                coords=np.column_stack([x, np.zeros(8)]), geometry="euclidean")  # fmt: skip
    centres = np.array([0, 3, 6, 7])  # at 0, 100, 10 and 107
    territory = np.array([0, 0, 0, 1, 1, 1, 2, 3])  # 3, 3, 1, 1 units: two over the band of 2, two under
    arcs = Arcs.build(p, centres, 4)
    # Extra travel of the moves from over to under (unit -> territory): 5 -> 3: -1; 2 -> 2: 4; 4 -> 3: 5; 1 -> 2: 6.
    one_move = territory.copy()
    one_move[5] = 3
    assert np.array_equal(repair_bands(p, territory, arcs, max_moves=1), one_move)
    # A batch pass also makes unit 2's move; units 4 and 1 would go into territories already touched.
    one_pass = one_move.copy()
    one_pass[2] = 2
    assert np.array_equal(repair_bands(p, territory, arcs, max_moves=1, batch=True), one_pass)
    assert bands_hold(p, one_pass)


@pytest.mark.parametrize("seed", range(6))
def test_band_moves_scored_move_by_move_are_the_moves_of_a_full_rescoring(seed):
    """`BandMoves` scores again only the arcs out of and into the two territories a move touched (the refresh
    checks its budget after every move). Each move, and each pin, must give the move that scoring every arc from
    scratch gives: two metrics, arcs to some territories only, units pinned where they are along the way."""
    rng = np.random.default_rng(seed)
    n, k = 60, 6
    metrics = np.vstack([rng.lognormal(0.0, 1.0, n), np.ones(n)])
    mean = metrics.sum(axis=1, keepdims=True) / k
    lower, upper = np.repeat(0.9 * mean, k, axis=1), np.repeat(1.1 * mean, k, axis=1)
    p = Problem(k, rng.uniform(0.5, 2.0, n), metrics, ("potential", "accounts"), lower, upper,
                coords=rng.uniform(0, 100, (n, 2)), geometry="euclidean")  # fmt: skip
    centres = rng.choice(n, k, replace=False)
    arcs = Arcs.build(p, centres, 4)
    moves = BandMoves(p, arcs.territory[np.arange(n), rng.integers(0, 4, n)], arcs)
    made = 0
    while (position := moves.best()) is not None:
        assert position == BandMoves(p, moves.territory, moves.arcs).best()
        unit, _ = moves.destination(position)
        if made % 3 == 2:  # pin this unit where it is instead, as the refresh does where the move breaks its budget
            moves.pin(centres, np.array([unit]))
        else:
            moves.move(position)
        made += 1
    assert made > 10  # the start is far outside the bands: many moves were compared
    assert BandMoves(p, moves.territory, moves.arcs).best() is None
