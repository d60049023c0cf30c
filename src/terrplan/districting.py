"""Tight bands with contiguity (districting): territories that are connected over the unit graph and whose totals
lie inside narrow bands, e.g. counties into districts within ±0.5 % of population.

Two searches, both from fixed centres (p-median mode: a territory's centre is one of its units, the root its
connection runs from; fixed sites, e.g. rep homes: any one unit of the territory is its root):

1. `tabu_search`: border moves and border swaps that never disconnect a territory (a move never takes an
   articulation point of the giving territory; the receiver touches the unit, so it stays connected), the move
   that most reduces band violation first, then travel; a moved unit may not return for a while (tabu), so the
   search crosses plateaus instead of cycling, and territories that stay outside their band weigh more and more
   in the choice (guided local search), so the others give way. Stops after a number of moves, or when the best
   has not improved for a while.
2. `exact_assignment`: a CP-SAT model of the assignment to the fixed centres with the bands and contiguity as a
   spanning tree (every unit but its territory's root has one parent: a neighbour in the same territory with a
   smaller order), minimising travel, hinted with the tabu result. It finds an alignment when the centres allow
   one, or proves that they do not.

With few units per territory (at most `district_columns.UNITS_PER_TERRITORY`), `districts` first lists every
district and solves the set partition over them (`district_columns`): exact when the listing finishes within its
work cap (the optimum, or the proof that no plan exists), and the searches below are skipped. Otherwise it
alternates them with re-centering (location-allocation), restarts from fresh centres while nothing is in band, and
ends with one of two models free of centres; where units too big to share a territory crowd each other, the first
start is the core-first plan (`district_core`) when that finds one. The two models free of centres: on graphs of
up to SITE_UNITS units the site model (every unit a candidate centre: the contiguous p-median itself), which proves
the optimum (with a bound that sees contiguity) or that no contiguous alignment in band exists; on larger ones, when
nothing was found, the proof model (any unit may be a root, interchangeable territories' symmetry broken), which
rarely finishes on real states.

All end by work caps (moves, stalls, CP-SAT's deterministic time, rounds, starts), so results repeat; the run's
`TimeBudget` only cuts them short. Units without neighbours (islands) are exempt from contiguity, as in `contiguity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model
from scipy.optimize import linear_sum_assignment

from terrplan.budget import TimeBudget
from terrplan.district_columns import columns, columns_apply, integer_band, partition, sat_solver
from terrplan.district_core import core_applies, core_start
from terrplan.model import (
    BAND_RTOL,
    Alignment,
    Problem,
    band_excess,
    band_scale,
    objective,
    one_band,
    territory_totals,
)
from terrplan.solve.assign import primary_metric
from terrplan.solve.centres import initial_centres, recentre

TABU_MOVES_PER_UNIT = 40  # tabu iterations per unit: the work cap of one search
_TENURE = (7, 15)  # a moved unit stays put for this many moves, plus one per this many units
_PATIENCE = 200  # in band: stop after this many moves without lower travel
_STALL_PER_UNIT = 20  # out of band: stop after this many moves per unit without less violation or travel
# Out of band, every n moves without a new best, the territories outside their band weigh this much more: the plain
# search first, then the guided one (each alone misses cases the other solves: NC 8 and AL 7 plain, GA 8 closer guided)
EMPHASIS_STEPS = (1.0, 2.0)
_SWAP_TRIALS = 40  # most promising swaps checked per iteration

EXACT_UNITS = 400  # the CP-SAT models are built up to this many units ...
EXACT_CELLS = 4_000  # ... and units x territories
EXACT_EFFORT = 20.0  # CP-SAT deterministic time (about seconds on one core) per model
SITE_UNITS = 30  # the site model (units x units columns) is built up to this many units
_COST_RANGE = 1e7  # integer scale of the travel costs in CP-SAT


# -- the graph inside a territory ---------------------------------------------------------------------------------


def cut_units(members: np.ndarray, neighbours: list[np.ndarray]) -> set[int]:
    """Articulation points of the subgraph the members induce: units whose removal splits their piece in two."""
    inside = set(int(m) for m in members)
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    cut: set[int] = set()
    for root in sorted(inside):
        if root in order:
            continue
        order[root] = low[root] = len(order)
        children = 0
        stack = [(root, iter(neighbours[root]))]
        while stack:
            u, rest = stack[-1]
            child = next((int(v) for v in rest if int(v) in inside and int(v) not in order), None)
            if child is not None:
                order[child] = low[child] = len(order)
                stack.append((child, iter(neighbours[child])))
                continue
            stack.pop()
            # back edges: the lowest order u reaches directly
            low[u] = min([low[u], *(order[int(v)] for v in neighbours[u] if int(v) in inside)])
            if not stack:
                continue
            parent = stack[-1][0]
            if parent == root:
                children += 1
            elif low[u] >= order[parent]:
                cut.add(parent)
            low[parent] = min(low[parent], low[u])
        if children > 1:
            cut.add(root)
    return cut


# -- tabu search --------------------------------------------------------------------------------------------------


@dataclass
class _State:
    """The search's alignment with its totals and cut units, kept up to date by `move`."""

    problem: Problem
    territory: np.ndarray
    totals: np.ndarray  # (m, K)
    scale: np.ndarray  # (m, 1) band scale
    cost: np.ndarray  # (n, K) travel (+ disruption) of unit i in territory t; inf where the rules forbid it
    neighbours: list[np.ndarray]
    edges: tuple[np.ndarray, np.ndarray]  # every neighbour pair, both ways: tail, head
    cut: np.ndarray  # (n,) True where the unit is an articulation point of its territory
    emphasis: np.ndarray  # (K,) weight of each territory's violation when choosing moves (raised where stuck)

    @classmethod
    def of(cls, problem: Problem, territory: np.ndarray, cost: np.ndarray, neighbours: list[np.ndarray]) -> _State:
        tail = np.repeat(np.arange(len(neighbours)), [len(near) for near in neighbours])
        head = np.concatenate([*neighbours, np.zeros(0, dtype=np.int64)]).astype(np.int64)
        totals = territory_totals(problem, territory)
        cut = np.zeros(problem.n_units, dtype=bool)
        emphasis = np.ones(problem.n_territories)
        edges = (tail, head)
        state = cls(problem, territory.copy(), totals, band_scale(problem), cost, neighbours, edges, cut, emphasis)
        for t in range(problem.n_territories):
            state.recut(t)
        return state

    def recut(self, t: int) -> None:
        members = np.flatnonzero(self.territory == t)
        self.cut[members] = False
        self.cut[sorted(cut_units(members, self.neighbours))] = True

    def violation(self, totals: np.ndarray, columns: np.ndarray, steer: bool = False) -> np.ndarray:
        """Band excess summed over metrics, in each row's band scale, for the territories `columns` (`steer`: each
        weighted by its territory's emphasis)."""
        excess = (band_excess(self.problem, totals, columns) / self.scale).sum(axis=0)
        return excess * self.emphasis[columns] if steer else excess

    def outside(self) -> np.ndarray:
        """(K,) True where a territory is outside its band."""
        return self.violation(self.totals, np.arange(self.problem.n_territories)) > BAND_RTOL

    def total_violation(self) -> float:
        excess = self.violation(self.totals, np.arange(self.problem.n_territories))
        return float(np.where(excess > BAND_RTOL, excess, 0.0).sum())

    def travel(self) -> float:
        return float(self.cost[np.arange(len(self.territory)), self.territory].sum())

    def move(self, units: list[int], to: list[int]) -> None:
        touched = set()
        for u, d in zip(units, to, strict=True):
            s = int(self.territory[u])
            self.totals[:, s] -= self.problem.metrics[:, u]
            self.totals[:, d] += self.problem.metrics[:, u]
            self.territory[u] = d
            touched.update((s, d))
        for t in touched:
            self.recut(t)

    def border(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit, from, to) for every unit and each other territory it touches (an island: every other one)."""
        k, territory = self.problem.n_territories, self.territory
        tail, head = self.edges
        across = territory[tail] != territory[head]
        codes = np.unique(tail[across] * k + territory[head[across]])
        islands = np.flatnonzero(np.array([len(near) == 0 for near in self.neighbours], dtype=bool))
        codes = np.union1d(codes, (islands[:, None] * k + np.arange(k)[None, :]).ravel())
        units, to = codes // k, codes % k
        keep = to != territory[units]
        return units[keep], territory[units[keep]], to[keep]


def tabu_search(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None = None,
    moves: int | None = None,
    emphasis: float = 1.0,
) -> np.ndarray:
    """The best alignment met (least band violation, then least travel) by a tabu search over border moves and
    swaps that keep every territory connected, from a territory alignment whose centres are in their territories.
    `moves`: the work cap (default TABU_MOVES_PER_UNIT per unit); `emphasis`: what a stuck territory's weight is
    multiplied by (1: never)."""
    n = problem.n_units
    state = _State.of(problem, territory, unit_costs(problem, centres), neighbours)
    fixed = np.zeros(n, dtype=bool)  # units that never move: the centres (p-median mode)
    if not problem.fixed:
        fixed[centres] = True
    tenure = _TENURE[0] + n // _TENURE[1]
    free_at = np.zeros((n, problem.n_territories), dtype=np.int64)  # iteration from which u may enter t again
    best_key, best = (state.total_violation(), state.travel()), state.territory.copy()
    since_best = 0
    for step in range(moves if moves is not None else TABU_MOVES_PER_UNIT * n):
        if budget is not None and budget.expired():
            break
        chosen = _best_move(state, fixed, free_at, step, best_key)
        if chosen is None:
            break
        units, to = chosen
        for u in units:
            free_at[u, state.territory[u]] = step + tenure
        state.move(units, to)
        key = (state.total_violation(), state.travel())
        if _better(key, best_key):
            best_key, best, since_best = key, state.territory.copy(), 0
        else:
            since_best += 1
        if since_best >= (_PATIENCE if best_key[0] == 0 else _STALL_PER_UNIT * n):
            break
        if best_key[0] > 0 and since_best and since_best % n == 0:  # stuck out of band: weigh the misses more
            state.emphasis[state.outside()] *= emphasis
    return best


def _better(key: tuple[float, float], than: tuple[float, float]) -> bool:
    """Less band violation (beyond rounding noise), else less travel."""
    if abs(key[0] - than[0]) > BAND_RTOL:
        return key[0] < than[0]
    return key[1] < than[1] - 1e-9 * max(abs(than[1]), 1.0)


def unit_costs(problem: Problem, centres: np.ndarray) -> np.ndarray:
    """(n, K) what unit i costs in territory t: travel to t's centre plus the disruption cost; inf where forbidden."""
    units = np.arange(problem.n_units)
    cost = problem.travel_matrix(units, centres)
    rules = problem.rules
    if rules is not None:
        k = np.arange(problem.n_territories)[None, :]
        cost = cost + rules.move_penalty(units[:, None], k)
        cost = np.where(rules.allowed(units[:, None], k, problem.n_territories), cost, np.inf)
    return cost


def _change(state: _State, s: np.ndarray, d: np.ndarray, amount: np.ndarray, steer: bool = False) -> np.ndarray:
    """Change of band violation when `amount` (m, c) moves from territories s to d (c candidates)."""
    before = state.violation(state.totals[:, s], s, steer) + state.violation(state.totals[:, d], d, steer)
    after = state.violation(state.totals[:, s] - amount, s, steer) + state.violation(
        state.totals[:, d] + amount, d, steer
    )
    change = after - before
    return np.where(np.abs(change) > BAND_RTOL, change, 0.0)


_Move = tuple[float, float, list[int], list[int]]  # violation change, travel change, units, their new territories


def _best_move(
    state: _State, fixed: np.ndarray, free_at: np.ndarray, step: int, best_key: tuple[float, float]
) -> tuple[list[int], list[int]] | None:
    """The allowed move with the least violation, then the least travel: one unit, or a swap of two when no single
    move lowers the violation. A move is allowed when it keeps the giving territory connected and non-empty, and
    is not tabu (unless it reaches a new best: aspiration)."""
    u, s, d = state.border()
    sizes = np.bincount(state.territory, minlength=state.problem.n_territories)
    keep = ~fixed[u] & ~state.cut[u] & (sizes[s] > 1) & np.isfinite(state.cost[u, d])
    u, s, d = u[keep], s[keep], d[keep]
    viol = _change(state, s, d, state.problem.metrics[:, u])
    steer = _change(state, s, d, state.problem.metrics[:, u], steer=True)
    travel = state.cost[u, d] - state.cost[u, s]
    now = (state.total_violation(), state.travel())
    new_viol, new_travel = now[0] + viol, now[1] + travel
    record = (new_viol < best_key[0] - BAND_RTOL) | (
        (np.abs(new_viol - best_key[0]) <= BAND_RTOL) & (new_travel < best_key[1] - 1e-9 * max(abs(best_key[1]), 1))
    )
    free = free_at[u, d] <= step
    single: _Move | None = None
    allowed = free | record
    if allowed.any():
        pick = np.flatnonzero(allowed)[np.lexsort((travel[allowed], steer[allowed]))[0]]
        single = (float(steer[pick]), float(travel[pick]), [int(u[pick])], [int(d[pick])])
    if single is not None and single[0] < 0:
        return single[2], single[3]
    swap = _best_swap(state, u[free], s[free], d[free])
    options = [m for m in (single, swap) if m is not None]
    if not options:
        return None
    chosen = min(options, key=lambda m: (m[0], m[1]))
    return chosen[2], chosen[3]


def _best_swap(state: _State, u: np.ndarray, s: np.ndarray, d: np.ndarray) -> _Move | None:
    """The best trade of two border units (each a non-tabu single move, neither an articulation point) between
    touching territories that keeps both connected: each unit still touches its new territory without the other."""
    k, territory = state.problem.n_territories, state.territory
    code = s * k + d
    pairs_a, pairs_b = [], []
    for key in np.unique(code[s < d]):
        give = u[code == key]
        take = u[code == (key % k) * k + key // k]
        if len(take):
            grid_a, grid_b = np.meshgrid(give, take, indexing="ij")
            pairs_a.append(grid_a.ravel())
            pairs_b.append(grid_b.ravel())
    if not pairs_a:
        return None
    a, b = np.concatenate(pairs_a), np.concatenate(pairs_b)
    sa, sb = territory[a], territory[b]
    metrics = state.problem.metrics
    viol = _change(state, sa, sb, metrics[:, a] - metrics[:, b], steer=True)
    travel = state.cost[a, sb] - state.cost[a, sa] + state.cost[b, sa] - state.cost[b, sb]
    for pick in np.lexsort((travel, viol))[:_SWAP_TRIALS]:
        x, y = int(a[pick]), int(b[pick])
        if _touches(state, y, int(sa[pick]), x) and _touches(state, x, int(sb[pick]), y):
            return float(viol[pick]), float(travel[pick]), [x, y], [int(sb[pick]), int(sa[pick])]
    return None


def _touches(state: _State, unit: int, t: int, leaving: int) -> bool:
    """Does `unit` touch territory t once `leaving` has left it? (Islands touch every territory.)"""
    near = state.neighbours[unit]
    return not len(near) or bool(((state.territory[near] == t) & (near != leaving)).any())


# -- CP-SAT models ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exact:
    """What a CP-SAT model found: an alignment (or None), whether the answer is proven (optimal, or none), and a
    lower bound on the model's travel (-inf without one)."""

    territory: np.ndarray | None
    proven: bool
    bound: float = -np.inf


def exact_applies(problem: Problem) -> bool:
    """Small enough for the CP-SAT models with fixed centres."""
    return problem.n_units <= EXACT_UNITS and problem.n_units * problem.n_territories <= EXACT_CELLS


def exact_assignment(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None = None,
    effort: float = EXACT_EFFORT,
    seed: int = 0,
) -> Exact:
    """The least-travel contiguous alignment in band with these centres (each territory grown from its centre; with
    fixed sites, from a root of its choice), hinted with `territory`. `proven`: optimal, or no such alignment."""
    cost = unit_costs(problem, centres)
    model = _Model(problem, neighbours, np.isfinite(cost), tighten=True)
    model.contiguous(None if problem.fixed else centres)
    model.minimise(cost)
    model.hint(territory)
    return model.solve(budget, effort, seed)


def sites_apply(problem: Problem) -> bool:
    """The site model covers the problem (interchangeable territories, sites that are units) and it is small."""
    return _interchangeable(problem) and problem.geometry != "matrix" and problem.n_units <= SITE_UNITS


def site_model(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None = None,
    effort: float = EXACT_EFFORT,
) -> tuple[Exact, np.ndarray | None]:
    """The contiguous p-median in band itself, on small graphs: every unit a candidate centre, K open, each
    territory grown from its centre. On the bands widened by the rounding (so its bound and proof hold for the
    problem; what it finds is checked by the caller). Proven: optimal, or no contiguous alignment in band at all.
    Returns the alignment found (territories numbered by their centres' order) and the centres."""
    n = problem.n_units
    model = _Model(problem, neighbours, np.ones((n, n), dtype=bool), tighten=False, sites=True)
    model.contiguous(None)
    model.minimise(problem.travel_matrix(np.arange(n), np.arange(n)))
    model.hint(centres[territory])
    found = model.solve(budget, effort, 0)
    if found.territory is None:
        return found, None
    opened = np.unique(found.territory)
    return Exact(np.searchsorted(opened, found.territory), found.proven, found.bound), opened


def proof_model(
    problem: Problem, neighbours: list[np.ndarray], budget: TimeBudget | None = None, effort: float = EXACT_EFFORT
) -> bool:
    """True when no contiguous alignment in band exists at all (proven on a relaxation: the bands widened by the
    rounding to integers, no distance limit). False: not proven either way."""
    allowed = np.ones((problem.n_units, problem.n_territories), dtype=bool)
    if problem.rules is not None:
        k = np.arange(problem.n_territories)[None, :]
        allowed = problem.rules.allowed(np.arange(problem.n_units)[:, None], k, problem.n_territories)
    model = _Model(problem, neighbours, allowed, tighten=False)
    model.contiguous(None)
    if _interchangeable(problem):
        model.break_symmetry()
    found = model.solve(budget, effort, 0)
    return found.territory is None and found.proven


def _interchangeable(problem: Problem) -> bool:
    """Territories differ by nothing but their units: one band for all, no rules naming territories, no sites."""
    return one_band(problem) and problem.rules is None and not problem.fixed and problem.homes is None


class _Model:
    """x[i][c]: unit i in column c, under the bands (scaled to integers: tightened, so what is found holds, or
    widened, so a proof holds) and the allowed pairs. A column is a territory, or with `sites` the territory centred
    at unit c: open when c is in it (c is then its root), K of them open, one band for all."""

    def __init__(
        self, problem: Problem, neighbours: list[np.ndarray], allowed: np.ndarray, tighten: bool, sites: bool = False
    ) -> None:
        self.problem, self.neighbours = problem, neighbours
        n, columns = allowed.shape
        self.model = model = cp_model.CpModel()
        self.x = [
            [model.new_bool_var(f"x{i}_{c}") if allowed[i, c] else None for c in range(columns)] for i in range(n)
        ]
        for i in range(n):
            model.add_exactly_one(v for v in self.x[i] if v is not None)
        self.cost_scale: float | None = None  # set by `minimise`
        self.opened = [self.x[c][c] for c in range(columns)] if sites else None
        if self.opened is not None:
            model.add(sum(self.opened) == problem.n_territories)
            for i in range(n):
                for c in range(columns):
                    if c != i:
                        model.add_implication(self.x[i][c], self.opened[c])
        for row in range(len(problem.metric_names)):
            self._band(row, tighten)

    def _band(self, row: int, tighten: bool) -> None:
        """lower <= sum <= upper on integers (`integer_band`: tightened to find, widened to prove)."""
        problem = self.problem
        scaled, lows, highs = integer_band(problem.metrics[row], problem.lower[row], problem.upper[row], tighten)
        for c in range(len(self.x[0])):
            t = 0 if self.opened is not None else c  # sites share the one band
            terms = [(int(scaled[i]), self.x[i][c]) for i in np.flatnonzero(scaled) if self.x[i][c] is not None]
            total = sum(a * v for a, v in terms)
            if lows[t] is not None:
                least = self.model.add(total >= lows[t])
                if self.opened is not None:  # a closed site holds nothing
                    least.only_enforce_if(self.opened[c])
            if highs[t] is not None:
                self.model.add(total <= highs[t])

    def contiguous(self, roots: np.ndarray | None) -> None:
        """Each territory's non-island units form a tree: every unit but the root picks a parent neighbour in its
        territory with a smaller order. `roots`: each territory's root unit (its centre, which it must hold); None
        (or an island centre): a root of its choice, at most one."""
        model, x, n, k = self.model, self.x, self.problem.n_units, len(self.x[0])
        order = [model.new_int_var(0, n - 1, f"o{i}") for i in range(n)]
        rooted: list[list] = [[] for _ in range(n)]
        fixed = set() if roots is None else {int(u) for u in roots if len(self.neighbours[u])}
        if self.opened is not None:  # sites: unit c is its column's root when the column is open
            rooted = [[self.opened[i]] for i in range(n)]
            k = 0
        for t in range(k):
            if roots is not None:
                centre = x[int(roots[t])][t]
                model.add_bool_or([centre] if centre is not None else [])  # a centre the rules forbid: none
            if roots is None or not len(self.neighbours[roots[t]]):  # no root given, or an island centre
                free = {
                    i: model.new_bool_var(f"r{i}_{t}")
                    for i in range(n)
                    if len(self.neighbours[i]) and x[i][t] is not None
                }
                model.add_at_most_one(free.values())
                for i, root in free.items():
                    model.add_implication(root, x[i][t])
                    rooted[i].append(root)
        for i in range(n):
            if not len(self.neighbours[i]) or i in fixed:
                continue  # an island (exempt), or a root
            parents = [model.new_bool_var(f"p{i}_{j}") for j in self.neighbours[i]]
            model.add_exactly_one(parents + rooted[i])
            for arc, j in zip(parents, self.neighbours[i], strict=True):
                model.add(order[int(j)] < order[i]).only_enforce_if(arc)
                for t in range(len(x[0])):  # the parent is in the same column
                    if x[i][t] is not None:
                        same = x[int(j)][t]
                        model.add_bool_or([x[i][t].Not(), arc.Not(), *([same] if same is not None else [])])

    def break_symmetry(self) -> None:
        """Interchangeable territories: unit 0 in territory 0, and a unit opens territory t only after some earlier
        unit opened t - 1."""
        x, k = self.x, self.problem.n_territories
        self.model.add(x[0][0] == 1)
        for i in range(1, self.problem.n_units):
            for t in range(1, k):
                self.model.add_bool_or([x[i][t].Not(), *(x[j][t - 1] for j in range(i))])

    def minimise(self, cost: np.ndarray) -> None:
        """Travel, scaled to integers (the alignment found is priced again in floating point)."""
        finite = np.isfinite(cost)
        self.cost_scale = _COST_RANGE / max(float(cost[finite].max(initial=0.0)), 1e-12)
        scaled = np.where(finite, np.rint(cost * self.cost_scale), 0).astype(np.int64)
        terms = [(int(scaled[i, c]), v) for i, row in enumerate(self.x) for c, v in enumerate(row) if v is not None]
        self.model.minimize(sum(a * v for a, v in terms if a))

    def hint(self, column: np.ndarray) -> None:
        for i, row in enumerate(self.x):
            for c, v in enumerate(row):
                if v is not None:
                    self.model.add_hint(v, int(column[i] == c))

    def solve(self, budget: TimeBudget | None, effort: float, seed: int) -> Exact:
        solver = sat_solver(budget, effort, seed)
        status = solver.solve(self.model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return Exact(None, status == cp_model.INFEASIBLE)
        values = np.array([[solver.value(v) if v is not None else 0 for v in row] for row in self.x])
        # the scaled costs round each unit's term by at most half: the bound, back in travel, is less that much
        scale = self.cost_scale
        bound = -np.inf if scale is None else (solver.best_objective_bound - 0.5 * len(self.x)) / scale
        return Exact(values.argmax(axis=1), status == cp_model.OPTIMAL, bound)


# -- the search ---------------------------------------------------------------------------------------------------

_ROUNDS = 6  # location-allocation rounds per start: search, then re-centre
CORE_SHARE = 0.7  # of the time left, the core-first start's most (Georgia 8: 8 s of about 34)
GIVEN_SHARE = 0.3  # of the time left, the rounds from the given alignment where the core-first start may follow
_STARTS = 4  # starts from fresh centres when the first finds nothing in band


@dataclass(frozen=True)
class Districts:
    territory: np.ndarray
    centres: np.ndarray
    infeasible: bool  # proven: no contiguous alignment in band exists
    starts: int  # starts tried (the given alignment's, then fresh centres')
    bound: float = -np.inf  # the site or column model's lower bound on the travel of contiguous alignments in band
    optimal: bool = False  # proven by the site or column model
    columns: int = 0  # districts the column model listed (0: not listed, its work cap hit, or CP-SAT undecided)


def districts(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None = None,
    seed: int = 0,
    cores: bool = True,
) -> Districts:
    """A contiguous alignment inside every band, of least travel found: location-allocation rounds (tabu search,
    the exact assignment, re-centering) from the given contiguous alignment, then from fresh centres while nothing
    is in band (p-median mode: fixed sites stay); then the site model on small graphs, or the proof model when
    nothing was found. With few units per territory, the listing of every district and the set partition over them
    (`district_columns`) come first: when the listing finishes, their answer is exact (the optimum, or proven none).
    Where the rounds from the given alignment end outside a band and units too big to share a territory crowd each
    other, the core-first plan (`district_core`) is polished next (`cores`: False leaves that step out, to compare)."""
    if columns_apply(problem, neighbours, _interchangeable(problem)) and not (budget is not None and budget.expired()):
        exact = _by_columns(problem, territory, centres, neighbours, budget, seed)
        if exact is not None:
            return exact
    # Where units too big to share a territory crowd each other, the rounds from the given alignment get GIVEN_SHARE
    # of what is left; still outside a band, the core-first start may take CORE_SHARE of the rest and its plan the
    # rounds after it (when it finds nothing, the fresh starts below still have the rest). Only then: from an in-band
    # alignment the rounds end more compact than from a core plan (a 9 x 9 grid at +-5 %: 32,129 from the given
    # alignment, 34,667 from the core plan).
    cored = cores and core_applies(problem, neighbours, _interchangeable(problem))
    first = budget.share(GIVEN_SHARE) if cored and budget is not None else budget
    best = _rounds(problem, territory, centres, neighbours, first, seed)
    starts = 1
    if cored and best[0] > 0 and not (budget is not None and budget.expired()):
        share = None if budget is None else budget.share(CORE_SHARE)
        start = core_start(problem, neighbours, share, seed)
        if start is not None:  # polished as any start: the rounds keep it in band
            heads = np.array([np.flatnonzero(start == t)[0] for t in range(problem.n_territories)])
            named, placed = _keep_names(start, recentre(problem, start, heads), territory)
            best = min(best, _rounds(problem, named, placed, neighbours, budget, seed), key=_sort_key)
    rng = np.random.default_rng(seed)
    while best[0] > 0 and not problem.fixed and starts <= _STARTS and not (budget is not None and budget.expired()):
        fresh = initial_centres(problem, int(rng.integers(2**31 - 1)))
        grown = grow(problem, fresh, neighbours)
        best = min(best, _rounds(problem, grown, fresh, neighbours, budget, seed), key=_sort_key)
        starts += 1
    spent = budget is not None and budget.expired()
    if sites_apply(problem) and not spent:
        return _by_sites(problem, best, neighbours, budget, starts)
    infeasible = best[0] > 0 and exact_applies(problem) and not spent and proof_model(problem, neighbours, budget)
    return Districts(best[2], best[3], infeasible, starts)


def _by_columns(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None,
    seed: int,
) -> Districts | None:
    """The set partition over every listed district: the optimal plan (or one, with its bound), or the proof that
    there is none (the given alignment kept); None when the listing or CP-SAT ends undecided."""
    found = columns(problem, neighbours, budget)
    if found is None:
        return None
    plan = partition(problem, found, budget, EXACT_EFFORT, seed)
    listed = len(found.cost)
    if plan.territory is None or plan.centres is None:
        return Districts(territory, centres, True, 0, columns=listed) if plan.proven else None
    named, named_centres = _keep_names(plan.territory, plan.centres, territory)
    return Districts(named, named_centres, False, 0, plan.bound, plan.proven, listed)


def _keep_names(territory: np.ndarray, centres: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plan's territories renumbered to share the most units with the numbers they had `before` (the column
    model numbers them by centre; the territories are interchangeable there), so a territory keeps its name and
    'units moved' counts moves, not new names."""
    k = len(centres)
    overlap = np.zeros((k, k))
    np.add.at(overlap, (territory, before), 1.0)
    rows, cols = linear_sum_assignment(-overlap)
    name = np.empty(k, dtype=np.int64)
    name[rows] = cols
    renamed = np.empty_like(centres)
    renamed[name] = centres
    return name[territory], renamed


def _by_sites(
    problem: Problem, best: _Found, neighbours: list[np.ndarray], budget: TimeBudget | None, starts: int
) -> Districts:
    """The site model's answer on a small graph, hinted with the search's best: its alignment when better (and in
    band), its bound, and its proof either way."""
    found, centres = site_model(problem, best[2], best[3], neighbours, budget)
    if found.territory is None:
        return Districts(best[2], best[3], found.proven, starts)
    assert centres is not None
    state = _State.of(problem, found.territory, unit_costs(problem, centres), neighbours)
    mine = (state.total_violation(), objective(problem, Alignment(found.territory, centres)), found.territory, centres)
    chosen = min(best, mine, key=_sort_key)
    optimal = found.proven and chosen is mine and mine[0] == 0
    return Districts(chosen[2], chosen[3], False, starts, found.bound, optimal)


_Found = tuple[float, float, np.ndarray, np.ndarray]  # violation, objective, territory, centres


def _sort_key(found: _Found) -> tuple[float, float]:
    return (found[0] if found[0] > BAND_RTOL else 0.0, found[1])


def _rounds(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None,
    seed: int,
) -> _Found:
    """Location-allocation with contiguity: search the assignment to the centres, re-centre, until the centres
    stay; the best alignment met."""
    best: _Found | None = None
    for _ in range(_ROUNDS):
        territory = _tabu_portfolio(problem, territory, centres, neighbours, budget)
        if exact_applies(problem) and not (budget is not None and budget.expired()):
            found = exact_assignment(problem, territory, centres, neighbours, budget, seed=seed)
            if found.territory is not None:
                territory = found.territory
        moved = recentre(problem, territory, centres)
        state = _State.of(problem, territory, unit_costs(problem, moved), neighbours)
        current = (state.total_violation(), objective(problem, Alignment(territory, moved)), territory, moved)
        best = current if best is None else min(best, current, key=_sort_key)
        if np.array_equal(moved, centres) or (budget is not None and budget.expired()):
            break
        centres = moved
    assert best is not None
    return best


def _tabu_portfolio(
    problem: Problem,
    territory: np.ndarray,
    centres: np.ndarray,
    neighbours: list[np.ndarray],
    budget: TimeBudget | None,
) -> np.ndarray:
    """The tabu search with each emphasis step in turn, until one is in band; the best alignment met."""
    cost = unit_costs(problem, centres)
    best: tuple[tuple[float, float], np.ndarray] | None = None
    for step in EMPHASIS_STEPS:
        found = tabu_search(problem, territory, centres, neighbours, budget, emphasis=step)
        state = _State.of(problem, found, cost, neighbours)
        key = (state.total_violation(), state.travel())
        if best is None or _better(key, best[0]):
            best = (key, found)
        if best[0][0] == 0 or (budget is not None and budget.expired()):
            break
    assert best is not None
    return best[1]


def grow(problem: Problem, centres: np.ndarray, neighbours: list[np.ndarray]) -> np.ndarray:
    """A contiguous alignment grown from the centres (units, p-median mode): the territory lightest so far in the
    primary metric takes its nearest unclaimed neighbour, until every unit is claimed (units no territory reaches,
    e.g. islands, go to the nearest centre)."""
    n, k = problem.n_units, problem.n_territories
    row = primary_metric(problem) or 0
    territory = np.full(n, -1, dtype=np.int64)
    territory[centres] = np.arange(k)
    load = problem.metrics[row, centres].astype(float).copy()
    cost = unit_costs(problem, centres)
    blocked = np.zeros(k, dtype=bool)
    while (territory < 0).any() and not blocked.all():
        t = int(np.argmin(np.where(blocked, np.inf, load)))
        members = np.flatnonzero(territory == t)
        edge = np.unique(np.concatenate([neighbours[u] for u in members]))
        edge = edge[(territory[edge] < 0) & np.isfinite(cost[edge, t])]
        if not len(edge):
            blocked[t] = True
            continue
        u = int(edge[np.argmin(cost[edge, t])])
        territory[u] = t
        load[t] += problem.metrics[row, u]
    left = np.flatnonzero(territory < 0)
    territory[left] = np.argmin(cost[left], axis=1)
    return territory
