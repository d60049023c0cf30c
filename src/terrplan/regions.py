"""Remote regions: units cut off from the rest by a gap wider than `units.remote_gap_km` (Hawaii, Alaska, Puerto
Rico, Guam, island groups), and the rules that keep them whole.

Detection is a pure function of the units' coordinates: single-linkage components at the gap, i.e. the connected
components of the graph joining every two units at most `gap` apart. It is built without any all-pairs step: a
k-nearest-neighbour graph gives components, and components are merged (Borůvka rounds) while one has another unit
within the gap, which each round finds with a KD-tree. The component with the most balance metric (weight) is the
mainland; every other one is a remote region.

Rules per region, with the band [L, U] of one territory and the region's weight W (the primary balance metric):
- W <= U: the region is never split: all of it goes to one territory (its own when W >= L, so no other unit may
  join; else one it shares, which fills up from elsewhere).
- W > U, a whole number k of bands fits (kL <= W <= kU): k territories of its own.
- otherwise k own territories hold what they can and the rest is either exported to one territory shared with the
  mainland (the units whose move costs least per unit of weight) or, when that moves less weight, the region gets
  k + 1 territories centred in it and one of them imports the missing weight from the mainland.
A region of several own territories is split by solving it as a sub-problem; every region unit is then locked to
its part and the other units near it are forbidden from the region's own territories (`model.Rules`), so the main
solve sees ordinary locks and forbidden pairs. A region whose units already carry rules is left to those rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from terrplan.budget import TimeBudget
from terrplan.config import DEFAULT_REMOTE_GAP_KM
from terrplan.errors import InfeasibleError
from terrplan.geo import EARTH_RADIUS_KM, haversine_km
from terrplan.model import Problem, Rules, members_of
from terrplan.solve import SolveParams, solve
from terrplan.solve.assign import primary_metric

DEFAULT_GAP_KM = DEFAULT_REMOTE_GAP_KM
_NEIGHBOURS = 8  # k of the nearest-neighbour graph the components start from
_SMALL = 4096  # a component this small finds its nearest outside unit among its own size + 1 nearest units
_FORBID_TERRITORIES, _FORBID_LEAST = 4, 32  # free units kept out of a region's own territories (see _nearest_free)
_ANCHOR = 1.1  # mainland weight locked with a shared territory's region part, per unit of it (see _anchor)
# Clock cap of a region's sub-solve (its work limits normally end it first): at most this many seconds, and with the
# run's budget at most this share of what is left of it, so the regions leave the main solve most of the run.
_SUBPROBLEM_S, _SUBPROBLEM_SHARE = 10.0, 0.1


@dataclass(frozen=True)
class Detection:
    """Per unit its component (0 = mainland, 1.. = remote regions, ordered by their first unit)."""

    label: np.ndarray
    gap_km: float

    @property
    def n_regions(self) -> int:
        return int(self.label.max(initial=0))

    def members(self, region: int) -> np.ndarray:
        return np.flatnonzero(self.label == region)


@dataclass(frozen=True)
class RegionPlan:
    """What one remote region gets. `mode`: whole (in one territory), own (k whole territories), export (k own, the
    rest in one territory shared with the mainland), import (k own plus one region-centred shared territory), or
    left (not enforced, `reason` says why)."""

    name: str
    units: int
    weight: float
    share: float  # of the total weight
    mode: str
    own: int  # territories of its own (no other unit)
    shared: int  # territories it shares with the mainland (0 or 1)
    moved: float  # weight exported from it or imported into it
    territories: tuple[int, ...] = ()  # ids it was given (own first, then the shared one)
    reason: str = ""
    members: tuple[int, ...] = ()  # its units

    def fields(self, metric: str, names: list[str]) -> dict[str, object]:
        """summary.json's entry: `names` are the territories its units ended up in."""
        return {
            "name": self.name,
            "units": self.units,
            "metric": metric,
            "weight": round(self.weight, 6),
            "weight_share": round(self.share, 8),
            "kept_whole": self.mode != "left",
            "mode": self.mode,
            "own_territories": self.own,
            "shared_territories": self.shared,
            "moved": round(self.moved, 6),
            "territories": names,
            "reason": self.reason,
        }

    def describe(self, metric: str = "weight") -> str:
        """One line for the log, e.g. 'HI: 94 units, 0.43% of potential, 2 own territories and 1 shared with the
        mainland (exports 46,011.3)'."""
        if self.mode == "left":
            return f"{self.name}: {self.units} units, {self.share:.2%} of {metric}, not kept whole ({self.reason})"
        got = f"{self.own} own territor{'y' if self.own == 1 else 'ies'}"
        if self.shared:
            got += " and 1 shared with the mainland"
            verb = "exports" if self.mode == "export" else "imports"
            if self.mode in ("export", "import"):
                got += f" ({verb} {self.moved:,.6g})"
        return f"{self.name}: {self.units} units, {self.share:.2%} of {metric}, {got}"


# -- detection ------------------------------------------------------------------------------------------------------


def detect(coords: np.ndarray, weights: np.ndarray, gap_km: float, geometry: str = "haversine") -> Detection:
    """Single-linkage components of the units at `gap_km` (lat/lon degrees for haversine, else plain x/y in the
    gap's units); the heaviest component (ties: the one with the first unit) is 0, the others 1.. in order of their
    first unit."""
    n = len(coords)
    if n == 0:
        return Detection(np.zeros(0, dtype=np.int64), gap_km)
    points = _points(np.asarray(coords, dtype=np.float64), geometry)
    reach = _chord(gap_km) if geometry == "haversine" else float(gap_km)
    tree = cKDTree(points)
    comp = _knn_components(tree, points, reach)
    comp = _merge_close(tree, points, comp, reach)
    return Detection(_order(comp, np.asarray(weights, dtype=np.float64)), gap_km)


def _points(coords: np.ndarray, geometry: str) -> np.ndarray:
    if geometry != "haversine":
        return coords
    lat, lon = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    return EARTH_RADIUS_KM * np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _chord(km: float) -> float:
    """The straight-line length of a great-circle arc of `km` (what the 3-D tree measures)."""
    return float(2 * EARTH_RADIUS_KM * np.sin(min(km / (2 * EARTH_RADIUS_KM), np.pi / 2)))


def _knn_components(tree: cKDTree, points: np.ndarray, reach: float) -> np.ndarray:
    n = len(points)
    k = min(_NEIGHBOURS + 1, n)
    dist, idx = tree.query(points, k=k)
    dist, idx = dist.reshape(n, k), idx.reshape(n, k)
    keep = dist <= reach
    rows = np.repeat(np.arange(n), k)[keep.ravel()]
    cols = idx.ravel()[keep.ravel()]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _merge_close(tree: cKDTree, points: np.ndarray, comp: np.ndarray, reach: float) -> np.ndarray:
    """Borůvka rounds: every component but the largest finds its nearest unit outside it; pairs within `reach`
    merge, until no component has another within reach."""
    n = len(points)
    while True:
        sizes = np.bincount(comp)
        present = np.flatnonzero(sizes)
        if len(present) <= 1:
            return comp
        largest = present[np.argmax(sizes[present])]
        order = np.argsort(comp, kind="stable")
        starts = np.r_[0, np.cumsum(sizes)]
        rows, cols = [], []
        for c in present:
            if c == largest:
                continue
            members = order[starts[c] : starts[c + 1]]
            other = _nearest_outside(tree, points, comp, members, reach)
            if other >= 0:
                rows.append(int(c))
                cols.append(int(comp[other]))
        if not rows:
            return comp
        m = int(comp.max()) + 1
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
        merged = connected_components(graph, directed=False)[1]
        comp = merged[comp]
        assert len(comp) == n


def _nearest_outside(tree: cKDTree, points: np.ndarray, comp: np.ndarray, members: np.ndarray, reach: float) -> int:
    """A unit outside `members`' component within `reach` of one of them (the nearest such pair), or -1."""
    own = comp[members[0]]
    if len(members) <= _SMALL:
        k = min(len(members) + 1, len(points))
        dist, idx = tree.query(points[members], k=k, distance_upper_bound=reach)
        dist, idx = dist.reshape(len(members), k), idx.reshape(len(members), k)
        found = np.isfinite(dist)
        outside = np.zeros_like(found)
        outside[found] = comp[idx[found]] != own
        if not outside.any():
            return -1
        flat = np.where(outside, dist, np.inf)
        r, c = np.unravel_index(int(np.argmin(flat)), flat.shape)
        return int(idx[r, c])
    rest = np.flatnonzero(comp != own)
    dist, idx = cKDTree(points[rest]).query(points[members], distance_upper_bound=reach)
    if not np.isfinite(dist).any():
        return -1
    return int(rest[idx[int(np.argmin(dist))]])


def _order(comp: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Relabel: the heaviest component 0, the rest 1.. by first unit."""
    _, first, inverse = np.unique(comp, return_index=True, return_inverse=True)
    totals = np.bincount(inverse, weights=np.maximum(weights, 0.0))
    mainland = int(np.argmax(totals))  # argmax takes the first of equals; components are numbered by first unit
    others = [c for c in np.argsort(first, kind="stable") if c != mainland]
    relabel = np.empty(len(first), dtype=np.int64)
    relabel[mainland] = 0
    relabel[np.array(others, dtype=np.int64)] = np.arange(1, len(others) + 1)
    return relabel[inverse]


def find(problem: Problem, gap_km: float) -> Detection | None:
    """The remote regions of a lat/lon problem by its primary balance metric (`detect`, then `absorb_small`); None
    for other geometries or without a banded metric."""
    row = primary_metric(problem)
    if problem.geometry != "haversine" or row is None:
        return None
    amount = problem.metrics[row]
    found = detect(problem.coords, amount, gap_km)
    if found.n_regions == 0:
        return found
    low = float(np.where(np.isfinite(problem.lower[row]), problem.lower[row], 0.0).max())
    return absorb_small(problem.unit_points(), amount, found, low)


def absorb_small(points: np.ndarray, amount: np.ndarray, found: Detection, least: float) -> Detection:
    """Regions lighter than `least` (one territory's minimum) whose nearest other component is a remote region
    join it (an island group beside Alaska is served from Alaska, not from the mainland); the lightest first."""
    label = found.label.copy()
    while True:
        regions = [r for r in np.unique(label) if r != 0]
        weights = {r: float(amount[label == r].sum()) for r in regions}
        small = sorted((r for r in regions if weights[r] < least), key=lambda r: (weights[r], r))
        for r in small:
            members = np.flatnonzero(label == r)
            rest = np.flatnonzero(label != r)
            nearest = rest[cKDTree(points[rest]).query(points[members])[1]]
            d = ((points[members] - points[nearest]) ** 2).sum(axis=1)
            target = int(label[nearest[int(np.argmin(d))]])
            if target != 0:
                label[members] = target
                break
        else:
            break
    _, label = np.unique(label, return_inverse=True)  # 0 stays the mainland; the rest renumbered in order
    return Detection(label.astype(np.int64), found.gap_km)


def region_name(coords: np.ndarray, members: np.ndarray, labels: np.ndarray | None = None) -> str:
    """A region's name: the labels (e.g. states) of its units, most first, else its bounding box."""
    if labels is not None:
        values, counts = np.unique(np.asarray(labels, dtype=str)[members], return_counts=True)
        order = np.lexsort((values, -counts))
        named = [str(values[i]) for i in order if str(values[i]).strip()]
        if named:
            return "+".join(named[:4]) + ("+…" if len(named) > 4 else "")
    lat, lon = coords[members, 0], coords[members, 1]
    return f"lat {lat.min():.1f}..{lat.max():.1f}, lon {lon.min():.1f}..{lon.max():.1f}"


# -- rules ----------------------------------------------------------------------------------------------------------


def keep_whole(
    problem: Problem,
    gap_km: float | None,
    labels: np.ndarray | None = None,
    seed: int = 0,
    budget: TimeBudget | None = None,
) -> tuple[Problem, tuple[RegionPlan, ...]]:
    """`problem` with rules that keep each remote region whole (see the module notes), and what each region got.

    `labels`: per unit a name part (e.g. its state) for the regions' names. `budget`: the run's, which the
    regions' sub-solves draw from (see _SUBPROBLEM_SHARE); without one each gets _SUBPROBLEM_S seconds. Problems
    without lat/lon, with fixed centres, or without a banded metric are returned unchanged (no plan)."""
    if gap_km is None or problem.geometry != "haversine" or problem.fixed or problem.n_units < 2:
        return problem, ()
    row = primary_metric(problem)
    if row is None:
        return problem, ()
    amount = problem.metrics[row]
    found = find(problem, gap_km)
    if found is None or found.n_regions == 0:
        return problem, ()
    k = problem.n_territories
    rules = problem.rules if problem.rules is not None else Rules.none(problem.n_units)
    locked = rules.locked.copy()
    forbidden = [rules.forbidden]
    taken = _ids_in_rules(rules, k)
    total = float(amount.sum())
    plans = []
    for region in range(1, found.n_regions + 1):
        members = found.members(region)
        name = region_name(problem.coords, members, labels)
        order = _preference(problem, members)
        plan, parts = _plan(problem, row, found, region, name, total, taken, rules, seed, order, budget)
        plans.append(plan)
        if parts is None:
            continue
        taken.update(plan.territories)
        locked[members] = parts
        if plan.shared:
            shared = plan.territories[plan.own]
            held = members[parts == shared]
            _anchor(problem, row, locked, found.label == 0, shared, held, plan.mode == "import")
        if plan.own:
            near = _nearest_free(problem, locked, members)
            for t in plan.territories[: plan.own]:
                forbidden.append(near * k + t)
    new_rules = Rules(locked, np.concatenate(forbidden), rules.max_distance, rules.home, rules.move_cost)
    return dataclasses.replace(problem, rules=new_rules), tuple(plans)


def _nearest_free(problem: Problem, locked: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The free units nearest the region, sorted: _FORBID_TERRITORIES territories' worth of units (by count), and
    at least _FORBID_LEAST. They are forbidden from its own territories: a unit only ever joins one of its nearest
    centres (or, to fill a band, a centre joins its nearest units), so farther units cannot reach a region's centre,
    and forbidding every unit would make the rules checks scale with all units x territories."""
    free = np.flatnonzero(locked < 0)
    count = min(len(free), _FORBID_TERRITORIES * -(-problem.n_units // problem.n_territories) + _FORBID_LEAST)
    if count == len(free):
        return free
    points = problem.unit_points()
    dist = cKDTree(points[members]).query(points[free])[0]
    return np.sort(free[np.lexsort((free, dist))[:count]])


def _anchor(
    problem: Problem, row: int, locked: np.ndarray, mainland: np.ndarray, shared: int, held: np.ndarray, fill: bool
) -> None:
    """Lock to the shared territory, in place, the free mainland units nearest its region units (`held`).

    Serving the region from the mainland costs about its weight x the gap, serving mainland units from the region
    about theirs: so when the region holds half the territory's minimum or more (or `fill`: an import), the territory
    is centred in the region and is filled to its band here with the mainland units nearest it (no flow has to reach
    across the gap); else mainland units of a little more than its weight (a quarter of the minimum at least) are
    locked with it so that its centre starts on the mainland, where the assignment fills it up (twice its weight
    cost 0.25 % more on the hospitals at K = 100: anchors bind the mainland design)."""
    amount = problem.metrics[row]
    low, high = float(problem.lower[row, shared]), float(problem.upper[row, shared])
    low = low if np.isfinite(low) else 0.0
    have = float(amount[held].sum())
    free = np.flatnonzero(mainland & (locked < 0))
    if len(free) == 0 or len(held) == 0 or low <= 0:
        return
    fill = fill or have >= low / 2
    target, cap = (low - have, high - have) if fill else (min(max(_ANCHOR * have, low / 4), low - have), low - have)
    points = problem.unit_points()
    dist = cKDTree(points[held]).query(points[free])[0]
    taken = 0.0
    for unit in free[np.lexsort((free, dist))]:
        if taken >= target:
            break
        if taken + amount[unit] <= cap:
            locked[unit] = shared
            taken += float(amount[unit])


def _ids_in_rules(rules: Rules, k: int) -> set[int]:
    """Territory ids the problem's own locks already name (a region cannot own a territory a lock puts other units
    in; forbidden pairs and current territories do not stop it)."""
    return set(rules.locked[rules.locked >= 0].tolist())


def _plan(
    problem: Problem,
    row: int,
    found: Detection,
    region: int,
    name: str,
    total: float,
    taken: set[int],
    rules: Rules,
    seed: int,
    order: np.ndarray,
    budget: TimeBudget | None = None,
) -> tuple[RegionPlan, np.ndarray | None]:
    """The region's plan and per member its territory id (None when the region is left alone). `order`: the
    territory ids, the ones it should get first."""
    members = found.members(region)
    amount = problem.metrics[row]
    weight = float(amount[members].sum())
    share = weight / total if total > 0 else 0.0
    base = RegionPlan(name, len(members), weight, share, "left", 0, 0, 0.0, members=tuple(members.tolist()))
    lower, upper = problem.lower[row], problem.upper[row]
    low = float(np.max(np.where(np.isfinite(lower), lower, 0.0)))
    high = float(np.min(upper))
    if _has_rules(rules, members, problem.n_territories):
        return dataclasses.replace(base, reason="its units carry rules of their own"), None
    slack = 1e-9 * max(high if np.isfinite(high) else 1.0, 1.0)
    if weight <= high + slack:
        ids = _free_ids(taken, order, 1)
        if ids is None:
            return dataclasses.replace(base, reason="no territory left for it"), None
        own = weight >= low - slack
        plan = dataclasses.replace(base, mode="whole", own=int(own), shared=int(not own), territories=tuple(ids))
        return plan, np.full(len(members), ids[0], dtype=np.int64)
    count = int(np.ceil(weight / high - 1e-12))
    if count * low <= weight + slack:
        return _split(problem, row, members, base, "own", count, 0, 0.0, taken, seed, order, budget)
    export = weight - (count - 1) * high
    imported = count * low - weight
    if export <= imported:
        return _split(problem, row, members, base, "export", count - 1, 1, export, taken, seed, order, budget)
    return _split(problem, row, members, base, "import", count - 1, 1, imported, taken, seed, order, budget)


def _has_rules(rules: Rules, members: np.ndarray, k: int) -> bool:
    """Does a lock or a forbidden pair already name one of the region's units? (A current territory, priced by a
    move cost, does not: it only orders the ids the region gets.)"""
    if (rules.locked[members] >= 0).any():
        return True
    return bool(len(rules.forbidden)) and bool(np.isin(rules.forbidden // k, members).any())


def _free_ids(taken: set[int], order: np.ndarray, count: int) -> list[int] | None:
    """The first `count` territory ids of `order` that no rule names yet."""
    ids = [int(t) for t in order if int(t) not in taken][:count]
    return ids if len(ids) == count else None


def _preference(problem: Problem, members: np.ndarray) -> np.ndarray:
    """Territory ids in the order a region should get them: those most of its weight is in today first (when a
    current alignment is priced), then those whose rep lives nearest it (when rep homes are priced), then the rest
    from the last id down (so a user's T01, T02 ... stay free)."""
    k = problem.n_territories
    ids = np.arange(k)
    current = np.zeros(k)
    if problem.rules is not None:
        home = problem.rules.home[members]
        weight = np.maximum(problem.weights[members], 0.0) + 1e-12
        current = np.bincount(home[home >= 0], weights=weight[home >= 0], minlength=k)
    d = np.full(k, np.inf)
    homes = getattr(problem, "homes", None)
    if homes is not None:
        hub = problem.coords[members].mean(axis=0)  # only orders the reps: any point of the region serves
        rep = np.asarray(homes.coords, dtype=np.float64)
        d = np.where(np.asarray(homes.weight) > 0, haversine_km(rep[:, 0], rep[:, 1], hub[0], hub[1]), np.inf)
    return np.lexsort((-ids, d, -current))


def _split(
    problem: Problem,
    row: int,
    members: np.ndarray,
    base: RegionPlan,
    mode: str,
    own: int,
    shared: int,
    moved: float,
    taken: set[int],
    seed: int,
    order: np.ndarray,
    budget: TimeBudget | None = None,
) -> tuple[RegionPlan, np.ndarray | None]:
    """Own territories (and a shared one) for a region too big for one: parts by a sub-solve of the region."""
    ids = _free_ids(taken, order, own + shared)
    if ids is None:
        return dataclasses.replace(base, reason="no territory left for it"), None
    lower, upper = problem.lower[:, ids], problem.upper[:, ids]
    parts = np.full(len(members), -1, dtype=np.int64)
    inside = np.arange(len(members))
    if mode == "export":
        out = _exported(problem, row, members, moved, base.weight - own * float(np.max(lower[row, :own])))
        if out is None:
            return dataclasses.replace(base, reason="no set of its units fits the export"), None
        parts[out] = ids[own]
        inside = np.flatnonzero(parts < 0)
        lower, upper = lower[:, :own], upper[:, :own]
    elif mode == "import":
        # the shared territory fills up from the mainland: its region part is what the own ones leave, so they are
        # kept in the lower half of their band and the import stays near its least
        lower, upper = lower.copy(), upper.copy()
        lower[:, own] = 0.0
        upper[row, :own] = lower[row, :own] + (upper[row, :own] - lower[row, :own]) / 4
    count = lower.shape[1]
    if count == 1:
        parts[inside] = ids[0]
    else:
        split = _sub_solve(problem, members[inside], count, lower, upper, seed, budget)
        if split is None:
            return dataclasses.replace(base, reason=f"no split into {count} territories within the band"), None
        parts[inside] = np.asarray(ids)[split]
    plan = dataclasses.replace(base, mode=mode, own=own, shared=shared, moved=moved, territories=tuple(ids))
    return plan, parts


def _exported(problem: Problem, row: int, members: np.ndarray, least: float, most: float) -> np.ndarray | None:
    """Positions (into `members`) of the units to export: at least `least` and at most `most` weight, taking first
    those whose move costs least per unit of weight (distance to the nearest mainland unit minus distance to the
    region's weighted centre)."""
    amount = problem.metrics[row][members]
    points = problem.unit_points()
    outside = np.setdiff1d(np.arange(problem.n_units), members)
    _, nearest = cKDTree(points[outside]).query(points[members])
    to_mainland = problem.distance(members, outside[nearest])
    w = np.maximum(amount, 0.0) + 1e-12
    mean = (points[members] * w[:, None]).sum(axis=0) / w.sum()
    hub = members[int(np.argmin(((points[members] - mean) ** 2).sum(axis=1)))]
    to_hub = problem.distance(members, np.full(len(members), hub))
    order = np.lexsort((np.arange(len(members)), to_mainland - to_hub))
    chosen, held = [], 0.0
    for i in order:
        if held >= least:
            break
        if held + amount[i] <= most:
            chosen.append(int(i))
            held += float(amount[i])
    return np.array(sorted(chosen), dtype=np.int64) if held >= least else None


def _sub_solve(
    problem: Problem,
    units: np.ndarray,
    count: int,
    lower: np.ndarray,
    upper: np.ndarray,
    seed: int,
    budget: TimeBudget | None = None,
) -> np.ndarray | None:
    """Territory (0..count-1) per unit of a region solved on its own, or None when the bands cannot be met."""
    sub = Problem(
        n_territories=count,
        weights=problem.weights[units],
        metrics=problem.metrics[:, units],
        metric_names=problem.metric_names,
        lower=lower,
        upper=upper,
        coords=problem.coords[units],
        geometry=problem.geometry,
        floor_distances=problem.floor_distances,
        members=members_of(problem.members, units),
    )
    try:
        own = TimeBudget.of(_SUBPROBLEM_S)
        limit = own if budget is None else budget.share(_SUBPROBLEM_SHARE).until(own.deadline)
        result = solve(sub, SolveParams(seed=seed, lower_bound=False), limit)
    except InfeasibleError:  # the necessary conditions already fail: the region cannot be split this way
        return None
    return result.alignment.territory if result.status != "unknown" else None


# -- what the result gave ---------------------------------------------------------------------------------------------


def outcome(found: Detection, territory: np.ndarray) -> list[tuple[int, int]]:
    """Per remote region (1..): (territories its units are in, how many of those also hold other units)."""
    out = []
    for region in range(1, found.n_regions + 1):
        inside = found.label == region
        ts = np.unique(territory[inside])
        mixed = np.unique(territory[~inside])
        out.append((len(ts), int(np.isin(ts, mixed).sum())))
    return out
