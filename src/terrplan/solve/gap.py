"""Location-allocation with an exact assignment: the search for small capacitated problems (capacitated p-median).

With bands, the heuristic's assignment to fixed centres (a flow, rounded and repaired) can be far from the best
one: on pmedcap1_10 it gives 855 from the optimal centres, whose best assignment costs 829, so no choice of centres
leads the heuristic to the optimum. Assigning units to fixed centres under the bands is a generalized assignment
problem, which SCIP closes at its root in 20-100 ms at this size (50 x 5 to 100 x 10). Location-allocation with it
(assign exactly, move each centre to its territory's 1-median, repeat while the objective falls) runs first from
the heuristic's centres, then from starts that alternate a k-means++ seeding and a shake of the best centres found
(1, 2, then 3 of them moved each to one of its nearest units; back to 1 after a gain). On pmedcap 1-20 this reached
the proven optima of 07, 08, 10 and 14 within 100 models, where 200 starts of the heuristic alone did not.

Work, not the clock: at most `solves` assignment models (fewer after _STALL starts in a row without a gain), each
within GAP_NODES nodes, the starts drawn from the seed alone, so the same inputs give the same alignment and more
work continues the same sequence; the clock only cuts it short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import linear_solver_pb2, pywraplp

from terrplan.budget import TimeBudget
from terrplan.model import Alignment, Problem, bands_hold, objective, one_band
from terrplan.solve.centres import initial_centres, recentre
from terrplan.solve.exact import assignment_model
from terrplan.solve.interchange import shake_reach

# Units x territories between which the search runs: measured on pmedcap (250 and 1,000). Below, the exact pass
# (solve/exact.py) settles the problem alone in well under a second; above, each model takes longer (a 240 x 6
# problem with both bounds of a band: about 150 ms) and the search is unmeasured.
GAP_MIN_CELLS, GAP_CELLS = 200, 1_000
GAP_NODES = 200  # branch-and-bound nodes per assignment model: a work limit (on pmedcap they close at the root)
# Units x territories of assignment models per unit of effort: a model's time grows about with its cells (25 ms at
# 50 x 5, 100 ms at 100 x 10 on an idle machine), so this is about 5 s of work at either size: 200 models of
# pmedcap 1-10, 50 of 11-20.
GAP_WORK = 50_000
_NEAR = 5  # a unit may go to its this many nearest centres (fewer arcs; the bands rarely need a farther one)
_MOST_MOVED = 3  # a shake moves 1, 2, ... up to this many centres, then starts over at 1
# The search stops after this many starts in a row without a gain (on pmedcap 1-20 a gain came after at most 21 such
# starts within 100 models, 55 on pmedcap1_20 at the 161st model): tiny problems end early.
_STALL = 40
_SETTINGS = f"limits/nodes = {GAP_NODES}\nmisc/catchctrlc = FALSE\n"  # SCIP must leave Ctrl-C to the CLI


@dataclass(frozen=True)
class Allocated:
    """Best alignment the search found (None when no start met the bands), its objective, and models solved."""

    territory: np.ndarray | None
    centres: np.ndarray | None
    value: float
    solves: int


def gap_applies(problem: Problem) -> bool:
    """Centres chosen among the units, capacities to meet, small, and an objective the model prices in full: travel
    only (no rules, whose locks, forbidden pairs, limit and move costs it leaves out; no rep homes; no members that
    may go apart)."""
    if problem.fixed or problem.n_territories < 2:
        return False
    if not GAP_MIN_CELLS <= problem.n_units * problem.n_territories <= GAP_CELLS:
        return False
    if problem.geometry == "matrix" and problem.n_sites != problem.n_units:
        return False
    # Capacities: an upper band, no floor. Two-sided bands (e.g. districting's population within 0.5 %, whose
    # contiguity repair needs the time after the solve) make harder assignment models and are unmeasured here.
    capacities = bool(np.isfinite(problem.upper).any()) and not bool((problem.lower > 0).any())
    plain = problem.rules is None and problem.homes is None
    return capacities and plain and (problem.members is None or not problem.members.apart)


def gap_solves(problem: Problem, effort: float) -> int:
    """Assignment models the search may solve: GAP_WORK cells per unit of effort."""
    return round(effort * GAP_WORK / max(problem.n_units * problem.n_territories, 1))


def exact_assignment(problem: Problem, centres: np.ndarray, cost: np.ndarray, budget: TimeBudget) -> np.ndarray | None:
    """The cheapest assignment of every unit to one of its _NEAR nearest fixed `centres` (territory t to
    centres[t]) with every territory inside its bands, within GAP_NODES nodes; None when none is found.
    `cost`: the (units, sites) travel matrix. The model is the exact pass's (`exact.assignment_model`), its arcs cut
    to the nearest centres."""
    n, k = problem.n_units, len(centres)
    price = cost[:, centres]
    allowed = np.zeros((n, k), dtype=bool)
    np.put_along_axis(allowed, np.argsort(price, axis=1, kind="stable")[:, :_NEAR], True, axis=1)
    model = assignment_model(problem, price, allowed)
    left = budget.remaining()
    if left <= 0:
        return None
    request = linear_solver_pb2.MPModelRequest(
        model=model,
        solver_type=linear_solver_pb2.MPModelRequest.SCIP_MIXED_INTEGER_PROGRAMMING,
        solver_time_limit_seconds=left,
        solver_specific_parameters=_SETTINGS,  # one thread: OR-Tools' default for SCIP
    )
    response = linear_solver_pb2.MPSolutionResponse()
    pywraplp.Solver.SolveWithProto(request, response)
    if response.status not in (linear_solver_pb2.MPSOLVER_OPTIMAL, linear_solver_pb2.MPSOLVER_FEASIBLE):
        return None
    chosen = np.zeros((n, k))
    chosen[allowed] = response.variable_value
    territory = np.argmax(chosen, axis=1).astype(np.int64)
    return territory if bands_hold(problem, territory) else None  # the one band test, past SCIP's tolerances


def gap_search(
    problem: Problem,
    centres: np.ndarray,
    seed: int,
    solves: int,
    budget: TimeBudget,
    cost: np.ndarray,
    patience: float = 1.0,
) -> Allocated:
    """Location-allocation with the exact assignment from `centres` (the heuristic's best), then from the starts
    the module's docstring describes, until `solves` assignment models are spent, or _STALL x `patience` starts in
    a row gain nothing (the solver passes its effort: more effort also waits longer), or the clock cuts."""
    rng = np.random.default_rng(seed)
    p, n_sites = len(centres), problem.n_sites
    reach = shake_reach(n_sites, p)
    sites = np.arange(n_sites)
    nearest = np.argsort(problem.distance_matrix(sites, sites), axis=1, kind="stable")[:, 1 : reach + 1]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    start = np.asarray(centres, dtype=np.int64)
    seen: set[bytes] = set()  # centres already assigned (see _key): a start that reaches them would go on the same way
    done, starts, moved, since = 0, 0, 1, 0
    stall = round(_STALL * patience)
    while done < solves and starts < solves and since < stall and not budget.expired():
        found = _descend(problem, start, cost, budget, solves - done, seen)
        done += found[3]
        if found[1] is not None and (best is None or _lower(found[0], best[0])):
            best, moved, since = (found[0], found[1], found[2]), 1, 0
        elif best is not None:
            moved, since = (moved + 1 if moved < _MOST_MOVED else 1), since + 1
        starts += 1
        if best is None or starts % 2 == 0:
            start = initial_centres(problem, int(rng.integers(2**31 - 1)))
        else:
            start = best[2].copy()
            for j in rng.choice(p, min(moved, p), replace=False):
                start[j] = nearest[start[j], rng.integers(reach)]
    if best is None:
        return Allocated(None, None, np.inf, done)
    return Allocated(best[1], best[2], best[0], done)


def _descend(
    problem: Problem, centres: np.ndarray, cost: np.ndarray, budget: TimeBudget, solves: int, seen: set[bytes]
) -> tuple[float, np.ndarray | None, np.ndarray, int]:
    """Exact assignment and re-centering from `centres` while the objective falls, at most `solves` models:
    (objective, territory or None, centres, models solved). Stops at centres met before (see _key)."""
    value, territory, current, done = np.inf, None, centres, 0
    same = one_band(problem)
    while done < solves and not budget.expired() and len(np.unique(centres)) == len(centres):
        key = _key(centres, same)
        if key in seen:
            break
        seen.add(key)
        assigned = exact_assignment(problem, centres, cost, budget)
        done += 1
        if assigned is None:
            break
        assigned_value = objective(problem, Alignment(assigned, centres))
        if territory is not None and not _lower(assigned_value, value):
            break
        value, territory, current = assigned_value, assigned, centres
        centres = recentre(problem, territory, centres, cost)
    return value, territory, current, done


def _key(centres: np.ndarray, same_band: bool) -> bytes:
    """What makes two centre vectors one assignment problem: their set when every territory has the same band (no
    rules or homes here: gap_applies); else the vector itself, as territory t brings its own band to centres[t], and
    two centres of different bands swapped make a different problem."""
    return (np.sort(centres) if same_band else np.asarray(centres, dtype=np.int64)).tobytes()


def _lower(value: float, than: float) -> bool:
    """Lower by more than float noise (anything finite is lower than inf)."""
    return value < than - 1e-9 * max(abs(than), 1.0) if np.isfinite(than) else value < than
