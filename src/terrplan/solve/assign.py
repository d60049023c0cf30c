"""Balanced assignment of units to fixed centres: min-cost flow relaxation, rounding, band repair, local moves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from terrplan.model import BAND_RTOL, Problem, band_excess, band_scale, territory_totals
from terrplan.solve.candidates import nearest_sites, nearest_units

_FLOW_TOTAL = 2e8  # total integer supply the primary metric is scaled to
_COST_MAX = 1e7  # largest integer arc cost after scaling


@dataclass(frozen=True)
class Arcs:
    """Each unit's candidate territories, nearest first: territory index (n, C), distance (n, C) and cost (n, C),
    the objective's price of the arc (weighted distance plus any disruption cost). Under rules, only allowed
    arcs appear; a row is padded by repeating its first arc."""

    territory: np.ndarray
    distance: np.ndarray
    cost: np.ndarray

    @classmethod
    def build(cls, problem: Problem, centres: np.ndarray, count: int, reverse: int = 0) -> Arcs:
        """Each unit's `count` nearest centres, plus (reverse > 0) arcs from each centre's `reverse` nearest units,
        so that an isolated centre can still gather its band. Rows are padded by repeating their nearest arc.
        """
        territory, distance = nearest_sites(problem, centres, count)
        if reverse > 0 and count < len(centres):
            territory, distance = _with_reverse(problem, centres, territory, distance, reverse)
        if problem.rules is not None:
            territory, distance = _allowed_only(problem, centres, territory, distance)
        return cls(territory, distance, _arc_cost(problem, centres, np.arange(problem.n_units), territory, distance))

    def pinned_rows(
        self, problem: Problem, centres: np.ndarray, units: np.ndarray, to: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows (territory, distance, cost) `build` gives each of `units` locked to `to` (problem without rules
        of its own): its arc there alone, repeated. Patched in, they stand in for a rebuild of every row."""
        have = self.territory[units] == to[:, None]
        listed = have.any(axis=1)
        length = self.distance[units, have.argmax(axis=1)]  # a lock keeps the listed arc
        if not listed.all():  # or, not listed, gets it from the full distance matrix as `_allowed_only` does
            outside = units[~listed]
            length[~listed] = problem.distance_matrix(outside, centres)[np.arange(len(outside)), to[~listed]]
        width = self.territory.shape[1]
        territory, distance = np.repeat(to[:, None], width, axis=1), np.repeat(length[:, None], width, axis=1)
        return territory, distance, _arc_cost(problem, centres, units, territory, distance)


def _arc_cost(
    problem: Problem, centres: np.ndarray, units: np.ndarray, territory: np.ndarray, distance: np.ndarray
) -> np.ndarray:
    """The assignment's price of each arc of `units`' rows."""
    cost = problem.travel(units[:, None], centres[territory], distance)
    if _secondary_rows(problem):
        # A unit of little weight costs little anywhere, so the price of another metric would send it far (an
        # account of small potential 400 km off, for its workload): in the assignment every unit weighs at least
        # a share of the mean weight, so the units that move for another metric are those near a border. The
        # objective and the bound still weigh each unit by its own weight.
        positive = problem.weights[problem.weights > 0]
        floor = _FLOOR_WEIGHT * (float(positive.mean()) if len(positive) else 1.0)
        weights = problem.weights[units]
        cost = np.where((weights < floor)[:, None], cost + (floor - weights)[:, None] * distance, cost)
    if problem.rules is not None:
        cost = cost + problem.rules.move_penalty(units[:, None], territory)
    return cost


def _with_reverse(
    problem: Problem, centres: np.ndarray, territory: np.ndarray, distance: np.ndarray, reverse: int
) -> tuple[np.ndarray, np.ndarray]:
    """Add arcs from each centre to its `reverse` nearest units that do not already have one."""
    units = nearest_units(problem, centres, reverse)  # (K, reverse)
    pair_u = units.ravel()
    pair_t = np.repeat(np.arange(len(centres)), units.shape[1])
    have = (territory[pair_u] == pair_t[:, None]).any(axis=1)
    pair_u, pair_t = pair_u[~have], pair_t[~have]
    if len(pair_u) == 0:
        return territory, distance
    order = np.lexsort((pair_t, pair_u))
    pair_u, pair_t = pair_u[order], pair_t[order]
    extra = np.bincount(pair_u, minlength=problem.n_units)
    width = int(extra.max())
    slot = np.arange(len(pair_u)) - np.searchsorted(pair_u, pair_u, side="left")
    more_t = np.repeat(territory[:, :1], width, axis=1)
    more_d = np.repeat(distance[:, :1], width, axis=1)
    more_t[pair_u, slot] = pair_t
    more_d[pair_u, slot] = problem.distance(pair_u, centres[pair_t])
    return np.hstack([territory, more_t]), np.hstack([distance, more_d])


def _allowed_only(
    problem: Problem, centres: np.ndarray, territory: np.ndarray, distance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Drop arcs the rules forbid (locks, forbidden pairs, beyond the distance limit).

    A row left with no arc gets its nearest allowed centres among all of them; if none lies within the distance
    limit, its nearest allowed centre regardless of distance (the limit cannot hold there; metrics report it).
    """
    rules = problem.rules
    assert rules is not None
    n, k = problem.n_units, problem.n_territories
    units = np.arange(n)
    ok = rules.allowed(units[:, None], territory, k) & (distance <= rules.max_distance)
    empty = np.flatnonzero(~ok.any(axis=1))
    if len(empty):
        every = np.broadcast_to(np.arange(k), (len(empty), k))
        full_d = problem.distance_matrix(empty, centres)
        allowed = rules.allowed(empty[:, None], every, k)
        near = allowed & (full_d <= rules.max_distance)
        usable = np.where(near.any(axis=1)[:, None], near, allowed)
        ranked = np.argsort(np.where(usable, full_d, np.inf), axis=1, kind="stable")[:, : territory.shape[1]]
        keep = np.take_along_axis(usable, ranked, axis=1)
        # pad each row's unusable tail with its first (usable) entry
        ranked = np.where(keep, ranked, ranked[:, :1])
        territory[empty] = ranked
        distance[empty] = np.take_along_axis(full_d, ranked, axis=1)
        ok[empty] = True
    first = np.argmax(ok, axis=1)
    territory = np.where(ok, territory, territory[units, first][:, None])
    distance = np.where(ok, distance, distance[units, first][:, None])
    return territory, distance


def primary_metric(problem: Problem) -> int | None:
    """The first balance metric that has a finite band: the one the flow balances exactly."""
    for row in range(len(problem.metric_names)):
        if np.isfinite(problem.lower[row]).any() or np.isfinite(problem.upper[row]).any():
            return row
    return None


_PRICE_STEPS = 12  # flow re-solves that price the other balance rows (each ~30 ms on the sample's 2,775 units)
_PRICE_MARGIN = 0.1  # the prices aim this share of each band's half-width inside it, so rounding keeps it
_FLOOR_WEIGHT = 0.2  # with other metrics priced, a unit weighs at least this x the mean weight in the assignment


def _secondary_rows(problem: Problem) -> list[int]:
    """Banded metric rows other than the primary: the ones `flow_assignment` prices."""
    row = primary_metric(problem)
    banded = np.isfinite(problem.lower).any(axis=1) | np.isfinite(problem.upper).any(axis=1)
    return [r for r in np.flatnonzero(banded).tolist() if r != row] if row is not None else []


def flow_assignment(
    problem: Problem, arcs: Arcs, soft: bool = False, fixed: np.ndarray | None = None
) -> np.ndarray | None:
    """The balanced flow (see `_flow`) with every other banded metric priced in.

    The flow meets the primary metric's bands. Each other row's bands enter as a price per unit of that metric and
    territory, added to the arc costs (a Lagrangian price): a step from the best prices so far raises the price of a
    territory above its band (aimed `_PRICE_MARGIN` inside it) and lowers it below; a step that gives a worse flow is
    halved, one that gives a better flow grows by half. It ends when every such row is inside its aimed band or after
    `_PRICE_STEPS` flows, and returns the flow with the least band violation of those rows (then the lowest cost);
    the repair settles the rest. On the sample's rounds the first step mostly brings workload (±15 %) from indices
    such as 64-136 to inside its band.
    """
    territory = _flow(problem, arcs, soft, fixed)
    others = _secondary_rows(problem)
    if territory is None or not others:
        return territory
    metrics, lower, upper = problem.metrics[others], problem.lower[others], problem.upper[others]
    # A price scale per row: the average travel per unit of the metric (nearest arcs), and each band's target.
    nearest = arcs.cost[:, 0].sum()
    unit_price = nearest / np.maximum(np.abs(metrics).sum(axis=1), 1e-300)
    two_sided = np.isfinite(lower) & np.isfinite(upper)
    target = np.where(two_sided, (lower + upper) / 2, np.where(np.isfinite(upper), upper, lower))
    target = np.maximum(np.abs(target), band_scale(problem)[others] * 1e-9)
    # the band the prices aim at: a margin inside, so that the rounding and the primary's repair rarely leave it
    inset = np.where(two_sided, _PRICE_MARGIN * (upper - lower) / 2, _PRICE_MARGIN * 0.05 * target)
    lower, upper = lower + inset, upper - inset
    price = np.zeros_like(lower)
    step = 1.0
    best = None
    for _ in range(_PRICE_STEPS):
        totals = np.array([np.bincount(territory, weights=m, minlength=problem.n_territories) for m in metrics])
        excess = np.maximum(totals - upper, 0.0) - np.maximum(lower - totals, 0.0)
        violation = float(np.abs(excess / target).sum())
        own = _own_cost(territory, arcs)
        cost = float(own[np.isfinite(own)].sum())  # (a pinned unit off its arcs costs the same in every flow)
        if best is None or (violation, cost) < best[:2]:
            step *= 1.0 if best is None else 1.5  # it worked: a longer step from here
            best = (violation, cost, territory, price, excess)
        else:
            step /= 2  # overshot: back to the best prices, a shorter step
        if best[0] <= BAND_RTOL or step < 1 / 64:
            break
        # a step from the best prices so far along their excess: up where above the band, down where below
        price = best[3] + step * unit_price[:, None] * best[4] / target
        extra = np.einsum("ru,ruc->uc", metrics, price[:, arcs.territory])
        trial = _flow(problem, Arcs(arcs.territory, arcs.distance, arcs.cost + extra), soft, fixed)
        if trial is None:
            break
        territory = trial
    return best[2]


def _flow(problem: Problem, arcs: Arcs, soft: bool = False, fixed: np.ndarray | None = None) -> np.ndarray | None:
    """Optimal split assignment for the primary metric over the candidate arcs, rounded to the largest share.

    Returns None when the candidate arcs admit no flow meeting the bands (widen the arcs and retry). With `soft`,
    a territory may fall short of its lower band or exceed its upper one at a prohibitive cost per unit, so there
    is always a flow; it meets the bands whenever the arcs allow that. `fixed`: per unit a territory it stays in
    (-1: free); the bands left for the others shrink by what the fixed units bring.
    """
    n, k = problem.n_units, problem.n_territories
    row = primary_metric(problem)
    nearest = arcs.territory[:, 0].copy()
    if row is None:
        return nearest
    amount = problem.metrics[row]
    scale = _FLOW_TOTAL / max(amount.sum(), 1e-300)
    supply = np.rint(amount * scale).astype(np.int64)
    held = np.zeros(k)
    if fixed is not None:
        pinned = fixed >= 0
        nearest[pinned] = fixed[pinned]
        held = np.bincount(fixed[pinned], weights=amount[pinned], minlength=k)
        supply[pinned] = 0
    flowing = np.flatnonzero(supply > 0)
    if len(flowing) == 0:
        return nearest
    total = int(supply.sum())
    # Rounded supplies can miss a band that real amounts meet exactly: give each integer band the rounding slack
    # of a territory's worth of units (the repair step settles the real band afterwards).
    slack = int(np.ceil(0.5 * len(flowing) / k)) + 1
    band_lower = np.maximum(problem.lower[row], 0) - held
    lower = np.where(np.isfinite(problem.lower[row]), np.floor(np.maximum(band_lower, 0) * scale) - slack, 0)
    upper = np.where(np.isfinite(problem.upper[row]), np.ceil((problem.upper[row] - held) * scale) + slack, total)
    lower = np.maximum(lower, 0)
    lower = np.minimum(lower, upper).astype(np.int64)
    upper = np.minimum(upper, total).astype(np.int64)
    if not soft and (lower.sum() > total or upper.sum() < total):
        return None

    C = arcs.territory.shape[1]
    unit_cost = arcs.cost[flowing] / amount[flowing][:, None]
    cost_scale = _COST_MAX / max(unit_cost.max(), 1e-300)
    tails = np.repeat(flowing, C)
    heads = n + arcs.territory[flowing].ravel()
    caps = np.repeat(supply[flowing], C)
    costs = np.rint(unit_cost.ravel() * cost_scale).astype(np.int64)

    sink = n + k
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.add_arcs_with_capacity_and_unit_cost(
        np.arange(n, n + k), np.full(k, sink), (upper - lower).astype(np.int64), np.zeros(k, dtype=np.int64)
    )
    nodes = n + k + 1
    supplies = np.zeros(n + k + 2, dtype=np.int64)
    supplies[flowing] = supply[flowing]
    supplies[n : n + k] = -lower
    supplies[sink] = -(total - int(lower.sum()))
    if soft:
        # node `deficit` can stand in for up to every lower band (else its supply drains to the sink); every
        # territory can pass any excess over its upper band to the sink. Both at a cost no real arc reaches.
        deficit = nodes
        nodes += 1
        big = np.int64(100 * _COST_MAX)
        terr = np.arange(n, n + k)
        smcf.add_arcs_with_capacity_and_unit_cost(np.full(k, deficit), terr, lower, np.full(k, big))
        smcf.add_arcs_with_capacity_and_unit_cost(np.array([deficit]), np.array([sink]), np.array([int(lower.sum())]),
                                                  np.zeros(1, dtype=np.int64))  # fmt: skip
        smcf.add_arcs_with_capacity_and_unit_cost(terr, np.full(k, sink), np.full(k, total), np.full(k, big))
        supplies[deficit] = int(lower.sum())
        supplies[sink] -= int(lower.sum())
    smcf.set_nodes_supplies(np.arange(nodes), supplies[:nodes])
    if smcf.solve() != smcf.OPTIMAL:
        return None
    flows = smcf.flows(np.arange(len(tails))).reshape(len(flowing), C)
    territory = nearest
    territory[flowing] = arcs.territory[flowing, np.argmax(flows, axis=1)]
    if fixed is None and not soft:
        # A unit split across territories and bigger than twice a band's width (a big health system) breaks
        # the band wherever it is rounded to: fix such units where they went and let the flow rebalance the rest.
        split = flowing[(flows > 0).sum(axis=1) > 1]
        lumps = split[amount[split] > 2 * (problem.upper[row] - problem.lower[row]).min()]
        if len(lumps):
            pinned = np.full(n, -1)
            pinned[lumps] = territory[lumps]
            refit = _flow(problem, arcs, fixed=pinned)
            if refit is not None:
                return refit
    return territory


def _violation(problem: Problem, totals: np.ndarray, columns, scale: np.ndarray) -> np.ndarray:
    """Band excess of `totals` (territories `columns`), each metric in units of its band scale (the model's band
    test): a territory is outside where this exceeds BAND_RTOL."""
    return band_excess(problem, totals, columns) / scale


def repair_bands(
    problem: Problem, territory: np.ndarray, arcs: Arcs, max_moves: int | None = None, batch: bool = False
) -> np.ndarray:
    """Greedy moves that shrink total band violation, cheapest cost per unit of violation removed first.

    One move per pass, at most `max_moves` (default 4n). With `batch`, a pass applies every best move whose two
    territories no earlier move of the pass touched, and at most 500 passes run (what the optimizer uses on large
    instances; a residual violation is left to later rounds).
    """
    limit = max_moves if max_moves is not None else (min(4 * problem.n_units, 500) if batch else 4 * problem.n_units)
    if not batch:
        moves = BandMoves(problem, territory, arcs)
        for _ in range(limit):
            if not moves.make_best():
                break
        return moves.territory.copy()
    territory = territory.copy()
    metrics = problem.metrics
    scale = band_scale(problem)
    totals = territory_totals(problem, territory)
    own_cost = _own_cost(territory, arcs)
    for _ in range(limit):
        viol = _violation(problem, totals, slice(None), scale)
        if not (viol > BAND_RTOL).any():
            break
        # Only a move out of a territory above a band, or into one below a band, can shrink the violation.
        over = ((totals - problem.upper) / scale > BAND_RTOL).any(axis=0)
        under = ((problem.lower - totals) / scale > BAND_RTOL).any(axis=0)
        touches = over[territory][:, None] | under[arcs.territory]
        cand_u, cand_c = np.nonzero(touches & (arcs.territory != territory[:, None]))
        if len(cand_u) == 0:
            break
        src = territory[cand_u]
        dst = arcs.territory[cand_u, cand_c]
        gain = _excess_gain(problem, totals, viol, scale, cand_u, src, dst)
        ok = gain > 1e-12
        if not ok.any():
            break
        extra = arcs.cost[cand_u, cand_c] - own_cost[cand_u]
        score = np.where(ok, extra / np.maximum(gain, 1e-12), np.inf)
        # Apply the best moves whose two territories no earlier move of this pass touched, so their scores still
        # hold; cheapest first, up to the first score that is not finite.
        order = _cheapest(score, 20 * problem.n_territories + 20)
        finite = np.isfinite(score[order])
        order = order[: len(order) if finite.all() else int(np.argmin(finite))]
        # Plain lists: the loop visits hundreds of candidates a pass, most of them skipped. A unit moved earlier in
        # the pass is skipped by its pass-start territory as by its new one: both are touched.
        touched = [False] * problem.n_territories
        moves = (cand_u[order].tolist(), src[order].tolist(), dst[order].tolist(), cand_c[order].tolist())
        for u, s, t, c in zip(*moves, strict=True):
            if touched[s] or touched[t]:
                continue
            touched[s] = touched[t] = True
            totals[:, s] -= metrics[:, u]
            totals[:, t] += metrics[:, u]
            territory[u] = t
            own_cost[u] = arcs.cost[u, c]
    return territory


class BandMoves:
    """`repair_bands` one move at a time, scored incrementally.

    A move changes the totals of its two territories only, so only the arcs out of or into them change score:
    those are scored again (the same formula as `repair_bands`, so the same floats) and every other score is kept.
    The next move is the smallest score, ties by position (unit, then arc), as `repair_bands` takes it. A refresh
    that checks a budget after every move (`refresh._within_budget`) would otherwise score every arc per move:
    quadratic in the moves."""

    def __init__(self, problem: Problem, territory: np.ndarray, arcs: Arcs) -> None:
        self.problem = problem
        self.territory = territory.copy()
        self.arcs = Arcs(arcs.territory.copy(), arcs.distance.copy(), arcs.cost.copy())  # `pin` patches its rows
        self._scale = band_scale(problem)
        self._totals = territory_totals(problem, self.territory)
        self._own = _own_cost(self.territory, arcs)
        n, width = arcs.territory.shape
        self._width = width
        into = arcs.territory.ravel()
        self._into_order = np.argsort(into, kind="stable")  # arc positions grouped by the territory they lead to
        self._into_start = np.searchsorted(into[self._into_order], np.arange(problem.n_territories + 1))
        self._score = np.full(n * width, np.inf)
        self._rescore(np.arange(n * width))

    def best(self) -> int | None:
        """The position (unit x arcs' width + arc) of the next move, None when no move shrinks the violation."""
        position = int(np.argmin(self._score))
        return position if self._score[position] < np.inf else None

    def make_best(self) -> bool:
        """Make the next move; False when there is none."""
        position = self.best()
        if position is None:
            return False
        self.move(position)
        return True

    def destination(self, position: int) -> tuple[int, int]:
        """The unit the move at `position` moves, and the territory it moves to."""
        unit, arc = divmod(position, self._width)
        return unit, int(self.arcs.territory[unit, arc])

    def move(self, position: int) -> None:
        unit, dst = self.destination(position)
        arc = position % self._width
        src = int(self.territory[unit])
        self.territory[unit] = dst
        # From scratch, as `repair_bands` starts: added and taken away move by move, the totals drift in their last
        # bits, and a refresh checked move by move (`refresh._within_budget`) then makes other moves.
        self._totals = territory_totals(self.problem, self.territory)
        self._own[unit] = self.arcs.cost[unit, arc]
        rows = np.flatnonzero((self.territory == src) | (self.territory == dst))
        # a position listed twice is scored twice, to the same value
        self._rescore(np.concatenate([self._row_positions(rows), self._positions_into(src), self._positions_into(dst)]))

    def pin(self, centres: np.ndarray, units: np.ndarray) -> None:
        """Keep `units` where they are from now on, as a lock there would (`Arcs.pinned_rows`)."""
        arcs = self.arcs
        arcs.territory[units], arcs.distance[units], arcs.cost[units] = arcs.pinned_rows(
            self.problem, centres, units, self.territory[units]
        )
        self._own[units] = arcs.cost[units, 0]
        # A pinned row's arcs all lead to its own territory: never a candidate, so the stale index of where arcs
        # lead can only list extra positions, which are scored from the current arcs.
        self._rescore(self._row_positions(units))

    def _positions_into(self, territory: int) -> np.ndarray:
        return self._into_order[self._into_start[territory] : self._into_start[territory + 1]]

    def _row_positions(self, rows: np.ndarray) -> np.ndarray:
        return (rows[:, None] * self._width + np.arange(self._width)[None, :]).ravel()

    def _rescore(self, positions: np.ndarray) -> None:
        problem, totals, scale = self.problem, self._totals, self._scale
        unit, arc = np.divmod(positions, self._width)
        src, dst = self.territory[unit], self.arcs.territory[unit, arc]
        viol = _violation(problem, totals, slice(None), scale)
        over = ((totals - problem.upper) / scale > BAND_RTOL).any(axis=0)
        under = ((problem.lower - totals) / scale > BAND_RTOL).any(axis=0)
        gain = _excess_gain(problem, totals, viol, scale, unit, src, dst)
        ok = (over[src] | under[dst]) & (dst != src) & (gain > 1e-12)
        with np.errstate(invalid="ignore"):
            score = np.where(ok, (self.arcs.cost[unit, arc] - self._own[unit]) / np.maximum(gain, 1e-12), np.inf)
        self._score[positions] = np.where(np.isnan(score), np.inf, score)


def _excess_gain(
    problem: Problem,
    totals: np.ndarray,
    viol: np.ndarray,
    scale: np.ndarray,
    units: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
) -> np.ndarray:
    """How much moving each unit from src to dst alone would shrink the band excess of the two territories (in band
    scales; `viol`: `_violation` of `totals`)."""
    a = problem.metrics[:, units]
    before = viol[:, src].sum(axis=0) + viol[:, dst].sum(axis=0)
    after = _violation(problem, totals[:, src] - a, src, scale).sum(axis=0)
    after += _violation(problem, totals[:, dst] + a, dst, scale).sum(axis=0)
    return before - after


def _cheapest(score: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` smallest scores, ascending (ties by position), without sorting them all."""
    if len(score) <= count:
        return np.argsort(score, kind="stable")
    top = np.argpartition(score, count)[:count]
    return top[np.lexsort((top, score[top]))]


def _own_cost(territory: np.ndarray, arcs: Arcs) -> np.ndarray:
    """Each unit's cost in its own territory, via the arcs (inf when not among them)."""
    hit = arcs.territory == territory[:, None]
    return np.where(hit.any(axis=1), np.where(hit, arcs.cost, np.inf).min(axis=1), np.inf)


def improve_moves(problem: Problem, territory: np.ndarray, arcs: Arcs, rounds: int = 20) -> np.ndarray:
    """Single-unit moves to a nearer centre that keep every band satisfied (or no worse), until none is left."""
    territory = territory.copy()
    metrics = problem.metrics
    scale = band_scale(problem)
    totals = territory_totals(problem, territory)
    for _ in range(rounds):
        own = _own_cost(territory, arcs)
        saving = own[:, None] - arcs.cost
        cand_u, cand_c = np.nonzero((saving > 1e-9) & (arcs.territory != territory[:, None]))
        if len(cand_u) == 0:
            break
        # best savings first; a pass scans a bounded number of them (the next pass sees fresh totals)
        order = np.argsort(-saving[cand_u, cand_c], kind="stable")[: 8 * problem.n_territories + 64]
        u_all, src_all, dst_all = cand_u[order], territory[cand_u[order]], arcs.territory[cand_u[order], cand_c[order]]
        # A pass moves at most one unit in or out of each territory, so every move it makes sees the pass-start
        # totals of its two territories: whether it keeps the bands can be judged for all candidates at once.
        a = metrics[:, u_all]
        before = _violation(problem, totals[:, src_all], src_all, scale).sum(axis=0)
        before += _violation(problem, totals[:, dst_all], dst_all, scale).sum(axis=0)
        after = _violation(problem, totals[:, src_all] - a, src_all, scale).sum(axis=0)
        after += _violation(problem, totals[:, dst_all] + a, dst_all, scale).sum(axis=0)
        keeps = after <= before + 1e-12
        moved = 0
        touched = np.zeros(problem.n_territories, dtype=bool)
        for i in np.flatnonzero(keeps).tolist():
            u, src, dst = int(u_all[i]), int(src_all[i]), int(dst_all[i])
            if touched[src] or touched[dst]:
                continue  # re-evaluate next round with fresh totals
            totals[:, src] -= metrics[:, u]
            totals[:, dst] += metrics[:, u]
            territory[u] = dst
            touched[src] = touched[dst] = True
            moved += 1
        if moved == 0:
            break
    return territory
