"""One time budget for the whole run: the TimeBudget object, and every step that solves drawing from it.

No timed assertions: these check the deadlines handed out and what a spent budget still returns. Wall times live
in docs/benchmarks.md.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CONFIG, invoke

from terrplan import regions
from terrplan.budget import TimeBudget, now
from terrplan.cli import run_budget, run_started
from terrplan.hierarchy import assign_hierarchy
from terrplan.model import Problem, bands_hold
from terrplan.solve import SolveParams, _Phases, solve


def _banded(n: int = 240, k: int = 6, seed: int = 1) -> Problem:
    rng = np.random.default_rng(seed)
    weights = rng.uniform(1, 10, n)
    mean = weights.sum() / k
    return Problem(
        n_territories=k,
        weights=weights,
        metrics=weights[None, :],
        metric_names=("potential",),
        lower=np.full((1, k), 0.9 * mean),
        upper=np.full((1, k), 1.1 * mean),
        coords=rng.uniform(0, 100, (n, 2)),
        geometry="euclidean",
    )


def _valid(problem: Problem, territory: np.ndarray) -> bool:
    """Every unit in exactly one territory, numbered 0..K-1."""
    return territory.shape == (problem.n_units,) and bool(
        ((territory >= 0) & (territory < problem.n_territories)).all()
    )


# -- the object --------------------------------------------------------------------------------------------------


def test_sub_budgets_never_end_after_their_parent():
    parent = TimeBudget.of(100.0)
    assert parent.until(parent.deadline + 50).deadline == parent.deadline
    assert parent.until(parent.deadline - 50).deadline == parent.deadline - 50
    assert parent.less(10).deadline == parent.deadline - 10
    assert parent.less(-5).deadline == parent.deadline  # keeping back less than nothing gives nothing extra
    for fraction in (0.0, 0.25, 0.5, 1.0):
        assert parent.share(fraction).deadline <= parent.deadline
    child = parent.share(0.5)
    assert child.share(1.0).deadline <= child.deadline <= parent.deadline
    assert parent.share(0.25).deadline <= parent.share(0.5).deadline  # taken in this order, on a forward clock


def test_a_budget_expires_and_a_spent_one_has_nothing_left():
    spent = TimeBudget.of(0.0)
    assert spent.expired() and spent.remaining() == 0.0
    assert TimeBudget.of(-3.0).remaining() == 0.0
    assert not spent.fits(0.001)
    assert spent.share(1.0).expired()
    later = TimeBudget.of(3600.0)
    assert not later.expired() and 0 < later.remaining() <= 3600.0
    assert later.fits(1.0) and not later.fits(7200.0)
    assert later.less(3600.0).expired()


def test_a_budget_is_frozen_and_rejects_nonsense():
    budget = TimeBudget.of(5.0)
    with pytest.raises(AttributeError):
        budget.deadline = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="between 0 and 1"):
        budget.share(1.5)
    with pytest.raises(ValueError, match="NaN"):
        TimeBudget.of(float("nan"))


def test_a_budget_counts_from_the_given_start():
    start = now() - 4.0
    assert TimeBudget.of(10.0, start).deadline == start + 10.0
    assert TimeBudget.of(3.0, start).expired()  # begun 4 s ago with 3 s: spent before the step starts


def test_a_command_run_in_process_starts_its_clock_when_called():
    before = now()
    started = run_started()
    assert before <= started <= now()
    assert run_budget(60.0).deadline >= before + 60.0


# -- solve --------------------------------------------------------------------------------------------------------


def test_the_solve_phases_are_ordered_and_inside_the_budget():
    whole = TimeBudget.of(100.0)
    phases = _Phases.split(whole)
    assert phases.whole == whole
    assert phases.starts.deadline <= phases.heuristic.deadline <= phases.bound.deadline <= phases.search.deadline
    assert phases.search.deadline <= whole.deadline and phases.exact.deadline <= whole.deadline
    # the heuristic stops by 30 % of the budget, the bound gets the next 30 %, the search the rest (less 3 %)
    assert phases.heuristic.deadline <= now() + 30.0
    assert phases.bound.deadline - phases.heuristic.deadline >= 29.0
    assert phases.search.deadline - phases.bound.deadline >= 36.0


def test_a_spent_budget_still_returns_a_valid_alignment_with_an_honest_status():
    problem = _banded()
    result = solve(problem, SolveParams(seed=2), TimeBudget.of(0.0))
    territory = result.alignment.territory
    assert _valid(problem, territory)
    assert len(result.alignment.centres) == problem.n_territories
    if bands_hold(problem, territory):
        assert result.status in ("feasible", "optimal")
        assert result.lower_bound is not None and result.lower_bound <= result.objective + 1e-6
    else:
        assert result.status == "unknown"  # missed the bands without a proof: not "infeasible"


def test_an_absurdly_small_time_limit_in_the_params_works_too():
    problem = _banded(seed=4)
    result = solve(problem, SolveParams(time_limit_s=1e-9, seed=0))
    assert _valid(problem, result.alignment.territory)
    assert result.status in ("feasible", "optimal", "unknown")


def test_the_default_budget_repeats_exactly():
    problem = _banded(seed=5)
    params = SolveParams(time_limit_s=600.0, seed=3)
    first = solve(problem, params)
    again = solve(problem, params, TimeBudget.of(600.0))
    assert np.array_equal(first.alignment.territory, again.alignment.territory)
    assert np.array_equal(first.alignment.centres, again.alignment.centres)
    assert first.objective == again.objective and first.lower_bound == again.lower_bound
    assert first.status == again.status


# -- the steps of a run ---------------------------------------------------------------------------------------------


def test_the_hierarchy_labels_every_territory_from_a_spent_budget():
    from terrplan.config import Hierarchy

    rng = np.random.default_rng(0)
    territories = pd.DataFrame(
        {
            "territory": [f"T{i:02d}" for i in range(12)],
            "centre_lat": rng.uniform(30, 45, 12),
            "centre_lon": rng.uniform(-110, -75, 12),
            "potential": rng.uniform(90, 110, 12),
        }
    )
    spec = Hierarchy(districts=4, regions=2, tolerance=0.5)
    levels = assign_hierarchy(territories, "potential", spec, 7, TimeBudget.of(0.0))
    assert list(levels["territory"]) == list(territories["territory"])
    assert set(levels["district"]) <= {"D1", "D2", "D3", "D4"} and levels["district"].notna().all()
    assert set(levels["region"]) <= {"R1", "R2"} and levels["region"].notna().all()
    # with time to spare the levels end on their caps, the same as with their own default budget
    roomy = assign_hierarchy(territories, "potential", spec, 7, TimeBudget.of(600.0))
    assert roomy.equals(assign_hierarchy(territories, "potential", spec, 7))


def test_a_remote_region_is_split_from_the_run_budget_even_when_it_is_spent():
    # 20 island units by Honolulu, 20 in Kansas, K = 4 (band 9.5-10.5 units): the island gets two territories of
    # its own, split by a sub-solve that draws from the run's budget.
    kansas = np.array([(38.0 + 0.3 * r, -100.0 + 0.3 * c) for r in range(4) for c in range(5)])
    island = np.array([(21.3, -158.0 + 0.05 * c) for c in range(20)])
    coords = np.vstack([kansas, island])
    weights = np.ones(40)
    problem = Problem(4, weights, weights[None, :], ("potential",), np.full(4, 9.5), np.full(4, 10.5), coords=coords)
    default, plans = regions.keep_whole(problem, 300.0)
    assert [(plan.mode, plan.own) for plan in plans] == [("own", 2)]
    roomy, _ = regions.keep_whole(problem, 300.0, budget=TimeBudget.of(600.0))
    assert np.array_equal(roomy.rules.locked, default.rules.locked)  # ends on its caps, not the clock
    spent, plans = regions.keep_whole(problem, 300.0, budget=TimeBudget.of(0.0))
    locked = spent.rules.locked[20:]
    assert set(locked) == set(plans[0].territories) and len(set(locked)) == 2  # still split, two own territories


def test_a_short_run_with_a_hierarchy_and_pricing_ends_and_reports(tiny):
    # A priced redesign (up to four solves) and two districts: every solve from one 2-s budget. The current
    # alignment puts Concord (B4) with Raleigh, outside the band: the redesign moves it home within the budget.
    config = (
        TINY_CONFIG
        + "hierarchy: {districts: 2, regions: 1, tolerance: 0.5}\n"
        + "disruption: {current: accounts, move_cost_km: 50, budget: 0.10}\n"
    )
    tiny.write("config.yaml", config)
    result = invoke("optimize", str(tiny.config), "-q", "--time-limit", "2")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tiny.out / "summary.json").read_text())
    assert summary["status"] in ("optimal", "feasible")
    assert summary["config"]["solver"]["time_limit"] == 2
    assert summary["pricing"]["moved_share"] <= 0.10
    territories = pd.read_csv(tiny.out / "territories.csv")
    assert sorted(territories["district"].unique()) == ["D1", "D2"]


def test_the_same_run_gives_the_same_bytes_under_the_default_budget(tiny):
    outputs = []
    for _ in range(2):
        result = invoke("optimize", str(tiny.config), "-q")
        assert result.exit_code == 0, result.stderr
        outputs.append((tiny.out / "assignments.csv").read_bytes())
    assert outputs[0] == outputs[1]


def test_size_shares_one_budget_across_k_and_reports_every_k(tiny):
    result = invoke("size", str(tiny.config), "-q", "--k-range", "1:3", "--time-limit", "0.5")
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table["k"]) == [1, 2, 3]
    assert table["status"].isin(["optimal", "feasible", "unknown", "infeasible"]).all()


def test_a_bound_whose_layout_cannot_fit_the_clock_is_absent_and_the_alignment_kept(monkeypatch):
    """The bound's layout is built before its first step: where it alone would overrun the clock, the bound is left
    out (status feasible, no gap) rather than run past the deadline, and the alignment found is returned."""
    from terrplan.solve import bound

    problem = _banded(seed=6)
    monkeypatch.setattr(bound, "_DENSE_CELL_S", 1.0)  # as if the layout took a second a cell
    result = solve(problem, SolveParams(seed=0, starts=1), TimeBudget.of(30.0))
    assert bands_hold(problem, result.alignment.territory)
    assert result.status == "feasible" and result.lower_bound is None and result.gap is None
    direct = bound.lagrangian(problem, result.objective, np.ones(problem.n_units), time_limit_s=5.0)
    assert direct.value == -np.inf and direct.iterations == 0
