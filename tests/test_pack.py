"""Band repair by exact packing (solve/pack.py): heavy-tailed units that the flow leaves outside their bands are
packed back inside every band, only inside the repaired group, the same way every run."""

from __future__ import annotations

import dataclasses

import numpy as np

from terrplan.budget import TimeBudget
from terrplan.model import Alignment, Problem, Rules, bands_hold, in_band, objective
from terrplan.solve import pack


def heavy_tailed(giant: float = 0.45) -> tuple[Problem, np.ndarray, np.ndarray]:
    """Four territories at +-5 % on a plane; six giants (`giant` of a territory's mean each) in one corner, 60 small
    units spread out. The start puts three giants in territory 0 (over its band) and none in territory 3."""
    rng = np.random.default_rng(4)
    small = rng.uniform(0, 100, size=(60, 2))
    giants = rng.uniform(0, 5, size=(6, 2))
    coords = np.concatenate([giants, small])
    k = 4
    mean_small = 1.0
    small_units = rng.uniform(0.5, 1.5, size=60) * mean_small
    band = small_units.sum() / (k - 6 * giant)  # the mean territory once the giants are in
    metric = np.concatenate([np.full(6, giant * band), small_units])
    mean = metric.sum() / k
    problem = Problem(
        n_territories=k,
        weights=metric.copy(),
        metrics=metric[None, :],
        metric_names=("potential",),
        lower=0.95 * mean,
        upper=1.05 * mean,
        coords=coords,
        geometry="euclidean",
    )
    territory = np.concatenate([[0, 0, 0, 1, 1, 2], np.arange(60) % k])
    centres = np.array([0, 3, 5, 6 + 3])  # each territory's centre is one of its own units
    return problem, territory, centres


def test_packing_puts_every_territory_in_band_and_repeats():
    problem, territory, centres = heavy_tailed()
    assert not in_band(problem, territory)[0] and not bands_hold(problem, territory)
    packed = pack.repair(problem, territory, centres, seed=1, budget=TimeBudget.of(60))
    assert bands_hold(problem, packed.territory)
    assert packed.groups >= 1
    assert (packed.territory[centres] == np.arange(4)).all()  # centres stay in their territories
    assert packed.value == objective(problem, Alignment(packed.territory, centres))
    again = pack.repair(problem, territory, centres, seed=1, budget=TimeBudget.of(60))
    np.testing.assert_array_equal(again.territory, packed.territory)


def test_packing_leaves_an_impossible_group_as_it_was():
    """Giants of 0.6 of a territory: two never fit in one band, and six do not go into four territories one each.
    No packing exists; nothing changes."""
    problem, territory, centres = heavy_tailed(giant=0.6)
    packed = pack.repair(problem, territory, centres, seed=1, budget=TimeBudget.of(60))
    np.testing.assert_array_equal(packed.territory, territory)
    assert not bands_hold(problem, packed.territory)


def test_packing_keeps_the_distance_limit_and_a_metric_with_nothing_in_the_group():
    """A distance limit no centre can be reached past, and a second balanced metric that is zero for every unit of
    the group with a band of [0, 1]: the packing holds both (no crash on a zero total, no unit past the limit)."""
    problem, territory, centres = heavy_tailed()
    centre_points = problem.coords[centres]
    reach = np.sqrt(((problem.coords[:, None, :] - centre_points[None, :, :]) ** 2).sum(axis=2))
    limit = float(np.sort(reach, axis=1)[:, 1].max())  # every unit has its two nearest centres within the limit
    zero = np.zeros((1, problem.n_units))
    limited = dataclasses.replace(
        problem,
        metrics=np.concatenate([problem.metrics, zero]),
        metric_names=("potential", "nothing"),
        lower=np.concatenate([problem.lower, np.zeros((1, 4))]),
        upper=np.concatenate([problem.upper, np.ones((1, 4))]),
        rules=dataclasses.replace(Rules.none(problem.n_units), max_distance=limit),
    )
    packed = pack.repair(limited, territory, centres, seed=1, budget=TimeBudget.of(60))
    assert bands_hold(limited, packed.territory)
    travelled = reach[np.arange(problem.n_units), packed.territory]
    assert travelled.max() <= limit + 1e-9


def test_a_group_that_failed_is_not_modelled_again():
    """Every anchor of the impossible instance above lies in the same group (all four territories), whose model
    fails: one model, not one per anchor and pass (the same model fails the same way)."""
    problem, territory, centres = heavy_tailed(giant=0.6)
    assert (~in_band(problem, territory)).sum() >= 2  # several anchors, one group
    packed = pack.repair(problem, territory, centres, seed=1, budget=TimeBudget.of(60))
    assert packed.groups == 1


def test_one_group_holding_every_miss_is_packed_first_and_scattered_misses_are_not():
    """mend_whole packs the group that holds every territory outside a band (here all four), the same alignment as
    the packing repair's first group; two such instances side by side, 10,000 apart, put the misses in two groups
    that no single group holds (each cluster has over 400 units), and nothing is packed."""
    problem, territory, centres = heavy_tailed()
    whole = pack.mend_whole(problem, territory, centres, seed=1, budget=TimeBudget.of(60))
    assert whole is not None and whole.groups == 1
    assert bands_hold(problem, whole.territory)
    np.testing.assert_array_equal(
        whole.territory, pack.repair(problem, territory, centres, seed=1, budget=TimeBudget.of(60)).territory
    )
    rng = np.random.default_rng(5)
    filler = rng.uniform(40, 60, size=(360, 2))  # 360 more units of nothing in each cluster: 426 units a cluster
    coords = np.concatenate([problem.coords, filler])
    metric = np.concatenate([problem.metrics[0], np.zeros(360)])
    n = len(metric)
    twin = dataclasses.replace(
        problem,
        n_territories=8,
        weights=np.concatenate([metric, metric]) + 1e-3,
        metrics=np.concatenate([metric, metric])[None, :],
        lower=np.full((1, 8), float(problem.lower[0, 0])),
        upper=np.full((1, 8), float(problem.upper[0, 0])),
        coords=np.concatenate([coords, coords + 10_000.0]),
    )
    units = np.concatenate([territory, np.arange(360) % 4])
    both = np.concatenate([units, units + 4])
    twin_centres = np.concatenate([centres, centres + n])
    assert set(np.flatnonzero(~in_band(twin, both)) // 4) == {0, 1}  # misses in both clusters
    assert pack.mend_whole(twin, both, twin_centres, seed=1, budget=TimeBudget.of(60)) is None
