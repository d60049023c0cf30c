"""Territories nested into districts and districts into regions, each level balanced and compact.

Each level is the same optimization one level up: the units are the territories (or districts) at their centres,
weighted by the balance metric, so the districts come out as balanced and compact as the territories.

Time: the levels draw from the run's budget (the districts half of what is left, the regions the rest); they are
small problems that end on their iteration caps, so the budget only matters when the run's is spent. Without one
each level gets `LEVEL_S` seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.budget import TimeBudget
from terrplan.config import Hierarchy
from terrplan.model import Problem
from terrplan.solve import SolveParams, solve

LEVEL_S = 10.0  # a level's clock cap when the caller gives no budget


def group_level(
    points: np.ndarray,
    values: np.ndarray,
    count: int,
    tolerance: float,
    seed: int,
    prefix: str,
    budget: TimeBudget | None = None,
) -> np.ndarray:
    """Label per point ('D1'..) grouping `points` into `count` balanced, compact groups."""
    if count <= 1:
        return np.full(len(points), f"{prefix}1")
    mean = values.sum() / count
    problem = Problem(
        n_territories=count,
        weights=values,
        metrics=values[None, :],
        metric_names=("potential",),
        lower=mean * (1 - tolerance),
        upper=mean * (1 + tolerance),
        coords=points,
        geometry="haversine",
    )
    budget = budget if budget is not None else TimeBudget.of(LEVEL_S)
    result = solve(problem, SolveParams(seed=seed), budget)
    centres = points[result.alignment.centres]
    order = np.lexsort((centres[:, 1], -centres[:, 0]))  # north to south, like territory names
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count)
    return np.array([f"{prefix}{rank[g] + 1}" for g in result.alignment.territory])


def assign_hierarchy(
    territories: pd.DataFrame, metric_column: str, spec: Hierarchy, seed: int, budget: TimeBudget | None = None
) -> pd.DataFrame:
    """territory -> district, region for a territories table with centre_lat/centre_lon, within `budget` (the
    run's; default `LEVEL_S` seconds per level)."""
    points = territories[["centre_lat", "centre_lon"]].to_numpy(dtype=float)
    values = territories[metric_column].to_numpy(dtype=float)
    # the districts get half of what is left when there is a regions level after them, the regions the rest
    first = budget.share(0.5) if budget is not None and spec.regions > 1 else budget
    district = group_level(points, values, spec.districts, spec.tolerance, seed, "D", first)
    frame = pd.DataFrame({"territory": territories["territory"].to_numpy(), "district": district})
    if spec.regions > 1:
        per_district = pd.DataFrame({"district": district, "lat": points[:, 0], "lon": points[:, 1], "v": values})
        grouped = per_district.groupby("district").agg(lat=("lat", "mean"), lon=("lon", "mean"), v=("v", "sum"))
        region = group_level(
            grouped[["lat", "lon"]].to_numpy(), grouped["v"].to_numpy(), spec.regions, spec.tolerance, seed, "R", budget
        )
        frame["region"] = frame["district"].map(dict(zip(grouped.index, region, strict=True)))
    else:
        frame["region"] = "R1"
    return frame
