"""Problem, Alignment and Result: the frozen, numpy-backed types the optimizer works on.

A `Problem` is built either from CSV data (see `problem.build_problem`) or straight from arrays, so public
benchmark instances run with no CSV in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from terrplan.geo import EARTH_RADIUS_KM, haversine_km

Geometry = Literal["haversine", "euclidean", "matrix"]


def _frozen(array: np.ndarray | None, dtype: type = np.float64) -> np.ndarray | None:
    if array is None:
        return None
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Rules:
    """What each unit may do beyond the bands: locks, forbidden territories, a distance limit, and the price of
    leaving its current territory (the soft disruption term of the objective).

    Attributes:
        locked: (n,) the territory a unit must be in, -1 where free.
        forbidden: (p,) sorted codes unit * K + territory of pairs that must not be used.
        max_distance: no unit farther than this from its territory's centre (inf: no limit). Hard where some
            allowed centre is close enough; a unit with none goes to its nearest allowed centre and is reported.
        home: (n,) the unit's current territory, -1 where it has none.
        move_cost: (n,) added to the objective when a unit with a home is placed elsewhere.
    """

    locked: np.ndarray
    forbidden: np.ndarray
    max_distance: float
    home: np.ndarray
    move_cost: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "locked", _frozen(self.locked, np.int64))
        object.__setattr__(self, "forbidden", _frozen(np.unique(np.asarray(self.forbidden, np.int64)), np.int64))
        object.__setattr__(self, "home", _frozen(self.home, np.int64))
        object.__setattr__(self, "move_cost", _frozen(self.move_cost))

    @classmethod
    def none(cls, n: int) -> Rules:
        """No rule for any of n units (start from this and replace fields)."""
        return cls(np.full(n, -1), np.zeros(0), np.inf, np.full(n, -1), np.zeros(n))

    def allowed(self, units: np.ndarray, territories: np.ndarray, k: int) -> np.ndarray:
        """Element-wise: may units[i] be in territories[i]? (locks and forbidden pairs; not the distance)"""
        units, territories = np.broadcast_arrays(np.asarray(units), np.asarray(territories))
        lock = self.locked[units]
        ok = (lock < 0) | (lock == territories)
        if len(self.forbidden):
            codes = units.astype(np.int64) * k + territories
            at = np.minimum(np.searchsorted(self.forbidden, codes), len(self.forbidden) - 1)
            ok &= self.forbidden[at] != codes
        return ok

    def move_penalty(self, units: np.ndarray, territories: np.ndarray) -> np.ndarray:
        """Element-wise disruption cost of placing units[i] in territories[i]."""
        units, territories = np.broadcast_arrays(np.asarray(units), np.asarray(territories))
        home = self.home[units]
        return np.where((home >= 0) & (home != territories), self.move_cost[units], 0.0)


@dataclass(frozen=True, eq=False)
class Members:
    """The accounts inside units that hold several (keep-together groups, ZIP or county units), so that such a
    unit's travel is its members' own, sum_m w_m d(m, centre), not its total weight times its centroid's distance.

    Attributes:
        indptr: (n + 1,) members of unit u are rows indptr[u]:indptr[u + 1] (none for single-account units).
        coords: (M, 2) each member's location, in the problem's geometry.
        weights: (M,) each member's objective weight; a unit's weight is the sum of its members'.
        apart: the members may end in different territories (ZIP units made for size alone, refined account by
            account after the solve: the location step of a large universe). A unit's travel is then its weight
            times its own location's distance, and bounds take off the members' spread (`member_spread`), which
            keeps them valid for the accounts (`solve.bound.apart_problem`).
    """

    indptr: np.ndarray
    coords: np.ndarray
    weights: np.ndarray
    apart: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "indptr", _frozen(self.indptr, np.int64))
        object.__setattr__(self, "coords", _frozen(self.coords))
        object.__setattr__(self, "weights", _frozen(self.weights))

    @classmethod
    def of_units(
        cls, unit_of: np.ndarray, coords: np.ndarray, weights: np.ndarray, n_units: int, apart: bool = False
    ) -> Members:
        """From each account's unit: units with two or more accounts keep them as members."""
        counts = np.bincount(unit_of, minlength=n_units)
        kept = np.flatnonzero(counts[unit_of] > 1)
        kept = kept[np.argsort(unit_of[kept], kind="stable")]
        indptr = np.r_[0, np.cumsum(np.where(counts > 1, counts, 0))]
        return cls(indptr, coords[kept], weights[kept], apart)


@dataclass(frozen=True, eq=False)
class Homes:
    """Each territory's rep home, and what distance from it to the territory's centre costs (the home term).

    The objective adds sum_t weight[t] x distance(home t, centre of t): a rep who lives far from their territory's
    centre drives that much farther on a share of their trips. The term is >= 0 and none of the lower bounds sees
    it, so they stay valid lower bounds on the objective with it.

    Attributes:
        coords: (K, 2) territory t's rep's home, in the problem's geometry (any value where weight[t] is 0).
        weight: (K,) price of one unit of distance from home t to t's centre (0: no rep, no term).
    """

    coords: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        weight = np.asarray(self.weight, dtype=np.float64)
        coords = np.where(weight[:, None] > 0, np.asarray(self.coords, dtype=np.float64), 0.0)
        object.__setattr__(self, "coords", _frozen(coords))
        object.__setattr__(self, "weight", _frozen(weight))


@dataclass(frozen=True, eq=False)
class Problem:
    """A balanced territory-design instance.

    Units are what the optimizer moves (accounts, ZIPs, clusters). Each territory has a centre at a *site*:
    in p-median mode (`fixed_sites is None`) the sites are the units themselves and the solver chooses one per
    territory; with fixed sites (e.g. rep homes) territory k is centred at site k.

    Attributes:
        n_territories: K.
        weights: (n,) objective weight per unit; the objective is sum(weight * distance to its centre).
        metrics: (m, n) balance metric values per unit (e.g. potential, workload, 1 per account).
        metric_names: m names, for messages and outputs.
        lower, upper: (m, K) band per metric and territory; -inf / +inf where unbounded.
        coords: (n, 2) lat/lon in degrees (haversine) or x/y (euclidean); None for a matrix.
        geometry: how distances are measured.
        distances: (n, n_sites) explicit distance matrix when geometry == "matrix".
        fixed_sites: (K, 2) fixed centre coordinates, or None for p-median.
        floor_distances: round distances down to integers (the OR-Library capacitated p-median convention).
        rules: locks, forbidden pairs, a distance limit and disruption costs per unit, or None.
        members: the accounts of multi-account units, whose travel is then measured per account; or None.
        homes: each territory's rep home and the weight of its distance to the centre in the objective; or None.
    """

    n_territories: int
    weights: np.ndarray
    metrics: np.ndarray
    metric_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    coords: np.ndarray | None = None
    geometry: Geometry = "haversine"
    distances: np.ndarray | None = None
    fixed_sites: np.ndarray | None = None
    floor_distances: bool = False
    rules: Rules | None = None
    members: Members | None = None
    homes: Homes | None = None
    _xyz: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "weights", _frozen(self.weights))
        metrics = np.atleast_2d(np.asarray(self.metrics, dtype=np.float64))
        set_(self, "metrics", _frozen(metrics))
        set_(self, "lower", _frozen(np.broadcast_to(np.asarray(self.lower, float), self.band_shape)))
        set_(self, "upper", _frozen(np.broadcast_to(np.asarray(self.upper, float), self.band_shape)))
        set_(self, "coords", _frozen(self.coords))
        set_(self, "distances", _frozen(self.distances))
        set_(self, "fixed_sites", _frozen(self.fixed_sites))
        set_(self, "metric_names", tuple(self.metric_names))
        self._check_shapes()

    @property
    def n_units(self) -> int:
        return int(self.weights.shape[0])

    @property
    def band_shape(self) -> tuple[int, int]:
        return (len(self.metric_names), self.n_territories)

    @property
    def fixed(self) -> bool:
        return self.fixed_sites is not None

    @property
    def banded(self) -> bool:
        """Does a band limit some territory (a finite lower or upper limit on some metric)?"""
        return bool(np.isfinite(self.lower).any() or np.isfinite(self.upper).any())

    @property
    def n_sites(self) -> int:
        if self.fixed_sites is not None:
            return int(self.fixed_sites.shape[0])
        if self.distances is not None:
            return int(self.distances.shape[1])
        return self.n_units

    def _check_shapes(self) -> None:
        n, m, k = self.n_units, len(self.metric_names), self.n_territories
        if k < 1:
            raise ValueError(f"n_territories must be at least 1, got {k}")
        if self.metrics.shape != (m, n):
            raise ValueError(f"metrics has shape {self.metrics.shape}, expected {(m, n)}")
        if self.geometry == "matrix":
            if self.distances is None or self.distances.shape[0] != n:
                raise ValueError("geometry 'matrix' needs distances with one row per unit")
        elif self.coords is None or self.coords.shape != (n, 2):
            raise ValueError(f"geometry '{self.geometry}' needs coords of shape {(n, 2)}")
        if self.fixed_sites is not None and self.fixed_sites.shape[0] != k:
            raise ValueError("fixed_sites needs one site per territory")
        if self.fixed_sites is None and self.n_sites < k:
            raise ValueError(f"{k} territories need at least {k} candidate centres, got {self.n_sites}")
        if self.rules is not None and self.rules.locked.shape != (n,):
            raise ValueError(f"rules cover {self.rules.locked.shape[0]} units, expected {n}")
        if self.members is not None and (self.geometry == "matrix" or self.members.indptr.shape != (n + 1,)):
            raise ValueError(f"members need coordinates and an indptr of {n + 1} entries")
        if self.homes is not None and (self.geometry == "matrix" or self.homes.coords.shape != (k, 2)):
            raise ValueError(f"homes need coordinates, one per territory ({k})")

    # -- geometry -------------------------------------------------------------------------------------------

    def site_coords(self) -> np.ndarray | None:
        """(n_sites, 2) coordinates of the candidate centres, or None for a matrix."""
        if self.fixed_sites is not None:
            return self.fixed_sites
        return self.coords

    def unit_points(self) -> np.ndarray:
        """Points in a Euclidean space whose nearest-neighbour order matches the problem's distances.

        For lat/lon this is the unit sphere in 3-D (chord length is monotone in great-circle distance).
        """
        return _embed(self.coords, self.geometry)

    def site_points(self) -> np.ndarray:
        return _embed(self.site_coords(), self.geometry)

    def distance(self, units: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """Element-wise distance between units[i] and sites[i] (broadcasting)."""
        units = np.asarray(units)
        sites = np.asarray(sites)
        if self.geometry == "matrix":
            d = self.distances[units, sites]
        else:
            a = self.coords[units]
            b = self.site_coords()[sites]
            d = _point_distance(a, b, self.geometry)
        return np.floor(d) if self.floor_distances else d

    def distance_matrix(self, units: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """(len(units), len(sites)) distances."""
        units = np.asarray(units)
        sites = np.asarray(sites)
        return self.distance(units[:, None], sites[None, :])

    def travel(self, units: np.ndarray, sites: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
        """Element-wise weighted travel of units[i] to sites[i] (broadcasting): weight x distance, or for a unit
        with members the sum of its members' weight x distance. `distance`: the units' distances, if known."""
        units, sites = np.asarray(units), np.asarray(sites)
        cost = self.weights[units] * (self.distance(units, sites) if distance is None else distance)
        if self.members is None or self.members.apart:
            return cost
        units, sites = np.broadcast_arrays(units, sites)
        grouped = np.flatnonzero(self._has_members()[units].ravel())
        if len(grouped) == 0:
            return cost
        unit, site = units.ravel()[grouped], sites.ravel()[grouped]
        indptr = self.members.indptr
        start, length = indptr[unit], indptr[unit + 1] - indptr[unit]
        pair = np.repeat(np.arange(len(grouped)), length)
        member = start[pair] + np.arange(len(pair)) - np.repeat(np.cumsum(length) - length, length)
        d = self._member_distance(self.members.coords[member], self.site_coords()[site[pair]])
        cost = np.array(np.broadcast_to(cost, units.shape)).reshape(-1)
        cost[grouped] = np.bincount(pair, weights=self.members.weights[member] * d, minlength=len(grouped))
        return cost.reshape(units.shape)

    def travel_matrix(self, units: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """(len(units), len(sites)) weighted travel."""
        units, sites = np.asarray(units), np.asarray(sites)
        cost = self.weights[units][:, None] * self.distance_matrix(units, sites)
        if self.members is None or self.members.apart:
            return cost
        indptr = self.members.indptr
        for row in np.flatnonzero(self._has_members()[units]):  # row by row: no units x sites x members array
            rows = slice(indptr[units[row]], indptr[units[row] + 1])
            d = self._member_distance(self.members.coords[rows][:, None], self.site_coords()[sites][None, :])
            cost[row] = self.members.weights[rows] @ d
        return cost

    def home_cost(self, territories: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """Element-wise home term of territory territories[i] centred at sites[i] (broadcasting; 0 without homes)."""
        territories, sites = np.broadcast_arrays(np.asarray(territories), np.asarray(sites))
        if self.homes is None:
            return np.zeros(territories.shape)
        d = self._member_distance(self.homes.coords[territories], self.site_coords()[sites])
        return self.homes.weight[territories] * d

    def member_spread(self) -> np.ndarray:
        """(n,) sum over each unit's members of weight x distance to the unit's own location (0 without members)."""
        spread = np.zeros(self.n_units)
        if self.members is not None:
            unit = np.repeat(np.arange(self.n_units), np.diff(self.members.indptr))
            d = self._member_distance(self.members.coords, self.coords[unit])
            spread += np.bincount(unit, weights=self.members.weights * d, minlength=self.n_units)
        return spread

    def _has_members(self) -> np.ndarray:
        assert self.members is not None
        return self.members.indptr[1:] > self.members.indptr[:-1]

    def _member_distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = _point_distance(a, b, self.geometry)
        return np.floor(d) if self.floor_distances else d


def _point_distance(a: np.ndarray, b: np.ndarray, geometry: Geometry) -> np.ndarray:
    if geometry == "haversine":
        return haversine_km(a[..., 0], a[..., 1], b[..., 0], b[..., 1])
    return np.sqrt(((a - b) ** 2).sum(axis=-1))


def _embed(coords: np.ndarray | None, geometry: Geometry) -> np.ndarray:
    if coords is None:
        raise ValueError("a distance-matrix problem has no coordinates")
    if geometry == "euclidean":
        return np.asarray(coords, dtype=np.float64)
    lat = np.radians(coords[:, 0])
    lon = np.radians(coords[:, 1])
    return EARTH_RADIUS_KM * np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


@dataclass(frozen=True, eq=False)
class Alignment:
    """unit -> territory (0..K-1), and each territory's centre site."""

    territory: np.ndarray
    centres: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "territory", _frozen(self.territory, np.int64))
        object.__setattr__(self, "centres", _frozen(self.centres, np.int64))


Status = Literal["optimal", "feasible", "infeasible", "unknown"]


@dataclass(frozen=True, eq=False)
class Result:
    """What `solve` returns: the alignment, its objective, and how good it provably is."""

    alignment: Alignment
    objective: float
    lower_bound: float | None
    status: Status
    runtime_s: float
    iterations: int = 0
    message: str = ""

    @property
    def gap(self) -> float | None:
        """Relative gap (objective - bound) / objective, or None without a bound."""
        if self.lower_bound is None:
            return None
        if self.objective <= 0:
            return 0.0
        return max(0.0, (self.objective - self.lower_bound) / self.objective)


def objective(problem: Problem, alignment: Alignment) -> float:
    """sum(weight * distance(unit, centre of its territory)), plus the disruption cost of units that left home,
    plus the home term (each rep's home to their territory's centre, see `Homes`)."""
    units = np.arange(problem.n_units)
    sites = alignment.centres[alignment.territory]
    travel = float(problem.travel(units, sites).sum())
    return travel + disruption_cost(problem, alignment.territory) + home_term(problem, alignment.centres)


def home_term(problem: Problem, centres: np.ndarray) -> float:
    """The objective's price for reps living away from their territory's centre (0 without homes; see `Homes`)."""
    if problem.homes is None:
        return 0.0
    return float(problem.home_cost(np.arange(problem.n_territories), np.asarray(centres)).sum())


def disruption_cost(problem: Problem, territory: np.ndarray) -> float:
    """The objective's price for units placed outside their current territory (0 without rules)."""
    if problem.rules is None:
        return 0.0
    return float(problem.rules.move_penalty(np.arange(problem.n_units), territory).sum())


def territory_totals(problem: Problem, territory: np.ndarray) -> np.ndarray:
    """(m, K) sum of each balance metric per territory."""
    totals = np.zeros(problem.band_shape)
    for row in range(len(problem.metric_names)):
        totals[row] = np.bincount(territory, weights=problem.metrics[row], minlength=problem.n_territories)
    return totals


# The one band test. A total is inside its band when it lies beyond neither bound by more than BAND_RTOL times its
# row's scale (rounding noise); every command, the solver and contiguity decide "in band" with these functions.
BAND_RTOL = 1e-9


def band_scale(problem: Problem) -> np.ndarray:
    """(m, 1) the unit band excess is measured in, per metric row: the row's largest finite |bound| (at least 1).

    Infinite bounds (no minimum, no maximum) never enter it, so a row bounded on one side only keeps a finite scale."""
    bounds = np.concatenate([problem.lower, problem.upper], axis=1)
    finite = np.where(np.isfinite(bounds), np.abs(bounds), 0.0)
    return np.maximum(finite.max(axis=1, initial=0.0), 1.0)[:, None]


def band_excess(problem: Problem, totals: np.ndarray, columns: np.ndarray | slice = slice(None)) -> np.ndarray:
    """(m, c) amount by which each total lies below its lower or above its upper bound (0 inside), in the
    metric's own units. `totals` holds the territories `columns` (default all K, in order; repeats allowed)."""
    lower, upper = problem.lower[:, columns], problem.upper[:, columns]
    return np.maximum(lower - totals, 0.0) + np.maximum(totals - upper, 0.0)


def outside_band(problem: Problem, totals: np.ndarray) -> np.ndarray:
    """(m, K) True where a territory total (from `territory_totals`) is outside its band beyond rounding noise."""
    return band_excess(problem, totals) > BAND_RTOL * band_scale(problem)


def in_band(problem: Problem, territory: np.ndarray) -> np.ndarray:
    """(K,) True for each territory whose every metric total lies inside its band."""
    return ~outside_band(problem, territory_totals(problem, territory)).any(axis=0)


def band_violation(problem: Problem, territory: np.ndarray) -> np.ndarray:
    """(m, K) amount by which each territory total lies outside its band (0 inside)."""
    return band_excess(problem, territory_totals(problem, territory))


def bands_hold(problem: Problem, territory: np.ndarray) -> bool:
    """Is every territory inside every band?"""
    return bool(in_band(problem, territory).all())


def one_band(problem: Problem) -> bool:
    """Every territory has the same band in every metric: then which territory a centre serves does not matter."""
    return bool((problem.lower == problem.lower[:, :1]).all() and (problem.upper == problem.upper[:, :1]).all())


def subproblem(problem: Problem, units: np.ndarray, territories: np.ndarray) -> Problem:
    """The part of `problem` where only `units` move, among `territories` only: local unit i is units[i] and local
    territory j is territories[j], with their bands, rules, members and homes.

    An alignment of the subproblem, put back in place of those units' and territories' part of a full alignment
    that assigns exactly these units to these territories, changes the full objective by exactly the change of the
    subproblem's objective: travel, the home term and the disruption term all add up per unit and per territory.
    A unit whose current territory (rules.home) is not among `territories` pays its move cost wherever it goes, the
    same before and after: the subproblem leaves that constant out (its home is -1 there).
    Distance-matrix problems need their sites to be their units (p-median on a square matrix)."""
    units = np.asarray(units, dtype=np.int64)
    territories = np.asarray(territories, dtype=np.int64)
    k = len(territories)
    distances = None
    if problem.geometry == "matrix":
        assert problem.distances is not None
        if problem.fixed or problem.distances.shape[1] != problem.n_units:
            raise ValueError("a distance-matrix subproblem needs the units to be the sites")
        distances = problem.distances[np.ix_(units, units)]
    local = np.full(problem.n_territories + 1, k, dtype=np.int64)  # other territories (and -1) -> k: never here
    local[territories] = np.arange(k)
    rules = None
    if problem.rules is not None:
        rules = _sub_rules(problem.rules, units, territories, local, problem.n_territories)
    homes = None
    if problem.homes is not None:
        homes = Homes(problem.homes.coords[territories], problem.homes.weight[territories])
    return Problem(
        n_territories=k,
        weights=problem.weights[units],
        metrics=problem.metrics[:, units],
        metric_names=problem.metric_names,
        lower=problem.lower[:, territories],
        upper=problem.upper[:, territories],
        coords=None if problem.coords is None else problem.coords[units],
        geometry=problem.geometry,
        distances=distances,
        fixed_sites=None if problem.fixed_sites is None else problem.fixed_sites[territories],
        floor_distances=problem.floor_distances,
        rules=rules,
        members=members_of(problem.members, units),
        homes=homes,
    )


def _sub_rules(rules: Rules, units: np.ndarray, territories: np.ndarray, local: np.ndarray, n_k: int) -> Rules:
    """`rules` for a subproblem (see `subproblem`): ids renumbered, pairs outside it dropped."""
    k = len(territories)
    locked = rules.locked[units]
    if ((locked >= 0) & (local[locked] == k)).any():
        raise ValueError("a unit of the subproblem is locked to a territory outside it")
    position = np.full(int(units.max(initial=-1)) + 1, -1, dtype=np.int64)
    position[units] = np.arange(len(units))
    unit, territory = np.divmod(rules.forbidden, n_k)
    inside = (unit < len(position)) & (local[territory] < k)
    inside[inside] &= position[unit[inside]] >= 0
    forbidden = position[unit[inside]] * k + local[territory[inside]]
    return Rules(
        locked=np.where(locked >= 0, local[locked], -1),
        forbidden=forbidden,
        max_distance=rules.max_distance,
        home=np.where((rules.home[units] >= 0) & (local[rules.home[units]] < k), local[rules.home[units]], -1),
        move_cost=rules.move_cost[units],
    )


def members_of(members: Members | None, units: np.ndarray) -> Members | None:
    """The members of `units` only, renumbered with them (None stays None)."""
    if members is None:
        return None
    start, stop = members.indptr[units], members.indptr[units + 1]
    rows = np.concatenate([np.arange(a, b) for a, b in zip(start, stop, strict=True)] or [np.zeros(0, np.int64)])
    indptr = np.r_[0, np.cumsum(stop - start)]
    return Members(indptr, members.coords[rows], members.weights[rows], members.apart)
