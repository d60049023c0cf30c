"""Locks, forbidden pairs, the distance limit and the disruption cost: small instances whose answer is known."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrplan.errors import InfeasibleError
from terrplan.model import Problem, Rules, objective
from terrplan.solve import SolveParams, solve
from terrplan.solve.disruption import Budget, disruption_floor, forced_move
from terrplan.solve.exact import exact_applies

PARAMS = SolveParams(time_limit_s=20, seed=1, bound_iterations=100)


def line_problem(xs, weights=None, sites=(0.0, 10.0), per_territory=None, rules=None) -> Problem:
    """Units on the x axis, territories centred at fixed sites; optional exact count per territory."""
    xs = np.asarray(xs, dtype=float)
    n, k = len(xs), len(sites)
    band = np.inf if per_territory is None else per_territory
    return Problem(
        n_territories=k,
        weights=np.ones(n) if weights is None else np.asarray(weights, dtype=float),
        metrics=np.ones((1, n)),
        metric_names=("accounts",),
        lower=np.full((1, k), -np.inf if per_territory is None else band),
        upper=np.full((1, k), band),
        coords=np.column_stack([xs, np.zeros(n)]),
        geometry="euclidean",
        fixed_sites=np.column_stack([np.asarray(sites, float), np.zeros(k)]),
        rules=rules,
    )


def rules_for(n: int, **fields) -> Rules:
    base = Rules.none(n)
    values = {name: getattr(base, name) for name in ("locked", "forbidden", "max_distance", "home", "move_cost")}
    return Rules(**(values | fields))


def test_a_lock_overrides_the_nearest_centre():
    locked = np.array([-1, 1, -1, -1])  # unit at x=2 must join the far territory
    problem = line_problem([1, 2, 8, 9], rules=rules_for(4, locked=locked))
    territory = solve(problem, PARAMS).alignment.territory
    assert territory.tolist() == [0, 1, 1, 1]


def test_a_forbidden_pair_sends_the_unit_to_its_next_choice():
    forbidden = np.array([0 * 2 + 0])  # unit 0 may not be in territory 0
    problem = line_problem([1, 2, 8, 9], rules=rules_for(4, forbidden=forbidden))
    assert solve(problem, PARAMS).alignment.territory.tolist() == [1, 0, 1, 1]


def test_the_distance_limit_changes_who_crosses_over():
    # Two per territory: one of the three left units must cross to the site at x=10. Cheapest is the unit at 2
    # (extra 6; the heavy unit at 3 would add 40). Within 7.5 km of x=10, only the heavy unit at 3 may go.
    xs, weights = [1, 2, 3, 9], [1, 1, 10, 1]
    free = solve(line_problem(xs, weights, per_territory=2), PARAMS)
    assert free.alignment.territory.tolist() == [0, 1, 0, 1]
    limited = line_problem(xs, weights, per_territory=2, rules=rules_for(4, max_distance=7.5))
    result = solve(limited, PARAMS)
    assert result.alignment.territory.tolist() == [0, 0, 1, 1]
    assert result.objective == pytest.approx(1 + 2 + 10 * 7 + 1)


def test_the_move_cost_keeps_units_home_until_moving_pays():
    # The unit at 4 lives in territory 1 (x=10): moving it to territory 0 saves 2 km of travel.
    home = np.array([0, 1, 1])
    cheap = line_problem([1, 4, 9], rules=rules_for(3, home=home, move_cost=np.array([0, 1.0, 0])))
    dear = line_problem([1, 4, 9], rules=rules_for(3, home=home, move_cost=np.array([0, 3.0, 0])))
    assert solve(cheap, PARAMS).alignment.territory.tolist() == [0, 0, 1]
    kept = solve(dear, PARAMS)
    assert kept.alignment.territory.tolist() == [0, 1, 1]
    assert kept.objective == pytest.approx(1 + 6 + 1)
    # the objective prices the move: moved, it would be 1 + 4 + 1 travel plus 3
    assert objective(dear, kept.alignment) == pytest.approx(8)


def test_locks_that_overfill_a_territory_name_the_fewest_to_unlock():
    locked = np.array([0, 0, 0, -1])
    problem = line_problem([1, 2, 3, 9], per_territory=2, rules=rules_for(4, locked=locked))
    with pytest.raises(InfeasibleError) as error:
        solve(problem, PARAMS)
    text = str(error.value.problems[0])
    assert "locks put accounts 3 into territory 1, above its maximum 2" in text
    assert "unlock at least 1 of accounts: the fewest locks that do it are unit 0" in text


def test_a_territory_starved_by_forbid_rules_is_named():
    forbidden = np.array([u * 2 + 1 for u in range(3)])  # only unit 3 may join territory 2
    problem = line_problem([1, 2, 3, 9], per_territory=2, rules=rules_for(4, forbidden=forbidden))
    with pytest.raises(InfeasibleError) as error:
        solve(problem, PARAMS)
    assert "territory 2 can reach at most accounts 1 from the units its locks and forbid rules allow, below its " \
        "minimum 2" in str(error.value.problems[0])  # fmt: skip


# -- through the CLI, on the tiny NC universe (A* around Raleigh, B* around Charlotte) --------------------------

RULES_CONFIG = """
rules: {path: rules.csv}
"""


def test_cli_locks_and_forbids_are_honoured_and_name_the_territories(tiny):
    tiny.write("config.yaml", tiny.config.read_text() + RULES_CONFIG)
    # A4 (Cary, near Raleigh) locked into the Charlotte territory's name; B4 (Concord) forbidden there.
    tiny.write("rules.csv", "account_id,territory,rule\nA4,T02,lock\nB4,T02,forbid\n")
    result = invoke("optimize", str(tiny.config), "-q")  # A1-3 + B4 and B1-3 + A4 balance exactly
    assert result.exit_code == 0, result.stderr
    rows = {line.split(",")[0]: line for line in (tiny.out / "assignments.csv").read_text().splitlines()[1:]}
    territory = {account: line.split(",")[6] for account, line in rows.items()}
    assert territory["A4"] == "T02"
    assert territory["B4"] != "T02"
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["rules"] == {"locked_accounts": 1, "locks_kept": 1, "forbidden_pairs": 1, "forbidden_kept": 1}
    header = (tiny.out / "assignments.csv").read_text().splitlines()[0].split(",")
    locked_to = {account: line.split(",")[header.index("locked_to")] for account, line in rows.items()}
    assert locked_to == {"A1": "", "A2": "", "A3": "", "A4": "T02", "B1": "", "B2": "", "B3": "", "B4": ""}


def test_cli_bad_rules_rows_are_reported_with_line_and_column(tiny):
    tiny.write("config.yaml", tiny.config.read_text() + RULES_CONFIG)
    tiny.write("rules.csv", "account_id,territory,rule\nA4,T2,lock\nZZ,T01,forbid\nA1,T01,pin\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 3
    err = result.stderr
    assert "rules.csv:2: column 'territory': unknown territory (got 'T2')\n    hint: did you mean 'T02'?" in err
    assert "rules.csv:3: column 'account_id': not among the usable accounts (got 'ZZ')" in err
    assert "rules.csv:4: column 'rule': unknown rule (got 'pin')\n    hint: use lock or forbid" in err
    assert not tiny.out.exists()


def test_cli_locks_split_by_a_keep_together_group_are_a_named_conflict(tiny):
    tiny.write("config.yaml", tiny.config.read_text() + RULES_CONFIG + "units: {keep_together: [system]}\n")
    tiny.write("accounts.csv", tiny.dir.joinpath("accounts.csv").read_text().replace("27607,,,,T1", "27607,,,Duke,T1"))
    tiny.write("rules.csv", "account_id,territory,rule\nA1,T01,lock\nA2,T02,lock\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 4
    assert "moves as one, but A1 is locked to T01 and A2 to T02" in result.stderr


def test_cli_move_cost_redesign_stays_inside_the_budget(tiny):
    # The current alignment puts Concord (B4, 30 potential) with Raleigh: 330 vs 270, outside ±5 %.
    config = tiny.config.read_text() + "disruption: {current: accounts, move_cost_km: 50, budget: 0.10}\n"
    tiny.write("config.yaml", config)
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["pricing"]["moved_share"] <= 0.10
    assert summary["disruption"]["moved_accounts"] == 1  # only B4 moves home to Charlotte
    assert summary["balance"]["territories_in_band"] == 2


def test_the_disruption_floor_is_the_cheapest_fractional_way_out_of_an_overfull_territory():
    # Territory 0's home units hold 3 + 2 + 1 = 6 against a maximum of 4: 2 must leave. Cheapest per unit of metric
    # is unit 0 (cost 3 for 3), so the floor is 2 x 1 = 2. Territory 1 (home: unit 3) is inside its band.
    problem = Problem(
        n_territories=2,
        weights=np.ones(4),
        metrics=np.array([[3.0, 2.0, 1.0, 2.0]]),
        metric_names=("potential",),
        lower=np.zeros((1, 2)),
        upper=np.full((1, 2), 4.0),
        coords=np.zeros((4, 2)),
        geometry="euclidean",
        rules=rules_for(4, home=np.array([0, 0, 0, 1]), move_cost=np.array([3.0, 4.0, 10.0, 1.0])),
    )
    assert disruption_floor(problem) == pytest.approx(2.0)
    assert forced_move(problem, problem.rules.home, 0) == pytest.approx(2.0)


def test_the_priced_redesign_stops_early_when_the_bands_force_more_than_the_budget(tiny):
    config = tiny.config.read_text() + "disruption: {current: accounts, move_cost_km: 50, budget: 0.01}\n"
    tiny.write("config.yaml", config)
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 4
    # T1 holds 330 against a maximum of 315: 15 of 600 (2.5 %) must move
    assert "hold 2.5% of potential beyond their bands; at least that much must move, over the budget of 1.0%" in (
        result.stderr
    )


def test_a_budget_names_each_limit_a_move_breaks():
    potential = np.array([10.0, 20.0, 30.0, 40.0])
    home = np.array([0, 0, 1, -1])  # the last account is new: placing it is not a move
    after = np.array([1, 0, 0, 0])  # accounts 0 and 2 move
    budget = Budget(share=0.7, accounts=1, per_territory=0.2)  # 40 of 60 homed potential moves: the share holds
    assert budget.breaches(potential, home, after, ["North", "South"]) == [
        "2 accounts move, over the budget of 1",
        "North loses 33.3% of its potential, over the per-territory budget of 20.0%",
        "South loses 100.0% of its potential, over the per-territory budget of 20.0%",
    ]
    assert Budget(share=0.6).breaches(potential, home, after) == ["66.7% of potential moves, over the budget of 60.0%"]
    assert Budget(share=0.7, accounts=2).breaches(potential, home, after) == []


def test_refresh_with_no_account_allowed_to_move_says_which_limit_to_relax(tiny):
    tiny.write("config.yaml", tiny.config.read_text() + "disruption: {budget_accounts: 0}\n")
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "-q")
    assert result.exit_code == 4
    assert "relax budget_accounts / budget_per_territory" in result.stderr


def test_refresh_within_an_account_budget_moves_one_account(tiny):
    tiny.write("config.yaml", tiny.config.read_text() + "disruption: {budget_accounts: 1}\n")
    result = invoke("optimize", str(tiny.config), "--current", "accounts", "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["refresh"]["moved_accounts"] == 1
    assert summary["balance"]["territories_in_band"] == 2


def test_accounts_sharing_an_address_move_as_one(tiny):
    accounts = (tiny.dir / "accounts.csv").read_text().splitlines()
    accounts[0] = accounts[0].replace(",system,", ",system,address,")
    rows = [accounts[0]]
    for line in accounts[1:]:
        head, tail = line.rsplit(",", 1)
        address = {"A3": "100 Oak St", "A4": "100 OAK ST "}.get(line.split(",")[0], "")
        rows.append(f"{head},{address},{tail}".replace("A4,Cary Knee,Practice,27518", "A4,Cary Knee,Practice,27610"))
    tiny.write("accounts.csv", "\n".join(rows) + "\n")
    tiny.write("config.yaml", tiny.config.read_text() + "units: {keep_together: [address+zip]}\n")
    result = invoke("optimize", str(tiny.config), "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["units"] == 7  # A3 and A4 (same address, any case, same ZIP) are one unit
    lines = (tiny.out / "assignments.csv").read_text().splitlines()[1:]
    territory = {line.split(",")[0]: line.split(",")[6] for line in lines}
    assert territory["A3"] == territory["A4"]


def test_a_zip_alignment_refreshes_like_the_account_alignment_it_implies(tiny):
    # Every tiny account has its own ZIP, so a ZIP file can say exactly what the accounts' column says.
    tiny.write(
        "zips.csv",
        "zip,territory\n27710,T1\n27607,T1\n27610,T1\n27518,T1\n28203,T2\n28207,T2\n28105,T2\n28025,T1\n",
    )
    by_zip = invoke("optimize", str(tiny.config), "--current", str(tiny.dir / "zips.csv"), "-o", "-", "-q")
    by_account = invoke("optimize", str(tiny.config), "--current", "accounts", "-o", "-", "-q")
    assert by_zip.exit_code == by_account.exit_code == 0, by_zip.stderr
    assert by_zip.stdout == by_account.stdout


def test_a_zip_listed_twice_in_an_alignment_is_reported(tiny):
    tiny.write("zips.csv", "zip,territory\n27710,T1\n27710,T2\n")
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.dir / "zips.csv"), "-o", "-", "-q")
    assert result.exit_code == 5
    assert "zips.csv:3: column 'zip': ZIP assigned twice (got '27710')" in result.stderr


# -- random small instances against enumeration ------------------------------------------------------------------


@st.composite
def ruled_problems(draw):
    """Up to 7 units, 2-3 territories at fixed sites or chosen among the units, with random locks, forbidden
    pairs, a distance limit, and move costs from a random current alignment."""
    n = draw(st.integers(3, 7))
    k = draw(st.integers(2, 3))
    xy = np.array(draw(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=n, max_size=n)), float)
    metric = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), float)
    tol = draw(st.sampled_from([0.3, 0.6, 0.9]))
    target = metric.sum() / k
    fixed = draw(st.booleans())
    locked = np.array(draw(st.lists(st.integers(-1, k - 1), min_size=n, max_size=n)))
    locked = np.where(np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))) == 0, locked, -1)
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, k - 1)), max_size=3))
    forbidden = np.array([u * k + t for u, t in pairs if locked[u] != t], dtype=np.int64)
    home = np.array(draw(st.lists(st.integers(-1, k - 1), min_size=n, max_size=n)))
    cost = np.array(draw(st.lists(st.sampled_from([0.0, 2.0, 30.0]), min_size=n, max_size=n)))
    limit = draw(st.sampled_from([np.inf, 15.0])) if fixed else np.inf
    return Problem(
        n_territories=k,
        weights=np.ones(n),
        metrics=metric[None, :],
        metric_names=("potential",),
        lower=np.full((1, k), (1 - tol) * target),
        upper=np.full((1, k), (1 + tol) * target),
        coords=xy,
        geometry="euclidean",
        fixed_sites=np.array([[0.0, 0.0], [20.0, 20.0], [0.0, 20.0]])[:k] if fixed else None,
        rules=rules_for(n, locked=locked, forbidden=forbidden, max_distance=limit, home=home, move_cost=cost),
    )


def enumerate_optimum(problem: Problem) -> float:
    """Least travel + disruption over every assignment (and centre choice) that keeps the bands and the rules."""
    n, k = problem.n_units, problem.n_territories
    rules = problem.rules
    units = np.arange(n)
    assignments = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int64)
    totals = np.stack([(problem.metrics[0] * (assignments == t)).sum(axis=1) for t in range(k)], axis=1)
    ok = ((totals >= problem.lower[0] - 1e-9) & (totals <= problem.upper[0] + 1e-9)).all(axis=1)
    ok &= rules.allowed(units[None, :], assignments, k).all(axis=1)
    assignments = assignments[ok]
    penalty = rules.move_penalty(units[None, :], assignments).sum(axis=1)
    best = np.inf
    sites = [tuple(range(k))] if problem.fixed else itertools.permutations(range(n), k)
    for centres in sites:
        distance = problem.distance_matrix(units, np.array(centres))  # (n, k)
        reach = (distance[units[None, :], assignments] <= rules.max_distance + 1e-9).all(axis=1)
        values = (problem.weights[None, :] * distance[units[None, :], assignments]).sum(axis=1) + penalty
        if reach.any():
            best = min(best, float(values[reach].min()))
    return best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ruled_problems())
def test_rules_hold_and_the_bound_stays_below_the_optimum(problem):
    optimum = enumerate_optimum(problem)
    try:
        result = solve(problem, PARAMS)
    except InfeasibleError:
        assert optimum == np.inf  # a conflict named before solving is a real one
        return
    territory = result.alignment.territory
    rules = problem.rules
    assert rules.allowed(np.arange(problem.n_units), territory, problem.n_territories).all()  # locks, forbids
    assert result.objective == pytest.approx(objective(problem, result.alignment))
    if result.status == "infeasible":
        assert optimum == np.inf  # proven by the exact model
    if result.status in ("infeasible", "unknown") or optimum == np.inf:
        # The heuristic may miss a feasible alignment, and a distance limit no allowed centre meets is kept
        # softly (reported, not fatal); locks and forbidden pairs always hold.
        return
    assert result.objective >= optimum - 1e-9 * max(optimum, 1.0)
    assert result.lower_bound <= optimum + 1e-7 * max(optimum, 1.0)


def three_territories(metric: list[float], lower: float, upper: float, forbidden: list[int]) -> Problem:
    """Units on a line, 3 territories with one band, and forbidden pairs (codes unit * 3 + territory)."""
    n = len(metric)
    return Problem(
        n_territories=3,
        weights=np.ones(n),
        metrics=np.array([metric], dtype=float),
        metric_names=("potential",),
        lower=np.full((1, 3), lower),
        upper=np.full((1, 3), upper),
        coords=np.column_stack([np.arange(float(n)), np.zeros(n)]),
        geometry="euclidean",
        rules=rules_for(n, forbidden=np.array(forbidden)),
    )


def test_units_whose_rules_leave_two_small_territories_are_named_as_a_group():
    # Territories hold 2-4 each. Units 0-4 (9 in all) may not join territory 3, so they must fit into
    # territories 1 and 2, which hold at most 8. Every single-territory check passes (territory 3 can draw
    # unit 5's 3, no territory is overfilled by locks); only the group is impossible.
    problem = three_territories([1, 2, 3, 2, 1, 3], 2.0, 4.0, forbidden=[u * 3 + 2 for u in range(5)])
    with pytest.raises(InfeasibleError) as error:
        solve(problem, PARAMS)
    assert [str(f) for f in error.value.problems] == [
        "rules: 5 units (unit 0, unit 1, unit 2, ...) may only join territory 1, territory 2, which hold at most "
        "potential 8 together, but they carry 9\n    hint: allow them elsewhere (at least 1 of potential), or raise "
        "those territories' maxima"
    ]


def test_territories_that_together_cannot_reach_their_minima_are_named():
    # Territories need at least 2.5 each. Units 0 and 1 (2 each) are the only ones allowed into territories 1 and
    # 2 (the others are forbidden there): each territory alone can reach 4 >= 2.5, together only 4 < 5.
    problem = three_territories(
        [2, 2, 1, 1, 1, 1], 2.5, 5.0, forbidden=[u * 3 + t for u in range(2, 6) for t in (0, 1)]
    )
    with pytest.raises(InfeasibleError) as error:
        solve(problem, PARAMS)
    assert [str(f) for f in error.value.problems] == [
        "rules: territory 1, territory 2 can draw at most potential 4 together from the units their locks and "
        "forbid rules allow, below their combined minimum 5\n    hint: allow them at least 1 more potential, or "
        "lower their minima"
    ]


def test_bands_met_exactly_by_many_free_units_are_not_called_infeasible():
    # 24 units of 1 into three territories of exactly 8, with a rules file that restricts nobody: the group check
    # rounded each unit's supply down, and the pool fell 12 flow units short of the minima (the run exited 4).
    problem = three_territories([1.0] * 24, 8.0, 8.0, forbidden=[])
    result = solve(problem, PARAMS)
    assert np.bincount(result.alignment.territory, minlength=3).tolist() == [8, 8, 8]
    assert result.status == "optimal"


def test_the_p_median_exact_model_is_left_out_under_a_distance_limit():
    # The p-median model has no distance terms for the rules: it could pick centres that break the limit. The
    # fixed-site model keeps the limit (see exact._fixed_model), so it still applies there.
    problem = three_territories([1.0] * 12, 3.0, 5.0, forbidden=[])
    assert exact_applies(problem)
    limited = dataclasses.replace(problem, rules=rules_for(12, max_distance=5.0))
    assert not exact_applies(limited)
    fixed = dataclasses.replace(limited, fixed_sites=np.array([[0.0, 0.0], [5.0, 0.0], [10.0, 0.0]]))
    assert exact_applies(fixed)
