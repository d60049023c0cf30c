"""The bound in a second process (solve/bound_process.py): the same value as in this one, and a solve that uses it
gives the same result as one that does not."""

from __future__ import annotations

import dataclasses
import os
import resource
import signal
from pathlib import Path

import numpy as np
import pytest
from test_lns import clustered

import terrplan.solve
from terrplan.child import usable_cores
from terrplan.model import bands_hold
from terrplan.solve import SolveParams, pack, solve
from terrplan.solve.bound import lagrangian, large_relaxation, multiplier_start
from terrplan.solve.bound_process import BoundProcess


def _children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def test_the_child_gives_the_bound_lagrangian_gives_here():
    """Same problem, target, start prices and step cap: the child's bound is bit for bit the in-process one."""
    problem = clustered(400, 8, seed=3)
    found = solve(problem, SolveParams(seed=0, lower_bound=False, effort=0.0, starts=2))
    start = multiplier_start(problem, found.alignment.territory, found.alignment.centres)
    here = lagrangian(problem, found.objective, start, 300.0, 60)
    running = BoundProcess.start(problem, found.objective, start, 300.0, 60)
    assert running is not None
    there = running.result(600.0)
    assert there is not None, "the child gave no bound"
    assert there.iterations == here.iterations == 60
    assert there.value == here.value
    np.testing.assert_array_equal(there.sites, here.sites)


def test_a_child_launched_before_its_start_is_known_gives_the_same_bound():
    """Launched with the problem only (as a solve does before its starts), it builds while this process works, then
    begins from the prices it is given: the same bound, bit for bit; one never begun is stopped by `close`."""
    problem = clustered(400, 8, seed=3)
    running = BoundProcess.launch(problem, 300.0, 60)
    idle = BoundProcess.launch(problem, 300.0, 60)
    assert running is not None and idle is not None
    found = solve(problem, SolveParams(seed=0, lower_bound=False, effort=0.0, starts=2))  # meanwhile, here
    start = multiplier_start(problem, found.alignment.territory, found.alignment.centres)
    here = lagrangian(problem, found.objective, start, 300.0, 60)
    running.begin(found.objective, start)
    there = running.result(600.0)
    assert there is not None, running.failure
    assert there.iterations == here.iterations == 60 and there.value == here.value
    np.testing.assert_array_equal(there.sites, here.sites)
    idle.close()
    assert idle.child.returncode is not None


def test_a_child_past_its_deadline_is_stopped_and_gives_none():
    problem = clustered(400, 8, seed=3)
    running = BoundProcess.start(problem, 1e9, np.zeros(problem.n_units), 0.0, 60)
    assert running is not None
    running.deadline -= 10.0  # already late: the answer is not waited for
    assert running.result(600.0) is None
    assert running.failure == "the bound's process gave no answer in time"
    assert running.child.returncode is not None  # and the child does not run on


@pytest.mark.skipif(usable_cores() < 2, reason="the bound runs beside the search only on two or more cores")
def test_a_solve_with_the_bound_beside_the_search_is_the_solve_without():
    """A problem past the dense layout (3,600 units as sites: 13 M pairs), searched: the bound runs in a child, and
    the alignment, objective and bound are the ones the in-process solve gives (the caps, not the clock, end both)."""
    problem = clustered(3600, 12, seed=5, tolerance=0.1)
    assert large_relaxation(problem)
    params = SolveParams(time_limit_s=600, seed=0, starts=2, effort=0.1, bound_iterations=25)
    alone = solve(problem, dataclasses.replace(params, second_process=False))
    before = _children_cpu_s()
    beside = solve(problem, params)
    assert _children_cpu_s() > before, "no child process did the bound"
    assert beside.message == "", beside.message  # the child's bound, not the fallback's
    assert alone.status == beside.status == "feasible"
    np.testing.assert_array_equal(beside.alignment.territory, alone.alignment.territory)
    assert beside.objective == alone.objective
    assert beside.lower_bound == alone.lower_bound
    assert beside.lower_bound is not None and beside.lower_bound <= beside.objective


@pytest.mark.skipif(usable_cores() < 2, reason="the bound runs beside the search only on two or more cores")
def test_a_large_bound_starts_beside_the_repair_from_the_alignment_outside_the_bands(monkeypatch):
    """The starts end outside a band: a large relaxation's bound starts then, from that alignment's prices and
    objective, while the repair runs; the solve reports it once every band holds (bit for bit the bound those
    prices give here: 20 steps end both)."""
    problem = clustered(2000, 20, seed=3, tolerance=0.01, tail=1.0, most=0.4)  # very heavy-tailed, a tight band
    params = SolveParams(time_limit_s=600, seed=0, starts=2, effort=0.1, bound_iterations=20)
    outside = solve(problem, dataclasses.replace(params, effort=0.0, lower_bound=False))  # the starts alone
    assert not bands_hold(problem, outside.alignment.territory)
    monkeypatch.setattr(terrplan.solve, "large_relaxation", lambda relaxing: True)  # 4 M pairs: beside it anyway
    monkeypatch.setattr(pack, "_WORK", 1.0)  # a short packing (6 s, not 20): the repair only has to succeed
    before = _children_cpu_s()
    result = solve(problem, params)
    assert _children_cpu_s() > before, "no child process did the bound"
    assert result.status == "feasible" and result.message == "", result.message
    prices = multiplier_start(problem, outside.alignment.territory, outside.alignment.centres)
    expected = lagrangian(problem, outside.objective, prices, 600.0, 20)
    assert expected.iterations == 20
    assert result.lower_bound == max(expected.value, 0.0) < result.objective


def _children() -> list[int]:
    """Live child processes of this one (Linux: /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(usable_cores() < 2 or not Path("/proc/self/stat").exists(), reason="two cores and /proc")
def test_an_interrupted_solve_stops_its_bound_process():
    """Ctrl-C during the search (here raised from the progress callback, as the CLI's handler raises it): the solve
    unwinds and its bound process does not run on."""
    problem = clustered(3600, 12, seed=5, tolerance=0.1)
    seen: list[int] = []

    def interrupt(phase: str, objective: float, bound: float | None) -> None:
        if phase == "search":
            seen.extend(_children())
            raise KeyboardInterrupt

    params = SolveParams(time_limit_s=600, seed=0, starts=2, effort=0.1, bound_iterations=10**6, on_progress=interrupt)
    others = set(_children())  # children of earlier tests in this process (a Dask cluster's) are not the solve's
    with pytest.raises(KeyboardInterrupt):
        solve(problem, params)
    started = set(seen) - others
    assert started, "no bound process ran beside the search"
    assert not started & set(_children())


@pytest.mark.skipif(usable_cores() < 2 or not Path("/proc/self/stat").exists(), reason="two cores and /proc")
def test_a_killed_bound_process_is_said_and_the_bound_computed_here():
    """The child killed mid-run (as the OOM killer would): the solve bounds in-process with the time left, says why
    in its message, and the bound is the one the in-process solve gives (the same 25 steps from the same prices)."""
    problem = clustered(3600, 12, seed=5, tolerance=0.1)
    params = SolveParams(time_limit_s=600, seed=0, starts=2, effort=0.1, bound_iterations=25)
    alone = solve(problem, dataclasses.replace(params, second_process=False))
    others = set(_children())
    killed: list[int] = []

    def kill_the_child(phase: str, objective: float, bound: float | None) -> None:
        if phase == "search" and not killed:
            for pid in set(_children()) - others:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    hit = solve(problem, dataclasses.replace(params, on_progress=kill_the_child))
    assert killed, "no bound process ran beside the search"
    assert "the bound's process failed (exit -9)" in hit.message
    assert "bounded here in the 25 steps" in hit.message
    assert hit.lower_bound == alone.lower_bound
    np.testing.assert_array_equal(hit.alignment.territory, alone.alignment.territory)
