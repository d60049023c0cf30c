"""Several balance metrics: territories.balance as a list, each metric with its own band (a tolerance and/or limits
per FTE), honoured by the solver, the bound, the checks and the outputs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
from conftest import TINY_CONFIG, invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from terrplan.config import Balance, Balances, load_config
from terrplan.model import Problem, bands_hold, territory_totals
from terrplan.solve import SolveParams, solve
from terrplan.solve import bound as bound_module
from terrplan.solve.assign import Arcs, flow_assignment, improve_moves, repair_bands

TWO = "  balance:\n    - {metric: potential, tolerance: 0.12}\n    - {metric: workload, tolerance: 0.08}\n"
ONE = "  balance: {metric: potential, tolerance: 0.05}\n"


def tiny_with(tiny, balance: str, extra: str = ""):
    """The tiny case with another `balance:` block (and more territories keys)."""
    tiny.write("config.yaml", TINY_CONFIG.replace(ONE, balance + extra))
    return tiny


# -- config ------------------------------------------------------------------------------------------------------


def test_a_list_gives_one_band_per_metric_and_the_first_is_primary(tiny):
    config = load_config(tiny_with(tiny, TWO).config)
    balance = config.territories.balance
    assert isinstance(balance, Balances)
    assert [(b.metric, b.tolerance) for b in balance] == [("potential", 0.12), ("workload", 0.08)]
    assert (balance.metric, balance.tolerance) == ("potential", 0.12)  # the primary's, as with one mapping
    assert config.as_dict()["territories"]["balance"][1]["metric"] == "workload"


def test_a_single_mapping_is_a_one_item_list_and_stays_a_mapping_in_the_summary(tiny):
    config = load_config(tiny.config)
    assert [(b.metric, b.tolerance) for b in config.territories.balance] == [("potential", 0.05)]
    assert config.as_dict()["territories"]["balance"] == {
        "metric": "potential",
        "tolerance": 0.05,
        "min_per_fte": None,
        "max_per_fte": None,
    }


def test_max_per_fte_alone_is_an_upper_limit_without_a_tolerance_band(tiny):
    balance = "  balance:\n    - {metric: potential, tolerance: 0.12}\n    - {metric: workload, max_per_fte: 38}\n"
    config = load_config(tiny_with(tiny, balance).config)
    workload = config.territories.balance[1]
    assert (workload.tolerance, workload.min_per_fte, workload.max_per_fte) == (None, None, 38.0)
    assert Balance(metric="workload").tolerance == 0.05  # neither a tolerance nor a limit: the ±5 % default
    result = invoke("optimize", str(tiny.config), "--no-report", "-o", str(tiny.out))
    assert result.exit_code == 0, result.stderr
    assert "potential within ±12%, workload at most 38 per FTE" in result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    workload = summary["balances"][1]
    assert workload["metric"] == "workload" and workload["band_low_index"] is None  # no lower limit
    assert workload["band_high_index"] == 38 / 35 * 100  # 38 h against the mean 35 h
    assert workload["max_index"] <= 38 / 35 * 100 < 38.67 / 35 * 100  # the two clusters (38.7 h) would not do
    assert "workload index 93.3-106.7 (band: at most 108.6)" in invoke("evaluate", str(tiny.config), "--alignment",
                                                                         str(tiny.out)).stderr  # fmt: skip


def test_the_tolerance_flag_sets_the_primary_of_a_list(tiny):
    config = load_config(tiny_with(tiny, TWO).config, {"territories.balance.tolerance": 0.2})
    assert [b.tolerance for b in config.territories.balance] == [0.2, 0.08]


def test_a_bad_metric_name_exits_3_with_the_choices(tiny):
    tiny_with(tiny, "  balance:\n    - {metric: potential}\n    - {metric: beds, tolerance: 0.1}\n")
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 3
    assert (
        "key 'territories.balance[1].metric': not an allowed value (got 'beds')\n"
        "    hint: choose one of: potential, workload, accounts"
    ) in result.stderr


def test_a_metric_twice_and_limits_out_of_order_exit_3(tiny):
    tiny_with(
        tiny, "  balance:\n    - {metric: workload, min_per_fte: 40, max_per_fte: 30}\n    - {metric: workload}\n"
    )
    result = invoke("validate", str(tiny.config))
    assert result.exit_code == 3
    assert "key 'territories.balance[0].min_per_fte': min_per_fte is above max_per_fte (got '40 > 30')" in result.stderr
    assert "key 'territories.balance[1].metric': metric listed twice (got 'workload')" in result.stderr


def test_an_empty_list_exits_3(tiny):
    tiny_with(tiny, "  balance: []\n")
    result = invoke("validate", str(tiny.config))
    assert result.exit_code == 3
    assert "key 'territories.balance': need at least one balance metric" in result.stderr


def test_accounts_balanced_and_limited_is_one_band_row(tiny):
    from terrplan.pipeline import load_accounts, prepare

    balance = "  balance:\n    - {metric: potential, tolerance: 0.15}\n    - {metric: accounts, tolerance: 0.5}\n"
    config = load_config(tiny_with(tiny, balance, "  max_accounts: 5\n").config)
    problem = prepare(load_accounts(config), config).problem
    assert problem.metric_names == ("potential", "accounts")
    # 8 accounts: ±50 % of 4 is 2-6, and max_accounts 5 narrows the top
    assert problem.lower[1].tolist() == [2.0, 2.0] and problem.upper[1].tolist() == [5.0, 5.0]


# -- the answer changes ------------------------------------------------------------------------------------------


def test_balancing_workload_too_moves_concord_bone_to_raleigh(tiny):
    """Potential alone (±12 %): the two clusters, 300 / 300 potential but 31.3 / 38.7 workload hours (index 89.5 /
    110.5). With workload within ±8 % (32.2-37.8 h), the best alignment moves Concord Bone (B4: 30 potential,
    1.3 h) to Raleigh: potential 330 / 270 (index 110 / 90, inside ±12 %), workload 32.7 / 37.3 h."""
    tiny_with(tiny, "  balance: {metric: potential, tolerance: 0.12}\n")
    alone = invoke("optimize", str(tiny.config), "--no-report", "-o", str(tiny.dir / "alone"))
    assert alone.exit_code == 0, alone.stderr
    table = pd.read_csv(tiny.dir / "alone" / "territories.csv")
    assert sorted(table["workload_index"].round(1)) == [89.5, 110.5]

    tiny_with(tiny, TWO)
    both = invoke("optimize", str(tiny.config), "--no-report", "-o", str(tiny.out))
    assert both.exit_code == 0, both.stderr
    assignments = pd.read_csv(tiny.out / "assignments.csv")
    groups = sorted(sorted(g) for g in assignments.groupby("territory")["account_id"].apply(list))
    assert groups == [["A1", "A2", "A3", "A4", "B4"], ["B1", "B2", "B3"]]
    table = pd.read_csv(tiny.out / "territories.csv")
    assert sorted(table["potential_index"].round(1)) == [90.0, 110.0]
    assert sorted(table["workload_index"].round(1)) == [93.3, 106.7]
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["balance"]["metric"] == "potential" and summary["balance"]["territories_in_band"] == 2
    assert [b["metric"] for b in summary["balances"]] == ["potential", "workload"]
    workload = summary["balances"][1]
    assert (round(workload["band_low_index"], 6), round(workload["band_high_index"], 6)) == (92.0, 108.0)
    assert (round(workload["min_index"], 1), round(workload["max_index"], 1), workload["territories_in_band"]) == (
        93.3,
        106.7,
        2,
    )
    assert "potential within ±12%, workload within ±8%" in both.stderr
    assert "; potential index 90.0-110.0, workload index 93.3-106.7; " in both.stderr
    assert summary["gap"] is not None  # one objective (travel), one gap, under both bands


def test_the_report_header_lists_every_balance_metric(tiny):
    tiny_with(tiny, TWO)
    assert invoke("optimize", str(tiny.config), "-o", str(tiny.out)).exit_code == 0
    header = (tiny.out / "report.html").read_text(encoding="utf-8").split("</header>")[0]
    assert "<li><span>potential index</span><b>90.0–110.0 (band 88.0–112.0)</b></li>" in header
    assert "<li><span>workload index</span><b>93.3–106.7 (band 92.0–108.0)</b></li>" in header


def test_two_runs_write_the_same_bytes(tiny):
    tiny_with(tiny, TWO)
    for name in ("one", "two"):
        assert invoke("optimize", str(tiny.config), "--no-report", "-o", str(tiny.dir / name)).exit_code == 0
    assert (tiny.dir / "one" / "assignments.csv").read_bytes() == (tiny.dir / "two" / "assignments.csv").read_bytes()


# -- checks ------------------------------------------------------------------------------------------------------


def test_evaluate_exits_5_naming_the_workload_band_when_only_it_fails(tiny):
    tiny_with(
        tiny, "  balance:\n    - {metric: potential, tolerance: 0.05}\n    - {metric: workload, tolerance: 0.08}\n"
    )
    tiny.write("aligned.csv", "account_id,territory\nA1,T1\nA2,T1\nA3,T1\nA4,T1\nB1,T2\nB2,T2\nB3,T2\nB4,T2\n")
    result = invoke("evaluate", str(tiny.config), "--alignment", str(tiny.dir / "aligned.csv"))
    assert result.exit_code == 5
    assert (
        "potential index 100.0-100.0 (band 95.0-105.0), workload index 89.5-110.5 (band 92.0-108.0), 0 of 2 in band"
        in result.stderr
    )
    assert "territories: T1 is outside the workload band: index 89.5\n    hint: band 92.0-108.0" in result.stderr
    assert "territories: T2 is outside the workload band: index 110.5\n    hint: band 92.0-108.0" in result.stderr
    assert "outside the band:" not in result.stderr  # potential is fine


def test_a_workload_limit_below_the_need_exits_4_with_the_numbers(tiny):
    tiny_with(
        tiny, "  balance:\n    - {metric: potential, tolerance: 0.2}\n    - {metric: workload, max_per_fte: 30}\n"
    )
    result = invoke("optimize", str(tiny.config), "--no-report")
    assert result.exit_code == 4
    assert "total workload 70 exceeds the sum of the territory maxima 60" in result.stderr
    assert "hint: raise the maxima, widen the workload tolerance or add territories" in result.stderr


def test_an_empty_band_is_named(tiny):
    balance = "  balance:\n    - {metric: potential}\n    - {metric: workload, tolerance: 0.05, max_per_fte: 30}\n"
    result = invoke("validate", str(tiny_with(tiny, balance).config))
    assert result.exit_code == 4
    assert "the workload band of territory 1 is empty: its minimum 33.25 is above its maximum 30" in result.stderr


# -- the solver honours every row ---------------------------------------------------------------------------------


def two_metric_instance(seed: int, n: int = 240, k: int = 6, tolerance: float = 0.1) -> Problem:
    """Units in a square; potential lognormal, workload larger where potential is small (a city of small accounts
    in one corner), so that balancing potential alone leaves workload far out of its band."""
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 100, (n, 2))
    potential = rng.lognormal(0, 0.8, n)
    workload = np.where(coords[:, 0] + coords[:, 1] < 60, 1.5, 0.5) + 0.1 * potential
    metrics = np.vstack([potential, workload])
    target = metrics.sum(axis=1, keepdims=True) / k
    return Problem(
        n_territories=k,
        weights=potential,
        metrics=metrics,
        metric_names=("potential", "workload"),
        lower=np.repeat(target * (1 - tolerance), k, axis=1),
        upper=np.repeat(target * (1 + tolerance), k, axis=1),
        coords=coords,
        geometry="euclidean",
    )


def test_the_flow_prices_the_second_row_and_the_repair_and_moves_keep_it():
    problem = two_metric_instance(seed=9)
    primary_only = Problem(
        n_territories=problem.n_territories,
        weights=problem.weights,
        metrics=problem.metrics[:1],
        metric_names=("potential",),
        lower=problem.lower[:1],
        upper=problem.upper[:1],
        coords=problem.coords,
        geometry="euclidean",
    )
    centres = np.array([0, 1, 2, 3, 4, 5]) * 40
    arcs = Arcs.build(problem, centres, problem.n_territories)
    unpriced = flow_assignment(primary_only, arcs)
    priced = flow_assignment(problem, arcs)

    def workload_excess(territory):
        totals = territory_totals(problem, territory)[1]
        return float((np.maximum(totals - problem.upper[1], 0) + np.maximum(problem.lower[1] - totals, 0)).sum())

    assert workload_excess(unpriced) > 0  # the primary's flow ignores workload...
    assert workload_excess(priced) < workload_excess(unpriced) / 2  # ...the priced flow much less so
    repaired = repair_bands(problem, priced, arcs)  # the repair brings both rows inside their bands
    assert bands_hold(problem, repaired)
    moved = improve_moves(problem, repaired, arcs)
    assert bands_hold(problem, moved)  # the improving moves never leave a band


def test_solve_meets_both_bands():
    problem = two_metric_instance(seed=4)
    result = solve(problem, SolveParams(seed=1, time_limit_s=60, bound_iterations=50, exact=False))
    assert result.status in ("feasible", "optimal")
    assert bands_hold(problem, result.alignment.territory)
    assert result.lower_bound is not None and result.lower_bound <= result.objective


# -- the bound stays valid with several bands ---------------------------------------------------------------------


def enumerated_optimum(problem: Problem) -> float:
    """Every assignment meeting every band x every choice of centres (fixed sites: territory t at site t)."""
    n, k = problem.n_units, problem.n_territories
    best = np.inf
    cost = problem.travel_matrix(np.arange(n), np.arange(problem.n_sites))
    for assignment in itertools.product(range(k), repeat=n):
        territory = np.array(assignment)
        if not bands_hold(problem, territory):
            continue
        member = territory[:, None] == np.arange(k)
        per_site = member.T.astype(float) @ cost  # (k, sites)
        if problem.fixed:
            best = min(best, float(np.trace(per_site)))
            continue
        for centres in itertools.permutations(range(problem.n_sites), k):
            best = min(best, float(per_site[np.arange(k), list(centres)].sum()))
    return best


@st.composite
def two_metric_instances(draw) -> tuple[Problem, np.ndarray]:
    n = draw(st.integers(3, 6))
    k = draw(st.integers(1, min(3, n)))
    ints = st.integers(0, 9)

    def column(low: int, high: int) -> np.ndarray:
        return np.array(draw(st.lists(st.integers(low, high), min_size=n, max_size=n)), dtype=float)

    coords = np.array(draw(st.lists(st.tuples(ints, ints), min_size=n, max_size=n)), dtype=float)
    metrics = np.vstack([column(0, 6), column(0, 6)])
    mean = metrics.sum(axis=1, keepdims=True) / k
    # each row its own band: a tolerance, an upper limit only, or none
    kinds = draw(st.lists(st.sampled_from(["tight", "loose", "upper", "none"]), min_size=2, max_size=2))
    lower, upper = np.full((2, k), -np.inf), np.full((2, k), np.inf)
    for row, kind in enumerate(kinds):
        if kind in ("tight", "loose"):
            tolerance = 0.2 if kind == "tight" else 0.6
            lower[row], upper[row] = mean[row] * (1 - tolerance), mean[row] * (1 + tolerance)
        elif kind == "upper":
            upper[row] = mean[row] * 1.3
    fixed = draw(st.booleans())
    sites = np.array(draw(st.lists(st.tuples(ints, ints), min_size=k, max_size=k)), dtype=float) if fixed else None
    problem = Problem(
        n_territories=k,
        weights=column(0, 5),
        metrics=metrics,
        metric_names=("potential", "workload"),
        lower=lower,
        upper=upper,
        coords=coords,
        geometry="euclidean",
        fixed_sites=sites,
    )
    start = np.array(draw(st.lists(st.floats(0, 60, allow_nan=False), min_size=n, max_size=n)))
    return problem, start


@settings(max_examples=60, deadline=None)
@given(case=two_metric_instances())
def test_the_bound_never_exceeds_the_enumerated_optimum_with_two_bands(case) -> None:
    problem, start = case
    optimum = enumerated_optimum(problem)
    if not np.isfinite(optimum):
        return
    relaxed = bound_module.lagrangian(problem, optimum, start, time_limit_s=60.0, max_iter=60)
    assert relaxed.value <= optimum + 1e-6 * max(1.0, optimum)
    if problem.fixed:  # the assignment's LP (every band) bounds it too
        from terrplan.solve.exact import lp_bound

        assert lp_bound(problem) <= optimum + 1e-6 * max(1.0, optimum)


def test_the_enumeration_sees_the_second_band():
    """The property test would be empty if the second band never bit: here it raises the optimum."""
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    common = dict(n_territories=2, weights=np.ones(4), coords=coords, geometry="euclidean")
    potential = np.array([1.0, 1.0, 1.0, 1.0])
    workload = np.array([3.0, 3.0, 1.0, 1.0])
    one = Problem(metrics=potential[None], metric_names=("p",), lower=[[2.0, 2.0]], upper=[[2.0, 2.0]], **common)
    two = Problem(
        metrics=np.vstack([potential, workload]),
        metric_names=("p", "w"),
        lower=[[2.0, 2.0], [4.0, 4.0]],
        upper=[[2.0, 2.0], [4.0, 4.0]],
        **common,
    )
    assert enumerated_optimum(one) == 2.0  # {0, 1} and {2, 3}
    assert enumerated_optimum(two) == 20.0  # workload 4 each forces {0, 2} and {1, 3}: 10 + 10
