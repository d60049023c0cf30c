"""Exact mixed-integer model for small instances: the optimum, or a better bound, from SCIP (bundled with OR-Tools).

p-median mode (sites are the units): binary x_ij (unit i served by site j) and y_j (site j opens, serving
itself), sum_j x_ij = 1, x_ij <= y_j, sum_j y_j = K, and L y_j <= sum_i a_i x_ij <= U y_j for every metric. This
needs one band shared by all territories (identities do not matter then); locks and move costs, which name
territories, are left to the heuristic. Fixed sites: binary x_it with each territory's own band, rules included.

The heuristic's alignment is the starting hint. The solver's best bound is a valid lower bound whether or not it
proves optimality within the time it gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from terrplan.model import Problem

EXACT_CELLS = 8_000  # units x sites up to which the exact model is tried (its root LP grows fast beyond)
EXACT_NODES = 50  # branch-and-bound nodes: a work limit, not a clock, so the result repeats


@dataclass(frozen=True)
class Exact:
    territory: np.ndarray | None  # best alignment found (None when none)
    centres: np.ndarray | None
    value: float  # its objective (inf when none)
    bound: float  # the solver's best bound (-inf when it has none)
    optimal: bool
    infeasible: bool = False  # proven: no alignment of the model meets the bands (and rules)


def exact_applies(problem: Problem) -> bool:
    """Small enough, and the model above covers the problem."""
    if problem.n_units * problem.n_sites > EXACT_CELLS:
        return False
    if problem.fixed:
        return True
    # The p-median model has no rules at all: locks, forbidden pairs and move costs name territories, and a distance
    # limit would need the centres' distances, which the model leaves out (the fixed-site model keeps every rule).
    rules = problem.rules
    rules_name_territories = rules is not None and (
        (rules.locked >= 0).any()
        or len(rules.forbidden) > 0
        or (rules.move_cost > 0).any()
        or np.isfinite(rules.max_distance)
    )
    # Reps' homes name territories too (the home term prices each territory's centre), which the model leaves out.
    homes_name_territories = problem.homes is not None and bool((problem.homes.weight > 0).any())
    one_band = bool((problem.lower == problem.lower[:, :1]).all() and (problem.upper == problem.upper[:, :1]).all())
    sites_are_units = problem.geometry != "matrix" or problem.n_sites == problem.n_units
    return one_band and sites_are_units and not rules_name_territories and not homes_name_territories


def solve_exact(
    problem: Problem, territory: np.ndarray, centres: np.ndarray, time_limit_s: float, nodes: int = EXACT_NODES
) -> Exact:
    """Solve the exact model within `nodes` branch-and-bound nodes (the clock only as a safety cap, so runs
    repeat exactly), hinted with the given alignment."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    solver.SetTimeLimit(max(int(time_limit_s * 1000), 1))
    solver.SetNumThreads(1)  # the same search every run
    # SCIP would catch Ctrl-C itself, print to stdout (breaking `-o -`) and carry on; leave the signal to the CLI.
    solver.SetSolverSpecificParametersAsString(f"limits/nodes = {nodes}\nmisc/catchctrlc = FALSE\n")
    if problem.fixed:
        x, y, hint = _fixed_model(solver, problem, territory)
    else:
        x, y, hint = _median_model(solver, problem, territory, centres)
    if hint:
        variables, values = zip(*hint, strict=True)
        solver.SetHint(list(variables), list(values))
    settings = pywraplp.MPSolverParameters()
    settings.SetDoubleParam(settings.RELATIVE_MIP_GAP, 1e-7)  # prove to the precision solve() calls optimal
    status = solver.Solve(settings)
    bound = solver.Objective().BestBound() if status in (solver.OPTIMAL, solver.FEASIBLE) else -np.inf
    if status not in (solver.OPTIMAL, solver.FEASIBLE):
        return Exact(None, None, np.inf, -np.inf, False, infeasible=status == solver.INFEASIBLE)
    values = np.array([[0.0 if isinstance(v, int) else v.solution_value() for v in row] for row in x])
    chosen = np.argmax(values, axis=1)
    value, optimal = solver.Objective().Value(), status == solver.OPTIMAL
    if problem.fixed:
        return Exact(chosen, np.arange(problem.n_territories), value, bound, optimal)
    sites = np.flatnonzero(np.array([v.solution_value() for v in y]) > 0.5)
    return Exact(np.searchsorted(sites, chosen), sites, value, bound, optimal)  # territory t: the t-th open site


def _median_model(solver, problem: Problem, territory: np.ndarray, centres: np.ndarray):
    n, s = problem.n_units, problem.n_sites
    cost = problem.travel_matrix(np.arange(n), np.arange(s))
    x = [[solver.BoolVar(f"x{i}_{j}") for j in range(s)] for i in range(n)]
    y = [solver.BoolVar(f"y{j}") for j in range(s)]
    for i in range(n):
        solver.Add(solver.Sum(x[i]) == 1)
        for j in range(s):
            solver.Add(x[i][j] <= y[j])
    for j in range(s):
        solver.Add(x[j][j] >= y[j])  # an open site serves itself: the centre lies in its territory
    solver.Add(solver.Sum(y) == problem.n_territories)
    for row in range(len(problem.metric_names)):
        lower, upper = float(problem.lower[row, 0]), float(problem.upper[row, 0])
        amount = problem.metrics[row]
        for j in range(s):
            load = solver.Sum([float(amount[i]) * x[i][j] for i in range(n) if amount[i] != 0])
            if np.isfinite(upper):
                solver.Add(load <= upper * y[j])
            if np.isfinite(lower) and lower > 0:
                solver.Add(load >= lower * y[j])
    solver.Minimize(solver.Sum([float(cost[i, j]) * x[i][j] for i in range(n) for j in range(s) if cost[i, j]]))
    site_of = centres[territory]
    hint = [(x[i][j], float(site_of[i] == j)) for i in range(n) for j in range(s)]
    hint += [(y[j], float(j in set(centres.tolist()))) for j in range(s)]
    return x, y, hint


def _fixed_model(solver, problem: Problem, territory: np.ndarray, relaxed: bool = False):
    n, k = problem.n_units, problem.n_territories
    units = np.arange(n)
    cost = problem.travel_matrix(units, np.arange(k))
    allowed = np.ones((n, k), dtype=bool)
    rules = problem.rules
    if rules is not None:
        cost = cost + rules.move_penalty(units[:, None], np.arange(k)[None, :])
        allowed = rules.allowed(units[:, None], np.arange(k)[None, :], k)
        near = allowed & (problem.distance_matrix(units, np.arange(k)) <= rules.max_distance)
        allowed = np.where(near.any(axis=1)[:, None], near, allowed)  # the limit, where some centre meets it
    make = (lambda name: solver.NumVar(0.0, 1.0, name)) if relaxed else solver.BoolVar
    x = [[make(f"x{i}_{t}") if allowed[i, t] else 0 for t in range(k)] for i in range(n)]
    for i in range(n):
        solver.Add(solver.Sum(x[i]) == 1)
    for row in range(len(problem.metric_names)):
        amount = problem.metrics[row]
        for t in range(k):
            load = solver.Sum([float(amount[i]) * x[i][t] for i in range(n) if amount[i] != 0 and allowed[i, t]])
            if np.isfinite(problem.upper[row, t]):
                solver.Add(load <= float(problem.upper[row, t]))
            if np.isfinite(problem.lower[row, t]) and problem.lower[row, t] > 0:
                solver.Add(load >= float(problem.lower[row, t]))
    solver.Minimize(solver.Sum([float(cost[i, t]) * x[i][t] for i in range(n) for t in range(k) if allowed[i, t]]))
    hint = [(x[i][t], float(territory[i] == t)) for i in range(n) for t in range(k) if allowed[i, t]]
    return x, None, hint


LP_CELLS = 200_000  # units x territories up to which fixed-centre problems get the LP bound


def lp_bound(problem: Problem) -> float:
    """Fixed centres: the linear relaxation of the assignment (fractional units, every band, every rule) solved by
    GLOP, a lower bound at least as tight as the Lagrangian one; -inf when it does not solve."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    _fixed_model(solver, problem, np.zeros(problem.n_units, dtype=np.int64), relaxed=True)
    if solver.Solve() != solver.OPTIMAL:
        return -np.inf
    value = solver.Objective().Value()
    return value - 1e-7 * max(abs(value), 1.0)  # below the solver's tolerances, so still a bound
