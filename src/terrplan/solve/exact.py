"""Exact mixed-integer models for small instances: the optimum, or a better bound, from SCIP (bundled with OR-Tools).

p-median mode (sites are the units): binary x_ij (unit i served by site j) and y_j (site j opens), sum_j x_ij = 1,
x_ij <= y_j, sum_j y_j = K, and L y_j <= sum_i a_i x_ij <= U y_j for every metric. This needs one band shared by
all territories (identities do not matter then); locks and move costs, which name territories, are left to the
heuristic. Fixed sites: the generalized assignment of `assignment_model`, each territory's own band, rules included.

A centre is where its territory is measured from; its own unit may belong to another territory, as in every other
part of the solver (the flow, the gap search) and in the objective. The model says "an open site serves itself"
(x_jj >= y_j) only where that cannot change the optimum (`_serves_itself`), so its bound holds for every alignment
the solver can return.

The heuristic's alignment is the starting hint. The solver's best bound is a valid lower bound whether or not it
proves optimality within the time it gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import linear_solver_pb2, pywraplp

from terrplan.model import Problem, one_band

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
    sites_are_units = problem.geometry != "matrix" or problem.n_sites == problem.n_units
    return one_band(problem) and sites_are_units and not rules_name_territories and not homes_name_territories


def assignment_model(
    problem: Problem, cost: np.ndarray, allowed: np.ndarray, relaxed: bool = False
) -> linear_solver_pb2.MPModelProto:
    """Units assigned to K fixed centres (a generalized assignment): one variable per allowed (unit, territory), row
    by row, binary (in [0, 1] when `relaxed`) and priced at `cost` there; each unit in exactly one territory; each
    territory's load of each metric inside its band. `cost`, `allowed`: (units, K).

    Built as a proto, not variable by variable through pywraplp: several times faster to build, which the gap
    search's hundreds of models need. The exact pass loads it into pywraplp (hints, the relative gap)."""
    n, k = cost.shape
    model = linear_solver_pb2.MPModelProto()
    for value in cost[allowed].tolist():  # one variable per allowed (unit, territory), row by row
        model.variable.add(lower_bound=0.0, upper_bound=1.0, is_integer=not relaxed, objective_coefficient=value)
    column = np.full((n, k), -1, dtype=np.int64)
    column[allowed] = np.arange(int(allowed.sum()))
    for i in range(n):
        own = column[i][allowed[i]].tolist()
        model.constraint.add(lower_bound=1.0, upper_bound=1.0, var_index=own, coefficient=[1.0] * len(own))
    for row in range(len(problem.metric_names)):
        amount = problem.metrics[row]
        for t in range(k):
            units = np.flatnonzero((amount != 0) & allowed[:, t])
            terms = {"var_index": column[units, t].tolist(), "coefficient": amount[units].tolist()}
            lower, upper = float(problem.lower[row, t]), float(problem.upper[row, t])
            # A limit on each side its own row, as SCIP has always been given them (a ranged row leads SCIP's
            # node-limited search elsewhere); a floor at or below the least load any split gives needs no row.
            if np.isfinite(upper):
                model.constraint.add(lower_bound=-np.inf, upper_bound=upper, **terms)
            if np.isfinite(lower) and lower > float(np.minimum(amount[units], 0.0).sum()):
                model.constraint.add(lower_bound=lower, upper_bound=np.inf, **terms)
    return model


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
        x, allowed, y, hint = _fixed_model(solver, problem, territory)
    else:
        x, allowed, y, hint = _median_model(solver, problem, territory, centres)
    if hint:
        variables, values = zip(*hint, strict=True)
        solver.SetHint(list(variables), list(values))
    settings = pywraplp.MPSolverParameters()
    settings.SetDoubleParam(settings.RELATIVE_MIP_GAP, 1e-7)  # prove to the precision solve() calls optimal
    status = solver.Solve(settings)
    if status not in (solver.OPTIMAL, solver.FEASIBLE):
        return Exact(None, None, np.inf, -np.inf, False, infeasible=status == solver.INFEASIBLE)
    bound = solver.Objective().BestBound()
    values = np.zeros(allowed.shape)
    values[allowed] = [v.solution_value() for v in x]
    chosen = np.argmax(values, axis=1)
    value, optimal = solver.Objective().Value(), status == solver.OPTIMAL
    if y is None:
        return Exact(chosen, np.arange(problem.n_territories), value, bound, optimal)
    sites = np.flatnonzero(np.array([v.solution_value() for v in y]) > 0.5)
    return Exact(np.searchsorted(sites, chosen), sites, value, bound, optimal)  # territory t: the t-th open site


def _median_model(solver, problem: Problem, territory: np.ndarray, centres: np.ndarray):
    """The p-median model in `solver`: (x row by row, its (units, sites) mask, y, the hint)."""
    n, s = problem.n_units, problem.n_sites
    cost = problem.travel_matrix(np.arange(n), np.arange(s))
    x = [[solver.BoolVar(f"x{i}_{j}") for j in range(s)] for i in range(n)]
    y = [solver.BoolVar(f"y{j}") for j in range(s)]
    for i in range(n):
        solver.Add(solver.Sum(x[i]) == 1)
        for j in range(s):
            solver.Add(x[i][j] <= y[j])
    for j in np.flatnonzero(_serves_itself(problem, cost)).tolist():
        solver.Add(x[j][j] >= y[j])  # an open site serves itself where that costs nothing (see _serves_itself)
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
    return [v for row in x for v in row], np.ones((n, s), dtype=bool), y, hint


def _serves_itself(problem: Problem, cost: np.ndarray) -> np.ndarray:
    """(sites,) where "an open site serves itself" (x_jj >= y_j) may join the p-median model without changing its
    optimum, so its bound stays a bound on every alignment, centres' own units anywhere.

    Proof: let unit j be no dearer at its own site than at any other (cost[j, j] <= cost[j, :]) and carry nothing
    of any metric that has a band (a finite lower or upper limit). Take any optimal alignment, and move each such
    unit j whose site is open but which another site k serves to its own site. A move changes no banded load (its
    amounts there are 0), breaks no other constraint (x_jj <= y_j = 1) and changes the objective by cost[j, j] -
    cost[j, k] <= 0: an optimum that meets x_jj >= y_j for all these j exists, so adding the rows leaves the
    optimum, and every bound on it, as they were. Without bands (and a zero distance from a unit to itself) that is
    every site, the model of before.

    It does NOT follow with bands. A unit's own amount can fill its own site's band, and the optimum then sends the
    unit to another centre and fills its site with others: 6 units, K = 2, capacity 7 (tests/test_exact_models.py)
    has optimum 11 with centre 0's unit served by centre 5, while every alignment whose centres serve themselves
    costs 15 or more; the old model, which always required it, reported 15 as proven optimal. What that costs where
    every unit carries a banded amount (pmedcap 1-10, no such rows now; 50 nodes, no clock): the same bound on 8
    instances, 784.7 for 786.0 on pmedcap1_08 (optimum 820) and 819.0 for 818.4 on pmedcap1_10 (829)."""
    banded = (np.isfinite(problem.lower) | np.isfinite(problem.upper)).any(axis=1)  # (metrics,)
    carries = (problem.metrics[banded] != 0).any(axis=0)  # (units,) any banded amount
    sites = np.arange(problem.n_sites)  # the units, in this mode
    return (cost[sites, sites] <= cost.min(axis=1)[sites]) & ~carries[sites]


def _fixed_arcs(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Fixed centres: each (unit, territory)'s price (travel plus move cost) and whether the rules allow it."""
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
    return cost, allowed


def _fixed_model(solver, problem: Problem, territory: np.ndarray):
    """The fixed-centre assignment loaded into `solver`: (its variables row by row, their mask, None, the hint)."""
    cost, allowed = _fixed_arcs(problem)
    _load(solver, assignment_model(problem, cost, allowed))
    x = solver.variables()
    assigned = territory[:, None] == np.arange(problem.n_territories)[None, :]
    return x, allowed, None, list(zip(x, assigned[allowed].astype(float).tolist(), strict=True))


def _load(solver, model: linear_solver_pb2.MPModelProto) -> None:
    error = solver.LoadModelFromProto(model)
    if error:  # the model is built here: an error is a bug, not bad input
        raise RuntimeError(f"exact model rejected: {error}")


LP_CELLS = 200_000  # units x territories up to which fixed-centre problems get the LP bound


def lp_bound(problem: Problem) -> float:
    """Fixed centres: the linear relaxation of the assignment (fractional units, every band, every rule) solved by
    GLOP, a lower bound at least as tight as the Lagrangian one; -inf when it does not solve."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    cost, allowed = _fixed_arcs(problem)
    _load(solver, assignment_model(problem, cost, allowed, relaxed=True))
    if solver.Solve() != solver.OPTIMAL:
        return -np.inf
    value = solver.Objective().Value()
    return value - 1e-7 * max(abs(value), 1.0)  # below the solver's tolerances, so still a bound
