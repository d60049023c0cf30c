"""The Lagrangian bound never exceeds the optimum: small random instances against enumeration."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrplan.model import Members, Problem, Rules
from terrplan.solve import bound


def exact_optimum(problem: Problem) -> float:
    """Optimum by enumeration: every assignment meeting the bands x every injective choice of centre sites."""
    n, k = problem.n_units, problem.n_territories
    assignments = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int64)  # (k^n, n)
    member = (assignments[:, :, None] == np.arange(k)).astype(float)  # (k^n, n, k)
    totals = np.einsum("mn,tnk->tmk", problem.metrics, member)
    ok = ((totals >= problem.lower[None] - 1e-9) & (totals <= problem.upper[None] + 1e-9)).all(axis=(1, 2))
    if not ok.any():
        return np.inf
    cost = problem.travel_matrix(np.arange(n), np.arange(problem.n_sites))
    per_site = np.einsum("tnk,ns->tks", member[ok], cost)  # territory k centred at site s
    if problem.fixed:
        return float(per_site[:, np.arange(k), np.arange(k)].sum(axis=1).min())
    best = np.inf
    for centres in itertools.permutations(range(problem.n_sites), k):
        best = min(best, float(per_site[:, np.arange(k), list(centres)].sum(axis=1).min()))
    return best


@st.composite
def instances(draw) -> tuple[Problem, np.ndarray]:
    n = draw(st.integers(3, 7))
    k = draw(st.integers(1, min(3, n)))
    ints = st.integers(0, 9)
    coords = np.array(draw(st.lists(st.tuples(ints, ints), min_size=n, max_size=n)), dtype=float)
    weights = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=float)
    metric = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=float)
    mean = metric.sum() / k
    slack = np.array(draw(st.lists(st.sampled_from([0.0, 0.2, 0.5, 1.0, np.inf]), min_size=k, max_size=k)))
    lower = mean * (1 - np.minimum(slack, 1.0))
    upper = np.where(np.isinf(slack), np.inf, mean * (1 + np.where(np.isinf(slack), 0.0, slack)))  # 0 x inf: no band
    fixed = draw(st.booleans())
    sites = np.array(draw(st.lists(st.tuples(ints, ints), min_size=k, max_size=k)), dtype=float) if fixed else None
    members = None
    if draw(st.booleans()):  # every unit holds two accounts elsewhere, splitting its weight: travel is theirs
        spots = np.array(draw(st.lists(st.tuples(ints, ints), min_size=2 * n, max_size=2 * n)), dtype=float)
        share = np.array(draw(st.lists(st.sampled_from([0.0, 0.3, 0.5, 1.0]), min_size=n, max_size=n)))
        split = np.column_stack([share * weights, (1 - share) * weights]).ravel()
        members = Members.of_units(np.repeat(np.arange(n), 2), spots, split, n)
    problem = Problem(
        n_territories=k,
        weights=weights,
        metrics=metric[None, :],
        metric_names=("m",),
        lower=lower[None, :],
        upper=upper[None, :],
        coords=coords,
        geometry="euclidean",
        fixed_sites=sites,
        members=members,
    )
    start = np.array(draw(st.lists(st.floats(0, 60, allow_nan=False), min_size=n, max_size=n)))
    return problem, start


@pytest.mark.parametrize("layout", ["dense", "sparse", "sparse-radius"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=instances(), slack=st.sampled_from([1.0, 1.3]))
def test_bound_never_exceeds_the_optimum(monkeypatch, layout: str, case, slack: float) -> None:
    problem, start = case
    if layout.startswith("sparse"):  # every site in the sparse layout, each unit listing only its nearest two sites
        monkeypatch.setattr(bound, "_DENSE_CELLS", 0)
        monkeypatch.setattr(bound, "_MIN_LIST", 2)
        monkeypatch.setattr(bound, "_MAX_LIST", 2)
    if layout == "sparse-radius":  # each site also lists its nearest two units: far units priced from its radius
        monkeypatch.setattr(bound, "_REVERSE_SHARE", 1.0)
        monkeypatch.setattr(bound, "_RADIUS_BUCKETS", 3)
    optimum = exact_optimum(problem)
    if not np.isfinite(optimum):
        return
    # the bound aims at the upper bound it is given: the optimum itself is the hardest target
    result = bound.lagrangian(problem, optimum * slack, start, time_limit_s=60.0, max_iter=60)
    assert result.value <= optimum + 1e-6 * max(1.0, optimum)


def test_bound_is_deterministic() -> None:
    rng = np.random.default_rng(5)
    n = 60
    metric = rng.uniform(1, 3, n)
    band = metric.sum() / 4
    problem = Problem(
        n_territories=4,
        weights=rng.uniform(0.5, 2, n),
        metrics=metric[None, :],
        metric_names=("m",),
        lower=0.9 * band,
        upper=1.1 * band,
        coords=rng.uniform(0, 10, (n, 2)),
        geometry="euclidean",
    )
    runs = [bound.lagrangian(problem, 100.0, np.ones(n), 60.0, 50) for _ in range(2)]
    assert runs[0].value == runs[1].value
    assert np.array_equal(runs[0].sites, runs[1].sites)


def test_a_bound_with_time_for_it_sees_every_pair_of_a_larger_relaxation(monkeypatch) -> None:
    """Past the always-dense size, a bound whose clock covers the dense steps runs the dense layout: the very value
    an always-dense bound gives; a short clock, or a relaxation past the timed size, keeps the sparse lists."""
    problem = _random_problem(4, 200, 5, members=False)  # 40,000 sites x units
    always = bound.lagrangian(problem, 1e4, np.ones(200), time_limit_s=600.0, max_iter=40)
    monkeypatch.setattr(bound, "_DENSE_CELLS", 20_000)  # 40,000 cells: past it, within 3 times it
    assert bound.large_relaxation(problem)
    assert bound.sparse_layout(problem, 0.01) and not bound.sparse_layout(problem, 600.0)
    timed = bound.lagrangian(problem, 1e4, np.ones(200), time_limit_s=600.0, max_iter=40)
    assert (timed.value, timed.sites.tolist()) == (always.value, always.sites.tolist())
    monkeypatch.setattr(bound, "_DENSE_CELLS", 10_000)  # 40,000 cells: past 3 times it
    assert bound.sparse_layout(problem, 600.0)
    assert isinstance(bound._Relaxation.build(problem, dense=False), bound._SparseRelaxation)


def test_site_sums_gives_empty_sites_zero() -> None:
    # sites 0, 2 and 5 have no entries: at the start, between two others and at the end
    indptr = np.array([0, 0, 2, 2, 3, 5, 5])
    padded = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 0.0])
    assert bound._site_sums(padded, indptr).tolist() == [0.0, 3.0, 0.0, 4.0, 24.0, 0.0]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("clipped", [True, False])
def test_float32_floors_stay_under_the_exact_sums(seed: int, clipped: bool) -> None:
    """The sparse layout's floors (`_Floors`) sum in float32 and take off more than float32 can have added: never
    above the exact sum of min(c_i - lam_i - theta a_i, 0) over a site's entries, and close to it. Costs span six
    orders of magnitude, a site lists up to 3,000 entries, prices have both signs; lam inside [0, cap] (the sparse
    layout's clip) or outside it."""
    rng = np.random.default_rng(seed)
    n_units, n_sites = 400, 30
    counts = rng.integers(0, 3000, n_sites)
    counts[rng.integers(n_sites)] = 0  # a site without entries
    indptr = np.r_[0, np.cumsum(counts)]
    unit = rng.integers(0, n_units, indptr[-1])
    cost = rng.lognormal(10.0, 3.0, indptr[-1]) * rng.uniform(0.999, 1.001)
    amount = rng.lognormal(3.0, 1.5, indptr[-1])
    cap = rng.lognormal(10.0, 3.0, n_units)
    lam = rng.uniform(0.0, 1.0, n_units) * cap if clipped else rng.normal(0.0, 1.0, n_units) * 2 * cap
    theta = rng.normal(0.0, 1.0, n_sites) * np.exp(rng.uniform(-5, 5, n_sites))
    floors = bound._Floors.build(indptr, unit, cost, amount, cap)
    got = floors.sums(floors.reduced(lam), theta)
    terms = np.minimum(cost - lam[unit] - np.repeat(theta, counts) * amount, 0.0)
    exact = np.array([math.fsum(terms[a:b]) for a, b in itertools.pairwise(indptr)])
    assert (got <= exact).all()
    scale = np.array([math.fsum(np.abs(cost[a:b]) + np.abs(lam[unit[a:b]])) for a, b in itertools.pairwise(indptr)])
    assert (exact - got <= 1e-3 * scale + 1e-6).all()  # a margin, not a loss of the floor


def _random_problem(seed: int, n: int, k: int, members: bool) -> Problem:
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.0, n)
    metric = rng.lognormal(0.0, 0.7, n)
    band = metric.sum() / k
    coords = rng.uniform(0, 100, (n, 2))
    grouped = None
    if members:  # each unit holds three accounts around it
        spots = np.repeat(coords, 3, axis=0) + rng.normal(0, 2.0, (3 * n, 2))
        grouped = Members.of_units(np.repeat(np.arange(n), 3), spots, np.repeat(weights / 3, 3), n)
    return Problem(
        n_territories=k,
        weights=weights,
        metrics=metric[None, :],
        metric_names=("m",),
        lower=0.9 * band,
        upper=1.1 * band,
        coords=coords,
        geometry="euclidean",
        members=grouped,
    )


@pytest.mark.parametrize("members", [False, True])
def test_sparse_relaxation_never_above_the_dense_one(monkeypatch, members: bool) -> None:
    """At any multipliers the sparse layout is a relaxation of the dense one (far units priced lower, filler copies
    extra), so its value is never above it: checked at random multipliers and along a subgradient run."""
    problem = _random_problem(3, 150, 6, members)
    dense = bound._Relaxation.build(problem)
    monkeypatch.setattr(bound, "_DENSE_CELLS", 0)
    monkeypatch.setattr(bound, "_MIN_LIST", 8)
    monkeypatch.setattr(bound, "_MAX_LIST", 8)
    monkeypatch.setattr(bound, "_REVERSE_SHARE", 2.0)
    monkeypatch.setattr(bound, "_RADIUS_BUCKETS", 4)
    sparse = bound._Relaxation.build(problem)
    assert isinstance(sparse, bound._SparseRelaxation) and not isinstance(dense, bound._SparseRelaxation)
    rng = np.random.default_rng(0)
    for _ in range(20):
        lam = sparse.clip(rng.uniform(0, 1, len(sparse.cap)) * sparse.cap * rng.uniform(0.1, 1.0))
        reference = float(dense.evaluate(lam)[0])
        assert float(sparse.evaluate(lam)[0]) <= reference + 1e-9 * abs(reference)
    seen: list[float] = []
    evaluate = bound._SparseRelaxation.evaluate

    def checked(self, lam):
        out = evaluate(self, lam)
        reference = float(dense.evaluate(lam)[0])
        seen.append(float(out[0]) - reference - 1e-9 * abs(reference))
        return out

    monkeypatch.setattr(bound._SparseRelaxation, "evaluate", checked)
    bound.lagrangian(problem, 1e4, 5.0 * problem.weights, 60.0, 60)
    assert len(seen) > 10 and max(seen) <= 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spots=st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=6, max_size=6),
    metric=st.lists(st.integers(1, 6), min_size=6, max_size=6),
    k=st.integers(2, 3),
)
def test_island_bound_never_exceeds_the_optimum(monkeypatch, spots, metric, k) -> None:
    """The bound stays under the enumerated optimum with a remote island: four units on a 'mainland' and two on an
    island 2,000 km away, lat/lon, the sparse layout with its clusters of sites."""
    monkeypatch.setattr(bound, "_SPATIAL_CLUSTERS", 2)
    monkeypatch.setattr(bound, "_DENSE_CELLS", 0)
    monkeypatch.setattr(bound, "_MIN_LIST", 3)
    monkeypatch.setattr(bound, "_MAX_LIST", 3)
    base = np.array([[40.0, -100.0]] * 4 + [[21.0, -157.0]] * 2)
    coords = base + np.array(spots)
    amount = np.array(metric, dtype=float)
    band = amount.sum() / k
    problem = Problem(
        n_territories=k,
        weights=np.ones(6),
        metrics=amount[None, :],
        metric_names=("m",),
        lower=0.7 * band,
        upper=1.3 * band,
        coords=coords,
        geometry="haversine",
    )
    optimum = exact_optimum(problem)
    if not np.isfinite(optimum):
        return
    relax = bound._Relaxation.build(problem)
    assert isinstance(relax, bound._SparseRelaxation) and len(np.unique(relax.bucket)) > 1
    result = bound.lagrangian(problem, optimum, np.full(6, 100.0), 60.0, 60)
    assert result.value <= optimum + 1e-6 * max(1.0, optimum)


@pytest.mark.parametrize(("geometry", "members", "floored"), [("euclidean", True, False), ("haversine", False, True)])
def test_spatial_fillers_never_overprice_a_pair(monkeypatch, geometry: str, members: bool, floored: bool) -> None:
    """Every (site, unit) pair the sparse layout does not list is priced by the site's filler at or below its true
    travel: the clusters' triangle-inequality estimates (with floored distances too) never overprice a far unit."""
    problem = _random_problem(11, 400, 8, members)
    if geometry == "haversine":  # three blobs a continent apart, lat/lon
        rng = np.random.default_rng(3)
        spots = np.array([[40.0, -100.0], [21.0, -157.0], [61.0, -150.0]])
        coords = spots[rng.integers(0, 3, problem.n_units)] + rng.normal(0, 2.0, (problem.n_units, 2))
        problem = dataclasses.replace(problem, coords=coords, geometry="haversine", floor_distances=floored)
    monkeypatch.setattr(bound, "_DENSE_CELLS", 0)
    monkeypatch.setattr(bound, "_MIN_LIST", 8)
    monkeypatch.setattr(bound, "_MAX_LIST", 8)
    monkeypatch.setattr(bound, "_SPATIAL_CLUSTERS", 4)
    relax = bound._Relaxation.build(problem)
    assert isinstance(relax, bound._SparseRelaxation) and len(relax.far) > 2 * bound._RADIUS_BUCKETS
    listed = np.zeros((problem.n_sites, len(relax.units)), dtype=bool)
    listed[relax.entry_site, relax.entry_unit] = True
    site, unit = np.nonzero(~listed)
    price = relax.far[relax.bucket[site], unit]
    assert (price <= problem.travel(relax.units[unit], site) + 1e-9).all()
    assert (price > relax.cap[unit] + 1e-9).mean() > 0.3  # the clusters do price far units higher


def _with_locks(problem: Problem, locked: np.ndarray) -> Problem:
    return dataclasses.replace(problem, rules=dataclasses.replace(Rules.none(problem.n_units), locked=locked))


def exact_locked_optimum(problem: Problem) -> float:
    """`exact_optimum` over the assignments that keep every lock: each locked unit is in its territory."""
    locked = problem.rules.locked
    free = np.flatnonzero(locked < 0)
    best = np.inf
    # enumerate the free units' territories; the locked ones are fixed, so the enumeration is over the free ones
    for combo in itertools.product(range(problem.n_territories), repeat=len(free)):
        territory = locked.copy()
        territory[free] = combo
        member = (territory[:, None] == np.arange(problem.n_territories)).astype(float)
        totals = problem.metrics @ member
        if not ((totals >= problem.lower - 1e-9) & (totals <= problem.upper + 1e-9)).all():
            continue
        cost = problem.travel_matrix(np.arange(problem.n_units), np.arange(problem.n_sites)).T @ member  # (S, K)
        if problem.fixed:
            best = min(best, float(np.trace(cost)))
            continue
        for centres in itertools.permutations(range(problem.n_sites), problem.n_territories):
            best = min(best, float(cost[list(centres), np.arange(problem.n_territories)].sum()))
    return best


@pytest.mark.parametrize("layout", ["dense", "sparse"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=instances(), locks=st.lists(st.integers(-1, 2), min_size=7, max_size=7), slack=st.sampled_from([1.0, 1.3]))
def test_bound_with_locked_units_priced_apart_never_exceeds_the_optimum(monkeypatch, layout, case, locks, slack):
    """Territories with locked units priced with their centre, their bands lowered by what the locked units hold:
    still under the enumerated optimum that keeps the locks (fixed and free sites, members, several bands)."""
    problem, start = case
    monkeypatch.setattr(bound, "_territory_reach", lambda problem: 0.0)  # every locked group priced with its centre
    if layout == "sparse":
        monkeypatch.setattr(bound, "_DENSE_CELLS", 0)
        monkeypatch.setattr(bound, "_MIN_LIST", 2)
        monkeypatch.setattr(bound, "_MAX_LIST", 2)
    locked = np.array(locks[: problem.n_units])
    problem = _with_locks(problem, np.where(locked < problem.n_territories, locked, -1))
    optimum = exact_locked_optimum(problem)
    if not np.isfinite(optimum):  # the enumeration found no assignment keeping the bands and the locks
        return
    result = bound.lagrangian(problem, optimum * slack, start, time_limit_s=60.0, max_iter=60)
    assert result.value <= optimum + 1e-6 * max(1.0, optimum)


def test_an_exported_island_group_is_priced_at_its_trip() -> None:
    """Five mainland units and three on an island 100 away, one each, four territories of exactly 2: the island
    keeps two (1 apart) and exports its third with the nearest mainland unit (99 across), the other four mainland
    units pair up (1 each): 102, by hand. With those locks (what `regions.keep_whole` writes) the bound proves it;
    relaxed as free units, the sites' fractional opening (1.5 sites on the island) hides the crossing."""
    coords = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [100, 0], [100, 1], [101, 0]], dtype=float)
    problem = Problem(
        n_territories=4,
        weights=np.ones(8),
        metrics=np.ones((1, 8)),
        metric_names=("m",),
        lower=np.full((1, 4), 2.0),
        upper=np.full((1, 4), 2.0),
        coords=coords,
        geometry="euclidean",
    )
    problem = _with_locks(problem, np.array([-1, -1, -1, -1, 1, 0, 0, 1]))
    assert exact_locked_optimum(problem) == pytest.approx(102.0)
    start = np.full(8, 10.0)
    relax = bound._Relaxation.build(problem)
    # the crossing pair, 99 at its best centre, travels past a territory's reach (1); the island pair (1) does not
    assert relax.groups is not None and relax.groups.territories.tolist() == [1]
    assert relax.groups.cost.min(axis=1).tolist() == pytest.approx([99.0])
    assert bound.lagrangian(problem, 102.0, start, 60.0, 300).value == pytest.approx(102.0, rel=1e-6)
    free = dataclasses.replace(problem, rules=None)
    assert bound.lagrangian(free, 102.0, start, 60.0, 300).value < 10.0


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(0, 5), min_size=1, max_size=40), count=st.integers(1, 45))
def test_smallest_is_the_stable_sorts_prefix(values, count) -> None:
    """The groups' partial order: the first `count` of a stable argsort, ties in index order."""
    values = np.array(values, dtype=float)
    assert bound._smallest(values, count).tolist() == np.argsort(values, kind="stable")[:count].tolist()


def test_a_bound_its_cap_ends_keeps_its_patience_and_a_clock_cut_one_halves_its_step_sooner():
    now = bound.time.perf_counter()
    # no clock, or one that leaves room for 3/4 of the cap: the run repeats exactly, whatever the machine
    assert bound._patience(10, now - 10.0, now + 1e9, 300) == bound._PATIENCE
    assert bound._patience(10, now - 10.0, now + 300.0, 400) == bound._PATIENCE  # 310 of 400 steps
    # 10 steps in 10 s, 140 s left: about 150 of 300 steps, one non-improving step in 30 of them
    assert bound._patience(10, now - 10.0, now + 140.0, 300) == 5
    assert bound._patience(10, now - 10.0, now + 440.0, 1000) == 15
    assert bound._patience(10, now - 10.0, now + 10.0, 300) == bound._PATIENCE_MIN  # the least it goes
