"""Half the starts in a second process (solve/start_process.py), and a dense bound beside the search: a solve that
uses them gives the same result as one that does not, and one whose child fails runs those starts itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import TINY_CONFIG, invoke
from test_lns import clustered

import terrplan.solve
from terrplan.child import usable_cores
from terrplan.config import load_config
from terrplan.solve import SolveParams, solve, start_process
from terrplan.solve.bound import apart_problem, lagrangian, large_relaxation, multiplier_start
from terrplan.solve.start_process import StartProcess
from terrplan.solve.starts import StartPlan, dense_cost

pytestmark = pytest.mark.skipif(usable_cores() < 2, reason="a second process runs only on two or more cores")


def _launches(monkeypatch) -> list[StartProcess | None]:
    """Every `StartProcess.launch` of the solves that follow, and what it gave."""
    launched: list[StartProcess | None] = []
    launch = StartProcess.launch.__func__

    def spy(cls, *args):
        launched.append(launch(cls, *args))
        return launched[-1]

    monkeypatch.setattr(StartProcess, "launch", classmethod(spy))
    return launched


def _same(one, other) -> None:
    np.testing.assert_array_equal(one.alignment.territory, other.alignment.territory)
    np.testing.assert_array_equal(one.alignment.centres, other.alignment.centres)
    assert (one.objective, one.lower_bound, one.status, one.iterations) == (
        other.objective,
        other.lower_bound,
        other.status,
        other.iterations,
    )


def test_starts_in_a_child_give_the_solve_without_it(monkeypatch):
    """Eight starts, a helper forced for any length: five run in the child, and the alignment, bound, status and
    rounds are those of the eight run here (the caps, not the clock, end both)."""
    problem = clustered(600, 8, seed=4, tolerance=0.05)
    params = SolveParams(time_limit_s=600, seed=1, starts=8, effort=0.0)
    alone = solve(problem, dataclasses.replace(params, second_process=False))
    monkeypatch.setattr(terrplan.solve, "_HELPER_S", 0.0)
    launched = _launches(monkeypatch)
    helped = solve(problem, params)
    assert len(launched) == 1 and launched[0] is not None, "no child ran starts"
    assert launched[0].numbers == (3, 4, 7)  # every other pair of starts 1-7
    assert launched[0].child.returncode == 0
    _same(helped, alone)


def test_a_child_that_fails_leaves_its_starts_to_this_process(monkeypatch):
    """The child reads its starts and exits with an error: they run here, and the result is the same."""
    problem = clustered(600, 8, seed=4, tolerance=0.05)
    params = SolveParams(time_limit_s=600, seed=2, starts=6, effort=0.0)
    alone = solve(problem, dataclasses.replace(params, second_process=False))
    monkeypatch.setattr(terrplan.solve, "_HELPER_S", 0.0)
    monkeypatch.setattr(start_process, "_CHILD", "message()\nsys.exit(3)\n")  # reads its starts, fails
    launched = _launches(monkeypatch)
    helped = solve(problem, params)
    assert len(launched) == 1 and launched[0] is not None
    assert launched[0].child.returncode == 3
    _same(helped, alone)


def test_the_child_runs_the_starts_this_process_would():
    """Given the plan and start numbers, the child's solutions are those `StartPlan.start` gives here."""
    problem = clustered(500, 6, seed=7, tolerance=0.1)
    plan = StartPlan(problem, (5, 11, 17, 23), candidates=30, max_rounds=50)
    budget = terrplan.solve.TimeBudget.of(600)
    running = StartProcess.launch(plan, (1, 2, 3), budget, budget, 0.0)
    assert running is not None
    answer = running.results()
    assert answer is not None
    done, _ = answer
    assert [number for number, _, _ in done] == [1, 2, 3]
    for number, (value, territory, centres), rounds in done:
        (here_value, here_territory, here_centres), here_rounds = plan.start(
            number, budget, [0.0], dense_cost(problem), None
        )
        assert (value, rounds) == (here_value, here_rounds)
        np.testing.assert_array_equal(territory, here_territory)
        np.testing.assert_array_equal(centres, here_centres)


def test_a_dense_bound_begins_from_the_first_start_in_a_process_of_its_own(monkeypatch):
    """A relaxation within the dense layout, searched: with `_BESIDE_WORK` at 0 its bound runs in a child begun from
    the first start's alignment, beside the other starts and the search. The alignment is the in-process solve's,
    and the bound is bit for bit the one those prices give here (the step cap ends both)."""
    problem = clustered(2000, 10, seed=6, tolerance=0.1)  # 2,000 units: searched, 4 M pairs: dense
    assert not large_relaxation(problem) and apart_problem(problem) == (problem, 0.0)
    params = SolveParams(time_limit_s=600, seed=0, starts=3, effort=0.1, bound_iterations=40)
    alone = solve(problem, dataclasses.replace(params, second_process=False))
    monkeypatch.setattr(terrplan.solve, "_BESIDE_WORK", 0)
    started = []
    start = terrplan.solve.BoundProcess.start.__func__

    def spy(cls, *args):
        started.append(start(cls, *args))
        return started[-1]

    monkeypatch.setattr(terrplan.solve.BoundProcess, "start", classmethod(spy))
    beside = solve(problem, params)
    assert len(started) == 1 and started[0] is not None and started[0].child.returncode == 0
    assert beside.message == "", beside.message
    budget = terrplan.solve.TimeBudget.of(600)
    (value, territory, centres), _ = StartPlan(problem, (0,), 30, 50).start(0, budget, [0.0], dense_cost(problem), None)
    expected = lagrangian(problem, value, multiplier_start(problem, territory, centres), 600.0, 40)
    assert expected.iterations == 40
    assert beside.lower_bound == max(expected.value, 0.0) < beside.objective
    np.testing.assert_array_equal(beside.alignment.territory, alone.alignment.territory)
    assert (beside.objective, beside.status, beside.iterations) == (alone.objective, alone.status, alone.iterations)


def test_solver_second_process_false_keeps_a_run_in_one_process(tiny, monkeypatch):
    """`solver.second_process: false` reaches the solver (no child with the helper forced) and is checked as a
    boolean before any work."""
    tiny.write("config.yaml", TINY_CONFIG.replace("solver: {seed: 3,", "solver: {second_process: false, seed: 3,"))
    config = load_config(tiny.config)
    assert SolveParams.from_config(config.solver).second_process is False
    assert SolveParams.from_config(load_config(tiny.write("on.yaml", TINY_CONFIG)).solver).second_process is True
    problem = clustered(600, 8, seed=4, tolerance=0.05)
    monkeypatch.setattr(terrplan.solve, "_HELPER_S", 0.0)
    launched = _launches(monkeypatch)
    solve(problem, SolveParams.from_config(config.solver, time_limit_s=600))
    assert launched == []
    tiny.write("config.yaml", TINY_CONFIG.replace("solver: {seed: 3,", "solver: {second_process: maybe, seed: 3,"))
    result = invoke("optimize", str(tiny.config))
    assert result.exit_code == 3 and "solver.second_process" in result.stderr, result.stderr
    assert not tiny.out.exists()
